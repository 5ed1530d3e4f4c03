/// The dead-letter stream `intone:{Q}:dead`: list, show, retry, purge.
public struct DeadLetters {
    public struct Letter: Sendable {
        public var id: String
        public var fields: [Job.Field]

        public func value(_ name: String) -> String? {
            fields.last { $0.name == Array(name.utf8) }.map { String(decoding: $0.value, as: UTF8.self) }
        }

        /// The job's own fields, without those the worker added when it failed.
        public var originalFields: [Job.Field] {
            var original = fields
            for name in DeadLetters.addedFields.reversed() where original.last?.name == Array(name.utf8) {
                original.removeLast()
            }
            return original
        }
    }

    /// What the worker appends to a job's fields, in order.
    static let addedFields = ["error", "message", "entry_id", "attempts", "failed_at"]

    public let keys: QueueKeys

    public init(keys: QueueKeys) {
        self.keys = keys
    }

    public func list(count: Int, on connection: RedisConnection) throws(RedisError) -> [Letter] {
        Self.letters(try connection.command("XRANGE", .string(keys.dead), "-", "+", "COUNT", .integer(count)))
    }

    public func show(_ id: String, on connection: RedisConnection) throws(RedisError) -> Letter? {
        Self.letters(try connection.command("XRANGE", .string(keys.dead), .string(id), .string(id))).first
    }

    public func count(on connection: RedisConnection) throws(RedisError) -> Int {
        Int(try connection.command("XLEN", .string(keys.dead)).integer ?? 0)
    }

    /// Puts each letter's original fields back on the jobs stream and removes the letter,
    /// in one MULTI/EXEC each. The job's done marker is removed with it, so the retried
    /// job is answered again (a deliberate new attempt, per the contract). A job that had
    /// no `job_id` keeps its old entry id as `job_id`, so its new result can be matched.
    /// Returns the ids retried; ids that are not dead letters are skipped.
    public func retry(_ ids: [String], on connection: RedisConnection) throws(RedisError) -> [String] {
        var retried: [String] = []
        for id in ids {
            guard let letter = try show(id, on: connection) else { continue }
            var fields = letter.originalFields
            if !fields.contains(where: { $0.name == Array("job_id".utf8) }), let entry = letter.value("entry_id") {
                fields.insert(Job.Field("job_id", entry), at: 0)
            }
            let jobID = fields.last { $0.name == Array("job_id".utf8) }.map { String(decoding: $0.value, as: UTF8.self) } ?? id
            var commands = RedisCommands()
            commands.append("MULTI")
            commands.append(["XADD", .string(keys.jobs), "*"] + fields.flatMap { [RedisArgument.bytes($0.name), .bytes($0.value)] })
            commands.append("DEL", .string(keys.done(jobID: jobID)))
            commands.append("XDEL", .string(keys.dead), .string(id))
            commands.append("EXEC")
            let replies = try connection.send(commands)
            if let message = replies.compactMap(\.errorMessage).first {
                throw RedisError(.server, "retrying dead letter \(id): \(message)")
            }
            retried.append(id)
        }
        return retried
    }

    /// Retries the dead letters there are now; letters written while it runs (a retried
    /// job that fails again) are left for next time.
    public func retryAll(on connection: RedisConnection) throws(RedisError) -> [String] {
        guard let last = Self.letters(try connection.command("XREVRANGE", .string(keys.dead), "+", "-", "COUNT", "1")).first?.id else {
            return []
        }
        var retried: [String] = []
        var start = "-"
        while true {
            let page = Self.letters(try connection.command("XRANGE", .string(keys.dead), .string(start), .string(last), "COUNT", "500"))
            if page.isEmpty { return retried }
            retried += try retry(page.map(\.id), on: connection)
            start = "(" + page.last!.id
        }
    }

    /// Deletes every dead letter; returns how many there were.
    public func purge(on connection: RedisConnection) throws(RedisError) -> Int {
        var commands = RedisCommands()
        commands.append("XLEN", .string(keys.dead))
        commands.append("DEL", .string(keys.dead))
        return Int(try connection.send(commands)[0].integer ?? 0)
    }

    static func letters(_ reply: RedisReply) -> [Letter] {
        (reply.array ?? []).compactMap { entry in
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string, let flat = parts[1].array else { return nil }
            var fields: [Job.Field] = []
            var index = 0
            while index + 1 < flat.count {
                fields.append(Job.Field(name: flat[index].bytes ?? [], value: flat[index + 1].bytes ?? []))
                index += 2
            }
            return Letter(id: id, fields: fields)
        }
    }
}
