/// The Redis keys of one queue (or one shard of it), as the contract names them.
///
/// Every key carries a hash tag, so that in Redis Cluster what one transaction or script
/// touches lives in one slot: `{Q}` for an unsharded queue, `{Q#i}` for shard `i` of a
/// queue split into shards (`--shards`). A shard has its own jobs, results, dead
/// letters, audio, done markers, counters and per-minute history; what is shared by the
/// whole queue (agent settings, token buckets, heartbeats, the queue's configuration)
/// stays under `{Q}`.
///
/// Keys that hold an id (`audio:<job_id>`, `agent:<agent_id>`…) are built from the id's
/// bytes (`ByteString`): ids are never decoded to text on their way into a key.
///
/// The names are made once and shared: every job in hand carries its shard's keys, so a
/// copy is one reference, and equality and hashing look at the queue and shard only.
public struct QueueKeys: Sendable, Equatable, Hashable {
    /// The names of one shard's keys, made once.
    private final class Names: Sendable {
        let queue: String
        let shard: Int?
        let prefix: String
        let queuePrefix: String
        let jobs: String
        let results: String
        let dead: String
        let stats: String
        let prefixBytes: ByteString
        let queuePrefixBytes: ByteString
        let resultsBytes: ByteString

        init(queue: String, shard: Int?) {
            self.queue = queue
            self.shard = shard
            queuePrefix = "intone:{\(queue)}:"
            prefix = shard.map { "intone:{\(queue)#\($0)}:" } ?? queuePrefix
            jobs = prefix + "jobs"
            results = prefix + "results"
            dead = prefix + "dead"
            stats = prefix + "stats"
            prefixBytes = ByteString(prefix)
            queuePrefixBytes = ByteString(queuePrefix)
            resultsBytes = ByteString(results)
        }
    }

    private let names: Names

    public var queue: String { names.queue }
    /// The shard these keys are of: nil for the queue's own keys (`{Q}`, which an
    /// unsharded queue and the version-1 stream of a sharded one use).
    public var shard: Int? { names.shard }
    /// `intone:{Q}:` or `intone:{Q#i}:`, the prefix of every key of the shard.
    public var prefix: String { names.prefix }
    /// `intone:{Q}:`, the prefix of the keys shared by the whole queue.
    public var queuePrefix: String { names.queuePrefix }
    public var jobs: String { names.jobs }
    public var results: String { names.results }
    public var dead: String { names.dead }
    /// Counters the worker keeps: results by status and `audio_ms` (a fixed set of fields).
    public var stats: String { names.stats }
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
        names = Names(queue: queue, shard: nil)
    }

    /// The keys of shard `index` of this queue (hash tag `{Q#i}`).
    public func shard(_ index: Int) -> QueueKeys { QueueKeys(queue: queue, shard: index) }

    /// The keys of the whole queue (`{Q}`), whatever shard these are of.
    public var queueKeys: QueueKeys { shard == nil ? self : QueueKeys(queue: queue, shard: nil) }

    private init(queue: String, shard: Int?) {
        names = Names(queue: queue, shard: shard)
    }

    public static func == (left: QueueKeys, right: QueueKeys) -> Bool {
        left.names === right.names || (left.names.shard == right.names.shard && left.names.queue == right.names.queue)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(names.queue)
        hasher.combine(names.shard)
    }

    /// The hash tag's content: `Q` or `Q#i`.
    public var tag: String { shard.map { "\(queue)#\($0)" } ?? queue }

    /// The queue's configuration (field `shards`), shared by every shard.
    public var config: String { queuePrefix + "config" }

    var prefixBytes: ByteString { names.prefixBytes }
    var queuePrefixBytes: ByteString { names.queuePrefixBytes }
    /// `results` as bytes, to compare with a job's result stream.
    public var resultsBytes: ByteString { names.resultsBytes }

    public func audio(jobID: ByteString) -> ByteString { Self.key(prefixBytes, "audio:", jobID) }
    public func agent(_ agentID: ByteString) -> ByteString { Self.key(queuePrefixBytes, "agent:", agentID) }
    public func agentBucket(_ agentID: ByteString) -> ByteString { Self.key(queuePrefixBytes, "rl:agent:", agentID) }
    public func userBucket(_ userID: ByteString) -> ByteString { Self.key(queuePrefixBytes, "rl:user:", userID) }
    /// The idempotency marker: present once `job_id` has its result; holds its status.
    public func done(jobID: ByteString) -> ByteString { Self.key(prefixBytes, "done:", jobID) }

    /// Prefix, kind and id in one allocation (a key is made for every job, several times).
    private static func key(_ prefix: ByteString, _ kind: StaticString, _ id: ByteString) -> ByteString {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(prefix.bytes.count + kind.utf8CodeUnitCount + id.bytes.count)
        bytes += prefix.bytes
        kind.withUTF8Buffer { bytes += $0 }
        bytes += id.bytes
        return ByteString(bytes)
    }

    // The same for ids that are text (the command line, tests).
    public func audio(jobID: String) -> String { prefix + "audio:" + jobID }
    public func agent(_ agentID: String) -> String { queuePrefix + "agent:" + agentID }
    public func done(jobID: String) -> String { prefix + "done:" + jobID }
    public func agentBucket(_ agentID: String) -> String { queuePrefix + "rl:agent:" + agentID }
    public func userBucket(_ userID: String) -> String { queuePrefix + "rl:user:" + userID }
    /// Results and audio of one minute, for the console's chart (`QueueHistory`).
    public func minute(_ unixMinute: Int64) -> String { prefix + "minute:" + String(unixMinute) }
    /// A live worker's heartbeat (`WorkerHeartbeat`), per queue.
    public func worker(_ consumer: String) -> String { queuePrefix + "worker:" + consumer }
    /// The index of heartbeats: consumer names scored by their last heartbeat.
    public var workers: String { queuePrefix + "workers" }

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
