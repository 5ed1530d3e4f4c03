import Foundation
import Testing

@testable import IntoneCore

/// The worker end to end: real redis-server, real synthesizer children, WAVs read back.
@Suite(.redisServer) struct WorkerTests {
    let reply = "Hello there. Your order has shipped and will arrive on Thursday."

    @Test func happyPathWritesPlayableWAVsAndCleansUp() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let producer = JobProducer(keys: keys)
        try producer.add([("job_id", "j1"), ("agent_id", "a1"), ("user_id", "u1"), ("text", reply)], on: connection)
        try producer.add(
            [
                ("job_id", "j2"), ("agent_id", "a1"), ("user_id", "u2"), ("text", "Guten Tag."), ("voice", "de"),
                ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            ], on: connection)
        try producer.add(
            [("job_id", "j3"), ("agent_id", "a2"), ("user_id", "u3"), ("text", "Quick."), ("rate", "400"), ("pitch", "90")], on: connection)
        try producer.add([("job_id", "j4"), ("agent_id", "a2"), ("user_id", "u4"), ("text", reply), ("rate", "350")], on: connection)
        let worker = try RunningWorker(queue: keys)
        let results = byJobID(try await waitForEntries(keys.results, count: 4, on: connection))
        try await worker.stop()

        for id in ["j1", "j2", "j3", "j4"] {
            let result = try #require(results[id])
            #expect(result["status"] == "ok")
            #expect(result["format"] == "wav" && result["worker"] == "w1" && result["attempts"] == "1")
            #expect(result["audio_key"] == keys.audio(jobID: id))
            #expect(Int(result["elapsed_ms"] ?? "") != nil)
            let audio = try #require(try connection.command("GET", .string(keys.audio(jobID: id))).bytes)
            #expect(Array(audio.prefix(4)) == Array("RIFF".utf8))
            #expect(String(audio.count) == result["bytes"])
            let wav = try WAVCodec.decode(audio)
            #expect(wav.isPCM16WAV && wav.channels == 1)
            #expect(String(wav.sampleRate) == result["sample_rate"])
            #expect(String(wav.frames * 1000 / wav.sampleRate) == result["duration_ms"])
            #expect(wav.frames > wav.sampleRate / 10, "at least a tenth of a second of speech")
            #expect(wav.samples.contains { abs(Int($0)) > 1000 }, "not silence")
            let ttl = try #require(try connection.command("TTL", .string(keys.audio(jobID: id))).integer)
            #expect(ttl > 3500 && ttl <= 3600)
            let marker = try #require(try connection.command("GET", .string(keys.done(jobID: id))).string)
            #expect(marker == "ok", "the done marker holds the status")
        }
        #expect(results["j1"]?["voice"] == "en" && results["j2"]?["voice"] == "de")
        #expect(results["j2"]?["traceparent"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        let normal = try #require(Int(results["j1"]?["duration_ms"] ?? ""))
        let fast = try #require(Int(results["j4"]?["duration_ms"] ?? ""))
        #expect(fast < normal * 3 / 4, "the job's rate is applied: \(fast) ms at 350 wpm vs \(normal) ms at 175")
        #expect(try connection.command("XLEN", .string(keys.jobs)).integer == 0, "finished entries are deleted")
        let pending = try connection.command("XPENDING", .string(keys.jobs), "workers").array
        #expect(pending?.first?.integer == 0)
    }

    @Test func voiceOffAndKeywordsTakeNoTokenAndNoAudio() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        try connection.command("HSET", .string(keys.agent("quiet")), "tts", "off")
        try connection.command("HSET", .string(keys.agent("kw")), "tts", "keywords", "keywords", "read aloud,speak")
        let producer = JobProducer(keys: keys)
        try producer.add([("job_id", "off"), ("agent_id", "quiet"), ("user_id", "u1"), ("text", reply)], on: connection)
        try producer.add(
            [
                ("job_id", "hit"), ("agent_id", "kw"), ("user_id", "u2"), ("prompt", "Could you READ ALOUD my mail?"),
                ("text", "You have two messages."),
            ], on: connection)
        try producer.add(
            [("job_id", "miss"), ("agent_id", "kw"), ("user_id", "u3"), ("prompt", "What's up?"), ("text", "Nothing much.")], on: connection
        )
        // A slow refill keeps a charged bucket's key alive for the whole test.
        let worker = try RunningWorker(queue: keys, flags: ["user-rate": "0.001/s burst 5"])
        let results = byJobID(try await waitForEntries(keys.results, count: 3, on: connection))
        try await worker.stop()

        #expect(results["off"]?["status"] == "text_only" && results["off"]?["reason"] == "agent_disabled")
        #expect(results["miss"]?["status"] == "text_only" && results["miss"]?["reason"] == "no_keyword")
        #expect(results["hit"]?["status"] == "ok")
        for id in ["off", "miss"] {
            #expect(results[id]?["audio_key"] == nil)
            #expect(try connection.command("EXISTS", .string(keys.audio(jobID: id))).integer == 0)
        }
        for bucket in [keys.agentBucket("quiet"), keys.userBucket("u1"), keys.userBucket("u3")] {
            #expect(try connection.command("EXISTS", .string(bucket)).integer == 0, "\(bucket) holds no token taken")
        }
        #expect(try connection.command("EXISTS", .string(keys.userBucket("u2"))).integer == 1)
        #expect(try connection.command("XLEN", .string(keys.dead)).integer == 0, "a disabled voice is not a failure")
    }

    @Test func everyRefusalGetsItsCodeAndADeadLetterAndTheWorkerCarriesOn() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let producer = JobProducer(keys: keys)
        let ok: [(String, String)] = [("agent_id", "a"), ("user_id", "u"), ("text", "Fine.")]
        let cases: [(String, [(String, String)], JobErrorCode)] = [
            ("no-user", [("agent_id", "a"), ("text", "Hi.")], .missingField),
            ("empty", [("agent_id", "a"), ("user_id", "u"), ("text", "  \u{01} ")], .emptyText),
            ("long", [("agent_id", "a"), ("user_id", "u"), ("text", String(repeating: "word ", count: 30))], .textTooLong),
            ("voice", ok + [("voice", "no-such-voice")], .unknownVoice),
            ("rate", ok + [("rate", "1000")], .badParameter),
            ("version", ok + [("v", "2")], .unsupportedVersion),
            ("reply", ok + [("reply_to", "intone:{elsewhere}:results")], .badReplyTo),
        ]
        for (id, fields, _) in cases { try producer.add([("job_id", id)] + fields, on: connection) }
        // Invalid UTF-8 cannot be written through a Swift String: raw bytes.
        try connection.command(
            "XADD", .string(keys.jobs), "*", "job_id", "utf8", "agent_id", "a", "user_id", "u", "text", .bytes([0x48, 0xC3, 0x28, 0xFF]))
        let worker = try RunningWorker(queue: keys, flags: ["max-text-bytes": "100"])
        let results = byJobID(try await waitForEntries(keys.results, count: cases.count + 1, on: connection))
        try producer.add([("job_id", "after")] + ok, on: connection)
        let after = byJobID(try await waitForEntries(keys.results, count: cases.count + 2, on: connection))
        try await worker.stop()

        let dead = byJobID(try streamEntries(keys.dead, on: connection))
        for (id, fields, code) in cases + [("utf8", [("agent_id", "a"), ("user_id", "u")], JobErrorCode.invalidUTF8)] {
            let result = try #require(results[id], "result for \(id)")
            #expect(result["status"] == "failed")
            #expect(result["error"] == code.rawValue, "\(id)")
            #expect(!(result["message"] ?? "").isEmpty)
            let letter = try #require(dead[id], "dead letter for \(id)")
            #expect(letter["error"] == code.rawValue && letter["entry_id"] == result["entry_id"] && letter["attempts"] == "1")
            #expect(Int64(letter["failed_at"] ?? "") != nil)
            for (name, value) in fields where name != "text" { #expect(letter[name] == value, "dead letter keeps \(name)") }
        }
        let raw = try connection.command("XRANGE", .string(keys.dead), "-", "+").array ?? []
        let utf8Letter = raw.compactMap { $0.array?[1].array }.first { $0.contains(.bulk(Array("utf8".utf8))) }
        #expect(utf8Letter?.contains(.bulk([0x48, 0xC3, 0x28, 0xFF])) == true, "the dead letter keeps the original bytes")
        #expect(after["after"]?["status"] == "ok", "the worker kept going")
    }

    @Test func anEngineCrashFailsOneJobAndTheBatchCarriesOn() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let producer = JobProducer(keys: keys)
        try producer.add([("job_id", "before"), ("agent_id", "a"), ("user_id", "u1"), ("text", reply)], on: connection)
        try producer.add(
            [("job_id", "crash"), ("agent_id", "a"), ("user_id", "u2"), ("text", String(repeating: "a . ", count: 100))], on: connection)
        try producer.add([("job_id", "after"), ("agent_id", "a"), ("user_id", "u3"), ("text", reply)], on: connection)
        let worker = try RunningWorker(queue: keys)
        let results = byJobID(try await waitForEntries(keys.results, count: 3, on: connection))
        try producer.add([("job_id", "later"), ("agent_id", "a"), ("user_id", "u4"), ("text", reply)], on: connection)
        let later = byJobID(try await waitForEntries(keys.results, count: 4, on: connection))
        try await worker.stop()

        #expect(results["crash"]?["status"] == "failed" && results["crash"]?["error"] == "synthesis_crashed")
        #expect(results["crash"]?["message"]?.contains("signal") == true)
        #expect(results["before"]?["status"] == "ok" && results["after"]?["status"] == "ok")
        #expect(later["later"]?["status"] == "ok")
        #expect(byJobID(try streamEntries(keys.dead, on: connection))["crash"]?["error"] == "synthesis_crashed")
        #expect(worker.worker.statistics.synthesizerRestarts >= 1)
    }

    @Test func renderingPastTheTimeLimitFailsWithSynthesisTimeout() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let long = String(repeating: "This sentence takes a while to render. ", count: 200)
        try JobProducer(keys: keys).add([("job_id", "slow"), ("agent_id", "a"), ("user_id", "u"), ("text", long)], on: connection)
        let worker = try RunningWorker(queue: keys, flags: ["synthesis-timeout-ms": "1"])
        let results = byJobID(try await waitForEntries(keys.results, count: 1, on: connection))
        try await worker.stop()
        #expect(results["slow"]?["status"] == "failed" && results["slow"]?["error"] == "synthesis_timeout")
    }

    /// A reply that is not spoken is answered at once, not after the long render of the
    /// other replies of its batch.
    @Test func repliesNotSpokenDoNotWaitForTheBatchToRender() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        try connection.command("HSET", .string(keys.agent("quiet")), "tts", "off")
        let producer = JobProducer(keys: keys)
        let long = String(repeating: "This sentence takes a while to render. ", count: 60)
        for index in 1...3 {
            try producer.add([("job_id", "long-\(index)"), ("agent_id", "a"), ("user_id", "u\(index)"), ("text", long)], on: connection)
        }
        try producer.add([("job_id", "quiet"), ("agent_id", "quiet"), ("user_id", "u"), ("text", "Not spoken.")], on: connection)
        // One synthesizer renders the three long replies one after the other (about half a
        // second);
        // the first result to appear must be the quiet one, alone.
        let worker = try RunningWorker(queue: keys, flags: ["synthesis-timeout-ms": "120000"])
        let all = try await waitForEntries(keys.results, count: 4, seconds: 120, on: connection)
        try await worker.stop()
        // Results are entries of one stream: the first written has the smallest id.
        #expect(all.first?["job_id"] == "quiet" && all.first?["status"] == "text_only", "\(all.map { $0["job_id"] ?? "" })")
        #expect(all.filter { $0["status"] == "ok" }.count == 3)
    }

    @Test func theSameJobIDEnqueuedTwiceGetsOneResult() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let producer = JobProducer(keys: keys)
        let fields: [(String, String)] = [("job_id", "twice"), ("agent_id", "a"), ("user_id", "u"), ("text", "Only once.")]
        try producer.add(fields, on: connection)
        try producer.add(fields, on: connection)
        try producer.add([("job_id", "off-twice"), ("agent_id", "quiet"), ("user_id", "u"), ("text", "x")], on: connection)
        try producer.add([("job_id", "off-twice"), ("agent_id", "quiet"), ("user_id", "u"), ("text", "x")], on: connection)
        try connection.command("HSET", .string(keys.agent("quiet")), "tts", "off")
        let worker = try RunningWorker(queue: keys)
        try await waitForEntries(keys.results, count: 2, on: connection)
        // Again, after the first result is written.
        try producer.add(fields, on: connection)
        let deadline = Date().addingTimeInterval(10)
        while try connection.command("XLEN", .string(keys.jobs)).integer != 0 && Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(300))
        try await worker.stop()
        let results = try streamEntries(keys.results, on: connection)
        #expect(results.filter { $0["job_id"] == "twice" }.count == 1)
        #expect(results.filter { $0["job_id"] == "off-twice" }.count == 1)
        #expect(try connection.command("XLEN", .string(keys.jobs)).integer == 0, "duplicates are acknowledged and deleted")
        #expect(worker.worker.statistics.duplicates == 3)
    }

    @Test func limitsHoldAcrossTwoWorkers() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let limit = RateLimit(perSecond: 4, burst: 3)
        let producer = JobProducer(keys: keys)
        let start = try redisMilliseconds(connection)
        let flags = ["user-rate": limit.description, "agent-rate": "1000/s burst 1000", "batch-size": "8"]
        let first = try RunningWorker(queue: keys, consumer: "w1", flags: flags)
        let second = try RunningWorker(queue: keys, consumer: "w2", flags: flags)
        var total = 0
        for wave in 0..<8 {
            let jobs = (0..<8).map { i in
                [("job_id", "w\(wave)-\(i)"), ("agent_id", "a\(i % 3)"), ("user_id", "shared-user"), ("text", "Hi.")]
            }
            _ = try producer.enqueue(batch: jobs, on: connection)
            total += jobs.count
            try await Task.sleep(for: .milliseconds(150))
        }
        let results = try await waitForEntries(keys.results, count: total, on: connection)
        try await first.stop()
        try await second.stop()
        let end = try redisMilliseconds(connection)

        let admitted = results.filter { $0["status"] == "ok" }
        let refused = results.filter { $0["status"] == "rate_limited" }
        #expect(admitted.count + refused.count == total)
        let seconds = Double(end - start) / 1000
        #expect(Double(admitted.count) <= limit.maximumAdmitted(overSeconds: seconds), "\(admitted.count) admitted in \(seconds) s")
        #expect(admitted.count >= limit.burst, "at least the burst is admitted")
        for result in refused {
            #expect(result["limit"] == "user")
            #expect((Int(result["retry_after_ms"] ?? "") ?? 0) > 0)
        }
        let workers = Set(results.compactMap { $0["worker"] })
        #expect(workers == ["w1", "w2"], "both replicas took jobs")
    }

    @Test func agentSettingsChangeWithoutARestart() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let producer = JobProducer(keys: keys)
        let worker = try RunningWorker(queue: keys)
        try producer.add([("job_id", "before"), ("agent_id", "flip"), ("user_id", "u1"), ("text", "Hi.")], on: connection)
        try await waitForEntries(keys.results, count: 1, on: connection)
        try connection.command("HSET", .string(keys.agent("flip")), "tts", "off")
        try await Task.sleep(for: .milliseconds(300))
        try producer.add([("job_id", "after"), ("agent_id", "flip"), ("user_id", "u2"), ("text", "Hi.")], on: connection)
        let results = byJobID(try await waitForEntries(keys.results, count: 2, on: connection))
        try await worker.stop()
        #expect(results["before"]?["status"] == "ok")
        #expect(results["after"]?["status"] == "text_only" && results["after"]?["reason"] == "agent_disabled")
    }

    @Test func expiredJobsAreNotRendered() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let past = try redisMilliseconds(connection) - 1000
        try JobProducer(keys: keys).add(
            [("job_id", "old"), ("agent_id", "a"), ("user_id", "u"), ("text", "Too late."), ("expires_at", String(past))], on: connection)
        let worker = try RunningWorker(queue: keys)
        let results = byJobID(try await waitForEntries(keys.results, count: 1, on: connection))
        try await worker.stop()
        #expect(results["old"]?["status"] == "expired")
        #expect(try connection.command("EXISTS", .string(keys.audio(jobID: "old"))).integer == 0)
        #expect(try connection.command("EXISTS", .string(keys.userBucket("u"))).integer == 0)
    }

    @Test func replyToStreamGetsTheResultAndExpires() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let replies = keys.prefix + "replies:session-7"
        try connection.command("SET", .string(keys.prefix + "replies:not-a-stream"), "x", "EX", "60")
        let producer = JobProducer(keys: keys)
        try producer.add([("job_id", "r1"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi."), ("reply_to", replies)], on: connection)
        try producer.add(
            [("job_id", "r2"), ("agent_id", "a"), ("user_id", "u2"), ("text", "Hi."), ("reply_to", keys.prefix + "replies:not-a-stream")],
            on: connection)
        let worker = try RunningWorker(queue: keys)
        let own = try await waitForEntries(replies, count: 1, on: connection)
        let fallback = byJobID(try await waitForEntries(keys.results, count: 1, on: connection))
        try await worker.stop()
        #expect(own.first?["job_id"] == "r1" && own.first?["status"] == "ok")
        let ttl = try #require(try connection.command("TTL", .string(replies)).integer)
        #expect(ttl > 0 && ttl <= 3600)
        // A reply_to that cannot take the result: the job fails with bad_reply_to, on the
        // queue's own result stream, with a dead letter.
        #expect(fallback["r2"]?["status"] == "failed" && fallback["r2"]?["error"] == "bad_reply_to")
        #expect(fallback["r2"]?["message"]?.contains("not a stream") == true)
        #expect(try connection.command("XLEN", .string(keys.dead)).integer == 1)
    }

    @Test func ownPendingJobsAreReadAgainAtStart() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let producer = JobProducer(keys: keys)
        try producer.add([("job_id", "held"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        try JobStream(keys: keys, consumer: "w1").createGroup(on: connection)
        // A previous life of consumer w1 read the job and died before finishing it.
        _ = try connection.command("XREADGROUP", "GROUP", "workers", "w1", "COUNT", "10", "STREAMS", .string(keys.jobs), ">")
        let worker = try RunningWorker(queue: keys, consumer: "w1")
        let results = byJobID(try await waitForEntries(keys.results, count: 1, on: connection))
        try await worker.stop()
        #expect(results["held"]?["status"] == "ok")
        #expect(results["held"]?["attempts"] == "2")
    }

    @Test func aScriptCacheFlushLosesNothingAndChargesOnce() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let producer = JobProducer(keys: keys)
        let worker = try RunningWorker(queue: keys, flags: ["user-rate": "0.001/s burst 5"])
        try producer.add([("job_id", "one"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        try await waitForEntries(keys.results, count: 1, on: connection)
        try connection.command("SCRIPT", "FLUSH")
        try producer.add([("job_id", "two"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        let results = byJobID(try await waitForEntries(keys.results, count: 2, on: connection))
        try await worker.stop()
        #expect(results["one"]?["status"] == "ok" && results["two"]?["status"] == "ok")
        let tokens = try #require(Double(try connection.command("HGET", .string(keys.userBucket("u")), "tokens").string ?? ""))
        #expect(abs(tokens - 3) < 0.05, "two jobs, two tokens")
    }

    func redisMilliseconds(_ connection: RedisConnection) throws -> Int64 {
        let time = try connection.command("TIME").array ?? []
        return (time[0].integer ?? 0) * 1000 + (time[1].integer ?? 0) / 1000
    }
}
