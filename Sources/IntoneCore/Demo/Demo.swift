import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// `intone demo`: a handful of sample agent replies through a real worker, end to end.
public enum Demo {
    public struct Options: Sendable {
        /// nil starts a private redis-server (the embedded default).
        public var redisURL: RedisURL?
        public var queue: String
        public var outputDirectory: String
        public var synthesizerExecutable: String

        public init(redisURL: RedisURL?, queue: String, outputDirectory: String, synthesizerExecutable: String) {
            self.redisURL = redisURL
            self.queue = queue
            self.outputDirectory = outputDirectory
            self.synthesizerExecutable = synthesizerExecutable
        }
    }

    /// One row of the table the demo prints.
    public struct Row: Sendable {
        public var jobID: String
        public var agent: String
        public var status: String
        public var detail: String
        public var audioSeconds: String
        public var milliseconds: String
    }

    static let samples: [(String, [(String, String)])] = [
        (
            "greeting",
            [
                ("agent_id", "support-bot"), ("user_id", "u-1001"),
                ("text", "Hello! Your order has shipped and will arrive on Thursday. Is there anything else I can help you with?"),
            ]
        ),
        (
            "german",
            [
                ("agent_id", "berlin-bot"), ("user_id", "u-1002"),
                ("text", "Guten Tag! Ihre Bestellung ist unterwegs und kommt am Donnerstag an."),
            ]
        ),
        (
            "fast-high",
            [
                ("agent_id", "support-bot"), ("user_id", "u-1003"), ("text", "This reply is spoken faster and higher, as the job asks."),
                ("rate", "260"), ("pitch", "80"),
            ]
        ),
        (
            "voice-off",
            [("agent_id", "quiet-bot"), ("user_id", "u-1004"), ("text", "This agent's voice is off, so this reply stays text.")]
        ),
        (
            "keyword-hit",
            [
                ("agent_id", "digest-bot"), ("user_id", "u-1005"), ("prompt", "Please read aloud today's summary."),
                ("text", "Today you have three new messages and one meeting at ten."),
            ]
        ),
        (
            "keyword-miss",
            [
                ("agent_id", "digest-bot"), ("user_id", "u-1006"), ("prompt", "What is new today?"),
                ("text", "Today you have three new messages."),
            ]
        ),
        (
            "bad-rate",
            [("agent_id", "support-bot"), ("user_id", "u-1007"), ("text", "A producer asked for an impossible rate."), ("rate", "9000")]
        ),
        ("engine-crash", [("agent_id", "support-bot"), ("user_id", "u-1008"), ("text", String(repeating: "a . ", count: 100))]),
        ("greeting", [("agent_id", "support-bot"), ("user_id", "u-1001"), ("text", "The same job_id again: it gets no second result.")]),
    ]

    public static func run(_ options: Options, logger: Logger, print: (String) -> Void) throws -> [Row] {
        let server: EmbeddedRedisServer? = options.redisURL == nil ? try EmbeddedRedisServer() : nil
        defer { server?.stop() }
        let url = options.redisURL ?? server!.url
        print(server == nil ? "Using Redis at \(url)" : "Started a private redis-server at \(url)")
        let keys = try QueueKeys(queue: options.queue)
        let connection = try RedisConnection(url: url)
        // A fresh queue each run, so the table shows this run only.
        try connection.command(["DEL", .string(keys.jobs), .string(keys.results), .string(keys.dead)])
        for sample in Set(samples.map(\.0)) { try connection.command("DEL", .string(keys.done(jobID: "demo-" + sample))) }
        try connection.command("HSET", .string(keys.agent("quiet-bot")), "tts", "off")
        try connection.command("HSET", .string(keys.agent("berlin-bot")), "voice", "de")
        try connection.command("HSET", .string(keys.agent("digest-bot")), "tts", "keywords", "keywords", "read aloud, speak")
        let producer = JobProducer(keys: keys)
        for (name, fields) in samples {
            try producer.enqueue([("job_id", "demo-" + name)] + fields, on: connection)
        }
        let distinct = Set(samples.map(\.0)).count
        print("Enqueued \(samples.count) jobs (\(distinct) distinct job ids) on \(keys.jobs)")

        var configuration = try WorkerConfiguration(
            flags: ["queue": options.queue, "consumer": "demo-worker", "block-ms": "200", "synthesizers": "2"],
            environment: [:])
        configuration.redisURL = url
        let worker = Worker(
            configuration: configuration,
            synthesizer: .init(executable: options.synthesizerExecutable, size: configuration.synthesizers),
            logger: logger)
        let thread = BackgroundThread.start { try worker.run() }
        let deadline = Monotonic.milliseconds() + 60_000
        while Monotonic.milliseconds() < deadline && !thread.isFinished {
            let count = try connection.command("XLEN", .string(keys.results)).integer ?? 0
            let pending = try connection.command("XLEN", .string(keys.jobs)).integer ?? 0
            if count >= distinct && pending == 0 { break }
            usleep(50_000)
        }
        worker.requestStop()
        try thread.joinBlocking()

        mkdir(options.outputDirectory, 0o755)
        var rows: [Row] = []
        let entries = try connection.command("XRANGE", .string(keys.results), "-", "+").array ?? []
        for entry in entries {
            guard let parts = entry.array, parts.count == 2 else { continue }
            var fields: [String: String] = [:]
            for (name, value) in parts[1].pairs ?? [] { fields[name] = value.string ?? "" }
            let jobID = fields["job_id"] ?? "?"
            var detail = fields["reason"] ?? fields["error"] ?? fields["limit"] ?? ""
            var seconds = ""
            if fields["status"] == "ok", let key = fields["audio_key"], let audio = try connection.command("GET", .string(key)).bytes {
                let path = "\(options.outputDirectory)/\(jobID).wav"
                try LocalFiles.write(audio, to: path)
                detail = path
                seconds = String(twoDecimals((Double(fields["duration_ms"] ?? "0") ?? 0) / 1000))
            }
            rows.append(
                Row(
                    jobID: jobID, agent: fields["agent_id"] ?? "", status: fields["status"] ?? "", detail: detail, audioSeconds: seconds,
                    milliseconds: fields["elapsed_ms"] ?? ""))
        }
        let dead = try connection.command("XLEN", .string(keys.dead)).integer ?? 0
        print("")
        print(table(rows))
        print("")
        print(
            "\(rows.count) results for \(samples.count) jobs (one job_id was enqueued twice), \(dead) dead letters; WAV files in \(options.outputDirectory)/"
        )
        print("The worker survived the engine crash: synthesizer restarts = \(worker.statistics.synthesizerRestarts)")
        return rows
    }

    static func table(_ rows: [Row]) -> String {
        Table.render(
            header: ["job", "agent", "status", "detail", "audio s", "ms"],
            rows: rows.map { [$0.jobID, $0.agent, $0.status, $0.detail, $0.audioSeconds, $0.milliseconds] }, rightAligned: [4, 5])
    }

    static func twoDecimals(_ value: Double) -> String {
        let scaled = Int((value * 100).rounded())
        return "\(scaled / 100).\(String(scaled % 100).leftPadded(to: 2))"
    }
}
