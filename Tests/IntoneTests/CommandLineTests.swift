import Foundation
import IntoneCore
import Testing

/// The `intone` binary as operators run it.
@Suite(.redisServer) struct CommandLineTests {
    func socketURL() throws -> String {
        guard let server = TestRedis.server else { throw TestSupportError("no server") }
        return "unix://" + server.socketPath
    }

    @Test func invalidSettingNamesTheFlag() throws {
        let run = try intone(["work", "--redis", try socketURL()], environment: ["INTONE_USER_RATE": "lots"])
        #expect(run.status != 0)
        #expect(run.errors.hasPrefix("intone: INTONE_USER_RATE: rate limit 'lots' must be 'R/s burst B'"), "\(run.errors)")
    }

    @Test func enqueuePrintsTheJobIDAndWritesTheContractsFields() throws {
        let keys = try uniqueQueue()
        let run = try intone([
            "enqueue", "--redis", try socketURL(), "--queue", keys.queue, "--agent", "a1", "--user", "u1", "--voice", "de", "--job-id",
            "cli-1", "Guten Tag",
        ])
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output == "cli-1\n")
        let entries = try streamEntries(keys.jobs, on: try TestRedis.connect())
        #expect(entries.count == 1)
        #expect(entries.first?["job_id"] == "cli-1" && entries.first?["agent_id"] == "a1" && entries.first?["user_id"] == "u1")
        #expect(entries.first?["text"] == "Guten Tag" && entries.first?["voice"] == "de")
    }

    @Test func workAnswersAndExitsZeroOnSIGTERM() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        try JobProducer(keys: keys).add([("job_id", "p1"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hello.")], on: connection)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try intoneExecutable())
        process.arguments = [
            "work", "--redis", try socketURL(), "--queue", keys.queue, "--synthesizers", "1", "--block-ms", "100", "--metrics-port", "0",
        ]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let results = try await waitForEntries(keys.results, count: 1, on: connection)
        #expect(results.first?["status"] == "ok")
        process.terminate()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!process.isRunning)
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let lines = log.split(separator: "\n")
        #expect(lines.first?.contains("intone worker started") == true)
        #expect(
            lines.filter { $0.contains("info") && !$0.contains("started") && !$0.contains("stop") }.isEmpty,
            "no per-job lines at info: \(log)")
    }

    @Test func voicesListsEspeakVoices() throws {
        let run = try intone(["voices"])
        #expect(run.status == 0)
        #expect(run.output.split(separator: "\n").contains { $0.hasPrefix("en-us,en ") || $0.hasPrefix("en-us ") })
        #expect(run.output.contains("variants"))
    }

    @Test func enqueueFileSkipsBadLinesByNumberAndExitsTwo() throws {
        let keys = try uniqueQueue()
        let path = NSTemporaryDirectory() + "/intone-\(keys.queue).jsonl"
        try """
        {"job_id": "a", "agent_id": "x", "user_id": "u", "text": "Fine."}
        {"job_id": "b", "agent_id": "x", "user_id": "u"}
        {"job_id": "c", "agent_id": "x", "user_id": "u", "text": "Also fine.", "voice": "de"}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = try intone(["enqueue", "--redis", try socketURL(), "--queue", keys.queue, "--file", path])
        #expect(run.status == 2)
        #expect(run.errors.contains("line 2: missing_field"))
        #expect(run.output.contains("enqueued 2 jobs"))
        let entries = try streamEntries(keys.jobs, on: try TestRedis.connect())
        #expect(entries.map { $0["job_id"] } == ["a", "c"])
    }

    @Test func deadPurgeWithoutConfirmationKeepsTheLetters() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        try connection.command("XADD", .string(keys.dead), "*", "job_id", "x", "error", "missing_field")
        let refused = try intone(["dead", "purge", "--redis", try socketURL(), "--queue", keys.queue])
        #expect(refused.status != 0)
        #expect(try connection.command("XLEN", .string(keys.dead)).integer == 1)
        let purged = try intone(["dead", "purge", "--yes", "--redis", try socketURL(), "--queue", keys.queue])
        #expect(purged.status == 0 && purged.output.contains("purged 1"))
        #expect(try connection.command("XLEN", .string(keys.dead)).integer == 0)
    }
}
