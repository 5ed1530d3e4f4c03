import Hummingbird
import IntoneCore

/// The numbers of the Overview page, read in four round trips of a few small commands:
/// nothing here grows with the size of the streams.
public struct QueueOverview: Sendable {
    /// Redis's clock, unix ms.
    public var now: Int64
    public var streamLength: Int
    public var pending: Int
    /// Entries not yet delivered to any worker (finished entries are deleted, so the
    /// stream holds only waiting and pending ones).
    public var lag: Int { max(0, streamLength - pending) }
    public var oldestPendingAgeMilliseconds: Int64?
    public var deadLetters: Int
    public var resultsKept: Int
    /// The workers' counters since the stats began (`intone:{Q}:stats`).
    public var totals: [String: Int]
    public var audioMillisecondsTotal: Int
    /// The last `minutes` minutes, oldest first; the last one is the current, partial minute.
    public var history: [QueueHistory.Minute]
    public var liveWorkers: Int
    /// The queue's shard count.
    public var shards = 1
    /// With shards: each stream's own figures (the shards, then the version-1 stream), of
    /// which the figures above are the sum; empty for a queue without shards.
    public var streams: [Stream] = []

    /// One stream's figures on the overview.
    public struct Stream: Sendable {
        /// `intone:{Q#i}:jobs`
        public var jobsStream: String
        /// The master that serves it, in a cluster.
        public var node: String?
        public var figures: QueueOverview
    }

    /// The queue's one stream (a queue without shards, or one stream of a sharded queue
    /// read on its own), with the live workers.
    public static func read(keys: QueueKeys, minutes: Int = 60, on connection: RedisConnection) throws(RedisError) -> QueueOverview {
        var overview = try readStream(keys: keys, minutes: minutes, on: connection)
        overview.liveWorkers = try WorkerHeartbeat.readLive(keys: keys, on: connection).count
        return overview
    }

    /// A whole queue: each stream it serves on its own slot's connection, their sum, and
    /// the live workers (heartbeats are the queue's, under `{Q}`). The minutes of the
    /// history are those of the `{Q}` master's clock for every stream.
    public static func read(access: QueueAccess, minutes: Int = 60) throws(RedisError) -> QueueOverview {
        let queueConnection = try access.queueConnection()
        guard access.shards.count > 1 else { return try read(keys: access.queue, minutes: minutes, on: queueConnection) }
        let now = Display.milliseconds(fromTime: try queueConnection.command("TIME"))
        var streams: [Stream] = []
        for keys in access.shards.served {
            let figures = try readStream(keys: keys, minutes: minutes, endingAt: now, on: try access.connection(for: keys))
            streams.append(Stream(jobsStream: keys.jobs, node: access.node(of: keys), figures: figures))
        }
        let parts = streams.map(\.figures)
        var totals: [String: Int] = [:]
        for part in parts { for (status, count) in part.totals { totals[status, default: 0] += count } }
        let history = (0..<(parts.first?.history.count ?? 0)).map { index in
            var minute = QueueHistory.Minute(minute: parts[0].history[index].minute)
            for part in parts where index < part.history.count {
                for (status, count) in part.history[index].statusCounts { minute.statusCounts[status, default: 0] += count }
                minute.audioMilliseconds += part.history[index].audioMilliseconds
            }
            return minute
        }
        var overview = QueueOverview(
            now: now, streamLength: parts.reduce(0) { $0 + $1.streamLength }, pending: parts.reduce(0) { $0 + $1.pending },
            oldestPendingAgeMilliseconds: parts.compactMap(\.oldestPendingAgeMilliseconds).max(),
            deadLetters: parts.reduce(0) { $0 + $1.deadLetters }, resultsKept: parts.reduce(0) { $0 + $1.resultsKept }, totals: totals,
            audioMillisecondsTotal: parts.reduce(0) { $0 + $1.audioMillisecondsTotal }, history: history,
            liveWorkers: try WorkerHeartbeat.readLive(keys: access.queue, on: queueConnection).count)
        overview.shards = access.shards.count
        overview.streams = streams
        return overview
    }

    /// One stream's figures and history, without the workers. `endingAt` (unix ms) fixes
    /// the last minute of the history; nil takes this server's clock.
    static func readStream(keys: QueueKeys, minutes: Int, endingAt given: Int64? = nil, on connection: RedisConnection) throws(RedisError)
        -> QueueOverview
    {
        var commands = RedisCommands()
        commands.append("TIME")
        commands.append("XLEN", .string(keys.jobs))
        commands.append("XPENDING", .string(keys.jobs), .string(QueueKeys.group))
        commands.append("XLEN", .string(keys.dead))
        commands.append("XLEN", .string(keys.results))
        commands.append("HGETALL", .string(keys.stats))
        let replies = try connection.send(commands)
        let now = given ?? Display.milliseconds(fromTime: replies[0])
        // Without the group (no worker has run yet) XPENDING answers NOGROUP: nothing pending.
        let summary = replies[2].array ?? []
        let pending = Int(summary.first?.integer ?? 0)
        var oldestAge: Int64?
        if pending > 0, summary.count > 1, let id = summary[1].string, let oldest = Job.milliseconds(ofEntryID: id) {
            oldestAge = max(0, now - oldest)
        }
        var totals: [String: Int] = [:]
        var audio = 0
        for (name, value) in replies[5].pairs ?? [] {
            if name == "audio_ms" { audio = Int(value.integer ?? 0) } else { totals[name] = Int(value.integer ?? 0) }
        }
        let history = try QueueHistory.read(
            count: minutes, endingAt: QueueHistory.minute(ofUnixMilliseconds: now), keys: keys, on: connection)
        return QueueOverview(
            now: now, streamLength: Int(replies[1].integer ?? 0), pending: pending, oldestPendingAgeMilliseconds: oldestAge,
            deadLetters: Int(replies[3].integer ?? 0), resultsKept: Int(replies[4].integer ?? 0), totals: totals,
            audioMillisecondsTotal: audio, history: history, liveWorkers: 0)
    }

    /// Results a second over the last 60 s: the current minute so far, plus the share of
    /// the previous minute that falls in the window.
    public var jobsPerSecond: Double {
        guard let current = history.last else { return 0 }
        let previous = history.count > 1 ? history[history.count - 2].results : 0
        let into = Double(now - current.minute * 60_000) / 60_000
        return (Double(current.results) + Double(previous) * max(0, 1 - into)) / 60
    }
}

extension ConsoleSite {
    struct OverviewView {
        struct Total {
            var status: String
            var hour: String
            var allTime: String
        }

        var lag: String
        var pending: String
        var oldestPending: String
        var deadLetters: String
        var jobsPerSecond: String
        var audioHour: String
        var audioTotal: String
        var liveWorkers: String
        var resultsKept: String
        var streamLength: String
        var chart: HistoryChart
        var totals: [Total]
        var shards: Int
        var hasStreams: Bool
        var clustered: Bool
        var streams: [StreamRow]

        struct StreamRow {
            var stream: String
            var node: String
            var lag: String
            var pending: String
            var oldestPending: String
            var deadLetters: String
            var resultsKept: String
            var jobsPerSecond: String
        }
    }

    func overview(_ request: Request, context: ConsoleRequestContext) async throws -> Response {
        let overview = try await withQueue { access throws(RedisError) in try QueueOverview.read(access: access) }
        var hour: [String: Int] = [:]
        var audioHour = 0
        for minute in overview.history {
            for (status, count) in minute.statusCounts { hour[status, default: 0] += count }
            audioHour += minute.audioMilliseconds
        }
        let statuses = HistoryChart.order(Set(hour.keys).union(overview.totals.keys))
        let view = OverviewView(
            lag: Display.count(overview.lag), pending: Display.count(overview.pending),
            oldestPending: overview.oldestPendingAgeMilliseconds.map { Display.duration(milliseconds: $0) } ?? "-",
            deadLetters: Display.count(overview.deadLetters), jobsPerSecond: Display.oneDecimal(overview.jobsPerSecond),
            audioHour: Display.duration(milliseconds: Int64(audioHour)),
            audioTotal: Display.duration(milliseconds: Int64(overview.audioMillisecondsTotal)),
            liveWorkers: Display.count(overview.liveWorkers), resultsKept: Display.count(overview.resultsKept),
            streamLength: Display.count(overview.streamLength), chart: HistoryChart(overview.history),
            totals: statuses.map {
                .init(status: $0, hour: Display.count(hour[$0] ?? 0), allTime: Display.count(overview.totals[$0] ?? 0))
            }, shards: overview.shards, hasStreams: !overview.streams.isEmpty, clustered: overview.streams.contains { $0.node != nil },
            streams: overview.streams.map { stream in
                let figures = stream.figures
                return .init(
                    stream: stream.jobsStream, node: stream.node ?? "-", lag: Display.count(figures.lag),
                    pending: Display.count(figures.pending),
                    oldestPending: figures.oldestPendingAgeMilliseconds.map { Display.duration(milliseconds: $0) } ?? "-",
                    deadLetters: Display.count(figures.deadLetters), resultsKept: Display.count(figures.resultsKept),
                    jobsPerSecond: Display.oneDecimal(figures.jobsPerSecond))
            })
        return page("overview", title: "Overview", section: .overview, refreshSeconds: 5, context: context, view)
    }
}
