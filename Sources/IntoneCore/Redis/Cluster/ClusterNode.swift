/// One node of a cluster as the slot map describes it.
public struct ClusterNode: Hashable, Sendable, CustomStringConvertible {
    public enum Role: String, Hashable, Sendable {
        case master
        case replica
    }

    /// What `CLUSTER SHARDS` says of the node: `online`, `failed`, or `loading`
    /// (a replica still syncing). `CLUSTER SLOTS` says nothing, so `.unknown`.
    public enum Health: String, Hashable, Sendable {
        case online
        case failed
        case loading
        case unknown
    }

    /// The node's 40-character id; empty when the map came from a redirect only.
    public var id: String
    /// Where to connect: the node's preferred endpoint, or its IP when that is unknown.
    public var address: ClusterNodeAddress
    /// The IP the node announces (may equal `address.host`).
    public var ip: String
    public var hostname: String?
    public var role: Role
    public var health: Health
    public var replicationOffset: Int64

    public init(
        id: String, address: ClusterNodeAddress, ip: String, hostname: String? = nil, role: Role, health: Health = .unknown,
        replicationOffset: Int64 = 0
    ) {
        self.id = id
        self.address = address
        self.ip = ip
        self.hostname = hostname
        self.role = role
        self.health = health
        self.replicationOffset = replicationOffset
    }

    public var description: String { "\(role.rawValue) \(address) (\(health.rawValue))" }
}
