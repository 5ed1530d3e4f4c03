/// The contract's result statuses: the one list that metrics, `intone status` and the
/// write-back share.
public enum JobStatus: String, Sendable, CaseIterable, Codable {
    case ok
    case textOnly = "text_only"
    case rateLimited = "rate_limited"
    case expired
    case failed
}

/// Why a reply is answered with text only.
public enum TextOnlyReason: String, Sendable, CaseIterable {
    case agentDisabled = "agent_disabled"
    case noKeyword = "no_keyword"
}

/// Which token bucket refused a reply.
public enum RateLimitScope: String, Sendable, CaseIterable {
    case agent
    case user
}

/// How a job ended, which decides its result entry (and its dead letter, if any).
public enum JobOutcome: Sendable, Equatable {
    case ok(audio: RenderedAudio, voice: String)
    case textOnly(TextOnlyReason)
    case rateLimited(retryAfterMilliseconds: Int, scope: RateLimitScope)
    case expired
    case failed(JobFailure)

    public var status: JobStatus {
        switch self {
        case .ok: .ok
        case .textOnly: .textOnly
        case .rateLimited: .rateLimited
        case .expired: .expired
        case .failed: .failed
        }
    }

    /// What the done marker holds: the status, and for a job not spoken, why (`text_only
    /// agent_disabled`, `rate_limited user`, `failed unknown_voice`). `intone audio` reads it.
    public var markerValue: String {
        switch self {
        case .ok, .expired: status.rawValue
        case .textOnly(let reason): "text_only " + reason.rawValue
        case .rateLimited(_, let scope): "rate_limited " + scope.rawValue
        case .failed(let failure): "failed " + failure.code.rawValue
        }
    }

    public var failure: JobFailure? {
        if case .failed(let failure) = self { return failure }
        return nil
    }
}

/// One field of an entry to write: name and value, each written as it is.
public typealias EntryField = (name: RedisArgument, value: RedisArgument)

/// A job with its outcome, ready to be written back: its result entry, its dead letter
/// if it failed, its audio if it was spoken, and the stream the result goes to.
public struct FinishedJob: Sendable {
    public var job: Job
    /// The `job_id` it is answered under: the producer's bytes, or else the entry id.
    public var jobID: ByteString
    public var valid: ValidJob?
    public var outcome: JobOutcome
    /// Where the result goes: the job's `reply_to`, or the queue's result stream.
    public var resultStream: ByteString
    /// Set for a streamed reply: its chunks are in the audio stream already.
    public var streamed: StreamedAudio?
    /// The keys of the job's shard: its result, dead letter, audio, marker and entry.
    public var keys: QueueKeys

    /// The `job_id` a job is answered under: the producer's, or else the entry id, as
    /// bytes. A refused job whose `job_id` is over the limit is answered under its entry
    /// id (its done marker and audio key would otherwise be that long).
    public static func jobID(of job: Job, valid: ValidJob?) -> ByteString {
        if let valid { return valid.jobID }
        if let raw = job.value("job_id"), !raw.isEmpty, raw.count <= JobValidation.maxIDBytes { return ByteString(raw) }
        return ByteString(job.entryID)
    }

    public init(job: Job, valid: ValidJob?, outcome: JobOutcome, keys: QueueKeys, streamed: StreamedAudio? = nil) {
        self.job = job
        self.valid = valid
        self.outcome = outcome
        self.streamed = streamed
        self.keys = keys
        jobID = Self.jobID(of: job, valid: valid)
        resultStream = valid?.replyTo ?? keys.resultsBytes
    }

    /// The result entry's fields: the contract's, in its order. Values the job holds are
    /// written byte for byte.
    public func resultFields(keys: QueueKeys, worker: String, elapsedMilliseconds: Int64) -> [EntryField] {
        // A refused job's ids are echoed as the producer wrote them, cut to the id limit
        // (the dead letter keeps them whole).
        func raw(_ name: String) -> RedisArgument { .bytes(Array((job.value(name) ?? []).prefix(JobValidation.maxIDBytes))) }
        var fields: [EntryField] = [
            ("job_id", valid == nil && (job.value("job_id")?.count ?? 0) > JobValidation.maxIDBytes ? raw("job_id") : jobID.argument),
            ("entry_id", .string(job.entryID)),
            ("agent_id", valid.map { $0.agentID.argument } ?? raw("agent_id")),
            ("user_id", valid.map { $0.userID.argument } ?? raw("user_id")),
            ("status", .string(outcome.status.rawValue)),
            ("attempts", .integer(job.attempts)),
            ("worker", .string(worker)),
            ("elapsed_ms", .integer(Int(elapsedMilliseconds))),
        ]
        fields.reserveCapacity(18)
        switch outcome {
        case .ok(let audio, let voice):
            fields += [
                ("audio_key", keys.audio(jobID: jobID).argument), ("format", .string(audio.format)),
                ("content_type", .string(audio.contentType)), ("sample_rate", .integer(audio.sampleRate)),
                ("duration_ms", .integer(audio.durationMilliseconds)), ("bytes", .integer(streamed?.bytes ?? audio.bytes.count)),
                ("voice", .string(voice)),
            ]
        case .textOnly(let reason):
            fields.append(("reason", .string(reason.rawValue)))
        case .rateLimited(let retryAfter, let scope):
            fields += [("retry_after_ms", .integer(retryAfter)), ("limit", .string(scope.rawValue))]
        case .expired:
            break
        case .failed(let failure):
            fields += [("error", .string(failure.code.rawValue)), ("message", .string(failure.message))]
        }
        if let streamed {
            fields += [("streamed", "1"), ("chunks", .integer(streamed.chunks + 1))]
            // A reply short enough to fit its last entry had no chunk before it.
            fields.append(("first_chunk_ms", .integer(Int(streamed.firstChunkMilliseconds ?? elapsedMilliseconds))))
        }
        if let traceparent = job.value("traceparent") {
            fields.append(("traceparent", .bytes(traceparent)))
        }
        return fields
    }

    /// The dead letter's fields (none unless the job failed): every original field, byte
    /// for byte, then the error.
    public func deadLetterFields(failedAtMilliseconds: Int64) -> [EntryField]? {
        guard case .failed(let failure) = outcome else { return nil }
        var fields: [EntryField] = job.fields.map { (.bytes($0.name), .bytes($0.value)) }
        fields += [
            ("error", .string(failure.code.rawValue)), ("message", .string(failure.message)), ("entry_id", .string(job.entryID)),
            ("attempts", .integer(job.attempts)), ("failed_at", .integer(Int(failedAtMilliseconds))),
        ]
        return fields
    }
}

/// A streamed reply's audio stream, as far as it was written before the result.
public struct StreamedAudio: Sendable, Equatable {
    /// Chunk entries written (`0-1` … `0-<chunks>`), the last entry not counted.
    public var chunks: Int
    /// Bytes in those chunks and the last entry.
    public var bytes: Int
    /// From the entry id's time to the first chunk, on Redis's clock.
    public var firstChunkMilliseconds: Int64?

    public init(chunks: Int, bytes: Int, firstChunkMilliseconds: Int64?) {
        self.chunks = chunks
        self.bytes = bytes
        self.firstChunkMilliseconds = firstChunkMilliseconds
    }
}
