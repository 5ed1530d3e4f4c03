/// How a job ended, which decides its result entry (and its dead letter, if any).
public enum JobOutcome: Sendable, Equatable {
    case ok(audioKey: String, audio: RenderedAudio, voice: String)
    case textOnly(reason: String)
    case rateLimited(retryAfterMilliseconds: Int, limit: String)
    case expired
    case failed(JobFailure)

    public var status: String {
        switch self {
        case .ok: "ok"
        case .textOnly: "text_only"
        case .rateLimited: "rate_limited"
        case .expired: "expired"
        case .failed: "failed"
        }
    }
}

/// A job with its outcome, ready to be written back: its result entry, its dead letter
/// if it failed, its audio if it was spoken, and the stream the result goes to.
public struct FinishedJob: Sendable {
    public var job: Job
    public var jobID: String
    public var outcome: JobOutcome
    public var resultStream: String
    public var resultFields: [Job.Field]
    public var deadLetterFields: [Job.Field]

    /// Builds the contract's fields. `elapsed_ms` and `failed_at` are added by the finish
    /// script from Redis server time, so they are measured when the result is written.
    public init(job: Job, valid: ValidJob?, outcome: JobOutcome, keys: QueueKeys, worker: String) {
        self.job = job
        self.outcome = outcome
        let jobID = valid?.jobID ?? job.value("job_id").map { String(decoding: $0, as: UTF8.self) } ?? job.entryID
        self.jobID = jobID.isEmpty ? job.entryID : jobID
        resultStream = valid?.replyTo ?? keys.results
        func raw(_ name: String) -> [UInt8] { job.value(name) ?? [] }
        var fields: [(String, [UInt8])] = [
            ("job_id", Array(self.jobID.utf8)),
            ("entry_id", Array(job.entryID.utf8)),
            ("agent_id", valid.map { Array($0.agentID.utf8) } ?? raw("agent_id")),
            ("user_id", valid.map { Array($0.userID.utf8) } ?? raw("user_id")),
            ("status", Array(outcome.status.utf8)),
            ("attempts", Array(String(job.attempts).utf8)),
            ("worker", Array(worker.utf8)),
        ]
        switch outcome {
        case .ok(let audioKey, let audio, let voice):
            fields += [
                ("audio_key", Array(audioKey.utf8)), ("format", Array("wav".utf8)),
                ("sample_rate", Array(String(audio.sampleRate).utf8)),
                ("duration_ms", Array(String(audio.durationMilliseconds).utf8)),
                ("bytes", Array(String(audio.wav.count).utf8)), ("voice", Array(voice.utf8)),
            ]
        case .textOnly(let reason):
            fields.append(("reason", Array(reason.utf8)))
        case .rateLimited(let retryAfter, let limit):
            fields += [("retry_after_ms", Array(String(retryAfter).utf8)), ("limit", Array(limit.utf8))]
        case .expired:
            break
        case .failed(let failure):
            fields += [("error", Array(failure.code.rawValue.utf8)), ("message", Array(failure.message.utf8))]
        }
        if let traceparent = job.value("traceparent") {
            fields.append(("traceparent", traceparent))
        }
        resultFields = fields.map { Job.Field(name: Array($0.0.utf8), value: $0.1) }
        if case .failed(let failure) = outcome {
            deadLetterFields =
                job.fields + [
                    Job.Field("error", failure.code.rawValue), Job.Field("message", failure.message),
                    Job.Field("entry_id", job.entryID), Job.Field("attempts", String(job.attempts)),
                ]
        } else {
            deadLetterFields = []
        }
    }
}
