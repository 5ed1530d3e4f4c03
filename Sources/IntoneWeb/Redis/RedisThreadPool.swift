import Dispatch
import IntoneCore
import Synchronization

/// A few threads of the console's own, each owning its blocking Redis connections: one
/// `RedisConnection`, or, given a queue, a `QueueAccess` (one connection on a single
/// Redis; one per slot touched in a cluster, with the queue's shard count).
///
/// hiredis calls block, so they never run on Swift's cooperative pool: a request hands
/// its Redis work to this pool and awaits the answer. A thread connects on its first
/// job and reconnects after a connection error; a read that met a broken connection
/// (Redis restarted, an idle connection cut by a proxy) is tried once more on a fresh one.
public final class RedisThreadPool: Sendable {
    /// A job for one thread; it is given that thread's connection slot.
    typealias Job = @Sendable (ConnectionSlot) -> Void

    private let queue = JobQueue()
    private let threads: [BackgroundThread]
    public let url: RedisURL

    /// Starts `threadCount` threads; none connects before it has work. With `queue`, each
    /// thread reaches it through a `QueueAccess` (`shards`: a count the operator gave).
    public init(
        url: RedisURL, queue keys: QueueKeys? = nil, shards: Int? = nil, threadCount: Int = 4, commandTimeoutMilliseconds: Int = 5000
    ) {
        self.url = url
        let queue = queue
        threads = (0..<max(1, threadCount)).map { _ in
            BackgroundThread.start {
                let slot = ConnectionSlot(url: url, queue: keys, shards: shards, commandTimeoutMilliseconds: commandTimeoutMilliseconds)
                while let job = queue.next() { job(slot) }
            }
        }
    }

    /// Runs `body` on one of the pool's threads with its `QueueAccess` (every stream of the
    /// queue, each on its slot's connection). Retried once on a fresh connection as `run`.
    public func run<T: Sendable>(
        idempotent: Bool = true, queue body: @escaping @Sendable (QueueAccess) throws(RedisError) -> T
    ) async throws(RedisError) -> T {
        let result: Result<T, RedisError> = await withCheckedContinuation { continuation in
            let accepted = queue.push { slot in continuation.resume(returning: slot.perform(idempotent: idempotent, queue: body)) }
            if !accepted { continuation.resume(returning: .failure(RedisError(.connection, "the console is stopping"))) }
        }
        return try result.get()
    }

    /// Runs `body` on one of the pool's threads with its connection. When `idempotent`
    /// (reads), a connection error is met by reconnecting and running `body` once more.
    public func run<T: Sendable>(
        idempotent: Bool = true, _ body: @escaping @Sendable (RedisConnection) throws(RedisError) -> T
    ) async throws(RedisError) -> T {
        let result: Result<T, RedisError> = await withCheckedContinuation { continuation in
            let accepted = queue.push { slot in continuation.resume(returning: slot.perform(idempotent: idempotent, body)) }
            if !accepted { continuation.resume(returning: .failure(RedisError(.connection, "the console is stopping"))) }
        }
        return try result.get()
    }

    /// Lets the threads finish the jobs queued and end.
    public func shutdown() {
        queue.stop(waking: threads.count)
    }

    deinit {
        shutdown()
    }
}

/// Jobs waiting for a thread.
private final class JobQueue: Sendable {
    private let state = Mutex<(jobs: [RedisThreadPool.Job], stopped: Bool)>(([], false))
    private let ready = DispatchSemaphore(value: 0)

    func push(_ job: @escaping RedisThreadPool.Job) -> Bool {
        let accepted = state.withLock { state -> Bool in
            guard !state.stopped else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted { ready.signal() }
        return accepted
    }

    /// The next job, waiting for one; nil once stopped and empty.
    func next() -> RedisThreadPool.Job? {
        while true {
            ready.wait()
            let next = state.withLock { state -> (job: RedisThreadPool.Job?, stop: Bool) in
                state.jobs.isEmpty ? (nil, state.stopped) : (state.jobs.removeFirst(), false)
            }
            if let job = next.job { return job }
            if next.stop { return nil }
        }
    }

    func stop(waking threads: Int) {
        state.withLock { $0.stopped = true }
        for _ in 0..<threads { ready.signal() }
    }
}

/// One thread's connections: made on first use, remade after a connection error.
final class ConnectionSlot {
    let url: RedisURL
    let queue: QueueKeys?
    let shards: Int?
    let commandTimeoutMilliseconds: Int
    private var connection: RedisConnection?
    private var access: QueueAccess?
    private var accessOpenedAt: Int64 = 0

    /// How long a queue without a recorded shard count is taken to have one stream before
    /// its configuration is read again (a worker may have started since).
    static let unshardedRecheckMilliseconds: Int64 = 10_000

    init(url: RedisURL, queue: QueueKeys? = nil, shards: Int? = nil, commandTimeoutMilliseconds: Int) {
        self.url = url
        self.queue = queue
        self.shards = shards
        self.commandTimeoutMilliseconds = commandTimeoutMilliseconds
    }

    /// `body` with the thread's connection; with a queue, the connection of its `{Q}` slot.
    func perform<T>(idempotent: Bool, _ body: (RedisConnection) throws(RedisError) -> T) -> Result<T, RedisError> {
        if queue != nil {
            return perform(idempotent: idempotent, queue: { access throws(RedisError) in try body(try access.queueConnection()) })
        }
        if !idempotent, let connection {
            // A write is not sent twice, so a connection that went stale while idle (Redis
            // restarted) is found out with a PING first, not by failing the write.
            if (try? connection.command("PING")) == nil { self.connection = nil }
        }
        var attempts = idempotent ? 2 : 1
        while true {
            attempts -= 1
            do {
                return .success(try body(try connected()))
            } catch {
                guard error.code == .connection else { return .failure(error) }
                connection = nil
                if attempts == 0 { return .failure(error) }
            }
        }
    }

    /// `body` with the thread's `QueueAccess`, opened on first use and after a connection
    /// error (in a cluster that reads the map again).
    func perform<T>(idempotent: Bool, queue body: (QueueAccess) throws(RedisError) -> T) -> Result<T, RedisError> {
        if !idempotent, let access {
            if (try? access.queueConnection().command("PING")) == nil { self.access = nil }
        }
        var attempts = idempotent ? 2 : 1
        while true {
            attempts -= 1
            do {
                return .success(try body(try openAccess()))
            } catch {
                guard error.code == .connection else { return .failure(error) }
                access = nil
                if attempts == 0 { return .failure(error) }
            }
        }
    }

    private func openAccess() throws(RedisError) -> QueueAccess {
        guard let queue else { throw RedisError(.configuration, "the console's Redis threads were started without a queue") }
        let now = Monotonic.milliseconds()
        if let access, access.storedShards != nil || shards != nil || now - accessOpenedAt < Self.unshardedRecheckMilliseconds {
            return access
        }
        let made = try QueueAccess.open(url: url, queue: queue, shards: shards)
        access = made
        accessOpenedAt = now
        return made
    }

    private func connected() throws(RedisError) -> RedisConnection {
        if let connection, !connection.isBroken { return connection }
        let made = try RedisConnection(
            url: url, connectTimeoutMilliseconds: min(commandTimeoutMilliseconds, 2000),
            commandTimeoutMilliseconds: commandTimeoutMilliseconds)
        connection = made
        return made
    }
}
