import IntoneCore

/// Agents' settings hashes, found with a bounded SCAN and written with the validation of
/// `intone agent set` (`AgentAdmin.validate`). Agent ids are bytes here: an id that is
/// not valid UTF-8 still names its own hash.
public struct AgentDirectory: Sendable {
    /// A page stops growing once it has this many agents…
    public static let pageSize = 100
    /// …or after this many SCAN calls of `scanCount` keys each: at most 10,000 keys are
    /// looked at per request, however big the database.
    public static let scanCount = 250
    public static let maxScanCalls = 40
    /// Longest agent id taken from a form (ids become parts of keys).
    public static let maxIDBytes = 256

    public struct Agent: Sendable {
        public var id: [UInt8]
        /// The hash as stored: field name and value (bytes as text).
        public var fields: [String: String]
    }

    public struct Page: Sendable {
        public var agents: [Agent]
        /// The SCAN cursor to go on from; 0 when the keyspace has been walked through.
        public var next: UInt64
        public var scanCalls: Int
    }

    public var keys: QueueKeys

    public init(keys: QueueKeys) {
        self.keys = keys
    }

    var agentPrefix: [UInt8] { Array((keys.prefix + "agent:").utf8) }

    public func key(_ agent: [UInt8]) -> [UInt8] { agentPrefix + agent }

    /// The SCAN pattern: the prefix with glob characters escaped, then `*`.
    var pattern: [UInt8] {
        var escaped: [UInt8] = []
        for byte in agentPrefix {
            if "*?[]\\".utf8.contains(byte) { escaped.append(UInt8(ascii: "\\")) }
            escaped.append(byte)
        }
        return escaped + [UInt8(ascii: "*")]
    }

    /// One page of agents from `cursor` (0 to start), sorted by id, with their settings.
    public func list(cursor: UInt64, on connection: RedisConnection) throws(RedisError) -> Page {
        var cursor = cursor
        var calls = 0
        var seen = Set<[UInt8]>()
        var ids: [[UInt8]] = []
        repeat {
            let reply = try connection.command(
                "SCAN", .string(String(cursor)), "MATCH", .bytes(pattern), "COUNT", .integer(Self.scanCount))
            calls += 1
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string.flatMap({ UInt64($0) }) else {
                throw RedisError.unexpected("SCAN", reply)
            }
            cursor = next
            for key in parts[1].array ?? [] {
                guard let bytes = key.bytes, bytes.starts(with: agentPrefix), bytes.count > agentPrefix.count else { continue }
                let id = Array(bytes[agentPrefix.count...])
                if seen.insert(id).inserted { ids.append(id) }
            }
        } while cursor != 0 && ids.count < Self.pageSize && calls < Self.maxScanCalls
        ids.sort { $0.lexicographicallyPrecedes($1) }
        var commands = RedisCommands()
        for id in ids { commands.append("HGETALL", .bytes(key(id))) }
        let replies = ids.isEmpty ? [] : try connection.send(commands)
        let agents = zip(ids, replies).map { id, reply in Agent(id: id, fields: Self.fields(reply)) }
        return Page(agents: agents, next: cursor, scanCalls: calls)
    }

    public func settings(of agent: [UInt8], on connection: RedisConnection) throws(RedisError) -> [String: String] {
        Self.fields(try connection.command("HGETALL", .bytes(key(agent))))
    }

    /// Sets the values given and removes the fields named, in one MULTI/EXEC.
    public func save(_ agent: [UInt8], set values: [AgentAdmin.Field: String], remove: [AgentAdmin.Field], on connection: RedisConnection)
        throws(RedisError)
    {
        guard !values.isEmpty || !remove.isEmpty else { return }
        var commands = RedisCommands()
        commands.append("MULTI")
        if !values.isEmpty {
            commands.append(
                ["HSET", .bytes(key(agent))]
                    + values.sorted { $0.key.rawValue < $1.key.rawValue }.flatMap {
                        [RedisArgument.string($0.key.rawValue), .string($0.value)]
                    })
        }
        if !remove.isEmpty { commands.append(["HDEL", .bytes(key(agent))] + remove.map { .string($0.rawValue) }) }
        commands.append("EXEC")
        let replies = try connection.send(commands)
        if let message = replies.compactMap(\.errorMessage).first ?? replies.last?.array?.compactMap(\.errorMessage).first {
            throw RedisError(.server, "saving agent settings: \(message)")
        }
    }

    /// What an edit form asks for: every field given a value is checked (as `intone agent
    /// set` checks it) and set; every field left empty is removed, so its default applies.
    public static func changes(from form: [AgentAdmin.Field: String], catalog: VoiceCatalog?) throws(ConfigurationError) -> (
        set: [AgentAdmin.Field: String], remove: [AgentAdmin.Field]
    ) {
        let given = form.filter { !$0.value.trimmingSpaces.isEmpty }
        let remove = AgentAdmin.Field.allCases.filter { given[$0] == nil }
        return (try AgentAdmin.validate(given, catalog: catalog), remove)
    }

    static func fields(_ reply: RedisReply) -> [String: String] {
        var fields: [String: String] = [:]
        for (name, value) in reply.pairs ?? [] { fields[name] = value.string ?? "" }
        return fields
    }
}
