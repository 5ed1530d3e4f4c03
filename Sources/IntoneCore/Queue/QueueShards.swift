/// The streams of a queue split into shards (`--shards N`, contract 1.1).
///
/// Shard `i` uses the hash tag `{Q#i}`; a producer puts a job on shard
/// `crc32(job_id) mod N` (zlib's CRC-32), so that a `job_id` enqueued twice lands on the
/// same shard and its done marker answers it once. With N = 1 the queue is the
/// version-1 one (`{Q}`), unchanged. With N > 1 workers serve the version-1 stream
/// `intone:{Q}:jobs` too, so that producers that know nothing of shards keep working.
public struct QueueShards: Sendable, Equatable {
    public let base: QueueKeys
    public let count: Int

    public init(base: QueueKeys, count: Int) {
        self.base = base.queueKeys
        self.count = max(1, count)
    }

    /// Every stream a worker serves, in a fixed order: the shards, then the version-1
    /// stream when there are shards.
    public var served: [QueueKeys] { count == 1 ? [base] : (0..<count).map { base.shard($0) } + [base] }

    /// The shard a producer puts a job with this `job_id` on.
    public func keys(forJobID jobID: ByteString) -> QueueKeys {
        count == 1 ? base : base.shard(ShardRouting.shard(forJobID: jobID.bytes, shards: count))
    }

    /// The shard a producer puts a job with these fields on: its `job_id`'s; without one,
    /// the shard its `reply_to` is a key of (the worker accepts only a key of the job's own
    /// shard), else the one `index` picks, so that jobs without ids are spread.
    public func keys(forJob fields: [(String, String)], index: Int) -> QueueKeys {
        if let jobID = fields.last(where: { $0.0 == "job_id" })?.1, !jobID.isEmpty { return keys(forJobID: ByteString(jobID)) }
        if count > 1, let replyTo = fields.last(where: { $0.0 == "reply_to" })?.1,
            let shard = served.first(where: { $0.shard != nil && replyTo.hasPrefix($0.prefix) })
        {
            return shard
        }
        return keys(forIndex: index)
    }

    /// A shard a producer without a `job_id` may pick (any: the entry id is unique per shard).
    public func keys(forIndex index: Int) -> QueueKeys {
        count == 1 ? base : base.shard(((index % count) + count) % count)
    }
}
