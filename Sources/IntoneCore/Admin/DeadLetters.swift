/// The dead-letter stream `intone:{Q}:dead`: list, show, retry, purge.
///
/// Ids given by operators are used only when they are exact entry ids (`EntryID`), so no
/// raw Redis error (an invalid stream id) and no range where one entry was meant.
public struct DeadLetters {
    public struct Letter: Sendable {
        public var id: String
        public var fields: [Job.Field]

        /// A field's value as text (lossy for invalid UTF-8); the last one wins.
        public func value(_ name: String) -> String? {
            bytes(name).map { String(decoding: $0, as: UTF8.self) }
        }

        /// A field's raw value; the last one wins.
        public func bytes(_ name: String) -> [UInt8]? {
            fields.last { $0.name.elementsEqual(name.utf8) }?.value
        }

        /// The job's own fields, without those the worker added when it failed.
        public var originalFields: [Job.Field] {
            var original = fields
            for name in DeadLetters.addedFields.reversed() where original.last?.name.elementsEqual(name.utf8) == true {
                original.removeLast()
            }
            return original
        }

        /// The id the job was answered under: its `job_id`, or its entry id when it had none.
        public var jobID: [UInt8]? {
            originalFields.last { $0.name.elementsEqual("job_id".utf8) }?.value ?? bytes("entry_id")
        }
    }

    /// A page of letters and how much of the stream was read for it.
    public struct Listing: Sendable {
        public var letters: [Letter]
        /// Letters read to find them.
        public var scanned: Int
        /// Whether the read reached the end of the stream (false: the scan limit stopped it).
        public var complete: Bool
    }

    /// What happened to one id given to `retry`.
    public enum RetryOutcome: Sendable, Equatable {
        /// Back on the jobs stream, as this new entry.
        case retried(entryID: String)
        /// Another retry (or a purge) took the letter between the read and the retry.
        case alreadyRetried
        /// No such letter: retried before, purged, trimmed, or never there.
        case notFound
        /// Not an exact entry id (`<ms>-<seq>`); nothing was sent to Redis for it.
        case notExactID
    }

    /// What the worker appends to a job's fields, in order.
    static let addedFields = ["error", "message", "entry_id", "attempts", "failed_at"]

    /// Deletes the letter and, only if it was still there, deletes the job's audio key
    /// (the contract: a retried letter's audio goes first) and done marker and puts the
    /// job's fields back on the jobs stream, all in one step: two operators retrying the
    /// same letter at once enqueue it once. Keys: dead, jobs, done marker, audio. Args:
    /// the letter's id, then the job's fields and values. Returns the new entry id, or
    /// nil when the letter was gone.
    static let retryScript = RedisScript(
        name: "dead_letter_retry",
        source: """
            if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then return false end
            redis.call('DEL', KEYS[4])
            redis.call('DEL', KEYS[3])
            return redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
            """)

    public let keys: QueueKeys
    /// Letters read per XRANGE page.
    public var pageSize = 500

    public init(keys: QueueKeys) {
        self.keys = keys
    }

    /// The oldest letters, at most `count`.
    public func list(count: Int, on connection: RedisConnection) throws(RedisError) -> [Letter] {
        try list(count: count, error: nil, on: connection).letters
    }

    /// The oldest letters, at most `count`; with `error`, only those whose error code is
    /// exactly that, reading at most `scanLimit` letters to find them.
    public func list(count: Int, error code: String?, scanLimit: Int = 10_000, on connection: RedisConnection) throws(RedisError)
        -> Listing
    {
        guard let code else {
            let letters = Self.letters(try connection.command("XRANGE", .string(keys.dead), "-", "+", "COUNT", .integer(max(0, count))))
            return Listing(letters: letters, scanned: letters.count, complete: letters.count < count)
        }
        var found: [Letter] = []
        var scanned = 0
        var start = "-"
        while found.count < count && scanned < scanLimit {
            let want = min(pageSize, scanLimit - scanned)
            let page = Self.letters(
                try connection.command("XRANGE", .string(keys.dead), .string(start), "+", "COUNT", .integer(want)))
            scanned += page.count
            found += page.filter { $0.bytes("error")?.elementsEqual(code.utf8) == true }
            guard let last = page.last, page.count == want else {
                return Listing(letters: Array(found.prefix(count)), scanned: scanned, complete: true)
            }
            start = "(" + last.id
        }
        return Listing(letters: Array(found.prefix(count)), scanned: scanned, complete: false)
    }

    /// One letter by its exact entry id; nil for no such letter or an id that is not exact.
    public func show(_ id: String, on connection: RedisConnection) throws(RedisError) -> Letter? {
        guard EntryID.isExact(id) else { return nil }
        return Self.letters(try connection.command("XRANGE", .string(keys.dead), .string(id), .string(id))).first
    }

    /// The letters of a job, newest first: those whose `job_id` is these bytes exactly (or,
    /// for a job that had none, whose `entry_id` is), among the newest `scanLimit` letters.
    public func find(jobID: [UInt8], scanLimit: Int = 10_000, on connection: RedisConnection) throws(RedisError) -> Listing {
        var found: [Letter] = []
        var scanned = 0
        var end = "+"
        while scanned < scanLimit {
            let want = min(pageSize, scanLimit - scanned)
            let page = Self.letters(try connection.command("XREVRANGE", .string(keys.dead), .string(end), "-", "COUNT", .integer(want)))
            scanned += page.count
            found += page.filter { $0.jobID == jobID }
            guard let last = page.last, page.count == want else { return Listing(letters: found, scanned: scanned, complete: true) }
            end = "(" + last.id
        }
        return Listing(letters: found, scanned: scanned, complete: false)
    }

    public func count(on connection: RedisConnection) throws(RedisError) -> Int {
        Int(try connection.command("XLEN", .string(keys.dead)).integer ?? 0)
    }

    /// Retries exact ids; returns those put back on the jobs stream by this call, each once.
    /// Ids that are not exact, not (or no longer) dead letters are skipped.
    public func retry(_ ids: [String], on connection: RedisConnection) throws(RedisError) -> [String] {
        var seen: Set<String> = []
        return try retryLetters(ids, on: connection).compactMap { id, outcome in
            guard case .retried = outcome, seen.insert(id).inserted else { return nil }
            return id
        }
    }

    /// Puts each letter's original fields back on the jobs stream, once: the letter is
    /// deleted and the job added in one script, only if the letter was still there, so
    /// running the same retry twice (or two operators at once) enqueues the job once. The
    /// job's done marker and audio key are deleted with it, so the retried job is answered
    /// again (a deliberate new attempt, per the contract). A job that had no `job_id`
    /// keeps its old entry id as `job_id`, so its new result can be matched. Two round
    /// trips for any number of ids: the reads, then the scripts. An id given twice is
    /// retried once and has the same outcome at both places.
    public func retryLetters(_ ids: [String], on connection: RedisConnection) throws(RedisError) -> [(id: String, outcome: RetryOutcome)] {
        var seen: Set<String> = []
        let exact = ids.filter { EntryID.isExact($0) && seen.insert($0).inserted }
        var letters: [String: Letter] = [:]
        if !exact.isEmpty {
            var reads = RedisCommands()
            for id in exact { reads.append("XRANGE", .string(keys.dead), .string(id), .string(id)) }
            for (id, reply) in zip(exact, try connection.send(reads)) {
                if let error = reply.error(command: "XRANGE") { throw error }
                if let letter = Self.letters(reply).first { letters[id] = letter }
            }
        }
        let found = exact.compactMap { letters[$0] }
        var outcomes: [String: RetryOutcome] = [:]
        for (letter, outcome) in zip(found, try runRetries(found, on: connection)) { outcomes[letter.id] = outcome }
        return ids.map { id in
            guard EntryID.isExact(id) else { return (id, .notExactID) }
            return (id, outcomes[id] ?? .notFound)
        }
    }

    /// Retries the dead letters there are now, oldest first, a page at a time; letters
    /// written while it runs (a retried job that fails again) are left for next time.
    public func retryAll(on connection: RedisConnection) throws(RedisError) -> [String] {
        guard let last = Self.letters(try connection.command("XREVRANGE", .string(keys.dead), "+", "-", "COUNT", "1")).first?.id else {
            return []
        }
        var retried: [String] = []
        var start = "-"
        while true {
            let page = Self.letters(
                try connection.command("XRANGE", .string(keys.dead), .string(start), .string(last), "COUNT", .integer(pageSize)))
            guard let newest = page.last else { return retried }
            for (letter, outcome) in zip(page, try runRetries(page, on: connection)) {
                if case .retried = outcome { retried.append(letter.id) }
            }
            start = "(" + newest.id
        }
    }

    /// Runs the retry script for each letter, in one pipeline. A NOSCRIPT reply means the
    /// script did not run (Redis restarted or flushed its scripts), so those are sent again
    /// with the script's source.
    func runRetries(_ letters: [Letter], on connection: RedisConnection) throws(RedisError) -> [RetryOutcome] {
        guard !letters.isEmpty else { return [] }
        let script = Self.retryScript
        var outcomes = [RetryOutcome?](repeating: nil, count: letters.count)
        var waiting = Array(letters.indices)
        for _ in 0..<2 where !waiting.isEmpty {
            var commands = RedisCommands()
            for index in waiting {
                let (keys, arguments) = scriptCall(letters[index])
                commands.append(script.call(keys: keys, arguments: arguments))
            }
            let replies = try connection.send(commands)
            var again: [Int] = []
            for (index, reply) in zip(waiting, replies) {
                switch reply {
                case .error(let message) where RedisError.classify(message) == .noScript:
                    again.append(index)
                case .error(let message):
                    throw RedisError(RedisError.classify(message), "retrying dead letter \(letters[index].id): \(message)")
                case .null:
                    outcomes[index] = .alreadyRetried
                default:
                    outcomes[index] = .retried(entryID: reply.string ?? "")
                }
            }
            script.markMissing(!again.isEmpty)
            waiting = again
        }
        guard waiting.isEmpty else { throw RedisError(.noScript, "retrying dead letters: Redis does not keep the retry script") }
        return outcomes.map { $0 ?? .notFound }
    }

    private func scriptCall(_ letter: Letter) -> (keys: [RedisArgument], arguments: [RedisArgument]) {
        var fields = letter.originalFields
        let jobID = letter.jobID ?? Array(letter.id.utf8)
        if !fields.contains(where: { $0.name.elementsEqual("job_id".utf8) }) {
            fields.insert(Job.Field(name: Array("job_id".utf8), value: jobID), at: 0)
        }
        let id = ByteString(jobID)
        return (
            [.string(keys.dead), .string(keys.jobs), keys.done(jobID: id).argument, keys.audio(jobID: id).argument],
            [.string(letter.id)] + fields.flatMap { [RedisArgument.bytes($0.name), .bytes($0.value)] }
        )
    }

    /// Deletes letters by exact id; returns those deleted (ids that are not exact or not
    /// there are skipped).
    public func delete(_ ids: [String], on connection: RedisConnection) throws(RedisError) -> [String] {
        let exact = ids.filter { EntryID.isExact($0) }
        guard !exact.isEmpty else { return [] }
        var commands = RedisCommands()
        for id in exact { commands.append("XDEL", .string(keys.dead), .string(id)) }
        var deleted: [String] = []
        for (id, reply) in zip(exact, try connection.send(commands)) {
            if let error = reply.error(command: "XDEL") { throw error }
            if (reply.integer ?? 0) > 0 { deleted.append(id) }
        }
        return deleted
    }

    /// Deletes every dead letter; returns how many there were.
    public func purge(on connection: RedisConnection) throws(RedisError) -> Int {
        var commands = RedisCommands()
        commands.append("XLEN", .string(keys.dead))
        commands.append("DEL", .string(keys.dead))
        let replies = try connection.send(commands)
        if let error = replies[0].error(command: "XLEN") ?? replies[1].error(command: "DEL") { throw error }
        return Int(replies[0].integer ?? 0)
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
