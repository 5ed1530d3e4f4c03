import ArgumentParser
import IntoneCore
import IntoneTools

#if canImport(Glibc)
    import Glibc
#endif

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run the agent-reply workloads through real workers on a private redis-server and print the figures.",
        discussion: """
            Workloads (bench/peers/README.md): off (voice off: the queue's own cost), limited (nearly every job refused \
            by the bucket), on (every reply rendered). jobs/s counts from the first job taken off the stream to the last \
            result, both on Redis's clock; on is also given as a share of the espeak-ng ceiling (two in-process renderers \
            side by side) measured before and after it. --burst adds long replies enqueued at once on one worker, whole and \
            streamed; --formats adds Redis memory per reply for each audio format. Build with -c release first. \
            The peers side by side: bash bench/peers/run.sh.
            """)

    @Option(help: "Workloads, comma-separated: off, limited, on (none: only --burst and --formats).")
    var workloads = "off,limited,on"
    @Option(help: "Jobs for off and limited.") var jobs = 40000
    @Option(help: "Jobs for on.") var onJobs = 3000
    @Option(help: "Worker processes (throughput, half load, formats; a burst has one).") var workers = 2
    @Flag(help: "Also measure latency at half the measured load (for on: also streamed replies' time to first chunk).")
    var latency = false
    @Flag(help: "Print Redis CPU by command (INFO commandstats).") var commands = false
    @Option(help: "Long replies (about 9 s of speech) enqueued at once on one worker, whole and streamed; 0: no burst.")
    var burst = 0
    @Option(
        help:
            "Also run off on a local Redis Cluster (3 masters, 3 replicas) with this many shards, beside off on one Redis, again with --wait-replicas 1, a master killed while jobs flow, and an idle worker's calls; 0: no cluster."
    )
    var clusterShards = 0
    @Option(help: "Audio formats for Redis memory per reply, comma-separated (e.g. wav,opus_24000_32,ulaw_8000).")
    var formats = ""
    @Option(help: "Replies per format.") var formatJobs = 100
    @Flag(help: "Also run each format with streamed replies.") var streamFormats = false
    @Option(help: "Audio formats to run on again in, each beside the espeak-ng ceiling (e.g. opus_24000_32,ulaw_8000).")
    var onFormats = ""
    @Option(help: "Renders per espeak-ng ceiling process, before and after on (0: no ceiling).") var ceilingRenders = 300
    @Option(help: "A ceiling program printing {\"jobs_per_s\": …} for a render count given last (default: this binary).")
    var ceilingCommand: String?
    @Option(help: "Append one JSON object per workload or format to this file.") var json: String?
    @Option(help: "A note stored in every JSON object (e.g. smoke).") var label = ""
    @Option(help: "Longest wait of any one step, in seconds.") var timeout = 900
    @Option(help: .hidden) var espeakCeiling: Int?

    func run() throws {
        if let renders = espeakCeiling {
            do { print(try EspeakCeiling.renderHere(renders: renders)) } catch { throw fail("espeak-ng ceiling: \(error)") }
            return
        }
        var options = Bench.Options(executable: SynthesizerPool.currentExecutable())
        options.workers = workers
        options.measureLatency = latency
        options.ceilingRenders = ceilingRenders
        options.ceilingCommand = ceilingCommand.map { $0.split(separator: " ").map(String.init) }
        options.timeoutSeconds = timeout
        let bench = Bench(options: options)
        let workloadList = try workloads.split(separator: ",").filter { $0 != "none" }.map { name in
            guard let workload = Bench.Workload(rawValue: String(name)) else { throw fail("unknown workload '\(name)' (off, limited, on)") }
            return workload
        }
        let output = try json.map { path in
            guard let file = fopen(path, "a") else { throw fail("cannot open \(path) for appending") }
            return file
        }
        defer { output.map { _ = fclose($0) } }
        func emit(_ object: BenchJSON) {
            guard let output else { return }
            fputs(BenchReport.line(object, label: label) + "\n", output)
            fflush(output)
        }
        func progress(_ line: String) { LocalFiles.printError(line) }

        var throughput: [ThroughputResult] = []
        for workload in workloadList {
            do {
                let row = try bench.throughput(workload, jobs: workload == .on ? onJobs : jobs, progress: progress)
                throughput.append(row)
                emit(row.json)
            } catch {
                throw fail("\(workload.rawValue): \(error)")
            }
        }
        for format in onFormats.split(separator: ",").map(String.init) {
            do {
                let row = try bench.throughput(.on, jobs: onJobs, format: format, progress: progress)
                throughput.append(row)
                emit(row.json)
            } catch {
                throw fail("on \(format): \(error)")
            }
        }
        var clusterSection: String?
        if clusterShards > 0 {
            do {
                let single = try throughput.first { $0.workload == .off } ?? bench.throughput(.off, jobs: jobs, progress: progress)
                if !throughput.contains(where: { $0.workload == .off }) { emit(single.json) }
                let row = try bench.clusterThroughput(jobs: jobs, shards: clusterShards, progress: progress)
                emit(row.json)
                let waiting = try bench.clusterThroughput(jobs: jobs, shards: clusterShards, waitReplicas: 1, progress: progress)
                emit(waiting.json)
                let failover = try bench.failover(shards: clusterShards, waitReplicas: 1, progress: progress)
                emit(failover.json)
                let idle = try bench.clusterIdle(shards: clusterShards, progress: progress)
                emit(idle.json)
                clusterSection = BenchReport.clusterTable(row, single: single, waiting: waiting, failover: failover, idle: idle)
            } catch {
                throw fail("cluster: \(error)")
            }
        }
        var bursts: [BurstResult] = []
        if burst > 0 {
            for streamed in [false, true] {
                do {
                    let row = try bench.burst(jobs: burst, streamed: streamed, progress: progress)
                    bursts.append(row)
                    emit(row.json)
                } catch {
                    throw fail("burst: \(error)")
                }
            }
        }
        var formatRows: [FormatResult] = []
        for format in formats.split(separator: ",").map(String.init) {
            for streamed in streamFormats ? [false, true] : [false] {
                do {
                    let row = try bench.formatMemory(format, streamed: streamed, jobs: formatJobs, progress: progress)
                    formatRows.append(row)
                    emit(row.json)
                } catch {
                    throw fail("format \(format): \(error)")
                }
            }
        }

        var sections: [String] = []
        if !throughput.isEmpty {
            sections.append(BenchReport.throughputTable(throughput) + "\n\n" + BenchReport.throughputNotes(throughput))
            if commands { sections.append(BenchReport.commandLines(throughput)) }
            if latency { sections.append(BenchReport.latencyTable(throughput)) }
        }
        if let clusterSection { sections.append(clusterSection) }
        if !bursts.isEmpty { sections.append(BenchReport.burstTable(bursts)) }
        if !formatRows.isEmpty { sections.append(BenchReport.formatTable(formatRows)) }
        print(sections.joined(separator: "\n\n"))
    }
}
