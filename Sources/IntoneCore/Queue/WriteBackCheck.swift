/// The first half of a write-back: what Redis holds now for the jobs about to be written.
///
/// `WATCH` the jobs' done markers and their `reply_to` streams, then read them: which
/// `job_id`s already have a result (`MGET`), the type of every key the commit will add
/// an entry to (`TYPE`; for a stream also its last id, `XINFO STREAM`, since Redis
/// refuses an entry after the largest possible id), and Redis's clock (`TIME`). The commit
/// (`WriteBackCommit`) follows on the same connection with no EXEC in between, so the
/// WATCH is still in force: if another worker answers one of these `job_id`s, or someone
/// changes a watched stream, the EXEC is aborted and nothing is written.
///
/// MULTI/EXEC does not roll back: a command that fails inside it (a key of the wrong
/// type, an exhausted stream) leaves the others applied, and the job would be
/// acknowledged without its result. The check finds those keys first, so the commit is
/// built around them. The queue's own result, dead-letter and statistics keys are shared
/// by every worker and are not watched (every XADD would abort the others); their type is
/// checked here, and a change in the instant before EXEC is caught from EXEC's replies.
public struct WriteBackCheck: RedisSegment {
    /// The done markers to check (one per job), and the streams results will go to.
    public let markers: [ByteString]
    /// `reply_to` streams, each once (not the shards' own result streams).
    public let streams: [ByteString]
    /// The shards' own keys the commit writes to: result and dead-letter streams,
    /// statistics hashes.
    public let shardKeys: [QueueKeys]
    /// The shards whose dead-letter stream gets an entry (its last id is read only then:
    /// a dead letter can be 10 KB).
    public let deadLetterShards: Set<QueueKeys>

    /// Audio streams another worker may have begun (a streamed job delivered again):
    /// their length says where the last entry goes.
    public let audioStreams: [ByteString]

    /// What the check needs of one job.
    public struct Job: Sendable {
        public var keys: QueueKeys
        public var jobID: ByteString
        public var resultStream: ByteString
        /// It may get a dead letter: it failed, or its `reply_to` may not take the result.
        public var mayFail: Bool
        /// Its audio stream, when another worker may have written chunks of it.
        public var resumedAudio: ByteString?

        public init(keys: QueueKeys, jobID: ByteString, resultStream: ByteString, mayFail: Bool, resumedAudio: ByteString? = nil) {
            self.keys = keys
            self.jobID = jobID
            self.resultStream = resultStream
            self.mayFail = mayFail
            self.resumedAudio = resumedAudio
        }
    }

    public init(jobs: [Job]) {
        markers = jobs.map { $0.keys.done(jobID: $0.jobID) }
        var seenKeys = Set<QueueKeys>()
        shardKeys = jobs.map(\.keys).filter { seenKeys.insert($0).inserted }
        deadLetterShards = Set(jobs.filter(\.mayFail).map(\.keys))
        audioStreams = jobs.compactMap(\.resumedAudio)
        let own = Set(shardKeys.map { ByteString($0.results) })
        var seen = Set<ByteString>()
        streams = jobs.map(\.resultStream).filter { !own.contains($0) && seen.insert($0).inserted }
    }

    /// What a key the commit writes to holds.
    public enum KeyState: Sendable, Equatable {
        case absent
        case stream
        /// A stream whose last id is the largest there is: it takes no more entries.
        case exhaustedStream
        case other(type: String)

        public var acceptsEntries: Bool { self == .absent || self == .stream }

        public var acceptsHash: Bool {
            switch self {
            case .absent: true
            case .other(let type): type == "hash"
            default: false
            }
        }
    }

    public struct Output: Sendable {
        /// Done markers (keys) already set: their jobs have a result.
        public var answered: Set<ByteString>
        /// Every key checked: shards' result, dead-letter and statistics keys, and the
        /// `reply_to` streams.
        public var states: [ByteString: KeyState]
        /// Entries in the audio streams of jobs delivered again (absent: none).
        public var audioEntries: [ByteString: Int] = [:]
        /// Redis's clock at the check, and this host's monotonic clock when it came back.
        public var serverMilliseconds: Int64
        public var monotonicMilliseconds: Int64

        /// Redis's clock now, as far as this host can tell.
        public var serverNow: Int64 { serverMilliseconds + (Monotonic.milliseconds() - monotonicMilliseconds) }

        public func state(of key: ByteString) -> KeyState { states[key] ?? .absent }
        public func state(of key: String) -> KeyState { state(of: ByteString(key)) }
    }

    public func encode(into commands: inout RedisCommands) {
        // WATCH and MGET need a key: an empty check watches a marker no job can have.
        let markers = markers.isEmpty ? [ByteString("intone:{}:done:")] : markers
        // Watches left from a check that was not followed by its commit must not abort
        // this one.
        commands.append("UNWATCH")
        commands.begin(1 + markers.count + streams.count, name: "WATCH")
        for marker in markers { commands.appendArgument(marker.argument) }
        for stream in streams { commands.appendArgument(stream.argument) }
        commands.begin(1 + markers.count, name: "MGET")
        for marker in markers { commands.appendArgument(marker.argument) }
        for keys in shardKeys {
            commands.append("TYPE", .string(keys.results))
            commands.append("XINFO", "STREAM", .string(keys.results))
            commands.append("TYPE", .string(keys.dead))
            if deadLetterShards.contains(keys) { commands.append("XINFO", "STREAM", .string(keys.dead)) }
            commands.append("TYPE", .string(keys.stats))
        }
        for stream in streams {
            commands.append("TYPE", stream.argument)
            commands.append("XINFO", "STREAM", stream.argument)
        }
        for stream in audioStreams { commands.append("XLEN", stream.argument) }
        commands.append("TIME")
    }

    public func decode(_ replies: ArraySlice<RedisReply>) throws(RedisError) -> Output {
        var cursor = replies.startIndex
        func next() -> RedisReply {
            defer { cursor += 1 }
            return replies[cursor]
        }
        _ = next()  // UNWATCH
        if let error = next().error(command: "WATCH") { throw error }
        let marked = next()
        if let error = marked.error(command: "MGET") { throw error }
        guard let values = marked.array else { throw RedisError.unexpected("MGET", marked) }
        var answered = Set<ByteString>()
        for (marker, value) in zip(markers, values) where !value.isNull { answered.insert(marker) }
        var states: [ByteString: KeyState] = [:]
        for keys in shardKeys {
            let resultsType = next()
            states[keys.resultsBytes] = try Self.state(resultsType, info: next())
            let deadType = next()
            states[ByteString(keys.dead)] = try Self.state(deadType, info: deadLetterShards.contains(keys) ? next() : nil)
            states[ByteString(keys.stats)] = try Self.state(next(), info: nil)
        }
        for stream in streams {
            let type = next()
            states[stream] = try Self.state(type, info: next())
        }
        var audioEntries: [ByteString: Int] = [:]
        for stream in audioStreams {
            // Not a stream (WRONGTYPE): its last entry is refused, and reported, at EXEC.
            if let count = next().integer, count > 0 { audioEntries[stream] = Int(count) }
        }
        let time = next()
        guard let parts = time.array, parts.count == 2, let seconds = parts[0].integer, let micros = parts[1].integer else {
            throw time.error(command: "TIME") ?? RedisError.unexpected("TIME", time)
        }
        return Output(
            answered: answered, states: states, audioEntries: audioEntries, serverMilliseconds: seconds * 1000 + micros / 1000,
            monotonicMilliseconds: Monotonic.milliseconds())
    }

    /// A key's state from its TYPE reply and, for a stream, its XINFO STREAM reply.
    static func state(_ type: RedisReply, info: RedisReply?) throws(RedisError) -> KeyState {
        if let error = type.error(command: "TYPE") { throw error }
        switch type.string {
        case "none": return .absent
        case "stream":
            if let info, let fields = info.pairs,
                let last = fields.first(where: { $0.0 == "last-generated-id" })?.1.string, last == Self.largestID
            {
                return .exhaustedStream
            }
            return .stream
        case let other: return .other(type: other ?? "?")
        }
    }

    static let largestID = "18446744073709551615-18446744073709551615"
}
