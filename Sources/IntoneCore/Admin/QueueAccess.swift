import Logging

/// How the operator tools reach a queue, on a single Redis or a Redis Cluster, sharded
/// or not: found out once, from the URL and the queue.
///
/// - Whether Redis is a cluster: `ClusterDiscovery.probe`, as the worker asks.
/// - The shard count: the one the queue stores in `intone:{Q}:config` (field `shards`,
///   written by the first worker). A count given with `--shards` or `INTONE_SHARDS` must
///   agree with it; with none stored yet, the count given is used (1 when none is).
/// - A connection per slot: on a single Redis, the one connection for every key; in a
///   cluster, one to the master of each slot touched, made by `ClusterConnections` (the
///   worker's own), kept for the next key of the same slot.
///
/// Not thread-safe: one per thread (the console gives each of its threads its own).
public final class QueueAccess {
    public let url: RedisURL
    /// The queue's streams: its shards and, with shards, the version-1 stream.
    public let shards: QueueShards
    /// The count `intone:{Q}:config` holds; nil when no worker has recorded one yet.
    public let storedShards: Int?
    /// The cluster's connections; nil on a single Redis.
    public let cluster: ClusterConnections?
    private var single: RedisConnection?
    private var bySlot: [HashSlot: RedisConnection] = [:]

    /// The queue's own keys (`{Q}`): agent settings, heartbeats, configuration, and the
    /// version-1 stream.
    public var queue: QueueKeys { shards.base }

    public var isCluster: Bool { cluster != nil }

    private init(url: RedisURL, shards: QueueShards, storedShards: Int?, cluster: ClusterConnections?, single: RedisConnection?) {
        self.url = url
        self.shards = shards
        self.storedShards = storedShards
        self.cluster = cluster
        self.single = single
    }

    /// Connects, asks whether Redis is a cluster and reads the shard count. `shards` is a
    /// count given by the operator (nil: none given); with `record`, a count given is
    /// written to the queue's configuration when it has none yet, as a worker does (a
    /// producer that puts jobs on shards fixes the count as much as a worker).
    ///
    /// Throws `RedisError` with code `.connection` when Redis cannot be reached, and
    /// `.configuration` for a URL a cluster cannot be reached with or a count that
    /// disagrees with the queue's.
    public static func open(
        url: RedisURL, queue: QueueKeys, shards given: Int? = nil, record: Bool = false, logger: Logger = QueueAccess.quietLogger
    ) throws(RedisError) -> QueueAccess {
        let discovery: ClusterDiscovery
        do {
            discovery = try ClusterDiscovery.probe(url)
        } catch {
            throw RedisError(error.code == .connection ? .connection : .configuration, error.message)
        }
        var cluster: ClusterConnections?
        var single: RedisConnection?
        switch discovery {
        case .standalone:
            single = try RedisConnection(url: url)
        case .cluster(let topology):
            do {
                cluster = try ClusterConnections(url: url, topology: topology, logger: logger)
            } catch {
                throw RedisError(error.code == .connection ? .connection : .configuration, error.message)
            }
        }
        let base = queue.queueKeys
        let provisional = QueueAccess(
            url: url, shards: QueueShards(base: base, count: 1), storedShards: nil, cluster: cluster, single: single)
        let connection = try provisional.connection(for: base)
        var stored: Int?
        do {
            if let given, record {
                try LaneLayout.checkShards(QueueShards(base: base, count: given), on: connection)
            }
            stored = try readShardCount(base, on: connection)
        } catch  where error.code == .noPermission {
            stored = nil  // a user that may not read the configuration: the count given, or 1
        }
        if let given, let stored, given != stored {
            throw RedisError(
                .configuration,
                "--shards \(given) disagrees with the queue, which has \(stored) shards (\(base.config) field shards); leave --shards out to use the queue's"
            )
        }
        let access = QueueAccess(
            url: url, shards: QueueShards(base: base, count: stored ?? given ?? 1), storedShards: stored, cluster: cluster,
            single: single)
        access.bySlot = provisional.bySlot
        return access
    }

    /// The count in `intone:{Q}:config`, nil when there is none (or it is not a count).
    public static func readShardCount(_ queue: QueueKeys, on connection: RedisConnection) throws(RedisError) -> Int? {
        let reply = try connection.command("HGET", .string(queue.queueKeys.config), "shards")
        return reply.string.flatMap { Int($0) }.flatMap { $0 >= 1 ? $0 : nil }
    }

    /// A logger that says only what goes wrong (a map change is no news to an operator tool).
    public static var quietLogger: Logger {
        var logger = Logger(label: "intone.admin")
        logger.logLevel = .error
        return logger
    }

    /// The connection for the keys of one shard (or of the queue): the one connection on a
    /// single Redis; the master of their slot in a cluster.
    public func connection(for keys: QueueKeys) throws(RedisError) -> RedisConnection {
        try connection(forSlot: HashSlot(forKey: keys.jobs))
    }

    /// The connection for the queue's own keys (`{Q}`).
    public func queueConnection() throws(RedisError) -> RedisConnection {
        try connection(for: shards.base)
    }

    /// The connection that holds a key (any key of the queue).
    public func connection(forKey key: String) throws(RedisError) -> RedisConnection {
        try connection(forSlot: HashSlot(forKey: key))
    }

    private func connection(forSlot slot: HashSlot) throws(RedisError) -> RedisConnection {
        guard let cluster else {
            if let single, !single.isBroken { return single }
            let made = try RedisConnection(url: url)
            single = made
            return made
        }
        if let open = bySlot[slot], !open.isBroken { return open }
        do {
            let made = try cluster.connectOnce(to: slot)
            bySlot[slot] = made
            return made
        } catch {
            throw RedisError(.connection, error.message)
        }
    }

    /// The master that serves these keys in a cluster (`host:port`); nil on a single Redis.
    public func node(of keys: QueueKeys) -> String? {
        cluster?.master(for: HashSlot(forKey: keys.jobs))?.description
    }

    /// Forgets every connection (after a failure): the next call connects again, and in a
    /// cluster reads the map again first.
    public func reset() {
        single = nil
        bySlot = [:]
        if let cluster { _ = try? cluster.refreshTopology() }
    }

    /// Where a stream is, for an operator: `intone:{Q#3}:jobs`, with its master in a cluster.
    public func describe(_ keys: QueueKeys) -> String {
        keys.jobs + (node(of: keys).map { " on \($0)" } ?? "")
    }

    /// The short name of a stream of the queue: its shard number, or `q` for the queue's
    /// own (version-1) stream. `ShardedEntryID` uses the same names.
    public func label(of keys: QueueKeys) -> String {
        keys.shard.map(String.init) ?? ShardedEntryID.queueStreamLabel
    }

    /// The stream a label names (`3`, `q`); nil for one the queue does not have.
    public func keys(labelled label: String) -> QueueKeys? {
        shards.served.first { self.label(of: $0) == label }
    }

    /// The streams a job may be on, most likely first: the shard its `job_id` gives, the
    /// version-1 stream (producers that know nothing of shards), then the other shards
    /// (a job enqueued without a `job_id` may be on any).
    public func streams(forJobID jobID: ByteString) -> [QueueKeys] {
        let first = shards.keys(forJobID: jobID)
        return [first] + shards.served.reversed().filter { $0 != first }
    }
}

/// A dead letter's or a result's entry id together with the stream it is in, as the
/// tools print it on a sharded queue: `<ms>-<seq>@<shard>`, or `<ms>-<seq>@q` for the
/// queue's own (version-1) stream. A plain `<ms>-<seq>` names the entry in whichever
/// stream holds it.
public struct ShardedEntryID: Sendable, Equatable, CustomStringConvertible {
    public static let queueStreamLabel = "q"

    public var id: String
    /// The stream's label (`3`, `q`); nil when not given.
    public var stream: String?

    public init(id: String, stream: String?) {
        self.id = id
        self.stream = stream
    }

    /// nil when the id part is not an exact entry id or the stream is not a number or `q`.
    public init?(parsing text: some StringProtocol) {
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        guard EntryID.isExact(parts[0]) else { return nil }
        id = String(parts[0])
        if parts.count == 2 {
            let label = String(parts[1])
            if label == Self.queueStreamLabel {
                stream = label
            } else if label.count <= 4, label.allSatisfy(\.isASCII), let shard = Int(label), shard >= 0 {
                stream = String(shard)
            } else {
                return nil
            }
        } else {
            stream = nil
        }
    }

    public var description: String { stream.map { "\(id)@\($0)" } ?? id }
}
