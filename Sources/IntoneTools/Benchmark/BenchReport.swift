import IntoneCore

#if canImport(Glibc)
    import Glibc
#endif

/// What `intone bench` prints: tables for people, and one JSON object per workload or
/// format for `bench/charts/draw.py` (each with the time, the machine's load and a label).
public enum BenchReport {
    /// `object`'s fields followed by the time (UTC), the machine (cores, load average)
    /// and `label`, as one line of JSON.
    public static func line(_ object: BenchJSON, label: String) -> String {
        guard case .object(let fields) = object else { return object.text }
        return BenchJSON.object(fields + [("time", .string(utcNow())), ("host", host()), ("label", .string(label))]).text
    }

    static func host() -> BenchJSON {
        let load = (LocalFiles.read("/proc/loadavg").map { String(decoding: $0, as: UTF8.self) } ?? "").split(separator: " ").prefix(3)
        return .object([("cores", .integer(Bench.cores)), ("load_avg", .array(load.map { .rounded(Double($0), 2) }))])
    }

    static func utcNow() -> String {
        var seconds = time(nil)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return
            "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    static func number(_ value: Double?, _ digits: Int = 1) -> String {
        guard let value, value.isFinite else { return "-" }
        if digits == 0 { return String(Int(value.rounded())) }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        return String((value * scale).rounded() / scale)
    }

    public static func throughputTable(_ rows: [ThroughputResult]) -> String {
        Table.render(
            header: [
                "workload", "jobs", "jobs/s", "Redis CPU µs/job", "Redis cmd µs/job", "Redis calls/job", "round trips/batch", "jobs/batch",
                "worker CPU µs/job", "RSS start KiB", "RSS end KiB", "of ceiling",
            ],
            rows: rows.map { row in
                [
                    row.name, "\(row.jobs)", number(row.jobsPerSecond, 0), number(row.redisCPUMicrosecondsPerJob, 2),
                    number(row.commands.microsecondsPerJobOnce, 2), number(row.commands.callsPerJob, 2), number(row.roundTripsPerBatch, 2),
                    number(row.jobsPerBatch), number(row.workerCPUMicrosecondsPerJob, 1), "\(row.rssStartKilobytes)",
                    "\(row.rssEndKilobytes)", row.ceiling.map { number(100 * $0.share(row.jobsPerSecond), 1) + "%" } ?? "-",
                ]
            }, rightAligned: Set(1...11))
    }

    /// The lines under the throughput table: the extras, each labelled.
    public static func throughputNotes(_ rows: [ThroughputResult]) -> String {
        var lines = [
            "jobs/s: N over the first job taken (Redis TIME, polled every ms) to the last result's entry id.",
            "Redis cmd µs/job: INFO commandstats, each command once (EXEC and scripts by the commands they run); Redis CPU: INFO cpu.",
        ]
        for row in rows {
            var line =
                "\(row.name): first result to last \(number(row.firstToLastJobsPerSecond, 0)) jobs/s (extra; the first result came \(row.firstResultAfterMilliseconds) ms after the first job was taken)"
            if let ceiling = row.ceiling {
                line +=
                    "; espeak-ng ceiling, 2 processes: \(number(ceiling.before.jobsPerSecond)) before, \(number(ceiling.after.jobsPerSecond)) after, \(number(row.jobsPerSecond, 0)) jobs/s is \(number(100 * ceiling.share(row.jobsPerSecond)))% of the mean"
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    public static func commandLines(_ rows: [ThroughputResult]) -> String {
        rows.map { row in
            "\(row.name): Redis µs/job by command (calls/job): "
                + row.commands.commands.filter { $0.microsecondsPerJob >= 0.01 }.map {
                    "\($0.name) \(number($0.microsecondsPerJob, 2)) (\(number($0.callsPerJob, 2)))"
                }.joined(separator: ", ")
        }.joined(separator: "\n")
    }

    public static func latencyTable(_ rows: [ThroughputResult]) -> String {
        let runs = rows.flatMap { row in [row.halfLoad, row.halfLoadStreamed].compactMap { $0 }.map { (row.workload, $0) } }
        return Table.render(
            header: [
                "half load", "jobs/s", "jobs", "elapsed p50 ms", "elapsed p99 ms", "elapsed max ms", "first chunk p50 ms",
                "first chunk p99 ms",
            ],
            rows: runs.map { workload, run in
                [
                    workload.rawValue + (run.streamed ? " streamed" : ""), number(run.jobsPerSecond, 0), "\(run.jobs)",
                    number(run.elapsed.percentile(0.5), 0), number(run.elapsed.percentile(0.99), 0), number(run.elapsed.max, 0),
                    run.streamed ? number(run.firstChunk.percentile(0.5), 0) : "-",
                    run.streamed ? number(run.firstChunk.percentile(0.99), 0) : "-",
                ]
            }, rightAligned: Set(1...7))
    }

    /// A sharded queue on a local cluster beside the same workload on one Redis, from
    /// one run: jobs/s, Redis CPU per job on each master, and the projection.
    public static func clusterTable(
        _ cluster: ClusterResult, single: ThroughputResult?, waiting: ClusterResult?, failover: FailoverResult?,
        idle: ClusterIdleResult? = nil
    ) -> String {
        var rows: [[String]] = []
        if let single {
            rows.append([
                "one Redis, 1 shard", "\(single.jobs)", number(single.jobsPerSecond, 0), number(single.redisCPUMicrosecondsPerJob, 2), "-",
            ])
        }
        rows.append([
            "cluster, \(cluster.masters.count) masters, \(cluster.shards) shards", "\(cluster.jobs)", number(cluster.jobsPerSecond, 0),
            number(cluster.mastersCPUMicrosecondsPerJob, 2), number(100 * cluster.largestShare, 0) + "%",
        ])
        for master in cluster.masters {
            rows.append([
                "  master \(master.address): \(master.shards) shards\(master.servesQueue ? " + {Q}" : "")", "", "",
                number(master.cpuMicrosecondsPerJob, 2), "",
            ])
        }
        var lines = [
            Table.render(
                header: ["setup", "jobs", "jobs/s", "Redis CPU µs/job (masters)", "largest master share"], rows: rows,
                rightAligned: Set(1...4))
        ]
        lines.append(
            "replicas (all \(cluster.masters.count)): \(number(cluster.replicasCPUMicrosecondsPerJob, 2)) µs/job; round trips/batch \(number(cluster.roundTripsPerBatch, 2)), jobs/batch \(number(cluster.jobsPerBatch)), worker CPU \(number(cluster.workerCPUMicrosecondsPerJob)) µs/job\(single.map { " (one Redis: \(number($0.workerCPUMicrosecondsPerJob)))" } ?? ""); every node shares this machine's cores, so jobs/s does not show the spread"
        )
        if let single, single.redisCPUMicrosecondsPerJob > 0 {
            lines.append(
                "masters' CPU per job over one Redis's: \(number(cluster.mastersCPUMicrosecondsPerJob / single.redisCPUMicrosecondsPerJob, 2))x"
            )
        }
        lines.append(
            "projected with Redis the bound, a master per machine, this skew: "
                + [3, 6, 12].map { "\($0) masters \(number(cluster.projectedJobsPerSecond(masters: $0), 0)) jobs/s" }.joined(
                    separator: ", ")
                + (single.map { "; one Redis \(number(1_000_000 / max($0.redisCPUMicrosecondsPerJob, 0.01), 0)) jobs/s" } ?? ""))
        if let waiting {
            lines.append(
                "with --wait-replicas \(waiting.waitReplicas): \(number(waiting.jobsPerSecond, 0)) jobs/s, masters \(number(waiting.mastersCPUMicrosecondsPerJob, 2)) µs/job, round trips/batch \(number(waiting.roundTripsPerBatch, 2))"
            )
        }
        if let failover {
            lines.append(
                "failover (kill -9 of the master of \(failover.shardsMoved) of \(failover.shards) shards, cluster-node-timeout \(failover.nodeTimeoutMilliseconds) ms, --wait-replicas \(failover.waitReplicas)): those shards served again after \(failover.pauseMilliseconds.map { number(Double($0) / 1000, 1) + " s" } ?? "never"); of \(failover.enqueued) jobs a replica had, \(failover.answered) answered, \(failover.lost) lost, \(failover.answeredTwice) answered twice"
            )
        }
        if let idle {
            lines.append(
                "idle worker, \(idle.shards) shards, \(idle.seconds) s: calls/s per master "
                    + idle.callsPerSecond.map { "\($0.address) \(number($0.calls))" }.joined(separator: ", ")
                    + "; a job on an idle shard answered after p50 \(number(idle.pickup.median, 0)) ms, max \(number(idle.pickup.max, 0)) ms (elapsed_ms, \(idle.pickup.count) jobs)"
            )
        }
        return lines.joined(separator: "\n")
    }

    public static func burstTable(_ rows: [BurstResult]) -> String {
        Table.render(
            header: [
                "burst (1 worker)", "jobs", "audio s", "elapsed p50 ms", "elapsed p99 ms", "elapsed max ms", "median/max",
                "first chunk p50 ms",
                "first chunk p99 ms", "first chunk max ms",
            ],
            rows: rows.map {
                [
                    $0.streamed ? "streamed" : "whole replies", "\($0.jobs)", number(($0.audio.mean ?? 0) / 1000, 2),
                    number($0.elapsed.percentile(0.5), 0), number($0.elapsed.percentile(0.99), 0), number($0.elapsed.max, 0),
                    number($0.medianOverMax, 2), $0.streamed ? number($0.firstChunk.percentile(0.5), 0) : "-",
                    $0.streamed ? number($0.firstChunk.percentile(0.99), 0) : "-", $0.streamed ? number($0.firstChunk.max, 0) : "-",
                ]
            }, rightAligned: Set(1...9))
    }

    public static func formatTable(_ rows: [FormatResult]) -> String {
        Table.render(
            header: ["format", "streamed", "jobs", "content_type", "bytes/reply", "Redis memory/reply", "audio key memory", "statuses"],
            rows: rows.map {
                [
                    $0.format, $0.streamed ? "yes" : "no", "\($0.jobs)", $0.contentTypes.max { $0.value < $1.value }?.key ?? "-",
                    number($0.bytes.mean, 0), number($0.memoryBytesPerReply, 0), number($0.audioKeyBytes.mean, 0),
                    $0.statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
                ]
            }, rightAligned: [2, 4, 5, 6])
    }
}
