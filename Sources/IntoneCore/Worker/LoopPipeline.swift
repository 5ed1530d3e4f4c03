/// One round trip of one lane: the segments the stages have ready, in an order that
/// keeps each write-back's WATCH in force, and the hand-back of each segment's typed
/// output to the stage that asked.
///
/// Order: the commit of the group checked last time comes first (nothing with an EXEC
/// may precede it), with its WAIT when `--wait-replicas` asks; then chunks of streamed
/// replies, keep-fresh, delivery counts, lost reads, and on the queue's lane agent
/// settings and the token buckets; a take-over scan, consumer hygiene, gauges, the
/// heartbeat (its own MULTI/EXEC); then the check of the next group (nothing after it may
/// EXEC, or touch the keys it watches); last the read, which may BLOCK.
struct LoopPipeline {
    unowned let loop: WorkLoop
    unowned let lane: Lane
    private(set) var pipeline = RedisPipeline()
    private var replies: [RedisReply] = []
    private(set) var deadline: Int64 = .max
    private var epochAfterWrite = 0
    private var commit: RedisSlot<WriteBackCommit>?
    private var wait: RedisSlot<RedisCommandSegment>?
    private var chunks: RedisSlot<StreamChunks>?
    private var keepFresh: [RedisSlot<RedisCommandSegment>] = []
    private var counts: RedisSlot<DeliveryCounts>?
    private var ownPending: [(stream: JobStream, slot: RedisSlot<OwnPendingList>)] = []
    private var fetches: [RedisSlot<EntryFetch>] = []
    private var settings: RedisSlot<AgentSettingsFetch>?
    private var gate: RedisSlot<TokenBucketCall>?
    private var claim: RedisSlot<IdleClaim>?
    private var sweeps: [RedisSlot<ConsumerSweep>] = []
    private var samples: [RedisSlot<QueueSample>] = []
    private var heartbeat: RedisSlot<HeartbeatPublish>?
    private var check: RedisSlot<WriteBackCheck>?
    private var read: (slot: RedisSlot<JobRead>, kind: Scheduler.ReadKind)?

    init(loop: WorkLoop, lane: Lane, plan: Scheduler.Plan, now: Int64) {
        self.loop = loop
        self.lane = lane
        let configuration = loop.configuration
        if plan.commit, let connection = lane.connection,
            let segment = lane.writeBack.takeCommit(settings: loop.commitSettings, epoch: connection.watchEpoch)
        {
            commit = pipeline.add(segment)
            if configuration.waitReplicas > 0 {
                wait = pipeline.add(RedisCommandSegment("WAIT", .integer(configuration.waitReplicas), .integer(Self.waitMilliseconds)))
            }
        }
        if plan.chunks, let segment = loop.render.takeChunks(for: lane, now: loop.clock.now) { chunks = pipeline.add(segment) }
        if plan.keepFresh {
            for (keys, entries) in Dictionary(grouping: loop.heldEntries(lane), by: \.keys) {
                let stream = JobStream(keys: keys, consumer: configuration.consumer)
                keepFresh.append(
                    pipeline.add(
                        stream.keepFresh(
                            entries.map(\.id).sorted(), minimumIdleMilliseconds: configuration.claimIdleMilliseconds / 6)))
            }
        }
        if plan.counts, let segment = lane.intake.takeCounts() { counts = pipeline.add(segment) }
        if plan.lostReads {
            if lane.intake.lostReadsWanted {
                ownPending = lane.streams.map { ($0, pipeline.add(OwnPendingList(stream: $0, count: 10_000))) }
            } else {
                fetches = lane.intake.takeLostReads().map { pipeline.add($0) }
            }
        }
        if plan.settings, lane.servesQueue {
            let agents = loop.agentsToFetch(now: now)
            if !agents.isEmpty { settings = pipeline.add(loop.settingsCache.fetch(agents)) }
        }
        if plan.gate, lane.servesQueue, let speakable = loop.gateQueue.take(limit: configuration.batchSize) {
            gate = pipeline.add(loop.gate.call(speakable.map(\.ticket), script: loop.gateScript))
        }
        if plan.claim,
            let segment = lane.intake.nextClaim(
                minimumIdleMilliseconds: configuration.claimIdleMilliseconds, count: configuration.batchSize)
        {
            claim = pipeline.add(segment)
        }
        if plan.hygiene {
            for stream in lane.streams {
                let hygiene = ConsumerHygiene(keys: stream.keys, consumer: configuration.consumer, script: loop.hygieneScript)
                sweeps.append(pipeline.add(hygiene.sweep(idleMilliseconds: configuration.consumerIdleSeconds * 1000)))
            }
        }
        if plan.sample { samples = lane.streams.map { pipeline.add(QueueSample(keys: $0.keys)) } }
        // Its EXEC comes before the check, which must be the last WATCH of the pipeline.
        if plan.heartbeat, lane.servesQueue {
            heartbeat = pipeline.add(HeartbeatPublish(heartbeat: loop.reporter.heartbeat(loop), keys: configuration.keys))
        }
        if plan.check, let segment = lane.writeBack.takeCheck(now: now) { check = pipeline.add(segment) }
        if let kind = plan.read, !lane.streams.isEmpty {
            switch kind {
            case .new(let block):
                read = (
                    pipeline.add(
                        JobRead(streams: lane.streams.map { ($0, ">") }, count: configuration.batchSize, blockMilliseconds: block)), kind
                )
            case .ownPending:
                if let stream = lane.intake.recoveryStream {
                    read = (pipeline.add(stream.readOwnPending(count: configuration.batchSize, after: lane.intake.recoverAfter)), kind)
                }
            }
        }
    }

    /// How long a WAIT for replicas may hold a write-back's round trip.
    static let waitMilliseconds = 1000

    var isEmpty: Bool { pipeline.isEmpty }
    var isComplete: Bool { replies.count >= pipeline.commands.count }

    mutating func sent(epochAfterWrite: Int, timeoutMilliseconds: Int) {
        self.epochAfterWrite = epochAfterWrite
        deadline = Monotonic.milliseconds() + Int64(timeoutMilliseconds + (wait == nil ? 0 : Self.waitMilliseconds))
    }

    mutating func readAvailable(from connection: RedisConnection) throws(RedisError) {
        if replies.isEmpty { replies.reserveCapacity(pipeline.commands.count) }
        try connection.readAvailable(limit: pipeline.commands.count - replies.count, into: &replies)
    }

    /// In a cluster: a reply that says the lane's slot is elsewhere or not served now. The
    /// redirected commands did not run; the pipeline's writes are transactions or
    /// idempotent, so the whole of it is made again once the lane has followed the slot.
    var redirect: RedisError? {
        guard let found = ClusterRedirect.scan(replies) else { return nil }
        let code: RedisError.Code =
            switch found.redirect {
            case .moved, .ask: .moved
            default: .clusterDown
            }
        return RedisError(code, found.redirect.description)
    }

    /// Every reply is in: each stage gets its segment's output.
    func dispatch() {
        let replies = RedisPipelineReplies(replies)
        let now = Monotonic.milliseconds()
        func result<S: RedisSegment>(_ slot: RedisSlot<S>) -> Result<S.Output, RedisError> {
            Result { () throws(RedisError) in try replies.output(slot) }
        }
        if let commit {
            loop.reporter.report(lane.writeBack.receiveCommit(result(commit), commit: commit.segment, now: now), lane: lane, loop: loop)
        }
        if let wait, case .success(let reply) = result(wait) {
            loop.reporter.waited(acknowledged: Int(reply.integer ?? 0), wanted: loop.configuration.waitReplicas)
        }
        if let chunks {
            for error in loop.render.receiveChunks(result(chunks), sent: chunks.segment, now: loop.clock.now) {
                loop.reporter.chunkRefused(error)
            }
        }
        for slot in keepFresh { outcome("keep-fresh", result(slot)) }
        if let counts { lane.intake.receiveCounts(outcome("read", result(counts))) }
        if !ownPending.isEmpty {
            let found = ownPending.compactMap { stream, slot in (try? outcome("read", result(slot)).get()).map { (stream, $0) } }
            if found.count == ownPending.count { lane.intake.receiveOwnPending(found, held: loop.heldEntries(lane)) }
        }
        for slot in fetches {
            if let batch = try? outcome("read", result(slot)).get() { lane.intake.receiveNew(batch) }
        }
        if let settings {
            loop.settingsCache.store(outcome("settings", result(settings)), for: settings.segment.agents, now: now)
        }
        if let gate {
            let verdicts = outcome("token buckets", result(gate))
            if case .success(nil) = verdicts { loop.gateScript.markMissing(true) } else { loop.gateScript.markMissing(false) }
            if case .success(let found?) = verdicts, let sent = loop.gateQueue.receive(found) {
                loop.receiveVerdicts(found, for: sent)
            } else {
                _ = loop.gateQueue.receive(nil)
            }
        }
        if let claim, let (batch, cursor) = try? outcome("take-over", result(claim)).get() {
            if lane.intake.receiveClaim(batch, cursor: cursor, of: claim.segment, full: batch.jobs.count >= loop.configuration.batchSize) {
                lane.scheduler.claimAgainSoon(now: now)
            }
            loop.reporter.tookOver(batch.jobs.count, claimIdleMilliseconds: loop.configuration.claimIdleMilliseconds)
        }
        for sweep in sweeps {
            switch outcome("consumer hygiene", result(sweep)) {
            case .success(nil): loop.hygieneScript.markMissing(true)
            case .success(let removed?):
                loop.hygieneScript.markMissing(false)
                loop.reporter.removedConsumers(removed)
            case .failure: break
            }
        }
        for slot in samples {
            if let output = try? outcome("gauges", result(slot)).get() {
                loop.clock.update(serverMilliseconds: output.serverMilliseconds)
                loop.reporter.sampled(output, stream: slot.segment.keys.jobs)
            }
        }
        if let heartbeat { outcome("heartbeat", result(heartbeat)) }
        if let check {
            let checked = result(check)
            if case .success(let output) = checked {
                loop.clock.update(serverMilliseconds: output.serverMilliseconds, monotonicMilliseconds: output.monotonicMilliseconds)
            }
            loop.reporter.report(lane.writeBack.receiveCheck(checked, epoch: epochAfterWrite, now: now), lane: lane, loop: loop)
        }
        if let read {
            switch outcome("read", result(read.slot)) {
            case .success(let batch):
                switch read.kind {
                case .ownPending: lane.intake.receiveRecovered(batch)
                case .new:
                    if batch.isEmpty {
                        lane.scheduler.readCameBackEmpty(now: now, busy: loop.heldCount(lane) > 0 || loop.render.rendering > 0)
                    } else {
                        lane.intake.receiveNew(batch)
                    }
                }
            case .failure(let error) where error.code == .noGroup:
                // A stream or its group vanished (an operator deleted it, or Redis restarted
                // without its data): create them again.
                if let connection = lane.connection {
                    for stream in lane.streams { try? stream.createGroup(on: connection) }
                }
            case .failure: break
            }
        }
        loop.decideReadyBatches()
    }

    /// A segment's result, with its fault raised or cleared under `kind`; a step that
    /// failed waits a capped backoff before it is made again.
    @discardableResult
    private func outcome<T>(_ kind: String, _ result: Result<T, RedisError>) -> Result<T, RedisError> {
        switch result {
        case .success:
            loop.clear(kind)
            lane.steps.succeeded(kind)
        case .failure(let error):
            loop.raise(kind, error.message)
            lane.steps.failed(kind, now: Monotonic.milliseconds())
        }
        return result
    }

    /// The connection broke with this pipeline in flight: each stage takes back what it
    /// sent, to send it again.
    func lost() {
        if gate != nil { loop.gateQueue.connectionLost() }
        loop.settingsCache.forgetFetches()
        if let chunks {
            _ = loop.render.receiveChunks(.failure(RedisError(.connection, "lost")), sent: chunks.segment, now: loop.clock.now)
        }
    }
}
