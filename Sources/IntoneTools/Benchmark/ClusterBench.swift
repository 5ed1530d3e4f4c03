import IntoneCore

#if canImport(Glibc)
    import Glibc
#endif

/// The `off` workload on a local Redis Cluster with a sharded queue: jobs/s, and the
/// Redis CPU per job each master spent, to show how one queue's cost spreads over the
/// masters. On one small machine every node shares the same cores, so the spread shows
/// in CPU per job per master, not in jobs/s.
public struct ClusterResult: Sendable {
    public struct Master: Sendable {
        public var address: String
        public var shards: Int
        /// Whether the queue's own slot (`{Q}`: agent settings, buckets) is on it.
        public var servesQueue: Bool
        public var cpuMicrosecondsPerJob: Double
    }

    public var jobs: Int
    public var shards: Int
    public var workers: Int
    /// The workers' `--wait-replicas`.
    public var waitReplicas: Int
    public var spanMilliseconds: Int64
    public var masters: [Master]
    /// The replicas' CPU per job, all of them together (replication costs them too).
    public var replicasCPUMicrosecondsPerJob: Double
    public var roundTripsPerBatch: Double
    public var jobsPerBatch: Double
    public var workerCPUMicrosecondsPerJob: Double
    public var statuses: [String: Int]

    public var jobsPerSecond: Double { Double(jobs) * 1000 / Double(max(spanMilliseconds, 1)) }
    public var mastersCPUMicrosecondsPerJob: Double { masters.reduce(0) { $0 + $1.cpuMicrosecondsPerJob } }
    /// The largest share of the masters' CPU that one master carried.
    public var largestShare: Double {
        let total = mastersCPUMicrosecondsPerJob
        return total > 0 ? (masters.map(\.cpuMicrosecondsPerJob).max() ?? 0) / total : 0
    }

    /// Jobs/s that `count` masters on machines of their own could carry, Redis being the
    /// bound: each master's core spends its share of the measured CPU per job, the
    /// busiest one (with the skew measured here, scaled to `count`) setting the pace.
    public func projectedJobsPerSecond(masters count: Int) -> Double {
        let skew = largestShare * Double(masters.count)
        let busiest = mastersCPUMicrosecondsPerJob * skew / Double(count)
        return busiest > 0 ? 1_000_000 / busiest : 0
    }

    public var json: BenchJSON {
        .object([
            ("kind", .string("cluster")), ("jobs", .integer(jobs)), ("shards", .integer(shards)), ("workers", .integer(workers)),
            ("wait_replicas", .integer(waitReplicas)),
            ("jobs_per_s", .rounded(jobsPerSecond, 1)),
            ("masters_cpu_us_per_job", .rounded(mastersCPUMicrosecondsPerJob)),
            ("replicas_cpu_us_per_job", .rounded(replicasCPUMicrosecondsPerJob)),
            ("largest_share", .rounded(largestShare, 3)), ("round_trips_per_batch", .rounded(roundTripsPerBatch)),
            ("jobs_per_batch", .rounded(jobsPerBatch, 1)), ("worker_cpu_us_per_job", .rounded(workerCPUMicrosecondsPerJob, 1)),
            (
                "masters",
                .array(
                    masters.map {
                        .object([
                            ("address", .string($0.address)), ("shards", .integer($0.shards)), ("serves_queue", .bool($0.servesQueue)),
                            ("cpu_us_per_job", .rounded($0.cpuMicrosecondsPerJob)),
                        ])
                    })
            ),
            ("projected_jobs_per_s", .object([3, 6, 12].map { ("\($0)", .rounded(projectedJobsPerSecond(masters: $0), 0)) })),
            ("statuses", .object(statuses.sorted { $0.key < $1.key }.map { ($0.key, .integer($0.value)) })),
        ])
    }
}

extension Bench {
    /// `jobs` voice-off jobs on a queue of `shards` shards in a local cluster of three
    /// masters with a replica each, put on their shards as a producer would
    /// (`crc32(job_id) mod shards`) before the workers start.
    public func clusterThroughput(jobs: Int, shards: Int, waitReplicas: Int = 0, progress: (String) -> Void) throws -> ClusterResult {
        progress("cluster: starting 3 masters and 3 replicas")
        let cluster = try LocalRedisCluster()
        defer { cluster.stop() }
        let nodes = try cluster.connections(toEveryNode: true)
        let topology = nodes.topology
        let connections = nodes.byAddress
        let base = try QueueKeys(queue: "tts")
        let queueShards = QueueShards(base: base, count: shards)
        let connection = nodes.master(of:)

        try Self.turnVoiceOff(base, on: connection(base))
        progress("cluster: enqueuing \(jobs) jobs on \(shards) shards")
        var byShard: [Int: [[(String, String)]]] = [:]
        for index in 0..<jobs {
            let fields = Self.job("j", index, .off)
            byShard[ShardRouting.shard(forJobID: Array(fields[0].1.utf8), shards: shards), default: []].append(fields)
        }
        for keys in queueShards.served {
            let streamConnection = try connection(keys)
            try streamConnection.command("XGROUP", "CREATE", .string(keys.jobs), .string(QueueKeys.group), "0", "MKSTREAM")
            let index = keys.shard ?? -1
            var pending = byShard[index] ?? []
            while !pending.isEmpty {
                let batch = Array(pending.prefix(1000))
                pending.removeFirst(batch.count)
                _ = try JobProducer(keys: keys).enqueue(batch: batch, on: streamConnection)
            }
        }
        let masters = topology.masters
        for master in masters { try connections[master.address]?.command("CONFIG", "RESETSTAT") }

        let workers = try WorkerProcesses(
            executable: options.executable, count: options.workers, url: cluster.url, queue: base.queue,
            arguments: Self.rateArguments(.off) + ["--shards", "\(shards)", "--wait-replicas", "\(waitReplicas)"], metrics: true)
        defer { workers.stop() }
        progress("cluster: \(options.workers) workers started (--wait-replicas \(waitReplicas))")

        let firstKeys = queueShards.served[0]
        let firstProbe = RedisProbe(try connection(firstKeys))
        let queue = BenchQueueWaiter(workers: workers, deadline: deadline)
        try queue.wait(for: "the first job taken", everyMilliseconds: 1) { try firstProbe.entriesRead(firstKeys) > 0 }
        let takenAt = try firstProbe.milliseconds()
        let workerCPUBefore = workers.tree.cpuSeconds
        var cpuBefore: [ClusterNodeAddress: Double] = [:]
        for (address, connection) in connections { cpuBefore[address] = try RedisProbe(connection).cpuSeconds() }

        func written() throws -> [String: Int] {
            var byStatus: [String: Int] = [:]
            for keys in queueShards.served {
                for (field, value) in try connection(keys).command("HGETALL", .string(keys.stats)).pairs ?? [] where field != "audio_ms" {
                    byStatus[field, default: 0] += value.string.flatMap { Int($0) } ?? 0
                }
            }
            return byStatus
        }
        try queue.wait(for: "\(jobs) results", everyMilliseconds: 50) { try written().values.reduce(0, +) >= jobs }
        let workerCPU = workers.tree.cpuSeconds - workerCPUBefore
        var cpuAfter: [ClusterNodeAddress: Double] = [:]
        for (address, connection) in connections { cpuAfter[address] = try RedisProbe(connection).cpuSeconds() }
        var last: Int64 = takenAt
        for keys in queueShards.served {
            let reply = try connection(keys).command("XREVRANGE", .string(keys.results), "+", "-", "COUNT", "1")
            if let id = reply.array?.first?.array?.first?.string, let at = Job.milliseconds(ofEntryID: id) { last = max(last, at) }
        }
        let batches = workers.metricsSum("intone_batch_size_count")
        let roundTrips = workers.metricsSum("intone_redis_round_trips_total") / max(batches, 1)
        let jobsPerBatch = workers.metricsSum("intone_batch_size_sum") / max(batches, 1)

        let placement = ShardRouting.shardsPerMaster(ShardRouting.placement(queue: base.queue, shards: shards, in: topology))
        let queueMaster = topology.master(for: HashSlot(forKey: base.jobs))?.address
        func perJob(_ address: ClusterNodeAddress) -> Double {
            ((cpuAfter[address] ?? 0) - (cpuBefore[address] ?? 0)) * 1_000_000 / Double(jobs)
        }
        let masterAddresses = Set(masters.map(\.address))
        return ClusterResult(
            jobs: jobs, shards: shards, workers: options.workers, waitReplicas: waitReplicas, spanMilliseconds: last - takenAt,
            masters: masters.map {
                ClusterResult.Master(
                    address: $0.address.description, shards: placement[$0.address] ?? 0, servesQueue: $0.address == queueMaster,
                    cpuMicrosecondsPerJob: perJob($0.address))
            }.sorted { $0.address < $1.address },
            replicasCPUMicrosecondsPerJob: connections.keys.filter { !masterAddresses.contains($0) }.reduce(0) { $0 + perJob($1) },
            roundTripsPerBatch: roundTrips, jobsPerBatch: jobsPerBatch, workerCPUMicrosecondsPerJob: workerCPU * 1_000_000 / Double(jobs),
            statuses: try written())
    }
}

/// Waits on a condition while the bench's workers live and its deadline holds.
struct BenchQueueWaiter {
    let workers: WorkerProcesses
    let deadline: Int64

    func wait(for what: String, everyMilliseconds: Int, until done: () throws -> Bool) throws {
        while try !done() {
            if workers.allExited { throw EmbeddedRedisError("every worker exited while waiting for \(what)") }
            if Monotonic.milliseconds() > deadline { throw EmbeddedRedisError("timed out waiting for \(what)") }
            usleep(useconds_t(everyMilliseconds * 1000))
        }
    }
}
