import Hummingbird
import IntoneCore

/// The newest results, optionally filtered, read with one bounded XREVRANGE: without a
/// filter only the page shown (`pageSize`); with one, at most `scanLimit` entries, of
/// which the newest `pageSize` that match are shown.
public struct ResultQuery: Sendable {
    public static let pageSize = 50
    public static let scanLimit = 1000

    /// Exact matches on the bytes of the fields (ids are bytes, not text).
    public struct Filter: Sendable, Equatable {
        public var status: [UInt8]?
        public var agent: [UInt8]?
        public var user: [UInt8]?
        public var job: [UInt8]?

        public init(status: [UInt8]? = nil, agent: [UInt8]? = nil, user: [UInt8]? = nil, job: [UInt8]? = nil) {
            func given(_ value: [UInt8]?) -> [UInt8]? { value?.isEmpty == false ? value : nil }
            self.status = given(status)
            self.agent = given(agent)
            self.user = given(user)
            self.job = given(job)
        }

        public var isEmpty: Bool { status == nil && agent == nil && user == nil && job == nil }

        public func matches(_ entry: StreamEntry) -> Bool {
            for (name, wanted) in [("status", status), ("agent_id", agent), ("user_id", user), ("job_id", job)] {
                if let wanted, entry.value(name) != wanted { return false }
            }
            return true
        }
    }

    public struct Page: Sendable {
        public var entries: [StreamEntry]
        /// On a sharded queue, each entry's stream label (`3`, `q`), in the order of
        /// `entries`; empty on a queue without shards.
        public var labels: [String] = []
        /// Matching entries among those scanned (at least `entries.count`).
        public var matching: Int
        public var scanned: Int
        /// Results in the stream.
        public var kept: Int
        /// Where the next page starts (exclusive); nil at the end of the stream.
        public var next: String?
        public var now: Int64
    }

    public var keys: QueueKeys
    public var filter: Filter
    /// Read entries older than this exact id (`ms-seq`); nil for the newest.
    public var before: String?

    public init(keys: QueueKeys, filter: Filter = Filter(), before: String? = nil) {
        self.keys = keys
        self.filter = filter
        self.before = before.flatMap { StreamEntry.isExactID($0) ? $0 : nil }
    }

    public var count: Int { filter.isEmpty ? Self.pageSize : Self.scanLimit }

    /// The newest results of every stream of the queue, merged newest first (`MergedPage`);
    /// on a queue without shards, `read(on:)` of its one stream.
    public func read(access: QueueAccess) throws(RedisError) -> Page {
        guard access.shards.count > 1 else {
            var query = self
            query.keys = access.queue
            return try query.read(on: try access.queueConnection())
        }
        var reads: [MergedPage.Read] = []
        var kept = 0
        var now: Int64 = 0
        for streamKeys in access.shards.served {
            var query = self
            query.keys = streamKeys
            let page = try query.readStream(on: try access.connection(for: streamKeys))
            reads.append(.init(label: access.label(of: streamKeys), entries: page.entries, cut: page.entries.count == count))
            kept += page.kept
            now = max(now, page.now)
        }
        let merged = MergedPage(reads, pageSize: Self.pageSize, matches: filter.matches)
        return Page(
            entries: merged.items.map(\.entry), labels: merged.items.compactMap(\.label), matching: merged.matching,
            scanned: merged.scanned, kept: kept, next: merged.next, now: now)
    }

    /// One stream's entries as read (no filter applied), with its length and clock.
    func readStream(on connection: RedisConnection) throws(RedisError) -> (entries: [StreamEntry], kept: Int, now: Int64) {
        var commands = RedisCommands()
        commands.append("XREVRANGE", .string(keys.results), .string(before.map { "(" + $0 } ?? "+"), "-", "COUNT", .integer(count))
        commands.append("XLEN", .string(keys.results))
        commands.append("TIME")
        let replies = try connection.send(commands)
        if let message = replies[0].errorMessage { throw RedisError(.server, "XREVRANGE \(keys.results): \(message)") }
        return (StreamEntry.list(replies[0]), Int(replies[1].integer ?? 0), Display.milliseconds(fromTime: replies[2]))
    }

    public func read(on connection: RedisConnection) throws(RedisError) -> Page {
        let (scanned, kept, now) = try readStream(on: connection)
        let matching = scanned.filter(filter.matches)
        let shown = Array(matching.prefix(Self.pageSize))
        var next: String?
        if matching.count > Self.pageSize {
            next = shown.last?.id
        } else if scanned.count == count {
            next = scanned.last?.id
        }
        return Page(entries: shown, matching: matching.count, scanned: scanned.count, kept: kept, next: next, now: now)
    }
}

extension ConsoleSite {
    struct ResultsView {
        struct Option {
            var value: String
            var label: String
            var selected: Bool
        }

        struct Chunk {
            var url: String
            var label: String
        }

        struct Row {
            var id: String
            var time: String
            var jobID: String
            var agent: String
            var agentURL: String
            var user: String
            var status: String
            var detail: String
            var elapsed: String
            var hasAudio: Bool
            var audioURL: String
            var downloadURL: String
            var format: String
            var chunks: [Chunk]
            var moreChunks: String?
        }

        var statusOptions: [Option]
        var agent: String
        var user: String
        var job: String
        var summary: String
        var rows: [Row]
        var hasOlder: Bool
        var olderURL: String
    }

    /// Streamed Opus and FLAC chunks are files of their own: one player each, up to this many.
    static let chunkPlayers = 12

    func results(_ request: Request, context: ConsoleRequestContext) async throws -> Response {
        let query = FormData(query: request.uri.query)
        let filter = ResultQuery.Filter(
            status: query.bytes("status"), agent: query.bytes("agent"), user: query.bytes("user"), job: query.bytes("job"))
        let resultQuery = ResultQuery(keys: keys, filter: filter, before: query.text("before"))
        let found = try await withQueue { access throws(RedisError) in try resultQuery.read(access: access) }

        let rows = found.entries.enumerated().map { index, entry -> ResultsView.Row in
            // On a sharded queue a link names the result's stream too.
            let ref = index < found.labels.count ? "\(entry.id)@\(found.labels[index])" : entry.id
            let status = entry.text("status") ?? ""
            let format = entry.text("format") ?? ""
            let streamed = entry.text("streamed") == "1"
            let playable = status == "ok"
            // Streamed Opus and FLAC: each chunk is a whole file, played on its own.
            let perChunk = playable && streamed && (format.hasPrefix("opus") || format.hasPrefix("flac"))
            let chunkCount = Int(entry.text("chunks") ?? "") ?? 0
            let chunks =
                perChunk
                ? (0..<min(chunkCount, Self.chunkPlayers)).map {
                    ResultsView.Chunk(url: "/audio/\(ref)?chunk=\($0)", label: "\($0 + 1) of \(chunkCount)")
                } : []
            return ResultsView.Row(
                id: entry.id, time: Display.time(milliseconds: Job.milliseconds(ofEntryID: entry.id) ?? 0),
                jobID: Display.text(entry.value("job_id")), agent: Display.text(entry.value("agent_id")),
                agentURL: "/results" + FormData.query([("agent", entry.value("agent_id"))]), user: Display.text(entry.value("user_id")),
                status: status, detail: Self.detail(of: entry, status: status),
                elapsed: entry.text("elapsed_ms").flatMap { Int64($0) }.map { Display.duration(milliseconds: $0) } ?? "",
                hasAudio: playable && !perChunk, audioURL: "/audio/\(ref)", downloadURL: "/audio/\(ref)?download=1",
                format: format.isEmpty ? "wav" : format, chunks: chunks,
                moreChunks: chunkCount > Self.chunkPlayers && perChunk ? "+\(chunkCount - Self.chunkPlayers) chunks" : nil)
        }
        let summary: String
        if filter.isEmpty {
            summary =
                "Showing the newest \(Display.count(rows.count)) of \(Display.count(found.kept)) results kept"
                + (resultQuery.before == nil ? "." : ", older than \(resultQuery.before!).")
        } else {
            summary =
                "Showing the newest \(Display.count(rows.count)) matching among the last \(Display.count(found.scanned)) results"
                + (resultQuery.before == nil ? "" : " older than \(resultQuery.before!)")
                + " (\(Display.count(found.matching)) matching; at most \(Display.count(ResultQuery.scanLimit)) are read per page)."
        }
        let statusText = Display.text(filter.status)
        var options = [ResultsView.Option(value: "", label: "any", selected: filter.status == nil)]
        for status in HistoryChart.statusOrder { options.append(.init(value: status, label: status, selected: statusText == status)) }
        if let status = filter.status, !HistoryChart.statusOrder.contains(statusText) {
            options.append(.init(value: Display.text(status), label: Display.text(status), selected: true))
        }
        let older = found.next.map {
            "/results"
                + FormData.query([
                    ("status", filter.status), ("agent", filter.agent), ("user", filter.user), ("job", filter.job),
                    ("before", Array($0.utf8)),
                ])
        }
        let view = ResultsView(
            statusOptions: options, agent: Display.text(filter.agent), user: Display.text(filter.user), job: Display.text(filter.job),
            summary: summary, rows: rows, hasOlder: older != nil, olderURL: older ?? "")
        return page("results", title: "Results", section: .results, context: context, view)
    }

    /// The words that say why a result is what it is.
    static func detail(of entry: StreamEntry, status: String) -> String {
        switch status {
        case "ok":
            let duration = entry.text("duration_ms").flatMap { Int64($0) }.map { Display.duration(milliseconds: $0) }
            return [duration, entry.text("voice"), entry.text("streamed") == "1" ? "streamed" : nil].compactMap { $0 }.joined(
                separator: " · ")
        case "text_only": return entry.text("reason") ?? ""
        case "rate_limited":
            return "limit \(entry.text("limit") ?? "?"), retry after \(entry.text("retry_after_ms") ?? "?") ms"
        case "failed":
            return (entry.text("error") ?? "") + ": " + Display.excerpt(entry.text("message") ?? "", limit: 120)
        default: return ""
        }
    }
}
