/// One round trip of the work loop: the segments the stages have ready, in an order
/// that keeps each write-back's WATCH in force, and the hand-back of each segment's
/// typed output to the stage that asked.
///
/// Order: the commit of the group checked last time comes first (nothing with an EXEC
/// may precede it); then chunks of streamed replies, keep-fresh, delivery counts, agent
/// settings, the token buckets, a take-over scan, consumer hygiene, gauges; then the
/// check of the next group (nothing after it may EXEC, or touch the keys it watches);
/// last the read, which may BLOCK.
struct LoopPipeline {
    unowned let loop: WorkLoop
    private(set) var pipeline = RedisPipeline()
    private var replies: [RedisReply] = []
    private(set) var deadline: Int64 = .max
    private var epochAfterWrite = 0
    private var commit: RedisSlot<WriteBackCommit>?
    private var chunks: RedisSlot<StreamChunks>?
    private var keepFresh: RedisSlot<RedisCommandSegment>?
    private var counts: RedisSlot<DeliveryCounts>?
    private var ownPending: RedisSlot<OwnPendingList>?
    private var fetch: RedisSlot<EntryFetch>?
    private var settings: RedisSlot<AgentSettingsFetch>?
    private var gate: RedisSlot<TokenBucketCall>?
    private var claim: RedisSlot<IdleClaim>?
    private var sweep: RedisSlot<ConsumerSweep>?
    private var sample: RedisSlot<QueueSample>?
    private var heartbeat: RedisSlot<HeartbeatPublish>?
    private var check: RedisSlot<WriteBackCheck>?
    private var read: (slot: RedisSlot<JobRead>, kind: Scheduler.ReadKind)?

    init(loop: WorkLoop, plan: Scheduler.Plan, now: Int64) {
        self.loop = loop
        let configuration = loop.configuration
        if plan.commit, let connection = loop.connection,
            let segment = loop.writeBack.takeCommit(settings: loop.commitSettings, epoch: connection.watchEpoch)
        {
            commit = pipeline.add(segment)
        }
        if plan.chunks, let segment = loop.render.takeChunks(now: loop.clock.now) { chunks = pipeline.add(segment) }
        if plan.keepFresh {
            let held = loop.heldEntries.sorted()
            if !held.isEmpty { keepFresh = pipeline.add(loop.stream.keepFresh(held)) }
        }
        if plan.counts, let segment = loop.intake.takeCounts(loop.stream) { counts = pipeline.add(segment) }
        if plan.lostReads {
            if loop.intake.lostReadsWanted {
                ownPending = pipeline.add(OwnPendingList(stream: loop.stream, count: 10_000))
            } else if let lost = loop.intake.takeLostReads() {
                fetch = pipeline.add(EntryFetch(stream: loop.stream, deliveries: lost))
            }
        }
        if plan.settings {
            let agents = loop.agentsToFetch(now: now)
            if !agents.isEmpty { settings = pipeline.add(loop.settingsCache.fetch(agents)) }
        }
        if plan.gate, let speakable = loop.intake.takeGate(limit: configuration.batchSize) {
            gate = pipeline.add(loop.gate.call(speakable.map(\.ticket), script: loop.gateScript))
        }
        if plan.claim {
            claim = pipeline.add(
                loop.stream.claimIdle(
                    minimumIdleMilliseconds: configuration.claimIdleMilliseconds, count: configuration.batchSize,
                    cursor: loop.intake.claimCursor))
        }
        if plan.hygiene { sweep = pipeline.add(loop.hygiene.sweep(idleMilliseconds: configuration.consumerIdleSeconds * 1000)) }
        if plan.sample { sample = pipeline.add(QueueSample(keys: configuration.keys)) }
        // Its EXEC comes before the check, which must be the last WATCH of the pipeline.
        if plan.heartbeat { heartbeat = pipeline.add(HeartbeatPublish(heartbeat: loop.reporter.heartbeat(loop), keys: configuration.keys)) }
        if plan.check, let segment = loop.writeBack.takeCheck(now: now) { check = pipeline.add(segment) }
        if let kind = plan.read {
            let segment: JobRead =
                switch kind {
                case .new(let block): loop.stream.readNew(count: configuration.batchSize, blockMilliseconds: block)
                case .ownPending: loop.stream.readOwnPending(count: configuration.batchSize, after: loop.intake.recoverAfter)
                }
            read = (pipeline.add(segment), kind)
        }
    }

    var isEmpty: Bool { pipeline.isEmpty }
    var isComplete: Bool { replies.count >= pipeline.commands.count }

    mutating func sent(epochAfterWrite: Int, timeoutMilliseconds: Int) {
        self.epochAfterWrite = epochAfterWrite
        deadline = Monotonic.milliseconds() + Int64(timeoutMilliseconds)
    }

    mutating func readAvailable(from connection: RedisConnection) throws(RedisError) {
        replies += try connection.readAvailable(limit: pipeline.commands.count - replies.count)
    }

    /// Every reply is in: each stage gets its segment's output.
    func dispatch() {
        let replies = RedisPipelineReplies(replies)
        let now = Monotonic.milliseconds()
        if let commit {
            let result = Result { () throws(RedisError) in try replies.output(commit) }
            loop.reporter.report(loop.writeBack.receiveCommit(result, commit: commit.segment, now: now), loop: loop)
        }
        if let chunks {
            let result = Result { () throws(RedisError) in try replies.output(chunks) }
            for error in loop.render.receiveChunks(result, sent: chunks.segment, now: loop.clock.now) {
                loop.reporter.chunkRefused(error)
            }
        }
        if let keepFresh { outcome("keep-fresh", Result { () throws(RedisError) in try replies.output(keepFresh) }) }
        if let counts { loop.intake.receiveCounts(outcome("read", Result { () throws(RedisError) in try replies.output(counts) })) }
        if let ownPending, let found = try? outcome("read", Result { () throws(RedisError) in try replies.output(ownPending) }).get() {
            loop.intake.receiveOwnPending(found, held: loop.heldEntries)
        }
        if let fetch, let batch = try? outcome("read", Result { () throws(RedisError) in try replies.output(fetch) }).get() {
            loop.intake.receiveNew(batch)
        }
        if let settings {
            let result = outcome("settings", Result { () throws(RedisError) in try replies.output(settings) })
            loop.settingsCache.store(result, for: settings.segment.agents, now: now)
        }
        if let gate {
            let result = outcome("token buckets", Result { () throws(RedisError) in try replies.output(gate) })
            let verdicts = (try? result.get()) ?? nil
            if case .success(nil) = result { loop.gateScript.markMissing(true) } else { loop.gateScript.markMissing(false) }
            if let verdicts, let sent = loop.intake.receiveGate(verdicts) {
                let admitted = loop.decider.admit(sent, verdicts: verdicts)
                loop.render.enqueue(admitted.admitted)
                for job in admitted.answered { loop.writeBack.add(job) }
                loop.writeBack.acknowledge(admitted.acknowledgeOnly)
                loop.reporter.duplicates(admitted.acknowledgeOnly.count)
            } else {
                _ = loop.intake.receiveGate(nil)
            }
        }
        if let claim, let (batch, cursor) = try? outcome("take-over", Result { () throws(RedisError) in try replies.output(claim) }).get() {
            loop.intake.claimCursor = cursor
            if batch.jobs.count >= loop.configuration.batchSize && cursor != "0-0" { loop.scheduler.claimAgainSoon(now: now) }
            loop.writeBack.acknowledge(batch.vanished)
            loop.intake.receiveCounted(JobStream.Batch(jobs: batch.jobs))
            loop.reporter.tookOver(batch.jobs.count, claimIdleMilliseconds: loop.configuration.claimIdleMilliseconds)
        }
        if let sweep {
            let result = outcome("consumer hygiene", Result { () throws(RedisError) in try replies.output(sweep) })
            switch result {
            case .success(nil): loop.hygiene.script.markMissing(true)
            case .success(let removed?):
                loop.hygiene.script.markMissing(false)
                loop.reporter.removedConsumers(removed)
            case .failure: break
            }
        }
        if let sample, let output = try? outcome("gauges", Result { () throws(RedisError) in try replies.output(sample) }).get() {
            loop.clock.update(serverMilliseconds: output.serverMilliseconds)
            loop.reporter.sampled(output)
        }
        if let heartbeat { outcome("heartbeat", Result { () throws(RedisError) in try replies.output(heartbeat) }) }
        if let check {
            let result = Result { () throws(RedisError) in try replies.output(check) }
            if case .success(let output) = result {
                loop.clock.update(serverMilliseconds: output.serverMilliseconds, monotonicMilliseconds: output.monotonicMilliseconds)
            }
            loop.reporter.report(loop.writeBack.receiveCheck(result, epoch: epochAfterWrite, now: now), loop: loop)
        }
        if let read {
            let result = outcome("read", Result { () throws(RedisError) in try replies.output(read.slot) })
            if case .success(let batch) = result {
                switch read.kind {
                case .ownPending:
                    if batch.isEmpty {
                        loop.intake.recovering = false
                    } else {
                        loop.intake.recoverAfter = batch.jobs.last?.entryID ?? loop.intake.recoverAfter
                        loop.writeBack.acknowledge(batch.vanished)
                        loop.intake.receiveCounted(JobStream.Batch(jobs: batch.jobs))
                    }
                case .new:
                    if batch.isEmpty {
                        loop.scheduler.readCameBackEmpty(now: now, busy: !loop.heldEntries.isEmpty || loop.render.rendering > 0)
                    } else {
                        loop.intake.receiveNew(batch)
                    }
                }
            } else if case .failure(let error) = result, error.code == .noGroup {
                // The stream or group vanished (an operator deleted it, or Redis restarted
                // without its data): create it again.
                if let connection = loop.connection { try? loop.stream.createGroup(on: connection) }
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
            loop.steps.succeeded(kind)
        case .failure(let error):
            loop.raise(kind, error.message)
            loop.steps.failed(kind, now: Monotonic.milliseconds())
        }
        return result
    }

    /// The connection broke with this pipeline in flight: each stage takes back what it
    /// sent, to send it again.
    func lost() {
        loop.writeBack.connectionLost()
        loop.intake.connectionLost()
        loop.settingsCache.forgetFetches()
        if let chunks { _ = loop.render.receiveChunks(.failure(RedisError(.connection, "lost")), sent: chunks.segment, now: loop.clock.now) }
    }
}
