/// The jobs stream seen through the `workers` consumer group, as one consumer: each
/// operation is a pipeline segment, so that reads ride in the worker's round trips.
public struct JobStream: Sendable {
    public let keys: QueueKeys
    public let consumer: String
    /// Its index among the worker's streams (`QueueShards.served`): the `shard` of its jobs.
    public let shard: Int

    public init(keys: QueueKeys, consumer: String, shard: Int = 0) {
        self.keys = keys
        self.consumer = consumer
        self.shard = shard
    }

    /// What one read returned: jobs with fields, and pending entries whose data is gone.
    public struct Batch: Sendable {
        public var jobs: [Job] = []
        public var vanished: [EntryRef] = []
        /// When its reply came in (monotonic), for the time a batch takes to decide.
        public var receivedNanoseconds: Int64
        public var isEmpty: Bool { jobs.isEmpty && vanished.isEmpty }

        public init(jobs: [Job] = [], vanished: [EntryRef] = [], receivedNanoseconds: Int64 = Monotonic.nanoseconds()) {
            self.jobs = jobs
            self.vanished = vanished
            self.receivedNanoseconds = receivedNanoseconds
        }
    }

    /// Creates the group at the start of the stream (MKSTREAM); an existing group is fine.
    /// Starting at `0`, not `$`, keeps jobs that producers added before any worker ran.
    /// A Redis at `maxmemory` answers OOM even when the group exists, so then the group
    /// is looked up instead.
    public func createGroup(on connection: RedisConnection) throws(RedisError) {
        let reply = try connection.send(
            RedisCommands(["XGROUP", "CREATE", .string(keys.jobs), .string(QueueKeys.group), "0", "MKSTREAM"]))[0]
        guard let error = reply.error(command: "XGROUP CREATE \(keys.jobs)") else { return }
        switch error.code {
        case .busyGroup: return
        case .outOfMemory:
            let groups = try connection.send(RedisCommands(["XINFO", "GROUPS", .string(keys.jobs)]))[0]
            let names = (groups.array ?? []).compactMap { group in group.pairs?.first { $0.0 == "name" }?.1.string }
            if names.contains(QueueKeys.group) { return }
            throw error
        default: throw error
        }
    }

    /// New jobs (`>`), waiting up to `blockMilliseconds` for the first when given.
    public func readNew(count: Int, blockMilliseconds: Int?) -> JobRead {
        JobRead(streams: [(self, ">")], count: count, blockMilliseconds: blockMilliseconds)
    }

    /// This consumer's own pending jobs (delivered before, never acknowledged) after the
    /// entry id `after`: a previous life's unfinished work. Redis 7.0 counts this read as
    /// a delivery, as it should: the previous life died holding them.
    public func readOwnPending(count: Int, after: String = "0") -> JobRead {
        JobRead(streams: [(self, after)], count: count, blockMilliseconds: nil)
    }

    /// The deliveries so far of entries this consumer holds (`XPENDING` over their range).
    public func deliveryCounts(of ids: [String]) -> DeliveryCounts {
        DeliveryCounts(stream: self, ids: ids)
    }

    /// Takes over entries pending longer than `minimumIdleMilliseconds` (their holder died
    /// or is stuck: a live worker keeps its entries fresh), scanning from `cursor`.
    public func claimIdle(minimumIdleMilliseconds: Int, count: Int, cursor: String) -> IdleClaim {
        IdleClaim(stream: self, minimumIdleMilliseconds: minimumIdleMilliseconds, count: count, cursor: cursor)
    }

    /// Resets the idle time of entries this consumer holds, so that no other replica
    /// takes them over while they are in hand (`XCLAIM … JUSTID` counts no delivery).
    /// Only entries idle for `minimumIdleMilliseconds` or more are touched: sent every
    /// third of the claim time with a sixth of it here, an own entry is never left idle
    /// for half the claim time, and one another replica has just taken over (this loop
    /// was late) is not taken back from it.
    public func keepFresh(_ ids: [String], minimumIdleMilliseconds: Int = 0) -> RedisCommandSegment {
        RedisCommandSegment(
            ["XCLAIM", .string(keys.jobs), .string(QueueKeys.group), .string(consumer), .integer(minimumIdleMilliseconds)]
                + ids.map { .string($0) } + ["JUSTID"])
    }

    /// Makes entries this consumer holds but will not finish claimable by any other
    /// replica at once, by back-dating their last delivery (at shutdown).
    public func release(_ ids: [String]) -> RedisCommandSegment {
        RedisCommandSegment(
            ["XCLAIM", .string(keys.jobs), .string(QueueKeys.group), .string(consumer), "0"] + ids.map { .string($0) }
                + ["IDLE", .integer(Self.releasedIdleMilliseconds), "JUSTID"])
    }

    /// A day: longer than any claim time a deployment would use.
    static let releasedIdleMilliseconds = 86_400_000

    /// `[[stream, [[id, [field, value, …]] | [id, nil], …]]]`, or nil when nothing came;
    /// each stream's jobs get the shard of the `streams` entry of that name.
    static func parse(_ reply: RedisReply, streams: [JobStream]) throws(RedisError) -> Batch {
        var batch = Batch()
        guard case .array(let replies) = reply else {
            if reply.isNull { return batch }
            throw RedisError.unexpected("XREADGROUP", reply)
        }
        for part in replies {
            guard let pair = part.array, pair.count == 2, let name = pair[0].string, let entries = pair[1].array,
                let stream = streams.first(where: { $0.keys.jobs == name })
            else {
                throw RedisError.unexpected("XREADGROUP", reply)
            }
            let parsed = try stream.parseEntries(.array(entries), command: "XREADGROUP")
            batch.jobs += parsed.jobs
            batch.vanished += parsed.vanished
        }
        return batch
    }

    /// `[[id, [field, value, …]] | [id, nil], …]`
    func parseEntries(_ reply: RedisReply, command: String) throws(RedisError) -> Batch {
        var batch = Batch()
        guard let entries = reply.array else { throw RedisError.unexpected(command, reply) }
        for entry in entries {
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string else {
                throw RedisError.unexpected(command, entry)
            }
            guard let flat = parts[1].array else {
                batch.vanished.append(EntryRef(keys: keys, id: id))
                continue
            }
            var fields: [Job.Field] = []
            fields.reserveCapacity(flat.count / 2)
            var index = 0
            while index + 1 < flat.count {
                fields.append(Job.Field(name: flat[index].bytes ?? [], value: flat[index + 1].bytes ?? []))
                index += 2
            }
            batch.jobs.append(Job(entryID: id, fields: fields, shard: shard))
        }
        return batch
    }
}

/// `XREADGROUP GROUP workers <consumer> COUNT n [BLOCK ms] STREAMS <jobs>… <id>…`: one
/// read over every stream a lane serves (all in one slot, or a Redis without slots).
public struct JobRead: RedisSegment {
    public let streams: [(stream: JobStream, id: String)]
    public let count: Int
    public let blockMilliseconds: Int?

    public init(streams: [(stream: JobStream, id: String)], count: Int, blockMilliseconds: Int?) {
        self.streams = streams
        self.count = count
        self.blockMilliseconds = blockMilliseconds
    }

    public func encode(into commands: inout RedisCommands) {
        var words: [RedisArgument] = [
            "XREADGROUP", "GROUP", .string(QueueKeys.group), .string(streams.first?.stream.consumer ?? ""), "COUNT", .integer(count),
        ]
        if let blockMilliseconds { words += ["BLOCK", .integer(blockMilliseconds)] }
        words.append("STREAMS")
        words += streams.map { .string($0.stream.keys.jobs) }
        words += streams.map { .string($0.id) }
        commands.append(words)
    }

    public func decode(_ replies: ArraySlice<RedisReply>) throws(RedisError) -> JobStream.Batch {
        let reply = replies[replies.startIndex]
        if let error = reply.error(command: "XREADGROUP") { throw error }
        return try JobStream.parse(reply, streams: streams.map(\.stream))
    }
}

/// `XPENDING <jobs> workers <first> <last> <n> <consumer>`: how often each entry was
/// delivered.
public struct DeliveryCounts: RedisSegment {
    public let stream: JobStream
    public let ids: [String]

    public func encode(into commands: inout RedisCommands) {
        let sorted = ids.sorted { (Job.milliseconds(ofEntryID: $0) ?? 0, $0) < (Job.milliseconds(ofEntryID: $1) ?? 0, $1) }
        commands.append(
            "XPENDING", .string(stream.keys.jobs), .string(QueueKeys.group), .string(sorted.first ?? "-"), .string(sorted.last ?? "+"),
            .integer(ids.count * 2 + 16), .string(stream.consumer))
    }

    public func decode(_ replies: ArraySlice<RedisReply>) throws(RedisError) -> [String: Int] {
        let reply = replies[replies.startIndex]
        if let error = reply.error(command: "XPENDING") { throw error }
        var deliveries: [String: Int] = [:]
        for entry in reply.array ?? [] {
            if let fields = entry.array, fields.count >= 4, let id = fields[0].string, let count = fields[3].integer {
                deliveries[id] = Int(count)
            }
        }
        return deliveries
    }
}

/// `XAUTOCLAIM`: entries idle past the claim time, now this consumer's. Entries deleted
/// from the stream while pending come back as `vanished` (Redis 7.0 has already removed
/// them from the pending list).
public struct IdleClaim: RedisSegment {
    public let stream: JobStream
    public let minimumIdleMilliseconds: Int
    public let count: Int
    public let cursor: String

    public func encode(into commands: inout RedisCommands) {
        commands.append(
            "XAUTOCLAIM", .string(stream.keys.jobs), .string(QueueKeys.group), .string(stream.consumer),
            .integer(minimumIdleMilliseconds), .string(cursor), "COUNT", .integer(count))
    }

    public func decode(_ replies: ArraySlice<RedisReply>) throws(RedisError) -> (batch: JobStream.Batch, cursor: String) {
        let reply = replies[replies.startIndex]
        if let error = reply.error(command: "XAUTOCLAIM") { throw error }
        guard let parts = reply.array, parts.count >= 2, let next = parts[0].string else {
            throw RedisError.unexpected("XAUTOCLAIM", reply)
        }
        var batch = try stream.parseEntries(parts[1], command: "XAUTOCLAIM")
        if parts.count >= 3, let deleted = parts[2].array {
            batch.vanished += deleted.compactMap(\.string).map { EntryRef(keys: stream.keys, id: $0) }
        }
        return (batch, next)
    }
}

/// `XPENDING <jobs> workers - + <n> <consumer>`: the entries this consumer holds, with
/// their deliveries. After a reconnect it finds entries whose read came back lost.
public struct OwnPendingList: RedisSegment {
    public let stream: JobStream
    public let count: Int

    public func encode(into commands: inout RedisCommands) {
        commands.append(
            "XPENDING", .string(stream.keys.jobs), .string(QueueKeys.group), "-", "+", .integer(count), .string(stream.consumer))
    }

    public func decode(_ replies: ArraySlice<RedisReply>) throws(RedisError) -> [(id: String, deliveries: Int)] {
        let reply = replies[replies.startIndex]
        if let error = reply.error(command: "XPENDING") { throw error }
        return (reply.array ?? []).compactMap { entry in
            guard let fields = entry.array, fields.count >= 4, let id = fields[0].string, let count = fields[3].integer else { return nil }
            return (id, Int(count))
        }
    }
}

/// `XRANGE <jobs> <id> <id>` for each id: entries' fields, read without a delivery.
public struct EntryFetch: RedisSegment {
    public let stream: JobStream
    /// Entry id → deliveries so far.
    public let deliveries: [(id: String, deliveries: Int)]

    public func encode(into commands: inout RedisCommands) {
        for (id, _) in deliveries { commands.append("XRANGE", .string(stream.keys.jobs), .string(id), .string(id)) }
    }

    public func decode(_ replies: ArraySlice<RedisReply>) throws(RedisError) -> JobStream.Batch {
        var batch = JobStream.Batch()
        for ((id, count), reply) in zip(deliveries, replies) {
            if let error = reply.error(command: "XRANGE") { throw error }
            let found = try stream.parseEntries(reply, command: "XRANGE")
            if var job = found.jobs.first {
                job.attempts = count
                batch.jobs.append(job)
            } else {
                batch.vanished.append(EntryRef(keys: stream.keys, id: id))
            }
        }
        return batch
    }
}
