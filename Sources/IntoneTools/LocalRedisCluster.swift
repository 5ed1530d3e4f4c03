import Foundation
import IntoneCore

#if canImport(Glibc)
    import Glibc
#endif

/// A Redis Cluster on loopback for a bench run: `2 × masters` private `redis-server`s in
/// cluster mode, made into `masters` masters with one replica each by
/// `redis-cli --cluster create`, and waited for until every node says
/// `cluster_state:ok` and every replica's link is up.
public final class LocalRedisCluster {
    public private(set) var servers: [EmbeddedRedisServer] = []
    /// `cluster-node-timeout`, in milliseconds: a killed master's replica takes over
    /// about this long after.
    public let nodeTimeoutMilliseconds: Int

    public init(masters: Int = 3, nodeTimeoutMilliseconds: Int = 2000) throws {
        self.nodeTimeoutMilliseconds = nodeTimeoutMilliseconds
        guard let redisCLI = EmbeddedRedisServer.findInPath("redis-cli") else {
            throw EmbeddedRedisError("redis-cli is not installed (apt-get install -y redis-server)")
        }
        do {
            var used = Set<Int>()
            for _ in 0..<(2 * masters) {
                let port = try Self.freePort(excluding: &used)
                let busPort = try Self.freePort(excluding: &used)
                servers.append(
                    try EmbeddedRedisServer(
                        port: port,
                        extraArguments: [
                            "--cluster-enabled", "yes", "--cluster-port", "\(busPort)", "--cluster-config-file", "nodes-\(port).conf",
                            "--cluster-node-timeout", "\(nodeTimeoutMilliseconds)",
                        ]))
            }
            let create = try Self.run(
                redisCLI, ["--cluster", "create"] + servers.map { "127.0.0.1:\($0.port)" } + ["--cluster-replicas", "1", "--cluster-yes"])
            guard create.status == 0 else {
                throw EmbeddedRedisError("redis-cli --cluster create failed (\(create.status)): \(create.output.suffix(2000))")
            }
            try waitUntilHealthy(masters: masters, seconds: 60)
        } catch {
            stop()
            throw error
        }
    }

    deinit { stop() }

    public func stop() {
        for server in servers { server.stop() }
        servers = []
    }

    /// The URL a worker's `--redis` names: the first node.
    public var url: String { "redis://127.0.0.1:\(servers[0].port)" }

    public func connect(_ address: ClusterNodeAddress) throws -> RedisConnection {
        try RedisConnection(
            url: RedisURL(endpoint: .tcp(host: address.host, port: address.port)), connectTimeoutMilliseconds: 1000,
            commandTimeoutMilliseconds: 60_000)
    }

    /// The map as the first node that answers sees it.
    public func topology() throws -> ClusterTopology {
        var failure: Error = EmbeddedRedisError("no node answers")
        for server in servers {
            do {
                let connection = try connect(ClusterNodeAddress(host: "127.0.0.1", port: server.port))
                return try ClusterDiscovery.readTopology(from: connection, queriedHost: "127.0.0.1")
            } catch {
                failure = error
            }
        }
        throw failure
    }

    /// The map as it is now and a connection to each of `nodes` (the masters, or every
    /// node), with the master of a queue's keys looked up in it.
    public struct Connections {
        public let topology: ClusterTopology
        public let byAddress: [ClusterNodeAddress: RedisConnection]

        /// The connection to the master that serves `keys` (their jobs stream's slot).
        public func master(of keys: QueueKeys) throws -> RedisConnection {
            let slot = HashSlot(forKey: keys.jobs)
            guard let master = topology.master(for: slot), let connection = byAddress[master.address] else {
                throw EmbeddedRedisError("no master serves slot \(slot)")
            }
            return connection
        }
    }

    public func connections(toEveryNode: Bool) throws -> Connections {
        let topology = try topology()
        var byAddress: [ClusterNodeAddress: RedisConnection] = [:]
        for node in toEveryNode ? topology.nodes : topology.masters { byAddress[node.address] = try connect(node.address) }
        return Connections(topology: topology, byAddress: byAddress)
    }

    /// `kill -9` of the master serving `slot`: its replica takes over about
    /// `nodeTimeoutMilliseconds` later.
    public func killMaster(serving slot: HashSlot) throws -> ClusterNodeAddress {
        guard let master = try topology().master(for: slot),
            let server = servers.first(where: { $0.port == master.address.port })
        else { throw EmbeddedRedisError("no master serves slot \(slot)") }
        // SIGKILL to the server itself: `EmbeddedRedisServer.kill()` alone sends SIGTERM,
        // and a Redis 7 master told to shut down first waits up to `shutdown-timeout`
        // (10 s) for its replicas, with writes paused: not a crash.
        let info = try connect(master.address).command("INFO", "server").string ?? ""
        guard let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("process_id:") }),
            let pid = Int32(line.dropFirst("process_id:".count))
        else { throw EmbeddedRedisError("no process_id in INFO server of \(master.address)") }
        guard Glibc.kill(pid, SIGKILL) == 0 else { throw EmbeddedRedisError("kill -9 \(pid) failed") }
        server.kill()
        return master.address
    }

    private func waitUntilHealthy(masters: Int, seconds: Int) throws {
        let deadline = Monotonic.milliseconds() + Int64(seconds) * 1000
        while Monotonic.milliseconds() < deadline {
            if healthy(masters: masters) { return }
            usleep(100_000)
        }
        throw EmbeddedRedisError("the cluster was not healthy after \(seconds) s")
    }

    private func healthy(masters: Int) -> Bool {
        for server in servers {
            guard let connection = try? connect(ClusterNodeAddress(host: "127.0.0.1", port: server.port)),
                let info = try? connection.command("CLUSTER", "INFO").string, info.contains("cluster_state:ok"),
                let topology = try? ClusterDiscovery.readTopology(from: connection, queriedHost: "127.0.0.1"),
                topology.masters.count == masters, topology.unservedSlotCount == 0,
                let replication = try? connection.command("INFO", "replication").string
            else { return false }
            if replication.contains("role:slave") && !replication.contains("master_link_status:up") { return false }
        }
        return true
    }

    private static func freePort(excluding used: inout Set<Int>) throws -> Int {
        for _ in 0..<100 {
            let port = try LocalPorts.free()
            if used.insert(port).inserted { return port }
        }
        throw EmbeddedRedisError("no free port")
    }

    /// Runs `redis-cli` to its end, killed after `seconds` (a node that never answers
    /// must not hang a bench or a test run).
    private static func run(_ executable: String, _ arguments: [String], seconds: Int = 60) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let deadline = Monotonic.milliseconds() + Int64(seconds) * 1000
        while process.isRunning && Monotonic.milliseconds() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw EmbeddedRedisError("\(executable) \(arguments.prefix(2).joined(separator: " ")) did not finish in \(seconds) s")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
