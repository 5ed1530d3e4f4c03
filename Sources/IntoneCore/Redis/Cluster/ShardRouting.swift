/// The contract's rule for splitting a queue into shards (pure; no Redis).
///
/// Shard `i` of queue `Q` lives under the hash tag `{Q#i}` (plain decimal `i`), so all
/// of its keys share one slot and a write-back touches one master. With one shard the
/// tag is `{Q}`, the tag of version 1; per-queue keys (agent settings, token buckets,
/// statistics, heartbeats) stay under `{Q}` whatever the shard count. A job's shard is
/// `crc32(job_id) mod N` with zlib's CRC-32, so producers in any language agree.
public enum ShardRouting {
    /// Where one shard of a queue lands in a cluster.
    public struct Placement: Sendable, Equatable, CustomStringConvertible {
        public var shard: Int
        public var hashTag: String
        public var slot: HashSlot
        /// The master serving the slot in the map given; nil while the slot is unserved.
        public var master: ClusterNodeAddress?

        public var description: String { "\(hashTag) slot \(slot) -> \(master?.description ?? "no master")" }
    }

    /// The hash tag of shard `shard` of `shards`: `{Q#i}`, or `{Q}` when there is one shard.
    public static func hashTag(queue: String, shard: Int, shards: Int) -> String {
        shards == 1 ? queueHashTag(queue: queue) : "{\(queue)#\(shard)}"
    }

    /// The tag of the keys shared by all shards of a queue: `{Q}`.
    public static func queueHashTag(queue: String) -> String { "{\(queue)}" }

    /// `intone:{Q#i}:`, the prefix of every key of one shard.
    public static func keyPrefix(queue: String, shard: Int, shards: Int) -> String {
        "intone:" + hashTag(queue: queue, shard: shard, shards: shards) + ":"
    }

    /// The slot that holds every key of one shard.
    public static func slot(queue: String, shard: Int, shards: Int) -> HashSlot {
        HashSlot(forKey: hashTag(queue: queue, shard: shard, shards: shards))
    }

    /// The shard of a job: CRC-32 of its id's bytes, modulo the shard count (at least 1).
    public static func shard(forJobID jobID: [UInt8], shards: Int) -> Int {
        guard shards > 1 else { return 0 }
        return Int(crc32(jobID) % UInt32(shards))
    }

    /// Which master serves each shard of a queue in a given map. Shard tags are few and
    /// hashed, so they seldom spread evenly over masters (`{tts#0}`…`{tts#5}` do not on a
    /// default three-master cluster); this shows an operator where each one landed.
    public static func placement(queue: String, shards: Int, in topology: ClusterTopology) -> [Placement] {
        (0..<max(shards, 1)).map { shard in
            let slot = slot(queue: queue, shard: shard, shards: shards)
            return Placement(
                shard: shard, hashTag: hashTag(queue: queue, shard: shard, shards: shards), slot: slot,
                master: topology.master(for: slot)?.address)
        }
    }

    /// How many shards each master serves, for a log line or a warning about skew.
    public static func shardsPerMaster(_ placements: [Placement]) -> [ClusterNodeAddress: Int] {
        var counts: [ClusterNodeAddress: Int] = [:]
        for placement in placements {
            if let master = placement.master { counts[master, default: 0] += 1 }
        }
        return counts
    }

    /// CRC-32/ISO-HDLC (zlib's `crc32`, Python's `zlib.crc32`): reflected polynomial
    /// 0xEDB88320, initial value and final XOR 0xFFFFFFFF.
    public static func crc32<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc = (crc >> 8) ^ crc32Table[Int(UInt8(truncatingIfNeeded: crc) ^ byte)]
        }
        return crc ^ 0xFFFF_FFFF
    }

    private static let crc32Table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        return crc
    }
}
