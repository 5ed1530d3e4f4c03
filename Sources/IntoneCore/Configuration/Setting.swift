/// One setting as operators see it: its flag, its environment variable, its default and
/// what it means. Help text, the start-up summary, error messages and the README's table
/// all come from the one table of settings each command has (`WorkerConfiguration.settings`).
public struct Setting: Sendable {
    /// The flag without dashes: `batch-size`.
    public let key: String
    public let environment: String
    /// The default as text; nil when there is none (or it is computed: see `shownDefault`).
    public let defaultValue: String?
    /// What the value looks like in help: `N`, `URL`, `"R/s burst B"`.
    public let placeholder: String
    public let help: String
    /// The default as help shows it, when it is not the value itself ("one per core").
    public let shownDefault: String?

    public init(
        _ key: String, _ environment: String, default defaultValue: String?, _ placeholder: String, _ help: String,
        shownDefault: String? = nil
    ) {
        self.key = key
        self.environment = environment
        self.defaultValue = defaultValue
        self.placeholder = placeholder
        self.help = help
        self.shownDefault = shownDefault
    }

    public var flag: String { "--" + key }

    /// The default for people: `256`, `"20/s burst 40"`, `one per core`, or `none`.
    public var defaultText: String { shownDefault ?? defaultValue.map { $0.isEmpty ? "none" : $0 } ?? "none" }

    /// Help lines for a command: flag, placeholder, meaning, variable and default.
    public static func helpText(_ settings: [Setting]) -> String {
        settings.map { setting in
            "  \(setting.flag) \(setting.placeholder)\n      \(setting.help)\n      env \(setting.environment); default \(setting.defaultText)"
        }.joined(separator: "\n")
    }
}

/// The settings' values as given: a flag wins over its environment variable, which wins
/// over the default. Each value remembers where it came from, so that an error names the
/// flag or the variable the operator actually set.
public struct SettingValues: Sendable {
    public let settings: [Setting]
    let flags: [String: String]
    let environment: [String: String]

    public init(_ settings: [Setting], flags: [String: String], environment: [String: String]) {
        self.settings = settings
        self.flags = flags
        self.environment = environment
    }

    /// The value and where it came from (`--batch-size`, `INTONE_BATCH_SIZE`, or `the default of --batch-size`).
    public func value(_ key: String) -> (text: String?, source: String) {
        guard let setting = settings.first(where: { $0.key == key }) else { return (nil, "--" + key) }
        if let flag = flags[key] { return (flag, setting.flag) }
        if let text = environment[setting.environment], !text.isEmpty { return (text, setting.environment) }
        return (setting.defaultValue, "the default of \(setting.flag)")
    }

    public func text(_ key: String) -> String { value(key).text ?? "" }

    /// A whole number in `range`; the error names where the value came from.
    public func integer(_ key: String, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        let (text, source) = value(key)
        guard let number = Int((text ?? "").trimmed), range.contains(number) else {
            let upper = range.upperBound == Int.max ? " or more" : " to \(range.upperBound)"
            throw ConfigurationError(
                "\(source) '\(DisplayText.escaped(text ?? ""))' must be a whole number from \(range.lowerBound)\(upper)")
        }
        return number
    }

    /// A value `parse` accepts; its error is prefixed with where the value came from.
    public func parsed<T>(_ key: String, _ parse: (String) throws(ConfigurationError) -> T) throws(ConfigurationError) -> T {
        let (text, source) = value(key)
        do {
            return try parse(text ?? "")
        } catch {
            throw ConfigurationError("\(source): \(error.message)")
        }
    }

    /// Flags given that no setting has (a typo), for a clear refusal.
    public var unknownFlags: [String] { flags.keys.filter { key in !settings.contains { $0.key == key } }.sorted() }
}

/// `--key value` and `--key=value` words into flags, for the settings of a table.
public enum SettingArguments {
    public static func parse(_ words: [String], settings: [Setting]) throws(ConfigurationError) -> [String: String] {
        var flags: [String: String] = [:]
        var index = 0
        while index < words.count {
            let word = words[index]
            guard word.hasPrefix("--"), word.count > 2 else {
                throw ConfigurationError("unexpected argument '\(DisplayText.escaped(word))'; settings are --name value (see --help)")
            }
            var key = String(word.dropFirst(2))
            var value: String?
            if let equals = key.firstIndex(of: "=") {
                value = String(key[key.index(after: equals)...])
                key = String(key[..<equals])
            }
            guard settings.contains(where: { $0.key == key }) else {
                throw ConfigurationError("unknown setting --\(DisplayText.escaped(key)) (see --help)")
            }
            if value == nil {
                index += 1
                guard index < words.count else { throw ConfigurationError("--\(key) needs a value") }
                value = words[index]
            }
            flags[key] = value
            index += 1
        }
        return flags
    }
}
