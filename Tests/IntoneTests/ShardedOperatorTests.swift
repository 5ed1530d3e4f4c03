import Foundation
import Testing

@testable import IntoneCore
@testable import IntoneWeb

/// The operator tools on a sharded queue: through `QueueAccess`, on a single Redis (this
/// suite) and on a Redis Cluster (`ShardedClusterOperatorTests`).
enum ShardedOperations {
    /// Records `shards` in the queue's configuration, as the first worker does.
    static func configure(_ keys: QueueKeys, shards: Int, on connection: RedisConnection) throws {
        try connection.command("HSET", .string(keys.config), "shards", .integer(shards))
    }

    /// Puts figures on every stream: `i + 1` jobs waiting and `i + 1` dead letters on shard
    /// i, one of each on the version-1 stream, and results on each.
    static func fill(_ access: QueueAccess) throws -> (jobs: Int, dead: Int, results: Int) {
        var jobs = 0
        var dead = 0
        var results = 0
        for (index, keys) in access.shards.served.enumerated() {
            let connection = try access.connection(for: keys)
            let count = keys.shard == nil ? 1 : index + 1
            for n in 0..<count {
                try connection.command("XADD", .string(keys.jobs), "*", "agent_id", "a", "user_id", "u", "text", .string("job \(n)"))
                try connection.command("XADD", .string(keys.dead), "*", "job_id", .string("d-\(index)-\(n)"), "error", "bad_parameter")
                try connection.command("XADD", .string(keys.results), "*", "job_id", .string("r-\(index)-\(n)"), "status", "ok")
                try connection.command("SET", .string(keys.audio(jobID: "r-\(index)-\(n)")), .bytes(Array(repeating: 7, count: 100)))
            }
            jobs += count
            dead += count
            results += count
        }
        return (jobs, dead, results)
    }

    /// Status, enqueue, dead-letter retry and audio checked against what is in Redis.
    static func checkAll(_ access: QueueAccess) throws {
        let shards = access.shards.count
        let filled = try fill(access)
        let status = try QueueStatus.read(access)
        #expect(status.shards == shards)
        #expect(status.streams?.count == shards + 1)
        #expect(status.streamLength == filled.jobs && status.lag == filled.jobs, "jobs of every stream add up")
        #expect(status.deadLetters == filled.dead && status.resultsKept == filled.results)
        #expect(status.streams?.map(\.deadLetters) == (0..<shards).map { $0 + 1 } + [1], "each stream's own figures")
        #expect(status.audioInRedis?.keysSampled == filled.results, "audio keys of every shard")
        #expect(status.audioInRedis?.formats.first?.bytes == filled.results * 100)
        #expect(status.table().contains(access.shards.served[1].jobs))

        // Enqueue: by crc32(job_id) mod N, the same shard every time; the console's overview.
        // zlib.crc32 of each id, as Python computes it.
        let zlibCRC32: [String: UInt32] = ["reply-1": 475_275_755, "reply-2": 2_237_493_329, "ü-3": 369_271_417]
        for jobID in ["reply-1", "reply-2", "ü-3", "reply-1"] {
            let fields = [("job_id", jobID), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")]
            let target = access.shards.keys(forJob: fields, index: 0)
            let expected = Int(try #require(zlibCRC32[jobID]) % UInt32(shards))
            #expect(target.shard == expected, "\(jobID)")
            try JobProducer(keys: target).enqueue(fields, on: try access.connection(for: target))
        }
        let first = access.shards.keys(forJobID: "reply-1")
        let onFirst = try streamEntries(first.jobs, on: try access.connection(for: first)).filter { $0["job_id"] == "reply-1" }
        #expect(onFirst.count == 2, "a repeated job_id lands on the same shard")

        // Dead letters: a retry goes back onto the letter's own shard.
        let shardKeys = access.shards.served[shards - 1]
        let letterID =
            try access.connection(for: shardKeys).command(
                "XADD", .string(shardKeys.dead), "*", "job_id", "back-home", "agent_id", "a", "user_id", "u", "text", "Again.", "error",
                "synthesis_failed", "message", "x", "entry_id", "1-1", "attempts", "1", "failed_at", "1"
            ).string ?? ""
        let dead = ShardedDeadLetters(access: access)
        let named = "\(letterID)@\(shards - 1)"
        #expect(try dead.list(count: 1000, error: "synthesis_failed").letters.map(\.keys) == [shardKeys])
        let outcome = try dead.retry([named]).first?.outcome
        guard case .retried(let retriedOnto, _)? = outcome else {
            Issue.record("not retried: \(String(describing: outcome))")
            return
        }
        #expect(retriedOnto == shardKeys)
        let back = try streamEntries(shardKeys.jobs, on: try access.connection(for: shardKeys)).filter { $0["job_id"] == "back-home" }
        #expect(back.count == 1 && back.first?["text"] == "Again.")
        #expect(try dead.retry([named]).first?.outcome == .notFound, "retried once")

        // Audio: found on the job's shard.
        let audioJob = "spoken-on-its-shard"
        let audioKeys = access.shards.keys(forJobID: ByteString(audioJob))
        let audioConnection = try access.connection(for: audioKeys)
        let wav = Array("RIFF".utf8) + [0, 0, 0, 0] + Array("WAVE".utf8) + Array(repeating: 1, count: 40)
        try audioConnection.command("SET", .string(audioKeys.audio(jobID: audioJob)), .bytes(wav))
        try audioConnection.command("XADD", .string(audioKeys.results), "*", "job_id", .string(audioJob), "status", "ok", "format", "wav")
        guard case .audio(let audio) = try AudioExport(keys: audioKeys).fetch(jobID: audioJob, on: audioConnection) else {
            Issue.record("the audio was not found on the job's shard")
            return
        }
        #expect(audio.bytes == wav && audio.formatName == "wav")
        #expect(access.streams(forJobID: ByteString(audioJob)).first == audioKeys)
    }
}

@Suite(.redisServer) struct ShardedOperatorTests {
    func access(_ keys: QueueKeys, shards: Int? = nil, record: Bool = false) throws -> QueueAccess {
        guard let server = TestRedis.server else { throw TestSupportError("no server") }
        return try QueueAccess.open(url: server.url, queue: keys, shards: shards, record: record)
    }

    @Test func theShardCountIsTheQueuesAndOneGivenMustAgree() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        #expect(try access(keys).shards.count == 1, "no configuration: one stream")
        #expect(try access(keys, shards: 4).shards.count == 4, "a count given is used while none is stored")
        #expect(try connection.command("EXISTS", .string(keys.config)).integer == 0, "a reader records nothing")
        #expect(try access(keys, shards: 4, record: true).storedShards == 4, "a producer records it, as a worker does")
        #expect(try access(keys).shards.count == 4)
        #expect(throws: RedisError.self) { try access(keys, shards: 3) }
    }

    @Test func statusSumsShardsEnqueueRoutesDeadRetriesAndAudioOnASingleRedis() throws {
        let keys = try uniqueQueue()
        try ShardedOperations.configure(keys, shards: 3, on: try TestRedis.connect())
        let access = try access(keys)
        #expect(!access.isCluster && access.shards.count == 3)
        try ShardedOperations.checkAll(access)
    }

    @Test func theCommandsPrintEachShard() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        try ShardedOperations.configure(keys, shards: 2, on: connection)
        let server = try #require(TestRedis.server)
        let arguments = ["--redis", "unix://" + server.socketPath, "--queue", keys.queue]
        let enqueue = try intone(["enqueue", "--agent", "a", "--user", "u", "--job-id", "abc", "Hello."] + arguments)
        #expect(enqueue.status == 0 && enqueue.output == "abc\n", "\(enqueue.errors)")
        let shard = ShardRouting.shard(forJobID: Array("abc".utf8), shards: 2)
        #expect(enqueue.errors.contains("intone:{\(keys.queue)#\(shard)}:jobs"), "\(enqueue.errors)")
        #expect(try connection.command("XLEN", .string(keys.shard(shard).jobs)).integer == 1)
        let status = try intone(["status"] + arguments)
        #expect(status.status == 0, "\(status.errors)")
        for keys in QueueShards(base: keys, count: 2).served { #expect(status.output.contains(keys.jobs), "\(status.output)") }
        let letter = try connection.command("XADD", .string(keys.shard(1).dead), "*", "job_id", "x", "error", "bad_parameter").string ?? ""
        let list = try intone(["dead", "list"] + arguments)
        #expect(list.output.contains("\(letter)@1"), "\(list.output)")
        let mismatch = try intone(["status", "--shards", "5"] + arguments)
        #expect(mismatch.status != 0 && mismatch.errors.contains("disagrees"), "\(mismatch.errors)")
    }

    @Test func theConsoleOverviewListsShardsAndRetriesALetterOntoItsShard() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        try ShardedOperations.configure(keys, shards: 2, on: connection)
        try connection.command("XADD", .string(keys.shard(0).jobs), "*", "text", "a")
        try connection.command("XADD", .string(keys.shard(1).jobs), "*", "text", "b")
        try connection.command("XADD", .string(keys.shard(1).jobs), "*", "text", "c")
        let letter =
            try connection.command(
                "XADD", .string(keys.shard(1).dead), "*", "job_id", "j", "agent_id", "a", "user_id", "u", "text", "t", "error",
                "bad_parameter"
            ).string ?? ""
        try await withConsole(try makeConsole(keys)) { browser in
            let overview = try await browser.get("/").text
            #expect(overview.contains("id=\"lag\">3<"), "the sum of the shards")
            for stream in QueueShards(base: keys, count: 2).served {
                #expect(overview.contains("data-stream=\"\(stream.jobs)\""), "\(stream.jobs)")
            }
            for path in ["/workers", "/results", "/agents", "/dead/\(letter)@1"] {
                #expect(try await browser.get(path).status == .ok, "\(path)")
            }
            let dead = try await browser.get("/dead").text
            #expect(dead.contains("/dead/\(letter)@1/retry"))
            let retried = try await browser.post("/dead/\(letter)@1/retry")
            #expect(retried.location == "/dead?done=retried&n=1")
        }
        #expect(try connection.command("XLEN", .string(keys.shard(1).jobs)).integer == 3, "back on its own shard")
        #expect(try connection.command("XLEN", .string(keys.shard(1).dead)).integer == 0)
    }
}

/// The same on a real six-node Redis Cluster: each shard's keys on its slot's master.
@Suite(.redisCluster, .serialized) struct ShardedClusterOperatorTests {
    @Test func statusSumsShardsEnqueueRoutesDeadRetriesAndAudioOnACluster() throws {
        let cluster = try TestClusterContext.current()
        let keys = try QueueKeys(queue: "ops-\(UInt32.random(in: 0...UInt32.max))")
        let queueMaster = try #require(try cluster.topology().master(for: HashSlot(forKey: keys.jobs)))
        try ShardedOperations.configure(keys, shards: 6, on: try cluster.connect(queueMaster.address))
        let access = try QueueAccess.open(url: cluster.url(1), queue: keys)
        #expect(access.isCluster && access.shards.count == 6)
        // Six shard tags land on more than one master, so the sums need every one.
        let masters = Set(access.shards.served.compactMap { access.node(of: $0) })
        #expect(masters.count > 1, "\(masters)")
        try ShardedOperations.checkAll(access)
        // What is on a shard is on its slot's master, not on the {Q} master.
        let shard = try #require(access.shards.served.first { access.node(of: $0) != access.node(of: keys) })
        let master = try #require(try cluster.topology().master(for: HashSlot(forKey: shard.jobs)))
        #expect(try cluster.connect(master.address).command("XLEN", .string(shard.jobs)).integer ?? 0 > 0)
    }

    /// `intone demo --redis` on a cluster node: the demo's queue (one slot) is used on that
    /// slot's master, wherever it is, and all its keys are removed after.
    @Test func theDemoRunsOnAClusterAndCleansUp() throws {
        let cluster = try TestClusterContext.current()
        let directory = NSTemporaryDirectory() + "intone-demo-cluster-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try intone(
            ["demo", "--redis", "redis://127.0.0.1:\(cluster.liveNodes[0].port)", "--output", directory + "/out"])
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.contains("demo-greeting") && run.output.contains("synthesis_crashed"))
        let queue = try #require(run.output.firstMatch(of: /Removed the demo's queue (demo-[0-9a-f]{8})/)?.1)
        let keys = try QueueKeys(queue: String(queue))
        let master = try #require(try cluster.topology().master(for: HashSlot(forKey: keys.jobs)))
        let left = try cluster.connect(master.address).command("SCAN", "0", "MATCH", .string(keys.prefix + "*"), "COUNT", "1000")
        #expect(left.array?.last?.array?.isEmpty == true, "the demo removed every key of its queue")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory + "/out")
        #expect(files.contains { $0.hasPrefix("demo-telephony.") } && files.contains { $0.hasPrefix("demo-browser.") })
    }

    @Test func theConsoleReadsEveryShardOfACluster() async throws {
        let cluster = try TestClusterContext.current()
        let keys = try QueueKeys(queue: "web-\(UInt32.random(in: 0...UInt32.max))")
        let topology = try cluster.topology()
        try ShardedOperations.configure(
            keys, shards: 4, on: try cluster.connect(try #require(topology.master(for: HashSlot(forKey: keys.jobs))).address))
        for shard in 0..<4 {
            let shardKeys = keys.shard(shard)
            let connection = try cluster.connect(try #require(topology.master(for: HashSlot(forKey: shardKeys.jobs))).address)
            try connection.command("XADD", .string(shardKeys.jobs), "*", "text", "waiting")
        }
        try await withConsole(try makeConsole(keys, redisURL: cluster.url())) { browser in
            let overview = try await browser.get("/")
            #expect(overview.status == .ok, "\(overview.text)")
            #expect(overview.text.contains("id=\"lag\">4<"), "one job on each of four shards")
            #expect(overview.text.matches(of: /data-stream=/).count == 5)
            for path in ["/workers", "/results", "/dead", "/agents"] {
                let page = try await browser.get(path)
                #expect(page.status == .ok, "\(path): \(page.text.suffix(600))")
            }
        }
    }
}
