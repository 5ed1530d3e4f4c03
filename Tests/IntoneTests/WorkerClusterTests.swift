import Foundation
import IntoneTools
import Testing

@testable import IntoneCore

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Real `intone work` processes on a real six-node cluster (three masters, three
/// replicas): a queue split into shards and served by two workers, limits across shards,
/// the stored shard count, `--wait-replicas`, and a master killed while jobs flow. Jobs
/// come from Python's redis-py `RedisCluster`, a producer that is not ours. The tests
/// share the suite's cluster and run one at a time; the failover makes a cluster of its
/// own, so the shared one is never left without a master's replica.
@Suite(.redisCluster, .serialized) struct WorkerClusterTests {
    let cluster: TestCluster

    init() throws {
        cluster = try TestClusterContext.current()
    }

    /// A queue name of its own for each test.
    func queue(_ name: String = #function) throws -> QueueKeys {
        try QueueKeys(queue: "w-\(name.prefix { $0.isLetter })-\(UInt32.random(in: 0...UInt32.max))")
    }

    /// Limits that admit every job: the tests that are not about limits set them.
    static let noLimits = ["--agent-rate", "1000/s burst 1000", "--user-rate", "1000/s burst 1000"]

    @Test func twelveShardsOnThreeMastersAreServedByTwoWorkersOncePerJob() async throws {
        let python = try #require(try redisPy())
        let shards = QueueShards(base: try queue(), count: 12)
        let queue = ClusterQueue(cluster: cluster, shards: shards)
        let flags = ["--shards", "12"] + Self.noLimits
        // Seeded at two different nodes: any node will do.
        let first = try WorkerProcess(url: cluster.url(0), queue: shards.base, consumer: "w1", arguments: flags)
        let second = try WorkerProcess(url: cluster.url(4), queue: shards.base, consumer: "w2", arguments: flags)
        try await queue.waitUntilServed(by: ["w1", "w2"])

        var jobs = (0..<120).map { i in ["job_id": "j-\(i)", "agent_id": "a", "user_id": "u-\(i % 10)", "text": "Reply \(i)."] }
        jobs += (0..<4).map { i in ["job_id": "v1-\(i)", "agent_id": "a", "user_id": "u", "text": "Old \(i).", "v1": "1"] }
        // The same job_id twice on its shard, back to back; and once on the version-1
        // stream too, where it is another job.
        jobs.append(["job_id": "j-7", "agent_id": "a", "user_id": "u-7", "text": "Reply 7 again."])
        jobs.append(["job_id": "j-3", "agent_id": "a", "user_id": "u-3", "text": "Reply 3, old style.", "v1": "1"])
        let placed = try enqueueThroughRedisPy(python, jobs, cluster: cluster, shards: shards)
        #expect(placed.count == jobs.count)
        for job in placed where job.shard >= 0 {
            #expect(ShardRouting.shard(forJobID: Array(job.jobID.utf8), shards: 12) == job.shard, "\(job.jobID)")
        }
        let perShard = Dictionary(grouping: placed.filter { $0.shard >= 0 }, by: \.shard)
        #expect(Set(perShard.keys) == Set(0..<12), "every shard gets jobs")
        // One result per job_id and stream: 120 on the shards, 5 on the version-1 stream.
        let expected = Set(placed.map { "\($0.shard) \($0.jobID)" })
        #expect(expected.count == 125)
        try await queue.waitForResults(count: expected.count)

        // Again after its result: acknowledged, not answered.
        _ = try enqueueThroughRedisPy(
            python, [["job_id": "j-11", "agent_id": "a", "user_id": "u-1", "text": "Reply 11 again."]], cluster: cluster, shards: shards)
        try await queue.waitUntilDrained()
        first.signal(SIGTERM)
        second.signal(SIGTERM)
        #expect(try await first.waitForExit(seconds: 15) == 0)
        #expect(try await second.waitForExit(seconds: 15) == 0)

        let results = try queue.results()
        let answered = results.map { "\($0.shard) \($0.fields["job_id"] ?? "")" }
        let twice = Dictionary(grouping: answered, by: { $0 }).filter { $0.value.count > 1 }.keys
        #expect(twice.isEmpty, "answered twice: \(twice.sorted())")
        #expect(Set(answered) == expected, "lost: \(expected.subtracting(answered).sorted().prefix(10))")
        #expect(results.allSatisfy { $0.fields["status"] == "ok" }, "\(results.filter { $0.fields["status"] != "ok" }.prefix(3))")
        for shard in 0..<12 {
            let count = results.filter { $0.shard == shard }.count
            #expect(count == Set(perShard[shard, default: []].map(\.jobID)).count, "shard \(shard) served: \(count) results")
        }
        #expect(results.filter { $0.shard == -1 }.count == 5)
        #expect(Set(results.compactMap { $0.fields["worker"] }) == ["w1", "w2"], "both workers took jobs")
        #expect(try queue.unfinished() == 0 && queue.pending() == 0, "nothing left pending")
    }

    @Test func anAgentsBucketHoldsAcrossShardsAndWorkers() async throws {
        let python = try #require(try redisPy())
        let shards = QueueShards(base: try queue(), count: 12)
        let queue = ClusterQueue(cluster: cluster, shards: shards)
        // The limited agent's bucket barely refills: what it admits is its burst.
        let burst = 10
        try queue.master(shards.base).command(
            "HSET", .string(shards.base.agent("limited")), "rate_limit", .string("0.001/s burst \(burst)"))
        let flags = ["--shards", "12", "--batch-size", "4"] + Self.noLimits
        let first = try WorkerProcess(url: cluster.url(1), queue: shards.base, consumer: "w1", arguments: flags)
        let second = try WorkerProcess(url: cluster.url(2), queue: shards.base, consumer: "w2", arguments: flags)
        try await queue.waitUntilServed(by: ["w1", "w2"])

        var jobs = (0..<48).map { i in ["job_id": "l-\(i)", "agent_id": "limited", "user_id": "u-\(i)", "text": "Hi \(i)."] }
        jobs += (0..<12).map { i in ["job_id": "f-\(i)", "agent_id": "free", "user_id": "v-\(i)", "text": "Hi \(i)."] }
        let placed = try enqueueThroughRedisPy(python, jobs, cluster: cluster, shards: shards)
        #expect(Set(placed.filter { $0.jobID.hasPrefix("l-") }.map(\.shard)).count == 12, "the limited agent's jobs are on every shard")
        let start = Date()
        try await queue.waitForResults(count: jobs.count)
        let seconds = Date().timeIntervalSince(start)
        first.signal(SIGTERM)
        second.signal(SIGTERM)
        #expect(try await first.waitForExit(seconds: 15) == 0)
        #expect(try await second.waitForExit(seconds: 15) == 0)

        let results = try queue.results().map(\.fields)
        #expect(results.count == jobs.count)
        let limited = results.filter { $0["agent_id"] == "limited" }
        let admitted = limited.filter { $0["status"] == "ok" }
        let refused = limited.filter { $0["status"] == "rate_limited" }
        #expect(admitted.count == burst, "\(admitted.count) admitted in \(seconds) s, burst \(burst)")
        #expect(refused.count == 48 - burst)
        for result in refused {
            #expect(result["limit"] == "agent")
            #expect((Int(result["retry_after_ms"] ?? "") ?? 0) > 0)
        }
        // Another agent is not held back by it.
        #expect(results.filter { $0["agent_id"] == "free" && $0["status"] == "ok" }.count == 12)
        #expect(Set(limited.compactMap { $0["worker"] }) == ["w1", "w2"], "both workers asked the same bucket")
        #expect(try queue.unfinished() == 0 && queue.pending() == 0)
    }

    @Test func aWorkerWithAnotherShardCountRefusesToStart() async throws {
        let shards = QueueShards(base: try queue(), count: 4)
        let queue = ClusterQueue(cluster: cluster, shards: shards)
        let first = try WorkerProcess(url: cluster.url(0), queue: shards.base, consumer: "w1", arguments: ["--shards", "4"])
        try await queue.waitUntilServed(by: ["w1"])
        #expect(try queue.master(shards.base).command("HGET", .string(shards.base.config), "shards").string == "4")

        let six = try WorkerProcess(
            url: cluster.url(3), queue: shards.base, consumer: "w6", arguments: ["--shards", "6"], captureLog: true)
        let one = try WorkerProcess(url: cluster.url(5), queue: shards.base, consumer: "w-one", captureLog: true)
        for (worker, count) in [(six, 6), (one, 1)] {
            let status = try await worker.waitForExit(seconds: 20)
            #expect(status != nil && status != 0, "--shards \(count): \(String(describing: status))")
            let line = worker.logLines.first { $0.contains("--shards \(count) disagrees") }
            #expect(line?.contains("which has 4 shards") == true, "\(worker.logLines)")
        }
        #expect(first.isRunning)
        #expect(try queue.master(shards.base).command("HGET", .string(shards.base.config), "shards").string == "4")
        // The refused workers read nothing.
        #expect(try queue.consumers().allSatisfy { $0 == ["w1"] })
        first.signal(SIGTERM)
        #expect(try await first.waitForExit(seconds: 15) == 0)
    }

    @Test func waitReplicasIsSentAfterEachWriteBackAndAShortfallIsReported() async throws {
        let shards = QueueShards(base: try queue(), count: 6)
        let queue = ClusterQueue(cluster: cluster, shards: shards)
        let masters = try cluster.topology().masters.map(\.address)
        func waitCalls() throws -> [ClusterNodeAddress: Int] {
            var calls: [ClusterNodeAddress: Int] = [:]
            for master in masters {
                let info = try cluster.connect(master).command("INFO", "commandstats").string ?? ""
                let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("cmdstat_wait:calls=") }
                calls[master] = line.flatMap { Int($0.dropFirst("cmdstat_wait:calls=".count).prefix { $0.isNumber }) } ?? 0
            }
            return calls
        }
        let before = try waitCalls()
        let port = try LocalPorts.free()
        let worker = try WorkerProcess(
            url: cluster.url(0), queue: shards.base, consumer: "waiting",
            arguments: ["--shards", "6", "--wait-replicas", "1", "--metrics-port", "\(port)"] + Self.noLimits, logLevel: "info",
            captureLog: true)
        try await queue.waitUntilServed(by: ["waiting"])
        let ids = (0..<12).map { "r-\($0)" }
        for id in ids { try queue.enqueue(["job_id": id, "agent_id": "a", "user_id": "u", "text": "Hi."]) }
        try await queue.waitForResults(count: ids.count)
        let metrics = try await waitForMetrics(port) { PrometheusText.sample($0, #"intone_jobs_total{status="ok"}"#) >= 12 }
        let after = try waitCalls()
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit(seconds: 15) == 0)

        let results = try queue.results()
        #expect(Set(results.compactMap { $0.fields["job_id"] }) == Set(ids) && results.count == ids.count)
        #expect(results.allSatisfy { $0.fields["status"] == "ok" })
        // Every master that took a write-back was asked to WAIT, and every replica
        // confirmed in time: no shortfall counted or logged.
        let topology = try cluster.topology()
        let written = Set(results.compactMap { result in topology.master(for: queue.slot(result.shard))?.address })
        #expect(!written.isEmpty)
        for master in written {
            #expect((after[master] ?? 0) > (before[master] ?? 0), "no WAIT reached \(master)")
        }
        #expect(PrometheusText.sample(metrics, "intone_wait_replicas_timeouts_total") == 0)
        #expect(!worker.logLines.contains { $0.contains("fewer replicas") }, "\(worker.logLines.suffix(5))")
        // The results are on the replicas.
        for shard in Set(results.map(\.shard)) {
            let replica = try #require(topology.shard(for: queue.slot(shard))?.replicas.first).address
            let connection = try cluster.connect(replica)
            try connection.command("READONLY")
            let onReplica = try streamEntries(queue.keys(shard).results, on: connection).compactMap { $0["job_id"] }
            #expect(Set(onReplica) == Set(results.filter { $0.shard == shard }.compactMap { $0.fields["job_id"] }), "shard \(shard)")
        }

        // Each master has one replica: asking for two, every WAIT comes back short. The
        // results are written all the same, and the shortfall is counted and logged once.
        let shortPort = try LocalPorts.free()
        let short = try WorkerProcess(
            url: cluster.url(0), queue: shards.base, consumer: "short",
            arguments: ["--shards", "6", "--wait-replicas", "2", "--metrics-port", "\(shortPort)"] + Self.noLimits, logLevel: "info",
            captureLog: true)
        try await queue.waitUntilServed(by: ["waiting", "short"])
        for id in ["s-0", "s-1", "s-2"] { try queue.enqueue(["job_id": id, "agent_id": "a", "user_id": "u", "text": "Hi."]) }
        try await queue.waitForResults(count: ids.count + 3)
        let shortMetrics = try await waitForMetrics(shortPort) { PrometheusText.sample($0, "intone_wait_replicas_timeouts_total") >= 1 }
        short.signal(SIGTERM)
        #expect(try await short.waitForExit(seconds: 15) == 0)
        #expect(PrometheusText.sample(shortMetrics, "intone_wait_replicas_timeouts_total") >= 1)
        let warnings = short.logLines.filter { $0.contains("fewer replicas than --wait-replicas confirmed a write-back in time") }
        #expect(warnings.count == 1, "\(short.logLines.suffix(5))")
        #expect(try queue.results().filter { $0.fields["worker"] == "short" && $0.fields["status"] == "ok" }.count == 3)
    }

    /// Last, and on a cluster of its own: it leaves one master without a replica.
    @Test func aKilledMastersShardsAreServedAgainAndEveryReplicatedJobIsAnsweredOnce() async throws {
        let python = try #require(try redisPy())
        let cluster = try TestCluster()
        defer { cluster.stop() }
        let topology = try cluster.topology()
        // A queue with a master that serves some of its shards but not `{Q}`: the lanes
        // of the other masters, and the buckets, should not notice the failover.
        var found: (shards: QueueShards, victim: ClusterNodeAddress)?
        for _ in 0..<50 where found == nil {
            let shards = QueueShards(base: try queue(), count: 6)
            let queueMaster = try #require(topology.master(for: HashSlot(forKey: shards.base.jobs))).address
            let masters = (0..<6).compactMap { topology.master(for: ShardRouting.slot(queue: shards.base.queue, shard: $0, shards: 6)) }
            if let victim = masters.map(\.address).first(where: { $0 != queueMaster }) { found = (shards, victim) }
        }
        let (shards, victim) = try #require(found)
        let queue = ClusterQueue(cluster: cluster, shards: shards)
        let victimShards = (0..<6).filter { topology.master(for: queue.slot($0))?.address == victim }
        let seeds = cluster.liveNodes.indices.filter { cluster.liveNodes[$0].address != victim }
        let flags = ["--shards", "6", "--wait-replicas", "1", "--claim-idle-ms", "2000"] + Self.noLimits
        let first = try WorkerProcess(url: cluster.url(seeds[0]), queue: shards.base, consumer: "w1", arguments: flags)
        let second = try WorkerProcess(url: cluster.url(seeds[1]), queue: shards.base, consumer: "w2", arguments: flags)
        try await queue.waitUntilServed(by: ["w1", "w2"])

        // The producer XADDs until told to stop, each XADD followed by WAIT 1 on the same
        // connection.
        let seed = cluster.liveNodes[seeds[2]].address
        let output = NSTemporaryDirectory() + "intone-producer-\(UUID().uuidString).json"
        let stop = output + ".stop"
        defer {
            try? FileManager.default.removeItem(atPath: output)
            try? FileManager.default.removeItem(atPath: stop)
        }
        let producer = BackgroundThread.start {
            _ = try PythonRedis.run(
                python, Self.flowingProducer, ["127.0.0.1", "\(seed.port)", shards.base.queue, "6", output, stop], seconds: 60)
        }
        try await queue.waitForResults(count: 20)
        try await Task.sleep(for: .milliseconds(500))
        // Once the master refuses connections: every result written after is the replica's.
        let (_, replica) = try cluster.killMaster(serving: queue.slot(victimShards[0]))
        let killedAt = WallClock.milliseconds()
        // Jobs on the other masters' shards meanwhile: answered before the replica can
        // have taken over (not before cluster-node-timeout), so those lanes did not wait.
        let others = (0..<6).filter { !victimShards.contains($0) }
        let side = (0..<400).map { "o-\($0)" }.filter { others.contains(shardOf($0)) }.prefix(4)
        for id in side { try queue.enqueue(["job_id": id, "agent_id": "a", "user_id": "o", "text": "Meanwhile."]) }
        try await queue.waitForJobIDs(Set(side), on: others, seconds: 5)
        let sideAnswered = WallClock.milliseconds() - killedAt
        #expect(sideAnswered < Int64(TestCluster.nodeTimeoutMilliseconds), "other shards answered \(sideAnswered) ms after the kill")
        // A job on the killed master's shard as soon as its replica is master.
        try cluster.waitForPromotion(of: replica, seconds: 20)
        let probe = try #require((0..<400).map { "p-\($0)" }.first { shardOf($0) == victimShards[0] })
        try JobProducer(keys: queue.keys(victimShards[0])).add(
            [("job_id", probe), ("agent_id", "a"), ("user_id", "p"), ("text", "Back.")], on: cluster.connect(replica))
        try cluster.waitUntilHealthy(seconds: 20, requireReplicas: false)
        // A little more on the new map, then the producer stops.
        try await Task.sleep(for: .milliseconds(1500))
        #expect(FileManager.default.createFile(atPath: stop, contents: nil))
        try await producer.join()
        let produced = try JSONDecoder().decode(Produced.self, from: try Data(contentsOf: URL(fileURLWithPath: output)))

        // A job acknowledged by the old master before it reached its replica may be lost;
        // every other acknowledged job must be answered.
        var mustAnswer = Set(produced.acked.filter { $0.port != victim.port || $0.replicas >= 1 }.map(\.jobID))
        mustAnswer.formUnion(side + [probe])
        let attempted = Set(produced.acked.map(\.jobID) + produced.failed).union(mustAnswer)
        #expect(produced.acked.contains { $0.port == victim.port && $0.replicas >= 1 }, "jobs replicated from the killed master")
        #expect(produced.acked.contains { $0.port == replica.port }, "jobs on the promoted replica")
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let answered = try? queue.results().compactMap({ $0.fields["job_id"] }), mustAnswer.isSubset(of: answered),
                try queue.unfinished() == 0, try queue.pending() == 0
            {
                break
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        first.signal(SIGTERM)
        second.signal(SIGTERM)
        #expect(try await first.waitForExit(seconds: 15) == 0)
        #expect(try await second.waitForExit(seconds: 15) == 0)

        let results = try queue.results()
        let answered = results.compactMap { $0.fields["job_id"] }
        let lost = mustAnswer.subtracting(answered)
        let twice = Dictionary(grouping: answered, by: { $0 }).filter { $0.value.count > 1 }.keys
        #expect(lost.isEmpty, "lost: \(lost.sorted().prefix(10)) of \(mustAnswer.count)")
        #expect(twice.isEmpty, "answered twice: \(twice.sorted().prefix(10))")
        #expect(Set(answered).isSubset(of: attempted))
        #expect(try queue.unfinished() == 0 && queue.pending() == 0, "nothing left pending")

        // Served again within cluster-node-timeout + 5 s: the first result the promoted
        // replica wrote on the killed master's shards. Result ids are on Redis's clock,
        // the same machine's.
        let again = results.filter { victimShards.contains($0.shard) }.compactMap { entryMilliseconds($0.fields["_id"]) }.filter {
            $0 > killedAt
        }
        let servedAgain = try #require(again.min()) - killedAt
        #expect(servedAgain <= Int64(TestCluster.nodeTimeoutMilliseconds + 5000), "served again \(servedAgain) ms after the kill")
    }

    // MARK: - Producers

    struct Placed: Decodable {
        var jobID: String
        /// -1: the version-1 stream.
        var shard: Int
    }

    struct Produced: Decodable {
        struct Acked: Decodable {
            var jobID: String
            /// The port of the master that acknowledged the XADD.
            var port: Int
            /// What `WAIT 1` on the same connection answered.
            var replicas: Int
        }
        var acked: [Acked]
        /// XADDs that failed (or whose reply was lost).
        var failed: [String]
    }

    /// redis-py's interpreter; nil, with an issue recorded, where there is none.
    func redisPy() throws -> String? {
        let (python, reason) = try PythonRedis.interpreter()
        if python == nil { Issue.record("skipped: \(reason)") }
        return python
    }

    /// Puts `jobs` on their shards (`crc32(job_id) % N`) with redis-py's `RedisCluster`, or
    /// on the version-1 stream for a job with `v1`; says where each went.
    func enqueueThroughRedisPy(_ python: String, _ jobs: [[String: String]], cluster: TestCluster, shards: QueueShards) throws -> [Placed] {
        let program = """
            import json, sys, zlib
            from redis.cluster import RedisCluster
            host, port, queue, shards = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
            client = RedisCluster(host=host, port=port)
            placed = []
            for job in json.loads(sys.argv[5]):
                if job.pop("v1", None):
                    key, shard = f"intone:{{{queue}}}:jobs", -1
                else:
                    shard = zlib.crc32(job["job_id"].encode()) % shards
                    key = f"intone:{{{queue}#{shard}}}:jobs"
                client.xadd(key, job)
                placed.append({"jobID": job["job_id"], "shard": shard})
            client.close()
            print(json.dumps(placed))
            """
        let json = String(decoding: try JSONSerialization.data(withJSONObject: jobs), as: UTF8.self)
        let node = cluster.liveNodes[Int.random(in: 0..<cluster.liveNodes.count)]
        let output = try PythonRedis.run(python, program, ["127.0.0.1", "\(node.port)", shards.base.queue, "\(shards.count)", json])
        let line = try #require(output.split(separator: "\n").last)
        return try JSONDecoder().decode([Placed].self, from: Data(line.utf8))
    }

    /// Jobs `f-0`, `f-1`, … on their shards until the stop file exists, each XADD followed
    /// by `WAIT 1 200` on the same connection (a pipeline on the slot's master, which
    /// redis-py's cluster map names). A failed XADD is noted and the map read again.
    static let flowingProducer = """
        import json, os, sys, time, zlib
        from redis.cluster import RedisCluster
        host, port, queue, shards, out, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
        client = RedisCluster(host=host, port=port, socket_connect_timeout=0.5, socket_timeout=3)
        acked, failed = [], []
        end = time.time() + 45
        i = 0
        while not os.path.exists(stop) and time.time() < end:
            job_id = f"f-{i}"
            i += 1
            key = f"intone:{{{queue}#{zlib.crc32(job_id.encode()) % shards}}}:jobs"
            try:
                node = client.get_node_from_key(key)
                pipe = client.get_redis_connection(node).pipeline(transaction=False)
                pipe.xadd(key, {"job_id": job_id, "agent_id": "a", "user_id": f"u-{i % 7}", "text": f"Hi {i}."})
                pipe.execute_command("WAIT", 1, 200)
                _, replicas = pipe.execute()
                acked.append({"jobID": job_id, "port": node.port, "replicas": replicas})
            except Exception:
                failed.append(job_id)
                try:
                    client.nodes_manager.initialize()
                except Exception:
                    pass
                time.sleep(0.05)
            time.sleep(0.02)
        with open(out, "w") as f:
            json.dump({"acked": acked, "failed": failed}, f)
        """

    // MARK: - Metrics

    /// `/metrics` once `condition` holds (or after 10 s, as it is then).
    func waitForMetrics(_ port: Int, until condition: (String) -> Bool) async throws -> String {
        let deadline = Date().addingTimeInterval(10)
        var body = ""
        while Date() < deadline {
            if let (data, _) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!) {
                body = String(decoding: data, as: UTF8.self)
                if condition(body) { break }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return body
    }
}

/// The shard of a job_id on a queue of six shards.
private func shardOf(_ jobID: String) -> Int {
    ShardRouting.shard(forJobID: Array(jobID.utf8), shards: 6)
}

/// The unix milliseconds of a stream entry id (`<ms>-<seq>`).
private func entryMilliseconds(_ id: String?) -> Int64? {
    id.flatMap { Int64($0.prefix { $0 != "-" }) }
}

/// A sharded queue on a test cluster, read on the master that serves each stream now
/// (the map is read afresh each time, so it follows a failover).
struct ClusterQueue {
    let cluster: TestCluster
    let shards: QueueShards

    /// The keys of shard `shard`; -1: the version-1 stream.
    func keys(_ shard: Int) -> QueueKeys { shard < 0 ? shards.base : shards.base.shard(shard) }
    func slot(_ shard: Int) -> HashSlot { HashSlot(forKey: keys(shard).jobs) }
    /// Every stream served: the shards, then the version-1 stream (-1).
    var streams: [Int] { Array(0..<shards.count) + [-1] }

    func master(_ keys: QueueKeys, in topology: ClusterTopology? = nil) throws -> RedisConnection {
        let topology = try topology ?? cluster.topology()
        guard let master = topology.master(for: HashSlot(forKey: keys.jobs)) else {
            throw TestSupportError("no master serves \(keys.tag):\n\(topology)")
        }
        return try cluster.connect(master.address)
    }

    /// Each stream's connection (or those of `only`), for one pass over the queue.
    func connections(only: [Int]? = nil) throws -> [(shard: Int, connection: RedisConnection)] {
        let topology = try cluster.topology()
        return try (only ?? streams).map { ($0, try master(keys($0), in: topology)) }
    }

    /// An entry on the shard its job_id names, with our own producer.
    func enqueue(_ fields: [String: String]) throws {
        let keys = shards.keys(forJobID: ByteString(fields["job_id"] ?? ""))
        try JobProducer(keys: keys).add(fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, on: master(keys))
    }

    /// Every result of every stream (or of `only`), with its shard (-1: the version-1 stream).
    func results(only: [Int]? = nil) throws -> [(shard: Int, fields: [String: String])] {
        try connections(only: only).flatMap { shard, connection in
            try streamEntries(keys(shard).results, on: connection).map { (shard, $0) }
        }
    }

    /// Entries still in the jobs streams.
    func unfinished() throws -> Int {
        try connections().reduce(0) { $0 + Int(try $1.connection.command("XLEN", .string(keys($1.shard).jobs)).integer ?? 0) }
    }

    /// Entries delivered and not acknowledged.
    func pending() throws -> Int {
        try connections().reduce(0) { $0 + (try pendingCount(keys($1.shard), on: $1.connection)) }
    }

    /// The consumers of each stream's group.
    func consumers() throws -> [Set<String>] {
        try connections().map { shard, connection in
            let reply = try connection.send(RedisCommands(["XINFO", "CONSUMERS", .string(keys(shard).jobs), "workers"]))[0]
            return Set((reply.array ?? []).compactMap { consumer in consumer.pairs?.first { $0.0 == "name" }?.1.string })
        }
    }

    /// Waits until every stream's group has read with each of these consumers: the
    /// workers serve every shard.
    func waitUntilServed(by names: Set<String>, seconds: Double = 20) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let consumers = try? consumers(), consumers.allSatisfy({ names.isSubset(of: $0) }) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("waited \(seconds) s for \(names.sorted()) to read every shard; groups: \((try? consumers()) ?? [])")
        throw TestSupportError("not served")
    }

    /// Waits until the result streams hold `count` entries together.
    func waitForResults(count: Int, seconds: Double = 30) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        var total = 0
        while Date() < deadline {
            total = try connections().reduce(0) {
                $0 + Int(try $1.connection.command("XLEN", .string(keys($1.shard).results)).integer ?? 0)
            }
            if total >= count { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("waited \(seconds) s for \(count) results; got \(total)")
    }

    /// Waits until these job_ids have results on these shards.
    func waitForJobIDs(_ ids: Set<String>, on shards: [Int], seconds: Double) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        var answered: Set<String> = []
        while Date() < deadline {
            answered = Set(try results(only: shards).compactMap { $0.fields["job_id"] })
            if ids.isSubset(of: answered) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("waited \(seconds) s for \(ids.subtracting(answered).sorted()) to be answered")
    }

    /// Waits until no entry is left in the jobs streams or pending.
    func waitUntilDrained(seconds: Double = 15) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try unfinished() == 0, try pending() == 0 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("waited \(seconds) s for the jobs streams to empty: \(try unfinished()) left")
    }
}
