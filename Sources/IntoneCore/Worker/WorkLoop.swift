import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The worker's loop, on the thread that runs the worker: asks each lane's `Scheduler`
/// what to do, and does it. It owns the stages — each lane's `Intake` (read) and
/// `WriteBackQueue` (write back), the shared `GateQueue` (token buckets) and
/// `RenderStage` (synthesizers) — and the lanes' connections (`Lane`); `LoopPipeline`
/// puts the stages' segments into each round trip and hands the replies back.
final class WorkLoop {
    let worker: Worker
    let configuration: WorkerConfiguration
    let logger: Logger
    let pool: SynthesizerPool
    let shards: QueueShards
    let decider: BatchDecider
    let settingsCache: AgentSettingsCache
    var gate: TokenBucketGate
    let gateScript = RedisScript(name: "token bucket", source: TokenBucketScript.source)
    let hygieneScript = RedisScript(name: "consumer hygiene", source: ConsumerHygiene.source)
    let render: RenderStage
    let commitSettings: WriteBackCommit.Settings
    let metrics = WorkerMetrics()
    let reporter: WorkerReporter
    var lanes: [Lane] = []
    var cluster: ClusterConnections?
    var gateQueue = GateQueue()
    var faults = FaultBoard()
    var clock = ServerClock()
    /// Entries left unfinished at the end, to be released to other replicas.
    var abandoned: [EntryRef] = []
    private var restartsSeen = 0
    var abandonedOnce = false

    init(worker: Worker, pool: SynthesizerPool) {
        self.worker = worker
        configuration = worker.configuration
        logger = worker.logger
        self.pool = pool
        let keys = configuration.keys
        shards = QueueShards(base: keys, count: configuration.shards)
        decider = BatchDecider(
            shards: shards.served, validation: JobValidation(maxTextBytes: configuration.maxTextBytes, keys: keys, catalog: pool.catalog),
            maxAttempts: configuration.maxAttempts, defaultTTS: configuration.defaultTTS, agentLimit: configuration.agentRate,
            defaultFormat: configuration.format)
        settingsCache = AgentSettingsCache(
            keys: keys, refreshMilliseconds: configuration.settingsRefreshMilliseconds, defaultTTS: configuration.defaultTTS,
            catalog: pool.catalog, logger: worker.logger)
        // The buckets' script skips jobs already answered when their markers share its slot.
        gate = TokenBucketGate(keys: keys, userLimit: configuration.userRate, checksMarkers: configuration.shards == 1)
        render = RenderStage(pool: pool, shards: shards.served, audioTTLSeconds: configuration.audioTTLSeconds)
        commitSettings = WriteBackCommit.Settings(
            worker: configuration.consumer, resultsMaxLength: configuration.resultsMaxLength, deadMaxLength: configuration.deadMaxLength,
            markerTTLSeconds: configuration.dedupTTLSeconds, audioTTLSeconds: configuration.audioTTLSeconds)
        reporter = WorkerReporter(worker: worker, metrics: metrics)
    }

    /// At most this much audio (rendered, not yet written) is held before rendering pauses.
    static let audioBytesInFlight = 64 << 20

    func makeLane(name: String, link: RedisLink, streams: [JobStream], servesQueue: Bool) -> Lane {
        var settings = Scheduler.Settings(configuration, maxAudioBytes: Self.audioBytesInFlight)
        // An idle lane's calls are its blocking reads and its timers; a cluster has a lane
        // per shard's slot, so they add up on each master. Only the queue's lane publishes
        // the heartbeat (another lane waking for it would cut its read short for nothing),
        // and a shard's gauges (length, pending) are sampled every 15 s rather than 5.
        if !servesQueue {
            settings.heartbeatIntervalMilliseconds = Int(Int32.max)
            settings.sampleIntervalMilliseconds = 15_000
        }
        return Lane(
            name: name, link: link, streams: streams, servesQueue: servesQueue,
            scheduler: Scheduler(settings: settings, now: Monotonic.milliseconds()),
            writeBack: WriteBackQueue(maxJobs: configuration.batchSize, maxAudioBytes: Self.audioBytesInFlight))
    }

    /// Runs until stopped. Throws only for what waiting cannot fix: credentials refused at
    /// start, a shard count that disagrees with the queue's.
    func run() throws {
        do {
            lanes = try LaneLayout.make(for: self)
        } catch is LaneLayout.Stopped {
            return
        }
        defer { cluster?.stop() }
        // A lane connected already (a single Redis) is prepared like a reconnected one.
        for lane in lanes where lane.link.isUp {
            do {
                try prepare(lane)(lane.connection!)
                worker.setRedisReady(true)
            } catch  where error.code == .configuration {
                throw error
            } catch {
                connectionLost(lane, error)
            }
        }
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
            var wake = Int64.max
            var finished = 0
            var acted = false
            for lane in lanes {
                switch lane.scheduler.next(snapshot(lane)) {
                case .finish: finished += 1
                case .abandon:
                    abandon()
                    acted = true
                case .reconnect: acted = try reconnect(lane) || acted
                case .send(let plan):
                    send(plan, on: lane)
                    acted = true
                case .wait(let until): wake = min(wake, until)
                }
            }
            if finished == lanes.count {
                finish()
                return
            }
            if !acted { wait(until: wake == .max ? Monotonic.milliseconds() + 100 : wake) }
        }
    }

    /// Everything a lane's scheduler decides on.
    private func snapshot(_ lane: Lane) -> Scheduler.Snapshot {
        let now = Monotonic.milliseconds()
        var state = Scheduler.Snapshot(now: now)
        state.connected = lane.link.isUp
        state.inFlight = lane.inFlight != nil
        state.stopping = worker.isStopping
        state.graceEnded = worker.shutdownDeadline.map { now >= $0 } ?? false
        let reads = lane.steps.ready("read", now: now)
        let intake = lane.intake
        state.recovering = intake.recovering
        state.lostReads = reads && (intake.lostReadsWanted || !intake.lostReads.isEmpty)
        state.awaitingCounts = reads && !intake.awaitingCounts.isEmpty && intake.countsInFlight == nil
        state.readPaused = !reads || lane.streams.isEmpty
        state.undecided = intake.undecided.count
        if lane.servesQueue {
            state.settingsWanted = lane.steps.ready("settings", now: now) && !agentsToFetch(now: now).isEmpty
            state.gateWanted = lane.steps.ready("token buckets", now: now) && gateQueue.ready
        }
        state.renderQueued = render.queued
        state.rendering = render.rendering
        state.chunksWaiting = render.chunksWaiting(lane)
        state.commitReady = lane.writeBack.commitReady(epoch: lane.connection?.watchEpoch ?? -1)
        state.checkReady = lane.writeBack.checkReady(now: now, committingFirst: state.commitReady)
        state.writeBackEmpty = lane.writeBack.isEmpty
        state.held = heldCount(lane) + (lane.servesQueue ? gateQueue.count : 0)
        state.audioBytes = lanes.reduce(0) { $0 + $1.writeBack.audioBytes }
        var wake = [pool.nextDeadline, lane.inFlight?.deadline].compactMap { $0 }
        if lane.writeBack.retryAt > now { wake.append(lane.writeBack.retryAt) }
        if let attempt = lane.link.nextAttempt { wake.append(attempt) }
        if let retry = lane.steps.nextRetry { wake.append(retry) }
        state.wakeAt = wake.min()
        return state
    }

    /// The entries a lane holds: read and not yet written back or released.
    func heldEntries(_ lane: Lane) -> Set<EntryRef> {
        var refs = lane.intake.entries + render.entries(of: lane) + lane.writeBack.entries
        refs += gateQueue.jobs.filter { lane.serves(shard: $0.shard) }.map { EntryRef(keys: shards.served[$0.shard], id: $0.entryID) }
        return Set(refs)
    }

    /// How many entries `heldEntries` lists (no entry is in two stages at once), counted
    /// without building the set: the loop asks before every decision.
    func heldCount(_ lane: Lane) -> Int {
        var count = lane.intake.entryCount + render.entryCount(of: lane) + lane.writeBack.entryCount
        for job in gateQueue.waiting where lane.serves(shard: job.job.shard) { count += 1 }
        for job in gateQueue.inFlight ?? [] where lane.serves(shard: job.job.shard) { count += 1 }
        return count
    }

    /// The agents whose settings the queue lane reads next: those of batches waiting to be
    /// decided (unknown or stale), and those used while stale.
    func agentsToFetch(now: Int64) -> [ByteString] {
        settingsCache.wanted(lanes.flatMap { $0.intake.undecided.flatMap { decider.agents(of: $0.jobs) } }, now: now)
    }

    /// The lane a job's write-back goes over.
    func lane(of shard: Int) -> Lane { lanes.first { $0.serves(shard: shard) } ?? lanes[0] }

    // MARK: Pipelines

    private func send(_ plan: Scheduler.Plan, on lane: Lane) {
        guard let connection = lane.connection else { return }
        var pipeline = LoopPipeline(loop: self, lane: lane, plan: plan, now: Monotonic.milliseconds())
        guard !pipeline.isEmpty else { return }
        do {
            try connection.write(pipeline.pipeline.commands)
            pipeline.sent(epochAfterWrite: connection.watchEpoch, timeoutMilliseconds: connection.commandTimeoutMilliseconds)
            lane.inFlight = pipeline
        } catch {
            lane.inFlight = pipeline
            connectionLost(lane, error)
        }
    }

    /// Polls every lane with a pipeline in flight and the synthesizers until something
    /// happens or `until`; hands complete replies to their lanes.
    private func wait(until: Int64) {
        var fds = pool.descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let waiting = lanes.filter { $0.inFlight != nil && $0.connection != nil }
        for lane in waiting { fds.append(pollfd(fd: lane.connection!.fileDescriptor, events: Int16(POLLIN), revents: 0)) }
        let timeout = Int32(clamping: max(0, until - Monotonic.milliseconds()))
        if fds.isEmpty {
            ThreadSleep.sleep(milliseconds: Int(timeout))
        } else {
            _ = poll(&fds, nfds_t(fds.count), timeout)
        }
        let offset = fds.count - waiting.count
        for (index, lane) in waiting.enumerated() {
            guard var pipeline = lane.inFlight, let connection = lane.connection else { continue }
            // The lane lets go of it while it reads, so that the replies are appended in
            // place (every path below puts it back or finishes it).
            lane.inFlight = nil
            if fds[offset + index].revents != 0 {
                do {
                    try pipeline.readAvailable(from: connection)
                } catch {
                    lane.inFlight = pipeline
                    connectionLost(lane, error)
                    continue
                }
            }
            if pipeline.isComplete {
                lane.inFlight = nil
                if let cluster, let redirect = pipeline.redirect {
                    // The slot moved or is not served for now: what was sent is made again
                    // after the lane follows it (with a fresh map).
                    if redirect.code == .moved { _ = try? cluster.refreshTopology() }
                    lane.inFlight = pipeline
                    connectionLost(lane, redirect)
                } else {
                    pipeline.dispatch()
                }
            } else if Monotonic.milliseconds() >= pipeline.deadline {
                lane.inFlight = pipeline
                connectionLost(lane, connection.markBroken("no reply within \(connection.commandTimeoutMilliseconds) ms"))
            } else {
                lane.inFlight = pipeline
            }
        }
    }

    // MARK: Stages

    /// Renders that ended become results on their lane; a render no synthesizer could take
    /// goes back in the queue (not the job's fault), or is left for another replica when
    /// stopping.
    private func finishRenders() {
        let done = render.takeFinished()
        for job in done.finished { lane(of: job.job.shard).writeBack.add(job) }
        if worker.isStopping {
            abandoned += done.unavailable.map { EntryRef(keys: shards.served[$0.job.shard], id: $0.job.entryID) }
        } else {
            render.enqueue(done.unavailable)
        }
    }

    /// Decides the batches whose agents are known.
    func decideReadyBatches() {
        let now = Monotonic.milliseconds()
        for lane in lanes {
            let batches = lane.intake.takeDecidable { [settingsCache, decider] batch in
                settingsCache.knows(decider.agents(of: batch.jobs), now: now)
            }
            for batch in batches {
                settingsCache.used(decider.agents(of: batch.jobs), now: now)
                let decision = decider.decide(batch, settings: settingsCache.settings(for:), now: clock.now)
                for job in decision.answered { lane.writeBack.add(job) }
                lane.writeBack.acknowledge(decision.acknowledgeOnly)
                gateQueue.add(decision.speakable)
                reporter.decided(
                    batch.jobs.count + batch.vanished.count,
                    since: decision.speakable.isEmpty ? batch.receivedNanoseconds : nil)
            }
        }
    }

    /// The buckets' verdicts: each job goes to the renders or to its lane's write-back.
    func receiveVerdicts(_ verdicts: [TokenBucketGate.Verdict], for sent: [BatchDecider.Speakable]) {
        let admitted = decider.admit(sent, verdicts: verdicts)
        if let first = sent.map(\.receivedNanoseconds).min() { reporter.decidedSpeakable(since: first) }
        render.enqueue(admitted.admitted)
        for job in admitted.answered { lane(of: job.job.shard).writeBack.add(job) }
        for entry in admitted.acknowledgeOnly { lane(of: shards.served.firstIndex(of: entry.keys) ?? 0).writeBack.acknowledge([entry]) }
        reporter.duplicates(admitted.acknowledgeOnly.count)
    }
}
