import Foundation
import Testing

@testable import IntoneCore

/// Answered as rendered, and streamed: a real worker, real espeak-ng, audio read back.
///
/// espeak-ng 1.51 carries state from one render to the next (its pitch "flutter" and
/// wave phase), so the same text rendered twice by one process differs by a few samples.
/// The tests that compare a streamed job with the same job not streamed render each on a
/// fresh worker (one synthesizer, first render), so that the engine gives both the same
/// samples and the comparison is of the chunking and encoding alone.
///
/// The suite's tests run one at a time (as `ops/test.sh` runs every test): the burst test
/// measures how answers spread over time, which a render of another test beside it (an
/// Opus render at `best` effort, say) would bend.
@Suite(.redisServer, .serialized) struct StreamingTests {
    let reply =
        "Hello there. Your order has shipped and will arrive on Thursday, the twenty-seventh. Is there anything else I can help you with today?"

    /// The entries of an audio stream: (id, fields).
    func audioStream(_ key: String, on connection: RedisConnection) throws -> [(id: String, fields: [String: [UInt8]])] {
        let reply = try connection.command("XRANGE", .string(key), "-", "+")
        return (reply.array ?? []).compactMap { entry in
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string, let flat = parts[1].array else { return nil }
            var fields: [String: [UInt8]] = [:]
            for index in stride(from: 0, to: flat.count - 1, by: 2) { fields[flat[index].string ?? ""] = flat[index + 1].bytes ?? [] }
            return (id, fields)
        }
    }

    /// Renders one job on a fresh worker and returns its result and audio (the string, or
    /// the stream's chunks).
    func renderAlone(
        _ fields: [(String, String)], queue: QueueKeys, flags: [String: String] = [:], on connection: RedisConnection
    ) async throws -> (result: [String: String], chunks: [[UInt8]], whole: [UInt8]?) {
        try JobProducer(keys: queue).add(fields, on: connection)
        let worker = try RunningWorker(queue: queue, flags: flags)
        let results = try await waitForEntries(queue.results, count: 1, on: connection)
        try await worker.stop()
        let result = try #require(results.first)
        let key = try #require(result["audio_key"])
        if try connection.command("TYPE", .string(key)).string == "stream" {
            let entries = try audioStream(key, on: connection)
            return (result, entries.map { $0.fields["data"] ?? [] }, nil)
        }
        return (result, [], try connection.command("GET", .string(key)).bytes)
    }

    @Test(arguments: ["wav", "pcm_16000", "ulaw_8000", "mp3_22050_32"])
    func streamedChunksConcatenateToTheReplyNotStreamed(_ format: String) async throws {
        let connection = try TestRedis.connect()
        let base: [(String, String)] = [("agent_id", "a"), ("user_id", "u"), ("text", reply), ("format", format)]
        let plain = try await renderAlone(base + [("job_id", "plain")], queue: try uniqueQueue(), on: connection)
        let streamed = try await renderAlone(base + [("job_id", "streamed"), ("stream", "1")], queue: try uniqueQueue(), on: connection)
        let whole = try #require(plain.whole)
        #expect(plain.result["status"] == "ok" && streamed.result["status"] == "ok")
        #expect(streamed.result["streamed"] == "1" && plain.result["streamed"] == nil)
        #expect(Int(streamed.result["chunks"] ?? "") == streamed.chunks.count)
        #expect(streamed.chunks.count >= 4, "a reply of several sentences is cut into several chunks")
        let joined = Array(streamed.chunks.joined())
        #expect(String(joined.count) == streamed.result["bytes"])
        if format == "wav" {
            // The first chunk's header says "length unknown"; the samples are the same.
            #expect(Array(joined[4..<8]) == [0xFF, 0xFF, 0xFF, 0xFF] && Array(joined[40..<44]) == [0xFF, 0xFF, 0xFF, 0xFF])
            #expect(joined.count == whole.count && Array(joined[44...]) == Array(whole[44...]))
        } else {
            #expect(joined == whole, "\(format): chunks concatenated are the bytes of the reply not streamed")
        }
        #expect(plain.result["content_type"] == streamed.result["content_type"])
    }

    /// `--opus-effort` reaches the synthesizer children: `fast` codes every packet with CELT
    /// alone, `best` lets libopus code speech with SILK (RFC 6716 3.1: a packet's TOC byte
    /// says its mode, configurations 0 to 11 being SILK only).
    @Test func theOpusEffortReachesTheSynthesizers() async throws {
        let connection = try TestRedis.connect()
        var modes: [String: Set<String>] = [:]
        for effort in ["fast", "best"] {
            let job: [(String, String)] = [
                ("job_id", effort), ("agent_id", "a"), ("user_id", "u"), ("text", reply), ("format", "opus_16000_16"),
            ]
            let rendered = try await renderAlone(job, queue: try uniqueQueue(), flags: ["opus-effort": effort], on: connection)
            let pages = try OggPageList(try #require(rendered.whole))
            let packets = pages.dropFirst(2).flatMap(\.packets)
            #expect(packets.count > 50)
            modes[effort] = Set(packets.map { $0[0] >> 3 < 12 ? "silk" : $0[0] >> 3 < 16 ? "hybrid" : "celt" })
        }
        #expect(modes["fast"] == ["celt"])
        #expect(modes["best"]?.contains("silk") == true, "\(modes)")
    }

    /// Each Opus chunk is a file of its own, and the chunks in order are the reply.
    @Test func opusChunksAreFilesThatPlayInOrder() async throws {
        let connection = try TestRedis.connect()
        let streamed = try await renderAlone(
            [("job_id", "o"), ("agent_id", "a"), ("user_id", "u"), ("text", reply), ("format", "opus"), ("stream", "1")],
            queue: try uniqueQueue(), on: connection)
        #expect(streamed.result["format"] == "opus_24000_32" && streamed.result["content_type"] == "audio/ogg;codecs=opus")
        var total = 0
        for chunk in streamed.chunks where !chunk.isEmpty {
            #expect(Array(chunk.prefix(4)) == Array("OggS".utf8))
            total += try Tools.decode(chunk, fileExtension: "opus", rate: 24000).count
        }
        let duration = try #require(Int(streamed.result["duration_ms"] ?? ""))
        #expect(abs(total * 1000 / 24000 - duration) <= duration / 20 + 60, "decoded \(total) samples for \(duration) ms")
    }

    /// A streamed job that is not spoken still ends its stream: one entry, `0-1`, with
    /// `last` and the status, so a client waiting on the audio key learns the outcome.
    @Test func aReplyNotSpokenEndsItsStream() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        try connection.command("HSET", .string(keys.agent("quiet")), "tts", "off", "stream", "on")
        try JobProducer(keys: keys).add(
            [("job_id", "q"), ("agent_id", "quiet"), ("user_id", "u"), ("text", "Not spoken.")], on: connection)
        try JobProducer(keys: keys).add(
            [("job_id", "bad"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi."), ("rate", "9000"), ("stream", "1")], on: connection)
        let worker = try RunningWorker(queue: keys)
        let results = byJobID(try await waitForEntries(keys.results, count: 2, on: connection))
        try await worker.stop()
        for (id, status) in [("q", "text_only"), ("bad", "failed")] {
            #expect(results[id]?["status"] == status && results[id]?["streamed"] == "1" && results[id]?["chunks"] == "1")
            let entries = try audioStream(keys.audio(jobID: id), on: connection)
            #expect(entries.map(\.id) == ["0-1"])
            #expect(entries.first?.fields["last"] == Array("1".utf8) && entries.first?.fields["status"] == Array(status.utf8))
            let ttl = try #require(try connection.command("TTL", .string(keys.audio(jobID: id))).integer)
            #expect(ttl > 3500 && ttl <= 3600)
        }
    }

    /// The job's format wins over its agent's, which wins over the worker's.
    @Test func formatPrecedenceIsJobThenAgentThenWorker() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        try connection.command("HSET", .string(keys.agent("phone")), "format", "ulaw_8000")
        let producer = JobProducer(keys: keys)
        try producer.add(
            [("job_id", "job"), ("agent_id", "phone"), ("user_id", "u1"), ("text", "Hi."), ("format", "pcm_16000")], on: connection)
        try producer.add([("job_id", "agent"), ("agent_id", "phone"), ("user_id", "u2"), ("text", "Hi.")], on: connection)
        try producer.add([("job_id", "worker"), ("agent_id", "plain"), ("user_id", "u3"), ("text", "Hi.")], on: connection)
        try producer.add(
            [("job_id", "bad"), ("agent_id", "plain"), ("user_id", "u4"), ("text", "Hi."), ("format", "opus_11025")], on: connection)
        let worker = try RunningWorker(queue: keys, flags: ["format": "flac"])
        let results = byJobID(try await waitForEntries(keys.results, count: 4, on: connection))
        try await worker.stop()
        #expect(results["job"]?["format"] == "pcm_16000" && results["job"]?["content_type"] == "audio/pcm;rate=16000")
        #expect(results["agent"]?["format"] == "ulaw_8000" && results["agent"]?["content_type"] == "audio/basic")
        #expect(results["agent"]?["sample_rate"] == "8000")
        #expect(results["worker"]?["format"] == "flac_22050" && results["worker"]?["content_type"] == "audio/flac")
        #expect(results["bad"]?["status"] == "failed" && results["bad"]?["error"] == "bad_parameter")
        #expect(results["bad"]?["message"]?.contains("opus_11025") == true)
        // Read back by an independent decoder: μ-law is headerless, 8 kHz.
        let ulaw = try #require(try connection.command("GET", .string(keys.audio(jobID: "agent"))).bytes)
        #expect(String(ulaw.count) == results["agent"]?["bytes"])
        let decoded = try Tools.decode(ulaw, fileExtension: "ulaw", input: ["-f", "mulaw", "-ar", "8000", "-ac", "1"], rate: 8000)
        let duration = try #require(Int(results["agent"]?["duration_ms"] ?? ""))
        #expect(abs(decoded.count / 8 - duration) <= 5)
    }

    /// A burst of long replies on one worker is answered as each is rendered: the median
    /// job waits about half as long as the last, not as long.
    @Test func aBurstIsAnsweredAsRendered() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        // About nine seconds of speech each.
        let text = String(repeating: "This sentence takes a moment to say out loud. ", count: 4)
        // One synthesizer: the test shares the machine with the rest of the suite, and one
        // core's worth of rendering is disturbed least by it.
        let worker = try RunningWorker(
            queue: keys, flags: ["synthesizers": "1", "user-rate": "100/s burst 100", "agent-rate": "1000/s burst 1000"])
        // The worker is up (synthesizers started) before the burst comes.
        try JobProducer(keys: keys).add([("job_id", "warm-up"), ("agent_id", "a"), ("user_id", "w"), ("text", "Hi.")], on: connection)
        try await waitForEntries(keys.results, count: 1, on: connection)
        _ = try JobProducer(keys: keys).enqueue(
            batch: (0..<120).map { [("job_id", "b\($0)"), ("agent_id", "a"), ("user_id", "u\($0)"), ("text", text)] }, on: connection)
        let all = try await waitForEntries(keys.results, count: 121, seconds: 120, on: connection)
        try await worker.stop()
        let results = all.filter { $0["job_id"] != "warm-up" }
        #expect(results.count == 120 && results.allSatisfy { $0["status"] == "ok" })
        let elapsed = results.compactMap { Int($0["elapsed_ms"] ?? "") }.sorted()
        let median = elapsed[elapsed.count / 2]
        let last = try #require(elapsed.last)
        let first = try #require(elapsed.first)
        // Measured from the first answer, so that a slow start (a loaded machine) cannot
        // hide the shape: all answered at the end gives 1.0, one by one about 0.5.
        let shape = Double(median - first) / Double(max(1, last - first))
        #expect(shape <= 0.6, "median \(median) ms, first \(first) ms, last \(last) ms (median/last \(Double(median) / Double(last)))")
        // The same, whatever the machine's speed: the results went out in many
        // write-backs, not one (entries of one EXEC share their millisecond).
        let writes = Set(results.compactMap { $0["_id"]?.split(separator: "-").first })
        #expect(writes.count >= 40, "\(writes.count) distinct write times for 120 results")
    }
}
