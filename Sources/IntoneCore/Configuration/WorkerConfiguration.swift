#if canImport(Glibc)
    import Glibc
#endif

/// Every setting of `intone work`, with its flag, its environment variable and its
/// default, in one place. A flag wins over the environment, which wins over the default.
public struct WorkerConfiguration: Sendable {
    /// One setting as users see it.
    public struct Setting: Sendable {
        public var key: String
        public var flag: String { "--" + key }
        public var environment: String
        public var defaultValue: String
        public var help: String
    }

    /// The settings table, in the order the README lists it.
    public static let settings: [Setting] = [
        Setting(
            key: "redis", environment: "INTONE_REDIS_URL", defaultValue: "redis://127.0.0.1:6379",
            help: "Redis URL: redis://[user:password@]host:port[/db] or unix:///path"),
        Setting(key: "queue", environment: "INTONE_QUEUE", defaultValue: "tts", help: "queue name Q; keys are intone:{Q}:…"),
        Setting(
            key: "consumer", environment: "INTONE_CONSUMER", defaultValue: "",
            help: "consumer name in the group (default: host name and process id)"),
        Setting(
            key: "max-attempts", environment: "INTONE_MAX_ATTEMPTS", defaultValue: "5",
            help: "deliveries after which a job fails with too_many_attempts"),
        Setting(
            key: "claim-idle-ms", environment: "INTONE_CLAIM_IDLE_MS", defaultValue: "30000",
            help: "idle time after which another replica may take over a pending job"),
        Setting(key: "agent-rate", environment: "INTONE_AGENT_RATE", defaultValue: "20/s burst 40", help: "token bucket per agent"),
        Setting(key: "user-rate", environment: "INTONE_USER_RATE", defaultValue: "2/s burst 5", help: "token bucket per user"),
        Setting(
            key: "max-text-bytes", environment: "INTONE_MAX_TEXT_BYTES", defaultValue: "10000", help: "longest text accepted, in bytes"),
        Setting(
            key: "audio-ttl-s", environment: "INTONE_AUDIO_TTL_S", defaultValue: "3600",
            help: "seconds the audio (and a reply_to stream) is kept"),
        Setting(
            key: "default-tts", environment: "INTONE_DEFAULT_TTS", defaultValue: "on",
            help: "speech for agents without a tts setting: on or off"),
        Setting(key: "batch-size", environment: "INTONE_BATCH_SIZE", defaultValue: "256", help: "jobs read per XREADGROUP (1 to 1000)"),
        Setting(key: "block-ms", environment: "INTONE_BLOCK_MS", defaultValue: "2000", help: "how long one XREADGROUP waits for new jobs"),
        Setting(
            key: "synthesizers", environment: "INTONE_SYNTHESIZERS", defaultValue: "0", help: "synthesizer processes (0: one per core)"),
        Setting(
            key: "synthesis-timeout-ms", environment: "INTONE_SYNTHESIS_TIMEOUT_MS", defaultValue: "30000",
            help: "longest one job may render before it fails with synthesis_timeout"),
        Setting(
            key: "results-maxlen", environment: "INTONE_RESULTS_MAXLEN", defaultValue: "100000",
            help: "approximate bound of each result stream (MAXLEN ~)"),
        Setting(
            key: "dead-maxlen", environment: "INTONE_DEAD_MAXLEN", defaultValue: "100000",
            help: "approximate bound of the dead-letter stream (MAXLEN ~)"),
        Setting(
            key: "dedup-ttl-s", environment: "INTONE_DEDUP_TTL_S", defaultValue: "86400",
            help: "seconds a job_id is remembered, so a second job with it gets no second result"),
        Setting(
            key: "shutdown-grace-s", environment: "INTONE_SHUTDOWN_GRACE_S", defaultValue: "25",
            help: "on SIGTERM, how long to finish the jobs in hand before leaving them to other replicas"),
        Setting(
            key: "consumer-idle-s", environment: "INTONE_CONSUMER_IDLE_S", defaultValue: "3600",
            help: "consumers of the group idle this long with nothing pending are removed"),
        Setting(
            key: "metrics-port", environment: "INTONE_METRICS_PORT", defaultValue: "9464",
            help: "port of /metrics, /healthz and /readyz (0 turns them off)"),
        Setting(
            key: "settings-refresh-ms", environment: "INTONE_SETTINGS_REFRESH_MS", defaultValue: "2000",
            help: "how often agent settings are read again"),
    ]

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
    public var metricsPort: Int

    public var queue: String { keys.queue }

    /// Resolves every setting from the flags given (by key, without dashes) and the
    /// environment, and checks each; the error names the flag and what it accepts.
    public init(flags: [String: String] = [:], environment: [String: String]) throws(ConfigurationError) {
        func value(_ key: String) -> String {
            let setting = Self.settings.first { $0.key == key }!
            return flags[key] ?? environment[setting.environment] ?? setting.defaultValue
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
            let text = value(key)
            guard let number = Int(text.trimmed), range.contains(number) else {
                let upper = range.upperBound == Int.max ? "" : " to \(range.upperBound)"
                throw ConfigurationError("--\(key) '\(text)' must be a whole number from \(range.lowerBound)\(upper)")
            }
            return number
        }
        func rate(_ key: String) throws(ConfigurationError) -> RateLimit {
            do { return try RateLimit(parsing: value(key)) } catch { throw ConfigurationError("--\(key): \(error.message)") }
        }
        do {
            redisURL = try RedisURL(parsing: value("redis"))
        } catch {
            throw ConfigurationError("--redis: \(error.description)")
        }
        keys = try QueueKeys(queue: value("queue"))
        let consumer = value("consumer").trimmed
        self.consumer = consumer.isEmpty ? Self.defaultConsumer() : consumer
        maxAttempts = try integer("max-attempts", 1...1000)
        claimIdleMilliseconds = try integer("claim-idle-ms", 100...Int.max)
        agentRate = try rate("agent-rate")
        userRate = try rate("user-rate")
        maxTextBytes = try integer("max-text-bytes", 1...1_000_000)
        audioTTLSeconds = try integer("audio-ttl-s", 1...Int.max)
        switch value("default-tts").lowercased() {
        case "on": defaultTTS = .on
        case "off": defaultTTS = .off
        case let other: throw ConfigurationError("--default-tts '\(other)' must be on or off")
        }
        batchSize = try integer("batch-size", 1...1000)
        blockMilliseconds = try integer("block-ms", 1...60000)
        let synthesizers = try integer("synthesizers", 0...256)
        self.synthesizers = synthesizers == 0 ? Self.coreCount() : synthesizers
        synthesisTimeoutMilliseconds = try integer("synthesis-timeout-ms", 1...3_600_000)
        resultsMaxLength = try integer("results-maxlen", 1...Int.max)
        deadMaxLength = try integer("dead-maxlen", 1...Int.max)
        dedupTTLSeconds = try integer("dedup-ttl-s", 1...Int.max)
        settingsRefreshMilliseconds = try integer("settings-refresh-ms", 0...3_600_000)
        shutdownGraceSeconds = try integer("shutdown-grace-s", 0...3600)
        consumerIdleSeconds = try integer("consumer-idle-s", 1...Int.max)
        metricsPort = try integer("metrics-port", 0...65535)
        guard consumer.utf8.count <= 200 else { throw ConfigurationError("--consumer is longer than 200 bytes") }
    }

    /// The effective settings for the start-up line, password hidden.
    public var summary: [(String, String)] {
        [
            ("redis", redisURL.description), ("queue", queue), ("consumer", consumer),
            ("max_attempts", "\(maxAttempts)"), ("claim_idle_ms", "\(claimIdleMilliseconds)"),
            ("agent_rate", agentRate.description), ("user_rate", userRate.description),
            ("max_text_bytes", "\(maxTextBytes)"), ("audio_ttl_s", "\(audioTTLSeconds)"),
            ("default_tts", defaultTTS.rawValue), ("batch_size", "\(batchSize)"), ("block_ms", "\(blockMilliseconds)"),
            ("synthesizers", "\(synthesizers)"), ("synthesis_timeout_ms", "\(synthesisTimeoutMilliseconds)"),
            ("results_maxlen", "\(resultsMaxLength)"), ("dead_maxlen", "\(deadMaxLength)"),
            ("dedup_ttl_s", "\(dedupTTLSeconds)"), ("settings_refresh_ms", "\(settingsRefreshMilliseconds)"),
            ("shutdown_grace_s", "\(shutdownGraceSeconds)"), ("consumer_idle_s", "\(consumerIdleSeconds)"),
            ("metrics_port", "\(metricsPort)"),
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
