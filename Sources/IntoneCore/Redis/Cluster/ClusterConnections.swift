import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The worker's view of a Redis Cluster: the current slot map, shared by all lanes, and
/// the means to connect a lane to the master of its slot and to follow the cluster when
/// it changes (MOVED, failover).
///
/// Each lane gets its own `ClusterSlotConnection` (one connection per lane, not one per
/// master): a lane blocks in `XREADGROUP … BLOCK`, keeps replies outstanding between a
/// write and a read, and runs MULTI/EXEC and WATCH, all of which are per connection; a
/// shared connection would make lanes wait on each other and mix their replies. Lanes
/// are few (shards + 1 per worker), so connections stay few.
///
/// Thread-safe; its calls block (connects, `CLUSTER SHARDS`, backoff sleeps), so they
/// belong on a lane's own thread, never on Swift's cooperative pool. Every wait is
/// bounded by `options` and ends in a `ClusterError`; `stop()` ends them early.
public final class ClusterConnections: Sendable {
    /// The URL given at start: any node of the cluster, and the credentials for all.
    public let url: RedisURL
    public let options: ClusterOptions
    let logger: Logger
    private let state: Mutex<MapState>
    /// The connection the map is read on; held while a refresh runs, so that lanes that
    /// lose the same master at once cause one refresh, not one each.
    private let mapReader = Mutex<MapReader>(MapReader())
    private let stopped = Atomic<Bool>(false)

    private struct MapState {
        var topology: ClusterTopology
        /// Goes up by one with every map taken (refresh or MOVED).
        var version: Int
    }

    private struct MapReader {
        var connection: RedisConnection?
        var address: ClusterNodeAddress?
    }

    /// Validates the URL (TCP, database 0) and reads the map from any node, unless
    /// `topology` (from `ClusterDiscovery.probe`) is given.
    public init(url: RedisURL, topology: ClusterTopology? = nil, options: ClusterOptions = ClusterOptions(), logger: Logger)
        throws(ClusterError)
    {
        try ClusterDiscovery.validate(url)
        self.url = url
        self.options = options
        self.logger = logger
        state = Mutex(MapState(topology: topology ?? ClusterTopology(shards: []), version: topology == nil ? 0 : 1))
        if topology == nil { _ = try refreshTopology() }
    }

    /// The map as last read.
    public var topology: ClusterTopology { state.withLock { $0.topology } }

    /// How many maps have been taken so far (for tests and metrics).
    public var mapVersion: Int { state.withLock { $0.version } }

    /// The master of a slot in the current map.
    public func master(for slot: HashSlot) -> ClusterNodeAddress? {
        state.withLock { $0.topology.master(for: slot)?.address }
    }

    /// A lane's connection to the master of `slot`; waits (bounded by the failover
    /// timeout) while the slot has no reachable master.
    public func connection(for slot: HashSlot) throws(ClusterError) -> ClusterSlotConnection {
        try ClusterSlotConnection(slot: slot, cluster: self)
    }

    /// Ends every wait of these connections (backoff, failover) with `ClusterError.stopped`.
    public func stop() { stopped.store(true, ordering: .relaxed) }

    public var isStopped: Bool { stopped.load(ordering: .relaxed) }

    /// Reads the map again from the first node that answers: `preferring` first (the
    /// node a MOVED named), then the node read last, the URL's node and every node of the
    /// current map. When another lane took a map after `version`, that map is returned
    /// without asking again. Each node tried costs at most the connect and map timeouts.
    @discardableResult
    public func refreshTopology(preferring: ClusterNodeAddress? = nil, unlessNewerThan version: Int? = nil) throws(ClusterError)
        -> ClusterTopology
    {
        try mapReader.withLock { reader throws(ClusterError) -> ClusterTopology in
            let current = state.withLock { $0 }
            if let version, current.version > version { return current.topology }
            var failures: [String] = []
            for address in candidates(preferring: preferring, reader: reader.address, topology: current.topology) {
                guard !isStopped else { throw ClusterError(.stopped, "stopped while reading the cluster map") }
                var connection: RedisConnection
                if address == reader.address, let open = reader.connection, !open.isBroken {
                    connection = open
                } else {
                    do throws(ClusterError) {
                        connection = try connect(to: address, commandTimeoutMilliseconds: options.mapTimeoutMilliseconds)
                    } catch {
                        failures.append(error.message)
                        continue
                    }
                }
                let topology: ClusterTopology
                do throws(ClusterError) {
                    topology = try ClusterDiscovery.readTopology(from: connection, queriedHost: address.host)
                } catch {
                    failures.append("\(address): \(error.message)")
                    if address == reader.address { reader.connection = nil }
                    continue
                }
                // A node that has just (re)started may know no slots yet: ask another.
                guard !topology.masters.isEmpty else {
                    failures.append("\(address) knows no slots yet")
                    continue
                }
                reader.connection = connection
                reader.address = address
                take(topology, from: address)
                return topology
            }
            throw ClusterError(
                .noReachableNode, "no node of the cluster at \(url) answered with a slot map: \(failures.joined(separator: "; "))")
        }
    }

    /// Takes the slot given by a MOVED reply into the map at once (the redirect is newer
    /// than any map read so far).
    func noteMoved(_ slot: HashSlot, to address: ClusterNodeAddress) {
        state.withLock { state in
            guard state.topology.master(for: slot)?.address != address else { return }
            state.topology = state.topology.assigning(slot, to: address)
            state.version += 1
        }
    }

    /// Connects to the master of `slot`, refreshing the map and backing off while it has
    /// none that answers, until the failover timeout: after a master died, its replica
    /// takes over once the cluster has marked it failed (about `cluster-node-timeout`
    /// plus an election).
    func connectToMaster(of slot: HashSlot) throws(ClusterError) -> (ClusterNodeAddress, RedisConnection) {
        let started = Monotonic.milliseconds()
        let deadline = started + Int64(options.failoverTimeoutMilliseconds)
        var attempt = 0
        var seen = mapVersion
        var problem = "no master in the map"
        while true {
            guard !isStopped else { throw ClusterError(.stopped, "stopped while waiting for a master of slot \(slot)") }
            if let address = master(for: slot) {
                do {
                    return (address, try connectAndPing(address))
                } catch {
                    problem = error.message
                }
            } else {
                problem = "the map has no master for slot \(slot)"
            }
            let now = Monotonic.milliseconds()
            guard now < deadline else {
                throw ClusterError(
                    .noMaster,
                    "slot \(slot) had no reachable master for \(now - started) ms (failover timeout \(options.failoverTimeoutMilliseconds) ms); last: \(problem)"
                )
            }
            try sleep(milliseconds: min(Int64(options.backoff.delay(attempt: attempt)), deadline - now))
            attempt += 1
            do {
                try refreshTopology(unlessNewerThan: seen)
            } catch {
                if error.code == .stopped { throw error }
                problem = error.message
            }
            seen = mapVersion
        }
    }

    /// One attempt at a connection to the master of `slot`: the master the map names, or,
    /// when it does not answer, the one a fresh map names. Never waits for a failover: the
    /// caller retries with its own backoff (the worker's loop must not stop for one lane).
    public func connectOnce(to slot: HashSlot) throws(ClusterError) -> RedisConnection {
        if let address = master(for: slot), let connection = try? connectAndPing(address) { return connection }
        try refreshTopology()
        guard let address = master(for: slot) else { throw ClusterError(.noMaster, "the cluster map has no master for slot \(slot)") }
        return try connectAndPing(address)
    }

    /// A connection to a master that answered PING. A TCP connect alone proves little: the
    /// kernel completes it for a process that is dying, hung or still loading its data.
    private func connectAndPing(_ address: ClusterNodeAddress) throws(ClusterError) -> RedisConnection {
        let connection = try connect(to: address, commandTimeoutMilliseconds: options.connectTimeoutMilliseconds)
        let reply: RedisReply
        do {
            reply = try connection.send(RedisCommands(["PING"]))[0]
        } catch {
            throw ClusterError(.connection, "cluster node \(address) does not answer: \(error.message)")
        }
        if let message = reply.errorMessage { throw ClusterError(.connection, "cluster node \(address) answered PING with \(message)") }
        connection.setCommandTimeout(milliseconds: options.commandTimeoutMilliseconds)
        return connection
    }

    /// A connection to one node with the URL's credentials.
    func connect(to address: ClusterNodeAddress, commandTimeoutMilliseconds: Int) throws(ClusterError) -> RedisConnection {
        do {
            return try RedisConnection(
                url: address.url(credentialsFrom: url), connectTimeoutMilliseconds: options.connectTimeoutMilliseconds,
                commandTimeoutMilliseconds: commandTimeoutMilliseconds)
        } catch {
            throw ClusterError(.connection, "cannot connect to cluster node \(address): \(error.message)")
        }
    }

    /// Sleeps on the calling thread in short steps, so that `stop()` is noticed.
    func sleep(milliseconds: Int64) throws(ClusterError) {
        let end = Monotonic.milliseconds() + max(0, milliseconds)
        while true {
            guard !isStopped else { throw ClusterError(.stopped, "stopped while backing off") }
            let left = end - Monotonic.milliseconds()
            if left <= 0 { return }
            usleep(UInt32(min(left, 50) * 1000))
        }
    }

    private func candidates(preferring: ClusterNodeAddress?, reader: ClusterNodeAddress?, topology: ClusterTopology) -> [ClusterNodeAddress]
    {
        var seed: [ClusterNodeAddress] = []
        if case .tcp(let host, let port) = url.endpoint { seed = [ClusterNodeAddress(host: host, port: port)] }
        var seen = Set<ClusterNodeAddress>()
        return ([preferring, reader].compactMap { $0 } + seed + topology.nodes.filter { $0.health != .failed }.map(\.address))
            .filter { seen.insert($0).inserted }
    }

    private func take(_ topology: ClusterTopology, from address: ClusterNodeAddress) {
        let changed = state.withLock { state -> Bool in
            // The first map is no change (the worker's start line says where it runs).
            let changed = !state.topology.shards.isEmpty && Self.routing(of: state.topology) != Self.routing(of: topology)
            state.topology = topology
            state.version += 1
            return changed
        }
        if changed {
            logger.info(
                "cluster map changed",
                metadata: ["cluster.node": "\(address)", "cluster.masters": "\(topology.masters.map(\.address.description).sorted())"])
        }
    }

    /// What routing depends on: each slot range's master.
    private static func routing(of topology: ClusterTopology) -> [String] {
        topology.shards.map { shard in
            "\(shard.slotRanges.map { "\($0.lowerBound)-\($0.upperBound)" }) \(shard.master?.address.description ?? "-")"
        }.sorted()
    }
}
