import Foundation
import IntoneCore

/// `intone work` as a separate process, for the tests that kill workers.
final class WorkerProcess {
    let process = Process()
    let name: String

    /// Where its standard error goes, when the test reads its log.
    let logPath: String?

    init(
        url: RedisURL, queue: QueueKeys, consumer: String, arguments: [String] = [], logLevel: String = "error", captureLog: Bool = false,
        environment: [String: String] = [:]
    ) throws {
        name = consumer
        process.executableURL = URL(fileURLWithPath: try intoneExecutable())
        var auth = ""
        if let password = url.password { auth = (url.username ?? "") + ":" + password + "@" }
        let redis: String =
            switch url.endpoint {
            case .unix(let path): "unix://" + path
            case .tcp(let host, let port): "redis://\(auth)\(host):\(port)"
            }
        process.arguments =
            [
                "work", "--redis", redis, "--queue", queue.queue, "--consumer", consumer, "--block-ms", "100", "--synthesizers", "1",
                "--log-level", logLevel, "--metrics-port", "0",
            ]
            + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardOutput = FileHandle.nullDevice
        if captureLog {
            let path = NSTemporaryDirectory() + "intone-worker-\(UUID().uuidString).log"
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: path)
            logPath = path
        } else {
            process.standardError = FileHandle.nullDevice
            logPath = nil
        }
        try process.run()
    }

    /// The lines it has logged so far.
    var logLines: [String] {
        guard let logPath, let data = FileManager.default.contents(atPath: logPath) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// Waits for the process to exit; nil when it is still running after `seconds`.
    func waitForExit(seconds: Double) async throws -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { return nil }
        return process.terminationReason == .exit ? process.terminationStatus : -process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        if let logPath { try? FileManager.default.removeItem(atPath: logPath) }
    }
}

/// How many entries the group holds as pending (not yet acknowledged), in all.
func pendingCount(_ keys: QueueKeys, on connection: RedisConnection) throws -> Int {
    let reply = try connection.command("XPENDING", .string(keys.jobs), "workers")
    return Int(reply.array?.first?.integer ?? 0)
}

/// Pending entries held by one consumer; 0 before any worker created the group.
func pendingCount(_ keys: QueueKeys, consumer: String, on connection: RedisConnection) throws -> Int {
    let reply = try connection.send(RedisCommands(["XPENDING", .string(keys.jobs), "workers", "-", "+", "1000", .string(consumer)]))[0]
    if let message = reply.errorMessage {
        if message.hasPrefix("NOGROUP") { return 0 }
        throw TestSupportError("XPENDING: \(message)")
    }
    return reply.array?.count ?? 0
}

/// The entry ids of the pending entries one consumer holds.
func pendingEntries(_ keys: QueueKeys, consumer: String, on connection: RedisConnection) throws -> [String] {
    let reply = try connection.send(RedisCommands(["XPENDING", .string(keys.jobs), "workers", "-", "+", "1000", .string(consumer)]))[0]
    if let message = reply.errorMessage { throw TestSupportError("XPENDING: \(message)") }
    return (reply.array ?? []).compactMap { $0.array?.first?.string }
}

/// A text of about `words` words, for jobs that take a while to render.
func longText(words: Int) -> String {
    let sentence = "The quick brown fox jumps over the lazy dog near the river bank. "
    return String(repeating: sentence, count: max(1, words / 13))
}
