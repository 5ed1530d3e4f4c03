import Foundation
import IntoneTools
import Testing

@testable import IntoneCore

/// A real Redis Cluster on loopback for one suite: IntoneTools' `LocalRedisCluster`
/// (six `redis-server`s in cluster mode, three masters and three replicas, made by
/// `redis-cli --cluster create`, each under `EmbeddedRedisServer`, so none outlives the
/// test process), with what the tests do to it: a stricter wait for health, `kill -9` of
/// a master, slot migrations. `stop()` stops every server and removes their folders.
/// Every wait has a deadline and fails with a sentence that says what.
final class TestCluster: @unchecked Sendable {
    struct Node {
        var port: Int
        var server: EmbeddedRedisServer
        /// False once `kill -9`'d.
        var alive = true
        var address: ClusterNodeAddress { ClusterNodeAddress(host: "127.0.0.1", port: port) }
    }

    /// `cluster-node-timeout` of every node, in milliseconds.
    static let nodeTimeoutMilliseconds = 2000
    private let local: LocalRedisCluster
    private(set) var nodes: [Node] = []

    /// Starts the cluster and waits (up to 60 s) until every node says
    /// `cluster_state:ok`, all agree on the map and every master's replica is online.
    init() throws {
        local = try LocalRedisCluster(masters: 3, nodeTimeoutMilliseconds: Self.nodeTimeoutMilliseconds)
        nodes = local.servers.map { Node(port: $0.port, server: $0) }
        do {
            try waitUntilHealthy(seconds: 60)
        } catch {
            stop()
            throw error
        }
    }

    deinit { stop() }

    /// Stops every server (those still running) and removes their folders.
    func stop() {
        local.stop()
        nodes = []
    }

    /// A URL for a node, as a worker's `--redis` would name it.
    func url(_ index: Int = 0) -> RedisURL { RedisURL(endpoint: .tcp(host: "127.0.0.1", port: liveNodes[index].port)) }

    var liveNodes: [Node] { nodes.filter(\.alive) }

    func connect(_ address: ClusterNodeAddress) throws -> RedisConnection {
        try RedisConnection(
            url: RedisURL(endpoint: .tcp(host: address.host, port: address.port)), connectTimeoutMilliseconds: 1000,
            commandTimeoutMilliseconds: 5000)
    }

    /// The map as a live node sees it.
    func topology() throws -> ClusterTopology {
        let node = liveNodes[0]
        return try ClusterDiscovery.readTopology(from: try connect(node.address), queriedHost: "127.0.0.1")
    }

    /// Waits until every live node says `cluster_state:ok`, all of them route every slot
    /// the same way, and every master that has replicas has them online and linked.
    func waitUntilHealthy(seconds: Double, requireReplicas: Bool = true) throws {
        try waitFor("a healthy cluster (state ok, one map, replicas online)", seconds: seconds) {
            var routes: Set<String> = []
            for node in liveNodes {
                guard let connection = try? connect(node.address),
                    let info = try? connection.command("CLUSTER", "INFO").string, info.contains("cluster_state:ok"),
                    let topology = try? ClusterDiscovery.readTopology(from: connection, queriedHost: "127.0.0.1")
                else { return false }
                routes.insert(topology.shards.map { "\($0.slotRanges) \($0.master?.address.description ?? "-")" }.sorted().joined())
                guard topology.masters.count == 3, topology.unservedSlotCount == 0,
                    topology.masters.allSatisfy({ $0.health == .online })
                else { return false }
                if requireReplicas {
                    let live = Set(liveNodes.map(\.address))
                    for shard in topology.shards where !shard.slotRanges.isEmpty {
                        let replicas = shard.replicas.filter { live.contains($0.address) }
                        guard !replicas.isEmpty, replicas.allSatisfy({ $0.health == .online }) else { return false }
                    }
                }
            }
            guard routes.count == 1 else { return false }
            if requireReplicas {
                for node in liveNodes {
                    guard let info = try? connect(node.address).command("INFO", "replication").string else { return false }
                    if info.contains("role:slave") && !info.contains("master_link_status:up") { return false }
                }
            }
            return true
        }
    }

    // MARK: - Failover

    /// `kill -9`s the master serving `slot` (it must have a live replica) and returns its
    /// address and its replica's; the replica takes over about `cluster-node-timeout` later.
    func killMaster(serving slot: HashSlot) throws -> (master: ClusterNodeAddress, replica: ClusterNodeAddress) {
        let topology = try topology()
        guard let shard = topology.shard(for: slot), let master = shard.master,
            let replica = shard.replicas.first(where: { node in liveNodes.contains { $0.address == node.address } })
        else { throw TestSupportError("slot \(slot) has no master with a live replica:\n\(topology)") }
        guard let index = nodes.firstIndex(where: { $0.address == master.address }) else {
            throw TestSupportError("\(master.address) is not one of this cluster's nodes")
        }
        let info = try connect(master.address).command("INFO", "server").string ?? ""
        guard let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("process_id:") }),
            let pid = Int32(line.dropFirst("process_id:".count))
        else { throw TestSupportError("no process_id in INFO server of \(master.address)") }
        guard kill(pid, SIGKILL) == 0 else { throw TestSupportError("kill -9 \(pid) failed: \(String(cString: strerror(errno)))") }
        nodes[index].alive = false
        // The signal lands a moment later; until then the kernel still completes connects.
        try waitFor("\(master.address) to refuse connections after kill -9", seconds: 5) { (try? connect(master.address)) == nil }
        return (master.address, replica.address)
    }

    /// Waits until `replica` is a master serving slots, as it sees itself.
    func waitForPromotion(of replica: ClusterNodeAddress, seconds: Double) throws {
        try waitFor("\(replica) to be promoted", seconds: seconds) {
            guard let connection = try? connect(replica), let role = try? connection.command("ROLE").array?.first?.string else {
                return false
            }
            return role == "master"
        }
    }

    // MARK: - Slot migration

    struct Migration {
        var slot: HashSlot
        var source: ClusterNode
        var target: ClusterNode
    }

    /// Marks `slot` MIGRATING on its master and IMPORTING on another master: from now on
    /// the source answers ASK for keys it does not hold.
    func beginMigration(of slot: HashSlot) throws -> Migration {
        let topology = try topology()
        guard let source = topology.master(for: slot), let target = topology.masters.first(where: { $0.address != source.address })
        else { throw TestSupportError("no two masters for a migration:\n\(topology)") }
        try connect(target.address).command("CLUSTER", "SETSLOT", .integer(Int(slot.rawValue)), "IMPORTING", .string(source.id))
        try connect(source.address).command("CLUSTER", "SETSLOT", .integer(Int(slot.rawValue)), "MIGRATING", .string(target.id))
        return Migration(slot: slot, source: source, target: target)
    }

    /// Moves every key of the slot from the source to the target with MIGRATE.
    func moveKeys(_ migration: Migration) throws {
        let source = try connect(migration.source.address)
        while true {
            let keys = try source.command("CLUSTER", "GETKEYSINSLOT", .integer(Int(migration.slot.rawValue)), 100).array ?? []
            if keys.isEmpty { return }
            let names = keys.compactMap(\.bytes).map(RedisArgument.bytes)
            try source.command(
                ["MIGRATE", .string(migration.target.address.host), .integer(migration.target.address.port), "", 0, 5000, "KEYS"] + names)
        }
    }

    /// Gives the slot to the target, on the target first, then on every other master (as
    /// `redis-cli --cluster reshard` does): from now on the source answers MOVED.
    func finishMigration(_ migration: Migration) throws {
        let slot = RedisArgument.integer(Int(migration.slot.rawValue))
        let masters = try topology().masters
        try connect(migration.target.address).command("CLUSTER", "SETSLOT", slot, "NODE", .string(migration.target.id))
        try connect(migration.source.address).command("CLUSTER", "SETSLOT", slot, "NODE", .string(migration.target.id))
        for master in masters where master.address != migration.source.address && master.address != migration.target.address {
            try connect(master.address).command("CLUSTER", "SETSLOT", slot, "NODE", .string(migration.target.id))
        }
    }

    // MARK: - Helpers

    /// Polls `condition` every 50 ms until it holds; throws after `seconds`.
    func waitFor(_ what: String, seconds: Double, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return }
            usleep(50_000)
        }
        let map = (try? topology().description) ?? "(no map)"
        throw TestSupportError("waited \(seconds) s for \(what); the map now:\n\(map)")
    }
}

/// The suite's cluster, set by the `.redisCluster` trait.
enum TestClusterContext {
    @TaskLocal static var cluster: TestCluster?

    static func current() throws -> TestCluster {
        guard let cluster else { throw TestSupportError("this suite needs the .redisCluster trait") }
        return cluster
    }
}

/// Starts one six-node cluster for a whole suite and stops it after. Starting one takes
/// a few seconds, so cluster suites are few and their tests share it (and run serialized).
struct RedisClusterTrait: SuiteTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let cluster = try TestCluster()
        defer { cluster.stop() }
        try await TestClusterContext.$cluster.withValue(cluster) { try await function() }
    }
}

extension Trait where Self == RedisClusterTrait {
    static var redisCluster: Self { Self() }
}
