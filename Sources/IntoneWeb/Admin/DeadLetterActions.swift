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
