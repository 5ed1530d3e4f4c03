/// A Lua script run by its SHA1 (EVALSHA), reloaded when Redis has lost it.
///
/// The SHA1 comes from `SCRIPT LOAD`, so no hashing happens here. A NOSCRIPT reply
/// means the script did not run at all, so running it again after a reload cannot
/// apply its effects twice.
public final class RedisScript {
    public let name: String
    public let source: String
    public private(set) var sha: String?

    public init(name: String, source: String) {
        self.name = name
        self.source = source
    }

    public func load(on connection: RedisConnection) throws(RedisError) {
        let reply = try connection.command("SCRIPT", "LOAD", .string(source))
        guard let sha = reply.string else { throw RedisError.unexpected("SCRIPT LOAD \(name)", reply) }
        self.sha = sha
    }

    /// The words of `EVALSHA sha numkeys keys… args…`.
    public func call(keys: [String], arguments: [RedisArgument]) -> [RedisArgument] {
        ["EVALSHA", .string(sha ?? ""), .integer(keys.count)] + keys.map { .string($0) } + arguments
    }
}
