import IntoneCore

#if canImport(Glibc)
    import Glibc
#endif

/// A private redis-server on a TCP port of 127.0.0.1 (the workers connect there, as a
/// remote Redis would be reached) with the bench's queue, `tts`, on it.
final class BenchQueue {
    let server: EmbeddedRedisServer
    let connection: RedisConnection
    let probe: RedisProbe
    let keys: QueueKeys
    var url: String { "redis://127.0.0.1:\(server.port)" }

    init() throws {
        server = try EmbeddedRedisServer(port: try LocalPorts.free())
        connection = try RedisConnection(url: server.url, commandTimeoutMilliseconds: 60_000)
        probe = RedisProbe(connection)
        keys = try QueueKeys(queue: "tts")
    }

    /// Jobs `first..<first + count`, each given its fields by `fields`, in pipelines of
    /// 1,000 XADDs.
    func enqueue(_ range: Range<Int>, fields: (Int) -> [(String, String)]) throws {
        var start = range.lowerBound
        while start < range.upperBound {
            let end = min(start + 1000, range.upperBound)
            _ = try JobProducer(keys: keys).enqueue(batch: (start..<end).map(fields), on: connection)
            start = end
        }
    }

    func createGroup() throws {
        try connection.command("XGROUP", "CREATE", .string(keys.jobs), .string(QueueKeys.group), "0", "MKSTREAM")
    }

    /// Results written so far, by the workers' own count (`intone:{Q}:stats`): the results
    /// stream itself is trimmed (`--results-maxlen`).
    func resultsWritten() throws -> (total: Int, byStatus: [String: Int]) {
        let pairs = try probe.call("hgetall", "HGETALL", .string(keys.stats)).pairs ?? []
        var byStatus: [String: Int] = [:]
        for (field, value) in pairs where field != "audio_ms" {
            byStatus[field] = value.string.flatMap { Int($0) } ?? 0
        }
        return (byStatus.values.reduce(0, +), byStatus)
    }

    func resultsLength() throws -> Int {
        Int(try probe.call("xlen", "XLEN", .string(keys.results)).integer ?? 0)
    }

    /// The id of the first or the last entry of the results stream.
    func resultID(last: Bool) throws -> String? {
        let reply =
            last
            ? try probe.call("xrevrange", "XREVRANGE", .string(keys.results), "+", "-", "COUNT", "1")
            : try probe.call("xrange", "XRANGE", .string(keys.results), "-", "+", "COUNT", "1")
        return reply.array?.first?.array?.first?.string
    }

    /// Every result entry: its id and fields.
    func results() throws -> [(id: String, fields: [String: String])] {
        var entries: [(String, [String: String])] = []
        var start = "-"
        while true {
            let page = try connection.command("XRANGE", .string(keys.results), .string(start), "+", "COUNT", "10000").array ?? []
            for entry in page {
                guard let parts = entry.array, parts.count == 2, let id = parts[0].string else { continue }
                var fields: [String: String] = [:]
                for (name, value) in parts[1].pairs ?? [] { fields[name] = value.string }
                entries.append((id, fields))
            }
            guard page.count == 10000, let last = entries.last?.0 else { return entries }
            start = "(" + last
        }
    }

    /// Waits until `done()` holds, checking every `everyMilliseconds` that a worker is
    /// still alive and that the deadline has not passed.
    func wait(
        for what: String, workers: WorkerProcesses, deadline: Int64, everyMilliseconds: Int, until done: () throws -> Bool
    ) throws {
        try BenchQueueWaiter(workers: workers, deadline: deadline).wait(for: what, everyMilliseconds: everyMilliseconds, until: done)
    }
}
