#if canImport(Glibc)
    import Glibc
#endif

/// `intone bench`: the peers' agent-reply workloads (`../shared/peers/run_peer.py`) run
/// through real `intone work` processes on a private redis-server, with the figures the
/// performance targets are stated in. It measures; it never asserts.
public struct Bench {
    public enum Workload: String, CaseIterable, Sendable {
        /// The agent's voice is off: no token, no rendering; the queue's own cost.
        case off
        /// 10 users at 1/s burst 1: nearly every job refused by the bucket; the gate's cost.
        case limited
        /// Every reply rendered.
        case on
    }

    public struct Row: Sendable {
        public var workload: Workload
        public var jobs: Int
        public var jobsPerSecond: Double
        public var roundTripsPerBatch: Double
        public var jobsPerBatch: Double
        /// Redis's own CPU time (user + system, from INFO cpu) per job.
        public var redisMicrosecondsPerJob: Double
        /// The workers' and their synthesizers' CPU time (user + system, from
        /// `/proc/<pid>/stat`) per job, from the first result to the last.
        public var workerMicrosecondsPerJob: Double
        /// The same split by command (INFO commandstats; a script's time includes the
        /// commands it runs, which are also listed on their own).
        public var commandMicrosecondsPerJob: [(String, Double)]
        public var latencyP50Milliseconds: Double?
        public var latencyP99Milliseconds: Double?
        public var latencyLoad: Double?
        public var rssStartKilobytes: Int
        public var rssEndKilobytes: Int
    }

    /// The reply of the peers' benchmark: about 130 characters, 7.6 s of speech.
    static let text =
        "Hello there. Your order has shipped and will arrive on Thursday, the twenty-seventh. Is there anything else I can help you with today?"

    public var executable: String
    public var workers: Int
    public var measureLatency: Bool

    public init(executable: String, workers: Int, measureLatency: Bool) {
        self.executable = executable
        self.workers = workers
        self.measureLatency = measureLatency
    }

    public func run(_ workload: Workload, jobs: Int, progress: (String) -> Void) throws -> Row {
        let port = try LocalFiles.freePort()
        let server = try EmbeddedRedisServer(port: port)
        defer { server.stop() }
        let connection = try RedisConnection(url: server.url)
        let keys = try QueueKeys(queue: "tts")
        if workload == .off {
            for agent in 0..<10 { try connection.command("HSET", .string(keys.agent("a\(agent)")), "tts", "off") }
        }
        progress("\(workload.rawValue): enqueuing \(jobs) jobs")
        try fill(keys, jobs: jobs, workload: workload, from: 0, on: connection)
        try connection.command("XGROUP", "CREATE", .string(keys.jobs), "workers", "0")
        try connection.command("CONFIG", "RESETSTAT")
        let cpuBefore = try Self.redisCPU(connection)

        var processes: [pid_t] = []
        var metricsPorts: [Int] = []
        defer {
            for pid in processes { kill(pid, SIGTERM) }
            for pid in processes where Spawn.wait(pid, milliseconds: 30_000) == nil {
                kill(pid, SIGKILL)
                Spawn.wait(pid)
            }
        }
        let user = workload == .limited ? "1/s burst 1" : "1000000/s burst 1000000"
        for index in 0..<workers {
            let metricsPort = try LocalFiles.freePort()
            metricsPorts.append(metricsPort)
            processes.append(
                try Spawn.start(
                    executable,
                    [
                        "work", "--redis", "redis://127.0.0.1:\(port)", "--queue", keys.queue, "--consumer", "bench-\(index)",
                        "--agent-rate", "1000000/s burst 1000000", "--user-rate", user, "--metrics-port", "\(metricsPort)",
                        "--log-level", "error",
                    ], redirects: [(STDOUT_FILENO, .null)]))
        }
        progress("\(workload.rawValue): \(workers) workers started")
        var rssStart = 0
        var cpuStart = 0.0
        var resultsAtStart = 0
        var first: String?
        var reportedTenths = 0
        // Counted from the stats hash: the results stream is trimmed (`--results-maxlen`).
        while case let done = try Self.resultsWritten(keys, on: connection), done < jobs {
            if rssStart == 0, done > 0 {
                let tree = Self.processTree(processes)
                rssStart = Self.rss(tree)
                cpuStart = Self.cpuSeconds(tree)
                resultsAtStart = done
                first = try connection.command("XRANGE", .string(keys.results), "-", "+", "COUNT", "1").array?.first?.array?.first?.string
            }
            if processes.allSatisfy({ Spawn.wait($0, milliseconds: 0) != nil }) {
                throw EmbeddedRedisError("every worker exited before the jobs were done")
            }
            // Memory along the way of a long run, each tenth of the jobs: growth would show
            // as a trend.
            if jobs >= 200_000, rssStart > 0, done * 10 / jobs > reportedTenths {
                reportedTenths = done * 10 / jobs
                progress("\(workload.rawValue): \(done) jobs done, RSS \(Self.rss(Self.processTree(processes))) KiB")
            }
            usleep(20_000)
        }
        let cpuAfter = try Self.redisCPU(connection)
        let treeEnd = Self.processTree(processes)
        let rssEnd = Self.rss(treeEnd)
        let workerCPU = (Self.cpuSeconds(treeEnd) - cpuStart) * 1_000_000 / Double(max(1, jobs - resultsAtStart))
        let last = try connection.command("XREVRANGE", .string(keys.results), "+", "-", "COUNT", "1").array?.first?.array?.first?.string
        let span = Double((QueueStatus.milliseconds(of: last) ?? 0) - (QueueStatus.milliseconds(of: first) ?? 0))
        let jobsPerSecond = Double(jobs - 1) / max(span, 1) * 1000
        let stats = try Self.commandStats(connection)

        var roundTrips = 0.0
        var batches = 0.0
        var batchJobs = 0.0
        for metricsPort in metricsPorts {
            let text = Self.httpGet(port: metricsPort, path: "/metrics")
            roundTrips += LocalFiles.prometheusSample(text, "intone_redis_round_trips_total")
            batches += LocalFiles.prometheusSample(text, "intone_batch_size_count")
            batchJobs += LocalFiles.prometheusSample(text, "intone_batch_size_sum")
        }
        var row = Row(
            workload: workload, jobs: jobs, jobsPerSecond: jobsPerSecond, roundTripsPerBatch: roundTrips / max(batches, 1),
            jobsPerBatch: batchJobs / max(batches, 1), redisMicrosecondsPerJob: (cpuAfter - cpuBefore) * 1_000_000 / Double(jobs),
            workerMicrosecondsPerJob: workerCPU,
            commandMicrosecondsPerJob: stats.map { ($0.0, $0.1 / Double(jobs)) }, latencyP50Milliseconds: nil,
            latencyP99Milliseconds: nil, latencyLoad: nil, rssStartKilobytes: rssStart, rssEndKilobytes: rssEnd)

        if measureLatency {
            // Half the measured maximum, paced in 10 ms steps for about 5 s (at most 20,000 jobs).
            let rate = jobsPerSecond / 2
            let total = min(Int(rate * 5), 20_000)
            progress("\(workload.rawValue): latency at \(Int(rate)) jobs/s (\(total) jobs)")
            try connection.command("DEL", .string(keys.results))
            let started = Monotonic.milliseconds()
            var sent = 0
            while sent < total {
                let due = min(total, Int(Double(Monotonic.milliseconds() - started) * rate / 1000) + 1)
                if due > sent {
                    try fill(keys, jobs: due - sent, workload: workload, from: jobs + sent, on: connection)
                    sent = due
                }
                usleep(10_000)
            }
            while try connection.command("XLEN", .string(keys.results)).integer ?? 0 < Int64(total) { usleep(20_000) }
            let elapsed = (try connection.command("XRANGE", .string(keys.results), "-", "+").array ?? []).compactMap { entry -> Double? in
                guard let pairs = entry.array?.last?.pairs else { return nil }
                return pairs.first { $0.0 == "elapsed_ms" }?.1.string.flatMap { Double($0) }
            }.sorted()
            row.latencyP50Milliseconds = Self.percentile(elapsed, 0.50)
            row.latencyP99Milliseconds = Self.percentile(elapsed, 0.99)
            row.latencyLoad = rate
        }
        return row
    }

    func fill(_ keys: QueueKeys, jobs: Int, workload: Workload, from offset: Int, on connection: RedisConnection) throws {
        let users = workload == .limited ? 10 : 1000
        var start = 0
        while start < jobs {
            let end = min(start + 1000, jobs)
            let batch = (start..<end).map { n -> [(String, String)] in
                let i = n + offset
                return [("job_id", "j\(i)"), ("agent_id", "a\(i % 10)"), ("user_id", "u\(i % users)"), ("text", Self.text)]
            }
            _ = try JobProducer(keys: keys).enqueue(batch: batch, on: connection)
            start = end
        }
    }

    /// Results written so far, by the workers' own count (`intone:{Q}:stats`).
    static func resultsWritten(_ keys: QueueKeys, on connection: RedisConnection) throws -> Int {
        let pairs = try connection.command("HGETALL", .string(keys.stats)).pairs ?? []
        return pairs.reduce(0) { total, pair in pair.0 == "audio_ms" ? total : total + (pair.1.string.flatMap { Int($0) } ?? 0) }
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p + 0.5))]
    }

    static func redisCPU(_ connection: RedisConnection) throws -> Double {
        let info = try connection.command("INFO", "cpu").string ?? ""
        var total = 0.0
        for line in info.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: ":")
            if parts.count == 2, parts[0] == "used_cpu_user" || parts[0] == "used_cpu_sys" { total += Double(parts[1]) ?? 0 }
        }
        return total
    }

    /// Microseconds by command, largest first.
    static func commandStats(_ connection: RedisConnection) throws -> [(String, Double)] {
        let info = try connection.command("INFO", "commandstats").string ?? ""
        var result: [(String, Double)] = []
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_") {
            let name = line.dropFirst("cmdstat_".count).prefix { $0 != ":" }
            if let usec = line.split(separator: ",").first(where: { $0.contains("usec=") }).flatMap({
                Double($0.split(separator: "=").last ?? "")
            }) {
                result.append((String(name), usec))
            }
        }
        return result.sorted { $0.1 > $1.1 }
    }

    /// The processes and their children (the synthesizers).
    static func processTree(_ roots: [pid_t]) -> [pid_t] {
        var parents: [pid_t: pid_t] = [:]
        if let directory = opendir("/proc") {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if let pid = pid_t(name), let fields = statFields(pid), fields.count > 1, let parent = pid_t(fields[1]) {
                    parents[pid] = parent
                }
            }
            closedir(directory)
        }
        return Array(Set(roots).union(parents.filter { roots.contains($0.value) }.map(\.key)))
    }

    /// The fields of `/proc/<pid>/stat` after the command name: state is [0], ppid [1],
    /// utime [11], stime [12].
    static func statFields(_ pid: pid_t) -> [Substring]? {
        guard let stat = LocalFiles.read("/proc/\(pid)/stat").map({ String(decoding: $0, as: UTF8.self) }),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    /// Resident memory of the processes, in KiB.
    static func rss(_ pids: [pid_t]) -> Int {
        pids.reduce(0) { total, pid in
            let status = LocalFiles.read("/proc/\(pid)/status").map { String(decoding: $0, as: UTF8.self) } ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            return total + (line.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0)
        }
    }

    /// User and system CPU time of the processes, in seconds.
    static func cpuSeconds(_ pids: [pid_t]) -> Double {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return pids.reduce(0.0) { total, pid in
            guard let fields = statFields(pid), fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
                return total
            }
            return total + (user + system) / ticks
        }
    }

    /// A plain HTTP/1.1 GET on 127.0.0.1 (Connection: close), for the workers' own /metrics.
    static func httpGet(port: Int, path: String) -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { return "" }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        guard (try? FileDescriptorIO.writeAll(fd, request)) != nil else { return "" }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            response += chunk[0..<n]
            // Stop at the end of the body the headers announce, whether or not the server closes.
            let text = String(decoding: response, as: UTF8.self)
            if let headerEnd = text.range(of: "\r\n\r\n"),
                let lengthLine = text[..<headerEnd.lowerBound].split(separator: "\r\n").first(where: {
                    $0.lowercased().hasPrefix("content-length:")
                }),
                let length = Int(lengthLine.split(separator: ":").last?.trimmed ?? ""),
                text.utf8.distance(from: headerEnd.upperBound.samePosition(in: text.utf8)!, to: text.utf8.endIndex) >= length
            {
                break
            }
        }
        return String(decoding: response, as: UTF8.self)
    }

    /// The table `intone bench` prints.
    public static func table(_ rows: [Row]) -> String {
        func number(_ value: Double?, _ digits: Int = 1) -> String {
            guard let value else { return "-" }
            let scale = pow(10.0, Double(digits))
            let rounded = (value * scale).rounded() / scale
            return digits == 0 ? String(Int(rounded)) : String(rounded)
        }
        return Table.render(
            header: [
                "workload", "jobs", "jobs/s", "round trips/batch", "jobs/batch", "Redis CPU µs/job", "worker CPU µs/job", "p50 ms", "p99 ms", "at jobs/s",
                "RSS start KiB", "RSS end KiB",
            ],
            rows: rows.map {
                [
                    $0.workload.rawValue, "\($0.jobs)", number($0.jobsPerSecond, 0), number($0.roundTripsPerBatch, 2),
                    number($0.jobsPerBatch),
                    number($0.redisMicrosecondsPerJob, 2), number($0.workerMicrosecondsPerJob, 2), number($0.latencyP50Milliseconds, 0), number($0.latencyP99Milliseconds, 0),
                    number($0.latencyLoad, 0), "\($0.rssStartKilobytes)", "\($0.rssEndKilobytes)",
                ]
            })
    }
}
