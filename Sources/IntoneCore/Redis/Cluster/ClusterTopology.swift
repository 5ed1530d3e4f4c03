/// A cluster's slot map: which shard (master and replicas) serves each of the 16384 slots.
///
/// Read from `CLUSTER SHARDS` (Redis 7.0 and later), or from `CLUSTER SLOTS` on older
/// servers. A value: taking a new map is replacing the value. Slots that no shard
/// serves have no master (the cluster is then down for them, or a failover is under way).
public struct ClusterTopology: Sendable, Equatable, CustomStringConvertible {
    public private(set) var shards: [ClusterShard]
    /// For each slot, the index of its shard in `shards`, or -1.
    private var owner: [Int16]

    public init(shards: [ClusterShard]) {
        self.shards = shards
        owner = [Int16](repeating: -1, count: HashSlot.count)
        for (index, shard) in shards.enumerated() {
            for range in shard.slotRanges where Int(range.upperBound) < HashSlot.count {
                for slot in range { owner[Int(slot)] = Int16(index) }
            }
        }
    }

    /// The shard serving a slot, if any.
    public func shard(for slot: HashSlot) -> ClusterShard? {
        let index = owner[Int(slot.rawValue)]
        return index < 0 ? nil : shards[Int(index)]
    }

    /// The master serving a slot, if the map names one.
    public func master(for slot: HashSlot) -> ClusterNode? {
        shard(for: slot)?.master
    }

    /// Masters that serve at least one slot, in map order.
    public var masters: [ClusterNode] {
        shards.compactMap { $0.slotRanges.isEmpty ? nil : $0.master }
    }

    /// Every node the map names: masters first, then replicas; each address once.
    public var nodes: [ClusterNode] {
        var seen = Set<ClusterNodeAddress>()
        return (shards.compactMap(\.master) + shards.flatMap(\.replicas)).filter { seen.insert($0.address).inserted }
    }

    /// Slots that no shard with a master serves.
    public var unservedSlotCount: Int {
        owner.reduce(0) { count, index in index < 0 || shards[Int(index)].master == nil ? count + 1 : count }
    }

    /// The map with one slot given to the master at `address`, as a MOVED reply says;
    /// a master the map does not know yet gets a shard of its own.
    public func assigning(_ slot: HashSlot, to address: ClusterNodeAddress) -> ClusterTopology {
        var shards = self.shards
        for index in shards.indices {
            shards[index].slotRanges = Self.removing(slot.rawValue, from: shards[index].slotRanges)
        }
        if let index = shards.firstIndex(where: { $0.master?.address == address }) {
            shards[index].slotRanges.append(slot.rawValue...slot.rawValue)
        } else {
            let node = ClusterNode(id: "", address: address, ip: address.host, role: .master)
            shards.append(ClusterShard(slotRanges: [slot.rawValue...slot.rawValue], master: node, replicas: []))
        }
        return ClusterTopology(shards: shards)
    }

    /// One line per shard: its slot ranges, master and replicas.
    public var description: String {
        shards.map { shard in
            let ranges = shard.slotRanges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
            let replicas = shard.replicas.map(\.description).joined(separator: ", ")
            return "\(ranges.joined(separator: ",")) -> \(shard.master?.description ?? "no master") [\(replicas)]"
        }.joined(separator: "\n")
    }

    private static func removing(_ slot: UInt16, from ranges: [ClosedRange<UInt16>]) -> [ClosedRange<UInt16>] {
        ranges.flatMap { range -> [ClosedRange<UInt16>] in
            guard range.contains(slot) else { return [range] }
            var parts: [ClosedRange<UInt16>] = []
            if slot > range.lowerBound { parts.append(range.lowerBound...(slot - 1)) }
            if slot < range.upperBound { parts.append((slot + 1)...range.upperBound) }
            return parts
        }
    }
}

// MARK: - Parsing

extension ClusterTopology {
    /// Parses a `CLUSTER SHARDS` reply (RESP2: flat field/value arrays). `queriedHost` is
    /// the host the command was sent to, used for nodes that announce an empty endpoint.
    public static func parse(shardsReply reply: RedisReply, queriedHost: String) throws(ClusterError) -> ClusterTopology {
        guard let entries = reply.array else { throw bad("CLUSTER SHARDS", reply) }
        var shards: [ClusterShard] = []
        for entry in entries {
            guard let fields = fieldMap(entry) else { throw bad("CLUSTER SHARDS", entry) }
            guard let bounds = fields["slots"]?.array, bounds.count % 2 == 0 else { throw bad("CLUSTER SHARDS", entry) }
            var ranges: [ClosedRange<UInt16>] = []
            for i in stride(from: 0, to: bounds.count, by: 2) {
                guard let range = slotRange(bounds[i], bounds[i + 1]) else { throw bad("CLUSTER SHARDS", entry) }
                ranges.append(range)
            }
            var nodes: [ClusterNode] = []
            for nodeReply in fields["nodes"]?.array ?? [] {
                guard let node = shardsNode(nodeReply, queriedHost: queriedHost) else { throw bad("CLUSTER SHARDS", nodeReply) }
                nodes.append(node)
            }
            // During a failover a shard may list a failed master next to the new one.
            let masters = nodes.filter { $0.role == .master }
            let master = masters.first { $0.health != .failed } ?? masters.first
            let replicas = nodes.filter { $0 != master }
            shards.append(ClusterShard(slotRanges: ranges, master: master, replicas: replicas))
        }
        return ClusterTopology(shards: shards)
    }

    /// Parses a `CLUSTER SLOTS` reply: `[start, end, master, replica…]` per range, each
    /// node `[endpoint, port, id, metadata…]`. Ranges of one master become one shard.
    public static func parse(slotsReply reply: RedisReply, queriedHost: String) throws(ClusterError) -> ClusterTopology {
        guard let entries = reply.array else { throw bad("CLUSTER SLOTS", reply) }
        var shards: [ClusterShard] = []
        var shardOfMaster: [String: Int] = [:]
        for entry in entries {
            guard let parts = entry.array, parts.count >= 3, let range = slotRange(parts[0], parts[1]),
                let master = slotsNode(parts[2], role: .master, queriedHost: queriedHost)
            else { throw bad("CLUSTER SLOTS", entry) }
            var replicas: [ClusterNode] = []
            for part in parts.dropFirst(3) {
                guard let replica = slotsNode(part, role: .replica, queriedHost: queriedHost) else { throw bad("CLUSTER SLOTS", part) }
                replicas.append(replica)
            }
            let key = master.id.isEmpty ? master.address.description : master.id
            if let index = shardOfMaster[key] {
                shards[index].slotRanges.append(range)
                for replica in replicas where !shards[index].replicas.contains(replica) { shards[index].replicas.append(replica) }
            } else {
                shardOfMaster[key] = shards.count
                shards.append(ClusterShard(slotRanges: [range], master: master, replicas: replicas))
            }
        }
        return ClusterTopology(shards: shards)
    }

    private static func bad(_ command: String, _ reply: RedisReply) -> ClusterError {
        ClusterError(.badTopology, "\(command) answered something that is not a slot map: \(String(describing: reply).prefix(200))")
    }

    private static func fieldMap(_ reply: RedisReply) -> [String: RedisReply]? {
        guard let pairs = reply.pairs else { return nil }
        return Dictionary(pairs, uniquingKeysWith: { first, _ in first })
    }

    private static func slotRange(_ low: RedisReply, _ high: RedisReply) -> ClosedRange<UInt16>? {
        guard let low = low.integer, let high = high.integer, low >= 0, low <= high, high < HashSlot.count else { return nil }
        return UInt16(low)...UInt16(high)
    }

    /// The host to connect to: the endpoint, unless it is unknown (`?`, then the IP) or
    /// empty ("the node you asked", then `queriedHost`).
    private static func connectHost(endpoint: String?, ip: String?, queriedHost: String) -> String? {
        switch endpoint {
        case .none, "?": ip.flatMap { $0.isEmpty ? queriedHost : $0 }
        case .some(""): queriedHost
        case .some(let endpoint): endpoint
        }
    }

    private static func shardsNode(_ reply: RedisReply, queriedHost: String) -> ClusterNode? {
        guard let fields = fieldMap(reply), let id = fields["id"]?.string, let port = fields["port"]?.integer,
            let host = connectHost(endpoint: fields["endpoint"]?.string, ip: fields["ip"]?.string, queriedHost: queriedHost)
        else { return nil }
        let role: ClusterNode.Role = fields["role"]?.string == "master" ? .master : .replica
        let health = fields["health"]?.string.flatMap(ClusterNode.Health.init(rawValue:)) ?? .unknown
        return ClusterNode(
            id: id, address: ClusterNodeAddress(host: host, port: Int(port)), ip: fields["ip"]?.string ?? host,
            hostname: fields["hostname"]?.string, role: role, health: health,
            replicationOffset: fields["replication-offset"]?.integer ?? 0)
    }

    private static func slotsNode(_ reply: RedisReply, role: ClusterNode.Role, queriedHost: String) -> ClusterNode? {
        guard let parts = reply.array, parts.count >= 2, let port = parts[1].integer else { return nil }
        let id = parts.count > 2 ? parts[2].string ?? "" : ""
        // Redis 7 adds a map (flat array in RESP2) with `ip` and `hostname`.
        let metadata = parts.count > 3 ? fieldMap(parts[3]) ?? [:] : [:]
        guard let host = connectHost(endpoint: parts[0].string, ip: metadata["ip"]?.string, queriedHost: queriedHost) else { return nil }
        return ClusterNode(
            id: id, address: ClusterNodeAddress(host: host, port: Int(port)), ip: metadata["ip"]?.string ?? host,
            hostname: metadata["hostname"]?.string, role: role)
    }
}
