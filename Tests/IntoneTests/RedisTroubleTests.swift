import Foundation
import IntoneTools
import Testing

@testable import IntoneCore

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// When Redis says no: nothing acknowledged without its result, nothing counted against
/// a job that is not its fault, and an operator who can see why. Each test has a Redis
/// of its own (they change its memory limit, its ACL, its keys).
@Suite struct RedisTroubleTests {
    /// A private redis-server on a TCP port (the worker under test runs as a process).
    func server(_ extra: [String] = []) throws -> EmbeddedRedisServer {
        try EmbeddedRedisServer(port: try LocalPorts.free(), extraArguments: extra)
    }

    func readyz(_ port: Int) async -> (status: Int, body: String)? {
        guard let url = URL(string: "http://127.0.0.1:\(port)/readyz"),
            let (data, response) = try? await URLSession.shared.data(from: url)
        else { return nil }
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// Polls /readyz until `accept` holds; fails the test after `seconds`.
    @discardableResult
    func waitForReadyz(_ port: Int, seconds: Double = 20, _ accept: (Int, String) -> Bool) async throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var last = ""
        while Date() < deadline {
            if let (status, body) = await readyz(port) {
                last = "\(status) \(body)"
                if accept(status, body) { return body }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("waited \(seconds) s for /readyz; last: \(last)")
        return last
    }

    func tcpURL(_ server: EmbeddedRedisServer, user: String? = nil, password: String? = nil) -> RedisURL {
        RedisURL(endpoint: .tcp(host: "127.0.0.1", port: server.port), username: user, password: password)
    }

    /// Version 1.1: a Redis that cannot be reached at start is waited for (one log line
    /// naming it, /readyz not ready), and once it is there the worker works.
    @Test func anUnreachableRedisIsWaitedFor() async throws {
        let port = try LocalPorts.free()
        let metrics = try LocalPorts.free()
        let keys = try uniqueQueue()
        let url = RedisURL(endpoint: .tcp(host: "127.0.0.1", port: port))
        let worker = try WorkerProcess(
            url: url, queue: keys, consumer: "patient", arguments: ["--metrics-port", String(metrics)], logLevel: "info", captureLog: true)
        let body = try await waitForReadyz(metrics) { status, body in status == 503 && body.contains("127.0.0.1:\(port)") }
        #expect(body.contains("not reachable"))
        try await Task.sleep(for: .seconds(2))
        #expect(worker.isRunning, "it waits instead of exiting")
        let waiting = worker.logLines.filter { $0.contains("not reachable") }
        #expect(waiting.count == 1 && waiting.first?.contains("127.0.0.1:\(port)") == true, "\(worker.logLines)")

        let redis = try EmbeddedRedisServer(port: port)
        defer { redis.stop() }
        let connection = try RedisConnection(url: redis.url)
        try await waitForReadyz(metrics) { status, _ in status == 200 }
        try JobProducer(keys: keys).add([("job_id", "j"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        let results = try await waitForEntries(keys.results, count: 1, on: connection)
        #expect(results.first?["status"] == "ok")
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit(seconds: 10) == 0)
    }

    /// Credentials refused at start cannot heal by waiting: one line, non-zero.
    @Test func refusedCredentialsEndTheWorkerAtStart() async throws {
        let redis = try server()
        defer { redis.stop() }
        try RedisConnection(url: redis.url).command("CONFIG", "SET", "requirepass", "right-password")
        let worker = try WorkerProcess(
            url: tcpURL(redis, password: "wrong-password"), queue: try uniqueQueue(), consumer: "w", captureLog: true)
        let status = try await worker.waitForExit(seconds: 20)
        #expect(status != nil && status != 0)
        #expect(worker.logLines.contains { $0.contains("refused the credentials") }, "\(worker.logLines)")
        #expect(!worker.logLines.joined().contains("wrong-password"), "the password is never printed")
    }

    /// At `maxmemory`, `XGROUP CREATE` of an existing group answers OOM, not BUSYGROUP: the
    /// worker starts all the same.
    @Test func aWorkerStartsOnARedisAtMaxmemory() async throws {
        let redis = try server()
        defer { redis.stop() }
        let keys = try uniqueQueue()
        let connection = try RedisConnection(url: redis.url)
        try JobStream(keys: keys, consumer: "x").createGroup(on: connection)
        try JobProducer(keys: keys).add([("job_id", "j"), ("agent_id", "quiet"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        try connection.command("CONFIG", "SET", "maxmemory", "1")
        let metrics = try LocalPorts.free()
        let worker = try WorkerProcess(url: redis.url, queue: keys, consumer: "w", arguments: ["--metrics-port", String(metrics)])
        try await Task.sleep(for: .seconds(2))
        #expect(worker.isRunning)
        try connection.command("CONFIG", "SET", "maxmemory", "0")
        #expect(try await waitForEntries(keys.results, count: 1, on: connection).first?["status"] == "ok")
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit(seconds: 10) == 0)
    }

    /// Redis at `maxmemory` (noeviction) for a few seconds while spoken jobs are in hand:
    /// the write-backs wait in memory and go through afterwards. Nothing fails, nothing is
    /// delivered again.
    @Test func outOfMemoryForAWhileFailsNothingAndCostsNoAttempt() async throws {
        let redis = try server()
        defer { redis.stop() }
        let keys = try uniqueQueue()
        let connection = try RedisConnection(url: redis.url)
        let metrics = try LocalPorts.free()
        let worker = try WorkerProcess(
            url: redis.url, queue: keys, consumer: "w",
            arguments: ["--metrics-port", String(metrics), "--max-attempts", "2", "--user-rate", "1000/s burst 1000"], logLevel: "info",
            captureLog: true)
        try await waitForReadyz(metrics) { status, _ in status == 200 }
        // Long replies: Redis runs out of memory while they render, so their write-backs
        // are refused.
        let text = String(repeating: "A sentence to keep the synthesizer busy for a while. ", count: 150)
        _ = try JobProducer(keys: keys).enqueue(
            batch: (0..<12).map { [("job_id", "m\($0)"), ("agent_id", "a"), ("user_id", "u\($0)"), ("text", text)] }, on: connection)
        let deadline = Date().addingTimeInterval(20)
        // The first result means the buckets have admitted the batch and the rest render.
        while (try connection.command("XLEN", .string(keys.results)).integer ?? 0) == 0 && Date() < deadline {
            try await Task.sleep(for: .milliseconds(1))
        }
        try connection.command("CONFIG", "SET", "maxmemory", "1")
        let before = Int(try connection.command("XLEN", .string(keys.results)).integer ?? 0)
        #expect(before < 12, "some replies were still rendering when Redis filled up")
        let body = try await waitForReadyz(metrics) { status, body in status == 503 && body.contains("OOM") }
        #expect(body.contains("maxmemory"))
        try await Task.sleep(for: .seconds(4))
        #expect(Int(try connection.command("XLEN", .string(keys.results)).integer ?? -1) == before, "nothing written while Redis refuses")
        try connection.command("CONFIG", "SET", "maxmemory", "0")
        let results = try await waitForEntries(keys.results, count: 12, seconds: 30, on: connection)
        try await waitForReadyz(metrics) { status, _ in status == 200 }
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit(seconds: 10) == 0)
        #expect(
            results.count == 12 && results.allSatisfy { $0["status"] == "ok" && $0["attempts"] == "1" },
            "\(results.map { $0["status"] ?? "" })")
        #expect(try connection.command("XLEN", .string(keys.dead)).integer == 0)
        // Each refusal (of the buckets, of the write-back) is logged once, with Redis's own
        // words, not once per retry; and once when it ends.
        let faults = worker.logLines.filter { $0.contains("OOM command not allowed") }
        let kinds = faults.compactMap { line in line.range(of: "] ").map { String(line[$0.upperBound...]) } }
        #expect(faults.contains { $0.contains("write-back fault") }, "\(worker.logLines.suffix(10))")
        #expect(Set(kinds).count == kinds.count, "one line per kind of fault: \(kinds)")
    }

    /// The queue's result stream is a key of another type: the jobs wait, pending, with
    /// /readyz saying why and one log line, and are answered once the key is fixed. The
    /// same for a result stream whose last id is the largest there is.
    @Test(arguments: ["wrong type", "largest id"]) func aResultStreamThatCannotTakeEntriesHoldsTheJobsUntilFixed(_ broken: String)
        async throws
    {
        let redis = try server()
        defer { redis.stop() }
        let keys = try uniqueQueue()
        let connection = try RedisConnection(url: redis.url)
        try connection.command("HSET", .string(keys.agent("quiet")), "tts", "off")
        if broken == "wrong type" {
            try connection.command("SET", .string(keys.results), "x")
        } else {
            try connection.command("XADD", .string(keys.results), "18446744073709551615-18446744073709551615", "a", "b")
        }
        for index in 0..<3 {
            try JobProducer(keys: keys).add(
                [("job_id", "r\(index)"), ("agent_id", "quiet"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        }
        let metrics = try LocalPorts.free()
        let worker = try WorkerProcess(
            url: redis.url, queue: keys, consumer: "w", arguments: ["--metrics-port", String(metrics)], logLevel: "info", captureLog: true)
        let body = try await waitForReadyz(metrics) { status, body in status == 503 && body.contains(keys.results) }
        #expect(body.contains(broken == "wrong type" ? "not a stream" : "at the largest id"), "\(body)")
        try await Task.sleep(for: .seconds(2))
        #expect(try pendingCount(keys, on: connection) == 3, "the jobs stay pending")
        if broken == "wrong type" {
            #expect(try connection.command("GET", .string(keys.results)).string == "x", "the key is left alone")
        } else {
            #expect(try connection.command("XLEN", .string(keys.results)).integer == 1, "the stream is left alone")
        }
        try connection.command("DEL", .string(keys.results))
        let results = try await waitForEntries(keys.results, count: 3, on: connection)
        try await waitForReadyz(metrics) { status, _ in status == 200 }
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit(seconds: 10) == 0)
        #expect(results.count == 3 && results.allSatisfy { $0["status"] == "text_only" })
        #expect(worker.logLines.filter { $0.contains("cannot be written") }.count == 1, "\(worker.logLines)")
    }

    /// The dead-letter stream of the wrong type: failed jobs wait until it is fixed (their
    /// dead letters are not lost); the others go on. The same for a dead-letter stream
    /// whose last id is the largest there is (Redis refuses every new entry).
    @Test(arguments: ["wrong type", "largest id"]) func aDeadLetterStreamThatCannotTakeEntriesHoldsOnlyFailedJobs(_ broken: String)
        async throws
    {
        let redis = try server()
        defer { redis.stop() }
        let keys = try uniqueQueue()
        let connection = try RedisConnection(url: redis.url)
        try connection.command("HSET", .string(keys.agent("quiet")), "tts", "off")
        if broken == "wrong type" {
            try connection.command("SET", .string(keys.dead), "x")
        } else {
            try connection.command("XADD", .string(keys.dead), "18446744073709551615-18446744073709551615", "a", "b")
        }
        let producer = JobProducer(keys: keys)
        try producer.add([("job_id", "bad"), ("agent_id", "quiet"), ("user_id", "u"), ("text", "Hi."), ("rate", "9000")], on: connection)
        try producer.add([("job_id", "good"), ("agent_id", "quiet"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        let worker = try WorkerProcess(url: redis.url, queue: keys, consumer: "w")
        let first = try await waitForEntries(keys.results, count: 1, on: connection)
        try await Task.sleep(for: .seconds(1))
        let count = try connection.command("XLEN", .string(keys.results)).integer
        #expect(first.map { $0["job_id"] } == ["good"] && count == 1)
        #expect(try pendingCount(keys, on: connection) == 1, "the failed job stays pending, not acknowledged")
        try connection.command("DEL", .string(keys.dead))
        let results = byJobID(try await waitForEntries(keys.results, count: 2, on: connection))
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit(seconds: 10) == 0)
        #expect(results["bad"]?["error"] == "bad_parameter")
        #expect(try streamEntries(keys.dead, on: connection).map { $0["job_id"] } == ["bad"])
    }

    /// Without the XAUTOCLAIM permission the worker keeps reading new jobs, and /readyz
    /// names the command it may not run.
    @Test func aMissingPermissionIsNamedAndNewJobsStillFlow() async throws {
        let redis = try server()
        defer { redis.stop() }
        let keys = try uniqueQueue()
        let connection = try RedisConnection(url: redis.url)
        try connection.command("ACL", "SETUSER", "limited", "on", ">secret-password", "~*", "&*", "+@all", "-xautoclaim")
        let metrics = try LocalPorts.free()
        let worker = try WorkerProcess(
            url: tcpURL(redis, user: "limited", password: "secret-password"), queue: keys, consumer: "w",
            arguments: ["--metrics-port", String(metrics), "--claim-idle-ms", "1000"])
        let body = try await waitForReadyz(metrics) { status, body in status == 503 && body.lowercased().contains("xautoclaim") }
        #expect(body.contains("NOPERM"))
        for index in 0..<3 {
            try JobProducer(keys: keys).add(
                [("job_id", "p\(index)"), ("agent_id", "a"), ("user_id", "u\(index)"), ("text", "Hi.")], on: connection)
            try await Task.sleep(for: .seconds(2))
        }
        let results = try await waitForEntries(keys.results, count: 3, on: connection)
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit(seconds: 10) == 0)
        #expect(results.allSatisfy { $0["status"] == "ok" })
    }

    /// A bucket key of another type fails the one job that needs it, with a clear code;
    /// its batch-mates are answered, each on its first delivery.
    @Test func aBucketKeyOfAnotherTypeFailsOnlyItsJob() async throws {
        let redis = try server()
        defer { redis.stop() }
        let keys = try uniqueQueue()
        let connection = try RedisConnection(url: redis.url)
        try connection.command("SET", .string(keys.userBucket("legacy")), "3")
        let producer = JobProducer(keys: keys)
        for user in ["u1", "legacy", "u2"] {
            try producer.add([("job_id", user), ("agent_id", "a"), ("user_id", user), ("text", "Hi.")], on: connection)
        }
        let worker = try WorkerProcess(url: redis.url, queue: keys, consumer: "w")
        let results = byJobID(try await waitForEntries(keys.results, count: 3, on: connection))
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit(seconds: 10) == 0)
        #expect(results["u1"]?["status"] == "ok" && results["u2"]?["status"] == "ok")
        #expect(results["legacy"]?["error"] == "bad_rate_limit_key" && results["legacy"]?["message"]?.contains("rl:user:legacy") == true)
        #expect(results.values.allSatisfy { $0["attempts"] == "1" })
        #expect(try connection.command("GET", .string(keys.userBucket("legacy"))).string == "3", "the key is left as it was")
    }

    /// SIGHUP stops a worker like SIGTERM: it finishes the job in hand and exits 0.
    @Test func sighupStopsLikeSigterm() async throws {
        let redis = try server()
        defer { redis.stop() }
        let keys = try uniqueQueue()
        let connection = try RedisConnection(url: redis.url)
        let text = String(repeating: "A sentence to keep the synthesizer busy for a while. ", count: 100)
        try JobStream(keys: keys, consumer: "x").createGroup(on: connection)
        try JobProducer(keys: keys).add([("job_id", "h"), ("agent_id", "a"), ("user_id", "u"), ("text", text)], on: connection)
        let worker = try WorkerProcess(url: redis.url, queue: keys, consumer: "w")
        let deadline = Date().addingTimeInterval(20)
        while try pendingCount(keys, on: connection) == 0 && Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }
        worker.signal(SIGHUP)
        #expect(try await worker.waitForExit(seconds: 20) == 0)
        #expect(try streamEntries(keys.results, on: connection).map { $0["job_id"] } == ["h"])
        #expect(try pendingCount(keys, on: connection) == 0)
    }
}
