import IntoneCore

/// Every setting of `intone web`, with its flag, environment variable and default. A
/// flag wins over the environment, which wins over the default.
///
/// The console refuses to listen on an address other than loopback without a token:
/// it can retry and delete dead letters and change agents, so on a network it must
/// not be open to whoever reaches the port.
public struct WebConfiguration: Sendable {
    public struct Setting: Sendable {
        public var key: String
        public var environment: String
        public var defaultValue: String?
        public var help: String
        public var flag: String { "--" + key }
    }

    public static let settings: [Setting] = [
        Setting(
            key: "redis", environment: "INTONE_REDIS_URL", defaultValue: "redis://127.0.0.1:6379",
            help: "Redis URL: redis://[user:password@]host:port[/db] or unix:///path"),
        Setting(
            key: "redis-password-file", environment: "INTONE_REDIS_PASSWORD_FILE", defaultValue: nil,
            help: "file whose first line is the Redis password (read at every connect; wins over the URL's)"),
        Setting(key: "queue", environment: "INTONE_QUEUE", defaultValue: "tts", help: "queue name Q; keys are intone:{Q}:…"),
        Setting(
            key: "shards", environment: "INTONE_SHARDS", defaultValue: nil,
            help: "shards of the queue; the count the queue stores wins, and one given must agree with it"),
        Setting(
            key: "listen", environment: "INTONE_WEB_LISTEN", defaultValue: "127.0.0.1:8080",
            help: "host:port to serve on ([::1]:8080 for IPv6; port 0 picks a free one)"),
        Setting(
            key: "token", environment: "INTONE_WEB_TOKEN", defaultValue: nil,
            help: "token operators sign in with (at least 16 characters); required on any address but loopback"),
    ]

    /// Shortest token accepted: a short one on a network-facing console could be guessed.
    public static let minimumTokenLength = 16

    public var redisURL: RedisURL
    public var keys: QueueKeys
    /// A shard count the operator gave; nil to use the queue's (`intone:{Q}:config`).
    public var shards: Int?
    public var host: String
    public var port: Int
    public var token: String?

    public init(flags: [String: String] = [:], environment: [String: String]) throws(ConfigurationError) {
        func value(_ key: String) -> String? {
            let setting = Self.settings.first { $0.key == key }!
            if let flag = flags[key] { return flag }
            if let text = environment[setting.environment], !text.isEmpty { return text }
            return setting.defaultValue
        }
        let redisText = value("redis")!
        do {
            redisURL = try RedisURL(parsing: redisText)
        } catch {
            throw ConfigurationError("--redis: \(error.description)")
        }
        if let file = value("redis-password-file")?.trimmed, !file.isEmpty {
            redisURL.passwordFile = file
            guard redisURL.currentPassword() != nil else {
                throw ConfigurationError("--redis-password-file: cannot read the password file \(file) (INTONE_REDIS_PASSWORD_FILE)")
            }
        }
        keys = try QueueKeys(queue: value("queue")!)
        if let text = value("shards")?.trimmed, !text.isEmpty {
            guard let count = Int(text), (1...1024).contains(count) else {
                throw ConfigurationError("--shards '\(DisplayText.escaped(text))' must be a whole number from 1 to 1024 (INTONE_SHARDS)")
            }
            shards = count
        }
        (host, port) = try Self.parseListen(value("listen")!)
        token = value("token")
        if let token {
            guard token.count >= Self.minimumTokenLength, !token.contains(where: { $0.isWhitespace }) else {
                throw ConfigurationError(
                    "--token must be at least \(Self.minimumTokenLength) characters without spaces (INTONE_WEB_TOKEN)")
            }
        } else if !Self.isLoopback(host) {
            throw ConfigurationError(
                "--listen \(value("listen")!) is not a loopback address: give --token or INTONE_WEB_TOKEN, so that the console is not open to anyone who reaches it"
            )
        }
    }

    /// `host:port`, `[v6]:port` or `:port` (loopback); port 0 to 65535.
    static func parseListen(_ text: String) throws(ConfigurationError) -> (String, Int) {
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw ConfigurationError("--listen '\(text)' must be host:port or [ipv6]:port")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                throw ConfigurationError("--listen '\(text)' must be host:port or [ipv6]:port")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw ConfigurationError("--listen '\(text)': the port must be a number from 0 to 65535")
        }
        return (host.isEmpty ? "127.0.0.1" : String(host), port)
    }

    /// `localhost`, `127.0.0.0/8` and `::1`.
    public static func isLoopback(_ host: String) -> Bool {
        let lower = host.lowercased()
        if lower == "localhost" || lower == "::1" || lower == "0:0:0:0:0:0:0:1" { return true }
        let octets = lower.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// The address to show people, e.g. `http://127.0.0.1:8080`.
    public var address: String {
        "http://" + (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
    }
}
