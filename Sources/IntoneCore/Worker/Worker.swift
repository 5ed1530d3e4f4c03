import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One `intone work` process: reads jobs through the consumer group, decides, gates,
/// renders and writes back, batch after batch, until asked to stop.
///
/// `run()` blocks the calling thread (hiredis and the synthesizer pool are blocking),
/// so it belongs on a thread of its own. `requestStop()` may be called from any thread:
/// the worker stops reading, finishes the batch it holds, and returns.
public final class Worker: Sendable {
    public let configuration: WorkerConfiguration
    let synthesizer: SynthesizerPool.Configuration
    let logger: Logger
    private let stopRequested = Atomic<Bool>(false)
    private let state = Mutex(WorkerStatistics())

    public init(configuration: WorkerConfiguration, synthesizer: SynthesizerPool.Configuration, logger: Logger) {
        self.configuration = configuration
        self.synthesizer = synthesizer
        self.logger = logger
    }

    public func requestStop() {
        stopRequested.store(true, ordering: .relaxed)
    }

    public var isStopping: Bool { stopRequested.load(ordering: .relaxed) }

    public var statistics: WorkerStatistics { state.withLock { $0 } }

    /// Connects, starts the synthesizer pool and works until `requestStop()`.
    /// Throws only at start (Redis unreachable, synthesizers cannot start); once running
    /// it rides out Redis restarts.
    public func run() throws {
        let connection = try RedisConnection(
            url: configuration.redisURL, commandTimeoutMilliseconds: configuration.blockMilliseconds + 10_000)
        let pool = try SynthesizerPool(configuration: synthesizer, logger: logger)
        defer { pool.shutdown() }
        let loop = WorkLoop(worker: self, connection: connection, pool: pool)
        try loop.start()
        var metadata: Logger.Metadata = [:]
        for (key, value) in configuration.summary { metadata[key] = "\(value)" }
        metadata["voices"] = "\(pool.catalog.voices.count)"
        logger.info("intone worker started", metadata: metadata)
        loop.work()
        logger.info("intone worker stopped", metadata: ["results": "\(statistics.totalResults)"])
    }

    func record(_ update: (inout WorkerStatistics) -> Void) {
        state.withLock { update(&$0) }
    }
}

/// The loop itself, owned by the thread that runs the worker.
final class WorkLoop {
    let worker: Worker
    let configuration: WorkerConfiguration
    let connection: RedisConnection
    let pool: SynthesizerPool
    let logger: Logger
    let stream: JobStream
    let validation: JobValidation
    let settingsCache: AgentSettingsCache
    let gate: TokenBucketGate
    let finisher: BatchFinisher
    let gateScript = RedisScript(name: "token bucket", source: TokenBucketScript.source)
    let finishScript = RedisScript(name: "finish", source: FinishScript.source)
    /// True until this consumer's own pending entries have all been read again.
    private var recovering = true
    /// A batch rendered but not yet written back because the connection broke.
    private var unfinished: (jobs: [FinishedJob], acknowledgeOnly: [String])?

    init(worker: Worker, connection: RedisConnection, pool: SynthesizerPool) {
        self.worker = worker
        configuration = worker.configuration
        self.connection = connection
        self.pool = pool
        logger = worker.logger
        let keys = configuration.keys
        stream = JobStream(keys: keys, consumer: configuration.consumer)
        validation = JobValidation(maxTextBytes: configuration.maxTextBytes, keys: keys, catalog: pool.catalog)
        settingsCache = AgentSettingsCache(
            keys: keys, refreshMilliseconds: configuration.settingsRefreshMilliseconds,
            defaultTTS: configuration.defaultTTS, catalog: pool.catalog, logger: worker.logger)
        gate = TokenBucketGate(keys: keys, userLimit: configuration.userRate, script: gateScript)
        finisher = BatchFinisher(
            keys: keys,
            limits: .init(
                resultsMaxLength: configuration.resultsMaxLength, deadMaxLength: configuration.deadMaxLength,
                markerTTLSeconds: configuration.dedupTTLSeconds, audioTTLSeconds: configuration.audioTTLSeconds),
            script: finishScript)
    }

    /// Creates the group and loads the scripts: at start and after every reconnect.
    func start() throws(RedisError) {
        try stream.createGroup(on: connection)
        try gateScript.load(on: connection)
        try finishScript.load(on: connection)
    }

    func work() {
        var outage: Outage?
        while !worker.isStopping {
            do {
                if let outageStarted = outage {
                    try connection.reconnect()
                    try start()
                    logger.info("redis connection restored", metadata: ["down_ms": "\(Monotonic.milliseconds() - outageStarted.since)"])
                    outage = nil
                    recovering = true
                }
                try step()
            } catch  where error.code == .connection {
                if outage == nil {
                    logger.error("redis connection lost; reconnecting", metadata: ["error": "\(error.message)"])
                    outage = Outage(since: Monotonic.milliseconds())
                }
                outage!.wait(until: { worker.isStopping })
            } catch  where error.message.contains("NOGROUP") {
                // The stream or group vanished (Redis restarted without persistence, or
                // an operator deleted it): create it again and carry on.
                logger.warning("consumer group missing; creating it again", metadata: ["error": "\(error.message)"])
                try? stream.createGroup(on: connection)
            } catch {
                logger.error("batch failed; retrying", metadata: ["error": "\(error)"])
                Outage.sleep(milliseconds: 1000)
            }
        }
        // A batch left unwritten by an outage is tried once more on the way out.
        if let pending = unfinished, !connection.isBroken {
            _ = try? finisher.finish(pending.jobs, acknowledgeOnly: pending.acknowledgeOnly, on: connection)
        }
    }

    private func step() throws(RedisError) {
        if let pending = unfinished {
            try finish(pending.jobs, acknowledgeOnly: pending.acknowledgeOnly)
            unfinished = nil
        }
        let batch: JobStream.Batch
        if recovering {
            batch = try stream.readOwnPending(count: configuration.batchSize, on: connection)
            if batch.isEmpty {
                recovering = false
                return
            }
        } else {
            batch = try stream.readNew(count: configuration.batchSize, blockMilliseconds: configuration.blockMilliseconds, on: connection)
            if batch.isEmpty { return }
        }
        try process(batch)
    }

    /// Decides every job of the batch, gates the speakable ones, renders the admitted
    /// ones and writes everything back.
    func process(_ batch: JobStream.Batch) throws(RedisError) {
        let started = Monotonic.nanoseconds()
        var renderNanoseconds: Int64 = 0
        let keys = configuration.keys
        let consumer = configuration.consumer
        var finished: [FinishedJob] = []
        var acknowledgeOnly = batch.vanished
        var valid: [(job: Job, valid: ValidJob)] = []
        finished.reserveCapacity(batch.jobs.count)

        for job in batch.jobs {
            if job.attempts > configuration.maxAttempts {
                let failure = JobFailure(.tooManyAttempts, "delivered \(job.attempts) times; the limit is \(configuration.maxAttempts)")
                finished.append(FinishedJob(job: job, valid: nil, outcome: .failed(failure), keys: keys, worker: consumer))
                continue
            }
            switch validation.validate(job) {
            case .success(let v): valid.append((job, v))
            case .failure(let failure):
                finished.append(FinishedJob(job: job, valid: nil, outcome: .failed(failure), keys: keys, worker: consumer))
            }
        }

        let settings = try settingsCache.settings(for: valid.map(\.valid.agentID), on: connection)
        let now = WallClock.milliseconds()
        var speakable: [(job: Job, valid: ValidJob, request: SpeechRequest)] = []
        var tickets: [TokenBucketGate.Ticket] = []
        for (job, v) in valid {
            let agent = settings[v.agentID] ?? AgentSettings(tts: configuration.defaultTTS)
            switch JobPlan.make(for: v, settings: agent, agentLimit: configuration.agentRate, nowMilliseconds: now) {
            case .expired:
                finished.append(FinishedJob(job: job, valid: v, outcome: .expired, keys: keys, worker: consumer))
            case .textOnly(let reason):
                finished.append(FinishedJob(job: job, valid: v, outcome: .textOnly(reason: reason), keys: keys, worker: consumer))
            case .speak(let request, let agentLimit):
                speakable.append((job, v, request))
                tickets.append(.init(jobID: v.jobID, agentID: v.agentID, userID: v.userID, agentLimit: agentLimit))
            }
        }

        var admitted: [(job: Job, valid: ValidJob, request: SpeechRequest)] = []
        if !tickets.isEmpty {
            for (item, verdict) in zip(speakable, try gate.check(tickets, on: connection)) {
                switch verdict {
                case .admitted:
                    admitted.append(item)
                case .refused(let wait, let limit):
                    let outcome = JobOutcome.rateLimited(retryAfterMilliseconds: wait, limit: limit)
                    finished.append(FinishedJob(job: item.job, valid: item.valid, outcome: outcome, keys: keys, worker: consumer))
                case .duplicate:
                    acknowledgeOnly.append(item.job.entryID)
                }
            }
        }

        if !admitted.isEmpty {
            let restartsBefore = pool.restarts
            let renderStarted = Monotonic.nanoseconds()
            let rendered = pool.render(admitted.map(\.request))
            renderNanoseconds = Monotonic.nanoseconds() - renderStarted
            for (item, result) in zip(admitted, rendered) {
                switch result {
                case .success(let audio):
                    let outcome = JobOutcome.ok(audioKey: keys.audio(jobID: item.valid.jobID), audio: audio, voice: item.request.voice)
                    finished.append(FinishedJob(job: item.job, valid: item.valid, outcome: outcome, keys: keys, worker: consumer))
                case .failure(let error) where error.code == .unavailable:
                    // Not the job's fault: it stays pending and is read again later.
                    logger.error("no synthesizer available; job left pending", metadata: ["job.id": "\(item.valid.jobID)"])
                    recovering = true
                case .failure(let error):
                    let code: JobErrorCode =
                        switch error.code {
                        case .timeout: .synthesisTimeout
                        case .unknownVoice: .unknownVoice
                        default: .synthesisCrashed
                        }
                    let failure = JobFailure(code, error.message)
                    finished.append(FinishedJob(job: item.job, valid: item.valid, outcome: .failed(failure), keys: keys, worker: consumer))
                }
            }
            let restarts = pool.restarts - restartsBefore
            if restarts > 0 { worker.record { $0.synthesizerRestarts += restarts } }
        }

        let finishStarted = Monotonic.nanoseconds()
        do {
            try finish(finished, acknowledgeOnly: acknowledgeOnly)
        } catch let error where error.code == .connection {
            unfinished = (finished, acknowledgeOnly)
            throw error
        }
        let done = Monotonic.nanoseconds()
        logger.debug(
            "batch finished",
            metadata: [
                "jobs": "\(batch.jobs.count)", "rendered": "\(admitted.count)",
                "decide_gate_ms": "\(Double(finishStarted - started - renderNanoseconds) / 1e6)",
                "render_ms": "\(Double(renderNanoseconds) / 1e6)", "finish_ms": "\(Double(done - finishStarted) / 1e6)",
            ])
    }

    private func finish(_ finished: [FinishedJob], acknowledgeOnly: [String]) throws(RedisError) {
        guard !finished.isEmpty || !acknowledgeOnly.isEmpty else { return }
        let written = try finisher.finish(finished, acknowledgeOnly: acknowledgeOnly, on: connection)
        for job in finished {
            guard case .failed(let failure) = job.outcome else { continue }
            var metadata: Logger.Metadata = [
                "job.id": "\(job.jobID)", "error.code": "\(failure.code.rawValue)", "message": "\(failure.message)",
            ]
            if let agent = job.job.value("agent_id") { metadata["agent.id"] = "\(String(decoding: agent, as: UTF8.self))" }
            switch failure.code {
            case .synthesisCrashed, .synthesisTimeout: logger.warning("job failed", metadata: metadata)
            default: logger.info("job refused", metadata: metadata)
            }
        }
        let roundTrips = connection.roundTrips
        worker.record { stats in
            stats.batches += 1
            stats.duplicates += written.duplicates + acknowledgeOnly.count
            stats.redisRoundTrips = roundTrips
            // Jobs the finish script found already answered wrote nothing; the
            // statuses counted here are those of the batch as decided.
            for job in finished {
                stats.results[job.outcome.status, default: 0] += 1
                if case .ok(_, let audio, _) = job.outcome { stats.audioMilliseconds += audio.durationMilliseconds }
            }
        }
    }
}

/// Capped exponential backoff with jitter while Redis is unreachable.
struct Outage {
    let since: Int64
    private var delay = 100

    init(since: Int64) {
        self.since = since
    }

    mutating func wait(until stopping: () -> Bool) {
        let jittered = delay / 2 + Int.random(in: 0...(delay / 2))
        var waited = 0
        while waited < jittered && !stopping() {
            Self.sleep(milliseconds: min(100, jittered - waited))
            waited += 100
        }
        delay = min(delay * 2, 5000)
    }

    static func sleep(milliseconds: Int) {
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
