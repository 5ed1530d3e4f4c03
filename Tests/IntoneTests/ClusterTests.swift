import Foundation
import IntoneTools
import Logging
import Testing

@testable import IntoneCore

/// Routing against a real six-node cluster (three masters, three replicas): slots, the
/// map, single-slot pipelines, MOVED, ASK, a failover, and a producer that is not ours.
/// The tests share one cluster and change it (a migration, a killed master), so they run
/// one at a time and each reads the map afresh; the failover comes last.
@Suite(.redisCluster, .serialized) struct ClusterTests {
    let cluster: TestCluster

    init() throws {
        cluster = try TestClusterContext.current()
    }

    func connections(_ options: ClusterOptions = ClusterOptions()) throws -> ClusterConnections {
        try ClusterConnections(url: cluster.url(), options: options, logger: testLogger)
    }

    /// A queue name of its own for each test.
    func queue(_ name: String = #function) -> String {
        "c-\(name.prefix { $0.isLetter })-\(UInt32.random(in: 0...UInt32.max))"
    }

    @Test func slotsMatchClusterKeyslot() throws {
        var keys: [[UInt8]] = [
            "", "foo", "{}", "{}{a}", "a{}b", "{{a}}", "{a}}", "}{a}", "a{b", "{", "}", "{user1000}.following", "x{tts#3}y{z}",
            "intone:{tts}:jobs", "intone:{tts#0}:results", "intone:{tts#5}:audio:reply-42", "{ü}", "ü{ö}",
        ].map { Array($0.utf8) }
        keys += [[0], [0xFF, 0xFE], [0x7B, 0, 0x7D], [0x7B, 0x7D, 0x7B, 0xFF, 0x7D], [0x61, 0x7B, 0x80, 0x81, 0x7D, 0x7B, 0x01, 0x7D]]
        var generator = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = Array("ab{}#:".utf8) + [0, 0x7F, 0x80, 0xFF]
        for length in 0..<400 {
            keys.append((0..<(length % 24)).map { _ in alphabet.randomElement(using: &generator)! })
        }
        var commands = RedisCommands()
        for key in keys { commands.append("CLUSTER", "KEYSLOT", .bytes(key)) }
        let replies = try cluster.connect(cluster.liveNodes[0].address).send(commands)
        for (key, reply) in zip(keys, replies) {
            #expect(reply.integer.map(Int.init) == Int(HashSlot.slot(forKey: key).rawValue), "key \(key)")
        }
    }

    @Test func probeFindsTheClusterAndItsMap() throws {
        guard case .cluster(let topology) = try ClusterDiscovery.probe(cluster.url(1)) else {
            Issue.record("a cluster node was taken for a single Redis")
            return
        }
        #expect(topology.masters.count == 3)
        #expect(topology.unservedSlotCount == 0)
        #expect(topology.shards.allSatisfy { $0.master == nil || $0.replicas.count == 1 })
        #expect(Set(topology.nodes.map(\.address)) == Set(cluster.liveNodes.map(\.address)))
        // CLUSTER SLOTS (the fallback) gives the same routing.
        let slots = try cluster.connect(cluster.liveNodes[0].address).command("CLUSTER", "SLOTS")
        let fromSlots = try ClusterTopology.parse(slotsReply: slots, queriedHost: "127.0.0.1")
        for slot in stride(from: 0, to: HashSlot.count, by: 97).compactMap(HashSlot.init) {
            #expect(fromSlots.master(for: slot)?.address == topology.master(for: slot)?.address)
        }
        #expect(fromSlots.shards.map(\.replicas.count) == [1, 1, 1])
    }

    @Test func probeRefusesUnixSocketsAndDatabasesOfAClusterButNotOfASingleRedis() throws {
        let node = cluster.liveNodes[0]
        do {
            _ = try ClusterDiscovery.probe(node.server.url)
            Issue.record("a cluster node on a Unix socket was accepted")
        } catch {
            #expect(error.code == .unsupportedURL)
        }
        do {
            _ = try ClusterDiscovery.probe(RedisURL(endpoint: .tcp(host: "127.0.0.1", port: node.port), database: 3))
            Issue.record("database 3 of a cluster was accepted")
        } catch {
            #expect(error.code == .unsupportedDatabase)
        }
        let single = try EmbeddedRedisServer()
        defer { single.stop() }
        #expect(try ClusterDiscovery.probe(single.url) == .standalone)
        var database = single.url
        database.database = 2
        #expect(try ClusterDiscovery.probe(database) == .standalone)
        do {
            _ = try ClusterDiscovery.probe(RedisURL(endpoint: .tcp(host: "127.0.0.1", port: 1)))
            Issue.record("a closed port was probed")
        } catch {
            #expect(error.code == .connection)
        }
    }

    @Test func shardPlacementNamesTheMastersThatServeTheShards() throws {
        let topology = try cluster.topology()
        let placement = ShardRouting.placement(queue: "tts", shards: 6, in: topology)
        #expect(placement.count == 6)
        for shard in placement {
            let master = try #require(shard.master)
            let key = RedisArgument.string(ShardRouting.keyPrefix(queue: "tts", shard: shard.shard, shards: 6) + "jobs")
            // The named master serves the key; another master redirects it there.
            #expect(try cluster.connect(master).send(RedisCommands(["EXISTS", key]))[0] == .integer(0))
            let other = try #require(topology.masters.first { $0.address != master }).address
            let reply = try cluster.connect(other).send(RedisCommands(["EXISTS", key]))[0]
            #expect(ClusterRedirect(reply: reply) == .moved(slot: shard.slot, to: master))
        }
        // The default map of three equal ranges gives {tts#0..5} 1, 3 and 2 shards.
        #expect(ShardRouting.shardsPerMaster(placement).values.sorted() == [1, 2, 3])
    }

    @Test func singleSlotPipelineGoesToTheSlotsMaster() throws {
        let queue = queue()
        let connections = try connections()
        let slot = ShardRouting.slot(queue: queue, shard: 3, shards: 6)
        let lane = try connections.connection(for: slot)
        let master = try #require(try cluster.topology().master(for: slot))
        #expect(lane.address == master.address)
        let prefix = ShardRouting.keyPrefix(queue: queue, shard: 3, shards: 6)
        var commands = RedisCommands()
        commands.append("MULTI")
        commands.append("SET", .string(prefix + "audio:job-1"), .bytes([1, 2, 3]))
        commands.append("XADD", .string(prefix + "results"), "*", "job_id", "job-1", "status", "ok")
        commands.append("EXEC")
        let replies = try lane.send(commands)
        #expect(replies.count == 4)
        #expect(replies[3].array?.first == .status("OK"))
        #expect(lane.redirectsFollowed == 0)
        // The writes are on that master.
        let direct = try cluster.connect(master.address)
        #expect(try direct.command("GET", .string(prefix + "audio:job-1")) == .bulk([1, 2, 3]))
        #expect(try direct.command("XLEN", .string(prefix + "results")) == .integer(1))
    }

    @Test func aStaleMapIsCorrectedByMoved() throws {
        let truth = try cluster.topology()
        let first = try #require(truth.masters.first)
        // A map that puts every slot on the first master.
        let stale = ClusterTopology(shards: [ClusterShard(slotRanges: [0...16383], master: first, replicas: [])])
        let connections = try ClusterConnections(url: cluster.url(), topology: stale, logger: testLogger)
        let queue = queue()
        let shard = try #require(
            (0..<12).first { truth.master(for: ShardRouting.slot(queue: queue, shard: $0, shards: 12))?.address != first.address })
        let slot = ShardRouting.slot(queue: queue, shard: shard, shards: 12)
        let lane = try connections.connection(for: slot)
        #expect(lane.address == first.address)
        let key = RedisArgument.string(ShardRouting.keyPrefix(queue: queue, shard: shard, shards: 12) + "x")
        #expect(try lane.send(RedisCommands(["SET", key, "1"])) == [.status("OK")])
        #expect(lane.redirectsFollowed == 1)
        #expect(lane.address == truth.master(for: slot)?.address)
        #expect(connections.master(for: slot) == truth.master(for: slot)?.address)
        // The MOVED target's map replaced the stale one.
        #expect(connections.topology.masters.count == 3)
    }

    @Test func aKeyOfAnotherSlotOnALaneIsACallersBug() throws {
        let queue = queue()
        let connections = try connections()
        let topology = connections.topology
        let slot = ShardRouting.slot(queue: queue, shard: 0, shards: 1)
        // A key whose slot another master serves (so the lane's master answers MOVED).
        let other = try #require(
            (0..<64).map { "intone:{\(queue)-\($0)}:x" }.first { topology.master(for: HashSlot(forKey: $0)) != topology.master(for: slot) })
        let lane = try connections.connection(for: slot)
        do {
            _ = try lane.send(RedisCommands(["SET", .string(other), "1"]))
            Issue.record("a key of another slot was followed")
        } catch {
            #expect(error.code == .wrongSlot)
        }
        #expect(lane.address == topology.master(for: slot)?.address)
    }

    @Test func askDuringAMigrationThenMovedAfterIt() async throws {
        let queue = queue()
        let prefix = ShardRouting.keyPrefix(queue: queue, shard: 0, shards: 1)
        let slot = ShardRouting.slot(queue: queue, shard: 0, shards: 1)
        let connections = try connections()
        let lane = try connections.connection(for: slot)
        let source = lane.address
        #expect(try lane.send(RedisCommands(["SET", .string(prefix + "old"), "before"])) == [.status("OK")])

        let migration = try cluster.beginMigration(of: slot)
        defer { try? cluster.finishMigration(migration) }
        #expect(migration.source.address == source)
        // Keys the source does not hold: ASK, and the pipeline is resent to the target
        // with ASKING before each command.
        var commands = RedisCommands()
        commands.append("SET", .string(prefix + "new"), "during")
        commands.append("XADD", .string(prefix + "results"), "*", "job_id", "j1")
        let replies = try lane.send(commands)
        #expect(replies.count == 2)
        #expect(replies[0] == .status("OK"))
        #expect(replies[1].bytes != nil, "\(replies)")
        #expect(lane.redirectsFollowed == 1)
        #expect(lane.address == source, "ASK does not move the lane")
        // A key the source still holds is served there.
        #expect(try lane.send(RedisCommands(["GET", .string(prefix + "old")])) == [.bulk(Array("before".utf8))])
        var asking = RedisCommands(["ASKING"])
        asking.append("GET", .string(prefix + "new"))
        #expect(try cluster.connect(migration.target.address).send(asking)[1] == .bulk(Array("during".utf8)))

        // A transaction of keys missing on both sides: ASK, then TRYAGAIN from the target
        // (multi-key requests wait for the migration), backing off until the slot is
        // given to the target (then the importing node runs it).
        let cluster = cluster
        let finisher = BackgroundThread.start {
            usleep(300_000)
            try cluster.moveKeys(migration)
            try cluster.finishMigration(migration)
        }
        var transaction = RedisCommands()
        transaction.append("MULTI")
        transaction.append("SET", .string(prefix + "tx1"), "a")
        transaction.append("SET", .string(prefix + "tx2"), "b")
        transaction.append("EXEC")
        let committed = try lane.send(transaction)
        try await finisher.join()
        #expect(committed.last == .array([.status("OK"), .status("OK")]), "\(committed)")
        #expect(lane.redirectsFollowed >= 3, "ASK, TRYAGAIN, … ASK")
        // The lane's next pipeline meets MOVED at the source and moves to the target,
        // where everything written before, during and after the migration is.
        let followed = lane.redirectsFollowed
        let movedAlready = lane.address == migration.target.address
        var reads = RedisCommands()
        reads.append("GET", .string(prefix + "old"))
        reads.append("GET", .string(prefix + "new"))
        reads.append("XLEN", .string(prefix + "results"))
        reads.append("MGET", .string(prefix + "tx1"), .string(prefix + "tx2"))
        #expect(
            try lane.send(reads) == [
                .bulk(Array("before".utf8)), .bulk(Array("during".utf8)), .integer(1), .array([.bulk([97]), .bulk([98])]),
            ])
        #expect(lane.redirectsFollowed == followed + (movedAlready ? 0 : 1))
        #expect(lane.address == migration.target.address)
        #expect(connections.master(for: slot) == migration.target.address)
        try cluster.waitUntilHealthy(seconds: 30)
    }

    @Test func aProducerOnRedisPyClusterIsReadThroughOurRouting() throws {
        let (python, reason) = try PythonRedis.interpreter()
        guard let python else {
            Issue.record("skipped: \(reason)")
            return
        }
        let queue = queue()
        let shards = 6
        let program = """
            import json, sys, zlib
            from redis.cluster import RedisCluster
            host, port, queue, shards, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
            client = RedisCluster(host=host, port=port)
            placed = {}
            for i in range(count):
                job_id = f"py-{i}" + ("-\\u00e9t\\u00e9" if i % 7 == 0 else "")
                shard = zlib.crc32(job_id.encode()) % shards
                client.xadd(f"intone:{{{queue}#{shard}}}:jobs", {"job_id": job_id, "agent_id": "py-bot", "user_id": f"u-{i % 5}", "text": f"Reply {i}"})
                placed[job_id] = shard
            client.close()
            print(json.dumps(placed))
            """
        let node = cluster.liveNodes[2]
        let output = try PythonRedis.run(python, program, ["127.0.0.1", "\(node.port)", queue, "\(shards)", "60"])
        let line = try #require(output.split(separator: "\n").last)
        let placed = try JSONDecoder().decode([String: Int].self, from: Data(line.utf8))
        #expect(placed.count == 60)

        let connections = try connections()
        var read: [String: Int] = [:]
        for shard in 0..<shards {
            let lane = try connections.connection(for: ShardRouting.slot(queue: queue, shard: shard, shards: shards))
            let key = ShardRouting.keyPrefix(queue: queue, shard: shard, shards: shards) + "jobs"
            let reply = try lane.send(RedisCommands(["XRANGE", .string(key), "-", "+"]), idempotent: true)[0]
            for entry in reply.array ?? [] {
                let fields = Dictionary((entry.array?.last?.pairs ?? []).map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
                if let jobID = fields["job_id"]?.bytes {
                    read[String(decoding: jobID, as: UTF8.self)] = shard
                    #expect(ShardRouting.shard(forJobID: jobID, shards: shards) == shard)
                }
            }
        }
        #expect(read == placed)
    }

    @Test func credentialsFromTheURLReachEveryNode() throws {
        // A user on every node (ACLs are per node); the default user stays open for the
        // cluster's own tools, so ACL WHOAMI shows that the URL's user logged in.
        let user = "intone-\(UInt32.random(in: 0...UInt32.max))"
        for node in cluster.liveNodes {
            try cluster.connect(node.address).command("ACL", "SETUSER", .string(user), "on", ">s3cret", "~*", "&*", "+@all")
        }
        defer {
            for node in cluster.liveNodes { _ = try? cluster.connect(node.address).command("ACL", "DELUSER", .string(user)) }
        }
        let url = try RedisURL(parsing: "redis://\(user):s3cret@127.0.0.1:\(cluster.liveNodes[1].port)")
        guard case .cluster = try ClusterDiscovery.probe(url) else {
            Issue.record("the probe with credentials did not find the cluster")
            return
        }
        let connections = try ClusterConnections(url: url, logger: testLogger)
        for master in connections.topology.masters {
            let slot = try #require((0..<HashSlot.count).compactMap(HashSlot.init).first { connections.master(for: $0) == master.address })
            let lane = try connections.connection(for: slot)
            #expect(try lane.connection.command("ACL", "WHOAMI") == .bulk(Array(user.utf8)))
        }
        let wrong = try RedisURL(parsing: "redis://\(user):wrong@127.0.0.1:\(cluster.liveNodes[1].port)")
        do {
            _ = try ClusterConnections(url: wrong, logger: testLogger)
            Issue.record("a wrong password was accepted")
        } catch {
            #expect(error.code == .noReachableNode)
            #expect(error.message.contains("WRONGPASS"))
        }
    }

    /// Last: it leaves one master without a replica.
    @Test func lanesFindThePromotedReplicaAfterAMasterIsKilled() throws {
        let queue = queue()
        let topology = try cluster.topology()
        let shard = try #require(
            (0..<6).first { shard in
                let slot = ShardRouting.slot(queue: queue, shard: shard, shards: 6)
                return topology.shard(for: slot)?.replicas.contains { $0.health == .online } == true
            })
        let slot = ShardRouting.slot(queue: queue, shard: shard, shards: 6)
        let key = RedisArgument.string(ShardRouting.keyPrefix(queue: queue, shard: shard, shards: 6) + "counter")
        var options = ClusterOptions(failoverTimeoutMilliseconds: 20_000)
        options.backoff = ClusterBackoff(initialMilliseconds: 50, capMilliseconds: 500)
        let connections = try connections(options)
        let lane = try connections.connection(for: slot)
        #expect(try lane.send(RedisCommands(["INCR", key])) == [.integer(1)])
        // WAIT: the increment is on the replica before the master dies (else it could be lost).
        #expect(try lane.send(RedisCommands(["WAIT", 1, 2000])) == [.integer(1)])

        let (master, replica) = try cluster.killMaster(serving: slot)
        #expect(lane.address == master)
        let killedAt = Date()

        // A wait shorter than a failover ends with a typed error, in time.
        var short = options
        short.failoverTimeoutMilliseconds = 300
        let impatient = try ClusterConnections(url: cluster.url(), options: short, logger: testLogger)
        do {
            _ = try impatient.connection(for: slot)
            Issue.record("a connection was made to a dead master")
        } catch {
            #expect(error.code == .noMaster)
            #expect(error.message.contains("slot \(slot)"))
        }
        #expect(Date().timeIntervalSince(killedAt) < 1.9)

        // The lane's next pipeline waits out the failover and runs on the promoted replica.
        #expect(try lane.send(RedisCommands(["INCR", key]), idempotent: true) == [.integer(2)])
        let took = Date().timeIntervalSince(killedAt)
        #expect(took < Double(TestCluster.nodeTimeoutMilliseconds) / 1000 + 5, "failover took \(took) s")
        #expect(lane.address == replica)
        #expect(lane.reconnects >= 1)
        #expect(connections.master(for: slot) == replica)
        try cluster.waitForPromotion(of: replica, seconds: 10)
        try cluster.waitUntilHealthy(seconds: 30, requireReplicas: false)
    }
}
