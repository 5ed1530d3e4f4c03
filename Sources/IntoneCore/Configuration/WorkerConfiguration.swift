#if canImport(Glibc)
    import Glibc
#endif

/// Every setting of `intone work`, each with its flag, its environment variable, its
/// default and its help, in one table (`settings`). A flag wins over the environment,
/// which wins over the default; values are checked at start, and an error names the flag
/// or the variable that was given.
public struct WorkerConfiguration: Sendable {
    /// The settings table, in the order `--help` and the README list it.
    public static let settings: [Setting] = [
        Setting(
            "redis", "INTONE_REDIS_URL", default: "redis://127.0.0.1:6379", "URL",
            "Redis: redis://[user:password@]host:port[/db] or unix:///path[?db=N]; prefer the variable or a password file, flags show in ps"
        ),
        Setting(
            "redis-password-file", "INTONE_REDIS_PASSWORD_FILE", default: "", "PATH",
            "file holding the Redis password (a mounted Kubernetes secret); read again at every reconnect, so it can be rotated"),
        Setting("queue", "INTONE_QUEUE", default: "tts", "Q", "queue name; keys are intone:{Q}:…"),
        Setting("consumer", "INTONE_CONSUMER", default: "", "NAME", "consumer name in the group", shownDefault: "host name and pid"),
        Setting("max-attempts", "INTONE_MAX_ATTEMPTS", default: "5", "N", "deliveries after which a job fails with too_many_attempts"),
        Setting(
            "claim-idle-ms", "INTONE_CLAIM_IDLE_MS", default: "30000", "N", "idle time after which another replica may take a job over"),
        Setting("agent-rate", "INTONE_AGENT_RATE", default: "20/s burst 40", "\"R/s burst B\"", "token bucket per agent"),
        Setting("user-rate", "INTONE_USER_RATE", default: "2/s burst 5", "\"R/s burst B\"", "token bucket per user"),
        Setting("max-text-bytes", "INTONE_MAX_TEXT_BYTES", default: "10000", "N", "longest text accepted, in bytes"),
        Setting(
            "audio-ttl-s", "INTONE_AUDIO_TTL_S", default: "3600", "N", "seconds audio (and a reply_to stream the worker creates) is kept"),
        Setting("default-tts", "INTONE_DEFAULT_TTS", default: "on", "on|off", "speech for agents without a tts setting"),
        Setting("format", "INTONE_FORMAT", default: "wav", "F", "audio format when neither the job nor its agent names one"),
        Setting(
            "opus-effort", "INTONE_OPUS_EFFORT", default: "fast", "E",
            "CPU the Opus encoder spends: fast (about as much as the render), balanced (7x) or best (14x), better under 24 kbit/s"),
        Setting("shards", "INTONE_SHARDS", default: "1", "N", "shards of the queue (the same on every worker and producer)"),
        Setting("wait-replicas", "INTONE_WAIT_REPLICAS", default: "0", "N", "replicas to WAIT for after each write-back (0: none)"),
        Setting("batch-size", "INTONE_BATCH_SIZE", default: "256", "N", "jobs per read (1 to 1000)"),
        Setting("block-ms", "INTONE_BLOCK_MS", default: "2000", "N", "longest wait of one read of new jobs"),
        Setting(
            "synthesizers", "INTONE_SYNTHESIZERS", default: "0", "N", "synthesizer processes (0: one per core)",
            shownDefault: "0 (one per core)"),
        Setting(
            "synthesis-timeout-ms", "INTONE_SYNTHESIS_TIMEOUT_MS", default: "30000", "N",
            "longest render of one job before it fails with synthesis_timeout"),
        Setting("results-maxlen", "INTONE_RESULTS_MAXLEN", default: "100000", "N", "approximate bound of each result stream (MAXLEN ~)"),
        Setting("dead-maxlen", "INTONE_DEAD_MAXLEN", default: "100000", "N", "approximate bound of the dead-letter stream (MAXLEN ~)"),
        Setting("dedup-ttl-s", "INTONE_DEDUP_TTL_S", default: "86400", "N", "seconds a job_id is remembered (no second result)"),
        Setting("settings-refresh-ms", "INTONE_SETTINGS_REFRESH_MS", default: "2000", "N", "how often agent settings are read again"),
        Setting(
            "shutdown-grace-s", "INTONE_SHUTDOWN_GRACE_S", default: "25", "N",
            "on SIGTERM, SIGINT or SIGHUP, time to finish the jobs in hand before leaving them to other replicas"),
        Setting(
            "consumer-idle-s", "INTONE_CONSUMER_IDLE_S", default: "3600", "N",
            "consumers of the group idle this long with nothing pending are removed"),
        Setting(
            "metrics-host", "INTONE_METRICS_HOST", default: "0.0.0.0", "HOST",
            "address of /metrics, /healthz and /readyz (0.0.0.0 lets Prometheus reach it in a container; 127.0.0.1 keeps it local)"),
        Setting("metrics-port", "INTONE_METRICS_PORT", default: "9464", "N", "port of /metrics, /healthz and /readyz (0 turns them off)"),
        Setting("log-level", "INTONE_LOG_LEVEL", default: "info", "L", "trace, debug, info, notice, warning, error or critical"),
        Setting("log-format", "INTONE_LOG_FORMAT", default: "text", "F", "text, or json (one object a line)"),
    ]

    /// The longest TTL accepted (ten years): past it, Redis's millisecond expiry times
    /// overflow and `SET … EX` is refused inside the write-back.
    public static let longestTTLSeconds = 315_360_000

    public var redisURL: RedisURL
    public var keys: QueueKeys
    public var consumer: String
    public var maxAttempts: Int
    public var claimIdleMilliseconds: Int
    public var agentRate: RateLimit
    public var userRate: RateLimit
    public var maxTextBytes: Int
    public var audioTTLSeconds: Int
    public var defaultTTS: AgentSettings.Speech
    public var format: AudioFormat
    public var opusEffort: OpusEffort
    public var shards: Int
    public var waitReplicas: Int
    public var batchSize: Int
    public var blockMilliseconds: Int
    public var synthesizers: Int
    public var synthesisTimeoutMilliseconds: Int
    public var resultsMaxLength: Int
    public var deadMaxLength: Int
    public var dedupTTLSeconds: Int
    public var settingsRefreshMilliseconds: Int
    public var shutdownGraceSeconds: Int
    public var consumerIdleSeconds: Int
    public var metricsHost: String
    public var metricsPort: Int
    public var logLevel: String
    public var logFormat: String

    public var queue: String { keys.queue }

    /// Resolves every setting from the flags given (by key, without dashes) and the
    /// environment, and checks each.
    public init(flags: [String: String] = [:], environment: [String: String]) throws(ConfigurationError) {
        let values = SettingValues(Self.settings, flags: flags, environment: environment)
        if let unknown = values.unknownFlags.first { throw ConfigurationError("unknown setting --\(unknown)") }
        redisURL = try Self.redisURL(values)
        keys = try values.parsed("queue") { text throws(ConfigurationError) in try QueueKeys(queue: text) }
        let consumer = values.text("consumer").trimmed
        self.consumer = consumer.isEmpty ? Self.defaultConsumer() : consumer
        guard self.consumer.utf8.count <= 200, !self.consumer.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw ConfigurationError("\(values.value("consumer").source) must be at most 200 bytes on one line")
        }
        maxAttempts = try values.integer("max-attempts", 1...1000)
        claimIdleMilliseconds = try values.integer("claim-idle-ms", 100...86_400_000)
        agentRate = try values.parsed("agent-rate") { text throws(ConfigurationError) in try RateLimit(parsing: text) }
        userRate = try values.parsed("user-rate") { text throws(ConfigurationError) in try RateLimit(parsing: text) }
        maxTextBytes = try values.integer("max-text-bytes", 1...1_000_000)
        audioTTLSeconds = try values.integer("audio-ttl-s", 1...Self.longestTTLSeconds)
        defaultTTS = try values.parsed("default-tts") { text throws(ConfigurationError) in
            switch text.lowercased().trimmed {
            case "on": return .on
            case "off": return .off
            default: throw ConfigurationError("'\(DisplayText.escaped(text))' must be on or off")
            }
        }
        format = try values.parsed("format") { text throws(ConfigurationError) in
            do throws(AudioFormatError) { return try AudioFormat(parsing: text.trimmed) } catch { throw ConfigurationError(error.message) }
        }
        opusEffort = try values.parsed("opus-effort") { text throws(ConfigurationError) in
            guard let effort = OpusEffort(rawValue: text.lowercased().trimmed) else {
                throw ConfigurationError("'\(DisplayText.escaped(text))' must be one of \(OpusEffort.names)")
            }
            return effort
        }
        shards = try values.integer("shards", 1...1024)
        waitReplicas = try values.integer("wait-replicas", 0...16)
        batchSize = try values.integer("batch-size", 1...1000)
        blockMilliseconds = try values.integer("block-ms", 1...60000)
        let synthesizers = try values.integer("synthesizers", 0...256)
        self.synthesizers = synthesizers == 0 ? Self.coreCount() : synthesizers
        synthesisTimeoutMilliseconds = try values.integer("synthesis-timeout-ms", 1...3_600_000)
        resultsMaxLength = try values.integer("results-maxlen", 1...1_000_000_000)
        deadMaxLength = try values.integer("dead-maxlen", 1...1_000_000_000)
        dedupTTLSeconds = try values.integer("dedup-ttl-s", 1...Self.longestTTLSeconds)
        settingsRefreshMilliseconds = try values.integer("settings-refresh-ms", 0...3_600_000)
        shutdownGraceSeconds = try values.integer("shutdown-grace-s", 0...3600)
        consumerIdleSeconds = try values.integer("consumer-idle-s", 1...Self.longestTTLSeconds)
        metricsHost = values.text("metrics-host").trimmed
        guard !metricsHost.isEmpty, metricsHost.allSatisfy({ $0.isLetter || $0.isNumber || ".:-[]".contains($0) }) else {
            throw ConfigurationError("\(values.value("metrics-host").source) must be a host name or address")
        }
        metricsPort = try values.integer("metrics-port", 0...65535)
        logLevel = try values.parsed("log-level") { text throws(ConfigurationError) in
            let level = text.lowercased().trimmed
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level) else {
                throw ConfigurationError("'\(DisplayText.escaped(text))' must be trace, debug, info, notice, warning, error or critical")
            }
            return level
        }
        logFormat = try values.parsed("log-format") { text throws(ConfigurationError) in
            let format = text.lowercased().trimmed
            guard format == "text" || format == "json" else {
                throw ConfigurationError("'\(DisplayText.escaped(text))' must be text or json")
            }
            return format
        }
    }

    /// The Redis URL, with the password from the password file when one is named. The URL
    /// itself never reaches an error message (it may hold a password).
    static func redisURL(_ values: SettingValues) throws(ConfigurationError) -> RedisURL {
        var url = try values.parsed("redis") { text throws(ConfigurationError) in
            do throws(RedisURLError) { return try RedisURL(parsing: text) } catch { throw ConfigurationError(error.description) }
        }
        let file = values.text("redis-password-file").trimmed
        if !file.isEmpty {
            url.passwordFile = file
            _ = try values.parsed("redis-password-file") { _ throws(ConfigurationError) in
                guard url.currentPassword() != nil else { throw ConfigurationError("cannot read the password file \(file)") }
            }
        }
        return url
    }

    /// The effective settings for the start-up line, password hidden.
    public var summary: [(String, String)] {
        [
            ("redis", redisURL.description), ("queue", queue), ("consumer", consumer),
            ("max_attempts", "\(maxAttempts)"), ("claim_idle_ms", "\(claimIdleMilliseconds)"),
            ("agent_rate", agentRate.description), ("user_rate", userRate.description),
            ("max_text_bytes", "\(maxTextBytes)"), ("audio_ttl_s", "\(audioTTLSeconds)"),
            ("default_tts", defaultTTS.rawValue), ("format", format.name), ("opus_effort", opusEffort.rawValue), ("shards", "\(shards)"),
            ("wait_replicas", "\(waitReplicas)"),
            ("batch_size", "\(batchSize)"), ("block_ms", "\(blockMilliseconds)"),
            ("synthesizers", "\(synthesizers)"), ("synthesis_timeout_ms", "\(synthesisTimeoutMilliseconds)"),
            ("results_maxlen", "\(resultsMaxLength)"), ("dead_maxlen", "\(deadMaxLength)"),
            ("dedup_ttl_s", "\(dedupTTLSeconds)"), ("settings_refresh_ms", "\(settingsRefreshMilliseconds)"),
            ("shutdown_grace_s", "\(shutdownGraceSeconds)"), ("consumer_idle_s", "\(consumerIdleSeconds)"),
            ("metrics", metricsPort == 0 ? "off" : "\(metricsHost):\(metricsPort)"),
        ]
    }

    static func defaultConsumer() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count - 1)
        let host = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(host.isEmpty ? "intone" : host)-\(getpid())"
    }

    static func coreCount() -> Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}
