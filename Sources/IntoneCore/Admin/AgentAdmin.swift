/// Reads and writes an agent's settings hash, validating every value first.
public struct AgentAdmin {
    public enum Field: String, CaseIterable, Sendable {
        case tts, voice, rate, pitch, keywords
        case rateLimit = "rate_limit"
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

    /// Checks values as the worker reads them; the message names the field and what it accepts.
    public static func validate(_ values: [Field: String], catalog: VoiceCatalog?) throws(ConfigurationError) -> [Field: String] {
        var clean: [Field: String] = [:]
        for (field, raw) in values {
            let value = raw.trimmed
            switch field {
            case .tts:
                guard AgentSettings.Speech(rawValue: value.lowercased()) != nil else {
                    throw ConfigurationError("--tts '\(raw)' must be on, off or keywords")
                }
                clean[field] = value.lowercased()
            case .voice:
                guard !value.isEmpty, catalog?.contains(value) ?? true else {
                    throw ConfigurationError("--voice '\(raw)' is not an espeak-ng voice (see `intone voices`)")
                }
                clean[field] = value
            case .rate:
                guard let rate = Int(value), AgentSettings.rateRange.contains(rate) else {
                    throw ConfigurationError("--rate '\(raw)' must be a whole number from 80 to 450")
                }
                clean[field] = String(rate)
            case .pitch:
                guard let pitch = Int(value), AgentSettings.pitchRange.contains(pitch) else {
                    throw ConfigurationError("--pitch '\(raw)' must be a whole number from 0 to 99")
                }
                clean[field] = String(pitch)
            case .keywords:
                let words = value.split(separator: ",").map { $0.trimmed }.filter { !$0.isEmpty }
                clean[field] = words.joined(separator: ",")
            case .rateLimit:
                do {
                    clean[field] = try RateLimit(parsing: value).description
                } catch {
                    throw ConfigurationError("--rate-limit: \(error.message)")
                }
            }
        }
        return clean
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
