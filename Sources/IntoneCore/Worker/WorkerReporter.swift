import Logging
import Metrics

#if canImport(Glibc)
    import Glibc
#endif

/// What the loop tells operators: metrics and statistics for every write-back, and log
/// lines kept few. A refused or failed job is a debug line (with `job.id` and
/// `trace.parent`); once a minute a warning sums them up by error code, so a producer
/// that floods the queue with bad jobs cannot flood the logs.
final class WorkerReporter {
    let logger: Logger
    let metrics: WorkerMetrics
    let worker: Worker
    private var refusals: [JobErrorCode: Int] = [:]
    private var summaryDue: Int64 = 0
    private var reportedRoundTrips = 0
    private var refusedOnce = Set<String>()
    private var audioBytes: [String: Counter] = [:]
    static let summaryIntervalMilliseconds: Int64 = 60_000

    init(worker: Worker, metrics: WorkerMetrics) {
        self.worker = worker
        logger = worker.logger
        self.metrics = metrics
    }

    /// The log metadata of a job: its id and trace context, escaped.
    static func metadata(_ job: FinishedJob) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["job.id": "\(job.jobID)", "entry.id": "\(job.job.entryID)"]
        if let agent = job.valid?.agentID { metadata["agent.id"] = "\(agent)" }
        if let traceparent = job.job.value("traceparent") {
            metadata["trace.parent"] = "\(DisplayText.escaped(Array(traceparent.prefix(128))))"
        }
        return metadata
    }

    func report(_ reports: [WriteBackQueue.Report], lane: Lane, loop: WorkLoop) {
        for report in reports {
            switch report {
            case .written(let jobs, let duplicates, let acknowledged, let nanoseconds):
                metrics.finish.recordNanoseconds(nanoseconds)
                written(jobs, duplicates: duplicates + acknowledged, loop: loop)
            case .fault, .cleared:
                // One fault per lane, naming every condition that holds on it.
                let kind = loop.lanes.count == 1 ? "write-back" : "write-back (\(lane.name))"
                let faults = lane.writeBack.faults.sorted { Self.describe($0.key) < Self.describe($1.key) }
                if faults.isEmpty {
                    loop.clear(kind)
                } else {
                    loop.raise(kind, faults.map { "\(Self.describe($0.key)): \($0.value.message)" }.joined(separator: "; "))
                }
            case .resultRefused(let job, let error):
                logger.warning(
                    "a result was refused inside its transaction; writing it again",
                    metadata: Self.metadata(job).merging(["error.message": "\(error.message)"]) { $1 })
            case .deadLetterRefused(let job, let error):
                logger.warning(
                    "a dead letter was refused inside its transaction; writing it again",
                    metadata: Self.metadata(job).merging(["error.message": "\(error.message)"]) { $1 })
            case .refusedInTransaction(let error):
                if refusedOnce.insert(error.code.name + error.message.prefix(40)).inserted {
                    logger.warning("a command of a write-back was refused; no job lost", metadata: ["error.message": "\(error.message)"])
                }
            }
        }
    }

    static func describe(_ fault: WriteBackQueue.Fault) -> String {
        switch fault {
        case .refused: "redis refuses write-backs"
        case .resultsKey: "the result stream cannot be written"
        case .deadKey: "the dead-letter stream cannot be written"
        case .statsKey: "the statistics hash cannot be written"
        case .entriesRefused: "redis refused entries of the queue's streams inside a write-back"
        }
    }

    private func written(_ jobs: [FinishedJob], duplicates: Int, loop: WorkLoop) {
        metrics.duplicates.increment(by: duplicates)
        var audioMilliseconds = 0
        let now = loop.clock.now
        for job in jobs {
            metrics.jobs[job.outcome.status]?.increment()
            switch job.outcome {
            case .ok(let audio, _):
                audioMilliseconds += audio.durationMilliseconds
                metrics.audioSeconds.increment(by: Double(audio.sampleCount) / Double(max(audio.sampleRate, 1)))
                metrics.synthesis.recordMicroseconds(audio.synthesisMicroseconds)
                metrics.encoding.recordMicroseconds(audio.encodingMicroseconds)
                let counter = audioBytes[audio.format] ?? metrics.audioBytes(format: audio.format)
                audioBytes[audio.format] = counter
                counter.increment(by: job.streamed?.bytes ?? audio.bytes.count)
                let first = job.streamed?.firstChunkMilliseconds ?? job.job.enqueuedAtMilliseconds.map { max(0, now - $0) }
                if let first { metrics.firstAudio[job.streamed != nil]?.recordMilliseconds(first) }
            case .failed(let failure):
                metrics.deadLetters.increment()
                metrics.failures[failure.code]?.increment()
                refusals[failure.code, default: 0] += 1
                logger.debug(
                    "job failed",
                    metadata: Self.metadata(job).merging(["error.code": "\(failure.code.rawValue)", "error.message": "\(failure.message)"])
                    { $1 })
            default:
                break
            }
            if job.outcome.status != .failed {
                logger.debug("job answered", metadata: Self.metadata(job).merging(["status": "\(job.outcome.status.rawValue)"]) { $1 })
            }
        }
        let roundTrips = loop.lanes.reduce(0) { $0 + ($1.connection?.roundTrips ?? 0) }
        metrics.redisRoundTrips.increment(by: max(0, roundTrips - reportedRoundTrips))
        reportedRoundTrips = roundTrips
        worker.record { stats in
            stats.duplicates += duplicates
            stats.redisRoundTrips = roundTrips
            for job in jobs { stats.results[job.outcome.status.rawValue, default: 0] += 1 }
            stats.audioMilliseconds += audioMilliseconds
        }
        summarize()
    }

    /// Once a minute, one warning for the jobs refused or failed in it; `final` (at stop)
    /// reports what the last minute held at once.
    func summarize(final: Bool = false) {
        let now = Monotonic.milliseconds()
        guard now >= summaryDue || final else { return }
        summaryDue = now + Self.summaryIntervalMilliseconds
        guard !refusals.isEmpty else { return }
        let total = refusals.values.reduce(0, +)
        let parts = refusals.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key.rawValue < $1.key.rawValue) }
            .map { "\($0.value) \($0.key.rawValue)" }
        let span = final ? "since the last summary" : "in the last minute"
        let jobs = total == 1 ? "job" : "jobs"
        logger.warning("\(total) \(jobs) failed or refused \(span): \(parts.joined(separator: ", "))")
        refusals = [:]
    }

    /// A batch decided; `since` (when it was read) when none of it waits for the buckets.
    func decided(_ entries: Int, since: Int64?) {
        metrics.batchSize.record(entries)
        worker.record { $0.batches += 1 }
        if let since { metrics.decide.recordNanoseconds(Monotonic.nanoseconds() - since) }
    }

    /// The buckets' verdicts came back for jobs read since `since`: the decide stage of
    /// their batch, from its read to its verdicts.
    func decidedSpeakable(since: Int64) {
        metrics.decide.recordNanoseconds(Monotonic.nanoseconds() - since)
    }

    func duplicates(_ count: Int) {
        guard count > 0 else { return }
        metrics.duplicates.increment(by: count)
    }

    func tookOver(_ count: Int, claimIdleMilliseconds: Int) {
        guard count > 0 else { return }
        metrics.takeovers.increment(by: count)
        worker.record { $0.takeovers += count }
        logger.info(
            "taking over jobs idle past the claim time", metadata: ["jobs": "\(count)", "claim_idle_ms": "\(claimIdleMilliseconds)"])
    }

    func removedConsumers(_ names: [String]) {
        guard !names.isEmpty else { return }
        logger.info(
            "removed consumers that are gone and hold nothing",
            metadata: ["consumers": "\(DisplayText.escaped(names.joined(separator: ",")))"])
    }

    /// The last sample of each stream; the gauges show the queue's total.
    private var samples: [String: QueueSample.Output] = [:]

    func sampled(_ sample: QueueSample.Output, stream: String) {
        samples[stream] = sample
        metrics.pending.record(samples.values.reduce(0) { $0 + $1.pending })
        metrics.lag.record(samples.values.reduce(0) { $0 + max(0, $1.length - $1.pending) })
        let ages = samples.values.compactMap { sample in sample.oldestPendingMilliseconds.map { max(0, sample.serverMilliseconds - $0) } }
        metrics.oldestPendingAge.record(Double(ages.max() ?? 0) / 1000)
    }

    private var waitShort = false

    /// A WAIT after a write-back came back: fewer replicas than asked is logged once (and
    /// once when it is over) and counted.
    func waited(acknowledged: Int, wanted: Int) {
        if acknowledged < wanted {
            metrics.waitTimeouts.increment()
            if !waitShort {
                waitShort = true
                logger.warning(
                    "fewer replicas than --wait-replicas confirmed a write-back in time",
                    metadata: ["replicas": "\(acknowledged)", "wanted": "\(wanted)"])
            }
        } else if waitShort {
            waitShort = false
            logger.info("replicas confirm write-backs again", metadata: ["replicas": "\(acknowledged)"])
        }
    }

    let startedAt = WallClock.milliseconds()
    static let host: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count - 1)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    /// What the worker is doing, for the console's Workers page.
    func heartbeat(_ loop: WorkLoop) -> WorkerHeartbeat {
        let current = loop.render.longestRendering
        return WorkerHeartbeat(
            consumer: loop.configuration.consumer, host: Self.host, pid: Int(getpid()), version: IntoneVersion.current,
            startedAtMilliseconds: startedAt, updatedAtMilliseconds: loop.clock.now, jobsDone: worker.statistics.totalResults,
            jobsInHand: loop.lanes.reduce(0) { $0 + loop.heldEntries($1).count }, currentJobID: current?.jobID.bytes ?? [],
            currentJobStartedAtMilliseconds: current?.since ?? 0)
    }

    func synthesizersRestarted(_ count: Int) {
        guard count > 0 else { return }
        metrics.synthesizerRestarts.increment(by: count)
        worker.record { $0.synthesizerRestarts += count }
    }

    func chunkRefused(_ error: RedisError) {
        if refusedOnce.insert("chunk " + error.code.name).inserted {
            logger.warning("a streamed chunk was refused", metadata: ["error.message": "\(error.message)"])
        }
    }
}
