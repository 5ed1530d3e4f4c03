/// A failure talking to Redis. `code` is stable; `message` is for people.
public struct RedisError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The server could not be reached, or the connection broke (hiredis returned no reply).
        public static let connection = Code(name: "connection")
        /// Redis answered a command with an error reply.
        public static let server = Code(name: "server")
        /// A reply had a shape the caller did not expect.
        public static let unexpectedReply = Code(name: "unexpected_reply")
        public var description: String { name }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// True when Redis said the script is not in its cache (after `SCRIPT FLUSH` or a restart).
    public var isNoScript: Bool { code == .server && message.hasPrefix("NOSCRIPT") }

    public static func unexpected(_ command: String, _ reply: RedisReply) -> RedisError {
        RedisError(.unexpectedReply, "\(command): unexpected reply \(reply)")
    }
}
