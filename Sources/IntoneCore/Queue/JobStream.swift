/// The jobs stream seen through the `workers` consumer group, as one consumer.
public struct JobStream {
    public let keys: QueueKeys
    public let consumer: String

    public init(keys: QueueKeys, consumer: String) {
        self.keys = keys
        self.consumer = consumer
    }

    /// What one read returned: jobs with fields, and pending ids whose entry is gone.
    public struct Batch: Sendable {
        public var jobs: [Job] = []
        public var vanished: [String] = []
        public var isEmpty: Bool { jobs.isEmpty && vanished.isEmpty }
    }

    /// Creates the group at the start of the stream (MKSTREAM); an existing group is fine.
    /// Starting at `0`, not `$`, keeps jobs that producers added before any worker ran.
    public func createGroup(on connection: RedisConnection) throws(RedisError) {
        let reply = try connection.send(
            RedisCommands(["XGROUP", "CREATE", .string(keys.jobs), .string(QueueKeys.group), "0", "MKSTREAM"]))[0]
        if let message = reply.errorMessage, !message.hasPrefix("BUSYGROUP") {
            throw RedisError(.server, "XGROUP CREATE \(keys.jobs): \(message)")
        }
    }

    /// Reads new jobs, waiting up to `blockMilliseconds` for the first.
    public func readNew(count: Int, blockMilliseconds: Int, on connection: RedisConnection) throws(RedisError) -> Batch {
        try read(id: ">", count: count, block: blockMilliseconds, on: connection)
    }

    /// Reads this consumer's own pending jobs (delivered before, never acknowledged),
    /// with their delivery counts from the pending list.
    public func readOwnPending(count: Int, on connection: RedisConnection) throws(RedisError) -> Batch {
        var batch = try read(id: "0", count: count, block: nil, on: connection)
        // Re-reading with id 0 counted as a delivery (Redis 7.0); XPENDING now holds it.
        try attachDeliveryCounts(to: &batch, on: connection)
        return batch
    }

    /// Where a take-over scan of the pending list stands; `0-0` starts it again.
    public struct ClaimCursor: Sendable, Equatable {
        public var position = "0-0"
        public var isAtStart: Bool { position == "0-0" }
        public init() {}
    }

    /// Takes over entries that have been pending longer than `minimumIdle` (their
    /// holder died or is stuck: a live worker keeps its entries fresh), scanning
    /// from `cursor` (XAUTOCLAIM). Entries deleted from the stream while pending come
    /// back as `vanished`; Redis 7.0 has already removed them from the pending list.
    public func claimIdle(
        minimumIdleMilliseconds: Int, count: Int, cursor: inout ClaimCursor, on connection: RedisConnection
    ) throws(RedisError) -> Batch {
        let reply = try connection.command(
            "XAUTOCLAIM", .string(keys.jobs), .string(QueueKeys.group), .string(consumer), .integer(minimumIdleMilliseconds),
            .string(cursor.position), "COUNT", .integer(count))
        guard let parts = reply.array, parts.count >= 2, let next = parts[0].string else {
            throw RedisError.unexpected("XAUTOCLAIM", reply)
        }
        cursor.position = next
        var batch = try Self.parseEntries(parts[1], command: "XAUTOCLAIM")
        if parts.count >= 3, let deleted = parts[2].array {
            batch.vanished += deleted.compactMap(\.string)
        }
        try attachDeliveryCounts(to: &batch, on: connection)
        return batch
    }

    /// Resets the idle time of entries this consumer holds, so that no other replica
    /// takes them over while they are still being rendered (XCLAIM … JUSTID does not
    /// count a delivery).
    public func keepFresh(_ ids: [String], on connection: RedisConnection) throws(RedisError) {
        guard !ids.isEmpty else { return }
        try connection.command(
            ["XCLAIM", .string(keys.jobs), .string(QueueKeys.group), .string(consumer), "0"] + ids.map { .string($0) } + ["JUSTID"])
    }

    /// Makes entries this consumer holds but will not finish claimable by any other
    /// replica at once, by back-dating their last delivery (used at shutdown).
    public func release(_ ids: [String], on connection: RedisConnection) throws(RedisError) {
        guard !ids.isEmpty else { return }
        try connection.command(
            ["XCLAIM", .string(keys.jobs), .string(QueueKeys.group), .string(consumer), "0"] + ids.map { .string($0) }
                + ["IDLE", .integer(Self.releasedIdleMilliseconds), "JUSTID"])
    }

    /// A day: longer than any claim time a deployment would use.
    static let releasedIdleMilliseconds = 86_400_000

    /// Sets each job's `attempts` from the pending list (deliveries so far).
    private func attachDeliveryCounts(to batch: inout Batch, on connection: RedisConnection) throws(RedisError) {
        guard let first = batch.jobs.first?.entryID, let last = batch.jobs.last?.entryID else { return }
        let reply = try connection.command(
            "XPENDING", .string(keys.jobs), .string(QueueKeys.group), .string(first), .string(last), .integer(batch.jobs.count * 2 + 16),
            .string(consumer))
        var deliveries: [String: Int] = [:]
        for entry in reply.array ?? [] {
            if let fields = entry.array, fields.count >= 4, let id = fields[0].string, let count = fields[3].integer {
                deliveries[id] = Int(count)
            }
        }
        for index in batch.jobs.indices {
            batch.jobs[index].attempts = deliveries[batch.jobs[index].entryID] ?? 1
        }
    }

    private func read(id: String, count: Int, block: Int?, on connection: RedisConnection) throws(RedisError) -> Batch {
        try parseRead(try connection.send(readCommand(id: id, count: count, block: block))[0])
    }

    /// The XREADGROUP of new jobs, for a pipeline that carries other commands before it;
    /// without `blockMilliseconds` it returns at once, with whatever is there.
    public func readNewCommand(count: Int, blockMilliseconds: Int?) -> RedisCommands {
        readCommand(id: ">", count: count, block: blockMilliseconds)
    }

    private func readCommand(id: String, count: Int, block: Int?) -> RedisCommands {
        var words: [RedisArgument] = ["XREADGROUP", "GROUP", .string(QueueKeys.group), .string(consumer), "COUNT", .integer(count)]
        if let block { words += ["BLOCK", .integer(block)] }
        words += ["STREAMS", .string(keys.jobs), .string(id)]
        return RedisCommands(words)
    }

    /// The jobs of an XREADGROUP reply; an error reply throws.
    public func parseRead(_ reply: RedisReply) throws(RedisError) -> Batch {
        if let message = reply.errorMessage { throw RedisError(.server, "XREADGROUP: \(message)") }
        return try Self.parse(reply)
    }

    /// `[[stream, [[id, [field, value, …]] | [id, nil], …]]]`, or nil when nothing came.
    static func parse(_ reply: RedisReply) throws(RedisError) -> Batch {
        var batch = Batch()
        guard case .array(let streams) = reply else {
            if reply.isNull { return batch }
            throw RedisError.unexpected("XREADGROUP", reply)
        }
        for stream in streams {
            guard let pair = stream.array, pair.count == 2, let entries = pair[1].array else {
                throw RedisError.unexpected("XREADGROUP", reply)
            }
            let parsed = try parseEntries(.array(entries), command: "XREADGROUP")
            batch.jobs += parsed.jobs
            batch.vanished += parsed.vanished
        }
        return batch
    }

    /// `[[id, [field, value, …]] | [id, nil], …]`
    static func parseEntries(_ reply: RedisReply, command: String) throws(RedisError) -> Batch {
        var batch = Batch()
        guard let entries = reply.array else { throw RedisError.unexpected(command, reply) }
        for entry in entries {
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string else {
                throw RedisError.unexpected(command, entry)
            }
            guard let flat = parts[1].array else {
                batch.vanished.append(id)
                continue
            }
            var fields: [Job.Field] = []
            fields.reserveCapacity(flat.count / 2)
            var index = 0
            while index + 1 < flat.count {
                fields.append(Job.Field(name: flat[index].bytes ?? [], value: flat[index + 1].bytes ?? []))
                index += 2
            }
            batch.jobs.append(Job(entryID: id, fields: fields))
        }
        return batch
    }
}
