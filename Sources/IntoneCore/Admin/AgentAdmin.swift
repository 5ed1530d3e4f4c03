/// Reads and writes an agent's settings hash, validating every value first.
public struct AgentAdmin {
    public typealias Field = AgentSettings.Field

    public let keys: QueueKeys

    public init(keys: QueueKeys) {
        self.keys = keys
    }

    /// The hash as stored (only the fields set).
    public func stored(_ agent: String, on connection: RedisConnection) throws(RedisError) -> [String: String] {
        var fields: [String: String] = [:]
        for (name, value) in try connection.command("HGETALL", .string(keys.agent(agent))).pairs ?? [] {
            fields[name] = value.string ?? ""
        }
        return fields
    }

    /// Checks values with the worker's own validator (`AgentSettings.check`); the message
    /// names the flag and what it accepts.
    public static func validate(_ values: [Field: String], catalog: VoiceCatalog?) throws(ConfigurationError) -> [Field: String] {
        var clean: [Field: String] = [:]
        for (field, raw) in values.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            switch AgentSettings.check(field, raw, catalog: catalog) {
            case .success(let value): clean[field] = value
            case .failure(let error): throw ConfigurationError("--\(String(field.rawValue.map { $0 == "_" ? "-" : $0 })): \(error.message)")
            }
        }
        return clean
    }

    /// What the worker will use for this agent: the stored fields read by the worker's own
    /// parser, with the problems it would log (bad values fall back to defaults).
    public static func effective(_ stored: [String: String], defaultTTS: AgentSettings.Speech, catalog: VoiceCatalog?) -> (
        settings: AgentSettings, problems: [String]
    ) {
        AgentSettings.parse(stored, defaultTTS: defaultTTS, catalog: catalog)
    }

    public func set(_ agent: String, _ values: [Field: String], on connection: RedisConnection) throws(RedisError) {
        guard !values.isEmpty else { return }
        let pairs = values.sorted { $0.key.rawValue < $1.key.rawValue }.flatMap {
            [RedisArgument.string($0.key.rawValue), .string($0.value)]
        }
        try connection.command(["HSET", .string(keys.agent(agent))] + pairs)
    }

    /// Removes the given fields, or the whole hash when none are given.
    public func unset(_ agent: String, _ fields: [Field], on connection: RedisConnection) throws(RedisError) {
        if fields.isEmpty {
            try connection.command("DEL", .string(keys.agent(agent)))
        } else {
            try connection.command(["HDEL", .string(keys.agent(agent))] + fields.map { .string($0.rawValue) })
        }
    }
}
