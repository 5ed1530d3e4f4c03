/// The second half of a write-back: results, dead letters, audio, done markers, and the
/// XACK and XDEL of the jobs' entries, in one MULTI/EXEC, after a `WriteBackCheck` whose
/// WATCH is still in force.
///
/// Every reply of the transaction is read. EXEC answers nil when a watched key changed
/// (nothing written: check again), an EXECABORT error when Redis refused a queued command
/// (OOM, NOPERM: nothing written), or one reply per command; a command that failed there
/// did not stop the others, so each job's own replies say whether its result was
/// written. A job whose result was refused while its entry was acknowledged is reported
/// in `Applied.lostResults`, for the write-back to answer it again without an
/// acknowledgement.
public struct WriteBackCommit: RedisSegment {
    /// One job to write: its result, and whether its entry is acknowledged with it.
    public struct Item: Sendable {
        public var finished: FinishedJob
        /// False for a result written again after a transaction that acknowledged the
        /// job but lost its result: no XACK, and its own done marker does not count as
        /// "answered".
        public var acknowledges: Bool
        /// What of it is still to be written: all of it at first; after a transaction
        /// that went through without its result or dead letter, only what was lost.
        public var parts: Parts
        /// The size of its audio when rendered (0 without any), for the loop's limits.
        public let audioBytes: Int

        public struct Parts: OptionSet, Sendable, Hashable {
            public let rawValue: UInt8
            public init(rawValue: UInt8) { self.rawValue = rawValue }

            public static let result = Parts(rawValue: 1)
            public static let deadLetter = Parts(rawValue: 2)
            /// Audio, the audio stream's last entry, the done marker, the counters.
            public static let rest = Parts(rawValue: 4)

            public static let all: Parts = [.result, .deadLetter, .rest]
        }

        public init(_ finished: FinishedJob, acknowledges: Bool = true, parts: Parts = .all) {
            self.finished = finished
            self.acknowledges = acknowledges
            self.parts = parts
            if case .ok(let audio, _) = finished.outcome { audioBytes = audio.bytes.count } else { audioBytes = 0 }
        }

        /// What the check needs of it. It may get a dead letter when it failed, or when
        /// its `reply_to` turns out unable to take the result; a streamed job delivered
        /// again may have chunks another worker wrote.
        public var checked: WriteBackCheck.Job {
            let keys = finished.keys
            let mayFail = finished.outcome.failure != nil || finished.resultStream != keys.resultsBytes
            let resumed = finished.streamed != nil && finished.job.attempts > 1 ? keys.audio(jobID: finished.jobID) : nil
            return .init(keys: keys, jobID: finished.jobID, resultStream: finished.resultStream, mayFail: mayFail, resumedAudio: resumed)
        }
    }

    public struct Settings: Sendable {
        public var worker: String
        public var resultsMaxLength: Int
        public var deadMaxLength: Int
        public var markerTTLSeconds: Int
        public var audioTTLSeconds: Int
        /// Count each write-back in its minute's hash, for the console's chart (`QueueHistory`).
        public var recordsHistory: Bool

        public init(
            worker: String, resultsMaxLength: Int, deadMaxLength: Int, markerTTLSeconds: Int, audioTTLSeconds: Int,
            recordsHistory: Bool = true
        ) {
            self.worker = worker
            self.resultsMaxLength = resultsMaxLength
            self.deadMaxLength = deadMaxLength
            self.markerTTLSeconds = markerTTLSeconds
            self.audioTTLSeconds = audioTTLSeconds
            self.recordsHistory = recordsHistory
        }
    }

    /// What one command of the transaction is for, so that its reply finds its job.
    enum Role: Sendable {
        case audio(Int)
        case lastEntry(Int)
        case result(Int)
        case deadLetter(Int)
        case marker(Int)
        case housekeeping(String)
        case acknowledge
    }

    public let settings: Settings
    public let items: [Item]
    /// Entries acknowledged and removed without a result: jobs already answered.
    public let acknowledgeOnly: [EntryRef]
    /// Items written (index into `items`), and items found answered already.
    public let writes: [Int]
    public let duplicates: [Int]
    let roles: [Role]
    private let encoded: RedisCommands

    /// Builds the transaction from the check: jobs that already have a result (or that
    /// came twice in this write-back) are only acknowledged; the others are written.
    /// `elapsed_ms` and `failed_at` come from Redis's clock as of the check. Each job is
    /// written with its own shard's keys; counters go to each shard's hashes.
    public init(
        settings: Settings, items: [Item], acknowledgeOnly: [EntryRef], check: WriteBackCheck.Output, counters: [RedisCommands] = []
    ) {
        self.settings = settings
        self.items = items
        let now = check.serverNow
        var answered = check.answered
        answered.reserveCapacity(answered.count + items.count)
        var writes: [Int] = []
        var duplicates: [Int] = []
        var acknowledged = acknowledgeOnly
        for (index, item) in items.enumerated() {
            let marker = item.finished.keys.done(jobID: item.finished.jobID)
            if item.acknowledges {
                acknowledged.append(EntryRef(keys: item.finished.keys, id: item.finished.job.entryID))
                guard answered.insert(marker).inserted else {
                    duplicates.append(index)
                    continue
                }
            } else {
                answered.insert(marker)
            }
            writes.append(index)
        }
        var commands = RedisCommands()
        var roles: [Role] = []
        commands.reserve(256 * writes.count + 64)
        commands.append("MULTI")
        var tally: [QueueKeys: [JobStatus: Int]] = [:]
        var audioMilliseconds: [QueueKeys: Int] = [:]
        var createdStreams: [ByteString] = []
        var existingStreams: [ByteString] = []
        for index in writes {
            let job = items[index].finished
            let keys = job.keys
            let parts = items[index].parts
            if parts.contains(.rest), case .ok(let audio, _) = job.outcome {
                audioMilliseconds[keys, default: 0] += audio.durationMilliseconds
                if job.streamed == nil {
                    commands.append(
                        "SET", keys.audio(jobID: job.jobID).argument, .bytes(audio.bytes), "EX", .integer(settings.audioTTLSeconds))
                    roles.append(.audio(index))
                }
            }
            if parts.contains(.rest), let streamed = job.streamed {
                // The audio stream's last entry, after the chunks already written.
                let key = keys.audio(jobID: job.jobID)
                var last: [RedisArgument] = [
                    "XADD", key.argument, .string("0-\(streamed.chunks + 1)"), "seq", .integer(streamed.chunks), "data",
                ]
                if case .ok(let audio, _) = job.outcome { last.append(.bytes(audio.bytes)) } else { last.append("") }
                last += ["last", "1", "status", .string(job.outcome.status.rawValue)]
                commands.append(last)
                roles.append(.lastEntry(index))
                commands.append("EXPIRE", key.argument, .integer(settings.audioTTLSeconds))
                roles.append(.housekeeping("EXPIRE"))
            }
            let elapsed = max(0, now - (job.job.enqueuedAtMilliseconds ?? now))
            if parts.contains(.result) {
                Self.appendXADD(
                    to: job.resultStream.argument, maxLength: settings.resultsMaxLength,
                    job.resultFields(keys: keys, worker: settings.worker, elapsedMilliseconds: elapsed), into: &commands)
                roles.append(.result(index))
            }
            if parts.contains(.result), job.resultStream != keys.resultsBytes {
                if check.state(of: job.resultStream) == .absent {
                    if !createdStreams.contains(job.resultStream) { createdStreams.append(job.resultStream) }
                } else if !existingStreams.contains(job.resultStream) {
                    existingStreams.append(job.resultStream)
                }
            }
            if parts.contains(.deadLetter), let dead = job.deadLetterFields(failedAtMilliseconds: now) {
                Self.appendXADD(to: .string(keys.dead), maxLength: settings.deadMaxLength, dead, into: &commands)
                roles.append(.deadLetter(index))
            }
            guard parts.contains(.rest) else { continue }
            commands.append(
                "SET", keys.done(jobID: job.jobID).argument, .string(job.outcome.markerValue), "EX", .integer(settings.markerTTLSeconds))
            roles.append(.marker(index))
            tally[keys, default: [:]][job.outcome.status, default: 0] += 1
        }
        // A reply_to stream the worker creates lives as long as the audio it points to;
        // one that existed keeps its owner's TTL (GT only lengthens a TTL it already has,
        // and leaves a stream without one alone).
        for stream in createdStreams {
            commands.append("EXPIRE", stream.argument, .integer(settings.audioTTLSeconds))
            roles.append(.housekeeping("EXPIRE"))
        }
        for stream in existingStreams {
            commands.append("EXPIRE", stream.argument, .integer(settings.audioTTLSeconds), "GT")
            roles.append(.housekeeping("EXPIRE"))
        }
        for (keys, counts) in tally.sorted(by: { $0.key.prefix < $1.key.prefix }) where check.state(of: keys.stats).acceptsHash {
            let audio = audioMilliseconds[keys] ?? 0
            for (status, count) in counts.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                commands.append("HINCRBY", .string(keys.stats), .string(status.rawValue), .integer(count))
                roles.append(.housekeeping("HINCRBY"))
            }
            if audio > 0 {
                commands.append("HINCRBY", .string(keys.stats), "audio_ms", .integer(audio))
                roles.append(.housekeeping("HINCRBY"))
            }
            if settings.recordsHistory {
                let before = commands.count
                QueueHistory.appendRecord(
                    statusCounts: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) }), audioMilliseconds: audio,
                    minute: QueueHistory.minute(ofUnixMilliseconds: now), keys: keys, to: &commands)
                for name in commands.names[before...] { roles.append(.housekeeping(name)) }
            }
        }
        for extra in counters {
            commands.append(contentsOf: extra)
            for name in extra.names { roles.append(.housekeeping(name)) }
        }
        for (keys, entries) in Dictionary(grouping: acknowledged, by: \.keys).sorted(by: { $0.key.prefix < $1.key.prefix }) {
            commands.begin(3 + entries.count, name: "XACK")
            commands.appendArgument(.string(keys.jobs))
            commands.appendArgument(.string(QueueKeys.group))
            for entry in entries { commands.appendArgument(.string(entry.id)) }
            roles.append(.acknowledge)
            commands.begin(2 + entries.count, name: "XDEL")
            commands.appendArgument(.string(keys.jobs))
            for entry in entries { commands.appendArgument(.string(entry.id)) }
            roles.append(.housekeeping("XDEL"))
        }
        commands.append("EXEC")
        self.acknowledgeOnly = acknowledgeOnly
        self.writes = writes
        self.duplicates = duplicates
        self.roles = roles
        encoded = commands
    }

    public enum Output: Sendable {
        /// A watched key changed (another worker answered one of these jobs): nothing
        /// was written; check again.
        case aborted
        /// Redis refused the transaction before running it (the reason is the queued
        /// command's error: OOM, NOPERM…): nothing was written.
        case refused(RedisError)
        /// The transaction ran.
        case applied(Applied)
    }

    public struct Applied: Sendable {
        /// Items whose result was written.
        public var written: [Int] = []
        /// Items whose result Redis refused inside the transaction; their entry was
        /// acknowledged if `acknowledged`.
        public var lostResults: [(index: Int, error: RedisError)] = []
        /// Items whose dead letter Redis refused (the result was written).
        public var lostDeadLetters: [(index: Int, error: RedisError)] = []
        /// Refusals that cost no job its result: audio stream ends, statistics, TTLs.
        public var otherErrors: [RedisError] = []
        /// Whether the XACK went through (false: the entries stay pending).
        public var acknowledged = true
    }

    public func encode(into commands: inout RedisCommands) { commands.append(contentsOf: encoded) }

    public func decode(_ replies: ArraySlice<RedisReply>) throws(RedisError) -> Output {
        guard let exec = replies.last, replies.count == roles.count + 2 else {
            throw RedisError(.unexpectedReply, "MULTI/EXEC: \(replies.count) replies for \(roles.count + 2) commands")
        }
        if exec.isNull { return .aborted }
        guard let results = exec.array else {
            // EXECABORT: the reason is the first queued command that was refused.
            let queued = replies.dropFirst().dropLast()
            let cause = zip(queued, roles).lazy.compactMap { reply, role in reply.error(command: Self.name(role)) }.first
            return .refused(cause ?? exec.error(command: "EXEC") ?? RedisError.unexpected("EXEC", exec))
        }
        guard results.count == roles.count else {
            throw RedisError(.unexpectedReply, "EXEC: \(results.count) replies for \(roles.count) commands")
        }
        var applied = Applied()
        var lost = Set<Int>()
        for (reply, role) in zip(results, roles) {
            guard let error = reply.error(command: Self.name(role)) else { continue }
            switch role {
            case .result(let index):
                lost.insert(index)
                applied.lostResults.append((index, error))
            case .deadLetter(let index): applied.lostDeadLetters.append((index, error))
            case .acknowledge:
                applied.acknowledged = false
                applied.otherErrors.append(error)
            case .audio, .lastEntry, .marker, .housekeeping: applied.otherErrors.append(error)
            }
        }
        // A dead letter written again is not a job answered again.
        applied.written = writes.filter { !lost.contains($0) && items[$0].parts.contains(.result) }
        return .applied(applied)
    }

    static func name(_ role: Role) -> String {
        switch role {
        case .audio, .marker: "SET"
        case .lastEntry, .result, .deadLetter: "XADD"
        case .housekeeping(let name): name
        case .acknowledge: "XACK"
        }
    }

    /// `XADD stream MAXLEN ~ max * fields…`, written word by word.
    static func appendXADD(to stream: RedisArgument, maxLength: Int, _ fields: [EntryField], into commands: inout RedisCommands) {
        commands.begin(6 + 2 * fields.count, name: "XADD")
        for word in [stream, "MAXLEN", "~", .integer(maxLength), "*"] { commands.appendArgument(word) }
        for field in fields {
            commands.appendArgument(field.name)
            commands.appendArgument(field.value)
        }
    }
}
