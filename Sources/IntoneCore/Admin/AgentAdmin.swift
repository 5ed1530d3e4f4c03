/// Reads and writes an agent's settings hash, validating every value first.
///
/// Fields are those of the worker's parser (`AgentSettings.Field`, checked by its one
/// validator, `AgentSettings.check`), and `format` (contract 1.1): while the worker's
/// parser does not know that field yet, it is checked here by the format names' own
/// parser (`AudioFormat(parsing:)`); once `AgentSettings.Field` has it, its validator
/// takes over without a change here.
public struct AgentAdmin {
    public typealias Field = AgentSettings.Field

    /// The agent hash's `format` field.
    public static let formatField = "format"

    /// Every field an operator may set, as stored: the worker's fields, then `format`.
    public static var fieldNames: [String] {
        Field.allCases.map(\.rawValue) + (Field(rawValue: formatField) == nil ? [formatField] : [])
    }

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
            case .failure(let error): throw ConfigurationError("\(flag(field.rawValue)): \(error.message)")
            }
        }
        return clean
    }

    /// The same by field name, `format` included; an unknown name is refused.
    public static func validate(named values: [String: String], catalog: VoiceCatalog?) throws(ConfigurationError) -> [String: String] {
        var clean: [String: String] = [:]
        for (name, raw) in values.sorted(by: { $0.key < $1.key }) {
            if let field = Field(rawValue: name) {
                clean[name] = try validate([field: raw], catalog: catalog)[field]
            } else if name == formatField {
                do throws(AudioFormatError) {
                    _ = try AudioFormat(parsing: raw.trimmed)
                    clean[name] = raw.trimmed
                } catch {
                    throw ConfigurationError("\(flag(name)): \(DisplayText.escaped(error.message))")
                }
            } else {
                throw ConfigurationError("unknown field '\(DisplayText.escaped(name))' (\(fieldNames.joined(separator: ", ")))")
            }
        }
        return clean
    }

    static func flag(_ name: String) -> String {
        "--" + String(name.map { $0 == "_" ? "-" : $0 })
    }

    /// What the worker will use for an agent: the stored fields read by the worker's own
    /// parser, with what it would warn about.
    public struct Effective: Sendable {
        public var settings: AgentSettings
        /// The agent's format, or the worker's when the agent has none (or a bad one).
        public var format: AudioFormat
        /// Values the worker cannot use (it keeps the default, and logs one warning).
        public var problems: [String]
        /// Fields the worker does not know; it ignores them.
        public var unknownFields: [String]
    }

    /// The stored fields as the worker reads them (`AgentSettings.parse`): a bad value
    /// keeps its default (an unknown voice is `en`), and the problem is reported.
    public static func effective(
        _ stored: [String: String], defaultTTS: AgentSettings.Speech, defaultFormat: AudioFormat, catalog: VoiceCatalog?
    ) -> Effective {
        let known = Set(fieldNames)
        var readable = stored.filter { known.contains($0.key) }
        var format = defaultFormat
        var problems: [String] = []
        if Field(rawValue: formatField) == nil, let raw = readable.removeValue(forKey: formatField), !raw.trimmed.isEmpty {
            do throws(AudioFormatError) {
                format = try AudioFormat(parsing: raw.trimmed)
            } catch {
                problems.append(DisplayText.escaped(error.message))
            }
        } else if let field = Field(rawValue: formatField), let raw = readable[formatField], !raw.trimmed.isEmpty,
            case .success(let value) = AgentSettings.check(field, raw, catalog: catalog), let parsed = try? AudioFormat(parsing: value)
        {
            format = parsed
        }
        let parsed = AgentSettings.parse(readable, defaultTTS: defaultTTS, catalog: catalog)
        return Effective(
            settings: parsed.settings, format: format, problems: parsed.problems + problems,
            unknownFields: stored.keys.filter { !known.contains($0) }.sorted())
    }

    public func set(_ agent: String, _ values: [Field: String], on connection: RedisConnection) throws(RedisError) {
        var named: [String: String] = [:]
        for (field, value) in values { named[field.rawValue] = value }
        try set(agent, named: named, on: connection)
    }

    /// Writes fields by name (values checked first with `validate(named:catalog:)`).
    public func set(_ agent: String, named values: [String: String], on connection: RedisConnection) throws(RedisError) {
        guard !values.isEmpty else { return }
        let pairs = values.sorted { $0.key < $1.key }.flatMap { [RedisArgument.string($0.key), .string($0.value)] }
        try connection.command(["HSET", .string(keys.agent(agent))] + pairs)
    }

    /// Removes the given fields, or the whole hash when none are given.
    public func unset(_ agent: String, _ fields: [Field], on connection: RedisConnection) throws(RedisError) {
        try unset(agent, named: fields.map(\.rawValue), on: connection)
    }

    /// Removes fields by name, or the whole hash when none are given.
    public func unset(_ agent: String, named fields: [String], on connection: RedisConnection) throws(RedisError) {
        if fields.isEmpty {
            try connection.command("DEL", .string(keys.agent(agent)))
        } else {
            try connection.command(["HDEL", .string(keys.agent(agent))] + fields.map { .string($0) })
        }
    }
}
