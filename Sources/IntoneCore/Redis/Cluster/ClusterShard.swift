/// A master, its replicas and the slot ranges it serves.
public struct ClusterShard: Hashable, Sendable {
    /// Inclusive ranges, as `CLUSTER SHARDS` and `CLUSTER SLOTS` give them.
    public var slotRanges: [ClosedRange<UInt16>]
    /// The master; nil for a shard that lists only replicas (its master is gone from the map).
    public var master: ClusterNode?
    public var replicas: [ClusterNode]

    public init(slotRanges: [ClosedRange<UInt16>], master: ClusterNode?, replicas: [ClusterNode]) {
        self.slotRanges = slotRanges
        self.master = master
        self.replicas = replicas
    }

    public var slotCount: Int { slotRanges.reduce(0) { $0 + $1.count } }

    public func serves(_ slot: HashSlot) -> Bool { slotRanges.contains { $0.contains(slot.rawValue) } }
}
