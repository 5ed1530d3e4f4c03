/// Puts jobs on a queue's jobs stream, as an upstream producer does (XADD).
public struct JobProducer {
    public let keys: QueueKeys

    public init(keys: QueueKeys) {
        self.keys = keys
    }

    /// Adds one job and returns its entry id. Fields are written in the order given.
    @discardableResult
    public func enqueue(_ fields: [(String, String)], on connection: RedisConnection) throws(RedisError) -> String {
        let reply = try connection.command(
            ["XADD", .string(keys.jobs), "*"] + fields.flatMap { [RedisArgument.string($0.0), .string($0.1)] })
        guard let id = reply.string else { throw RedisError.unexpected("XADD", reply) }
        return id
    }

    /// Adds many jobs in one pipeline; returns their entry ids in order.
    public func enqueue(batch: [[(String, String)]], on connection: RedisConnection) throws(RedisError) -> [String] {
        var commands = RedisCommands()
        for fields in batch {
            commands.append(["XADD", .string(keys.jobs), "*"] + fields.flatMap { [RedisArgument.string($0.0), .string($0.1)] })
        }
        var ids: [String] = []
        for reply in try connection.send(commands) {
            if let message = reply.errorMessage { throw RedisError(.server, "XADD: \(message)") }
            guard let id = reply.string else { throw RedisError.unexpected("XADD", reply) }
            ids.append(id)
        }
        return ids
    }
}
