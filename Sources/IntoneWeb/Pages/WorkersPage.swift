import Hummingbird
import IntoneCore

/// The live workers (from their heartbeats) and the consumers of the group, read in
/// three round trips.
public struct WorkerList: Sendable {
    public typealias Consumer = QueueStatus.Consumer

    /// Redis's clock, unix ms.
    public var now: Int64
    public var live: [WorkerHeartbeat]
    /// The group's consumers (XINFO CONSUMERS), at most `consumerLimit`.
    public var consumers: [Consumer]

    public static let consumerLimit = 500

    /// A whole queue: the consumers of every stream it serves (a consumer of several is
    /// one, its pending entries added up and its shortest idle time), and the heartbeats.
    public static func read(access: QueueAccess) throws(RedisError) -> WorkerList {
        var list = try read(keys: access.queue, on: try access.queueConnection())
        guard access.shards.count > 1 else { return list }
        var lists: [[Consumer]] = []
        for keys in access.shards.served {
            lists.append(keys == access.queue ? list.consumers : try consumers(of: keys, on: try access.connection(for: keys)))
        }
        list.consumers = Array(Consumer.merged(lists).prefix(consumerLimit))
        return list
    }

    /// The consumers of one jobs stream's group (none without a stream or a group).
    static func consumers(of keys: QueueKeys, on connection: RedisConnection) throws(RedisError) -> [Consumer] {
        var commands = RedisCommands()
        commands.append("XINFO", "CONSUMERS", .string(keys.jobs), .string(QueueKeys.group))
        // No stream or no group yet: an error reply (NOGROUP, no such key), and no consumers.
        return parse(try connection.send(commands)[0])
    }

    static func parse(_ reply: RedisReply) -> [Consumer] {
        (reply.array ?? []).prefix(consumerLimit).compactMap { reply -> Consumer? in
            var fields: [String: RedisReply] = [:]
            for (name, value) in reply.pairs ?? [] { fields[name] = value }
            guard let name = fields["name"]?.string else { return nil }
            return Consumer(name: name, pending: Int(fields["pending"]?.integer ?? 0), idleMilliseconds: Int(fields["idle"]?.integer ?? 0))
        }
    }

    public static func read(keys: QueueKeys, on connection: RedisConnection) throws(RedisError) -> WorkerList {
        var commands = RedisCommands()
        commands.append("TIME")
        commands.append("XINFO", "CONSUMERS", .string(keys.jobs), .string(QueueKeys.group))
        let replies = try connection.send(commands)
        // No stream or no group yet: an error reply, and no consumers.
        let consumers = parse(replies[1])
        return WorkerList(
            now: Display.milliseconds(fromTime: replies[0]), live: try WorkerHeartbeat.readLive(keys: keys, on: connection),
            consumers: consumers)
    }
}

extension ConsoleSite {
    struct WorkersView {
        struct Row {
            var consumer: String
            var host: String
            var pid: String
            var version: String
            var startedAt: String
            var uptime: String
            var rendering: Bool
            var job: String
            var jobFor: String
            var inHand: String
            var jobsDone: String
            var pending: String
            var lastSeen: String
        }

        struct Orphan {
            var name: String
            var pending: String
            var idle: String
        }

        var rows: [Row]
        var hasWorkers: Bool
        var orphans: [Orphan]
        var hasOrphans: Bool
        var ttlSeconds: Int
    }

    func workers(_ request: Request, context: ConsoleRequestContext) async throws -> Response {
        let list = try await withQueue { access throws(RedisError) in try WorkerList.read(access: access) }
        let pending = Dictionary(list.consumers.map { ($0.name, $0.pending) }, uniquingKeysWith: { first, _ in first })
        let live = Set(list.live.map(\.consumer))
        let rows = list.live.map { worker in
            WorkersView.Row(
                consumer: worker.consumer, host: worker.host, pid: String(worker.pid), version: worker.version,
                startedAt: Display.time(milliseconds: worker.startedAtMilliseconds),
                uptime: Display.duration(milliseconds: list.now - worker.startedAtMilliseconds), rendering: !worker.currentJobID.isEmpty,
                job: Display.text(worker.currentJobID),
                jobFor: Display.duration(milliseconds: list.now - worker.currentJobStartedAtMilliseconds),
                inHand: Display.count(worker.jobsInHand), jobsDone: Display.count(worker.jobsDone),
                pending: pending[worker.consumer].map(Display.count) ?? "-",
                lastSeen: Display.duration(milliseconds: list.now - worker.updatedAtMilliseconds))
        }
        let orphans = list.consumers.filter { !live.contains($0.name) }.map {
            WorkersView.Orphan(
                name: $0.name, pending: Display.count($0.pending), idle: Display.duration(milliseconds: Int64($0.idleMilliseconds)))
        }
        let view = WorkersView(
            rows: rows, hasWorkers: !rows.isEmpty, orphans: orphans, hasOrphans: !orphans.isEmpty,
            ttlSeconds: WorkerHeartbeat.ttlMilliseconds / 1000)
        return page("workers", title: "Workers", section: .workers, refreshSeconds: 3, context: context, view)
    }
}
