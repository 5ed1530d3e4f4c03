import CHiredis
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A blocking connection to one Redis server, over hiredis 0.14.
///
/// This is the only type that touches hiredis. It is not thread-safe: one thread
/// owns it. Calls block, so they belong on a thread of their own, never on Swift's
/// cooperative pool. After a connection error every call fails with
/// `RedisError.Code.connection` until `reconnect()` succeeds.
public final class RedisConnection {
    public let url: RedisURL
    /// Socket timeout for every command; must exceed any `BLOCK` the caller uses.
    public private(set) var commandTimeoutMilliseconds: Int
    private var context: UnsafeMutablePointer<redisContext>
    private var broken = false

    /// Round trips made so far (one per `send`), for benchmarks and metrics.
    public private(set) var roundTrips = 0

    /// Counts what ends this connection's WATCHes (EXEC, DISCARD, UNWATCH written, and
    /// reconnects): a check made under WATCH is still in force while this is unchanged.
    /// Each connection starts from its own range, so no two connections share a value.
    public private(set) var watchEpoch = RedisConnection.nextEpochBase()

    private static let epochBases = Atomic<Int>(0)
    private static func nextEpochBase() -> Int { epochBases.add(1 << 32, ordering: .relaxed).newValue }

    /// Connects, then sends AUTH and SELECT as the URL asks.
    public init(url: RedisURL, connectTimeoutMilliseconds: Int = 5000, commandTimeoutMilliseconds: Int = 10000) throws(RedisError) {
        Self.ignoreSIGPIPE()
        self.url = url
        self.commandTimeoutMilliseconds = commandTimeoutMilliseconds
        let timeout = Self.timeval(milliseconds: connectTimeoutMilliseconds)
        let made: UnsafeMutablePointer<redisContext>? =
            switch url.endpoint {
            case .tcp(let host, let port): redisConnectWithTimeout(host, Int32(port), timeout)
            case .unix(let path): redisConnectUnixWithTimeout(path, timeout)
            }
        guard let made else {
            throw RedisError(.connection, "cannot connect to \(url): out of memory")
        }
        if url.passwordFile != nil, url.currentPassword() == nil {
            redisFree(made)
            throw RedisError(.authentication, "cannot read the Redis password file \(url.passwordFile ?? "")")
        }
        // From here on deinit frees the context, also when init throws.
        context = made
        if made.pointee.err != 0 {
            throw RedisError(.connection, "cannot connect to \(url): \(Self.errorString(made))")
        }
        try prepare()
    }

    deinit {
        redisFree(context)
    }

    public var isBroken: Bool { broken }

    /// Re-establishes a broken (or healthy) connection to the same server.
    public func reconnect() throws(RedisError) {
        watchEpoch += 1
        guard redisReconnect(context) == REDIS_OK else {
            broken = true
            throw RedisError(.connection, "cannot reconnect to \(url): \(Self.errorString(context))")
        }
        broken = false
        try prepare()
    }

    /// Changes the socket timeout (hiredis forgets it on reconnect, so it is kept here too).
    public func setCommandTimeout(milliseconds: Int) {
        commandTimeoutMilliseconds = milliseconds
        _ = redisSetTimeout(context, Self.timeval(milliseconds: milliseconds))
    }

    /// Sends every command in one write and reads one reply per command.
    /// Error replies come back as `.error` elements; only a broken connection throws.
    public func send(_ commands: RedisCommands) throws(RedisError) -> [RedisReply] {
        try write(commands)
        return try read(commands.names[...])
    }

    /// Writes commands without reading their replies: the caller reads them, in order,
    /// with `read(_:)` before anything else is sent. This lets a pipeline end with a
    /// command whose reply is wanted later (the next batch's read after a write-back).
    public func write(_ commands: RedisCommands) throws(RedisError) {
        guard !broken else {
            throw RedisError(.connection, "\(commands.names.first ?? "command"): connection to \(url) is broken")
        }
        guard commands.count > 0 else { return }
        roundTrips += 1
        for name in commands.names where name == "EXEC" || name == "DISCARD" || name == "UNWATCH" { watchEpoch += 1 }
        // The encoded pipeline goes to the socket directly. hiredis would copy it into
        // its output buffer and, after every partial write, move the unwritten rest to
        // the front: quadratic for a batch of WAV files (tens of MB). Its output buffer
        // stays empty, so redisGetReply below only reads.
        guard writeAll(commands.pieces) else { throw connectionFailure(commands.names.first ?? "command") }
    }

    /// The socket, for `poll`: readable means `readAvailable` will not block.
    public var fileDescriptor: Int32 { context.pointee.fd }

    /// Reads what the socket holds now (call only when `poll` says it is readable, or
    /// the read blocks) and appends the complete replies it gave, at most `limit`, to
    /// `replies` (a pipeline's replies come in several reads). Replies already buffered
    /// are taken first without touching the socket. A closed socket throws, like every
    /// other read.
    public func readAvailable(limit: Int, into replies: inout [RedisReply]) throws(RedisError) {
        guard !broken else { throw RedisError(.connection, "connection to \(url) is broken") }
        let wanted = replies.count + limit
        try bufferedReplies(upTo: wanted, into: &replies)
        guard replies.count < wanted else { return }
        guard redisBufferRead(context) == REDIS_OK else { throw connectionFailure("reading replies") }
        try bufferedReplies(upTo: wanted, into: &replies)
    }

    /// Complete replies hiredis has already read off the socket, until `replies` holds `count`.
    private func bufferedReplies(upTo count: Int, into replies: inout [RedisReply]) throws(RedisError) {
        while replies.count < count {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReplyFromReader(context, &raw) == REDIS_OK else { throw connectionFailure("parsing replies") }
            guard let raw else { break }
            replies.append(Self.convert(raw.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(raw)
        }
    }

    /// Marks the connection broken (a reply did not come in time): every call fails
    /// until `reconnect()`.
    public func markBroken(_ reason: String) -> RedisError {
        broken = true
        return RedisError(.connection, "\(reason) (\(url))")
    }

    /// Reads the replies of commands written before, one per name given.
    public func read(_ names: ArraySlice<String>) throws(RedisError) -> [RedisReply] {
        var replies: [RedisReply] = []
        replies.reserveCapacity(names.count)
        for name in names {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                throw connectionFailure(name)
            }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            replies.append(Self.convert(reply))
            freeReplyObject(raw)
        }
        return replies
    }

    /// Sends one command and returns its reply; an error reply throws, naming the command.
    @discardableResult
    public func command(_ arguments: RedisArgument...) throws(RedisError) -> RedisReply {
        try command(arguments)
    }

    @discardableResult
    public func command(_ arguments: [RedisArgument]) throws(RedisError) -> RedisReply {
        let commands = RedisCommands(arguments)
        let reply = try send(commands)[0]
        if case .error(let message) = reply {
            throw RedisError.reply(message, command: commands.names[0])
        }
        return reply
    }

    /// Writes the pieces in order with `writev`, as many at a time as the system takes.
    private func writeAll(_ pieces: [[UInt8]]) -> Bool {
        let fd = context.pointee.fd
        var index = 0
        var offset = 0
        while index < pieces.count {
            let group = pieces[index..<min(pieces.count, index + Self.maxIOVectors)]
            // The arrays are kept alive and unmutated across the call, so the addresses
            // of their (native, contiguous) storage stay valid while writev reads them.
            let written: Int = withExtendedLifetime(group) {
                withIOVectors(group, skippingFirst: offset) { vectors in Glibc.writev(fd, vectors.baseAddress, Int32(vectors.count)) }
            }
            if written < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                withUnsafeMutableBytes(of: &context.pointee.errstr) { raw in
                    let bytes = Array(reason.utf8.prefix(raw.count - 1)) + [0]
                    raw.copyBytes(from: bytes)
                }
                context.pointee.err = REDIS_ERR_IO
                return false
            }
            // Advance past what went out; the socket's send timeout bounds each call.
            var left = written
            while left > 0, index < pieces.count {
                let remaining = pieces[index].count - offset
                if left >= remaining {
                    left -= remaining
                    index += 1
                    offset = 0
                } else {
                    offset += left
                    left = 0
                }
            }
        }
        return true
    }

    private static let maxIOVectors = 512

    private func withIOVectors<R>(_ group: ArraySlice<[UInt8]>, skippingFirst offset: Int, _ body: (UnsafeBufferPointer<iovec>) -> R) -> R {
        var vectors: [iovec] = []
        vectors.reserveCapacity(group.count)
        for (position, piece) in group.enumerated() {
            let skip = position == 0 ? offset : 0
            piece.withUnsafeBufferPointer { buffer in
                vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: buffer.baseAddress! + skip), iov_len: buffer.count - skip))
            }
        }
        return vectors.withUnsafeBufferPointer(body)
    }

    private func prepare() throws(RedisError) {
        // hiredis does not set close-on-exec; children (synthesizers, redis-server in the
        // demo) must not hold this socket open.
        _ = fcntl(context.pointee.fd, F_SETFD, FD_CLOEXEC)
        setCommandTimeout(milliseconds: commandTimeoutMilliseconds)
        if let password = url.currentPassword() {
            do {
                if let username = url.username {
                    try command("AUTH", .string(username), .string(password))
                } else {
                    try command("AUTH", .string(password))
                }
            } catch  where error.code != .connection {
                // Whatever the prefix (WRONGPASS, ERR invalid password…), a refused AUTH
                // is a credentials problem; its text never holds the password.
                throw RedisError(.authentication, "\(url) refused the credentials: \(error.message)")
            }
        }
        if url.database != 0 {
            try command("SELECT", .integer(url.database))
        }
    }

    private func connectionFailure(_ command: String) -> RedisError {
        broken = true
        let reason = context.pointee.err != 0 ? Self.errorString(context) : "connection lost"
        return RedisError(.connection, "\(command): \(reason) (\(url))")
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            return .bulk(Array(UnsafeRawBufferPointer(start: r.str, count: Int(r.len))))
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: UnsafeRawBufferPointer(start: r.str, count: Int(r.len)), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: UnsafeRawBufferPointer(start: r.str, count: Int(r.len)), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(r.integer)
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(Int(r.elements))
            for i in 0..<Int(r.elements) {
                if let element = r.element[i] { elements.append(convert(element)) } else { elements.append(.null) }
            }
            return .array(elements)
        default:
            return .null
        }
    }

    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    private static func timeval(milliseconds: Int) -> Glibc.timeval {
        Glibc.timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
    }

    /// A write to a socket the server closed must return EPIPE, not kill the process.
    public static func ignoreSIGPIPE() {
        signal(SIGPIPE, SIG_IGN)
    }
}
