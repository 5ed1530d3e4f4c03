import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A dedicated OS thread for blocking work (hiredis calls, the synthesizer pool), so
/// that it never occupies a thread of Swift's cooperative pool.
public final class BackgroundThread: Sendable {
    private let done = Mutex<(finished: Bool, error: (any Error)?, waiters: [CheckedContinuation<Void, Never>])>((false, nil, []))
    private let body: @Sendable () throws -> Void
    /// Signalled once when the body has returned, for `joinBlocking`.
    private let finishedSignal = DispatchSemaphore(value: 0)

    private init(body: @escaping @Sendable () throws -> Void) {
        self.body = body
    }

    /// Starts `body` on a new thread.
    public static func start(_ body: @escaping @Sendable () throws -> Void) -> BackgroundThread {
        let thread = BackgroundThread(body: body)
        let retained = Unmanaged.passRetained(thread).toOpaque()
        var handle = pthread_t()
        let status = pthread_create(
            &handle, nil,
            { raw in
                let thread = Unmanaged<BackgroundThread>.fromOpaque(raw!).takeRetainedValue()
                thread.execute()
                return nil
            }, retained)
        if status != 0 {
            Unmanaged<BackgroundThread>.fromOpaque(retained).release()
            thread.complete(error: ThreadStartError(code: status))
        } else {
            pthread_detach(handle)
        }
        return thread
    }

    public var isFinished: Bool { done.withLock { $0.finished } }

    /// Waits until the body has returned; rethrows what it threw.
    public func join() async throws {
        await withCheckedContinuation { continuation in
            let resumeNow = done.withLock { state -> Bool in
                if state.finished { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
        if let error = done.withLock({ $0.error }) { throw error }
    }

    /// Blocks the calling (non-cooperative) thread until the body has returned.
    public func joinBlocking() throws {
        finishedSignal.wait()
        finishedSignal.signal()  // for the next caller of joinBlocking
        if let error = done.withLock({ $0.error }) { throw error }
    }

    private func execute() {
        do {
            try body()
            complete(error: nil)
        } catch {
            complete(error: error)
        }
    }

    private func complete(error: (any Error)?) {
        let waiters = done.withLock { state in
            state.finished = true
            state.error = error
            defer { state.waiters = [] }
            return state.waiters
        }
        finishedSignal.signal()
        for waiter in waiters { waiter.resume() }
    }
}

struct ThreadStartError: Error, CustomStringConvertible {
    var code: Int32
    var description: String { "cannot start a thread: \(String(cString: strerror(code)))" }
}
