import Testing

@testable import IntoneCore

/// What becomes of each job of a batch, before and after the buckets, without Redis.
@Suite struct BatchDeciderTests {
    let keys = try! QueueKeys(queue: "tts")
    var decider: BatchDecider {
        BatchDecider(
            shards: [keys], validation: JobValidation(maxTextBytes: 100, keys: keys, catalog: nil), maxAttempts: 3, defaultTTS: .on,
            agentLimit: RateLimit(perSecond: 20, burst: 40), defaultFormat: .wav)
    }

    func job(_ id: String, _ fields: [(String, String)] = [], attempts: Int = 1, entry: Int = 0) -> Job {
        let base: [(String, String)] = [("job_id", id), ("agent_id", "a"), ("user_id", "u"), ("text", "Hello.")]
        var merged = base.filter { name, _ in !fields.contains { $0.0 == name } }
        merged += fields
        return Job(entryID: "1700000000000-\(entry)", fields: merged.map { Job.Field($0.0, $0.1) }, attempts: attempts)
    }

    @Test func refusedExpiredNotSpokenAndSpeakable() {
        let batch = JobStream.Batch(
            jobs: [
                job("bad", [("rate", "9000")], entry: 1),
                job("old", [("expires_at", "1000")], entry: 2),
                job("quiet", [("agent_id", "off")], entry: 3),
                job("kw", [("agent_id", "kw"), ("prompt", "what's up")], entry: 4),
                job("speak", [("format", "ulaw_8000"), ("stream", "1")], entry: 5),
            ], vanished: [EntryRef(keys: keys, id: "1700000000000-9")])
        let settings: [ByteString: AgentSettings] = [
            "off": AgentSettings(tts: .off), "kw": AgentSettings(tts: .keywords, keywords: ["read aloud"]),
        ]
        let decision = decider.decide(batch, settings: { settings[$0] }, now: 2000)
        let outcomes: [ByteString: JobOutcome] = Dictionary(uniqueKeysWithValues: decision.answered.map { ($0.jobID, $0.outcome) })
        #expect(outcomes["bad"]?.failure?.code == .badParameter)
        #expect(outcomes["old"] == .expired)
        #expect(outcomes["quiet"] == .textOnly(.agentDisabled))
        #expect(outcomes["kw"] == .textOnly(.noKeyword))
        #expect(decision.acknowledgeOnly.map(\.id) == ["1700000000000-9"], "an entry whose data is gone is only acknowledged")
        #expect(decision.speakable.map(\.valid.jobID) == ["speak"])
        let speak = decision.speakable[0]
        #expect(speak.request.format.name == "ulaw_8000" && speak.request.streamed)
        #expect(speak.ticket.agentLimit == RateLimit(perSecond: 20, burst: 40))
    }

    @Test func aJobIDTwiceInABatchIsAnsweredOnceAndIDsAreBytes() {
        let batch = JobStream.Batch(jobs: [
            job("caf\u{E9}", entry: 1), job("cafe\u{301}", entry: 2), job("caf\u{E9}", entry: 3),
        ])
        let decision = decider.decide(batch, settings: { _ in nil }, now: 0)
        #expect(decision.speakable.map(\.job.entryID) == ["1700000000000-1", "1700000000000-2"], "composed and decomposed are two ids")
        #expect(decision.acknowledgeOnly.map(\.id) == ["1700000000000-3"])
    }

    @Test func tooManyDeliveriesFailWithoutRendering() {
        let decision = decider.decide(JobStream.Batch(jobs: [job("again", attempts: 4)]), settings: { _ in nil }, now: 0)
        #expect(decision.answered.first?.outcome.failure?.code == .tooManyAttempts && decision.speakable.isEmpty)
    }

    @Test func theJobsFormatWinsOverTheAgentsWhichWinsOverTheWorkers() {
        let agent = AgentSettings(tts: .on, stream: true, format: try! AudioFormat(parsing: "opus"))
        let batch = JobStream.Batch(jobs: [
            job("j", [("format", "pcm_16000"), ("stream", "0")], entry: 1), job("a", entry: 2), job("w", [("agent_id", "plain")], entry: 3),
        ])
        let decision = decider.decide(batch, settings: { $0 == "a" ? agent : nil }, now: 0)
        let requests = Dictionary(uniqueKeysWithValues: decision.speakable.map { ($0.valid.jobID, $0.request) })
        #expect(requests["j"]?.format.name == "pcm_16000" && requests["j"]?.streamed == false)
        #expect(requests["a"]?.format.name == "opus_24000_32" && requests["a"]?.streamed == true)
        #expect(requests["w"]?.format == .wav && requests["w"]?.streamed == false)
    }

    @Test func theBucketsDecideWhatIsRendered() {
        let decision = decider.decide(
            JobStream.Batch(jobs: [job("ok", entry: 1), job("late", entry: 2), job("seen", entry: 3), job("broken", entry: 4)]),
            settings: { _ in nil }, now: 0)
        let admitted = decider.admit(
            decision.speakable,
            verdicts: [.admitted, .refused(retryAfterMilliseconds: 250, scope: .user), .duplicate, .unusableBucket(scope: .agent)])
        #expect(admitted.admitted.map(\.valid.jobID) == ["ok"])
        #expect(admitted.acknowledgeOnly.map(\.id) == ["1700000000000-3"])
        let outcomes: [ByteString: JobOutcome] = Dictionary(uniqueKeysWithValues: admitted.answered.map { ($0.jobID, $0.outcome) })
        #expect(outcomes["late"] == .rateLimited(retryAfterMilliseconds: 250, scope: .user))
        #expect(outcomes["broken"]?.failure?.code == .badRateLimitKey)
        #expect(outcomes["broken"]?.failure?.message.contains("intone:{tts}:rl:agent:a") == true)
    }

    @Test func aRefusedJobWithAnOverlongIDIsAnsweredUnderItsEntryID() {
        let long = String(repeating: "x", count: 300)
        let decision = decider.decide(JobStream.Batch(jobs: [job(long, entry: 7)]), settings: { _ in nil }, now: 0)
        let answered = decision.answered.first
        #expect(answered?.outcome.failure?.code == .badParameter)
        #expect(answered?.jobID == "1700000000000-7", "its marker and audio keys stay short")
        let fields = answered?.resultFields(keys: keys, worker: "w", elapsedMilliseconds: 0) ?? []
        guard case .bytes(let echoed)? = fields.first(where: { $0.name.isString("job_id") })?.value else {
            Issue.record("no job_id field")
            return
        }
        #expect(echoed.count == JobValidation.maxIDBytes, "the producer's id is echoed, cut to the limit")
    }
}

extension RedisArgument {
    func isString(_ text: String) -> Bool {
        if case .string(let value) = self { return value == text }
        return false
    }
}
