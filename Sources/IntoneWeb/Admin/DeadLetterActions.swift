import IntoneCore

/// The console's reads and writes of dead letters, each bounded: a list reads at most
/// `scanLimit` entries, a bulk action touches at most `bulkLimit` letters per request.
/// Retrying goes through `DeadLetters.retry`, the one retry the CLI uses too (exact ids;
/// the XADD and the XDEL of each letter in one MULTI/EXEC).
public struct DeadLetterActions: Sendable {
    public static let pageSize = 50
    public static let scanLimit = 1000
    public static let bulkLimit = 1000

    public struct Page: Sendable {
        public var entries: [StreamEntry]
        public var matching: Int
        public var scanned: Int
        public var total: Int
        /// The newest entry scanned: where a bulk action on this page starts.
        public var newest: String?
        public var next: String?
        /// On a sharded queue, each entry's stream label (`3`, `q`), in the order of
        /// `entries`; empty on a queue without shards.
        public var labels: [String] = []
    }

    public var keys: QueueKeys

    public init(keys: QueueKeys) {
        self.keys = keys
    }

    /// The newest dead letters older than `before` (exact id), with error `code` when given.
    public func list(code: [UInt8]?, before: String?, on connection: RedisConnection) throws(RedisError) -> Page {
        let before = before.flatMap { StreamEntry.isExactID($0) ? $0 : nil }
        let count = code == nil ? Self.pageSize : Self.scanLimit
        var commands = RedisCommands()
        commands.append("XREVRANGE", .string(keys.dead), .string(before.map { "(" + $0 } ?? "+"), "-", "COUNT", .integer(count))
        commands.append("XLEN", .string(keys.dead))
        let replies = try connection.send(commands)
        if let message = replies[0].errorMessage { throw RedisError(.server, "XREVRANGE \(keys.dead): \(message)") }
        let scanned = StreamEntry.list(replies[0])
        let matching = scanned.filter { code == nil || $0.value("error") == code }
        let shown = Array(matching.prefix(Self.pageSize))
        var next: String?
        if matching.count > Self.pageSize {
            next = shown.last?.id
        } else if scanned.count == count {
            next = scanned.last?.id
        }
        return Page(
            entries: shown, matching: matching.count, scanned: scanned.count, total: Int(replies[1].integer ?? 0),
            newest: scanned.first?.id,
            next: next)
    }

    // MARK: - Every stream of the queue

    /// The newest dead letters of every stream of the queue, merged newest first; on a
    /// queue without shards, `list(code:before:on:)` of its one stream.
    public func list(code: [UInt8]?, before: String?, access: QueueAccess) throws(RedisError) -> Page {
        guard access.shards.count > 1 else {
            return try DeadLetterActions(keys: access.queue).list(code: code, before: before, on: try access.queueConnection())
        }
        let before = before.flatMap { StreamEntry.isExactID($0) ? $0 : nil }
        let count = code == nil ? Self.pageSize : Self.scanLimit
        var reads: [MergedPage.Read] = []
        var total = 0
        for keys in access.shards.served {
            var commands = RedisCommands()
            commands.append("XREVRANGE", .string(keys.dead), .string(before.map { "(" + $0 } ?? "+"), "-", "COUNT", .integer(count))
            commands.append("XLEN", .string(keys.dead))
            let replies = try access.connection(for: keys).send(commands)
            if let message = replies[0].errorMessage { throw RedisError(.server, "XREVRANGE \(keys.dead): \(message)") }
            let entries = StreamEntry.list(replies[0])
            reads.append(.init(label: access.label(of: keys), entries: entries, cut: entries.count == count))
            total += Int(replies[1].integer ?? 0)
        }
        let merged = MergedPage(reads, pageSize: Self.pageSize) { code == nil || $0.value("error") == code }
        return Page(
            entries: merged.items.map(\.entry), matching: merged.matching, scanned: merged.scanned, total: total, newest: merged.newest,
            next: merged.next, labels: merged.items.compactMap(\.label))
    }

    /// A letter named as the console links it (`<id>@<shard>`, or a plain id: the first
    /// stream that has one).
    public func show(_ ref: String, access: QueueAccess) throws(RedisError) -> StreamEntry? {
        guard let name = ShardedEntryID(parsing: ref) else { return nil }
        return try ShardedDeadLetters(access: access).show(name).first.map { StreamEntry(id: $0.letter.id, fields: $0.letter.fields) }
    }

    /// The letters a bulk action takes, across every stream, as names (`<id>@<shard>`):
    /// at most `bulkLimit` at or older than `newest`, oldest first; `more` when older ones
    /// may remain.
    public func matching(code: [UInt8]?, newest: String, access: QueueAccess) throws(RedisError) -> (ids: [String], more: Bool) {
        guard access.shards.count > 1 else {
            return try DeadLetterActions(keys: access.queue).matching(code: code, newest: newest, on: try access.queueConnection())
        }
        guard StreamEntry.isExactID(newest) else { return ([], false) }
        var reads: [MergedPage.Read] = []
        for keys in access.shards.served {
            let reply = try access.connection(for: keys).command(
                "XREVRANGE", .string(keys.dead), .string(newest), "-", "COUNT", .integer(Self.bulkLimit))
            let entries = StreamEntry.list(reply)
            reads.append(.init(label: access.label(of: keys), entries: entries, cut: entries.count == Self.bulkLimit))
        }
        let merged = MergedPage(reads, pageSize: Self.bulkLimit) { code == nil || $0.value("error") == code }
        return (merged.items.reversed().map(\.ref), merged.next != nil)
    }

    /// Retries letters by name, each on its own stream (back onto its shard's jobs
    /// stream); returns how many were retried.
    public func retry(_ refs: [String], access: QueueAccess) throws(RedisError) -> Int {
        try ShardedDeadLetters(access: access).retry(refs).filter {
            if case .retried = $0.outcome { return true }
            return false
        }.count
    }

    /// Deletes letters by name; returns how many were deleted.
    public func delete(_ refs: [String], access: QueueAccess) throws(RedisError) -> Int {
        guard access.shards.count > 1 else {
            return try DeadLetterActions(keys: access.queue).delete(refs, on: try access.queueConnection())
        }
        return try ShardedDeadLetters(access: access).delete(refs).filter {
            if case .deleted = $0.outcome { return true }
            return false
        }.count
    }

    // MARK: - One stream

    public func show(_ id: String, on connection: RedisConnection) throws(RedisError) -> StreamEntry? {
        guard StreamEntry.isExactID(id) else { return nil }
        return StreamEntry.list(try connection.command("XRANGE", .string(keys.dead), .string(id), .string(id))).first
    }

    /// The ids of the letters a bulk action takes: at most `bulkLimit` letters at or older
    /// than `newest`, with error `code` when given, oldest first (retried jobs go back on
    /// the jobs stream in their order); `more` when older ones may remain.
    public func matching(code: [UInt8]?, newest: String, on connection: RedisConnection) throws(RedisError) -> (ids: [String], more: Bool) {
        guard StreamEntry.isExactID(newest) else { return ([], false) }
        let reply = try connection.command("XREVRANGE", .string(keys.dead), .string(newest), "-", "COUNT", .integer(Self.bulkLimit))
        let scanned = StreamEntry.list(reply)
        return (scanned.reversed().filter { code == nil || $0.value("error") == code }.map(\.id), scanned.count == Self.bulkLimit)
    }

    /// Retries exact ids only; returns those retried (ids that are no dead letter are skipped).
    public func retry(_ ids: [String], on connection: RedisConnection) throws(RedisError) -> [String] {
        try DeadLetters(keys: keys).retry(ids.filter { StreamEntry.isExactID($0) }, on: connection)
    }

    /// Deletes exact ids (XDEL, 500 a command, one round trip); returns how many were deleted.
    public func delete(_ ids: [String], on connection: RedisConnection) throws(RedisError) -> Int {
        let exact = ids.filter { StreamEntry.isExactID($0) }
        guard !exact.isEmpty else { return 0 }
        var commands = RedisCommands()
        for start in stride(from: 0, to: exact.count, by: 500) {
            commands.append(["XDEL", .string(keys.dead)] + exact[start..<min(start + 500, exact.count)].map { .string($0) })
        }
        let replies = try connection.send(commands)
        if let message = replies.compactMap(\.errorMessage).first { throw RedisError(.server, "XDEL \(keys.dead): \(message)") }
        return replies.reduce(0) { $0 + Int($1.integer ?? 0) }
    }
}
