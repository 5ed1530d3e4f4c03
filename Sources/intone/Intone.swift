import ArgumentParser
import IntoneCore
import IntoneTools
import Logging
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

@main
struct Intone: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "intone",
        abstract: "Speech worker for AI agents: Redis Streams in, espeak-ng WAV out.",
        subcommands: [
            Work.self, Enqueue.self, Status.self, Dead.self, Agent.self, Audio.self, Voices.self, Web.self, Demo.self, BenchCommand.self,
            SynthesizerChildCommand.self,
        ]
    )
}

/// `--redis`, `--redis-password-file`, `--queue` and `--shards`, shared by every command,
/// with the worker's environment variables and help (one table: `WorkerConfiguration.settings`).
struct QueueOptions: ParsableArguments {
    @Option(help: settingHelp("redis")) var redis: String?
    @Option(help: settingHelp("redis-password-file")) var redisPasswordFile: String?
    @Option(help: settingHelp("queue")) var queue: String?
    @Option(
        help: ArgumentHelp(
            "shards of the queue; the count the queue stores wins, and one given must agree with it (env INTONE_SHARDS; default the queue's, else 1).",
            valueName: "N")) var shards: String?

    var flags: [String: String] {
        var flags: [String: String] = [:]
        flags["redis"] = redis
        flags["redis-password-file"] = redisPasswordFile
        flags["queue"] = queue
        flags["shards"] = shards
        return flags
    }

    /// A shard count the operator gave (flag or variable); nil for none.
    func givenShards(_ configuration: WorkerConfiguration) -> Int? {
        shards != nil || !(Environment.value("INTONE_SHARDS") ?? "").isEmpty ? configuration.shards : nil
    }
}

/// A setting's help line from the table, with its variable and default.
func settingHelp(_ key: String) -> ArgumentHelp {
    guard let setting = WorkerConfiguration.settings.first(where: { $0.key == key }) else { return ArgumentHelp("") }
    return ArgumentHelp("\(setting.help) (env \(setting.environment); default \(setting.defaultText)).", valueName: setting.placeholder)
}

struct LogOptions: ParsableArguments {
    @Option(help: settingHelp("log-level")) var logLevel: String?
    @Option(help: settingHelp("log-format")) var logFormat: String?

    func bootstrap(defaultLevel: Logger.Level = .info) throws {
        var flags: [String: String] = [:]
        flags["log-level"] = logLevel ?? (Environment.value("INTONE_LOG_LEVEL") == nil ? defaultLevel.rawValue : nil)
        flags["log-format"] = logFormat
        let values = SettingValues(WorkerConfiguration.settings, flags: flags, environment: Environment.all)
        let level = values.text("log-level").lowercased()
        let format = values.text("log-format").lowercased()
        do {
            try Logs.bootstrap(level: level, format: format)
        } catch {
            throw fail("\(values.value(Logger.Level(rawValue: level) == nil ? "log-level" : "log-format").source): \(error)")
        }
    }
}

/// The process's log handler: text or JSON lines on standard error, at a level.
enum Logs {
    struct Unknown: Error, CustomStringConvertible { var description: String }

    static func bootstrap(level text: String, format: String) throws {
        guard let level = Logger.Level(rawValue: text) else {
            throw Unknown(description: "'\(text)' must be trace, debug, info, notice, warning, error or critical")
        }
        switch format {
        case "text":
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        case "json":
            LoggingSystem.bootstrap { label in
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        default:
            throw Unknown(description: "'\(format)' must be text or json")
        }
    }
}

enum Environment {
    static func value(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    static var all: [String: String] {
        var result: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            cursor += 1
        }
        return result
    }
}

/// Prints one clear line on standard error and exits non-zero.
func fail(_ message: String) -> ExitCode {
    LocalFiles.printError("intone: \(message)")
    return ExitCode(1)
}

struct Work: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one worker until SIGTERM, SIGINT or SIGHUP.",
        usage: "intone work [--setting value …]",
        discussion: """
            Every setting is a flag and an environment variable; a flag wins over the variable, which wins over the \
            default.

            \(Setting.helpText(WorkerConfiguration.settings))
            """)

    /// Every `--setting value` (the table in `WorkerConfiguration.settings` is their one
    /// source: help, defaults, variables and checks).
    @Argument(parsing: .allUnrecognized, help: .hidden) var settings: [String] = []

    func run() async throws {
        let configuration: WorkerConfiguration
        do {
            let flags = try SettingArguments.parse(settings, settings: WorkerConfiguration.settings)
            configuration = try WorkerConfiguration(flags: flags, environment: Environment.all)
            try Logs.bootstrap(level: configuration.logLevel, format: configuration.logFormat)
        } catch let error as ConfigurationError {
            throw fail(error.message)
        }
        let logger = Logger(label: "intone.worker")
        let registry = MetricsExport.bootstrapPrometheus()
        let worker = Worker(
            configuration: configuration,
            synthesizer: .init(
                // The children are this binary again; the override is for running the worker
                // under a profiler, where /proc/self/exe is the profiler.
                executable: Environment.value("INTONE_SYNTHESIZER_EXECUTABLE") ?? SynthesizerPool.currentExecutable(),
                size: configuration.synthesizers, timeoutMilliseconds: configuration.synthesisTimeoutMilliseconds),
            logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(
                service: WorkerService(worker: worker), successTerminationBehavior: .gracefullyShutdownGroup,
                failureTerminationBehavior: .gracefullyShutdownGroup)
        ]
        if configuration.metricsPort > 0 {
            let server = HealthServer(
                host: configuration.metricsHost, port: configuration.metricsPort, registry: registry, readiness: { worker.readiness },
                logger: logger)
            // The endpoints ending (a port in use) must not end the worker.
            services.append(.init(service: server, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        // SIGTERM, SIGINT and SIGHUP ask the worker to stop reading and finish what it holds.
        var lifecycleLogger = Logger(label: "intone.lifecycle")
        lifecycleLogger.logLevel = .critical
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint, .sighup], logger: lifecycleLogger))
        do {
            try await group.run()
        } catch let error as RedisError {
            throw fail(error.message)
        } catch {
            throw fail("\(error)")
        }
    }
}

struct Enqueue: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put one agent reply on the jobs stream and print its job id, or many from a JSONL file.",
        discussion: """
            A job is checked as the worker checks it before it is sent, the same way for one job and for each line of a \
            file: one the worker would refuse is refused here with the worker's error code and message.
            """)

    @OptionGroup var queueOptions: QueueOptions
    @Option(help: "A file of jobs, one JSON object a line with the contract's fields (- for standard input).") var file: String?
    @Option(help: "The agent that wrote the reply.") var agent: String?
    @Option(help: "The user the reply is for.") var user: String?
    @Option(help: "The user's message the reply answers (used by keyword triggers).") var prompt: String?
    @Option(help: "espeak-ng voice, overriding the agent's.") var voice: String?
    @Option(help: "Words per minute, 80 to 450.") var rate: String?
    @Option(help: "Pitch, 0 to 99.") var pitch: String?
    @Option(help: "Audio format (wav, ulaw_8000, opus, mp3_22050_32…), overriding the agent's.") var format: String?
    @Flag(help: "Stream the audio as chunks (field stream 1).") var stream = false
    @Option(help: "Idempotency key (default: the entry id).") var jobId: String?
    @Option(help: "Result stream for this job, a key of the same queue.") var replyTo: String?
    @Option(help: "Milliseconds from now after which the job is not rendered.") var expiresInMs: Int?
    @Argument(help: "The reply text.") var text: String?

    func validate() throws {
        if file == nil && (agent == nil || user == nil || text == nil) {
            throw ValidationError("give --agent, --user and the text, or --file")
        }
        if file != nil && (agent != nil || user != nil || text != nil) {
            throw ValidationError("--file takes every field from the file; do not give --agent, --user or a text with it")
        }
    }

    func run() throws {
        let configuration: WorkerConfiguration
        do {
            configuration = try WorkerConfiguration(flags: queueOptions.flags, environment: Environment.all)
        } catch {
            throw fail(error.message)
        }
        if let file {
            try enqueueFile(file, configuration: configuration)
            return
        }
        guard let agent, let user, let text else { return }
        var fields: [(String, String)] = [("agent_id", agent), ("user_id", user), ("text", text)]
        if let jobId { fields.insert(("job_id", jobId), at: 0) }
        if let prompt { fields.append(("prompt", prompt)) }
        if let voice { fields.append(("voice", voice)) }
        if let rate { fields.append(("rate", rate)) }
        if let pitch { fields.append(("pitch", pitch)) }
        if let format { fields.append(("format", format)) }
        if stream { fields.append(("stream", "1")) }
        if let replyTo { fields.append(("reply_to", replyTo)) }
        if let expiresInMs {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            fields.append(("expires_at", String(Int(now.tv_sec) * 1000 + Int(now.tv_nsec) / 1_000_000 + expiresInMs)))
        }
        // The voices are listed (a child process) only when a voice is asked for.
        let check = EnqueueCheck(
            keys: configuration.keys, maxTextBytes: configuration.maxTextBytes, catalog: voice == nil ? nil : try loadVoices())
        if let failure = check.problem(fields) { throw fail(EnqueueCheck.describe(failure)) }
        let (access, _) = try openQueue(queueOptions, record: true)
        // The job's shard: its job_id's, else any (jobs without ids are spread).
        let target = access.shards.keys(forJob: fields, index: Int.random(in: 0..<access.shards.count))
        if target != configuration.keys {
            // A reply_to must be a key of the job's own shard; checked again for it.
            let shardCheck = EnqueueCheck(keys: target, maxTextBytes: configuration.maxTextBytes, catalog: nil)
            if let failure = shardCheck.problem(fields) { throw fail(EnqueueCheck.describe(failure)) }
        }
        do {
            let id = try JobProducer(keys: target).enqueue(fields, on: try access.connection(for: target))
            print(DisplayText.escaped(jobId ?? id))
        } catch {
            throw fail(error.operatorMessage(key: target.jobs))
        }
        if access.shards.count > 1 || access.isCluster {
            LocalFiles.printError("enqueued on \(DisplayText.escaped(access.describe(target)))")
        }
    }
}

extension Enqueue {
    func enqueueFile(_ path: String, configuration: WorkerConfiguration) throws {
        let bytes: [UInt8]
        if path == "-" {
            var lines: [String] = []
            while let line = readLine(strippingNewline: false) { lines.append(line) }
            bytes = Array(lines.joined().utf8)
        } else {
            guard let read = LocalFiles.read(path) else {
                throw fail("cannot read \(DisplayText.escaped(path)): \(String(cString: strerror(errno)))")
            }
            bytes = read
        }
        let (access, _) = try openQueue(queueOptions, record: true)
        let parsed = BulkEnqueue(shards: access.shards, maxTextBytes: configuration.maxTextBytes, catalog: try loadVoices()).parse(bytes)
        for problem in parsed.problems {
            LocalFiles.printError("line \(problem.line): \(problem.message) (skipped)")
        }
        let showProgress = isatty(STDERR_FILENO) == 1
        var done = 0
        var perStream: [QueueKeys: Int] = [:]
        for start in stride(from: 0, to: parsed.jobs.count, by: 500) {
            let end = min(start + 500, parsed.jobs.count)
            // One pipeline per shard, each on its own slot's connection; a shard's jobs keep their order.
            for target in access.shards.served {
                let chunk = (start..<end).filter { parsed.targets[$0] == target }.map { parsed.jobs[$0] }
                guard !chunk.isEmpty else { continue }
                do { _ = try JobProducer(keys: target).enqueue(batch: chunk, on: try access.connection(for: target)) } catch {
                    throw fail("after \(done) jobs: \(error.operatorMessage(key: target.jobs))")
                }
                done += chunk.count
                perStream[target, default: 0] += chunk.count
            }
            if showProgress {
                let width = 30
                let filled = parsed.jobs.isEmpty ? width : done * width / parsed.jobs.count
                var bar =
                    "\r[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
                    + "] \(done)/\(parsed.jobs.count)"
                bar.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
            }
        }
        if showProgress { print("") }
        if access.shards.count == 1 && !access.isCluster {
            print("enqueued \(done) jobs on \(configuration.keys.jobs); skipped \(parsed.problems.count) bad lines")
        } else {
            print(
                "enqueued \(done) jobs on \(perStream.count) of \(access.shards.count) shards; skipped \(parsed.problems.count) bad lines")
            for target in access.shards.served where perStream[target] != nil {
                print("  \(perStream[target] ?? 0) on \(DisplayText.escaped(access.describe(target)))")
            }
        }
        if !parsed.problems.isEmpty { throw ExitCode(2) }
    }
}

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run sample agent replies through a worker and write their audio to ./intone-demo/.",
        discussion: """
            Without --redis or INTONE_REDIS_URL it starts a private redis-server on a Unix socket and removes it afterwards. \
            With a Redis of yours it uses a fresh queue, demo-<random>, and removes that queue's keys when done (unless \
            --keep); a queue given with --queue must have no keys at all: the demo never touches a queue it did not create.
            """)

    @Option(help: "Use this Redis instead of a private one (env INTONE_REDIS_URL).") var redis: String?
    @Option(help: "Queue name for the demo's jobs; it must not exist yet (default: a fresh demo-<random>).") var queue: String?
    @Option(help: "Where the audio files go.") var output = "intone-demo"
    @Flag(help: "Keep the demo's queue in Redis afterwards.") var keep = false
    @OptionGroup var logOptions: LogOptions

    func run() throws {
        try logOptions.bootstrap(defaultLevel: .warning)
        var url: RedisURL?
        if let text = redis ?? Environment.value("INTONE_REDIS_URL") {
            do { url = try RedisURL(parsing: text) } catch { throw fail("--redis: \(error.description)") }
        }
        do {
            _ = try IntoneTools.Demo.run(
                .init(
                    redisURL: url, queue: queue, outputDirectory: output, synthesizerExecutable: SynthesizerPool.currentExecutable(),
                    keep: keep),
                logger: Logger(label: "intone.demo"),
                print: { print($0) })
        } catch let error as RedisError {
            throw fail(error.operatorMessage())
        } catch {
            throw fail("\(error)")
        }
    }
}

struct SynthesizerChildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synthesizer-child",
        abstract: "Internal: one synthesizer process of a worker's pool (speaks a binary protocol on stdin/stdout).",
        shouldDisplay: false)

    @Option(help: "Opus encoder effort: \(OpusEffort.names).") var opusEffort: String = OpusEffort.fast.rawValue

    func run() throws {
        guard let effort = OpusEffort(rawValue: opusEffort) else {
            throw ValidationError("--opus-effort must be one of \(OpusEffort.names)")
        }
        let status = SynthesizerChild.run(opusEffort: effort)
        if status != 0 { throw ExitCode(status) }
    }
}
