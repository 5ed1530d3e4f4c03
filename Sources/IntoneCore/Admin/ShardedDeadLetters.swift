/// The dead letters of a whole queue: every stream it serves (its shards, then the
/// version-1 stream), each read on the connection of its slot (`QueueAccess`). On a
/// queue without shards this is `DeadLetters` on `intone:{Q}:dead`.
///
/// A letter is named by its entry id and its stream (`ShardedEntryID`): ids are unique
/// within a stream only. A plain id names the letter in whichever stream holds it, and is
/// refused when two streams hold one with that id. A retried letter goes back on the jobs
/// stream of its own shard, where its done marker and audio key are.
public struct ShardedDeadLetters {
    /// A letter and the stream it is in.
    public struct Found: Sendable {
        public var keys: QueueKeys
        public var letter: DeadLetters.Letter
    }

    public struct Listing: Sendable {
        public var letters: [Found]
        public var scanned: Int
        public var complete: Bool
    }

    public enum RetryOutcome: Sendable, Equatable {
        /// Back on its shard's jobs stream, as this new entry.
        case retried(keys: QueueKeys, entryID: String)
        case alreadyRetried
        case notFound
        case notExactID
        /// More than one stream has a letter with this id (their labels): give `<id>@<shard>`.
        case ambiguous([String])
    }

    public enum DeleteOutcome: Sendable, Equatable {
        case deleted(keys: QueueKeys)
        case notFound
        case notExactID
        case ambiguous([String])
    }

    public let access: QueueAccess

    public init(access: QueueAccess) {
        self.access = access
    }

    var streams: [QueueKeys] { access.shards.served }

    /// Letters in every stream.
    public func count() throws(RedisError) -> Int {
        var total = 0
        for keys in streams { total += try DeadLetters(keys: keys).count(on: try access.connection(for: keys)) }
        return total
    }

    /// The oldest letters of the queue, at most `count`, oldest first across streams; with
    /// `error`, only those with that code (at most `scanLimit` read per stream).
    public func list(count: Int, error code: String?, scanLimit: Int = 10_000) throws(RedisError) -> Listing {
        var found: [Found] = []
        var scanned = 0
        var complete = true
        for keys in streams {
            let listing = try DeadLetters(keys: keys).list(
                count: count, error: code, scanLimit: scanLimit, on: try access.connection(for: keys))
            found += listing.letters.map { Found(keys: keys, letter: $0) }
            scanned += listing.scanned
            complete = complete && listing.complete
        }
        found.sort { EntryID.precedes($0.letter.id, $1.letter.id) }
        return Listing(letters: Array(found.prefix(max(0, count))), scanned: scanned, complete: complete)
    }

    /// The letters with this id: in the stream named, or in any stream for a plain id.
    public func show(_ id: ShardedEntryID) throws(RedisError) -> [Found] {
        var found: [Found] = []
        for keys in try candidates(id) {
            if let letter = try DeadLetters(keys: keys).show(id.id, on: try access.connection(for: keys)) {
                found.append(Found(keys: keys, letter: letter))
            }
        }
        return found
    }

    /// The letters of a job, newest first, among the newest `scanLimit` of each stream.
    public func find(jobID: [UInt8], scanLimit: Int = 10_000) throws(RedisError) -> Listing {
        var found: [Found] = []
        var scanned = 0
        var complete = true
        for keys in access.streams(forJobID: ByteString(jobID)) {
            let listing = try DeadLetters(keys: keys).find(jobID: jobID, scanLimit: scanLimit, on: try access.connection(for: keys))
            found += listing.letters.map { Found(keys: keys, letter: $0) }
            scanned += listing.scanned
            complete = complete && listing.complete
        }
        found.sort { EntryID.precedes($1.letter.id, $0.letter.id) }
        return Listing(letters: found, scanned: scanned, complete: complete)
    }

    /// Retries letters named as the tools print them (`<id>`, `<id>@<shard>`), each on its
    /// own stream with `DeadLetters`' one-step retry. Outcomes in the order given; a name
    /// given twice is retried once.
    public func retry(_ names: [String]) throws(RedisError) -> [(name: String, outcome: RetryOutcome)] {
        let located = try locate(names)
        var outcomes: [String: RetryOutcome] = [:]
        for keys in streams {
            let here = named(names, on: keys, located: located)
            guard !here.isEmpty else { continue }
            let results = try DeadLetters(keys: keys).retryLetters(here.map(\.1), on: try access.connection(for: keys))
            for ((name, _), (_, outcome)) in zip(here, results) {
                switch outcome {
                case .retried(let entryID): outcomes[name] = .retried(keys: keys, entryID: entryID)
                case .alreadyRetried: outcomes[name] = .alreadyRetried
                case .notFound: outcomes[name] = .notFound
                case .notExactID: outcomes[name] = .notExactID
                }
            }
        }
        return names.map { name in
            switch located[name] {
            case .notExact?, nil: return (name, .notExactID)
            case .absent?: return (name, .notFound)
            case .several(let labels)?: return (name, .ambiguous(labels))
            case .one?: return (name, outcomes[name] ?? .notFound)
            }
        }
    }

    /// Retries every letter there is now, stream by stream; the ids retried per stream.
    public func retryAll() throws(RedisError) -> [(keys: QueueKeys, ids: [String])] {
        var retried: [(QueueKeys, [String])] = []
        for keys in streams {
            retried.append((keys, try DeadLetters(keys: keys).retryAll(on: try access.connection(for: keys))))
        }
        return retried
    }

    /// Deletes letters named as the tools print them.
    public func delete(_ names: [String]) throws(RedisError) -> [(name: String, outcome: DeleteOutcome)] {
        let located = try locate(names)
        var deleted: [String: QueueKeys] = [:]
        for keys in streams {
            let here = named(names, on: keys, located: located)
            guard !here.isEmpty else { continue }
            let gone = Set(try DeadLetters(keys: keys).delete(here.map(\.1), on: try access.connection(for: keys)))
            for (name, id) in here where gone.contains(id) { deleted[name] = keys }
        }
        return names.map { name in
            switch located[name] {
            case .notExact?, nil: return (name, .notExactID)
            case .several(let labels)?: return (name, .ambiguous(labels))
            case .absent?, .one?: return (name, deleted[name].map { .deleted(keys: $0) } ?? .notFound)
            }
        }
    }

    /// Deletes every letter of every stream; how many there were.
    public func purge() throws(RedisError) -> Int {
        var total = 0
        for keys in streams { total += try DeadLetters(keys: keys).purge(on: try access.connection(for: keys)) }
        return total
    }

    enum Place: Equatable {
        case notExact
        case absent
        case one(QueueKeys, id: String)
        case several([String])
    }

    /// Where each named letter is: one XRANGE per name and stream, a round trip per stream.
    func locate(_ names: [String]) throws(RedisError) -> [String: Place] {
        var places: [String: Place] = [:]
        var parsed: [(String, ShardedEntryID)] = []
        for name in names where places[name] == nil {
            guard let id = ShardedEntryID(parsing: name) else {
                places[name] = .notExact
                continue
            }
            places[name] = .absent
            parsed.append((name, id))
        }
        var holders: [String: [QueueKeys]] = [:]
        for keys in streams {
            let label = access.label(of: keys)
            let asked = parsed.filter { $0.1.stream == nil || $0.1.stream == label }
            guard !asked.isEmpty else { continue }
            var commands = RedisCommands()
            for (_, id) in asked { commands.append("XRANGE", .string(keys.dead), .string(id.id), .string(id.id)) }
            let replies = try access.connection(for: keys).send(commands)
            for ((name, _), reply) in zip(asked, replies) {
                if let error = reply.error(command: "XRANGE") { throw error }
                if !(reply.array ?? []).isEmpty { holders[name, default: []].append(keys) }
            }
        }
        for (name, id) in parsed {
            let found = holders[name] ?? []
            if found.count > 1 {
                places[name] = .several(found.map(access.label(of:)))
            } else if let keys = found.first {
                places[name] = .one(keys, id: id.id)
            }
        }
        return places
    }

    /// The names given, each once, in the order given (letters go back in that order).
    private func inOrder(_ names: [String]) -> [String] {
        var seen: Set<String> = []
        return names.filter { seen.insert($0).inserted }
    }

    /// The names (each once, in the order given) found on exactly one stream, `keys`, with
    /// their entry ids there.
    private func named(_ names: [String], on keys: QueueKeys, located: [String: Place]) -> [(name: String, id: String)] {
        inOrder(names).compactMap { name in
            guard case .one(let found, let id)? = located[name], found == keys else { return nil }
            return (name, id)
        }
    }

    /// The streams a name may be in: the one it names, or every stream.
    private func candidates(_ id: ShardedEntryID) throws(RedisError) -> [QueueKeys] {
        guard let label = id.stream else { return streams }
        return access.keys(labelled: label).map { [$0] } ?? []
    }
}
