/// One espeak-ng voice as `espeak_ListVoices` describes it.
public struct Voice: Sendable, Equatable, Hashable {
    /// File name under espeak-ng-data/voices, e.g. `gmw/en-US`.
    public var identifier: String
    /// Given name, e.g. `English (America)`.
    public var name: String
    /// Language codes in priority order, e.g. `["en-us", "en"]`.
    public var languages: [String]

    public init(identifier: String, name: String, languages: [String]) {
        self.identifier = identifier
        self.name = name
        self.languages = languages
    }
}

/// The voices espeak-ng can speak with, and which voice names a job may use.
///
/// espeak-ng accepts a language code (`en-us`), an identifier (`gmw/en-US`) or a
/// name (`English (America)`), optionally followed by `+variant` (`en+f3`).
public struct VoiceCatalog: Sendable, Equatable {
    public private(set) var voices: [Voice]
    public private(set) var variants: [String]
    private var names: Set<String>
    private var variantNames: Set<String>

    public init(voices: [Voice], variants: [String]) {
        self.voices = voices
        self.variants = variants
        var names = Set<String>()
        for voice in voices {
            names.insert(voice.identifier.lowercased())
            names.insert(voice.name.lowercased())
            for language in voice.languages { names.insert(language.lowercased()) }
        }
        self.names = names
        self.variantNames = Set(variants.map { $0.lowercased() })
    }

    /// Whether espeak-ng will find this voice.
    public func contains(_ voice: String) -> Bool {
        let parts = voice.split(separator: "+", maxSplits: 1, omittingEmptySubsequences: false)
        guard let base = parts.first, names.contains(base.lowercased()) else { return false }
        return parts.count == 1 || variantNames.contains(parts[1].lowercased())
    }

    /// Serialized as lines `identifier<TAB>name<TAB>lang,lang`, then `+variant` lines.
    func encoded() -> String {
        voices.map { "\($0.identifier)\t\($0.name)\t\($0.languages.joined(separator: ","))\n" }.joined()
            + variants.map { "+\($0)\n" }.joined()
    }

    init(decoding text: String) {
        var voices: [Voice] = []
        var variants: [String] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("+") {
                variants.append(String(line.dropFirst()))
                continue
            }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 3 else { continue }
            voices.append(Voice(identifier: fields[0], name: fields[1], languages: fields[2].split(separator: ",").map(String.init)))
        }
        self.init(voices: voices, variants: variants)
    }
}
