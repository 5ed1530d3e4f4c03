import IntoneCore

#if canImport(Glibc)
    import Glibc
#endif

/// A master of a local cluster killed (`kill -9`) while jobs flow: how long its shards
/// went unserved, and what the contract says about jobs across a failover (answered
/// once when the job and its result reached the replica; a job Redis lost is not
/// answered). The producer WAITs for a replica after each XADD pipeline, and counts a job
/// as enqueued only when a replica has it.
public struct FailoverResult: Sendable {
    public var shards: Int
    public var waitReplicas: Int
    public var nodeTimeoutMilliseconds: Int
    /// Jobs whose XADD a replica acknowledged (the producer's WAIT).
    public var enqueued: Int
    public var answered: Int
    /// Enqueued jobs with no result anywhere.
    public var lost: Int
    /// Job ids with more than one result.
    public var answeredTwice: Int
    /// Shards on the killed master.
    public var shardsMoved: Int
    /// From the kill to the first result written on a shard of the killed master.
    public var pauseMilliseconds: Int64?

    public var json: BenchJSON {
        .object([
            ("kind", .string("failover")), ("shards", .integer(shards)), ("wait_replicas", .integer(waitReplicas)),
            ("cluster_node_timeout_ms", .integer(nodeTimeoutMilliseconds)), ("enqueued", .integer(enqueued)),
            ("answered", .integer(answered)), ("lost", .integer(lost)), ("answered_twice", .integer(answeredTwice)),
            ("shards_moved", .integer(shardsMoved)), ("pause_ms", pauseMilliseconds.map { .integer(Int($0)) } ?? .null),
        ])
    }
}

extension Bench {
    /// Voice-off jobs at `rate` per second for `seconds`, on `shards` shards of a local
    /// cluster served by the bench's workers with `--wait-replicas waitReplicas`; the
    /// master serving shard 0 is killed a third of the way in.
    public func failover(shards: Int, waitReplicas: Int, rate: Int = 500, seconds: Int = 12, progress: (String) -> Void) throws
        -> FailoverResult
    {
        progress("failover: starting 3 masters and 3 replicas")
        let cluster = try LocalRedisCluster()
        defer { cluster.stop() }
        let base = try QueueKeys(queue: "tts")
        let queueShards = QueueShards(base: base, count: shards)
        var topology = try cluster.topology()
        var connections: [ClusterNodeAddress: RedisConnection] = [:]
        func connection(_ keys: QueueKeys) throws -> RedisConnection {
            guard let master = topology.master(for: HashSlot(forKey: keys.jobs))?.address else {
                throw EmbeddedRedisError("no master serves \(keys.jobs)")
            }
            if let open = connections[master] { return open }
            let opened = try cluster.connect(master)
            connections[master] = opened
            return opened
        }
        try Self.turnVoiceOff(base, on: connection(base))
        for keys in queueShards.served {
            try connection(keys).command("XGROUP", "CREATE", .string(keys.jobs), .string(QueueKeys.group), "0", "MKSTREAM")
        }
        let workers = try WorkerProcesses(
            executable: options.executable, count: options.workers, url: cluster.url, queue: base.queue,
            arguments: Self.rateArguments(.off) + ["--shards", "\(shards)", "--wait-replicas", "\(waitReplicas)"], metrics: false)
        defer { workers.stop() }
        progress("failover: \(rate) jobs/s for \(seconds) s on \(shards) shards; the master of shard 0 is killed after \(seconds / 3) s")

        let killedSlot = HashSlot(forKey: queueShards.served[0].jobs)
        let movedShards = Set(
            queueShards.served.indices.filter {
                topology.master(for: HashSlot(forKey: queueShards.served[$0].jobs)) == topology.master(for: killedSlot)
            })
        var enqueued: [String] = []
        var killedAt: Int64?
        let started = Monotonic.milliseconds()
        var sent = 0
        var lastMapRead = started
        while Monotonic.milliseconds() - started < Int64(seconds) * 1000 {
            let now = Monotonic.milliseconds()
            if killedAt == nil, now - started >= Int64(seconds) * 1000 / 3 {
                _ = try cluster.killMaster(serving: killedSlot)
                var clock = timeval()
                gettimeofday(&clock, nil)
                killedAt = Int64(clock.tv_sec) * 1000 + Int64(clock.tv_usec) / 1000
                connections = [:]
            }
            let due = Int(Double(now - started) * Double(rate) / 1000)
            if due > sent {
                var byShard: [Int: [[(String, String)]]] = [:]
                for index in sent..<due {
                    let fields = Self.job("f", index, .off)
                    byShard[ShardRouting.shard(forJobID: Array(fields[0].1.utf8), shards: shards), default: []].append(fields)
                }
                sent = due
                for (shard, batch) in byShard {
                    let keys = shards > 1 ? base.shard(shard) : base
                    // A shard whose master is gone: its jobs are not enqueued (the producer
                    // would retry them; they are not counted).
                    guard let target = try? connection(keys) else { continue }
                    var commands = RedisCommands()
                    for fields in batch {
                        commands.append(
                            ["XADD", .string(keys.jobs), "*"] + fields.flatMap { [RedisArgument.string($0.0), .string($0.1)] })
                    }
                    commands.append(["WAIT", 1, 200])
                    guard let replies = try? target.send(commands), replies.last?.integer ?? 0 >= 1,
                        replies.dropLast().allSatisfy({ $0.string != nil })
                    else {
                        if let master = topology.master(for: HashSlot(forKey: keys.jobs))?.address { connections[master] = nil }
                        continue
                    }
                    enqueued += batch.map { $0[0].1 }
                }
            }
            if killedAt != nil, now - lastMapRead >= 200 {
                lastMapRead = now
                if let fresh = try? cluster.topology() { topology = fresh }
            }
            usleep(10_000)
        }
        progress("failover: \(enqueued.count) jobs enqueued; waiting for their results")

        func results() throws -> [(jobID: String, milliseconds: Int64, shard: Int)] {
            var all: [(String, Int64, Int)] = []
            for (index, keys) in queueShards.served.enumerated() {
                var start = "-"
                while true {
                    let page =
                        try connection(keys).command("XRANGE", .string(keys.results), .string(start), "+", "COUNT", "10000").array ?? []
                    for entry in page {
                        guard let parts = entry.array, parts.count == 2, let id = parts[0].string else { continue }
                        let fields = Dictionary(
                            (parts[1].pairs ?? []).map { ($0.0, $0.1.string ?? "") }, uniquingKeysWith: { first, _ in first })
                        all.append((fields["job_id"] ?? "", Job.milliseconds(ofEntryID: id) ?? 0, index))
                        start = "(" + id
                    }
                    if page.count < 10000 { break }
                }
            }
            return all
        }
        let wanted = Set(enqueued)
        let waitUntil = Monotonic.milliseconds() + 60_000
        var found = try results()
        while Set(found.map(\.jobID)).intersection(wanted).count < wanted.count, Monotonic.milliseconds() < waitUntil {
            usleep(200_000)
            topology = (try? cluster.topology()) ?? topology
            connections = [:]
            found = (try? results()) ?? found
        }
        var counts: [String: Int] = [:]
        for result in found { counts[result.jobID, default: 0] += 1 }
        let pause = killedAt.flatMap { killed in
            found.filter { movedShards.contains($0.shard) && $0.milliseconds > killed }.map(\.milliseconds).min().map { $0 - killed }
        }
        return FailoverResult(
            shards: shards, waitReplicas: waitReplicas, nodeTimeoutMilliseconds: cluster.nodeTimeoutMilliseconds,
            enqueued: wanted.count, answered: wanted.filter { counts[$0] != nil }.count, lost: wanted.filter { counts[$0] == nil }.count,
            answeredTwice: counts.values.filter { $0 > 1 }.count, shardsMoved: movedShards.count, pauseMilliseconds: pause)
    }
}
