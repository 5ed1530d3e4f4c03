/// Decides what becomes of each job of a batch, before and after the token buckets.
///
/// Pure: no Redis, no clock of its own. The loop gives it the jobs as read, the agents'
/// settings and Redis's time, and performs what it returns.
public struct BatchDecider: Sendable {
    /// The streams the worker serves (`QueueShards.served`): a job's `shard` indexes them.
    public var shards: [QueueKeys]
    /// Each shard's checks (a `reply_to` must be a key of the job's own shard).
    public var validations: [JobValidation]
    public var maxAttempts: Int
    public var defaultTTS: AgentSettings.Speech
    public var agentLimit: RateLimit
    public var defaultFormat: AudioFormat

    public init(
        shards: [QueueKeys], validation: JobValidation, maxAttempts: Int, defaultTTS: AgentSettings.Speech, agentLimit: RateLimit,
        defaultFormat: AudioFormat = .wav
    ) {
        self.shards = shards
        validations = shards.map { keys in
            var shardValidation = validation
            shardValidation.keys = keys
            return shardValidation
        }
        self.maxAttempts = maxAttempts
        self.defaultTTS = defaultTTS
        self.agentLimit = agentLimit
        self.defaultFormat = defaultFormat
    }

    /// A job that would be spoken, waiting for its buckets.
    public struct Speakable: Sendable {
        public var job: Job
        public var valid: ValidJob
        public var request: SpeechRequest
        public var ticket: TokenBucketGate.Ticket
        /// When the batch it came in was read (monotonic).
        public var receivedNanoseconds: Int64 = 0
    }

    public struct Decision: Sendable {
        /// Jobs answered without rendering: refused, failed, expired, not spoken.
        public var answered: [FinishedJob] = []
        /// Entries acknowledged without a result: a `job_id` that came twice in the batch
        /// (the first is answered), and pending entries whose data is gone.
        public var acknowledgeOnly: [EntryRef] = []
        /// Jobs for the token buckets, in batch order.
        public var speakable: [Speakable] = []
    }

    /// The agents whose settings the batch needs: those of its valid jobs.
    public func agents(of jobs: [Job]) -> [ByteString] {
        var seen = Set<ByteString>()
        var agents: [ByteString] = []
        for job in jobs {
            guard let raw = job.value("agent_id"), !raw.isEmpty, raw.count <= JobValidation.maxIDBytes else { continue }
            if seen.insert(ByteString(raw)).inserted { agents.append(ByteString(raw)) }
        }
        return agents
    }

    /// Validates and plans each job. `settings` gives an agent's settings (nil: the
    /// defaults); `now` is Redis's clock.
    public func decide(_ batch: JobStream.Batch, settings: (ByteString) -> AgentSettings?, now: Int64) -> Decision {
        var decision = Decision()
        decision.acknowledgeOnly = batch.vanished
        // Every job is answered under its job id (per shard: its done marker is the
        // shard's); one that came twice in the batch is answered once (the first), the
        // others only acknowledged. Ids are bytes.
        var markers = Set<ByteString>()
        for job in batch.jobs {
            let keys = shards[job.shard]
            let validated = validations[job.shard].validate(job)
            let valid = try? validated.get()
            guard markers.insert(keys.done(jobID: FinishedJob.jobID(of: job, valid: valid))).inserted else {
                decision.acknowledgeOnly.append(EntryRef(keys: keys, id: job.entryID))
                continue
            }
            if job.attempts > maxAttempts {
                let failure = JobFailure(.tooManyAttempts, "delivered \(job.attempts) times; the limit is \(maxAttempts)")
                decision.answered.append(finished(job, valid, .failed(failure)))
                continue
            }
            guard let valid else {
                if case .failure(let failure) = validated { decision.answered.append(finished(job, nil, .failed(failure))) }
                continue
            }
            let agent = settings(valid.agentID) ?? AgentSettings(tts: defaultTTS)
            // A streamed job delivered again may have begun playing on another worker
            // that died: a streamed reply whose first chunk went out is finished, so its
            // deadline no longer applies.
            let resumable = job.attempts > 1 && (valid.stream ?? agent.stream)
            let planNow = resumable ? min(now, valid.expiresAtMilliseconds ?? now) : now
            switch JobPlan.make(for: valid, settings: agent, agentLimit: agentLimit, nowMilliseconds: planNow, defaultFormat: defaultFormat)
            {
            case .expired:
                decision.answered.append(finished(job, valid, .expired, streamed: valid.stream ?? agent.stream))
            case .textOnly(let reason):
                decision.answered.append(finished(job, valid, .textOnly(reason), streamed: valid.stream ?? agent.stream))
            case .speak(let request, let limit):
                let ticket = TokenBucketGate.Ticket(
                    marker: keys.done(jobID: valid.jobID), agentID: valid.agentID, userID: valid.userID, agentLimit: limit)
                decision.speakable.append(
                    Speakable(job: job, valid: valid, request: request, ticket: ticket, receivedNanoseconds: batch.receivedNanoseconds))
            }
        }
        return decision
    }

    /// After the buckets: refused jobs are answered `rate_limited`, jobs already answered
    /// are only acknowledged, the rest are rendered.
    public func admit(_ speakable: [Speakable], verdicts: [TokenBucketGate.Verdict]) -> (
        admitted: [Speakable], answered: [FinishedJob], acknowledgeOnly: [EntryRef]
    ) {
        var admitted: [Speakable] = []
        var answered: [FinishedJob] = []
        var acknowledgeOnly: [EntryRef] = []
        for (item, verdict) in zip(speakable, verdicts) {
            switch verdict {
            case .admitted:
                admitted.append(item)
            case .refused(let wait, let scope):
                answered.append(
                    finished(
                        item.job, item.valid, .rateLimited(retryAfterMilliseconds: wait, scope: scope), streamed: item.request.streamed))
            case .duplicate:
                acknowledgeOnly.append(EntryRef(keys: shards[item.job.shard], id: item.job.entryID))
            case .unusableBucket(let scope):
                let keys = shards[item.job.shard]
                let key = scope == .agent ? keys.agentBucket(item.valid.agentID) : keys.userBucket(item.valid.userID)
                let failure = JobFailure(
                    .badRateLimitKey, "the \(scope.rawValue) token bucket \(key) holds another type of value; delete it to reset the bucket"
                )
                answered.append(finished(item.job, item.valid, .failed(failure), streamed: item.request.streamed))
            }
        }
        return (admitted, answered, acknowledgeOnly)
    }

    /// A job answered without audio; a streamed one still ends its audio stream (its only
    /// entry is the last one, with the status). A refused job is streamed when it asked
    /// for it itself.
    func finished(_ job: Job, _ valid: ValidJob?, _ outcome: JobOutcome, streamed: Bool? = nil) -> FinishedJob {
        let wantsStream = streamed ?? (job.value("stream") == Array("1".utf8))
        return FinishedJob(
            job: job, valid: valid, outcome: outcome, keys: shards[job.shard],
            streamed: wantsStream ? StreamedAudio(chunks: 0, bytes: 0, firstChunkMilliseconds: nil) : nil)
    }
}
