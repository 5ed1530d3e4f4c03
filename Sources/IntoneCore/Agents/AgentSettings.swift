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

    public static let defaultVoice = "en"
    public static let defaultRate = 175
    public static let defaultPitch = 50
    public static let rateRange = 80...450
    public static let pitchRange = 0...99

    public init(
        tts: Speech, voice: String = defaultVoice, rate: Int = defaultRate, pitch: Int = defaultPitch,
        keywords: [String] = [], rateLimit: RateLimit? = nil
    ) {
        self.tts = tts
        self.voice = voice
        self.rate = rate
        self.pitch = pitch
        self.keywords = keywords
        self.rateLimit = rateLimit
    }

    /// Reads the hash's fields. A field with a bad value keeps its default, and the
    /// problem is reported so the worker can tell the operator once.
    public static func parse(
        _ fields: [String: String], defaultTTS: Speech, catalog: VoiceCatalog?
    ) -> (settings: AgentSettings, problems: [String]) {
        var settings = AgentSettings(tts: defaultTTS)
        var problems: [String] = []
        if let value = fields["tts"] {
            if let tts = Speech(rawValue: value.lowercased().trimmed) {
                settings.tts = tts
            } else {
                problems.append("tts '\(value)' is not on, off or keywords")
            }
        }
        if let value = fields["voice"]?.trimmed, !value.isEmpty {
            if catalog?.contains(value) ?? true {
                settings.voice = value
            } else {
                problems.append("voice '\(value)' is not an espeak-ng voice")
            }
        }
        if let value = fields["rate"] {
            if let rate = Int(value.trimmed), rateRange.contains(rate) {
                settings.rate = rate
            } else {
                problems.append("rate '\(value)' is not a number from 80 to 450")
            }
        }
        if let value = fields["pitch"] {
            if let pitch = Int(value.trimmed), pitchRange.contains(pitch) {
                settings.pitch = pitch
            } else {
                problems.append("pitch '\(value)' is not a number from 0 to 99")
            }
        }
        if let value = fields["keywords"] {
            settings.keywords = value.split(separator: ",").map { $0.trimmed.lowercased() }.filter { !$0.isEmpty }
        }
        if let value = fields["rate_limit"], !value.trimmed.isEmpty {
            do {
                settings.rateLimit = try RateLimit(parsing: value)
            } catch {
                problems.append("rate_limit: \(error.message)")
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
    var trimmed: String {
        guard let first = firstIndex(where: { !$0.isWhitespace }),
            let last = lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        if first == startIndex, index(after: last) == endIndex, let whole = self as? String { return whole }
        return String(self[first...last])
    }
}
