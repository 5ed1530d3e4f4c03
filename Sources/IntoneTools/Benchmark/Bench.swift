import IntoneCore

#if canImport(Glibc)
    import Glibc
#endif

/// `intone bench`: the agent-reply workloads (`bench/peers/README.md`) run through real
/// `intone work` processes on a private redis-server, with the figures the performance
/// targets are stated in. It measures; it never asserts.
///
/// - Throughput: N jobs are in the stream before the workers start; jobs/s is N over the
///   time from the first job taken (the group's `entries-read`, polled every millisecond,
///   stamped with Redis's TIME) to the last result's entry id. The first result to the last
///   is printed as a labelled extra. `on` is also given as a share of the espeak-ng ceiling
///   measured just before and just after it.
/// - Half load: jobs enqueued at half the measured rate for about 5 s; `elapsed_ms`
///   percentiles, and for `on` the same with streamed replies (`first_chunk_ms`).
/// - Burst: long replies (about 9 s of speech) enqueued at once on one worker.
/// - Formats: replies in each audio format; Redis memory per reply.
public struct Bench {
    public enum Workload: String, CaseIterable, Sendable {
        /// The agent's voice is off: no token, no rendering; the queue's own cost.
        case off
        /// 10 users at 1/s burst 1: nearly every job refused by the bucket; the gate's cost.
        case limited
        /// Every reply rendered.
        case on
    }

    public struct Options: Sendable {
        /// The `intone` binary the workers run (and the ceiling, unless `ceilingCommand`).
        public var executable: String
        /// Worker processes for throughput, half load and formats (a burst has one).
        public var workers = 2
        public var measureLatency = false
        /// Renders per ceiling process; 0 skips the ceiling.
        public var ceilingRenders = 300
        /// A program printing the ceiling's JSON line, given the render count as its last
        /// argument (e.g. the built `bench/peers/espeak_ceiling.c`); default: this binary's
        /// `bench --espeak-ceiling`.
        public var ceilingCommand: [String]?
        /// The longest any one wait may take.
        public var timeoutSeconds = 900

        public init(executable: String) {
            self.executable = executable
        }
    }

    /// The benchmark reply: 134 characters, about 7.3 s of speech.
    public static let reply =
        "Hello there. Your order has shipped and will arrive on Thursday, the twenty-seventh. Is there anything else I can help you with today?"
    /// The burst's long reply: 167 characters, about 9.2 s of speech.
    public static let longReply =
        "Hello there. Your order has shipped and will arrive on Thursday, the twenty-seventh. The courier will text you an hour before. Anything else I can help you with today?"

    public var options: Options

    public init(options: Options) {
        self.options = options
    }

    static let unlimited = "1000000/s burst 1000000"

    static func rateArguments(_ workload: Workload) -> [String] {
        ["--agent-rate", unlimited, "--user-rate", workload == .limited ? "1/s burst 1" : unlimited]
    }

    /// One job of a workload: 10 agents, and 1,000 users (10 for `limited`).
    static func job(_ prefix: String, _ index: Int, _ workload: Workload, text: String = reply, extra: [(String, String)] = [])
        -> [(String, String)]
    {
        let users = workload == .limited ? 10 : 1000
        return [("job_id", "\(prefix)\(index)"), ("agent_id", "a\(index % 10)"), ("user_id", "u\(index % users)"), ("text", text)]
            + extra
    }

    /// The agents `job` spreads jobs over (`a0`…`a9`), their voice turned off: `off`'s
    /// jobs are answered without speech, as in the peers' workload.
    static func turnVoiceOff(_ keys: QueueKeys, on connection: RedisConnection) throws {
        for agent in 0..<10 { try connection.command("HSET", .string(keys.agent("a\(agent)")), "tts", "off") }
    }

    var deadline: Int64 { Monotonic.milliseconds() + Int64(options.timeoutSeconds) * 1000 }
    var ceilingCommand: [String] { options.ceilingCommand ?? [options.executable, "bench", "--espeak-ceiling"] }
    static var cores: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    // MARK: - Throughput

    /// `format`: every reply in that audio format (the job field), for `on` per format.
    public func throughput(_ workload: Workload, jobs: Int, format: String? = nil, progress: (String) -> Void) throws -> ThroughputResult {
        var ceilingBefore: EspeakCeiling.Measure?
        if workload == .on, options.ceilingRenders > 0 {
            progress("on: espeak-ng ceiling before (2 processes, \(options.ceilingRenders) renders each)")
            ceilingBefore = try EspeakCeiling.measure(command: ceilingCommand, renders: options.ceilingRenders)
        }
        let queue = try BenchQueue()
        let probe = queue.probe
        if workload == .off {
            try Self.turnVoiceOff(queue.keys, on: queue.connection)
        }
        let extra = format.map { [("format", $0)] } ?? []
        progress("\(workload.rawValue)\(format.map { " \($0)" } ?? ""): enqueuing \(jobs) jobs")
        try queue.enqueue(0..<jobs) { Self.job("j", $0, workload, extra: extra) }
        try queue.createGroup()
        try queue.connection.command("CONFIG", "RESETSTAT")

        let workers = try WorkerProcesses(
            executable: options.executable, count: options.workers, url: queue.url, queue: queue.keys.queue,
            arguments: Self.rateArguments(workload), metrics: true)
        defer { workers.stop() }
        progress("\(workload.rawValue): \(options.workers) workers started")

        // The first job taken, on Redis's clock: start-up is not counted, the first read is.
        try queue.wait(for: "the first job taken", workers: workers, deadline: deadline, everyMilliseconds: 1) {
            try probe.entriesRead(queue.keys) > 0
        }
        let takenAt = try probe.milliseconds()
        let cpuBefore = try probe.cpuSeconds()
        let treeAtStart = workers.tree
        let workerCPUBefore = treeAtStart.cpuSeconds
        let rssStart = treeAtStart.residentKilobytes
        probe.forgetCalls()
        let statsBefore = try probe.commandStats()

        var firstResult: String?
        var reportedTenths = 0
        try queue.wait(for: "\(jobs) results", workers: workers, deadline: deadline, everyMilliseconds: 10) {
            let done = try queue.resultsWritten().total
            // Taken as soon as there is one: a long run trims the results stream.
            if firstResult == nil, done > 0 { firstResult = try queue.resultID(last: false) }
            // Memory along a long run, each tenth of the jobs: growth would show as a trend.
            if jobs >= 200_000, done * 10 / jobs > reportedTenths {
                reportedTenths = done * 10 / jobs
                progress("\(workload.rawValue): \(done) jobs done, RSS \(workers.tree.residentKilobytes) KiB")
            }
            return done >= jobs
        }
        let cpuAfter = try probe.cpuSeconds()
        let benchCalls = probe.calls
        let statsAfter = try probe.commandStats()
        let treeAtEnd = workers.tree
        let workerCPU = treeAtEnd.cpuSeconds - workerCPUBefore
        let rssEnd = treeAtEnd.residentKilobytes
        let last = try queue.resultID(last: true)
        let statuses = try queue.resultsWritten().byStatus
        let lastMilliseconds = Job.milliseconds(ofEntryID: last ?? "") ?? takenAt
        let firstMilliseconds = Job.milliseconds(ofEntryID: firstResult ?? "") ?? lastMilliseconds
        let batches = workers.metricsSum("intone_batch_size_count")

        var result = ThroughputResult(
            workload: workload, jobs: jobs, workers: options.workers, spanMilliseconds: lastMilliseconds - takenAt,
            firstToLastMilliseconds: lastMilliseconds - firstMilliseconds, firstResultAfterMilliseconds: firstMilliseconds - takenAt,
            redisCPUMicrosecondsPerJob: (cpuAfter - cpuBefore) * 1_000_000 / Double(jobs),
            commands: CommandProfile(before: statsBefore, after: statsAfter, benchCalls: benchCalls, jobs: jobs),
            workerCPUMicrosecondsPerJob: workerCPU * 1_000_000 / Double(jobs),
            roundTripsPerBatch: workers.metricsSum("intone_redis_round_trips_total") / max(batches, 1),
            jobsPerBatch: workers.metricsSum("intone_batch_size_sum") / max(batches, 1), rssStartKilobytes: rssStart,
            rssEndKilobytes: rssEnd, statuses: statuses)

        result.format = format
        if let ceilingBefore {
            progress("on: espeak-ng ceiling after")
            let after = try EspeakCeiling.measure(command: ceilingCommand, renders: options.ceilingRenders)
            result.ceiling = CeilingShare(before: ceilingBefore, after: after)
        }
        if options.measureLatency, format == nil {
            let rate = result.jobsPerSecond / 2
            result.halfLoad = try halfLoad(queue, workers, workload, rate: rate, streamed: false, progress: progress)
            if workload == .on {
                result.halfLoadStreamed = try halfLoad(queue, workers, workload, rate: rate, streamed: true, progress: progress)
            }
        }
        return result
    }

    /// Jobs paced in 10 ms steps at `rate` for about 5 s (20 to 20,000 jobs).
    func halfLoad(
        _ queue: BenchQueue, _ workers: WorkerProcesses, _ workload: Workload, rate: Double, streamed: Bool, progress: (String) -> Void
    ) throws -> LatencyResult {
        let total = max(20, min(Int(rate * 5), 20_000))
        let prefix = streamed ? "s" : "h"
        let extra = streamed ? [("stream", "1")] : []
        progress("\(workload.rawValue): \(streamed ? "streamed replies" : "latency") at \(Int(rate)) jobs/s (\(total) jobs)")
        try queue.connection.command("DEL", .string(queue.keys.results))
        let started = Monotonic.milliseconds()
        var sent = 0
        while sent < total {
            let due = min(total, Int(Double(Monotonic.milliseconds() - started) * rate / 1000) + 1)
            if due > sent {
                try queue.enqueue(sent..<due) { Self.job(prefix, $0, workload, extra: extra) }
                sent = due
            }
            usleep(10_000)
        }
        try queue.wait(for: "\(total) results at half load", workers: workers, deadline: deadline, everyMilliseconds: 20) {
            try queue.resultsLength() >= total
        }
        let results = try queue.results()
        return LatencyResult(
            jobsPerSecond: rate, jobs: total, streamed: streamed,
            elapsed: Distribution(results.compactMap { Double($0.fields["elapsed_ms"] ?? "") }),
            firstChunk: Distribution(results.compactMap { Double($0.fields["first_chunk_ms"] ?? "") }))
    }

    // MARK: - Burst

    /// `jobs` long replies enqueued at once (one pipeline) on one worker that has rendered
    /// a reply on each of its synthesizers already, so their start is not in the figures.
    public func burst(jobs: Int, streamed: Bool, progress: (String) -> Void) throws -> BurstResult {
        let queue = try BenchQueue()
        try queue.createGroup()
        let workers = try WorkerProcesses(
            executable: options.executable, count: 1, url: queue.url, queue: queue.keys.queue, arguments: Self.rateArguments(.on),
            metrics: false)
        defer { workers.stop() }
        let name = streamed ? "burst_streamed" : "burst"
        progress("\(name): 1 worker started; warming its \(Self.cores) synthesizers")
        let extra = streamed ? [("stream", "1")] : []
        try warm(queue, workers, count: 2 * Self.cores, extra: extra)

        progress("\(name): \(jobs) replies of \(Self.longReply.count) characters at once")
        var ids: [String] = []
        var commands = RedisCommands()
        for index in 0..<jobs {
            let fields = Self.job("b", index, .on, text: Self.longReply, extra: extra)
            commands.append(["XADD", .string(queue.keys.jobs), "*"] + fields.flatMap { [RedisArgument.string($0.0), .string($0.1)] })
        }
        for reply in try queue.connection.send(commands) {
            if let error = reply.error(command: "XADD") { throw error }
            ids.append(reply.string ?? "")
        }
        let start = Job.milliseconds(ofEntryID: ids.first ?? "") ?? 0
        try queue.wait(for: "\(jobs) burst results", workers: workers, deadline: deadline, everyMilliseconds: 20) {
            try queue.resultsLength() >= jobs
        }
        let results = try queue.results()
        let last = results.compactMap { Job.milliseconds(ofEntryID: $0.id) }.max() ?? start
        var statuses: [String: Int] = [:]
        for result in results { statuses[result.fields["status"] ?? "?", default: 0] += 1 }
        return BurstResult(
            jobs: jobs, streamed: streamed, synthesizers: Self.cores, textCharacters: Self.longReply.count,
            audio: Distribution(results.compactMap { Double($0.fields["duration_ms"] ?? "") }),
            elapsed: Distribution(results.compactMap { Double($0.fields["elapsed_ms"] ?? "") }),
            firstChunk: Distribution(results.compactMap { Double($0.fields["first_chunk_ms"] ?? "") }),
            spanMilliseconds: last - start, statuses: statuses)
    }

    /// Short replies, waited for, then their results deleted.
    func warm(_ queue: BenchQueue, _ workers: WorkerProcesses, count: Int, extra: [(String, String)]) throws {
        try queue.enqueue(0..<count) { Self.job("w", $0, .on, extra: extra) }
        try queue.wait(for: "warm-up replies", workers: workers, deadline: deadline, everyMilliseconds: 10) {
            try queue.resultsLength() >= count
        }
        try queue.connection.command("DEL", .string(queue.keys.results))
    }

    // MARK: - Formats

    /// `jobs` replies in `format` (one object per format): the `bytes` and `content_type`
    /// results report, and `used_memory` after minus before, per reply.
    public func formatMemory(_ format: String, streamed: Bool, jobs: Int, progress: (String) -> Void) throws -> FormatResult {
        let queue = try BenchQueue()
        try queue.createGroup()
        let workers = try WorkerProcesses(
            executable: options.executable, count: options.workers, url: queue.url, queue: queue.keys.queue,
            arguments: Self.rateArguments(.on), metrics: false)
        defer { workers.stop() }
        var extra = [("format", format)]
        if streamed { extra.append(("stream", "1")) }
        let name = "format \(format)\(streamed ? " streamed" : "")"
        progress("\(name): \(options.workers) workers started")
        // Warm-up replies stay (their audio, results and markers are in the baseline).
        let warmCount = options.workers * Self.cores
        try queue.enqueue(0..<warmCount) { Self.job("w", $0, .on, extra: extra) }
        try queue.wait(for: "warm-up replies", workers: workers, deadline: deadline, everyMilliseconds: 10) {
            try queue.resultsLength() >= warmCount
        }
        let before = try queue.probe.usedMemory()
        progress("\(name): \(jobs) replies")
        try queue.enqueue(0..<jobs) { Self.job("f", $0, .on, extra: extra) }
        try queue.wait(for: "\(jobs) results in \(format)", workers: workers, deadline: deadline, everyMilliseconds: 20) {
            try queue.resultsLength() >= warmCount + jobs
        }
        let after = try queue.probe.usedMemory()
        let results = try queue.results().filter { $0.fields["job_id"]?.hasPrefix("f") == true }
        var statuses: [String: Int] = [:]
        var formats: [String: Int] = [:]
        var contentTypes: [String: Int] = [:]
        for result in results {
            statuses[result.fields["status"] ?? "?", default: 0] += 1
            if let reported = result.fields["format"] { formats[reported, default: 0] += 1 }
            if let type = result.fields["content_type"] { contentTypes[type, default: 0] += 1 }
        }
        var audioKeys: [Double] = []
        for result in results.prefix(100) {
            guard let key = result.fields["audio_key"] else { continue }
            if let usage = try queue.connection.command("MEMORY", "USAGE", .string(key), "SAMPLES", "0").integer {
                audioKeys.append(Double(usage))
            }
        }
        return FormatResult(
            format: format, streamed: streamed, jobs: jobs, statuses: statuses, formatsReported: formats, contentTypes: contentTypes,
            bytes: Distribution(results.compactMap { Double($0.fields["bytes"] ?? "") }),
            durationMilliseconds: Distribution(results.compactMap { Double($0.fields["duration_ms"] ?? "") }),
            memoryBytesPerReply: Double(after - before) / Double(max(jobs, 1)), audioKeyBytes: Distribution(audioKeys))
    }
}
