import Foundation
import Testing

@testable import IntoneCore
@testable import IntoneTools

/// The operators' commands as they are run: the real `intone` binary against a real
/// redis-server, on queues that nothing else uses.
@Suite(.redisServer) struct OperatorCommandTests {
    func socketURL() throws -> String {
        guard let server = TestRedis.server else { throw TestSupportError("no server") }
        return "unix://" + server.socketPath
    }

    func queueArguments(_ keys: QueueKeys) throws -> [String] {
        ["--redis", try socketURL(), "--queue", keys.queue]
    }

    func temporaryDirectory(_ name: String = #function) throws -> String {
        let path = NSTemporaryDirectory() + "intone-\(name.prefix { $0.isLetter })-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A dead letter as the worker writes it: the job's fields, then the worker's.
    @discardableResult
    func addDeadLetter(_ keys: QueueKeys, _ fields: [(String, String)], error: String = "bad_parameter", on connection: RedisConnection)
        throws -> String
    {
        let all =
            fields + [
                ("error", error), ("message", "refused"), ("entry_id", "1700000000000-\(UInt16.random(in: 0...9999))"), ("attempts", "1"),
                ("failed_at", "1700000000000"),
            ]
        let reply = try connection.command(
            ["XADD", .string(keys.dead), "*"] + all.flatMap { [RedisArgument.string($0.0), .string($0.1)] })
        return reply.string ?? ""
    }

    /// Every key of a queue with its type, for checking that nothing was touched.
    func snapshot(_ keys: QueueKeys, on connection: RedisConnection) throws -> [String: String] {
        var state: [String: String] = [:]
        var cursor = "0"
        repeat {
            let reply = try connection.command("SCAN", .string(cursor), "MATCH", .string(keys.prefix + "*"), "COUNT", 1000)
            cursor = reply.array?[0].string ?? "0"
            for key in reply.array?[1].array ?? [] {
                guard let name = key.string else { continue }
                let dump = try connection.command("DUMP", .string(name))
                state[name] = dump.bytes.map { String(decoding: $0, as: UTF8.self) } ?? "?"
            }
        } while cursor != "0"
        return state
    }

    // MARK: - demo

    @Test func demoRefusesAQueueThatHasKeysAndTouchesNothing() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        try JobProducer(keys: keys).add([("job_id", "unread"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        try connection.command("XADD", .string(keys.results), "*", "job_id", "old", "status", "ok")
        try addDeadLetter(keys, [("job_id", "d"), ("agent_id", "a"), ("user_id", "u"), ("text", "x")], on: connection)
        try connection.command("HSET", .string(keys.agent("quiet-bot")), "tts", "on", "voice", "en-us")
        let before = try snapshot(keys, on: connection)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try intone(["demo", "--redis", try socketURL(), "--queue", keys.queue, "--output", directory + "/out"])
        #expect(run.status != 0)
        #expect(run.errors.contains("is in use"), "\(run.errors)")
        #expect(try snapshot(keys, on: connection) == before, "the queue's jobs, results, dead letters and agents are untouched")

        // A queue that has nothing but an agent's settings is in use too.
        let agentsOnly = try uniqueQueue("agentsOnly")
        try connection.command("HSET", .string(agentsOnly.agent("quiet-bot")), "tts", "on")
        let refused = try intone(["demo", "--redis", try socketURL(), "--queue", agentsOnly.queue, "--output", directory + "/out"])
        #expect(refused.status != 0)
        #expect(try AgentAdmin(keys: agentsOnly).stored("quiet-bot", on: connection) == ["tts": "on"])
    }

    @Test func demoRunsOnAFreshQueueAndRemovesOnlyItsOwnKeys() throws {
        let connection = try TestRedis.connect()
        // The queue the demo used to take over: `demo`, with someone's work on it.
        let demo = try QueueKeys(queue: "demo")
        try JobProducer(keys: demo).add([("job_id", "theirs"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        try connection.command("HSET", .string(demo.agent("quiet-bot")), "tts", "on")
        let before = try snapshot(demo, on: connection)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let run = try intone(["demo", "--output", directory + "/out"], environment: ["INTONE_REDIS_URL": try socketURL()])
        #expect(run.status == 0, "\(run.errors)")
        #expect(try snapshot(demo, on: connection) == before, "the queue demo is untouched")
        let queue = try #require(run.output.firstMatch(of: /intone:\{(demo-[0-9a-f]{8})\}:jobs/)?.1)
        #expect(try snapshot(try QueueKeys(queue: String(queue)), on: connection).isEmpty, "the demo removed every key of its queue")
        #expect(run.output.contains("Removed the demo's queue \(queue)"))
        // The samples' formats are printed with the results, and each file has its format's extension.
        #expect(run.output.contains("format") && run.output.contains("content type"))
        let files = try FileManager.default.contentsOfDirectory(atPath: directory + "/out")
        for sample in ["demo-greeting", "demo-telephony", "demo-browser"] {
            let file = try #require(files.first { $0.hasPrefix(sample + ".") }, "\(files)")
            let line = try #require(run.output.split(separator: "\n").first { $0.hasPrefix(sample + " ") })
            let format = String(line.split(separator: " ", omittingEmptySubsequences: true)[3])
            let expected = (try? AudioFormat(parsing: format))?.fileExtension ?? "wav"
            #expect(file == "\(sample).\(expected)", "\(line)")
        }
        #expect(IntoneTools.Demo.samples.contains { $0.1.contains { $0 == ("format", "ulaw_8000") } })
        #expect(IntoneTools.Demo.samples.contains { $0.1.contains { $0 == ("format", "opus") } })

        let kept = try intone(["demo", "--keep", "--redis", try socketURL(), "--output", directory + "/kept"])
        #expect(kept.status == 0, "\(kept.errors)")
        let keptQueue = try #require(kept.output.firstMatch(of: /intone:\{(demo-[0-9a-f]{8})\}:jobs/)?.1)
        #expect(keptQueue != queue, "a fresh queue each run")
        let keptKeys = try QueueKeys(queue: String(keptQueue))
        let keptResults = try connection.command("XLEN", .string(keptKeys.results)).integer
        #expect((keptResults ?? 0) > 0, "--keep leaves the queue")
        _ = try QueueProbe(keys: keptKeys).removeAll(on: connection)
    }

    // MARK: - dead letters

    @Test func deadRetryTakesExactIdsAndRetriesALetterOnce() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let id = try addDeadLetter(keys, [("job_id", "r1"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        try connection.command("SET", .string(keys.done(jobID: "r1")), "failed bad_parameter")
        try connection.command("SET", .string(keys.audio(jobID: "r1")), "old audio")
        let milliseconds = String(id.prefix { $0 != "-" })

        let inexact = try intone(["dead", "retry", milliseconds] + queueArguments(keys))
        #expect(inexact.status != 0)
        #expect(inexact.errors.contains("<ms>-<seq>"), "\(inexact.errors)")
        #expect(inexact.errors.split(separator: "\n").count == 1, "one line: \(inexact.errors)")
        #expect(try connection.command("XLEN", .string(keys.jobs)).integer == 0)

        let first = try intone(["dead", "retry", id] + queueArguments(keys))
        #expect(first.status == 0, "\(first.errors)")
        let jobs = try streamEntries(keys.jobs, on: connection)
        #expect(jobs.count == 1 && jobs.first?["job_id"] == "r1" && jobs.first?["text"] == "Hi.")
        #expect(jobs.first?["error"] == nil, "only the job's own fields go back")
        #expect(try connection.command("EXISTS", .string(keys.done(jobID: "r1"))).integer == 0, "the done marker is gone")
        #expect(try connection.command("EXISTS", .string(keys.audio(jobID: "r1"))).integer == 0, "the audio key is gone")

        let again = try intone(["dead", "retry", id] + queueArguments(keys))
        #expect(again.status != 0)
        #expect(again.errors.contains("already retried"), "\(again.errors)")
        #expect(try connection.command("XLEN", .string(keys.jobs)).integer == 1, "not enqueued twice")
    }

    @Test func aLetterReadByTwoRetriesAtOnceIsEnqueuedOnce() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let id = try addDeadLetter(keys, [("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        let dead = DeadLetters(keys: keys)
        // Both operators read the letter before either retries it.
        let letter = try #require(try dead.show(id, on: connection))
        let stale = letter
        let outcomes = try dead.runRetries([letter], on: connection) + (try dead.runRetries([stale], on: connection))
        guard case .retried = outcomes[0] else {
            Issue.record("\(outcomes)")
            return
        }
        #expect(outcomes[1] == .alreadyRetried)
        #expect(try connection.command("XLEN", .string(keys.jobs)).integer == 1)
        // A job without job_id gets its first entry id as job_id, so its new result can be matched.
        #expect(try streamEntries(keys.jobs, on: connection).first?["job_id"] == letter.value("entry_id"))
        // And after SCRIPT FLUSH the script is sent again: nothing is lost, nothing doubled.
        let second = try addDeadLetter(keys, [("job_id", "r2"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        try connection.command("SCRIPT", "FLUSH")
        #expect(try dead.retry([second, second, "1-1", "12"], on: connection) == [second])
        #expect(try connection.command("XLEN", .string(keys.jobs)).integer == 2)
    }

    @Test func deadShowFindsJobIdsListFiltersByErrorAndPurgeDeletesOne() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let a = try addDeadLetter(keys, [("job_id", "job-a"), ("agent_id", "a"), ("user_id", "u"), ("text", "x")], on: connection)
        try addDeadLetter(
            keys, [("job_id", "job-b"), ("agent_id", "a"), ("user_id", "u"), ("text", "y")], error: "unknown_voice", on: connection)
        let newer = try addDeadLetter(
            keys, [("job_id", "job-a"), ("agent_id", "a"), ("user_id", "u"), ("text", "again")], error: "unknown_voice", on: connection)

        let byJob = try intone(["dead", "show", "job-a"] + queueArguments(keys))
        #expect(byJob.status == 0, "\(byJob.errors)")
        #expect(byJob.output.contains(newer) && byJob.output.contains("again"), "the newest letter of the job: \(byJob.output)")
        let byID = try intone(["dead", "show", a] + queueArguments(keys))
        #expect(byID.status == 0 && byID.output.contains("x"))
        // Neither an id nor a job id: one clear line, no raw Redis error.
        for missing in ["job-zz", "12-", "+", "1-1"] {
            let run = try intone(["dead", "show", missing] + queueArguments(keys))
            #expect(run.status != 0)
            #expect(run.errors.hasPrefix("intone: no dead letter"), "\(run.errors)")
            #expect(!run.errors.contains("ERR"))
        }

        let filtered = try intone(["dead", "list", "--error", "unknown_voice"] + queueArguments(keys))
        #expect(filtered.status == 0, "\(filtered.errors)")
        let rows = filtered.output.split(separator: "\n").dropFirst(2).filter { $0.contains("-") && !$0.contains("dead letters") }
        #expect(rows.count == 2 && rows.allSatisfy { $0.contains("unknown_voice") }, "\(filtered.output)")

        let purged = try intone(["dead", "purge", a] + queueArguments(keys))
        #expect(purged.status == 0, "\(purged.errors)")
        #expect(try connection.command("XLEN", .string(keys.dead)).integer == 2)
        let gone = try intone(["dead", "purge", a] + queueArguments(keys))
        #expect(gone.status != 0)
        let inexact = try intone(["dead", "purge", "123"] + queueArguments(keys))
        #expect(inexact.status != 0 && inexact.errors.contains("<ms>-<seq>"))
        #expect(try connection.command("XLEN", .string(keys.dead)).integer == 2)
    }

    // MARK: - hostile text

    /// Bytes that must never reach a terminal from a value: C0 (but newline), DEL, C1, and
    /// the bidirectional overrides.
    func hostile(_ bytes: [UInt8]) -> [String] {
        var found: [String] = []
        let text = String(decoding: bytes, as: UTF8.self)
        for scalar in text.unicodeScalars {
            let value = scalar.value
            if (value < 0x20 && value != 0x0A) || value == 0x7F || (0x80...0x9F).contains(value) || (0x202A...0x202E).contains(value)
                || (0x2066...0x2069).contains(value)
            {
                found.append(String(value, radix: 16))
            }
        }
        return found
    }

    @Test func hostileTextIsEscapedInEveryHumanOutput() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let evil = "x\u{1B}[2J\u{1B}]0;owned\u{07}\r\nforged-row  y\u{7F}\u{9B}31m\u{202E}gnp.exe"
        try addDeadLetter(
            keys, [("job_id", evil), ("agent_id", evil), ("user_id", "u"), ("text", evil), (evil, evil)], error: evil, on: connection)
        try addDeadLetter(keys, [("job_id", "plain"), ("agent_id", "a"), ("user_id", "u"), ("text", "t")], on: connection)
        try JobStream(keys: keys, consumer: "x").createGroup(on: connection)
        try connection.command("XGROUP", "CREATECONSUMER", .string(keys.jobs), "workers", .string(evil))
        try connection.command("HSET", .string(keys.agent("bot")), "voice", .string(evil), .string(evil), .string(evil))
        try connection.command("SET", .string(keys.done(jobID: "quiet")), .string("text_only " + evil))

        let list = try intone(["dead", "list"] + queueArguments(keys))
        #expect(list.status == 0, "\(list.errors)")
        #expect(hostile(list.outputBytes).isEmpty, "\(hostile(list.outputBytes))")
        #expect(list.output.split(separator: "\n").count == 2 + 2 + 1, "two letters, two rows: \(list.output)")
        let id = try #require(try DeadLetters(keys: keys).list(count: 1, on: connection).first?.id)
        let show = try intone(["dead", "show", id] + queueArguments(keys))
        #expect(show.status == 0 && hostile(show.outputBytes).isEmpty, "\(show.output)")
        let showByJob = try intone(["dead", "show", evil] + queueArguments(keys))
        #expect(showByJob.status == 0 && hostile(showByJob.outputBytes).isEmpty, "\(showByJob.errors)")
        let status = try intone(["status"] + queueArguments(keys))
        #expect(status.status == 0 && hostile(status.outputBytes).isEmpty, "\(status.output)")
        let agent = try intone(["agent", "show", "bot"] + queueArguments(keys))
        #expect(agent.status == 0, "\(agent.errors)")
        #expect(hostile(agent.outputBytes).isEmpty && hostile(agent.errorBytes).isEmpty, "\(agent.output)")
        let agentNamed = try intone(["agent", "show", evil] + queueArguments(keys))
        #expect(hostile(agentNamed.outputBytes).isEmpty)
        for job in ["quiet", evil] {
            let audio = try intone(["audio", job] + queueArguments(keys))
            #expect(audio.status != 0)
            #expect(hostile(audio.outputBytes + audio.errorBytes).isEmpty, "\(audio.errors)")
        }
        let retry = try intone(["dead", "retry", evil] + queueArguments(keys))
        #expect(hostile(retry.errorBytes).isEmpty)
    }

    // MARK: - audio

    @Test func audioNamesTheFileSafelyWithItsFormatsExtensionAndKeepsExistingFiles() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let inside = directory + "/work"
        try FileManager.default.createDirectory(atPath: inside + "/etc", withIntermediateDirectories: true)
        let raw: [UInt8] = (0..<800).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        for (job, format) in [("../etc/evil name", "ulaw_8000"), ("..", "opus_24000_32"), ("plain", "wav")] {
            try connection.command("SET", .string(keys.audio(jobID: job)), .bytes(raw))
            try connection.command("SET", .string(keys.done(jobID: job)), "ok")
            try connection.command(
                "XADD", .string(keys.results), "*", "job_id", .string(job), "status", "ok", "format", .string(format), "content_type", "x")
        }
        let first = try intone(["audio", "../etc/evil name"] + queueArguments(keys), in: inside)
        #expect(first.status == 0, "\(first.errors)")
        #expect(FileManager.default.fileExists(atPath: inside + "/etc_evil_name.ulaw"), "\(first.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: inside + "/etc").isEmpty, "nothing written outside the folder")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: inside + "/etc_evil_name.ulaw"))) == raw)

        let again = try intone(["audio", "../etc/evil name"] + queueArguments(keys), in: inside)
        #expect(again.status != 0 && again.errors.contains("--force"), "\(again.errors)")
        let forced = try intone(["audio", "--force", "../etc/evil name"] + queueArguments(keys), in: inside)
        #expect(forced.status == 0)

        let dots = try intone(["audio", ".."] + queueArguments(keys), in: inside)
        #expect(dots.status == 0, "\(dots.errors)")
        #expect(FileManager.default.fileExists(atPath: inside + "/audio.opus"))

        try Data("keep me".utf8).write(to: URL(fileURLWithPath: inside + "/given.bin"))
        let refused = try intone(["audio", "plain", "-o", "given.bin"] + queueArguments(keys), in: inside)
        #expect(refused.status != 0)
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: inside + "/given.bin")), as: UTF8.self) == "keep me")
        let exact = try intone(["audio", "plain", "-o", "given.bin", "--force"] + queueArguments(keys), in: inside)
        #expect(exact.status == 0)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: inside + "/given.bin"))) == raw)

        #expect(AudioExport.fileName(jobID: "a/b\\c:d", fileExtension: "wav") == "a_b_c_d.wav")
        #expect(AudioExport.fileName(jobID: "-rf", fileExtension: "wav") == "rf.wav")
        #expect(AudioExport.fileName(jobID: ".hidden", fileExtension: "mp3") == "hidden.mp3")
        #expect(AudioExport.fileName(jobID: "ünï", fileExtension: "wav") == "n.wav")
        #expect(AudioExport.fileName(jobID: "//", fileExtension: "wav") == "audio.wav")
        #expect(AudioExport.fileName(jobID: ByteString(String(repeating: "a", count: 5000)), fileExtension: "wav").count == 104)
    }

    @Test func streamedAudioIsPutTogetherAndAWAVGetsItsSizes() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let samples = (0..<22050).map { Int16(truncatingIfNeeded: $0 * 7) }
        var wav = try WAVCodec.encode(PCMBuffer(sampleRate: 22050, samples: samples))
        // As the worker streams it: unknown-length sizes in the first chunk's header.
        for offset in [4, 40] { for i in 0..<4 { wav[offset + i] = 0xFF } }
        #expect(wav[36..<40].elementsEqual("data".utf8))
        let key = keys.audio(jobID: "streamed")
        let cuts = [0, 1000, 20000, wav.count]
        for k in 0..<cuts.count - 1 {
            try connection.command(
                "XADD", .string(key), .string("0-\(k + 1)"), "seq", .integer(k), "data", .bytes(Array(wav[cuts[k]..<cuts[k + 1]])))
        }
        let unfinished = try intone(["audio", "streamed"] + queueArguments(keys), in: directory)
        #expect(unfinished.status != 0 && unfinished.errors.contains("still being streamed"), "\(unfinished.errors)")
        try connection.command(
            "XADD", .string(key), .string("0-\(cuts.count)"), "seq", .integer(cuts.count - 1), "data", "", "last", "1", "status", "ok")
        let run = try intone(["audio", "streamed"] + queueArguments(keys), in: directory)
        #expect(run.status == 0, "\(run.errors)")
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/streamed.wav")))
        #expect(bytes.count == wav.count)
        let decoded = try WAVCodec.decode(bytes)
        #expect(decoded.isPCM16WAV && decoded.samples == samples)
        let riff = (4..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 4)) }
        let data = (40..<44).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 40)) }
        #expect(riff == bytes.count - 8 && data == bytes.count - 44)

        // A streamed job that was not spoken has one last entry with its status.
        let silent = keys.audio(jobID: "silent")
        try connection.command("XADD", .string(silent), "0-1", "seq", "0", "data", "", "last", "1", "status", "text_only")
        let notSpoken = try intone(["audio", "silent"] + queueArguments(keys), in: directory)
        #expect(notSpoken.status != 0 && notSpoken.errors.contains("not spoken"), "\(notSpoken.errors)")
    }

    // MARK: - enqueue

    @Test func oneJobIsCheckedExactlyAsAFileLineIs() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cases: [(flags: [String], text: String, json: String)] = [
            (["--rate", "9000"], "Hi.", #""rate": 9000"#),
            (["--voice", "no-such-voice"], "Hi.", #""voice": "no-such-voice""#),
            ([], "   ", #""rate": "200""#),
            (["--reply-to", "intone:{elsewhere}:mine"], "Hi.", #""reply_to": "intone:{elsewhere}:mine""#),
            (["--format", "opus_44100"], "Hi.", #""format": "opus_44100""#),
        ]
        for (flags, text, json) in cases {
            let single = try intone(["enqueue", "--agent", "a", "--user", "u"] + flags + [text] + queueArguments(keys))
            #expect(single.status != 0, "\(flags) was enqueued")
            let path = directory + "/one.jsonl"
            try Data(#"{"agent_id": "a", "user_id": "u", "text": "\#(text)", \#(json)}"#.utf8).write(to: URL(fileURLWithPath: path))
            let file = try intone(["enqueue", "--file", path] + queueArguments(keys))
            #expect(file.status == 2)
            let fileMessage = file.errors.replacingOccurrences(of: "line 1: ", with: "").replacingOccurrences(of: " (skipped)\n", with: "")
            #expect(single.errors == "intone: \(fileMessage)\n", "the same message: \(single.errors) / \(file.errors)")
        }
        #expect(try connection.command("XLEN", .string(keys.jobs)).integer == 0, "nothing was enqueued")

        let good = try intone(
            ["enqueue", "--agent", "a", "--user", "u", "--format", "ulaw_8000", "--stream", "--job-id", "tel-1", "Hello."]
                + queueArguments(keys))
        #expect(good.status == 0 && good.output == "tel-1\n", "\(good.errors)")
        let job = try #require(try streamEntries(keys.jobs, on: connection).first)
        #expect(job["format"] == "ulaw_8000" && job["stream"] == "1")
    }

    @Test func enqueueFileReadsCRLFLines() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/crlf.jsonl"
        let lines = [
            #"{"job_id": "c1", "agent_id": "a", "user_id": "u", "text": "One."}"#,
            #"{"job_id": "c2", "agent_id": "a", "user_id": "u", "text": "Two.", "rate": 9000}"#,
            #"{"job_id": "c3", "agent_id": "a", "user_id": "u", "text": "Three."}"#,
        ]
        try Data((lines.joined(separator: "\r\n") + "\r\n").utf8).write(to: URL(fileURLWithPath: path))
        let run = try intone(["enqueue", "--file", path] + queueArguments(keys))
        #expect(run.status == 2)
        #expect(run.errors.hasPrefix("line 2: bad_parameter"), "\(run.errors)")
        #expect(try streamEntries(keys.jobs, on: connection).map { $0["job_id"] } == ["c1", "c3"])
        #expect(try streamEntries(keys.jobs, on: connection).first?["text"] == "One.")
        let piped = try intone(["enqueue", "--file", "-"] + queueArguments(keys), input: lines[0] + "\r\n" + lines[2] + "\r\n")
        #expect(piped.status == 0 && piped.output.contains("enqueued 2 jobs"), "\(piped.errors)")
    }

    // MARK: - agents

    @Test func agentSetTakesFormatAndStreamAndShowTellsWhatTheWorkerUses() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let set = try intone(["agent", "set", "bot", "--format", "ulaw_8000", "--stream", "on"] + queueArguments(keys))
        #expect(set.status == 0, "\(set.errors)")
        #expect(try AgentAdmin(keys: keys).stored("bot", on: connection) == ["format": "ulaw_8000", "stream": "on"])
        for flags in [["--format", "opus_44100"], ["--format", "WAV"], ["--stream", "maybe"]] {
            let refused = try intone(["agent", "set", "bot"] + flags + queueArguments(keys))
            #expect(refused.status != 0)
            #expect(refused.errors.hasPrefix("intone: \(flags[0]): "), "\(refused.errors)")
        }
        #expect(try AgentAdmin(keys: keys).stored("bot", on: connection) == ["format": "ulaw_8000", "stream": "on"])

        try connection.command("HSET", .string(keys.agent("bot")), "voice", "xx-no-such", "colour", "blue", "rate", "120")
        let show = try intone(["agent", "show", "bot"] + queueArguments(keys))
        #expect(show.status == 0, "\(show.errors)")
        func row(_ field: String) -> [Substring] {
            show.output.split(separator: "\n").first { $0.hasPrefix(field + " ") }?.split(separator: " ") ?? []
        }
        #expect(row("voice") == ["voice", "xx-no-such", "en"], "an unknown voice falls back to en: \(show.output)")
        #expect(row("rate") == ["rate", "120", "120"])
        #expect(row("format") == ["format", "ulaw_8000", "ulaw_8000"])
        #expect(row("stream") == ["stream", "on", "on"])
        #expect(show.output.contains("warning: voice 'xx-no-such'"))
        #expect(show.output.contains("warning: unknown field 'colour'"))

        let unset = try intone(["agent", "unset", "bot", "format", "colour"] + queueArguments(keys))
        #expect(unset.status != 0, "colour is not a field the tool sets")
        let unsetFormat = try intone(["agent", "unset", "bot", "format"] + queueArguments(keys))
        #expect(unsetFormat.status == 0)
        #expect(try AgentAdmin(keys: keys).stored("bot", on: connection)["format"] == nil)
    }

    // MARK: - status

    @Test func statusOfAQueueWithoutKeysSaysItDoesNotExist() throws {
        let keys = try uniqueQueue()
        let run = try intone(["status"] + queueArguments(keys))
        #expect(run.status != 0)
        #expect(run.errors.contains("does not exist"), "\(run.errors)")
        let json = try intone(["status", "--json"] + queueArguments(keys))
        #expect(json.status != 0)
        try TestRedis.connect().command("HSET", .string(keys.agent("bot")), "tts", "on")
        #expect(try intone(["status"] + queueArguments(keys)).status == 0, "a queue with only an agent's settings exists")
    }

    @Test func statusWorksForARedisUserThatMayNotScan() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        // Only an agent's settings: the known keys are absent, so the check would need a SCAN.
        try connection.command("HSET", .string(keys.agent("bot")), "tts", "on")
        let user = "ops-\(keys.queue)"
        try connection.command("ACL", "SETUSER", .string(user), "on", ">secret", .string("~" + keys.prefix + "*"), "+@all", "-scan")
        defer { _ = try? connection.command("ACL", "DELUSER", .string(user)) }
        let server = try #require(TestRedis.server)
        let url = "unix://\(server.socketPath)?user=\(user)&password=secret"
        let run = try intone(["status", "--redis", url, "--queue", keys.queue])
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.contains("jobs stream") && !run.output.contains("audio in Redis"))
    }

    @Test func statusWatchThroughAPipeFlushesEachFrameAndRidesOutARedisRestart() async throws {
        let server = try EmbeddedRedisServer()
        defer { server.stop() }
        let keys = try uniqueQueue()
        try JobProducer(keys: keys).add([("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: try RedisConnection(url: server.url))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try intoneExecutable())
        process.arguments = ["status", "--watch", "--redis", "unix://" + server.socketPath, "--queue", keys.queue]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let collected = CollectedOutput()
        output.fileHandleForReading.readabilityHandler = { handle in collected.add(handle.availableData) }
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
            output.fileHandleForReading.readabilityHandler = nil
        }
        func wait(for text: String, after start: Int = 0, seconds: Double = 8) async throws -> Int? {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                let all = collected.text
                if let range = all.range(of: text, range: all.index(all.startIndex, offsetBy: min(start, all.count))..<all.endIndex) {
                    return all.distance(from: all.startIndex, to: range.upperBound)
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            return nil
        }
        let firstFrame = try await wait(for: "jobs stream", seconds: 30)
        #expect(firstFrame != nil, "a frame arrives through the pipe at once: \(collected.text)")
        #expect(!collected.text.contains("\u{1B}["), "no screen clearing into a pipe")
        server.kill()
        let lost = try await wait(for: "redis unreachable, retrying", after: firstFrame ?? 0, seconds: 30)
        #expect(lost != nil, "\(collected.text)")
        #expect(process.isRunning, "the watch goes on while Redis is away")
        try server.restart()
        let back = try await wait(for: "jobs stream", after: lost ?? 0, seconds: 30)
        #expect(back != nil, "frames resume once Redis is back: \(collected.text.suffix(400))")
        #expect(process.isRunning)
    }
}
