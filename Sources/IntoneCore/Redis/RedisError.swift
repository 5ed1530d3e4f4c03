/// A failure talking to Redis. `code` is stable; `message` is for people.
///
/// Error replies are classified once, by their first word (`WRONGTYPE`, `OOM`,
/// `NOPERM`…), into a `Code`; callers compare codes, never message text.
public struct RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String

        init(_ name: String) {
            self.name = name
        }

        public var description: String { name }

        /// The server could not be reached, or the connection broke (hiredis returned no reply).
        public static let connection = Code("connection")
        /// A reply had a shape the caller did not expect.
        public static let unexpectedReply = Code("unexpected_reply")
        /// Not from Redis: a setting disagrees with what the queue stores (its shard
        /// count). Waiting cannot fix it.
        public static let configuration = Code("configuration")

        // Error replies, by their prefix.
        /// `ERR …` and any prefix not listed here.
        public static let server = Code("ERR")
        /// A command met a key of another type.
        public static let wrongType = Code("WRONGTYPE")
        /// Redis is at `maxmemory` and refuses commands that may grow it.
        public static let outOfMemory = Code("OOM")
        /// The ACL user may not run the command or touch the key.
        public static let noPermission = Code("NOPERM")
        /// Credentials were refused or are missing (`NOAUTH`, `WRONGPASS`, or an `AUTH` refused).
        public static let authentication = Code("AUTH")
        /// Redis is loading its data after a restart.
        public static let loading = Code("LOADING")
        /// A script is running too long; Redis answers nothing else meanwhile.
        public static let busy = Code("BUSY")
        /// The script is not in Redis's cache (after `SCRIPT FLUSH` or a restart); it did not run.
        public static let noScript = Code("NOSCRIPT")
        /// The stream or its consumer group does not exist.
        public static let noGroup = Code("NOGROUP")
        /// The consumer group exists already.
        public static let busyGroup = Code("BUSYGROUP")
        /// A command queued in MULTI was refused, so EXEC discarded the whole transaction.
        public static let transactionAborted = Code("EXECABORT")
        /// A replica, or a master being failed over, refuses writes.
        public static let readOnly = Code("READONLY")
        public static let masterDown = Code("MASTERDOWN")
        /// Cluster redirections and states.
        public static let moved = Code("MOVED")
        public static let ask = Code("ASK")
        public static let tryAgain = Code("TRYAGAIN")
        public static let clusterDown = Code("CLUSTERDOWN")
        public static let crossSlot = Code("CROSSSLOT")

        static let prefixed: [Code] = [
            .wrongType, .outOfMemory, .noPermission, .loading, .busy, .noScript, .noGroup, .busyGroup, .transactionAborted, .readOnly,
            .masterDown, .moved, .ask, .tryAgain, .clusterDown, .crossSlot,
        ]
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// An error reply, classified by its first word; `command` names what was refused.
    public static func reply(_ text: String, command: String? = nil) -> RedisError {
        RedisError(classify(text), command.map { "\($0): \(text)" } ?? text)
    }

    /// The code of an error reply's text.
    public static func classify(_ text: String) -> Code {
        let word = text.prefix { $0 != " " }
        if word == "NOAUTH" || word == "WRONGPASS" { return .authentication }
        return Code.prefixed.first { $0.name == word } ?? .server
    }

    /// True when Redis said the script is not in its cache (after `SCRIPT FLUSH` or a restart).
    public var isNoScript: Bool { code == .noScript }

    /// Conditions that pass by themselves: worth retrying the same commands after a wait.
    public var isTransient: Bool {
        [.connection, .loading, .busy, .outOfMemory, .readOnly, .masterDown, .tryAgain, .clusterDown].contains(code)
    }

    public static func unexpected(_ command: String, _ reply: RedisReply) -> RedisError {
        RedisError(.unexpectedReply, "\(command): unexpected reply \(reply)")
    }
}
