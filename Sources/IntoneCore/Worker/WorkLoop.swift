import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The worker's loop, on the thread that runs the worker: asks the `Scheduler` what to
/// do, and does it. It owns the stages — `Intake` (read → decide and gate),
/// `RenderStage` (synthesizers), `WriteBackQueue` (write back) — and the one Redis
/// connection they share; `LoopPipeline` puts their segments into each round trip and
/// hands the replies back.
final class WorkLoop {
    let worker: Worker
    let configuration: WorkerConfiguration
    let logger: Logger
    let pool: SynthesizerPool
    let stream: JobStream
    let decider: BatchDecider
    let settingsCache: AgentSettingsCache
    let gate: TokenBucketGate
    let gateScript = RedisScript(name: "token bucket", source: TokenBucketScript.source)
    let hygiene: ConsumerHygiene
    let render: RenderStage
    let commitSettings: WriteBackCommit.Settings
    let metrics = WorkerMetrics()
    let reporter: WorkerReporter
    let link: RedisLink
    var connection: RedisConnection? { link.connection }
    var scheduler: Scheduler
    var intake = Intake()
    var writeBack: WriteBackQueue
    var faults = FaultBoard()
    var clock = ServerClock()
    var inFlight: LoopPipeline?
    /// Steps that failed (a read, the buckets…) wait before they are made again.
    var steps = StepBackoffs()
    /// Entries left unfinished at the end, to be released to other replicas.
    var abandoned: [String] = []
    private var restartsSeen = 0

    init(worker: Worker, pool: SynthesizerPool) {
        self.worker = worker
        configuration = worker.configuration
        logger = worker.logger
        self.pool = pool
        let keys = configuration.keys
        stream = JobStream(keys: keys, consumer: configuration.consumer)
        decider = BatchDecider(
            keys: keys, validation: JobValidation(maxTextBytes: configuration.maxTextBytes, keys: keys, catalog: pool.catalog),
            maxAttempts: configuration.maxAttempts, defaultTTS: configuration.defaultTTS, agentLimit: configuration.agentRate,
            defaultFormat: configuration.format)
        settingsCache = AgentSettingsCache(
            keys: keys, refreshMilliseconds: configuration.settingsRefreshMilliseconds, defaultTTS: configuration.defaultTTS,
            catalog: pool.catalog, logger: worker.logger)
        gate = TokenBucketGate(keys: keys, userLimit: configuration.userRate)
        hygiene = ConsumerHygiene(
            keys: keys, consumer: configuration.consumer, script: RedisScript(name: "consumer hygiene", source: ConsumerHygiene.source))
        render = RenderStage(pool: pool, keys: keys, audioTTLSeconds: configuration.audioTTLSeconds)
        writeBack = WriteBackQueue(keys: keys, maxJobs: configuration.batchSize, maxAudioBytes: Self.audioBytesInFlight)
        commitSettings = WriteBackCommit.Settings(
            keys: keys, worker: configuration.consumer, resultsMaxLength: configuration.resultsMaxLength,
            deadMaxLength: configuration.deadMaxLength, markerTTLSeconds: configuration.dedupTTLSeconds,
            audioTTLSeconds: configuration.audioTTLSeconds)
        reporter = WorkerReporter(worker: worker, metrics: metrics)
        link = RedisLink(
            url: configuration.redisURL, commandTimeoutMilliseconds: configuration.blockMilliseconds + 10_000, logger: worker.logger)
        scheduler = Scheduler(settings: Scheduler.Settings(configuration, maxAudioBytes: Self.audioBytesInFlight), now: Monotonic.milliseconds())
    }

    /// At most this much audio (rendered, not yet written) is held before rendering pauses.
    static let audioBytesInFlight = 64 << 20

    /// Runs until stopped. Throws only when Redis refuses the credentials at start.
    func run() throws(RedisError) {
        while true {
            render.receive(pool.collect())
            if let error = render.dispatch() {
                raise("synthesizers", error.message)
            } else if pool.liveProcesses > 0 {
                clear("synthesizers")
            }
            finishRenders()
            worker.setLiveSynthesizers(pool.liveProcesses)
            reporter.synthesizersRestarted(pool.restarts - restartsSeen)
            restartsSeen = pool.restarts
            switch scheduler.next(snapshot()) {
            case .finish:
                finish()
                return
            case .abandon:
                abandon()
            case .reconnect:
                try reconnect()
            case .send(let plan):
                send(plan)
            case .wait(let until):
                wait(until: until)
            }
        }
    }

    /// Everything the scheduler decides on.
    private func snapshot() -> Scheduler.Snapshot {
        let now = Monotonic.milliseconds()
        var state = Scheduler.Snapshot(now: now)
        state.connected = link.isUp
        state.inFlight = inFlight != nil
        state.stopping = worker.isStopping
        state.graceEnded = worker.shutdownDeadline.map { now >= $0 } ?? false
        let reads = steps.ready("read", now: now)
        state.recovering = intake.recovering
        state.lostReads = reads && (intake.lostReadsWanted || !intake.lostReads.isEmpty)
        state.awaitingCounts = reads && !intake.awaitingCounts.isEmpty && intake.countsInFlight == nil
        state.readPaused = !reads
        state.undecided = intake.undecided.count
        state.settingsWanted = steps.ready("settings", now: now) && !agentsToFetch(now: now).isEmpty
        state.gateWanted = steps.ready("token buckets", now: now) && !intake.gating.isEmpty && intake.gateInFlight == nil
        state.renderQueued = render.queued
        state.rendering = render.rendering
        state.chunksWaiting = render.chunksWaiting
        state.commitReady = writeBack.commitReady(epoch: connection?.watchEpoch ?? -1)
        state.checkReady = writeBack.checkReady(now: now)
        state.writeBackEmpty = writeBack.isEmpty
        state.held = heldEntries.count
        state.audioBytes = writeBack.audioBytes
        var wake = [pool.nextDeadline, inFlight?.deadline].compactMap { $0 }
        if writeBack.retryAt > now { wake.append(writeBack.retryAt) }
        if let attempt = link.nextAttempt { wake.append(attempt) }
        if let retry = steps.nextRetry { wake.append(retry) }
        state.wakeAt = wake.min()
        return state
    }

    /// Every entry in hand: read and not yet written back or released.
    var heldEntries: Set<String> { Set(intake.entryIDs + render.entryIDs + writeBack.entryIDs) }

    /// The agents whose settings the next pipeline reads: those of batches waiting to be
    /// decided (unknown or stale).
    func agentsToFetch(now: Int64) -> [ByteString] {
        settingsCache.wanted(intake.undecided.flatMap { decider.agents(of: $0.jobs) }, now: now)
    }

    // MARK: Pipelines

    private func send(_ plan: Scheduler.Plan) {
        guard let connection else { return }
        var pipeline = LoopPipeline(loop: self, plan: plan, now: Monotonic.milliseconds())
        guard !pipeline.isEmpty else { return }
        do {
            try connection.write(pipeline.pipeline.commands)
            pipeline.sent(epochAfterWrite: connection.watchEpoch, timeoutMilliseconds: connection.commandTimeoutMilliseconds)
            inFlight = pipeline
        } catch {
            inFlight = pipeline
            connectionLost(error)
        }
    }

    /// Polls the connection (for the replies of the pipeline in flight) and the
    /// synthesizers until something happens or `until`.
    private func wait(until: Int64) {
        var fds = pool.descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let redisIndex = fds.count
        if inFlight != nil, let connection { fds.append(pollfd(fd: connection.fileDescriptor, events: Int16(POLLIN), revents: 0)) }
        let timeout = Int32(clamping: max(0, until - Monotonic.milliseconds()))
        if fds.isEmpty {
            ThreadSleep.sleep(milliseconds: Int(timeout))
        } else {
            _ = poll(&fds, nfds_t(fds.count), timeout)
        }
        guard var pipeline = inFlight, let connection else { return }
        if fds.count > redisIndex, fds[redisIndex].revents != 0 {
            do {
                try pipeline.readAvailable(from: connection)
            } catch {
                inFlight = pipeline
                connectionLost(error)
                return
            }
        }
        if pipeline.isComplete {
            inFlight = nil
            pipeline.dispatch()
        } else if Monotonic.milliseconds() >= pipeline.deadline {
            inFlight = pipeline
            connectionLost(connection.markBroken("no reply within \(connection.commandTimeoutMilliseconds) ms"))
        } else {
            inFlight = pipeline
        }
    }

    // MARK: Renders

    /// Renders that ended become results; a render no synthesizer could take goes back in
    /// the queue (not the job's fault), or is left for another replica when stopping.
    private func finishRenders() {
        let done = render.takeFinished(keys: configuration.keys)
        for job in done.finished { writeBack.add(job) }
        if worker.isStopping {
            abandoned += done.unavailable.map(\.job.entryID)
        } else {
            render.enqueue(done.unavailable)
        }
    }

    /// Decides the batches whose agents are known.
    func decideReadyBatches() {
        let now = Monotonic.milliseconds()
        let batches = intake.takeDecidable { [settingsCache, decider] batch in settingsCache.knows(decider.agents(of: batch.jobs), now: now) }
        for batch in batches {
            settingsCache.used(decider.agents(of: batch.jobs), now: now)
            let decision = decider.decide(batch, settings: settingsCache.settings(for:), now: clock.now)
            for job in decision.answered { writeBack.add(job) }
            writeBack.acknowledge(decision.acknowledgeOnly)
            intake.queueForGate(decision.speakable)
            reporter.decided(batch.jobs.count + batch.vanished.count)
        }
    }

    // MARK: Faults and the connection

    func raise(_ kind: String, _ reason: String) {
        if faults.raise(kind, reason) {
            logger.error("\(kind) fault", metadata: ["reason": "\(reason)"])
        }
        worker.setFaults(faults.reasons)
    }

    func clear(_ kind: String) {
        if faults.clear(kind) {
            logger.info("\(kind) fault resolved")
        }
        worker.setFaults(faults.reasons)
    }

    /// The connection broke: what was in flight is made again after the reconnect.
    func connectionLost(_ error: RedisError) {
        if let pipeline = inFlight { pipeline.lost() }
        inFlight = nil
        link.lost(error, now: Monotonic.milliseconds())
        worker.setRedisReady(false)
    }

    /// Connects, or waits for the next attempt while Redis is away. After an outage, a read
    /// whose reply was lost may have delivered entries to this consumer: they are looked for.
    private func reconnect() throws(RedisError) {
        let now = Monotonic.milliseconds()
        if let attempt = link.nextAttempt, now < attempt {
            wait(until: attempt)
            return
        }
        guard let (restored, _) = try link.connect(now: now, prepare: { connection throws(RedisError) in try stream.createGroup(on: connection) })
        else {
            worker.setRedisReady(false)
            return
        }
        if case .afterOutage = restored { intake.lostReadsWanted = true }
        clear("redis")
        worker.setRedisReady(true)
    }

    // MARK: Stopping

    /// The grace is over: renders are killed, and every entry in hand is released.
    private func abandon() {
        abandoned += render.abandon()
        abandoned += intake.drain()
        abandoned += writeBack.drain()
    }

    /// Releases what could not be finished, so another replica takes it at once, and takes
    /// this worker off the console's list.
    private func finish() {
        if let connection, link.isUp {
            var commands = RedisCommands()
            WorkerHeartbeat.appendRemove(consumer: configuration.consumer, keys: configuration.keys, to: &commands)
            _ = try? connection.send(commands)
        }
        let left = Array(Set(abandoned))
        guard !left.isEmpty else { return }
        do throws(RedisError) {
            guard let connection else { throw RedisError(.connection, "not connected") }
            try connection.command(stream.release(left).arguments)
            logger.info("left unfinished jobs to other replicas", metadata: ["jobs": "\(left.count)"])
        } catch {
            logger.warning(
                "could not release unfinished jobs; they are taken over after the claim time",
                metadata: ["jobs": "\(left.count)", "error": "\(error.message)"])
        }
    }
}
