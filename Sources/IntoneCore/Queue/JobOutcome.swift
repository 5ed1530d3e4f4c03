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

/// One field of an entry to write: name and value, each written as it is.
public typealias EntryField = (name: RedisArgument, value: RedisArgument)

/// A job with its outcome, ready to be written back: its result entry, its dead letter
/// if it failed, its audio if it was spoken, and the stream the result goes to.
public struct FinishedJob: Sendable {
    public var job: Job
    public var jobID: String
    public var outcome: JobOutcome
    public var resultStream: String
    /// The result entry's fields, but for `elapsed_ms`, which is added when it is written.
    public var resultFields: [EntryField]
    /// The dead letter's fields (none unless the job failed), but for `failed_at`.
    public var deadLetterFields: [EntryField]

    /// The `job_id` a job is answered under: the producer's, or else the entry id.
    public static func jobID(of job: Job, valid: ValidJob?) -> String {
        if let valid { return valid.jobID }
        let raw = job.value("job_id").map { String(decoding: $0, as: UTF8.self) } ?? ""
        return raw.isEmpty ? job.entryID : raw
    }

    /// Builds the contract's fields. Values the job already holds as strings are shared,
    /// not copied; a refused job's fields are written back byte for byte.
    public init(job: Job, valid: ValidJob?, outcome: JobOutcome, keys: QueueKeys, worker: String) {
        self.job = job
        self.outcome = outcome
        jobID = Self.jobID(of: job, valid: valid)
        resultStream = valid?.replyTo ?? keys.results
        func raw(_ name: String) -> RedisArgument { .bytes(job.value(name) ?? []) }
        var fields: [EntryField] = [
            ("job_id", .string(jobID)),
            ("entry_id", .string(job.entryID)),
            ("agent_id", valid.map { .string($0.agentID) } ?? raw("agent_id")),
            ("user_id", valid.map { .string($0.userID) } ?? raw("user_id")),
            ("status", .string(outcome.status)),
            ("attempts", .integer(job.attempts)),
            ("worker", .string(worker)),
        ]
        fields.reserveCapacity(14)
        switch outcome {
        case .ok(let audioKey, let audio, let voice):
            fields += [
                ("audio_key", .string(audioKey)), ("format", "wav"), ("sample_rate", .integer(audio.sampleRate)),
                ("duration_ms", .integer(audio.durationMilliseconds)), ("bytes", .integer(audio.wav.count)), ("voice", .string(voice)),
            ]
        case .textOnly(let reason):
            fields.append(("reason", .string(reason)))
        case .rateLimited(let retryAfter, let limit):
            fields += [("retry_after_ms", .integer(retryAfter)), ("limit", .string(limit))]
        case .expired:
            break
        case .failed(let failure):
            fields += [("error", .string(failure.code.rawValue)), ("message", .string(failure.message))]
        }
        if let traceparent = job.value("traceparent") {
            fields.append(("traceparent", .bytes(traceparent)))
        }
        resultFields = fields
        if case .failed(let failure) = outcome {
            deadLetterFields = job.fields.map { (.bytes($0.name), .bytes($0.value)) }
            deadLetterFields += [
                ("error", .string(failure.code.rawValue)), ("message", .string(failure.message)), ("entry_id", .string(job.entryID)),
                ("attempts", .integer(job.attempts)),
            ]
        } else {
            deadLetterFields = []
        }
    }

    /// What the done marker holds: the status, and for a job not spoken, why (`text_only
    /// agent_disabled`, `rate_limited user`, `failed unknown_voice`). `intone audio` reads it.
    public var markerValue: String {
        switch outcome {
        case .ok, .expired: outcome.status
        case .textOnly(let reason): "text_only " + reason
        case .rateLimited(_, let limit): "rate_limited " + limit
        case .failed(let failure): "failed " + failure.code.rawValue
        }
    }
}
