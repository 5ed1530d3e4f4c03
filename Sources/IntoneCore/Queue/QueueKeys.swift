/// The Redis keys of one queue, as the contract names them. Every key carries the hash
/// tag `{Q}`, so in Redis Cluster a queue lives in one slot and one script may touch it all.
///
/// Keys that hold an id (`audio:<job_id>`, `agent:<agent_id>`…) are built from the id's
/// bytes (`ByteString`): ids are never decoded to text on their way into a key.
public struct QueueKeys: Sendable, Equatable {
    public let queue: String
    /// `intone:{Q}:`, the prefix of every key of the queue.
    public let prefix: String
    public let jobs: String
    public let results: String
    public let dead: String
    /// Counters the worker keeps: results by status and `audio_ms` (a fixed set of fields).
    public let stats: String
    public static let group = "workers"

    /// Checks the name: letters, digits and `_ . : -`, at most 100 characters.
    public init(queue: String) throws(ConfigurationError) {
        guard !queue.isEmpty, queue.utf8.count <= 100,
            queue.unicodeScalars.allSatisfy({
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_.:-".unicodeScalars.contains($0))
            })
        else {
            throw ConfigurationError("queue name '\(DisplayText.escaped(queue))' must be 1 to 100 letters, digits, '_', '.', ':' or '-'")
        }
        self.queue = queue
        prefix = "intone:{\(queue)}:"
        jobs = prefix + "jobs"
        results = prefix + "results"
        dead = prefix + "dead"
        stats = prefix + "stats"
    }

    var prefixBytes: ByteString { ByteString(prefix) }

    public func audio(jobID: ByteString) -> ByteString { prefixBytes + "audio:" + jobID }
    public func agent(_ agentID: ByteString) -> ByteString { prefixBytes + "agent:" + agentID }
    public func agentBucket(_ agentID: ByteString) -> ByteString { prefixBytes + "rl:agent:" + agentID }
    public func userBucket(_ userID: ByteString) -> ByteString { prefixBytes + "rl:user:" + userID }
    /// The idempotency marker: present once `job_id` has its result; holds its status.
    public func done(jobID: ByteString) -> ByteString { prefixBytes + "done:" + jobID }

    // The same for ids that are text (the command line, tests).
    public func audio(jobID: String) -> String { prefix + "audio:" + jobID }
    public func agent(_ agentID: String) -> String { prefix + "agent:" + agentID }
    public func done(jobID: String) -> String { prefix + "done:" + jobID }
    public func agentBucket(_ agentID: String) -> String { prefix + "rl:agent:" + agentID }
    public func userBucket(_ userID: String) -> String { prefix + "rl:user:" + userID }
    /// Results and audio of one minute, for the console's chart (`QueueHistory`).
    public func minute(_ unixMinute: Int64) -> String { prefix + "minute:" + String(unixMinute) }
    /// A live worker's heartbeat (`WorkerHeartbeat`).
    public func worker(_ consumer: String) -> String { prefix + "worker:" + consumer }
    /// The index of heartbeats: consumer names scored by their last heartbeat.
    public var workers: String { prefix + "workers" }

    /// Whether a `reply_to` may name this key: a key of this queue that is not one of
    /// the worker's own (jobs, dead letters, audio, agents, buckets, markers, …).
    public func acceptsReplyTo(_ key: ByteString) -> Bool {
        guard key.hasPrefix(prefixBytes), key.count > prefixBytes.count else { return false }
        let rest = ByteString(key.bytes.dropFirst(prefixBytes.count))
        for reserved: ByteString in ["jobs", "dead", "stats", "config"] where rest == reserved { return false }
        for reserved: ByteString in ["audio:", "agent:", "rl:", "done:", "worker:", "workers", "minute:"] where rest.hasPrefix(reserved) {
            return false
        }
        return true
    }
}
