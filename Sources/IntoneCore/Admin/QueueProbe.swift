/// Whether a queue has any keys, and removing every key of a queue: `intone status` on a
/// queue that does not exist, and `intone demo`, which must touch no queue it did not
/// create and leaves nothing of its own behind.
public struct QueueProbe {
    public enum Presence: Sendable, Equatable {
        /// The queue has keys; one of them, for the message.
        case used(example: String)
        /// No key of the queue exists.
        case unused
        /// The keys checked first do not exist, and the bounded SCAN ended before it had
        /// seen the whole key space (a large database).
        case unknown(scanned: Int)
    }

    public let keys: QueueKeys

    public init(keys: QueueKeys) {
        self.keys = keys
    }

    /// The keys a queue has as soon as a worker, a producer or an admin tool used it;
    /// checked first, in one round trip.
    public var knownKeys: [String] {
        [keys.jobs, keys.results, keys.dead, keys.stats, keys.prefix + "config", keys.workers]
    }

    /// `intone:{Q}:*` as a SCAN pattern (glob characters in the name escaped; queue names
    /// allow none today).
    var pattern: String {
        var escaped = ""
        for character in keys.prefix {
            if "*?[]\\".contains(character) { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped + "*"
    }

    /// Checks the known keys, then SCANs for any other key of the queue (agents' settings,
    /// buckets, audio…), at most `scanCalls` SCAN calls of COUNT `scanCount`.
    public func presence(scanCalls: Int = 100, scanCount: Int = 1000, on connection: RedisConnection) throws(RedisError) -> Presence {
        var commands = RedisCommands()
        for key in knownKeys { commands.append("EXISTS", .string(key)) }
        let exists = try connection.send(commands)
        for (key, reply) in zip(knownKeys, exists) {
            if let message = reply.errorMessage { throw RedisError.reply(message, command: "EXISTS") }
            if (reply.integer ?? 0) > 0 { return .used(example: key) }
        }
        var cursor = "0"
        for _ in 0..<max(1, scanCalls) {
            let (next, found) = try scan(cursor, count: scanCount, on: connection)
            if let first = found.first { return .used(example: String(decoding: first, as: UTF8.self)) }
            if next == "0" { return .unused }
            cursor = next
        }
        return .unknown(scanned: max(1, scanCalls) * scanCount)
    }

    /// Deletes every key of the queue: the known keys and those given first (one
    /// round trip), then whatever a SCAN finds, at most `scanCalls` calls. Returns how many
    /// keys were deleted and whether the SCAN saw the whole key space.
    public func removeAll(
        alsoKnown extra: [ByteString] = [], scanCalls: Int = 10_000, scanCount: Int = 1000, on connection: RedisConnection
    ) throws(RedisError) -> (removed: Int, complete: Bool) {
        var removed = try unlink(knownKeys.map { ByteString($0) } + extra, on: connection)
        var cursor = "0"
        for _ in 0..<max(1, scanCalls) {
            let (next, found) = try scan(cursor, count: scanCount, on: connection)
            removed += try unlink(found.map { ByteString($0) }, on: connection)
            if next == "0" { return (removed, true) }
            cursor = next
        }
        return (removed, false)
    }

    private func scan(_ cursor: String, count: Int, on connection: RedisConnection) throws(RedisError) -> (String, [[UInt8]]) {
        let reply = try connection.command("SCAN", .string(cursor), "MATCH", .string(pattern), "COUNT", .integer(count))
        guard let parts = reply.array, parts.count == 2, let next = parts[0].string else { throw RedisError.unexpected("SCAN", reply) }
        return (next, (parts[1].array ?? []).compactMap(\.bytes))
    }

    private func unlink(_ keys: [ByteString], on connection: RedisConnection) throws(RedisError) -> Int {
        var removed = 0
        for start in stride(from: 0, to: keys.count, by: 500) {
            let reply = try connection.command(["UNLINK"] + keys[start..<min(start + 500, keys.count)].map(\.argument))
            removed += Int(reply.integer ?? 0)
        }
        return removed
    }
}
