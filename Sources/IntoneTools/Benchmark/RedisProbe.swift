import IntoneCore

/// The bench's own view of the Redis server: its clock, its CPU time, its per-command
/// statistics and its memory. Every command the probe sends is counted by name, so the
/// bench can take its own calls out of `INFO commandstats` (it polls while it measures).
final class RedisProbe {
    let connection: RedisConnection
    private(set) var calls: [String: Int] = [:]

    init(_ connection: RedisConnection) {
        self.connection = connection
    }

    /// Sends one command, counted under its `INFO commandstats` name (`xinfo|groups`).
    @discardableResult
    func call(_ statName: String, _ arguments: RedisArgument...) throws(RedisError) -> RedisReply {
        calls[statName, default: 0] += 1
        let reply = try connection.command(arguments)
        if let error = reply.error(command: statName) { throw error }
        return reply
    }

    func forgetCalls() {
        calls = [:]
    }

    /// Redis's clock (TIME) in unix milliseconds: the clock of stream entry ids.
    func milliseconds() throws(RedisError) -> Int64 {
        let parts = try call("time", "TIME").array?.compactMap(\.integer) ?? []
        guard parts.count == 2 else { throw RedisError.unexpected("TIME", .null) }
        return parts[0] * 1000 + parts[1] / 1000
    }

    /// `used_cpu_user + used_cpu_sys` of the server, in seconds.
    func cpuSeconds() throws(RedisError) -> Double {
        let info = try infoFields("cpu")
        return (Double(info["used_cpu_user"] ?? "") ?? 0) + (Double(info["used_cpu_sys"] ?? "") ?? 0)
    }

    /// `used_memory`: bytes the server's allocator hands out (data, buffers, overhead).
    func usedMemory() throws(RedisError) -> Int {
        Int(try infoFields("memory")["used_memory"] ?? "") ?? 0
    }

    /// Calls and microseconds by command since the last CONFIG RESETSTAT.
    func commandStats() throws(RedisError) -> [String: CommandCost] {
        var result: [String: CommandCost] = [:]
        for (key, value) in try infoFields("commandstats") where key.hasPrefix("cmdstat_") {
            var cost = CommandCost(calls: 0, microseconds: 0)
            for part in value.split(separator: ",") {
                let pair = part.split(separator: "=", maxSplits: 1)
                guard pair.count == 2 else { continue }
                if pair[0] == "calls" { cost.calls = Double(pair[1]) ?? 0 }
                if pair[0] == "usec" { cost.microseconds = Double(pair[1]) ?? 0 }
            }
            result[String(key.dropFirst("cmdstat_".count))] = cost
        }
        return result
    }

    /// Jobs the consumer group has taken off the stream (`entries-read`, Redis 7).
    func entriesRead(_ keys: QueueKeys) throws(RedisError) -> Int {
        let reply = try call("xinfo|groups", "XINFO", "GROUPS", .string(keys.jobs))
        for group in reply.array ?? [] {
            let fields = Dictionary(group.pairs ?? [], uniquingKeysWith: { first, _ in first })
            if fields["name"]?.string == QueueKeys.group { return Int(fields["entries-read"]?.integer ?? 0) }
        }
        return 0
    }

    /// Consumers the group has: a worker shows up once it has read.
    func consumers(_ keys: QueueKeys) throws(RedisError) -> Int {
        guard let reply = try? call("xinfo|groups", "XINFO", "GROUPS", .string(keys.jobs)) else { return 0 }
        for group in reply.array ?? [] {
            let fields = Dictionary(group.pairs ?? [], uniquingKeysWith: { first, _ in first })
            if fields["name"]?.string == QueueKeys.group { return Int(fields["consumers"]?.integer ?? 0) }
        }
        return 0
    }

    private func infoFields(_ section: String) throws(RedisError) -> [String: String] {
        let text = try call("info", "INFO", .string(section)).string ?? ""
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        return fields
    }
}

/// One command's share of the server's time, as `INFO commandstats` counts it.
public struct CommandCost: Sendable {
    public var calls: Double
    public var microseconds: Double
}

/// Per-job command costs between two `INFO commandstats` readings, without the bench's
/// own calls: a command the bench also sent keeps the workers' share of its time, in
/// proportion to calls.
public struct CommandProfile: Sendable {
    /// Name, calls per job, microseconds per job; most expensive first.
    public var commands: [(name: String, callsPerJob: Double, microsecondsPerJob: Double)]

    /// Commands whose time includes the commands they run, which Redis also counts on
    /// their own (`EXEC`'s queued commands, a script's `redis.call`s).
    public static let containers: Set<String> = ["exec", "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"]

    init(before: [String: CommandCost], after: [String: CommandCost], benchCalls: [String: Int], jobs: Int) {
        var commands: [(String, Double, Double)] = []
        for (name, cost) in after {
            let calls = cost.calls - (before[name]?.calls ?? 0)
            let microseconds = cost.microseconds - (before[name]?.microseconds ?? 0)
            let workers = calls - Double(benchCalls[name] ?? 0)
            guard calls > 0, workers > 0 else { continue }
            commands.append((name, workers / Double(max(jobs, 1)), microseconds * workers / calls / Double(max(jobs, 1))))
        }
        self.commands = commands.sorted { $0.2 > $1.2 }
    }

    /// Σ usec / N over every command: nested commands are counted twice, once in their
    /// container and once on their own.
    public var microsecondsPerJob: Double { commands.reduce(0) { $0 + $1.microsecondsPerJob } }
    /// The same without the containers: every command once, the containers' own dispatch left out.
    public var microsecondsPerJobOnce: Double {
        commands.filter { !Self.containers.contains($0.name) }.reduce(0) { $0 + $1.microsecondsPerJob }
    }
    /// Every command Redis ran (nested ones included) per job.
    public var callsPerJob: Double { commands.reduce(0) { $0 + $1.callsPerJob } }

    public var json: BenchJSON {
        .object(
            commands.map {
                ($0.name, .object([("calls_per_job", .rounded($0.callsPerJob, 4)), ("us_per_job", .rounded($0.microsecondsPerJob, 4))]))
            })
    }
}
