import Metrics

/// The worker's metrics, through swift-metrics (the process chooses the backend;
/// `intone work` exports them for Prometheus). Labels are bounded: statuses and stages,
/// never job, agent or user ids.
struct WorkerMetrics: Sendable {
    static let statuses = ["ok", "text_only", "rate_limited", "expired", "failed"]

    let jobs: [String: Counter]
    let duplicates = Counter(label: "intone_duplicates_total")
    let gate = Timer(label: "intone_stage_duration_seconds", dimensions: [("stage", "gate")], preferredDisplayUnit: .seconds)
    let synthesis = Timer(label: "intone_stage_duration_seconds", dimensions: [("stage", "synthesis")], preferredDisplayUnit: .seconds)
    let encoding = Timer(label: "intone_stage_duration_seconds", dimensions: [("stage", "encoding")], preferredDisplayUnit: .seconds)
    let finish = Timer(label: "intone_stage_duration_seconds", dimensions: [("stage", "finish")], preferredDisplayUnit: .seconds)
    let batchSize = Recorder(label: "intone_batch_size")
    let redisRoundTrips = Counter(label: "intone_redis_round_trips_total")
    let takeovers = Counter(label: "intone_takeovers_total")
    let deadLetters = Counter(label: "intone_dead_letters_total")
    let synthesizerRestarts = Counter(label: "intone_synthesizer_restarts_total")
    let audioSeconds = FloatingPointCounter(label: "intone_audio_seconds_total")
    /// Sampled every few seconds: entries delivered and not yet acknowledged…
    let pending = Gauge(label: "intone_pending_entries")
    /// …and entries not yet delivered to any consumer.
    let lag = Gauge(label: "intone_lag_entries")
    let oldestPendingAge = Gauge(label: "intone_oldest_pending_age_seconds")

    init() {
        var jobs: [String: Counter] = [:]
        for status in Self.statuses { jobs[status] = Counter(label: "intone_jobs_total", dimensions: [("status", status)]) }
        self.jobs = jobs
    }

    /// Histogram buckets for the Prometheus backend: batch sizes and stage durations.
    public static let batchSizeBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]
    public static let durationBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
}
