/// A job whose fields passed the contract's checks, ready for a decision.
public struct ValidJob: Sendable, Equatable {
    public var jobID: String
    public var agentID: String
    public var userID: String
    /// Trimmed, with control characters removed.
    public var text: String
    public var voice: String?
    public var rate: Int?
    public var pitch: Int?
    public var prompt: String?
    public var replyTo: String?
    public var expiresAtMilliseconds: Int64?
    public var traceparent: String?
}

/// The contract's checks on a job's fields. Pure: no Redis, no clock.
public struct JobValidation: Sendable {
    public var maxTextBytes: Int
    public var keys: QueueKeys
    /// The voices a job may ask for; nil accepts any (for tests without espeak-ng).
    public var catalog: VoiceCatalog?

    /// The longest `job_id`, `agent_id` or `user_id`, in bytes.
    public static let maxIDBytes = 256

    public init(maxTextBytes: Int, keys: QueueKeys, catalog: VoiceCatalog?) {
        self.maxTextBytes = maxTextBytes
        self.keys = keys
        self.catalog = catalog
    }

    public func validate(_ job: Job) -> Result<ValidJob, JobFailure> {
        Result { () throws(JobFailure) in try check(job) }
    }

    private func check(_ job: Job) throws(JobFailure) -> ValidJob {
        if let version = job.value("v"), version != Array("1".utf8) {
            throw JobFailure(
                .unsupportedVersion,
                "contract version '\(String(decoding: version, as: UTF8.self))' is not supported; this worker speaks v1")
        }
        let agentID = try required("agent_id", job)
        let userID = try required("user_id", job)
        guard let rawText = job.value("text") else {
            throw JobFailure(.missingField, "the job has no 'text' field")
        }
        guard rawText.count <= maxTextBytes else {
            throw JobFailure(.textTooLong, "text is \(rawText.count) bytes; the limit is \(maxTextBytes)")
        }
        guard let decoded = String(validating: rawText, as: UTF8.self) else {
            throw JobFailure(.invalidUTF8, "text is not valid UTF-8")
        }
        let text = Self.removingControlCharacters(decoded).trimmed
        guard !text.isEmpty else {
            throw JobFailure(.emptyText, "text is empty once trimmed")
        }
        var valid = ValidJob(jobID: try optional("job_id", job) ?? job.entryID, agentID: agentID, userID: userID, text: text)
        guard !valid.jobID.isEmpty else { throw JobFailure(.missingField, "'job_id' is empty") }
        // Ids become parts of Redis keys; a megabyte id would make megabyte keys.
        for (name, value) in [("job_id", valid.jobID), ("agent_id", agentID), ("user_id", userID)] where value.utf8.count > Self.maxIDBytes
        {
            throw JobFailure(.badParameter, "\(name) is \(value.utf8.count) bytes; the limit is \(Self.maxIDBytes)")
        }
        if let voice = try optional("voice", job)?.trimmed, !voice.isEmpty {
            guard catalog?.contains(voice) ?? true else {
                throw JobFailure(.unknownVoice, "espeak-ng has no voice '\(voice)' (see `intone voices`)")
            }
            valid.voice = voice
        }
        valid.rate = try number("rate", job, in: AgentSettings.rateRange)
        valid.pitch = try number("pitch", job, in: AgentSettings.pitchRange)
        valid.prompt = try optional("prompt", job)
        if let prompt = valid.prompt, prompt.utf8.count > maxTextBytes {
            throw JobFailure(.badParameter, "prompt is \(prompt.utf8.count) bytes; the limit is \(maxTextBytes), as for the text")
        }
        if let replyTo = try optional("reply_to", job), !replyTo.isEmpty {
            guard keys.acceptsReplyTo(replyTo) else {
                throw JobFailure(
                    .badReplyTo,
                    "reply_to '\(replyTo)' must be a stream key of this queue, '\(keys.prefix)…', other than its jobs, dead letters, audio, agents, buckets or markers"
                )
            }
            valid.replyTo = replyTo
        }
        if let expires = try optional("expires_at", job)?.trimmed, !expires.isEmpty {
            guard let milliseconds = Int64(expires), milliseconds >= 0 else {
                throw JobFailure(.badParameter, "expires_at '\(expires)' is not unix time in milliseconds")
            }
            valid.expiresAtMilliseconds = milliseconds
        }
        valid.traceparent = try optional("traceparent", job)
        return valid
    }

    private func required(_ name: String, _ job: Job) throws(JobFailure) -> String {
        guard let value = try optional(name, job), value.unicodeScalars.contains(where: { !$0.properties.isWhitespace }) else {
            throw JobFailure(.missingField, "the job has no '\(name)' field")
        }
        return value
    }

    private func optional(_ name: String, _ job: Job) throws(JobFailure) -> String? {
        guard let bytes = job.value(name) else { return nil }
        guard let value = String(validating: bytes, as: UTF8.self) else {
            throw JobFailure(.invalidUTF8, "'\(name)' is not valid UTF-8")
        }
        return value
    }

    private func number(_ name: String, _ job: Job, in range: ClosedRange<Int>) throws(JobFailure) -> Int? {
        guard let text = try optional(name, job)?.trimmed, !text.isEmpty else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw JobFailure(.badParameter, "\(name) '\(text)' must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// Removes C0 controls except tab and newline, and DEL: in espeak-ng byte 0x01
    /// starts an embedded command even in plain-text mode. These are single bytes in
    /// UTF-8 (never part of a longer sequence), so they are removed byte by byte; text
    /// without any (nearly all text) is returned as it is, without a copy.
    static func removingControlCharacters(_ text: String) -> String {
        var text = text
        let clean = text.withUTF8 { bytes in !bytes.contains(where: isRemovedControl) }
        if clean { return text }
        var bytes = Array(text.utf8)
        bytes.removeAll(where: isRemovedControl)
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func isRemovedControl(_ byte: UInt8) -> Bool {
        (byte < 0x20 && byte != 0x09 && byte != 0x0A) || byte == 0x7F
    }
}
