import Foundation
import IntoneTools
import Logging
import Testing

@testable import IntoneCore

/// The cluster's pure parts, without a server: slots, shard tags, redirects, maps.
@Suite struct ClusterRoutingTests {
    // MARK: Hash slots

    @Test func crc16IsXmodem() {
        #expect(HashSlot.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(HashSlot.crc16([UInt8]()) == 0)
    }

    @Test func slotsFollowTheHashTagRule() {
        #expect(HashSlot(forKey: "foo").rawValue == 12182)
        // The tag is hashed alone: these share a slot.
        #expect(HashSlot(forKey: "{user1000}.following") == HashSlot(forKey: "user1000"))
        #expect(HashSlot(forKey: "{user1000}.followers") == HashSlot(forKey: "user1000"))
        // An empty first tag: the whole key is hashed (the next tag does not count).
        #expect(HashSlot.hashedPart(of: Array("{}{a}".utf8)) == ArraySlice("{}{a}".utf8))
        #expect(HashSlot.hashedPart(of: Array("{{a}}".utf8)) == ArraySlice("{a".utf8))
        #expect(HashSlot.hashedPart(of: Array("a{b".utf8)) == ArraySlice("a{b".utf8))
        #expect(HashSlot.hashedPart(of: Array("}{a}".utf8)) == ArraySlice("a".utf8))
        #expect(HashSlot.hashedPart(of: [0, 0xFF, UInt8(ascii: "{"), 1, UInt8(ascii: "}")]) == [1])
        #expect(HashSlot(forKey: "{tts}") == HashSlot(forKey: "intone:{tts}:jobs"))
    }

    @Test func slotNumbersAreBounded() {
        #expect(HashSlot(16383) != nil)
        #expect(HashSlot(16384) == nil)
        #expect(HashSlot(-1) == nil)
        #expect(HashSlot(rawValue: 16384) == nil)
    }

    // MARK: Shards

    @Test func shardTagsAreTheContractsOnes() {
        #expect(ShardRouting.hashTag(queue: "tts", shard: 0, shards: 1) == "{tts}")
        #expect(ShardRouting.hashTag(queue: "tts", shard: 3, shards: 6) == "{tts#3}")
        #expect(ShardRouting.hashTag(queue: "tts", shard: 10, shards: 12) == "{tts#10}")
        #expect(ShardRouting.keyPrefix(queue: "tts", shard: 3, shards: 6) == "intone:{tts#3}:")
        #expect(ShardRouting.queueHashTag(queue: "tts") == "{tts}")
        #expect(ShardRouting.slot(queue: "tts", shard: 3, shards: 6) == HashSlot(forKey: "intone:{tts#3}:jobs"))
        #expect(ShardRouting.slot(queue: "tts", shard: 0, shards: 1) == HashSlot(forKey: "intone:{tts}:jobs"))
    }

    @Test func crc32IsZlibs() {
        // Values from Python's zlib.crc32.
        #expect(ShardRouting.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(ShardRouting.crc32([UInt8]()) == 0)
        #expect(ShardRouting.crc32(Array("a".utf8)) == 3_904_355_907)
        #expect(ShardRouting.crc32(Array("job-1".utf8)) == 1_279_408_703)
        #expect(ShardRouting.crc32(Array("reply-42".utf8)) == 1_348_871_577)
        #expect(ShardRouting.crc32(Array("é".utf8)) == 235_179_326)
        #expect(ShardRouting.crc32([0, 255, 128]) == 2_178_787_136)
        #expect(ShardRouting.shard(forJobID: Array("reply-42".utf8), shards: 6) == Int(1_348_871_577 % 6))
        #expect(ShardRouting.shard(forJobID: Array("reply-42".utf8), shards: 1) == 0)
    }

    /// The shard of many job ids, here and in Python's zlib (the producers' language).
    @Test func jobShardsMatchPythonZlib() throws {
        guard let python = BoundedProcess.find("python3") else {
            Issue.record("python3 is not installed; cannot compare with zlib.crc32")
            return
        }
        var ids: [[UInt8]] = ["", "reply-42", "ünïcode-ø", "a b\tc", "{tts#3}", "0"].map { Array($0.utf8) }
        var generator = SystemRandomNumberGenerator()
        for length in 1...300 {
            ids.append((0..<(length % 40 + 1)).map { _ in UInt8.random(in: 0...255, using: &generator) })
        }
        let hex = ids.map { $0.map { String(format: "%02x", $0) }.joined() }
        let program = "import sys, zlib\nfor h in sys.argv[1:]:\n    print(zlib.crc32(bytes.fromhex(h)))"
        let output = try PythonRedis.run(python, program, hex)
        let values = output.split(separator: "\n").compactMap { UInt32($0) }
        try #require(values.count == ids.count)
        for (id, value) in zip(ids, values) {
            #expect(ShardRouting.crc32(id) == value, "\(id)")
            for shards in [2, 3, 6, 16] {
                #expect(ShardRouting.shard(forJobID: id, shards: shards) == Int(value % UInt32(shards)))
            }
        }
    }

    @Test func sixShardsLandUnevenlyOnADefaultThreeMasterMap() {
        let topology = Self.defaultMap()
        let placement = ShardRouting.placement(queue: "tts", shards: 6, in: topology)
        #expect(placement.map(\.slot.rawValue) == [14522, 10395, 6392, 2265, 14398, 10271])
        let counts = ShardRouting.shardsPerMaster(placement)
        #expect(counts[ClusterNodeAddress(host: "10.0.0.1", port: 6379)] == 1)
        #expect(counts[ClusterNodeAddress(host: "10.0.0.2", port: 6379)] == 3)
        #expect(counts[ClusterNodeAddress(host: "10.0.0.3", port: 6379)] == 2)
        #expect(placement[3].description == "{tts#3} slot 2265 -> 10.0.0.1:6379")
    }

    // MARK: Redirects

    @Test func redirectsParse() {
        let address = ClusterNodeAddress(host: "127.0.0.1", port: 6381)
        #expect(ClusterRedirect(errorMessage: "MOVED 3999 127.0.0.1:6381") == .moved(slot: HashSlot(3999)!, to: address))
        #expect(ClusterRedirect(errorMessage: "ASK 3999 127.0.0.1:6381") == .ask(slot: HashSlot(3999)!, to: address))
        #expect(
            ClusterRedirect(errorMessage: "MOVED 1 ::1:7000") == .moved(slot: HashSlot(1)!, to: ClusterNodeAddress(host: "::1", port: 7000))
        )
        #expect(
            ClusterRedirect(errorMessage: "MOVED 1 [::1]:7000")
                == .moved(slot: HashSlot(1)!, to: ClusterNodeAddress(host: "::1", port: 7000)))
        // An empty host means the host the command went to.
        let relative = ClusterRedirect(errorMessage: "MOVED 7 :7001")
        #expect(relative == .moved(slot: HashSlot(7)!, to: ClusterNodeAddress(host: "", port: 7001)))
        #expect(ClusterNodeAddress(host: "", port: 7001).resolved(relativeTo: "10.1.1.1").host == "10.1.1.1")
        #expect(ClusterRedirect(errorMessage: "TRYAGAIN Multiple keys request during rehashing of slot") != nil)
        #expect(ClusterRedirect(errorMessage: "CLUSTERDOWN Hash slot not served") == .clusterDown("CLUSTERDOWN Hash slot not served"))
        #expect(
            ClusterRedirect(errorMessage: "LOADING Redis is loading the dataset in memory")?.instruction
                == .backOffAndResend(refreshMap: false))
        #expect(ClusterRedirect(errorMessage: "MASTERDOWN Link with MASTER is down")?.instruction == .backOffAndResend(refreshMap: true))
        #expect(
            ClusterRedirect(errorMessage: "READONLY You can't write against a read only replica.")?.instruction
                == .refreshAndResend(slot: nil, master: nil))
        // Plain errors and malformed redirects are not cluster conditions.
        #expect(ClusterRedirect(errorMessage: "ERR wrong number of arguments") == nil)
        #expect(ClusterRedirect(errorMessage: "MOVED 99999 127.0.0.1:1") == nil)
        #expect(ClusterRedirect(errorMessage: "MOVED 12 nohostport") == nil)
        #expect(ClusterRedirect(errorMessage: "EXECABORT Transaction discarded because of previous errors.") == nil)
        #expect(ClusterRedirect(errorMessage: "") == nil)
    }

    @Test func instructionsSayWhatToDo() {
        let address = ClusterNodeAddress(host: "h", port: 1)
        let slot = HashSlot(5)!
        #expect(ClusterRedirect.moved(slot: slot, to: address).instruction == .refreshAndResend(slot: slot, master: address))
        #expect(ClusterRedirect.ask(slot: slot, to: address).instruction == .askAndResend(address))
        #expect(ClusterRedirect.tryAgain("TRYAGAIN").instruction == .backOffAndResend(refreshMap: false))
        #expect(ClusterRedirect.clusterDown("CLUSTERDOWN").instruction == .backOffAndResend(refreshMap: true))
    }

    @Test func scanFindsTheRedirectOfARefusedTransaction() {
        // MULTI, a queued command refused with MOVED, EXEC aborted because of it.
        let replies: [RedisReply] = [
            .status("OK"), .status("OK"), .error("MOVED 12182 127.0.0.1:17003"),
            .error("EXECABORT Transaction discarded because of previous errors."),
        ]
        let found = ClusterRedirect.scan(replies)
        #expect(found?.commandIndex == 2)
        #expect(found?.redirect == .moved(slot: HashSlot(12182)!, to: ClusterNodeAddress(host: "127.0.0.1", port: 17003)))
    }

    @Test func scanLooksIntoArrays() {
        let replies: [RedisReply] = [
            .integer(1), .array([.status("OK"), .array([.bulk([1]), .error("TRYAGAIN Multiple keys")])]), .error("ASK 1 h:2"),
        ]
        #expect(ClusterRedirect.scan(replies) == ClusterRedirect.Found(commandIndex: 1, redirect: .tryAgain("TRYAGAIN Multiple keys")))
        #expect(ClusterRedirect.scan([.status("OK"), .error("WRONGTYPE Operation"), .bulk(Array("MOVED 1 h:2".utf8))]) == nil)
        #expect(ClusterRedirect.scan([]) == nil)
    }

    // MARK: Maps

    @Test func clusterShardsReplyParses() throws {
        func node(_ id: String, _ port: Int, _ role: String, _ health: String, endpoint: String = "127.0.0.1") -> RedisReply {
            .array([
                .bulk(Array("id".utf8)), .bulk(Array(id.utf8)), .bulk(Array("port".utf8)), .integer(Int64(port)),
                .bulk(Array("ip".utf8)), .bulk(Array("127.0.0.1".utf8)), .bulk(Array("endpoint".utf8)), .bulk(Array(endpoint.utf8)),
                .bulk(Array("role".utf8)), .bulk(Array(role.utf8)), .bulk(Array("replication-offset".utf8)), .integer(42),
                .bulk(Array("health".utf8)), .bulk(Array(health.utf8)),
            ])
        }
        func shard(_ slots: [Int64], _ nodes: [RedisReply]) -> RedisReply {
            .array([.bulk(Array("slots".utf8)), .array(slots.map { .integer($0) }), .bulk(Array("nodes".utf8)), .array(nodes)])
        }
        let reply = RedisReply.array([
            shard([0, 5460, 16000, 16001], [node("a", 7001, "master", "online"), node("d", 7004, "replica", "loading")]),
            // During a failover: the failed master is still listed next to the new one.
            shard([5461, 10922], [node("b", 7002, "master", "failed"), node("e", 7005, "master", "online", endpoint: "")]),
            shard([], [node("c", 7003, "master", "online", endpoint: "?")]),
        ])
        let topology = try ClusterTopology.parse(shardsReply: reply, queriedHost: "10.9.9.9")
        #expect(topology.shards.count == 3)
        #expect(topology.master(for: HashSlot(0)!)?.address == ClusterNodeAddress(host: "127.0.0.1", port: 7001))
        #expect(topology.master(for: HashSlot(16001)!)?.id == "a")
        #expect(topology.master(for: HashSlot(16002)!) == nil)
        #expect(topology.shard(for: HashSlot(0)!)?.replicas.map(\.health) == [.loading])
        // The empty endpoint is the queried host; the failed master becomes a replica entry.
        #expect(topology.master(for: HashSlot(6000)!)?.address == ClusterNodeAddress(host: "10.9.9.9", port: 7005))
        #expect(topology.shard(for: HashSlot(6000)!)?.replicas.map(\.id) == ["b"])
        #expect(topology.masters.map(\.id) == ["a", "e"])
        #expect(topology.shards[2].master?.address.host == "127.0.0.1")
        #expect(topology.unservedSlotCount == 16384 - 5461 - 2 - 5462)
        #expect(topology.shard(for: HashSlot(0)!)?.master?.replicationOffset == 42)
    }

    @Test func clusterSlotsReplyParses() throws {
        func node(_ host: String, _ port: Int64, _ id: String) -> RedisReply {
            .array([.bulk(Array(host.utf8)), .integer(port), .bulk(Array(id.utf8)), .array([])])
        }
        let reply = RedisReply.array([
            .array([.integer(0), .integer(100), node("10.0.0.1", 1, "m1"), node("10.0.0.4", 4, "r1")]),
            .array([.integer(101), .integer(199), node("", 2, "m2")]),
            .array([.integer(200), .integer(200), node("10.0.0.1", 1, "m1"), node("10.0.0.4", 4, "r1")]),
            .array([.integer(201), .integer(16383), node("", 2, "m2")]),
        ])
        let topology = try ClusterTopology.parse(slotsReply: reply, queriedHost: "10.0.0.9")
        #expect(topology.shards.count == 2)
        #expect(topology.shards[0].slotRanges == [0...100, 200...200])
        #expect(topology.shards[0].replicas.map(\.id) == ["r1"])
        #expect(topology.master(for: HashSlot(200)!)?.id == "m1")
        #expect(topology.master(for: HashSlot(150)!)?.address == ClusterNodeAddress(host: "10.0.0.9", port: 2))
        #expect(topology.shards[1].slotRanges == [101...199, 201...16383])
        #expect(topology.unservedSlotCount == 0)
    }

    @Test func badMapsAreTypedErrors() {
        #expect(throws: ClusterError.self) { try ClusterTopology.parse(shardsReply: .status("OK"), queriedHost: "h") }
        #expect(throws: ClusterError.self) {
            try ClusterTopology.parse(slotsReply: .array([.array([.integer(5), .integer(2), .array([])])]), queriedHost: "h")
        }
        do {
            _ = try ClusterTopology.parse(shardsReply: .array([.integer(1)]), queriedHost: "h")
        } catch {
            #expect(error.code == .badTopology)
        }
    }

    @Test func movedSlotsChangeTheMap() {
        let topology = Self.defaultMap()
        let second = ClusterNodeAddress(host: "10.0.0.2", port: 6379)
        let moved = topology.assigning(HashSlot(100)!, to: second)
        #expect(moved.master(for: HashSlot(100)!)?.address == second)
        #expect(moved.master(for: HashSlot(99)!)?.address.host == "10.0.0.1")
        #expect(moved.shards[0].slotRanges == [0...99, 101...5460])
        let unknown = ClusterNodeAddress(host: "10.0.0.7", port: 1)
        let added = moved.assigning(HashSlot(0)!, to: unknown)
        #expect(added.master(for: HashSlot(0)!)?.address == unknown)
        #expect(added.shards.count == 4)
        #expect(added.unservedSlotCount == 0)
    }

    // MARK: URLs, backoff, ASK pipelines

    @Test func clusterURLsAreTCPOnDatabaseZero() throws {
        #expect(throws: Never.self) { try ClusterDiscovery.validate(try RedisURL(parsing: "redis://u:p@10.0.0.1:7000")) }
        let socket = try RedisURL(parsing: "unix:///run/redis.sock")
        let database = try RedisURL(parsing: "redis://10.0.0.1:7000/2")
        do {
            try ClusterDiscovery.validate(socket)
            Issue.record("a Unix socket was accepted")
        } catch {
            #expect(error.code == .unsupportedURL)
            #expect(error.message.contains("redis://[user:password@]host:port"))
        }
        do {
            try ClusterDiscovery.validate(database)
            Issue.record("database 2 was accepted")
        } catch {
            #expect(error.code == .unsupportedDatabase)
            #expect(error.message.contains("database 2"))
        }
        #expect(throws: ClusterError.self) {
            try ClusterConnections(url: RedisURL(endpoint: .unix(path: "/tmp/x.sock")), logger: Logger(label: "t"))
        }
    }

    @Test func backoffGrowsToItsCap() {
        let backoff = ClusterBackoff(initialMilliseconds: 50, capMilliseconds: 1000)
        #expect((0..<7).map { backoff.ceiling(attempt: $0) } == [50, 100, 200, 400, 800, 1000, 1000])
        #expect(backoff.delay(attempt: 0, unit: 0) == 25)
        #expect(backoff.delay(attempt: 0, unit: 1) == 50)
        #expect(backoff.delay(attempt: 100, unit: 0.5) == 750)
        for attempt in 0..<50 { #expect((1...1000).contains(backoff.delay(attempt: attempt))) }
    }

    @Test func askingGoesBeforeEachCommandAndEachTransaction() throws {
        var commands = RedisCommands()
        commands.append("GET", "{a}x")
        commands.append("MULTI")
        commands.append("SET", "{a}y", .bytes(Array(repeating: 7, count: 40_000)))
        commands.append("EXEC")
        commands.append("XLEN", "{a}s")
        let pipeline = try #require(AskingPipeline(commands))
        let words = try #require(AskingPipeline.split(pipeline.commands.encoded))
        #expect(
            words.map { String(decoding: $0[0], as: UTF8.self) } == ["ASKING", "GET", "ASKING", "MULTI", "SET", "EXEC", "ASKING", "XLEN"])
        #expect(words[4][2].count == 40_000)
        #expect(pipeline.commands.names == ["ASKING", "GET", "ASKING", "MULTI", "SET", "EXEC", "ASKING", "XLEN"])
        let replies: [RedisReply] = [
            .status("OK"), .null, .status("OK"), .status("OK"), .status("QUEUED"), .array([]), .status("OK"), .integer(3),
        ]
        #expect(pipeline.originalReplies(replies) == [.null, .status("OK"), .status("QUEUED"), .array([]), .integer(3)])
    }

    // MARK: Bounded waits

    @Test func waitsForAMasterAreBoundedAndStoppable() async throws {
        let port = try LocalPorts.free()  // nothing listens there: connects are refused
        let address = ClusterNodeAddress(host: "127.0.0.1", port: port)
        let url = RedisURL(endpoint: .tcp(host: "127.0.0.1", port: port))
        let master = ClusterNode(id: "gone", address: address, ip: "127.0.0.1", role: .master)
        let map = ClusterTopology(shards: [ClusterShard(slotRanges: [0...16383], master: master, replicas: [])])
        let slot = HashSlot(forKey: "{tts#1}")

        // No node answers: the map cannot be read, and the message names the node.
        do {
            _ = try ClusterConnections(url: url, logger: testLogger)
            Issue.record("a map was read from a closed port")
        } catch {
            #expect(error.code == .noReachableNode)
            #expect(error.message.contains("\(address)"))
        }

        // A master that never comes back: .noMaster once the failover timeout is over.
        let short = try ClusterConnections(
            url: url, topology: map, options: ClusterOptions(failoverTimeoutMilliseconds: 400), logger: testLogger)
        var started = Monotonic.milliseconds()
        do {
            _ = try short.connection(for: slot)
            Issue.record("a lane connected to a closed port")
        } catch {
            #expect(error.code == .noMaster)
            #expect(error.message.contains("slot \(slot)"))
        }
        var took = Monotonic.milliseconds() - started
        #expect(took >= 400 && took < 2000, "\(took) ms")

        // stop() ends a long wait at once.
        let long = try ClusterConnections(
            url: url, topology: map, options: ClusterOptions(failoverTimeoutMilliseconds: 60_000), logger: testLogger)
        let stopper = BackgroundThread.start {
            usleep(200_000)
            long.stop()
        }
        started = Monotonic.milliseconds()
        do {
            _ = try long.connection(for: slot)
            Issue.record("a lane connected to a closed port")
        } catch {
            #expect(error.code == .stopped)
        }
        took = Monotonic.milliseconds() - started
        #expect(took < 2000, "\(took) ms")
        try await stopper.join()
    }

    /// The map `redis-cli --cluster create` makes of three masters.
    static func defaultMap() -> ClusterTopology {
        let ranges: [ClosedRange<UInt16>] = [0...5460, 5461...10922, 10923...16383]
        return ClusterTopology(
            shards: ranges.enumerated().map { index, range in
                let address = ClusterNodeAddress(host: "10.0.0.\(index + 1)", port: 6379)
                return ClusterShard(
                    slotRanges: [range], master: ClusterNode(id: "m\(index)", address: address, ip: address.host, role: .master),
                    replicas: [])
            })
    }
}
