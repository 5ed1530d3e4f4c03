import Metrics

/// The worker's metrics, through swift-metrics (the process chooses the backend;
/// `intone work` exports them for Prometheus, with the help texts of `WorkerMetrics.help`).
/// Labels are bounded: statuses, error codes, stages, formats; never job, agent or user ids.
struct WorkerMetrics: Sendable {
    let jobs: [JobStatus: Counter]
    let failures: [JobErrorCode: Counter]
    let duplicates = Counter(label: "intone_duplicates_total")
    let decide = Timer(label: "intone_stage_duration_seconds", dimensions: [("stage", "decide")], preferredDisplayUnit: .seconds)
    let synthesis = Timer(label: "intone_stage_duration_seconds", dimensions: [("stage", "synthesis")], preferredDisplayUnit: .seconds)
    let encoding = Timer(label: "intone_stage_duration_seconds", dimensions: [("stage", "encoding")], preferredDisplayUnit: .seconds)
    /// A write-back's two round trips, check sent to commit answered; never a blocking read.
    let finish = Timer(label: "intone_stage_duration_seconds", dimensions: [("stage", "write_back")], preferredDisplayUnit: .seconds)
    /// From the job's entry id to its first audio in Redis: the first chunk of a streamed
    /// reply, the whole file of another.
    let firstAudio: [Bool: Timer]
    let batchSize = Recorder(label: "intone_batch_size")
    let redisRoundTrips = Counter(label: "intone_redis_round_trips_total")
    let takeovers = Counter(label: "intone_takeovers_total")
    let waitTimeouts = Counter(label: "intone_wait_replicas_timeouts_total")
    let deadLetters = Counter(label: "intone_dead_letters_total")
    let synthesizerRestarts = Counter(label: "intone_synthesizer_restarts_total")
    let audioSeconds = FloatingPointCounter(label: "intone_audio_seconds_total")

    /// Bytes of audio written, by format (a bounded set of names: the contract's).
    func audioBytes(format: String) -> Counter {
        Counter(label: "intone_audio_bytes_total", dimensions: [("format", format)])
    }
    /// Sampled every few seconds: entries delivered and not yet acknowledged…
    let pending = Gauge(label: "intone_pending_entries")
    /// …and entries not yet delivered to any consumer.
    let lag = Gauge(label: "intone_lag_entries")
    let oldestPendingAge = Gauge(label: "intone_oldest_pending_age_seconds")

    init() {
        var jobs: [JobStatus: Counter] = [:]
        for status in JobStatus.allCases { jobs[status] = Counter(label: "intone_jobs_total", dimensions: [("status", status.rawValue)]) }
        self.jobs = jobs
        var failures: [JobErrorCode: Counter] = [:]
        for code in JobErrorCode.allCases {
            failures[code] = Counter(label: "intone_failures_total", dimensions: [("error", code.rawValue)])
        }
        self.failures = failures
        firstAudio = [
            true: Timer(label: "intone_time_to_first_audio_seconds", dimensions: [("streamed", "1")], preferredDisplayUnit: .seconds),
            false: Timer(label: "intone_time_to_first_audio_seconds", dimensions: [("streamed", "0")], preferredDisplayUnit: .seconds),
        ]
    }

    /// `# HELP` text of every metric, by name.
    public static let help: [String: String] = [
        "intone_jobs_total": "Results written, by status.",
        "intone_failures_total": "Jobs failed or refused (with a dead letter), by error code.",
        "intone_duplicates_total": "Entries acknowledged without a result because their job_id already had one.",
        "intone_stage_duration_seconds":
            "Time spent per stage: decide (validation, settings, buckets) per batch, synthesis and encoding per job, write_back per write-back.",
        "intone_time_to_first_audio_seconds": "From the job's entry id to its first audio in Redis (first chunk when streamed).",
        "intone_batch_size": "Entries per batch read.",
        "intone_redis_round_trips_total": "Pipelines sent to Redis.",
        "intone_takeovers_total": "Jobs taken over from consumers idle past the claim time.",
        "intone_wait_replicas_timeouts_total": "Write-backs that fewer replicas than --wait-replicas confirmed in time.",
        "intone_dead_letters_total": "Dead letters written.",
        "intone_synthesizer_restarts_total": "Synthesizer processes started to replace one that died or was killed.",
        "intone_audio_seconds_total": "Seconds of audio rendered and written.",
        "intone_audio_bytes_total": "Bytes of audio written to Redis, by format.",
        "intone_pending_entries": "Entries delivered to consumers and not yet acknowledged.",
        "intone_lag_entries": "Entries not yet delivered to any consumer.",
        "intone_oldest_pending_age_seconds": "Age of the oldest pending entry.",
    ]

    /// Histogram buckets for the Prometheus backend: batch sizes and durations.
    public static let batchSizeBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]
    public static let durationBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
}
