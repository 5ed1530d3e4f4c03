import IntoneCore

/// A throughput run of one workload: N jobs filled before the workers start, measured
/// from the first job taken off the stream to the last result written, both on Redis's
/// clock.
public struct ThroughputResult: Sendable {
    public var workload: Bench.Workload
    public var jobs: Int
    public var workers: Int
    /// Redis's TIME when the group's `entries-read` first moved (polled every ms) to the
    /// last result's entry id.
    public var spanMilliseconds: Int64
    /// The first result's entry id to the last one's: an extra, which flatters a worker
    /// that holds results back until its batch is done.
    public var firstToLastMilliseconds: Int64
    public var firstResultAfterMilliseconds: Int64
    /// Redis's own CPU time (INFO cpu, user + sys) between the first job taken and the
    /// last result, per job (the bench's polling, every 10 ms, is in it).
    public var redisCPUMicrosecondsPerJob: Double
    public var commands: CommandProfile
    /// The workers' and their synthesizers' CPU time over the same span, per job.
    public var workerCPUMicrosecondsPerJob: Double
    public var roundTripsPerBatch: Double
    public var jobsPerBatch: Double
    public var rssStartKilobytes: Int
    public var rssEndKilobytes: Int
    public var statuses: [String: Int]
    public var ceiling: CeilingShare?
    public var halfLoad: LatencyResult?
    public var halfLoadStreamed: LatencyResult?
    /// The audio format of every reply (`on` per format), nil for the workload's default.
    public var format: String? = nil

    /// The workload's name in tables: `on`, or `on opus_24000_32`.
    public var name: String { workload.rawValue + (format.map { " \($0)" } ?? "") }

    public var jobsPerSecond: Double { Double(jobs) * 1000 / Double(max(spanMilliseconds, 1)) }
    public var firstToLastJobsPerSecond: Double { Double(max(jobs - 1, 0)) * 1000 / Double(max(firstToLastMilliseconds, 1)) }

    public var json: BenchJSON {
        var fields: [(String, BenchJSON)] = [
            ("bench", .string("intone")), ("system", .string("intone")), ("workload", .string(workload.rawValue)),
            ("jobs", .integer(jobs)), ("procs", .integer(workers)),
            ("jobs_per_s", .rounded(jobsPerSecond, 1)), ("span_ms", .integer(Int(spanMilliseconds))),
            ("first_to_last_jobs_per_s", .rounded(firstToLastJobsPerSecond, 1)),
            ("first_result_after_ms", .integer(Int(firstResultAfterMilliseconds))),
            ("redis_cpu_us_per_job", .rounded(redisCPUMicrosecondsPerJob)),
            ("redis_commandstats_us_per_job", .rounded(commands.microsecondsPerJob)),
            ("redis_commandstats_us_per_job_once", .rounded(commands.microsecondsPerJobOnce)),
            ("redis_calls_per_job", .rounded(commands.callsPerJob)), ("redis_commands", commands.json),
            ("worker_cpu_us_per_job", .rounded(workerCPUMicrosecondsPerJob, 1)),
            ("round_trips_per_batch", .rounded(roundTripsPerBatch)), ("jobs_per_batch", .rounded(jobsPerBatch, 1)),
            ("rss_kb_start", .integer(rssStartKilobytes)), ("rss_kb_end", .integer(rssEndKilobytes)),
            ("rss_kb_peak", .integer(max(rssStartKilobytes, rssEndKilobytes))),
            ("statuses", .object(statuses.sorted { $0.key < $1.key }.map { ($0.key, .integer($0.value)) })),
        ]
        if let format { fields.append(("format", .string(format))) }
        if let ceiling { fields.append(("ceiling", ceiling.json(jobsPerSecond: jobsPerSecond))) }
        if let halfLoad { fields.append(("half_load", halfLoad.json)) }
        if let halfLoadStreamed { fields.append(("half_load_streamed", halfLoadStreamed.json)) }
        return .object(fields)
    }
}

/// The espeak-ng ceiling measured just before and just after an `on` run.
public struct CeilingShare: Sendable {
    public var before: EspeakCeiling.Measure
    public var after: EspeakCeiling.Measure
    public var mean: Double { (before.jobsPerSecond + after.jobsPerSecond) / 2 }

    public func share(_ jobsPerSecond: Double) -> Double { mean > 0 ? jobsPerSecond / mean : 0 }

    func json(jobsPerSecond: Double) -> BenchJSON {
        .object([
            ("before", before.json), ("after", after.json), ("mean_jobs_per_s", .rounded(mean)),
            ("share", .rounded(share(jobsPerSecond), 4)),
        ])
    }
}

/// Jobs enqueued at a steady rate (half the measured maximum) for about five seconds.
public struct LatencyResult: Sendable {
    public var jobsPerSecond: Double
    public var jobs: Int
    public var streamed: Bool
    /// `elapsed_ms` of the results: entry id to result, on Redis's clock.
    public var elapsed: Distribution
    /// `first_chunk_ms` of streamed results.
    public var firstChunk: Distribution

    public var json: BenchJSON {
        var fields: [(String, BenchJSON)] = [
            ("jobs_per_s", .rounded(jobsPerSecond, 1)), ("jobs", .integer(jobs)), ("streamed", .bool(streamed)),
            ("elapsed_ms", elapsed.json),
        ]
        if streamed { fields.append(("first_chunk_ms", firstChunk.json)) }
        return .object(fields)
    }
}

/// Long replies enqueued all at once on one worker.
public struct BurstResult: Sendable {
    public var jobs: Int
    public var streamed: Bool
    public var synthesizers: Int
    public var textCharacters: Int
    public var audio: Distribution
    public var elapsed: Distribution
    public var firstChunk: Distribution
    /// The first job's entry id to the last result's.
    public var spanMilliseconds: Int64
    public var statuses: [String: Int]

    /// Median over max of `elapsed_ms`: about 0.5 when replies are answered as rendered
    /// in the order they came, about 1 when they wait for the whole burst.
    public var medianOverMax: Double? {
        guard let median = elapsed.median, let max = elapsed.max, max > 0 else { return nil }
        return median / max
    }

    public var json: BenchJSON {
        var fields: [(String, BenchJSON)] = [
            ("bench", .string("intone")), ("system", .string("intone")), ("workload", .string(streamed ? "burst_streamed" : "burst")),
            ("jobs", .integer(jobs)), ("procs", .integer(1)), ("synthesizers", .integer(synthesizers)),
            ("streamed", .bool(streamed)), ("text_chars", .integer(textCharacters)),
            ("audio_s_mean", .rounded((audio.mean ?? 0) / 1000)), ("span_ms", .integer(Int(spanMilliseconds))),
            ("elapsed_ms", elapsed.json), ("median_over_max", .rounded(medianOverMax, 3)),
        ]
        if streamed { fields.append(("first_chunk_ms", firstChunk.json)) }
        fields.append(("statuses", .object(statuses.sorted { $0.key < $1.key }.map { ($0.key, .integer($0.value)) })))
        return .object(fields)
    }
}

/// Replies in one audio format: what they cost in Redis's memory.
public struct FormatResult: Sendable {
    public var format: String
    public var streamed: Bool
    public var jobs: Int
    public var statuses: [String: Int]
    /// `format` and `content_type` as the results name them, with their counts.
    public var formatsReported: [String: Int]
    public var contentTypes: [String: Int]
    /// The results' `bytes`.
    public var bytes: Distribution
    public var durationMilliseconds: Distribution
    /// `used_memory` after the replies minus before, per reply: the audio, the result
    /// entry, the done marker, all a reply leaves.
    public var memoryBytesPerReply: Double
    /// `MEMORY USAGE` of the audio keys alone (a string, or a stream when streamed).
    public var audioKeyBytes: Distribution

    public var json: BenchJSON {
        func counts(_ values: [String: Int]) -> BenchJSON {
            .object(values.sorted { $0.key < $1.key }.map { ($0.key, .integer($0.value)) })
        }
        return .object([
            ("bench", .string("intone")), ("system", .string("intone")), ("workload", .string("format")),
            ("format", .string(format)), ("streamed", .bool(streamed)), ("jobs", .integer(jobs)),
            ("content_type", .string(contentTypes.max { $0.value < $1.value }?.key ?? "")),
            ("content_types", counts(contentTypes)), ("formats_reported", counts(formatsReported)),
            ("bytes_mean", .rounded(bytes.mean, 0)), ("duration_ms_mean", .rounded(durationMilliseconds.mean, 0)),
            ("redis_memory_bytes_per_reply", .rounded(memoryBytesPerReply, 0)),
            ("audio_key_memory_bytes_mean", .rounded(audioKeyBytes.mean, 0)), ("statuses", counts(statuses)),
        ])
    }
}
