/// An agent's voice settings, from the hash `intone:{Q}:agent:<agent_id>`.
public struct AgentSettings: Sendable, Equatable {
    public enum Speech: String, Sendable, CaseIterable {
        case on, off, keywords
    }

    public var tts: Speech
    public var voice: String
    public var rate: Int
    public var pitch: Int
    public var keywords: [String]
    /// Overrides the worker's agent bucket when set (`rate_limit` field).
    public var rateLimit: RateLimit?
    /// Stream the audio of this agent's replies (`stream on`), unless a job says `stream 0`.
    public var stream: Bool
    /// The format of this agent's replies, unless a job names one (nil: the worker's).
    public var format: AudioFormat?

    public static let defaultVoice = "en"
    public static let defaultRate = 175
    public static let defaultPitch = 50
    public static let rateRange = 80...450
    public static let pitchRange = 0...99

    public init(
        tts: Speech, voice: String = defaultVoice, rate: Int = defaultRate, pitch: Int = defaultPitch,
        keywords: [String] = [], rateLimit: RateLimit? = nil, stream: Bool = false, format: AudioFormat? = nil
    ) {
        self.tts = tts
        self.voice = voice
        self.rate = rate
        self.pitch = pitch
        self.keywords = keywords
        self.rateLimit = rateLimit
        self.stream = stream
        self.format = format
    }

    /// The fields of an agent hash, as the contract and `intone agent set` name them.
    public enum Field: String, CaseIterable, Sendable {
        case tts, voice, rate, pitch, keywords
        case rateLimit = "rate_limit"
        case stream
        case format
    }

    /// Checks one field's value as the worker reads it and returns it in its stored form
    /// (`intone agent set` stores that; the worker applies it). The one validator for
    /// agent settings: the worker and the admin commands both use it.
    public static func check(_ field: Field, _ raw: String, catalog: VoiceCatalog?) -> Result<String, AgentSettingsError> {
        let value = raw.trimmed
        func refuse(_ accepts: String) -> Result<String, AgentSettingsError> {
            .failure(AgentSettingsError(field: field, value: raw, accepts: accepts))
        }
        switch field {
        case .tts:
            guard let tts = Speech(rawValue: value.lowercased()) else { return refuse("on, off or keywords") }
            return .success(tts.rawValue)
        case .voice:
            guard !value.isEmpty, catalog?.contains(value) ?? true else { return refuse("an espeak-ng voice (see `intone voices`)") }
            return .success(value)
        case .rate:
            guard let rate = Int(value), rateRange.contains(rate) else { return refuse("a whole number from 80 to 450") }
            return .success(String(rate))
        case .pitch:
            guard let pitch = Int(value), pitchRange.contains(pitch) else { return refuse("a whole number from 0 to 99") }
            return .success(String(pitch))
        case .keywords:
            return .success(value.split(separator: ",").map { $0.trimmed }.filter { !$0.isEmpty }.joined(separator: ","))
        case .rateLimit:
            do {
                return .success(try RateLimit(parsing: value).description)
            } catch {
                return refuse(RateLimit.accepted)
            }
        case .stream:
            switch value.lowercased() {
            case "on", "1": return .success("on")
            case "off", "0": return .success("off")
            default: return refuse("on or off")
            }
        case .format:
            do {
                return .success(try AudioFormat(parsing: value).name)
            } catch {
                return refuse("an audio format (\(AudioFormatError.accepted))")
            }
        }
    }

    /// Reads the hash's fields. A field with a bad value keeps its default, and the
    /// problem is reported so the worker can tell the operator once; fields the contract
    /// does not name are reported too.
    public static func parse(
        _ fields: [String: String], defaultTTS: Speech, catalog: VoiceCatalog?
    ) -> (settings: AgentSettings, problems: [String]) {
        var settings = AgentSettings(tts: defaultTTS)
        var problems: [String] = []
        for (name, raw) in fields.sorted(by: { $0.key < $1.key }) {
            guard let field = Field(rawValue: name) else {
                problems.append("unknown field '\(DisplayText.escaped(name))' is ignored")
                continue
            }
            // An empty voice or rate limit means "the default", as if the field were unset.
            if field == .voice || field == .rateLimit || field == .format, raw.trimmed.isEmpty { continue }
            switch check(field, raw, catalog: catalog) {
            case .failure(let error):
                problems.append(error.message)
            case .success(let value):
                switch field {
                case .tts: settings.tts = Speech(rawValue: value) ?? defaultTTS
                case .voice: settings.voice = value
                case .rate: settings.rate = Int(value) ?? defaultRate
                case .pitch: settings.pitch = Int(value) ?? defaultPitch
                case .keywords: settings.keywords = value.split(separator: ",").map { $0.lowercased() }
                case .rateLimit: settings.rateLimit = try? RateLimit(parsing: value)
                case .stream: settings.stream = value == "on"
                case .format: settings.format = try? AudioFormat(parsing: value)
                }
            }
        }
        return (settings, problems)
    }

    /// Whether a keyword occurs, case-insensitively and as a whole word, in the text.
    /// "read aloud" matches "Please READ ALOUD." but "cat" does not match "concatenate".
    public func keywordOccurs(in text: String) -> Bool {
        let haystack = Array(text.lowercased().unicodeScalars)
        for keyword in keywords {
            let needle = Array(keyword.unicodeScalars)
            guard !needle.isEmpty, needle.count <= haystack.count else { continue }
            for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
                guard haystack[start..<start + needle.count].elementsEqual(needle) else { continue }
                let before = start == 0 ? nil : haystack[start - 1]
                let after = start + needle.count < haystack.count ? haystack[start + needle.count] : nil
                if !Self.isWordScalar(before) && !Self.isWordScalar(after) { return true }
            }
        }
        return false
    }

    private static func isWordScalar(_ scalar: Unicode.Scalar?) -> Bool {
        guard let scalar else { return false }
        return scalar.properties.isAlphabetic || scalar.properties.numericType != nil || scalar == "_"
    }
}

extension StringProtocol {
    /// Without leading and trailing whitespace (spaces, tabs, newlines, Unicode spaces).
    public var trimmed: String {
        guard let first = firstIndex(where: { !$0.isWhitespace }),
            let last = lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        if first == startIndex, index(after: last) == endIndex, let whole = self as? String { return whole }
        return String(self[first...last])
    }
}

/// An agent setting's value that cannot be used: names the field and what it accepts.
public struct AgentSettingsError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: AgentSettings.Field
    public var value: String
    public var accepts: String

    public var message: String { "\(field.rawValue) '\(DisplayText.escaped(value))' must be \(accepts)" }
    public var description: String { message }
}
