/// A job whose fields passed the contract's checks, ready for a decision.
///
/// Ids and keys are bytes (`ByteString`): they are compared and echoed exactly as the
/// producer wrote them, valid UTF-8 or not.
public struct ValidJob: Sendable, Equatable {
    public var jobID: ByteString
    public var agentID: ByteString
    public var userID: ByteString
    /// Trimmed, with control characters removed.
    public var text: String
    public var voice: String?
    public var rate: Int?
    public var pitch: Int?
    public var prompt: String?
    public var replyTo: ByteString?
    public var expiresAtMilliseconds: Int64?
    public var traceparent: ByteString?
    /// `stream`: `1` or `0` when the job says so (nil: the agent's setting applies).
    public var stream: Bool?
    /// `format`, when the job names one (nil: the agent's, else the worker's).
    public var format: AudioFormat?

    public init(
        jobID: ByteString, agentID: ByteString, userID: ByteString, text: String, voice: String? = nil, rate: Int? = nil,
        pitch: Int? = nil, prompt: String? = nil, replyTo: ByteString? = nil, expiresAtMilliseconds: Int64? = nil,
        traceparent: ByteString? = nil, stream: Bool? = nil, format: AudioFormat? = nil
    ) {
        self.jobID = jobID
        self.agentID = agentID
        self.userID = userID
        self.text = text
        self.voice = voice
        self.rate = rate
        self.pitch = pitch
        self.prompt = prompt
        self.replyTo = replyTo
        self.expiresAtMilliseconds = expiresAtMilliseconds
        self.traceparent = traceparent
        self.stream = stream
        self.format = format
    }
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
                .unsupportedVersion, "contract version '\(DisplayText.escaped(version))' is not supported; this worker speaks v1")
        }
        let agentID = try requiredID("agent_id", job)
        let userID = try requiredID("user_id", job)
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
        var jobID = ByteString(job.entryID)
        if let given = job.value("job_id") {
            guard !given.isEmpty else { throw JobFailure(.missingField, "'job_id' is empty") }
            try checkLength("job_id", given)
            jobID = ByteString(given)
        }
        var valid = ValidJob(jobID: jobID, agentID: agentID, userID: userID, text: text)
        if let voice = try optional("voice", job)?.trimmed, !voice.isEmpty {
            guard catalog?.contains(voice) ?? true else {
                throw JobFailure(.unknownVoice, "espeak-ng has no voice '\(DisplayText.escaped(voice))' (see `intone voices`)")
            }
            valid.voice = voice
        }
        valid.rate = try number("rate", job, in: AgentSettings.rateRange)
        valid.pitch = try number("pitch", job, in: AgentSettings.pitchRange)
        valid.prompt = try optional("prompt", job)
        if let prompt = valid.prompt, prompt.utf8.count > maxTextBytes {
            throw JobFailure(.badParameter, "prompt is \(prompt.utf8.count) bytes; the limit is \(maxTextBytes), as for the text")
        }
        if let replyTo = job.value("reply_to"), !replyTo.isEmpty {
            let key = ByteString(replyTo)
            guard keys.acceptsReplyTo(key) else {
                throw JobFailure(
                    .badReplyTo,
                    "reply_to '\(key)' must be a stream key of this queue, '\(keys.prefix)…', other than its jobs, dead letters, audio, agents, buckets, markers or workers"
                )
            }
            try checkLength("reply_to", replyTo, limit: keys.prefix.utf8.count + Self.maxIDBytes)
            valid.replyTo = key
        }
        if let expires = try optional("expires_at", job)?.trimmed, !expires.isEmpty {
            guard let milliseconds = Int64(expires), milliseconds >= 0 else {
                throw JobFailure(.badParameter, "expires_at '\(DisplayText.escaped(expires))' is not unix time in milliseconds")
            }
            valid.expiresAtMilliseconds = milliseconds
        }
        if let traceparent = job.value("traceparent") {
            try checkLength("traceparent", traceparent)
            valid.traceparent = ByteString(traceparent)
        }
        if let name = try optional("format", job)?.trimmed, !name.isEmpty {
            do {
                valid.format = try AudioFormat(parsing: name)
            } catch {
                throw JobFailure(.badParameter, error.message)
            }
        }
        if let stream = job.value("stream") {
            switch stream {
            case Array("1".utf8): valid.stream = true
            case Array("0".utf8): valid.stream = false
            default: throw JobFailure(.badParameter, "stream '\(DisplayText.escaped(stream))' must be 1 or 0")
            }
        }
        return valid
    }

    /// An id that must be there and not blank; any bytes, at most `maxIDBytes`.
    private func requiredID(_ name: String, _ job: Job) throws(JobFailure) -> ByteString {
        guard let value = job.value(name), value.contains(where: { !Self.isASCIIWhitespace($0) }) else {
            throw JobFailure(.missingField, "the job has no '\(name)' field")
        }
        try checkLength(name, value)
        return ByteString(value)
    }

    /// Ids become parts of Redis keys, results and log lines; a megabyte id would make
    /// megabyte keys.
    private func checkLength(_ name: String, _ value: [UInt8], limit: Int = maxIDBytes) throws(JobFailure) {
        guard value.count <= limit else {
            throw JobFailure(.badParameter, "\(name) is \(value.count) bytes; the limit is \(limit)")
        }
    }

    private static func isASCIIWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
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
            throw JobFailure(
                .badParameter,
                "\(name) '\(DisplayText.escaped(text))' must be a whole number from \(range.lowerBound) to \(range.upperBound)")
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
