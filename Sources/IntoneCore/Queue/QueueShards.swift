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

    /// A shard a producer without a `job_id` may pick (any: the entry id is unique per shard).
    public func keys(forIndex index: Int) -> QueueKeys {
        count == 1 ? base : base.shard(((index % count) + count) % count)
    }
}
