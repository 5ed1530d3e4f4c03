/// Where a Redis server is and how to log in, parsed from the contract's URL forms:
/// `redis://[user:password@]host:port[/db]` and `unix:///path[?db=N&password=P]`.
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public var endpoint: Endpoint
    public var username: String?
    public var password: String?
    public var database: Int
    /// A file that holds the password (a mounted secret): read at every connect, so that
    /// a rotated password is picked up by the next reconnect. It wins over `password`.
    public var passwordFile: String?

    public init(endpoint: Endpoint, username: String? = nil, password: String? = nil, database: Int = 0) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
    }

    /// The password to log in with now: the password file's first line, or the URL's.
    public func currentPassword() -> String? {
        guard let passwordFile else { return password }
        guard let bytes = LocalFiles.read(passwordFile) else { return nil }
        let line = bytes.prefix { $0 != 10 && $0 != 13 }
        return String(decoding: line, as: UTF8.self)
    }

    /// Parses a URL; throws `RedisURLError` with a sentence that names what is wrong and
    /// never repeats the URL (it may hold a password).
    public init(parsing text: String) throws(RedisURLError) {
        if text.hasPrefix("unix://") {
            self = try Self.parseUnix(String(text.dropFirst("unix://".count)), original: text)
        } else if text.hasPrefix("redis://") {
            self = try Self.parseTCP(String(text.dropFirst("redis://".count)), original: text)
        } else {
            throw RedisURLError(url: text, reason: "it must start with redis:// or unix://")
        }
    }

    /// The URL with the password hidden, for logs and start-up lines.
    public var description: String {
        var auth = ""
        if username != nil || password != nil || passwordFile != nil {
            auth = (username.map(Self.percentEncode) ?? "") + (password == nil && passwordFile == nil ? "" : ":***") + "@"
        }
        switch endpoint {
        case .tcp(let host, let port):
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return "redis://\(auth)\(shownHost):\(port)" + (database == 0 ? "" : "/\(database)")
        case .unix(let path):
            var query: [String] = []
            if database != 0 { query.append("db=\(database)") }
            if password != nil { query.append("password=***") }
            return "unix://\(path)" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        }
    }

    private static func parseTCP(_ rest: String, original: String) throws(RedisURLError) -> RedisURL {
        var rest = Substring(rest)
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                let user = String(userinfo[..<colon])
                username = user.isEmpty ? nil : try percentDecode(user, original: original)
                password = try percentDecode(String(userinfo[userinfo.index(after: colon)...]), original: original)
            } else if !userinfo.isEmpty {
                // `redis://secret@host` is the common form for a password without a user name.
                password = try percentDecode(String(userinfo), original: original)
            }
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !path.isEmpty {
                guard let db = Int(path), db >= 0 else {
                    throw RedisURLError(url: original, reason: "the database after / must be a number ≥ 0")
                }
                database = db
            }
        }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw RedisURLError(url: original, reason: "an IPv6 host needs a closing ]")
            }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else if !after.isEmpty {
                throw RedisURLError(url: original, reason: "unexpected characters after the host")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else { throw RedisURLError(url: original, reason: "the host is missing") }
        // A password written without its '@' (redis://:secret127.0.0.1:6379) would become
        // part of the host: refuse it without repeating it.
        guard rest.hasPrefix("[") || !host.contains(":"), !host.contains(where: { $0 == "@" || $0 == "/" || $0.isWhitespace }) else {
            throw RedisURLError(
                url: original,
                reason: "the host is not a name or an address (a password goes before an '@': redis://user:password@host:port)")
        }
        var port = 6379
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else {
                throw RedisURLError(url: original, reason: "the port must be a number from 1 to 65535")
            }
            port = p
        }
        return RedisURL(endpoint: .tcp(host: String(host), port: port), username: username, password: password, database: database)
    }

    private static func parseUnix(_ rest: String, original: String) throws(RedisURLError) -> RedisURL {
        var path = Substring(rest)
        var database = 0
        var password: String?
        var username: String?
        if let q = path.firstIndex(of: "?") {
            let query = path[path.index(after: q)...]
            path = path[..<q]
            for pair in query.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                let value = parts.count > 1 ? try percentDecode(parts[1], original: original) : ""
                switch parts[0] {
                case "db":
                    guard let db = Int(value), db >= 0 else {
                        throw RedisURLError(url: original, reason: "db must be a number ≥ 0")
                    }
                    database = db
                case "password": password = value
                case "user", "username": username = value
                default:
                    throw RedisURLError(url: original, reason: "unknown parameter '\(DisplayText.escaped(parts[0]))' (db, user, password)")
                }
            }
        }
        guard path.hasPrefix("/") else {
            throw RedisURLError(url: original, reason: "a socket path must be absolute: unix:///path/to/redis.sock")
        }
        return RedisURL(endpoint: .unix(path: String(path)), username: username, password: password, database: database)
    }

    private static func percentDecode(_ text: String, original: String) throws(RedisURLError) -> String {
        guard text.contains("%") else { return text }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { throw RedisURLError(url: original, reason: "a % must be followed by two hex digits") }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw RedisURLError(url: original, reason: "the user or password is not valid UTF-8 once decoded")
        }
        return decoded
    }

    private static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if c.isLetter || c.isNumber || "-._~".contains(c), byte < 0x80 {
                out.append(c)
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

/// A Redis URL that could not be parsed.
public struct RedisURLError: Error, Equatable, CustomStringConvertible {
    public var url: String
    public var reason: String
    public var description: String { "invalid Redis URL: \(reason)" }
}

extension String {
    public func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
