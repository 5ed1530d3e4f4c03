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
    /// Monotonic milliseconds by which the jobs in hand must be finished, once stopping.
    private let stopDeadline = Atomic<Int64>(Int64.max)
    private let state = Mutex(WorkerStatistics())
    private let redisReady = Atomic<Bool>(false)
    private let liveSynthesizers = Atomic<Int>(0)

    public init(configuration: WorkerConfiguration, synthesizer: SynthesizerPool.Configuration, logger: Logger) {
        self.configuration = configuration
        self.synthesizer = synthesizer
        self.logger = logger
    }

    /// Stops reading; the jobs in hand are finished within the shutdown grace period,
    /// and those that cannot be are left pending, claimable by another replica at once.
    public func requestStop() {
        let deadline = Monotonic.milliseconds() + Int64(configuration.shutdownGraceSeconds) * 1000
        if stopDeadline.compareExchange(expected: Int64.max, desired: deadline, ordering: .relaxed).exchanged {
            logger.info("stop requested; finishing the jobs in hand", metadata: ["grace_s": "\(configuration.shutdownGraceSeconds)"])
        }
        stopRequested.store(true, ordering: .relaxed)
    }

    public var isStopping: Bool { stopRequested.load(ordering: .relaxed) }

    /// When stopping: the monotonic time by which work in hand is abandoned.
    var shutdownDeadline: Int64? {
        let deadline = stopDeadline.load(ordering: .relaxed)
        return deadline == Int64.max ? nil : deadline
    }

    public var statistics: WorkerStatistics { state.withLock { $0 } }

    /// Ready to work: connected to Redis and with at least one synthesizer process.
    /// A reason is given when not, for `/readyz`.
    public var readiness: (ready: Bool, reason: String) {
        if !redisReady.load(ordering: .relaxed) { return (false, "redis is not connected") }
        if liveSynthesizers.load(ordering: .relaxed) == 0 { return (false, "no synthesizer process is running") }
        return (true, "ready")
    }

    func setRedisReady(_ ready: Bool) {
        redisReady.store(ready, ordering: .relaxed)
    }

    func setLiveSynthesizers(_ count: Int) {
        liveSynthesizers.store(count, ordering: .relaxed)
    }

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
        setRedisReady(true)
        setLiveSynthesizers(pool.liveProcesses)
        defer {
            setRedisReady(false)
            setLiveSynthesizers(0)
        }
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
    let hygieneScript = RedisScript(name: "consumer hygiene", source: ConsumerHygiene.source)
    let hygiene: ConsumerHygiene
    /// True until this consumer's own pending entries have all been read again.
    private var recovering = true
    private var claimCursor = JobStream.ClaimCursor()
    private var nextClaim: Int64
    private var nextHygiene: Int64
    /// Entries held but not finished because the shutdown grace ran out.
    private var abandoned: [String] = []
    let metrics = WorkerMetrics()
    private var nextSample: Int64 = 0
    private var reportedRoundTrips = 0
    /// How often pending and lag are sampled for the gauges.
    static let sampleIntervalMilliseconds: Int64 = 5000
    /// Batches rendered but maybe not written back because the connection broke.
    private var unfinished: [(jobs: [FinishedJob], acknowledgeOnly: [String])] = []
    /// The next batch, read in the same round trip that wrote back the last one.
    private var prefetched: JobStream.Batch?
    /// The last batch, decided and rendered, waiting to be written back in the next
    /// batch's first round trip.
    private var waiting: Decided?

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
                markerTTLSeconds: configuration.dedupTTLSeconds, audioTTLSeconds: configuration.audioTTLSeconds))
        hygiene = ConsumerHygiene(keys: keys, consumer: configuration.consumer, script: hygieneScript)
        let now = Monotonic.milliseconds()
        nextClaim = now + Int64(Self.claimInterval(configuration))
        nextHygiene = now + Int64(Self.hygieneInterval(configuration))
    }

    /// How often to look for jobs to take over: often enough that a dead replica's jobs
    /// wait little past the claim time, rarely enough to cost nothing.
    static func claimInterval(_ configuration: WorkerConfiguration) -> Int {
        min(max(configuration.claimIdleMilliseconds / 4, 250), 5000)
    }

    static func hygieneInterval(_ configuration: WorkerConfiguration) -> Int {
        min(configuration.consumerIdleSeconds * 500, 60_000)
    }

    /// Creates the group and loads the scripts: at start and after every reconnect.
    func start() throws(RedisError) {
        try stream.createGroup(on: connection)
        try gateScript.load(on: connection)
        try hygieneScript.load(on: connection)
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
                    readOwnPendingAgain()
                    worker.setRedisReady(true)
                }
                try step()
            } catch  where error.code == .connection || error.message.contains("LOADING") {
                // A restarted Redis that is still loading its data is part of the same outage.
                if outage == nil {
                    logger.error("redis connection lost; reconnecting", metadata: ["error": "\(error.message)"])
                    outage = Outage(since: Monotonic.milliseconds())
                    worker.setRedisReady(false)
                }
                outage!.wait(until: { worker.isStopping })
            } catch  where error.message.contains("NOGROUP") {
                // The stream or group vanished (Redis restarted without persistence, or
                // an operator deleted it): create it again and carry on.
                logger.warning("consumer group missing; creating it again", metadata: ["error": "\(error.message)"])
                try? stream.createGroup(on: connection)
            } catch {
                // The jobs in hand stay pending: read them again (each time counts as a
                // delivery, so a batch that always fails ends as too_many_attempts).
                logger.error("batch failed; retrying", metadata: ["error": "\(error)"])
                readOwnPendingAgain()
                Outage.sleep(milliseconds: 1000)
            }
        }
        // A batch left unwritten by an outage is tried once more on the way out, and
        // what could not be finished is made claimable by the other replicas at once.
        if connection.isBroken { try? connection.reconnect() }
        for pending in unfinished {
            _ = try? finisher.finish(pending.jobs, acknowledgeOnly: pending.acknowledgeOnly, on: connection)
        }
        // A batch waiting for its write-back, and one read ahead before the stop: both are
        // in hand, so they are finished within the grace like the rest, or released.
        if let decided = waiting {
            waiting = nil
            _ = try? finisher.finish(decided.finished, acknowledgeOnly: decided.acknowledgeOnly, on: connection)
        }
        if let next = prefetched, !next.isEmpty {
            prefetched = nil
            do { try process(next) } catch { abandoned += next.jobs.map(\.entryID) }
        }
        if !abandoned.isEmpty {
            do {
                try stream.release(abandoned, on: connection)
                logger.info("left unfinished jobs to other replicas", metadata: ["jobs": "\(abandoned.count)"])
            } catch {
                logger.warning(
                    "could not release unfinished jobs; they are taken over after the claim time",
                    metadata: ["jobs": "\(abandoned.count)", "error": "\(error)"])
            }
        }
    }

    private func step() throws(RedisError) {
        while let pending = unfinished.first {
            try finishUnfinished(pending.jobs, acknowledgeOnly: pending.acknowledgeOnly)
            unfinished.removeFirst()
        }
        let batch: JobStream.Batch
        let now = Monotonic.milliseconds()
        if now >= nextSample {
            nextSample = now + Self.sampleIntervalMilliseconds
            try sampleQueue()
        }
        if recovering {
            batch = try stream.readOwnPending(count: configuration.batchSize, on: connection)
            if batch.isEmpty {
                recovering = false
                return
            }
        } else if let next = prefetched {
            prefetched = nil
            if next.isEmpty { return }
            batch = next
        } else if now >= nextClaim {
            batch = try stream.claimIdle(
                minimumIdleMilliseconds: configuration.claimIdleMilliseconds, count: configuration.batchSize, cursor: &claimCursor,
                on: connection)
            // A full batch may mean more to take over: look again at once.
            if claimCursor.isAtStart || batch.jobs.count < configuration.batchSize {
                nextClaim = now + Int64(Self.claimInterval(configuration))
            }
            if batch.isEmpty { return }
            if !batch.jobs.isEmpty {
                worker.record { $0.takeovers += batch.jobs.count }
                metrics.takeovers.increment(by: batch.jobs.count)
                logger.info(
                    "taking over jobs idle past the claim time",
                    metadata: ["jobs": "\(batch.jobs.count)", "claim_idle_ms": "\(configuration.claimIdleMilliseconds)"])
            }
        } else if now >= nextHygiene {
            nextHygiene = now + Int64(Self.hygieneInterval(configuration))
            let removed = try hygiene.sweep(idleMilliseconds: configuration.consumerIdleSeconds * 1000, on: connection)
            if !removed.isEmpty {
                logger.info(
                    "removed consumers that are gone and hold nothing", metadata: ["consumers": "\(removed.joined(separator: ","))"])
            }
            return
        } else {
            batch = try stream.readNew(count: configuration.batchSize, blockMilliseconds: configuration.blockMilliseconds, on: connection)
            if batch.isEmpty { return }
        }
        try process(batch)
    }

    /// Reads this consumer's pending entries again from the start: a batch read ahead is
    /// dropped (it is among them), and one waiting for its write-back is written back
    /// first, checked again (it may have gone out before the failure).
    private func readOwnPendingAgain() {
        recovering = true
        prefetched = nil
        if let decided = waiting {
            unfinished.append((decided.finished, decided.acknowledgeOnly))
            waiting = nil
        }
    }

    /// Whether the next step is a plain read of new jobs (nothing else due), so that it
    /// can ride in the write-back's round trip.
    private var readsNext: Bool {
        let now = Monotonic.milliseconds()
        return !worker.isStopping && !recovering && prefetched == nil && now < nextClaim && now < nextHygiene && now < nextSample
    }

    /// Samples the queue for the gauges: entries pending, entries not yet delivered, and
    /// the age of the oldest pending entry (its id carries the time it was enqueued).
    private func sampleQueue() throws(RedisError) {
        var commands = RedisCommands()
        commands.append("XLEN", .string(configuration.keys.jobs))
        commands.append("XPENDING", .string(configuration.keys.jobs), .string(QueueKeys.group))
        commands.append("TIME")
        let replies = try connection.send(commands)
        guard let length = replies[0].integer, let summary = replies[1].array, let pending = summary.first?.integer else { return }
        metrics.pending.record(pending)
        // The jobs stream holds only unfinished work: what is not pending is not yet delivered.
        metrics.lag.record(max(0, length - pending))
        if pending > 0, summary.count > 1, let oldest = summary[1].string.flatMap(Job.milliseconds(ofEntryID:)),
            let time = replies[2].array, let seconds = time.first?.integer, let micros = time.last?.integer
        {
            let now = seconds * 1000 + micros / 1000
            metrics.oldestPendingAge.record(Double(max(0, now - oldest)) / 1000)
        } else {
            metrics.oldestPendingAge.record(0)
        }
    }

    /// A batch decided and rendered, whose write-back rides in the next batch's first
    /// round trip (or goes out on its own when there is no next batch).
    struct Decided {
        var finished: [FinishedJob]
        var acknowledgeOnly: [String]
        /// The done-marker check made in the batch's first round trip; nil when the
        /// write-back must check again (another write-back went out since).
        var check: BatchFinisher.Check?
        /// Entries of the batch, for the batch-size histogram; 0 for a part written back
        /// ahead of the rest.
        var jobs: Int = 0
        var rendered: Int = 0
        /// Time spent deciding and gating, and rendering.
        var decideNanoseconds: Int64 = 0
        var renderNanoseconds: Int64 = 0

        /// The check, if it still holds on the connection.
        func check(on connection: RedisConnection) -> BatchFinisher.Check? {
            check.flatMap { $0.holds(on: connection) ? $0 : nil }
        }
    }

    /// Decides every job of the batch, gates the speakable ones, renders the admitted
    /// ones and writes everything back.
    ///
    /// Round trips, when the worker is busy: the first carries the previous batch's
    /// write-back, this batch's token buckets and done-marker check, and the read of the
    /// next batch (without BLOCK); that is the only round trip of a batch. When the read
    /// comes back empty, this batch is written back at once together with a blocking read.
    func process(_ batch: JobStream.Batch) throws(RedisError) {
        let started = Monotonic.nanoseconds()
        let keys = configuration.keys
        let consumer = configuration.consumer
        var finished: [FinishedJob] = []
        var acknowledgeOnly = batch.vanished
        var valid: [(job: Job, valid: ValidJob)] = []
        finished.reserveCapacity(batch.jobs.count)

        // Every job of the batch is answered under its job id; one that came twice in the
        // batch is answered once (the first), the others only acknowledged.
        var jobIDs = Set<String>()
        var check = (jobIDs: [String](), streams: [String]())
        func answerable(_ job: Job, _ valid: ValidJob?) -> Bool {
            let jobID = FinishedJob.jobID(of: job, valid: valid)
            guard jobIDs.insert(jobID).inserted else {
                acknowledgeOnly.append(job.entryID)
                return false
            }
            check.jobIDs.append(jobID)
            check.streams.append(valid?.replyTo ?? keys.results)
            return true
        }
        for job in batch.jobs {
            if job.attempts > configuration.maxAttempts {
                guard answerable(job, nil) else { continue }
                let failure = JobFailure(.tooManyAttempts, "delivered \(job.attempts) times; the limit is \(configuration.maxAttempts)")
                finished.append(FinishedJob(job: job, valid: nil, outcome: .failed(failure), keys: keys, worker: consumer))
                continue
            }
            switch validation.validate(job) {
            case .success(let v):
                if answerable(job, v) { valid.append((job, v)) }
            case .failure(let failure):
                guard answerable(job, nil) else { continue }
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

        // One round trip: the previous batch's write-back, the token buckets of the
        // speakable jobs, the done-marker check (see BatchFinisher) and the next read.
        var commands = RedisCommands()
        var previous = waiting
        waiting = nil
        var layout: BatchFinisher.CommitLayout?
        if let decided = previous {
            if let check = decided.check(on: connection) {
                layout = finisher.appendCommit(decided.finished, acknowledgeOnly: decided.acknowledgeOnly, check: check, to: &commands)
            } else {
                // Its WATCH has ended (a write-back went out on its own since): check again.
                try commitAlone(decided)
                previous = nil
            }
        }
        let commitCommands = commands.count
        gate.appendCall(tickets, to: &commands)
        let gateCalls = commands.count - commitCommands
        let request = finisher.checkRequest(jobIDs: check.jobIDs, streams: check.streams)
        finisher.appendCheck(request, to: &commands)
        let readAhead = readsNext ? stream.readNewCommand(count: configuration.batchSize, blockMilliseconds: nil) : nil
        if let readAhead { commands.append(contentsOf: readAhead) }
        let replies: [RedisReply]
        let sent = Monotonic.nanoseconds()
        do {
            replies = try connection.send(commands)
        } catch {
            // The previous batch may or may not be written: it is finished again after the
            // reconnect (its markers make that safe); this one stays pending, read again.
            if let previous { unfinished.append((previous.finished, previous.acknowledgeOnly)) }
            throw error
        }
        // This batch's check first: it is in force only until the next EXEC on this
        // connection, and writing the previous batch back alone (below) would be one.
        let markers = try finisher.parseCheck(
            request, replies[(commitCommands + gateCalls)..<(commitCommands + gateCalls + request.commandCount)], on: connection)
        if readAhead != nil, let reply = replies.last {
            // An error reply (NOGROUP…) comes again from the next plain read, which deals
            // with it.
            prefetched = try? stream.parseRead(reply)
        }
        if let previous, let layout {
            try settle(previous, finisher.outcome(of: layout, replies[..<commitCommands]), finishNanoseconds: Monotonic.nanoseconds() - sent)
        }
        let verdicts = try gate.complete(
            tickets, try gate.verdicts(tickets, replies[commitCommands..<(commitCommands + gateCalls)].first), on: connection)
        let decideNanoseconds = Monotonic.nanoseconds() - started

        var admitted: [Admitted] = []
        for (item, verdict) in zip(speakable, verdicts) {
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

        // Results that need no rendering (voice off, refused, rate-limited…) do not wait
        // for a long render: when there is more to render than one job per synthesizer,
        // they are written back first.
        if admitted.count > max(1, pool.liveProcesses), !finished.isEmpty || !acknowledgeOnly.isEmpty {
            let finishStarted = Monotonic.nanoseconds()
            let commit = try finisher.commit(finished, acknowledgeOnly: acknowledgeOnly, check: markers, on: connection)
            try settle(
                Decided(finished: finished, acknowledgeOnly: acknowledgeOnly), commit,
                finishNanoseconds: Monotonic.nanoseconds() - finishStarted)
            // That EXEC ended the check's WATCH: the rendered jobs' write-back sees it
            // (`Decided.check(on:)`) and checks again.
            finished = []
            acknowledgeOnly = []
        }

        // The audio of a batch is held until it is written back: a batch of long replies
        // is rendered and written back in parts of at most `audioBytesInFlight`.
        var renderNanoseconds: Int64 = 0
        var parts = Self.parts(of: admitted, budget: Self.audioBytesInFlight)
        let lastPart = parts.popLast() ?? []
        for part in parts {
            var early: [FinishedJob] = []
            renderNanoseconds += render(part, of: batch, into: &early)
            try commitAlone(Decided(finished: early, acknowledgeOnly: [], rendered: part.count))
        }
        renderNanoseconds += render(lastPart, of: batch, into: &finished)

        if renderNanoseconds > Int64(configuration.claimIdleMilliseconds) * 1_000_000 / 3 {
            // A long render: refresh once more, so that the write-back cannot race a take-over.
            try? stream.keepFresh(held(batch), on: connection)
        }
        if recovering {
            // Own pending entries are read again from the start, the read-ahead among them.
            prefetched = nil
        }
        let decided = Decided(
            finished: finished, acknowledgeOnly: acknowledgeOnly, check: markers, jobs: batch.jobs.count + batch.vanished.count,
            rendered: admitted.count, decideNanoseconds: decideNanoseconds, renderNanoseconds: renderNanoseconds)
        if let next = prefetched, !next.isEmpty {
            waiting = decided
        } else {
            prefetched = nil
            try commitWithRead(decided)
        }
    }

    typealias Admitted = (job: Job, valid: ValidJob, request: SpeechRequest)

    /// At most this much audio (estimated) is rendered before it is written back.
    static let audioBytesInFlight = 64 << 20

    /// Splits jobs to render into parts of at most `budget` estimated WAV bytes (a job
    /// larger than that is a part of its own).
    static func parts(of jobs: [Admitted], budget: Int) -> [[Admitted]] {
        var parts: [[Admitted]] = []
        var current: [Admitted] = []
        var bytes = 0
        for item in jobs {
            let size = item.request.estimatedWAVBytes
            if !current.isEmpty, bytes + size > budget {
                parts.append(current)
                current = []
                bytes = 0
            }
            current.append(item)
            bytes += size
        }
        if !current.isEmpty { parts.append(current) }
        return parts
    }

    /// The entries this worker holds while it renders a batch: the batch's and the next
    /// one's, read ahead.
    private func held(_ batch: JobStream.Batch) -> [String] {
        batch.jobs.map(\.entryID) + (prefetched?.jobs.map(\.entryID) ?? [])
    }

    /// Renders jobs and appends their outcomes; returns the time it took.
    private func render(_ admitted: [Admitted], of batch: JobStream.Batch, into finished: inout [FinishedJob]) -> Int64 {
        guard !admitted.isEmpty else { return 0 }
        let keys = configuration.keys
        let consumer = configuration.consumer
        var renderNanoseconds: Int64 = 0
        do {
            let restartsBefore = pool.restarts
            let renderStarted = Monotonic.nanoseconds()
            // Entries held while rendering are kept fresh, so that no replica takes a slow
            // job from a live worker; a dead or stuck worker's go stale.
            let held = held(batch)
            let rendered = pool.render(
                admitted.map(\.request), tickMilliseconds: configuration.claimIdleMilliseconds / 3,
                tick: { [stream, connection, logger] in
                    do { try stream.keepFresh(held, on: connection) } catch {
                        logger.debug("could not keep held jobs fresh", metadata: ["error": "\(error)"])
                    }
                },
                abandonAt: { [worker] in worker.shutdownDeadline })
            renderNanoseconds = Monotonic.nanoseconds() - renderStarted
            for (item, result) in zip(admitted, rendered) {
                switch result {
                case .success(let audio):
                    let outcome = JobOutcome.ok(audioKey: keys.audio(jobID: item.valid.jobID), audio: audio, voice: item.request.voice)
                    finished.append(FinishedJob(job: item.job, valid: item.valid, outcome: outcome, keys: keys, worker: consumer))
                case .failure(let error) where error.code == .unavailable:
                    // Not the job's fault: it stays pending, for this worker to read again
                    // or, at shutdown, for another replica.
                    if worker.isStopping {
                        abandoned.append(item.job.entryID)
                    } else {
                        logger.error("no synthesizer available; job left pending", metadata: ["job.id": "\(item.valid.jobID)"])
                        recovering = true
                    }
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
            if restarts > 0 {
                worker.record { $0.synthesizerRestarts += restarts }
                metrics.synthesizerRestarts.increment(by: restarts)
            }
            worker.setLiveSynthesizers(pool.liveProcesses)
        }
        return renderNanoseconds
    }

    /// Writes a batch back now, with a blocking read of the next batch in the same round
    /// trip when the loop would read next anyway.
    private func commitWithRead(_ decided: Decided) throws(RedisError) {
        guard !decided.finished.isEmpty || !decided.acknowledgeOnly.isEmpty else {
            // Nothing to write: drop the check's WATCH, so it cannot abort a later batch.
            try connection.command("UNWATCH")
            record(decided, written: .init(results: 0, duplicates: 0), finishNanoseconds: 0)
            return
        }
        let finishStarted = Monotonic.nanoseconds()
        let next =
            readsNext ? stream.readNewCommand(count: configuration.batchSize, blockMilliseconds: configuration.blockMilliseconds) : nil
        guard let check = decided.check(on: connection) else {
            // Its WATCH has ended: check again; the loop reads next on its own.
            try commitAlone(decided)
            return
        }
        let commit: BatchFinisher.Commit
        do {
            commit = try finisher.commit(decided.finished, acknowledgeOnly: decided.acknowledgeOnly, check: check, then: next, on: connection)
            if let next {
                let reply = try connection.read(next.names[...])[0]
                // An error reply (NOGROUP…) comes again from the next plain read, which
                // deals with it; this batch is written either way.
                prefetched = try? stream.parseRead(reply)
            }
        } catch {
            unfinished.append((decided.finished, decided.acknowledgeOnly))
            throw error
        }
        try settle(decided, commit, finishNanoseconds: Monotonic.nanoseconds() - finishStarted)
    }

    /// Acts on a commit's outcome: counts what was written, or writes the batch back
    /// alone (checked again) when another worker's marker aborted it.
    private func settle(_ decided: Decided, _ commit: BatchFinisher.Commit, finishNanoseconds: Int64) throws(RedisError) {
        switch commit {
        case .written(let written): record(decided, written: written, finishNanoseconds: finishNanoseconds)
        case .aborted: try commitAlone(decided)
        case .failed(let message): throw RedisError(.server, "finishing a batch: \(message)")
        }
    }

    /// Writes a batch back on its own: the check again, then the commit.
    private func commitAlone(_ decided: Decided) throws(RedisError) {
        let finishStarted = Monotonic.nanoseconds()
        do {
            let written = try finisher.finish(decided.finished, acknowledgeOnly: decided.acknowledgeOnly, on: connection)
            record(decided, written: written, finishNanoseconds: Monotonic.nanoseconds() - finishStarted)
        } catch let error where error.code == .connection {
            unfinished.append((decided.finished, decided.acknowledgeOnly))
            throw error
        }
    }

    /// Writes back a batch left over by a broken connection (checked again: it may have
    /// been written before the connection broke).
    private func finishUnfinished(_ jobs: [FinishedJob], acknowledgeOnly: [String]) throws(RedisError) {
        let finishStarted = Monotonic.nanoseconds()
        let written = try finisher.finish(jobs, acknowledgeOnly: acknowledgeOnly, on: connection)
        record(
            Decided(finished: jobs, acknowledgeOnly: acknowledgeOnly, jobs: jobs.count + acknowledgeOnly.count), written: written,
            finishNanoseconds: Monotonic.nanoseconds() - finishStarted)
    }

    /// Logs and counts a batch that has been written back.
    private func record(_ decided: Decided, written: BatchFinisher.Written, finishNanoseconds: Int64) {
        let finished = decided.finished
        let acknowledgeOnly = decided.acknowledgeOnly
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
        metrics.redisRoundTrips.increment(by: roundTrips - reportedRoundTrips)
        reportedRoundTrips = roundTrips
        metrics.duplicates.increment(by: written.duplicates + acknowledgeOnly.count)
        for job in finished {
            metrics.jobs[job.outcome.status]?.increment()
            switch job.outcome {
            case .ok(_, let audio, _):
                metrics.audioSeconds.increment(by: Double(audio.sampleCount) / Double(max(audio.sampleRate, 1)))
                metrics.synthesis.recordMicroseconds(audio.synthesisMicroseconds)
                metrics.encoding.recordMicroseconds(audio.encodingMicroseconds)
            case .failed:
                metrics.deadLetters.increment()
            default:
                break
            }
        }
        metrics.finish.recordNanoseconds(finishNanoseconds)
        // A part of a batch written back ahead of the rest is not a batch of its own.
        if decided.jobs > 0 {
            metrics.gate.recordNanoseconds(decided.decideNanoseconds)
            metrics.batchSize.record(decided.jobs)
        }
        logger.debug(
            "batch finished",
            metadata: [
                "jobs": "\(decided.jobs)", "rendered": "\(decided.rendered)", "decide_gate_ms": "\(Double(decided.decideNanoseconds) / 1e6)",
                "render_ms": "\(Double(decided.renderNanoseconds) / 1e6)", "finish_ms": "\(Double(finishNanoseconds) / 1e6)",
            ])
        worker.record { stats in
            if decided.jobs > 0 { stats.batches += 1 }
            stats.duplicates += written.duplicates + acknowledgeOnly.count
            stats.redisRoundTrips = roundTrips
            // Jobs found already answered wrote nothing; the statuses counted here are
            // those of the batch as decided.
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
