import Foundation

/// A queue as an operator sees it, read in one round trip: what `intone status` prints.
public struct QueueStatus: Codable, Sendable {
    public struct Consumer: Codable, Sendable {
        public var name: String
        public var pending: Int
        public var idleMilliseconds: Int

        public init(name: String, pending: Int, idleMilliseconds: Int) {
            self.name = name
            self.pending = pending
            self.idleMilliseconds = idleMilliseconds
        }

        /// The consumers of several streams as one list, in the order first seen: a
        /// consumer of several is one (its pending entries added up, its shortest idle time).
        public static func merged(_ lists: [[Consumer]]) -> [Consumer] {
            var merged: [String: Consumer] = [:]
            var order: [String] = []
            for consumer in lists.joined() {
                if var seen = merged[consumer.name] {
                    seen.pending += consumer.pending
                    seen.idleMilliseconds = min(seen.idleMilliseconds, consumer.idleMilliseconds)
                    merged[consumer.name] = seen
                } else {
                    merged[consumer.name] = consumer
                    order.append(consumer.name)
                }
            }
            return order.compactMap { merged[$0] }
        }
    }

    public var queue: String
    /// Entries in the jobs stream: unfinished work (finished entries are deleted).
    public var streamLength: Int
    /// Entries not yet delivered to any consumer.
    public var lag: Int
    public var pending: Int
    public var oldestPendingAgeSeconds: Double?
    public var consumers: [Consumer]
    public var deadLetters: Int
    public var resultsKept: Int
    /// Results per second over the last minute (or over the newest 1,000 results).
    public var jobsPerSecond: Double
    public var resultsByStatus: [String: Int]
    public var audioSecondsRendered: Double
    /// Audio bytes in Redis per format, from a bounded sample of the audio keys.
    public var audioInRedis: AudioSample?
    /// The jobs stream these figures are of, in `streams`.
    public var jobsStream: String?
    /// The master that serves them, in a Redis Cluster.
    public var node: String?
    /// The queue's shard count (in the queue's own figures, not a stream's).
    public var shards: Int?
    /// With shards: the figures of each stream (the shards, then the version-1 stream),
    /// of which the figures above are the sum. nil for a queue without shards.
    public var streams: [QueueStatus]?

    /// A whole queue: each stream it serves read on its own slot's connection, and their
    /// sum. Without shards, the figures of its one stream.
    public static func read(_ access: QueueAccess, sampleAudio: Bool = true) throws(RedisError) -> QueueStatus {
        var parts: [QueueStatus] = []
        for keys in access.shards.served {
            var part = try read(keys, sampleAudio: sampleAudio, on: try access.connection(for: keys))
            part.jobsStream = keys.jobs
            part.node = access.node(of: keys)
            parts.append(part)
        }
        guard parts.count > 1 else {
            var only = parts[0]
            only.jobsStream = nil
            only.shards = 1
            return only
        }
        var total = sum(parts)
        total.shards = access.shards.count
        total.streams = parts
        return total
    }

    /// The figures of several streams added up: a consumer of several streams is one row
    /// (its pending entries added up, its shortest idle time); the oldest pending entry is
    /// the oldest of all.
    static func sum(_ parts: [QueueStatus]) -> QueueStatus {
        var byStatus: [String: Int] = [:]
        for part in parts {
            for (status, count) in part.resultsByStatus { byStatus[status, default: 0] += count }
        }
        let consumers = Consumer.merged(parts.map(\.consumers))
        let samples = parts.compactMap(\.audioInRedis)
        return QueueStatus(
            queue: parts.first?.queue ?? "", streamLength: parts.reduce(0) { $0 + $1.streamLength }, lag: parts.reduce(0) { $0 + $1.lag },
            pending: parts.reduce(0) { $0 + $1.pending }, oldestPendingAgeSeconds: parts.compactMap(\.oldestPendingAgeSeconds).max(),
            consumers: consumers, deadLetters: parts.reduce(0) { $0 + $1.deadLetters },
            resultsKept: parts.reduce(0) { $0 + $1.resultsKept }, jobsPerSecond: parts.reduce(0) { $0 + $1.jobsPerSecond },
            resultsByStatus: byStatus, audioSecondsRendered: parts.reduce(0) { $0 + $1.audioSecondsRendered },
            audioInRedis: samples.isEmpty ? nil : AudioSample.sum(samples))
    }

    /// The queue in one round trip, and with `sampleAudio` a bounded sample of its audio
    /// keys (`AudioSample`: a few more).
    public static func read(_ keys: QueueKeys, sampleAudio: Bool = true, on connection: RedisConnection) throws(RedisError)
        -> QueueStatus
    {
        var commands = RedisCommands()
        commands.append("XLEN", .string(keys.jobs))
        commands.append("XPENDING", .string(keys.jobs), .string(QueueKeys.group))
        commands.append("XINFO", "CONSUMERS", .string(keys.jobs), .string(QueueKeys.group))
        commands.append("XLEN", .string(keys.dead))
        commands.append("XLEN", .string(keys.results))
        commands.append("XREVRANGE", .string(keys.results), "+", "-", "COUNT", "1000")
        commands.append("HGETALL", .string(keys.stats))
        commands.append("TIME")
        let replies = try connection.send(commands)
        let time = replies[7].array ?? []
        let now = (time.first?.integer ?? 0) * 1000 + (time.last?.integer ?? 0) / 1000

        let length = Int(replies[0].integer ?? 0)
        // Without the group (no worker ran yet) XPENDING and XINFO answer NOGROUP.
        let summary = replies[1].array ?? []
        let pending = Int(summary.first?.integer ?? 0)
        var oldestAge: Double?
        if pending > 0, summary.count > 1, let oldest = Self.milliseconds(of: summary[1].string) {
            oldestAge = Double(max(0, now - oldest)) / 1000
        }
        let consumers = (replies[2].array ?? []).compactMap { reply -> Consumer? in
            var fields: [String: RedisReply] = [:]
            for (name, value) in reply.pairs ?? [] { fields[name] = value }
            guard let name = fields["name"]?.string else { return nil }
            return Consumer(name: name, pending: Int(fields["pending"]?.integer ?? 0), idleMilliseconds: Int(fields["idle"]?.integer ?? 0))
        }
        let stamps = (replies[5].array ?? []).compactMap { Self.milliseconds(of: $0.array?.first?.string) }
        var rate = 0.0
        let recent = stamps.filter { now - $0 <= 60_000 }
        if recent.count == stamps.count, stamps.count == 1000, let last = stamps.last {
            rate = 1000 / max(Double(now - last) / 1000, 0.001)
        } else {
            rate = Double(recent.count) / 60
        }
        var byStatus: [String: Int] = [:]
        var audioMilliseconds = 0
        for (name, value) in replies[6].pairs ?? [] {
            if name == "audio_ms" { audioMilliseconds = Int(value.integer ?? 0) } else { byStatus[name] = Int(value.integer ?? 0) }
        }
        return QueueStatus(
            queue: keys.queue, streamLength: length, lag: max(0, length - pending), pending: pending, oldestPendingAgeSeconds: oldestAge,
            consumers: consumers, deadLetters: Int(replies[3].integer ?? 0), resultsKept: Int(replies[4].integer ?? 0),
            jobsPerSecond: rate, resultsByStatus: byStatus, audioSecondsRendered: Double(audioMilliseconds) / 1000,
            audioInRedis: sampleAudio ? try sampledAudio(keys, on: connection) : nil)
    }

    /// The audio sample, or nil when the Redis user may not SCAN (an ACL that allows only
    /// the queue's own commands): the rest of the status does not need it.
    static func sampledAudio(_ keys: QueueKeys, on connection: RedisConnection) throws(RedisError) -> AudioSample? {
        do {
            return try AudioSample.read(keys, on: connection)
        } catch  where error.code == .noPermission {
            return nil
        }
    }

    static func milliseconds(of entryID: String?) -> Int64? {
        entryID.flatMap { Job.milliseconds(ofEntryID: $0) }
    }

    /// The readable form: with shards, a row per stream, then the queue's sums.
    public func table() -> String {
        var heading = "queue \(DisplayText.escaped(queue))"
        if let shards, shards > 1 { heading += " (\(shards) shards and the version-1 stream)" }
        if let node { heading += " on \(node)" }
        var lines = [heading, ""]
        if let streams {
            let clustered = streams.contains { $0.node != nil }
            lines.append(
                Table.render(
                    header: ["stream"] + (clustered ? ["node"] : []) + [
                        "lag", "pending", "oldest pending", "dead letters", "results kept", "jobs/s (1 min)", "audio in Redis",
                    ],
                    rows: streams.map { part in
                        [DisplayText.escaped(part.jobsStream ?? "")] + (clustered ? [part.node ?? "-"] : []) + [
                            "\(part.lag)", "\(part.pending)", part.oldestPendingAgeSeconds.map { Self.duration($0) } ?? "-",
                            "\(part.deadLetters)", "\(part.resultsKept)", String(format: "%.1f", part.jobsPerSecond),
                            part.audioInRedis.map(\.shortLine) ?? "-",
                        ]
                    }))
            lines += ["", "all streams:"]
        }
        lines += [
            Table.render(
                header: [
                    "jobs stream", "lag", "pending", "oldest pending", "dead letters", "results kept", "jobs/s (1 min)", "audio rendered",
                ],
                rows: [
                    [
                        "\(streamLength)", "\(lag)", "\(pending)", oldestPendingAgeSeconds.map { Self.duration($0) } ?? "-",
                        "\(deadLetters)",
                        "\(resultsKept)", String(format: "%.1f", jobsPerSecond), Self.duration(audioSecondsRendered),
                    ]
                ]),
            "",
        ]
        let statuses = ["ok", "text_only", "rate_limited", "expired", "failed"]
        lines.append(
            "results so far: " + statuses.map { "\($0) \(resultsByStatus[$0] ?? 0)" }.joined(separator: ", "))
        if let audioInRedis { lines.append(audioInRedis.line) }
        lines.append("")
        if consumers.isEmpty {
            lines.append("no consumers (no worker has read this queue yet)")
        } else {
            lines.append(
                Table.render(
                    header: ["consumer", "pending", "idle"],
                    rows: consumers.map {
                        [DisplayText.escaped($0.name), "\($0.pending)", Self.duration(Double($0.idleMilliseconds) / 1000)]
                    }))
        }
        return lines.joined(separator: "\n")
    }

    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// The JSON line `intone status --watch --json` prints while Redis cannot be reached.
    public static func unreachableJSON(queue: String, detail: String) -> String {
        let line = ["queue": queue, "error": "redis unreachable, retrying", "detail": detail]
        let data = (try? JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func duration(_ seconds: Double) -> String {
        if seconds < 1 { return String(format: "%.0f ms", seconds * 1000) }
        if seconds < 120 { return String(format: "%.1f s", seconds) }
        if seconds < 7200 { return String(format: "%.1f min", seconds / 60) }
        return String(format: "%.1f h", seconds / 3600)
    }
}

/// Plain text tables with aligned columns.
public enum Table {
    /// Columns whose index is in `rightAligned` (numbers) are padded on the left.
    public static func render(header: [String], rows: [[String]], rightAligned: Set<Int> = []) -> String {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ row: [String]) -> String {
            row.enumerated().map { i, cell in
                let padding = String(repeating: " ", count: max(0, widths[i] - cell.count))
                return rightAligned.contains(i) ? padding + cell : cell + padding
            }
            .joined(separator: "  ").trimmedTrailing
        }
        return ([line(header), line(widths.map { String(repeating: "-", count: $0) })] + rows.map(line)).joined(separator: "\n")
    }
}

extension String {
    var trimmedTrailing: String {
        var copy = self
        while copy.last == " " { copy.removeLast() }
        return copy
    }
}
