import Foundation
import IntoneCore
import IntoneTools
import Logging
import Testing

/// The suite's private redis-server, started by the `.redisServer` trait.
enum TestRedis {
    @TaskLocal static var server: EmbeddedRedisServer?

    static func connect() throws -> RedisConnection {
        guard let server else { throw TestSupportError("this suite needs the .redisServer trait") }
        return try RedisConnection(url: server.url)
    }
}

/// Starts one redis-server on a private Unix socket for a whole suite and stops it after.
struct RedisServerTrait: SuiteTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let server = try EmbeddedRedisServer()
        defer { server.stop() }
        try await TestRedis.$server.withValue(server) { try await function() }
    }
}

extension Trait where Self == RedisServerTrait {
    static var redisServer: Self { Self() }
}

struct TestSupportError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A queue name no other test uses.
func uniqueQueue(_ name: String = #function) throws -> QueueKeys {
    let stem = name.prefix { $0.isLetter || $0.isNumber }
    return try QueueKeys(queue: "t-\(stem)-\(UInt32.random(in: 0...UInt32.max))")
}

/// The `intone` binary that `swift build` put next to the test bundle; the worker
/// spawns it as its synthesizer children.
func intoneExecutable() throws -> String {
    if let path = ProcessInfo.processInfo.environment["INTONE_EXECUTABLE"] { return path }
    let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var directory = testBinary.deletingLastPathComponent()
    // On Linux the test binary is `<build>/debug/intonePackageTests.xctest`.
    for _ in 0..<3 {
        let candidate = directory.appendingPathComponent("intone").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    throw TestSupportError("the intone executable is not built next to the tests; run `swift build` first")
}

let testLogger: Logger = {
    var logger = Logger(label: "intone.test")
    logger.logLevel = ProcessInfo.processInfo.environment["INTONE_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
    return logger
}()

/// A worker on its own thread, with test-friendly settings; stop it with `stop()`.
final class RunningWorker: Sendable {
    let worker: Worker
    let thread: BackgroundThread

    init(queue: QueueKeys, consumer: String = "w1", flags: [String: String] = [:]) throws {
        guard let server = TestRedis.server else { throw TestSupportError("no redis server") }
        var all = ["queue": queue.queue, "consumer": consumer, "block-ms": "100", "synthesizers": "1", "settings-refresh-ms": "100"]
        for (key, value) in flags { all[key] = value }
        var configuration = try WorkerConfiguration(flags: all, environment: [:])
        configuration.redisURL = server.url
        worker = Worker(
            configuration: configuration,
            synthesizer: .init(
                executable: try intoneExecutable(), size: configuration.synthesizers,
                timeoutMilliseconds: configuration.synthesisTimeoutMilliseconds),
            logger: testLogger)
        let worker = worker
        thread = BackgroundThread.start { try worker.run() }
    }

    func stop() async throws {
        worker.requestStop()
        try await thread.join()
    }
}

/// Fields of the entries of a stream, in order.
func streamEntries(_ key: String, on connection: RedisConnection) throws -> [[String: String]] {
    let reply = try connection.command("XRANGE", .string(key), "-", "+")
    return (reply.array ?? []).compactMap { entry in
        guard let parts = entry.array, parts.count == 2 else { return nil }
        var fields: [String: String] = ["_id": parts[0].string ?? ""]
        for (name, value) in parts[1].pairs ?? [] { fields[name] = value.string ?? "" }
        return fields
    }
}

/// Polls until the stream holds at least `count` entries; fails the test after `seconds`.
@discardableResult
func waitForEntries(_ key: String, count: Int, seconds: Double = 30, on connection: RedisConnection) async throws -> [[String: String]] {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if (try connection.command("XLEN", .string(key)).integer ?? 0) >= count { return try streamEntries(key, on: connection) }
        try await Task.sleep(for: .milliseconds(20))
    }
    let got = try streamEntries(key, on: connection)
    Issue.record("waited \(seconds) s for \(count) entries in \(key); got \(got.count)")
    return got
}

extension JobProducer {
    @discardableResult
    func add(_ fields: [(String, String)], on connection: RedisConnection) throws -> String {
        try enqueue(fields, on: connection)
    }
}

func byJobID(_ entries: [[String: String]]) -> [String: [String: String]] {
    Dictionary(entries.map { ($0["job_id"] ?? "", $0) }, uniquingKeysWith: { first, _ in first })
}
