/// Writes a batch back: results, dead letters, audio and done markers, and the XACK and
/// XDEL of its job entries, all in one MULTI/EXEC.
///
/// Exactly one result per `job_id` rests on the done marker `intone:{Q}:done:<job_id>`,
/// in two steps:
///
/// 1. The check: `WATCH` the batch's markers (and `reply_to` streams), then read them
///    (`MGET`), the streams' types and Redis's clock (`TIME`). It rides in a pipeline the
///    worker sends anyway when it can (the token-bucket calls).
/// 2. The commit: `MULTI`, writes for the jobs that had no marker, markers set, XACK and
///    XDEL of every entry, `EXEC`. If another worker set one of the watched markers in
///    between, Redis aborts the EXEC (nothing is written); the check is made again and
///    the jobs now answered are only acknowledged.
///
/// Plain commands, no Lua: a finish script copied each job's ~26 arguments into Lua
/// strings and back, which cost Redis about 7 µs a job, more than the writes themselves
/// (INFO commandstats and perf; see BENCHMARKS.md). `elapsed_ms` and `failed_at` are
/// measured on Redis's clock: `TIME` from the check plus the time since on this host's
/// monotonic clock.
///
/// The counters `intone status` reads are kept in the hash `intone:{Q}:stats` (results
/// by status and milliseconds of audio); it has a fixed set of fields, so it is bounded.
public struct BatchFinisher: Sendable {
    public struct Limits: Sendable {
        public var resultsMaxLength: Int
        public var deadMaxLength: Int
        public var markerTTLSeconds: Int
        public var audioTTLSeconds: Int

        public init(resultsMaxLength: Int, deadMaxLength: Int, markerTTLSeconds: Int, audioTTLSeconds: Int) {
            self.resultsMaxLength = resultsMaxLength
            self.deadMaxLength = deadMaxLength
            self.markerTTLSeconds = markerTTLSeconds
            self.audioTTLSeconds = audioTTLSeconds
        }
    }

    public struct Written: Sendable, Equatable {
        public var results: Int
        public var duplicates: Int
    }

    /// The job ids and streams a check covers, in the order its commands name them.
    public struct CheckRequest: Sendable {
        public var jobIDs: [String]
        /// `reply_to` streams other than the queue's result stream.
        public var streams: [String]

        public init(jobIDs: [String], streams: [String]) {
            self.jobIDs = jobIDs
            self.streams = streams
        }

        /// How many commands `appendCheck` adds: WATCH, MGET, one TYPE per stream, TIME.
        public var commandCount: Int { 3 + streams.count }
    }

    /// What the check found.
    public struct Check: Sendable {
        /// Job ids that already have a result.
        public var answered: Set<String>
        /// The type of each `reply_to` stream (`stream` or `none` unless misused).
        public var streamTypes: [String: String]
        /// Redis's clock at the check, and this host's monotonic clock when it came back.
        public var serverMilliseconds: Int64
        public var monotonicMilliseconds: Int64
        /// The connection's `watchEpoch` after the check: its WATCH holds while unchanged.
        public var watchEpoch: Int

        /// Whether the check's WATCH is still in force on the connection.
        public func holds(on connection: RedisConnection) -> Bool { watchEpoch == connection.watchEpoch }

        /// Redis's clock now, as far as this host can tell.
        var serverNow: Int64 { serverMilliseconds + (Monotonic.milliseconds() - monotonicMilliseconds) }
    }

    public enum Commit: Sendable {
        case written(Written)
        /// Another worker set a watched marker: nothing was written; check again.
        case aborted
        /// Redis refused the transaction (nothing written) or a command in it.
        case failed(String)
    }

    let keys: QueueKeys
    let limits: Limits

    public init(keys: QueueKeys, limits: Limits) {
        self.keys = keys
        self.limits = limits
    }

    /// Checks and commits until the commit goes through (a race with another worker
    /// over the same `job_id` costs one more round; a handful means something is wrong).
    public func finish(_ jobs: [FinishedJob], acknowledgeOnly: [String] = [], on connection: RedisConnection) throws(RedisError) -> Written
    {
        for _ in 0..<5 {
            let request = checkRequest(for: jobs)
            var commands = RedisCommands()
            appendCheck(request, to: &commands)
            let check = try parseCheck(request, try connection.send(commands)[...], on: connection)
            switch try commit(jobs, acknowledgeOnly: acknowledgeOnly, check: check, on: connection) {
            case .written(let written): return written
            case .aborted: continue
            case .failed(let message): throw RedisError(.server, "finishing a batch: \(message)")
            }
        }
        throw RedisError(.server, "finishing a batch: the transaction was aborted five times in a row (markers keep changing)")
    }

    /// The check for jobs about to be finished.
    public func checkRequest(for jobs: [FinishedJob]) -> CheckRequest {
        checkRequest(jobIDs: jobs.map(\.jobID), streams: jobs.map(\.resultStream))
    }

    public func checkRequest(jobIDs: [String], streams: [String]) -> CheckRequest {
        var seen = Set<String>()
        var custom: [String] = []
        for stream in streams where stream != keys.results && seen.insert(stream).inserted { custom.append(stream) }
        return CheckRequest(jobIDs: jobIDs, streams: custom)
    }

    /// Appends the check's commands (`request.commandCount` of them) to a pipeline.
    public func appendCheck(_ request: CheckRequest, to commands: inout RedisCommands) {
        // WATCH and MGET need a key: an empty check watches the marker no job can have.
        let markers = request.jobIDs.isEmpty ? [keys.done(jobID: "")] : request.jobIDs.map { keys.done(jobID: $0) }
        commands.begin(1 + markers.count + request.streams.count, name: "WATCH")
        for marker in markers { commands.appendArgument(.string(marker)) }
        for stream in request.streams { commands.appendArgument(.string(stream)) }
        commands.begin(1 + markers.count, name: "MGET")
        for marker in markers { commands.appendArgument(.string(marker)) }
        for stream in request.streams { commands.append("TYPE", .string(stream)) }
        commands.append("TIME")
    }

    /// Reads the check's replies (the `request.commandCount` replies of `appendCheck`),
    /// once the pipeline that carried it has been written on `connection`. Nothing after
    /// the check in that pipeline may end its WATCH (an EXEC before it may).
    public func parseCheck(_ request: CheckRequest, _ replies: ArraySlice<RedisReply>, on connection: RedisConnection) throws(RedisError)
        -> Check
    {
        guard replies.count == request.commandCount else { throw RedisError(.server, "check: \(replies.count) replies") }
        let base = replies.startIndex
        if let message = replies[base].errorMessage { throw RedisError(.server, "WATCH: \(message)") }
        guard let markers = replies[base + 1].array else { throw RedisError.unexpected("MGET", replies[base + 1]) }
        var answered = Set<String>()
        for (jobID, marker) in zip(request.jobIDs, markers) where !marker.isNull { answered.insert(jobID) }
        var types: [String: String] = [:]
        for (offset, stream) in request.streams.enumerated() {
            guard let type = replies[base + 2 + offset].string else { throw RedisError.unexpected("TYPE", replies[base + 2 + offset]) }
            types[stream] = type
        }
        let time = replies[base + 2 + request.streams.count]
        guard let parts = time.array, parts.count == 2, let seconds = parts[0].integer, let micros = parts[1].integer else {
            throw RedisError.unexpected("TIME", time)
        }
        return Check(
            answered: answered, streamTypes: types, serverMilliseconds: seconds * 1000 + micros / 1000,
            monotonicMilliseconds: Monotonic.milliseconds(), watchEpoch: connection.watchEpoch)
    }

    /// Writes the batch in one MULTI/EXEC, followed in the same write by `then` (whose
    /// replies the caller reads next, with `connection.read`). Throws only when the
    /// connection fails; Redis's refusals come back as `.failed`, so the caller can read
    /// the replies of `then` before it gives up.
    public func commit(
        _ jobs: [FinishedJob], acknowledgeOnly: [String], check: Check, then next: RedisCommands? = nil,
        on connection: RedisConnection
    ) throws(RedisError) -> Commit {
        guard check.holds(on: connection) else {
            // The caller reads the replies of `next` whatever the outcome.
            if let next { try connection.write(next) }
            return .aborted
        }
        var commands = RedisCommands()
        let layout = appendCommit(jobs, acknowledgeOnly: acknowledgeOnly, check: check, to: &commands)
        if let next { commands.append(contentsOf: next) }
        try connection.write(commands)
        return outcome(of: layout, try connection.read(commands.names[..<layout.commands]))
    }

    /// Where a commit sits in a pipeline: how many commands it is, and how many of its
    /// jobs it found answered already.
    public struct CommitLayout: Sendable {
        public var commands: Int
        public var jobs: Int
        public var duplicates: Int
    }

    /// Appends the commit to a pipeline (first in it, or after other commands that do
    /// not touch WATCH). The check must still be in force (`check.holds(on:)`).
    public func appendCommit(_ jobs: [FinishedJob], acknowledgeOnly: [String], check: Check, to commands: inout RedisCommands)
        -> CommitLayout
    {
        let before = commands.count
        commands.reserve(256 * jobs.count)
        commands.append("MULTI")
        let now = check.serverNow
        var answered = check.answered
        var duplicates = 0
        var tally: [String: Int] = [:]
        var audioMilliseconds = 0
        var streamsWritten: [String] = []
        for job in jobs {
            // A job id seen earlier in this batch counts as answered too.
            guard answered.insert(job.jobID).inserted else {
                duplicates += 1
                continue
            }
            if case .ok(let audioKey, let audio, _) = job.outcome {
                commands.append("SET", .string(audioKey), .bytes(audio.wav), "EX", .integer(limits.audioTTLSeconds))
                audioMilliseconds += audio.durationMilliseconds
            }
            var stream = job.resultStream
            var note: String?
            if stream != keys.results, let type = check.streamTypes[stream], type != "stream", type != "none" {
                note = "reply_to is a \(type), not a stream"
                stream = keys.results
            }
            let elapsed = max(0, now - (job.job.enqueuedAtMilliseconds ?? now))
            var extra: [EntryField] = [("elapsed_ms", .integer(Int(elapsed)))]
            if let note { extra.append(("reply_to_error", .string(note))) }
            Self.appendXADD(to: stream, maxLength: limits.resultsMaxLength, job.resultFields, extra, into: &commands)
            if stream != keys.results, !streamsWritten.contains(stream) { streamsWritten.append(stream) }
            if !job.deadLetterFields.isEmpty {
                Self.appendXADD(
                    to: keys.dead, maxLength: limits.deadMaxLength, job.deadLetterFields, [("failed_at", .integer(Int(now)))],
                    into: &commands)
            }
            commands.append("SET", .string(keys.done(jobID: job.jobID)), .string(job.markerValue), "EX", .integer(limits.markerTTLSeconds))
            tally[job.outcome.status, default: 0] += 1
        }
        // A reply_to stream lives as long as the audio it points to.
        for stream in streamsWritten { commands.append("EXPIRE", .string(stream), .integer(limits.audioTTLSeconds)) }
        for (status, count) in tally.sorted(by: { $0.key < $1.key }) {
            commands.append("HINCRBY", .string(keys.stats), .string(status), .integer(count))
        }
        if audioMilliseconds > 0 { commands.append("HINCRBY", .string(keys.stats), "audio_ms", .integer(audioMilliseconds)) }
        let entryIDs = jobs.map(\.job.entryID) + acknowledgeOnly
        if !entryIDs.isEmpty {
            commands.begin(3 + entryIDs.count, name: "XACK")
            commands.appendArgument(.string(keys.jobs))
            commands.appendArgument(.string(QueueKeys.group))
            for id in entryIDs { commands.appendArgument(.string(id)) }
            commands.begin(2 + entryIDs.count, name: "XDEL")
            commands.appendArgument(.string(keys.jobs))
            for id in entryIDs { commands.appendArgument(.string(id)) }
        }
        commands.append("EXEC")
        return CommitLayout(commands: commands.count - before, jobs: jobs.count, duplicates: duplicates)
    }

    /// The commit's outcome from its replies (`layout.commands` of them: MULTI, QUEUED…, EXEC).
    public func outcome(of layout: CommitLayout, _ replies: some Collection<RedisReply>) -> Commit {
        guard let exec = replies.reversed().first, replies.count == layout.commands else { return .failed("no reply") }
        if exec.isNull { return .aborted }
        guard let results = exec.array else {
            return .failed(exec.errorMessage ?? replies.compactMap(\.errorMessage).first ?? "EXEC returned \(exec)")
        }
        if let message = results.compactMap(\.errorMessage).first { return .failed(message) }
        return .written(Written(results: layout.jobs - layout.duplicates, duplicates: layout.duplicates))
    }

    /// `XADD stream MAXLEN ~ max * fields… extra…`, written word by word.
    private static func appendXADD(
        to stream: String, maxLength: Int, _ fields: [EntryField], _ extra: [EntryField], into commands: inout RedisCommands
    ) {
        commands.begin(6 + 2 * (fields.count + extra.count), name: "XADD")
        for word in [RedisArgument.string(stream), "MAXLEN", "~", .integer(maxLength), "*"] { commands.appendArgument(word) }
        for list in [fields, extra] {
            for field in list {
                commands.appendArgument(field.name)
                commands.appendArgument(field.value)
            }
        }
    }
}
