import Foundation
import IntoneTools
import Logging
import Testing

@testable import IntoneCore

/// Logs are for operators: quiet in steady state, and every JSON line one event that log
/// pipelines read whole (one key each).
@Suite(.redisServer) struct LogTests {
    /// Jobs a broken producer might send, each refused with its own code.
    static func badJob(_ index: Int) -> [(String, String)] {
        let base = [("job_id", "bad-\(index)"), ("agent_id", "a"), ("user_id", "u")]
        switch index % 5 {
        case 0: return base + [("text", "Hi."), ("rate", "9000")]
        case 1: return base + [("text", "Hi."), ("voice", "xx-nonexistent")]
        case 2: return base + [("text", "")]
        case 3: return [("job_id", "bad-\(index)"), ("user_id", "u"), ("text", "Hi.")]
        default: return base + [("text", "Hi."), ("format", "mp9")]
        }
    }

    /// A flood of bad input does not flood the logs: 200 refused jobs give a handful of
    /// lines at info, among them one warning that counts them by error code.
    @Test func twoHundredBadJobsGiveAHandfulOfLines() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let producer = JobProducer(keys: keys)
        for index in 0..<200 { try producer.add(Self.badJob(index), on: connection) }
        let worker = try WorkerProcess(
            url: try #require(TestRedis.server).url, queue: keys, consumer: "w", logLevel: "info", captureLog: true)
        let results = try await waitForEntries(keys.results, count: 200, on: connection)
        #expect(results.count == 200 && results.allSatisfy { $0["status"] == "failed" })
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit(seconds: 10) == 0)
        let lines = worker.logLines
        #expect(lines.count <= 8, "\(lines.joined(separator: "\n"))")
        #expect(!lines.contains { $0.contains("bad-") }, "no line names a single refused job at info")
        let summaries = lines.filter { $0.contains("jobs failed or refused") }
        #expect(!summaries.isEmpty)
        let counted = summaries.map { line in
            Int(line.components(separatedBy: " jobs failed or refused")[0].split(separator: " ").last ?? "") ?? 0
        }
        #expect(counted.reduce(0, +) == 200, "\(summaries)")
        #expect(summaries.joined().contains("bad_parameter") && summaries.joined().contains("unknown_voice"))
    }

    /// Every JSON line is one object with each key once (the error's text is not a second
    /// `message`), and a job's `traceparent` is in its log lines.
    @Test func jsonLinesHaveEachKeyOnceAndCarryTheTraceParent() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        try JobProducer(keys: keys).add(Self.badJob(0) + [("traceparent", trace)], on: connection)
        try connection.command("HSET", .string(keys.agent("quiet")), "tts", "off")
        try JobProducer(keys: keys).add(
            [("job_id", "good"), ("agent_id", "quiet"), ("user_id", "u"), ("text", "Hi."), ("traceparent", trace)], on: connection)
        let worker = try WorkerProcess(
            url: try #require(TestRedis.server).url, queue: keys, consumer: "w", arguments: ["--log-format", "json"], logLevel: "debug",
            captureLog: true)
        _ = try await waitForEntries(keys.results, count: 2, on: connection)
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit(seconds: 10) == 0)
        let lines = worker.logLines
        #expect(lines.count >= 4)
        for line in lines {
            let keys = try #require(Self.topLevelKeys(line), "not one JSON object of strings: \(line)")
            #expect(Set(keys).count == keys.count, "a repeated key: \(line)")
            #expect(["ts", "level", "label", "message"].allSatisfy(keys.contains), "\(line)")
        }
        let jobLines = lines.filter { $0.contains("\"job.id\":\"bad-0\"") || $0.contains("\"job.id\":\"good\"") }
        #expect(jobLines.count >= 2, "\(lines.joined(separator: "\n"))")
        #expect(jobLines.allSatisfy { $0.contains("\"trace.parent\":\"\(trace)\"") }, "\(jobLines)")
        #expect(jobLines.contains { $0.contains("\"error.message\":") }, "the refusal's reason has a key of its own")
    }

    /// Metadata named like a field of the line (or like a renamed one) never repeats a key.
    @Test func metadataNamedLikeAFieldIsRenamed() throws {
        var handler = JSONLogHandler(label: "intone.test")
        handler.metadata = ["level": "from metadata", "metadata.message": "second"]
        let event = LogEvent(
            level: .warning, message: "the event", metadata: ["message": "first", "ts": "t"], source: nil, file: #file,
            function: #function, line: #line)
        let line = handler.line(event, timestamp: "2026-01-01T00:00:00.000Z")
        let keys = try #require(Self.topLevelKeys(String(line.dropLast())), "\(line)")
        #expect(Set(keys).count == keys.count, "\(line)")
        #expect(line.contains("\"message\":\"the event\"") && line.contains("\"level\":\"warning\""))
        #expect(line.contains("\"first\"") && line.contains("\"second\"") && line.contains("\"from metadata\""))
    }

    /// The keys of a flat JSON object whose values are strings, in order; nil when the
    /// line is anything else.
    static func topLevelKeys(_ line: String) -> [String]? {
        var bytes = Array(line.utf8)[...]
        func string() -> String? {
            guard bytes.first == UInt8(ascii: "\"") else { return nil }
            bytes = bytes.dropFirst()
            var text: [UInt8] = []
            while let byte = bytes.first {
                bytes = bytes.dropFirst()
                if byte == UInt8(ascii: "\"") { return String(decoding: text, as: UTF8.self) }
                if byte == UInt8(ascii: "\\") {
                    guard let escaped = bytes.first else { return nil }
                    bytes = bytes.dropFirst()
                    text.append(escaped)
                } else {
                    text.append(byte)
                }
            }
            return nil
        }
        func take(_ ascii: Unicode.Scalar) -> Bool {
            guard bytes.first == UInt8(ascii: ascii) else { return false }
            bytes = bytes.dropFirst()
            return true
        }
        guard take("{") else { return nil }
        var keys: [String] = []
        while true {
            guard let key = string(), take(":"), string() != nil else { return nil }
            keys.append(key)
            if take("}") { return bytes.isEmpty ? keys : nil }
            guard take(",") else { return nil }
        }
    }
}
