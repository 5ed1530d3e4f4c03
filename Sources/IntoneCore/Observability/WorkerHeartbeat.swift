/// A worker's heartbeat: who it is and what it is doing, refreshed every few seconds,
/// gone a few seconds after the worker stops. The console's Workers page reads it.
///
/// Layout (bounded: one small hash per live worker, one sorted set of them):
/// - hash `intone:{Q}:worker:<consumer>`: `consumer`, `host`, `pid`, `version`,
///   `started_at` and `updated_at` (unix ms), `jobs_done`, `in_hand`, `job` (the job
///   being rendered longest, empty when idle) and `job_started_at` (unix ms, 0 when
///   idle). Its TTL is `ttlMilliseconds` (10 s), set again by every publish (every
///   `publishIntervalMilliseconds`, 3 s): a worker that dies without a word is gone
///   within 10 s; one that stops cleanly removes itself (`appendRemove`).
/// - sorted set `intone:{Q}:workers`: consumer names scored by `updated_at`. Every
///   publish trims members older than `indexWindowMilliseconds` (60 s, wider than the
///   TTL so that a worker whose clock is a little behind is not trimmed) and sets the
///   set's TTL to that window, so it holds at most the workers seen in the last minute.
///
/// The hash is the truth: a reader lists the index and keeps the members whose hash
/// still exists with a TTL.
public struct WorkerHeartbeat: Sendable, Equatable {
    public static let ttlMilliseconds = 10_000
    public static let publishIntervalMilliseconds = 3_000
    public static let indexWindowMilliseconds = 60_000

    public var consumer: String
    public var host: String
    public var pid: Int
    /// The worker's software version, as it reports it.
    public var version: String
    public var startedAtMilliseconds: Int64
    /// When this heartbeat was published (unix ms, the worker's clock).
    public var updatedAtMilliseconds: Int64
    /// Results this process has written since it started.
    public var jobsDone: Int
    /// Jobs read and not yet written back.
    public var jobsInHand: Int
    /// The job being rendered longest (bytes, as the producer wrote it); empty when idle.
    public var currentJobID: [UInt8]
    /// When that job's render started (unix ms); 0 when idle.
    public var currentJobStartedAtMilliseconds: Int64

    public init(
        consumer: String, host: String, pid: Int, version: String, startedAtMilliseconds: Int64, updatedAtMilliseconds: Int64,
        jobsDone: Int = 0, jobsInHand: Int = 0, currentJobID: [UInt8] = [], currentJobStartedAtMilliseconds: Int64 = 0
    ) {
        self.consumer = consumer
        self.host = host
        self.pid = pid
        self.version = version
        self.startedAtMilliseconds = startedAtMilliseconds
        self.updatedAtMilliseconds = updatedAtMilliseconds
        self.jobsDone = jobsDone
        self.jobsInHand = jobsInHand
        self.currentJobID = currentJobID
        self.currentJobStartedAtMilliseconds = currentJobStartedAtMilliseconds
    }

    /// Appends the five commands of one heartbeat: HSET of every field (a fixed set, so
    /// nothing stale stays behind), PEXPIRE of the hash, ZADD to the index, the trim of
    /// the index and its PEXPIRE. Sent inside a MULTI/EXEC (the write-back's own will do)
    /// the hash never exists without its TTL; a reader skips one that has none.
    public static func appendPublish(_ heartbeat: WorkerHeartbeat, keys: QueueKeys, to commands: inout RedisCommands) {
        let key = keys.worker(heartbeat.consumer)
        commands.append(
            "HSET", .string(key), "consumer", .string(heartbeat.consumer), "host", .string(heartbeat.host), "pid", .integer(heartbeat.pid),
            "version", .string(heartbeat.version), "started_at", .integer(Int(heartbeat.startedAtMilliseconds)),
            "updated_at", .integer(Int(heartbeat.updatedAtMilliseconds)), "jobs_done", .integer(heartbeat.jobsDone),
            "in_hand", .integer(heartbeat.jobsInHand), "job", .bytes(heartbeat.currentJobID),
            "job_started_at", .integer(Int(heartbeat.currentJobStartedAtMilliseconds)))
        commands.append("PEXPIRE", .string(key), .integer(ttlMilliseconds))
        commands.append("ZADD", .string(keys.workers), .integer(Int(heartbeat.updatedAtMilliseconds)), .string(heartbeat.consumer))
        commands.append(
            "ZREMRANGEBYSCORE", .string(keys.workers), "-inf",
            .string("(" + String(heartbeat.updatedAtMilliseconds - Int64(indexWindowMilliseconds))))
        commands.append("PEXPIRE", .string(keys.workers), .integer(indexWindowMilliseconds))
    }

    /// Appends the two commands that take a stopping worker off the list at once.
    public static func appendRemove(consumer: String, keys: QueueKeys, to commands: inout RedisCommands) {
        commands.append("DEL", .string(keys.worker(consumer)))
        commands.append("ZREM", .string(keys.workers), .string(consumer))
    }

    /// The live workers, at most `limit` (the most recently seen first in the index), in
    /// two round trips; sorted by consumer name.
    public static func readLive(keys: QueueKeys, limit: Int = 200, on connection: RedisConnection) throws(RedisError) -> [WorkerHeartbeat] {
        let members = try connection.command("ZREVRANGE", .string(keys.workers), "0", .integer(max(limit, 1) - 1)).array ?? []
        let names = members.compactMap(\.string)
        guard !names.isEmpty else { return [] }
        var commands = RedisCommands()
        for name in names {
            commands.append("HGETALL", .string(keys.worker(name)))
            commands.append("PTTL", .string(keys.worker(name)))
        }
        let replies = try connection.send(commands)
        var live: [WorkerHeartbeat] = []
        for index in names.indices {
            // PTTL -2: expired (the worker is gone); -1: a hash without its TTL, left by a
            // publish cut short, which would never expire: not a live worker either.
            guard (replies[2 * index + 1].integer ?? -2) >= 0, let heartbeat = parse(replies[2 * index]) else { continue }
            live.append(heartbeat)
        }
        return live.sorted { Array($0.consumer.utf8).lexicographicallyPrecedes(Array($1.consumer.utf8)) }
    }

    /// A heartbeat from its hash (HGETALL); nil when the hash is empty or has no consumer.
    public static func parse(_ reply: RedisReply) -> WorkerHeartbeat? {
        var fields: [String: RedisReply] = [:]
        for (name, value) in reply.pairs ?? [] { fields[name] = value }
        guard let consumer = fields["consumer"]?.string else { return nil }
        func number(_ name: String) -> Int64 { fields[name]?.integer ?? 0 }
        return WorkerHeartbeat(
            consumer: consumer, host: fields["host"]?.string ?? "", pid: Int(number("pid")), version: fields["version"]?.string ?? "",
            startedAtMilliseconds: number("started_at"), updatedAtMilliseconds: number("updated_at"), jobsDone: Int(number("jobs_done")),
            jobsInHand: Int(number("in_hand")), currentJobID: fields["job"]?.bytes ?? [],
            currentJobStartedAtMilliseconds: number("job_started_at"))
    }
}

/// A heartbeat as a pipeline segment: MULTI, the publish, EXEC, so that the hash never
/// exists without its TTL.
struct HeartbeatPublish: RedisSegment {
    let heartbeat: WorkerHeartbeat
    let keys: QueueKeys

    func encode(into commands: inout RedisCommands) {
        commands.append("MULTI")
        WorkerHeartbeat.appendPublish(heartbeat, keys: keys, to: &commands)
        commands.append("EXEC")
    }

    func decode(_ replies: ArraySlice<RedisReply>) throws(RedisError) {
        guard let exec = replies.last else { return }
        if let error = exec.error(command: "heartbeat") {
            throw replies.dropFirst().compactMap { $0.error(command: "heartbeat") }.first ?? error
        }
        if let failed = exec.array?.compactMap({ $0.error(command: "heartbeat") }).first { throw failed }
    }
}
