import Foundation
import IntoneCore
import IntoneTools
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `/metrics`, `/healthz` and `/readyz` of a real `intone work` process, over HTTP.
@Suite(.redisServer) struct ObservabilityTests {
    func get(_ port: Int, _ path: String) async throws -> (status: Int, body: String) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// Waits until the endpoint answers at all.
    func waitForServer(_ port: Int) async throws {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if (try? await get(port, "/healthz")) != nil { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("nothing answered on port \(port)")
    }

    func sample(_ text: String, _ series: String) -> Double {
        PrometheusText.sample(text, series)
    }

    @Test func countersMoveByWhatTheWorkerDid() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let server = try #require(TestRedis.server)
        try connection.command("HSET", .string(keys.agent("quiet")), "tts", "off")
        let port = try LocalPorts.free()
        let worker = try WorkerProcess(url: server.url, queue: keys, consumer: "m", arguments: ["--metrics-port", "\(port)"])
        try await waitForServer(port)
        let health = try await get(port, "/healthz")
        #expect(health.status == 200)
        let before = try await get(port, "/metrics").body

        let producer = JobProducer(keys: keys)
        for i in 0..<3 {
            try producer.add([("job_id", "ok\(i)"), ("agent_id", "a"), ("user_id", "u\(i)"), ("text", "Hello there.")], on: connection)
        }
        try producer.add([("job_id", "quiet"), ("agent_id", "quiet"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        try producer.add([("job_id", "bad"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi."), ("pitch", "300")], on: connection)
        try await waitForEntries(keys.results, count: 5, on: connection)
        // The worker counts a batch just after writing it back: give the counters a moment.
        var after = try await get(port, "/metrics").body
        let deadline = Date().addingTimeInterval(5)
        while sample(after, "intone_batch_size_sum") - sample(before, "intone_batch_size_sum") < 5 && Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
            after = try await get(port, "/metrics").body
        }
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit(seconds: 10) == 0)

        func delta(_ series: String) -> Double { sample(after, series) - sample(before, series) }
        #expect(delta(#"intone_jobs_total{status="ok"}"#) == 3)
        #expect(delta(#"intone_jobs_total{status="text_only"}"#) == 1)
        #expect(delta(#"intone_jobs_total{status="failed"}"#) == 1)
        #expect(delta(#"intone_jobs_total{status="rate_limited"}"#) == 0)
        #expect(delta("intone_dead_letters_total") == 1)
        #expect(delta(#"intone_stage_duration_seconds_count{stage="synthesis"}"#) == 3)
        #expect(delta(#"intone_stage_duration_seconds_count{stage="encoding"}"#) == 3)
        #expect(delta(#"intone_stage_duration_seconds_count{stage="write_back"}"#) >= 1)
        #expect(delta(#"intone_stage_duration_seconds_count{stage="decide"}"#) >= 1, "the decide stage is timed per batch")
        #expect(delta("intone_batch_size_sum") == 5)
        #expect(delta("intone_audio_seconds_total") > 1)
        #expect(delta("intone_redis_round_trips_total") >= 3)
        #expect(!after.contains("ok0") && !after.contains("u1"), "no job or user ids in labels")
    }

    @Test func readyzTurnsUnreadyWhileRedisIsDown() async throws {
        let server = try EmbeddedRedisServer()
        defer { server.stop() }
        let keys = try uniqueQueue()
        let port = try LocalPorts.free()
        let worker = try WorkerProcess(url: server.url, queue: keys, consumer: "r", arguments: ["--metrics-port", "\(port)"])
        try await waitForServer(port)
        #expect(try await waitForStatus(port, 200).status == 200)
        server.kill()
        let down = try await waitForStatus(port, 503)
        #expect(down.status == 503 && down.body.contains("redis"))
        #expect(try await get(port, "/healthz").status == 200, "alive all the same")
        try server.restart()
        #expect(try await waitForStatus(port, 200).status == 200)
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit(seconds: 10) == 0)
    }

    @Test func aMetricsPortInUseDoesNotStopTheWorker() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let server = try #require(TestRedis.server)
        let taken = try listeningSocket()
        defer { close(taken.fd) }
        let worker = try WorkerProcess(url: server.url, queue: keys, consumer: "p", arguments: ["--metrics-port", "\(taken.port)"])
        try await Task.sleep(for: .milliseconds(500))
        try JobProducer(keys: keys).add([("job_id", "p1"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        let results = try await waitForEntries(keys.results, count: 1, on: connection)
        #expect(results.first?["status"] == "ok")
        #expect(worker.isRunning)
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit(seconds: 10) == 0)
    }

    func waitForStatus(_ port: Int, _ wanted: Int) async throws -> (status: Int, body: String) {
        let deadline = Date().addingTimeInterval(20)
        var last = (status: 0, body: "")
        while Date() < deadline {
            last = try await get(port, "/readyz")
            if last.status == wanted { return last }
            try await Task.sleep(for: .milliseconds(50))
        }
        return last
    }
}

/// A socket listening on a free port, to make that port unavailable.
func listeningSocket() throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard ok else {
        close(fd)
        throw TestSupportError("cannot listen")
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}
