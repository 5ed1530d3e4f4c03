import Foundation
import Testing

@testable import IntoneCore

/// The operators' tools against a real redis-server.
@Suite(.redisServer) struct AdminTests {
    @Test func statusShowsBacklogPendingConsumersAndThroughput() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let producer = JobProducer(keys: keys)
        _ = try producer.enqueue(
            batch: (0..<4).map { [("job_id", "b\($0)"), ("agent_id", "a"), ("user_id", "u\($0)"), ("text", "Hi.")] }, on: connection)
        var status = try QueueStatus.read(keys, on: connection)
        #expect(status.streamLength == 4 && status.lag == 4 && status.pending == 0 && status.consumers.isEmpty)

        try JobStream(keys: keys, consumer: "x").createGroup(on: connection)
        _ = try connection.command("XREADGROUP", "GROUP", "workers", "reader", "COUNT", "3", "STREAMS", .string(keys.jobs), ">")
        status = try QueueStatus.read(keys, on: connection)
        #expect(status.streamLength == 4 && status.pending == 3 && status.lag == 1)
        #expect((status.oldestPendingAgeSeconds ?? -1) >= 0)
        #expect(status.consumers.count == 1 && status.consumers.first?.name == "reader" && status.consumers.first?.pending == 3)

        // A worker finishes them all (taking over the reader's after the claim time).
        try producer.add([("job_id", "bad"), ("agent_id", "a"), ("text", "no user")], on: connection)
        let worker = try RunningWorker(queue: keys, flags: ["claim-idle-ms": "100", "user-rate": "100/s burst 100"])
        try await waitForEntries(keys.results, count: 5, on: connection)
        try await worker.stop()
        status = try QueueStatus.read(keys, on: connection)
        #expect(status.streamLength == 0 && status.pending == 0 && status.lag == 0)
        #expect(status.resultsKept == 5 && status.deadLetters == 1)
        #expect(status.resultsByStatus["ok"] == 4 && status.resultsByStatus["failed"] == 1)
        #expect(status.audioSecondsRendered > 0.5)
        #expect(status.jobsPerSecond > 0)
        #expect(Set(status.consumers.map(\.name)) == ["reader", "w1"])
        let json = try JSONSerialization.jsonObject(with: Data(try status.json().utf8)) as? [String: Any]
        #expect(json?["pending"] as? Int == 0 && json?["deadLetters"] as? Int == 1)
        #expect(status.table().contains("dead letters"))
    }

    @Test func statusSamplesTheAudioBytesInRedisPerFormat() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let wav = Array("RIFF\u{0}\u{0}\u{0}\u{0}WAVEfmt ".utf8) + [UInt8](repeating: 1, count: 100)
        try connection.command("SET", .string(keys.audio(jobID: "w1")), .bytes(wav))
        try connection.command("SET", .string(keys.audio(jobID: "w2")), .bytes(wav))
        try connection.command("SET", .string(keys.audio(jobID: "o1")), .bytes(Array("OggS".utf8) + [UInt8](repeating: 2, count: 60)))
        try connection.command("SET", .string(keys.audio(jobID: "u1")), .bytes([UInt8](repeating: 0x7F, count: 80)))
        try connection.command("XADD", .string(keys.audio(jobID: "s1")), "0-1", "seq", "0", "data", "abc")
        let sample = try AudioSample.read(keys, on: connection)
        func format(_ name: String) -> AudioSample.Format? { sample.formats.first { $0.format == name } }
        #expect(format("wav")?.keys == 2 && format("wav")?.bytes == 2 * wav.count)
        #expect(format("opus")?.keys == 1 && format("opus")?.bytes == 64)
        #expect(format("raw")?.keys == 1 && format("raw")?.bytes == 80)
        #expect(format("streamed")?.keys == 1 && (format("streamed")?.bytes ?? 0) > 0)
        #expect(sample.keysSampled == 5)
        let status = try QueueStatus.read(keys, on: connection)
        #expect(status.table().contains("audio in Redis ("), "\(status.table())")
        let bounded = try AudioSample.read(keys, scanCalls: 1, maxKeys: 2, on: connection)
        #expect(bounded.keysSampled <= 2 && !bounded.complete)
        #expect(bounded.line.contains("sampled"))
    }

    @Test func deadLettersRetryIsAnsweredAgainAndPurgeEmpties() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let producer = JobProducer(keys: keys)
        try producer.add(
            [("job_id", "v1"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi."), ("voice", "no-such-voice")], on: connection)
        let anonymous = try producer.add([("agent_id", "a"), ("user_id", "u2"), ("text", "Hi."), ("rate", "1")], on: connection)
        let worker = try RunningWorker(queue: keys)
        try await waitForEntries(keys.results, count: 2, on: connection)
        let dead = DeadLetters(keys: keys)
        let letters = try dead.list(count: 10, on: connection)
        #expect(letters.count == 2)
        let letter = try #require(letters.first { $0.value("job_id") == "v1" })
        #expect(
            letter.originalFields.map { String(decoding: $0.name, as: UTF8.self) } == ["job_id", "agent_id", "user_id", "text", "voice"])
        #expect(try dead.show(letter.id, on: connection)?.value("error") == "unknown_voice")

        let retried = try dead.retryAll(on: connection)
        #expect(retried.count == 2)
        let results = try await waitForEntries(keys.results, count: 4, on: connection)
        try await worker.stop()
        #expect(results.filter { $0["job_id"] == "v1" }.count == 2, "a retried job is answered again")
        #expect(results.filter { $0["job_id"] == anonymous }.count == 2, "a job without job_id keeps its first entry id as its id")
        #expect(try dead.count(on: connection) == 2, "they failed again, so they are dead letters again")
        #expect(try dead.retry(["0-1"], on: connection).isEmpty)
        #expect(try dead.purge(on: connection) == 2)
        #expect(try dead.count(on: connection) == 0)
    }

    @Test func agentSettingsAreValidatedAndWritten() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let catalog = VoiceCatalog(
            voices: [Voice(identifier: "gmw/en-US", name: "English (America)", languages: ["en-us", "en"])], variants: [])
        for (field, value) in [(AgentAdmin.Field.tts, "loud"), (.voice, "xx"), (.rate, "79"), (.pitch, "100"), (.rateLimit, "fast")] {
            #expect(throws: ConfigurationError.self) { try AgentAdmin.validate([field: value], catalog: catalog) }
        }
        let clean = try AgentAdmin.validate(
            [
                .tts: "KEYWORDS", .voice: "en-us", .rate: "200", .pitch: " 10 ", .keywords: "read aloud, speak,",
                .rateLimit: "5/s  burst 10",
            ],
            catalog: catalog)
        let admin = AgentAdmin(keys: keys)
        try admin.set("bot", clean, on: connection)
        #expect(
            try admin.stored("bot", on: connection)
                == [
                    "tts": "keywords", "voice": "en-us", "rate": "200", "pitch": "10", "keywords": "read aloud,speak",
                    "rate_limit": "5/s burst 10",
                ])
        let parsed = AgentSettings.parse(try admin.stored("bot", on: connection), defaultTTS: .on, catalog: catalog)
        #expect(parsed.problems.isEmpty, "what the tool writes, the worker reads")
        try admin.unset("bot", [.voice, .rate], on: connection)
        #expect(try admin.stored("bot", on: connection)["voice"] == nil)
        #expect(try admin.stored("bot", on: connection)["tts"] == "keywords")
        try admin.unset("bot", [], on: connection)
        #expect(try admin.stored("bot", on: connection).isEmpty)
    }

    @Test func audioIsFetchedOrItsAbsenceExplained() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        try connection.command("HSET", .string(keys.agent("quiet")), "tts", "off")
        let producer = JobProducer(keys: keys)
        try producer.add([("job_id", "spoken"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        try producer.add([("job_id", "silent"), ("agent_id", "quiet"), ("user_id", "u2"), ("text", "Hi.")], on: connection)
        let worker = try RunningWorker(queue: keys)
        try await waitForEntries(keys.results, count: 2, on: connection)
        try await worker.stop()
        let export = AudioExport(keys: keys)
        guard case .audio(let audio) = try export.fetch(jobID: "spoken", on: connection) else {
            Issue.record("no audio")
            return
        }
        #expect(try WAVCodec.decode(audio.bytes).isPCM16WAV)
        #expect(audio.formatName == "wav" && audio.fileExtension == "wav" && !audio.streamed)
        guard case .notSpoken("text_only", "agent_disabled") = try export.fetch(jobID: "silent", on: connection) else {
            Issue.record("expected not spoken")
            return
        }
        try connection.command("DEL", .string(keys.audio(jobID: "spoken")))
        guard case .expired = try export.fetch(jobID: "spoken", on: connection) else {
            Issue.record("expected expired")
            return
        }
        guard case .unknown = try export.fetch(jobID: "never", on: connection) else {
            Issue.record("expected unknown")
            return
        }
    }

    @Test func bulkEnqueueReportsBadLinesByNumberAndKeepsTheRest() {
        let keys = try! QueueKeys(queue: "tts")
        let bulk = BulkEnqueue(keys: keys, maxTextBytes: 100, catalog: nil)
        let parsed = bulk.parse(
            """
            {"job_id": "a", "agent_id": "x", "user_id": "u", "text": "Fine."}
            not json

            {"agent_id": "x", "user_id": "u", "text": "Numbers.", "rate": 300, "pitch": 20}
            {"agent_id": "x", "text": "No user."}
            {"agent_id": "x", "user_id": true, "text": "Bool."}
            {"agent_id": "x", "user_id": "u", "text": "Bad rate.", "rate": 9000}
            """)
        #expect(parsed.jobs.count == 2)
        #expect(parsed.jobs[1].contains { $0 == ("rate", "300") } && parsed.jobs[1].contains { $0 == ("pitch", "20") })
        #expect(parsed.problems.map(\.line) == [2, 5, 6, 7])
        #expect(parsed.problems[1].message.hasPrefix("missing_field"))
        #expect(parsed.problems[3].message.hasPrefix("bad_parameter"))
    }
}
