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
        guard !batch.jobs.isEmpty else { return batch }
        // Re-reading with id 0 counted as a delivery (Redis 7.0); XPENDING now holds it.
        let first = batch.jobs.first!.entryID
        let last = batch.jobs.last!.entryID
        let reply = try connection.command(
            "XPENDING", .string(keys.jobs), .string(QueueKeys.group), .string(first), .string(last), .integer(count), .string(consumer))
        var deliveries: [String: Int] = [:]
        for entry in reply.array ?? [] {
            if let fields = entry.array, fields.count >= 4, let id = fields[0].string, let count = fields[3].integer {
                deliveries[id] = Int(count)
            }
        }
        for index in batch.jobs.indices {
            batch.jobs[index].attempts = deliveries[batch.jobs[index].entryID] ?? 1
        }
        return batch
    }

    private func read(id: String, count: Int, block: Int?, on connection: RedisConnection) throws(RedisError) -> Batch {
        var words: [RedisArgument] = ["XREADGROUP", "GROUP", .string(QueueKeys.group), .string(consumer), "COUNT", .integer(count)]
        if let block { words += ["BLOCK", .integer(block)] }
        words += ["STREAMS", .string(keys.jobs), .string(id)]
        let reply = try connection.command(words)
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
            for entry in entries {
                guard let parts = entry.array, parts.count == 2, let id = parts[0].string else {
                    throw RedisError.unexpected("XREADGROUP", entry)
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
        }
        return batch
    }
}
