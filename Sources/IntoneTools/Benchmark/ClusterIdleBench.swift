import IntoneCore

#if canImport(Glibc)
    import Glibc
#endif

/// What a sharded queue costs while it is idle: a worker reads each shard on its own
/// (one XREADGROUP cannot span slots), so its calls per second on each master, and how
/// soon a job put on an idle shard is picked up.
public struct ClusterIdleResult: Sendable {
    public var shards: Int
    public var seconds: Int
    /// Commands per second each master ran while the worker was idle (INFO commandstats,
    /// the bench's own INFO calls and the replicas' REPLCONF left out), by address.
    public var callsPerSecond: [(address: String, calls: Double)]
    /// `elapsed_ms` of single jobs put one at a time on idle shards.
    public var pickup: Distribution

    public var json: BenchJSON {
        .object([
            ("kind", .string("cluster_idle")), ("shards", .integer(shards)), ("seconds", .integer(seconds)),
            ("calls_per_s", .object(callsPerSecond.map { ($0.address, .rounded($0.calls, 1)) })), ("pickup_elapsed_ms", pickup.json),
        ])
    }
}

extension Bench {
    /// One worker on a queue of `shards` shards in a local cluster, nothing to do for
    /// `seconds`: the calls each master takes; then 20 jobs, one at a time, each on the
    /// shard its id hashes to, each once the worker is idle again.
    public func clusterIdle(shards: Int, seconds: Int = 10, progress: (String) -> Void) throws -> ClusterIdleResult {
        progress("cluster idle: starting 3 masters and 3 replicas")
        let cluster = try LocalRedisCluster()
        defer { cluster.stop() }
        let masters = try cluster.connections(toEveryNode: false)
        let topology = masters.topology
        let connections = masters.byAddress
        let base = try QueueKeys(queue: "tts")
        let queueShards = QueueShards(base: base, count: shards)
        let connection = masters.master(of:)
        try Self.turnVoiceOff(base, on: connection(base))
        let workers = try WorkerProcesses(
            executable: options.executable, count: 1, url: cluster.url, queue: base.queue,
            arguments: Self.rateArguments(.off) + ["--shards", "\(shards)"], metrics: false)
        defer { workers.stop() }
        let waiter = BenchQueueWaiter(workers: workers, deadline: deadline)
        try waiter.wait(for: "the worker to read every shard", everyMilliseconds: 50) {
            try queueShards.served.allSatisfy { try RedisProbe(try connection($0)).consumers($0) > 0 }
        }
        usleep(2_000_000)

        progress("cluster idle: \(seconds) s with nothing to do")
        func calls() throws -> [ClusterNodeAddress: Double] {
            var result: [ClusterNodeAddress: Double] = [:]
            for (address, connection) in connections {
                let stats = try RedisProbe(connection).commandStats()
                // The bench's INFO, and the replica's replication traffic, are not the worker's.
                result[address] = stats.filter { !["info", "replconf", "psync"].contains($0.key) }.values.reduce(0) { $0 + $1.calls }
            }
            return result
        }
        let before = try calls()
        usleep(useconds_t(seconds) * 1_000_000)
        let after = try calls()
        let perSecond = topology.masters.map { master in
            (address: master.address.description, calls: ((after[master.address] ?? 0) - (before[master.address] ?? 0)) / Double(seconds))
        }.sorted { $0.address < $1.address }

        progress("cluster idle: 20 jobs, one at a time")
        var elapsed: [Double] = []
        for index in 0..<20 {
            let fields = Self.job("p", index, .off)
            let keys = queueShards.keys(forJobID: ByteString(fields[0].1))
            let target = try connection(keys)
            let before = Int(try target.command("XLEN", .string(keys.results)).integer ?? 0)
            _ = try JobProducer(keys: keys).enqueue(fields, on: target)
            try waiter.wait(for: "job \(index) picked up", everyMilliseconds: 2) {
                Int(try target.command("XLEN", .string(keys.results)).integer ?? 0) > before
            }
            let last = try target.command("XREVRANGE", .string(keys.results), "+", "-", "COUNT", "1")
            let entry = Dictionary(
                (last.array?.first?.array?.last?.pairs ?? []).map { ($0.0, $0.1.string ?? "") }, uniquingKeysWith: { first, _ in first })
            if let value = entry["elapsed_ms"].flatMap(Double.init) { elapsed.append(value) }
            usleep(300_000)
        }
        return ClusterIdleResult(shards: shards, seconds: seconds, callsPerSecond: perSecond, pickup: Distribution(elapsed))
    }
}
