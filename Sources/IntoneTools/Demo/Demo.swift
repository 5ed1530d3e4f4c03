import IntoneCore
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// `intone demo`: a handful of sample agent replies through a real worker, end to end.
public enum Demo {
    public struct Options: Sendable {
        /// nil starts a private redis-server (the embedded default).
        public var redisURL: RedisURL?
        /// A queue name that must have no keys yet; nil makes a fresh one, `demo-<random>`.
        public var queue: String?
        public var outputDirectory: String
        public var synthesizerExecutable: String
        /// Leave the demo's queue in Redis afterwards (by default every key of it is removed).
        public var keep: Bool

        public init(redisURL: RedisURL?, queue: String?, outputDirectory: String, synthesizerExecutable: String, keep: Bool = false) {
            self.redisURL = redisURL
            self.queue = queue
            self.outputDirectory = outputDirectory
            self.synthesizerExecutable = synthesizerExecutable
            self.keep = keep
        }
    }

    /// Why the demo did not run: one line for the operator.
    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
    }

    /// One row of the table the demo prints.
    public struct Row: Sendable {
        public var jobID: String
        public var agent: String
        public var status: String
        /// The result's `format` and `content_type` (`wav`, `audio/wav` when it has none).
        public var format: String
        public var contentType: String
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
        (
            "telephony",
            [
                ("agent_id", "support-bot"), ("user_id", "u-1009"),
                ("text", "Thanks for calling. Your order has shipped and will arrive on Thursday."), ("format", "ulaw_8000"),
            ]
        ),
        (
            "browser",
            [
                ("agent_id", "support-bot"), ("user_id", "u-1010"), ("text", "Here is your answer, ready to play in the browser."),
                ("format", "opus"),
            ]
        ),
        ("engine-crash", [("agent_id", "support-bot"), ("user_id", "u-1008"), ("text", String(repeating: "a . ", count: 100))]),
        ("greeting", [("agent_id", "support-bot"), ("user_id", "u-1001"), ("text", "The same job_id again: it gets no second result.")]),
    ]

    public static func run(_ options: Options, logger: Logger, print: (String) -> Void) throws -> [Row] {
        let server: EmbeddedRedisServer? = options.redisURL == nil ? try EmbeddedRedisServer() : nil
        defer { server?.stop() }
        let url = options.redisURL ?? server!.url
        print(server == nil ? "Using Redis at \(url)" : "Started a private redis-server at \(url)")
        // On a Redis Cluster the demo's keys (one queue, one slot) are on that slot's master.
        let access = try QueueAccess.open(url: url, queue: try QueueKeys(queue: "demo"))
        let keys = try queue(options.queue) { keys in try access.connection(for: keys) }
        let connection = try access.connection(for: keys)
        do {
            let rows = try run(options, keys: keys, url: url, connection: connection, logger: logger, print: print)
            try finish(keys, keep: options.keep, on: connection, print: print)
            return rows
        } catch {
            // Whatever went wrong, the demo's queue does not stay behind (unless asked).
            try? finish(keys, keep: options.keep, on: connection, print: print)
            throw error
        }
    }

    /// The demo's queue: the one named, if it has no key at all, or a fresh `demo-<random>`.
    /// The demo writes agents' settings and deletes what it made: it must never run on a
    /// queue someone uses.
    static func queue(_ name: String?, on connection: (QueueKeys) throws -> RedisConnection) throws -> QueueKeys {
        guard let name else {
            for _ in 0..<5 {
                let hex = String(UInt32.random(in: 0...UInt32.max), radix: 16)
                let keys = try QueueKeys(queue: "demo-" + String(repeating: "0", count: 8 - hex.count) + hex)
                if case .used = try QueueProbe(keys: keys).presence(scanCalls: 1, on: try connection(keys)) { continue }
                return keys
            }
            throw Refusal(description: "could not find an unused queue name demo-<random>")
        }
        let keys = try QueueKeys(queue: name)
        switch try QueueProbe(keys: keys).presence(on: try connection(keys)) {
        case .unused:
            return keys
        case .used(let example):
            throw Refusal(
                description:
                    "queue '\(DisplayText.escaped(name))' is in use (it has \(DisplayText.escaped(example))); the demo runs only on a queue of its own: leave out --queue for a fresh one"
            )
        case .unknown(let scanned):
            throw Refusal(
                description:
                    "cannot tell whether queue '\(DisplayText.escaped(name))' is unused (looked at \(scanned) keys of a larger database); leave out --queue for a fresh one"
            )
        }
    }

    /// Removes every key of the demo's queue, unless it is to be kept (then says where it is).
    static func finish(_ keys: QueueKeys, keep: Bool, on connection: RedisConnection, print: (String) -> Void) throws {
        if keep {
            print("Kept the queue \(keys.queue) (--keep): its keys are \(keys.prefix)*")
            return
        }
        let removed = try QueueProbe(keys: keys).removeAll(on: connection)
        print(
            "Removed the demo's queue \(keys.queue) (\(removed.removed) keys)"
                + (removed.complete ? "" : "; some keys may remain, and expire by themselves"))
    }

    static func run(
        _ options: Options, keys: QueueKeys, url: RedisURL, connection: RedisConnection, logger: Logger, print: (String) -> Void
    ) throws -> [Row] {
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
            flags: ["queue": keys.queue, "consumer": "demo-worker", "block-ms": "200", "synthesizers": "2"],
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
        let export = AudioExport(keys: keys)
        var rows: [Row] = []
        let entries = try connection.command("XRANGE", .string(keys.results), "-", "+").array ?? []
        for entry in entries {
            guard let parts = entry.array, parts.count == 2 else { continue }
            var fields: [String: String] = [:]
            for (name, value) in parts[1].pairs ?? [] { fields[name] = value.string ?? "" }
            let jobID = fields["job_id"] ?? "?"
            var detail = fields["reason"] ?? fields["error"] ?? fields["limit"] ?? ""
            var seconds = ""
            // A result without content_type is version 1's: WAV.
            let format = fields["content_type"] == nil ? "wav" : fields["format"] ?? "wav"
            let contentType = fields["content_type"] ?? "audio/wav"
            if fields["status"] == "ok", let key = fields["audio_key"] {
                var audio: [UInt8]?
                switch try export.audio(at: ByteString(key), on: connection) {
                case .bytes(let bytes), .chunks(let bytes, _): audio = bytes
                default: audio = nil
                }
                if var audio {
                    let fileExtension =
                        (try? AudioFormat(parsing: format))?.fileExtension ?? AudioExport.codec(prefixOf: format)?.rawValue ?? "raw"
                    if fields["streamed"] == "1", fileExtension == "wav" { AudioExport.fixStreamedWAVSizes(&audio) }
                    let path = "\(options.outputDirectory)/" + AudioExport.fileName(jobID: ByteString(jobID), fileExtension: fileExtension)
                    try AudioExport.write(audio, to: path, overwrite: true)
                    detail = path
                    seconds = String(twoDecimals((Double(fields["duration_ms"] ?? "0") ?? 0) / 1000))
                }
            }
            rows.append(
                Row(
                    jobID: jobID, agent: fields["agent_id"] ?? "", status: fields["status"] ?? "",
                    format: fields["status"] == "ok" ? format : "", contentType: fields["status"] == "ok" ? contentType : "",
                    detail: detail, audioSeconds: seconds, milliseconds: fields["elapsed_ms"] ?? ""))
        }
        let dead = try connection.command("XLEN", .string(keys.dead)).integer ?? 0
        print("")
        print(table(rows))
        print("")
        print(
            "\(rows.count) results for \(samples.count) jobs (one job_id was enqueued twice), \(dead) dead letters; audio files in \(options.outputDirectory)/"
        )
        print("The worker survived the engine crash: synthesizer restarts = \(worker.statistics.synthesizerRestarts)")
        return rows
    }

    static func table(_ rows: [Row]) -> String {
        Table.render(
            header: ["job", "agent", "status", "format", "content type", "detail", "audio s", "ms"],
            rows: rows.map {
                [$0.jobID, $0.agent, $0.status, $0.format, $0.contentType, $0.detail, $0.audioSeconds, $0.milliseconds].map(
                    DisplayText.escaped)
            }, rightAligned: [6, 7])
    }

    static func twoDecimals(_ value: Double) -> String {
        let scaled = Int((value * 100).rounded())
        return "\(scaled / 100).\(String(scaled % 100).leftPadded(to: 2))"
    }
}
