/// What the `--redis` URL points at, found out once at start: a single Redis, or a node
/// of a Redis Cluster (and then the cluster's slot map).
public enum ClusterDiscovery: Sendable, Equatable {
    case standalone
    case cluster(ClusterTopology)

    /// Connects to the URL's server and asks `INFO cluster` whether cluster mode is on
    /// (`cluster_enabled:1`); for a cluster, reads the slot map from the same node.
    ///
    /// A cluster must be reached as `redis://[user:password@]host:port` with database 0:
    /// the map names nodes by TCP address, and a cluster has only database 0. Anything
    /// else throws `unsupportedURL` or `unsupportedDatabase` with a sentence that says so.
    public static func probe(_ url: RedisURL, options: ClusterOptions = ClusterOptions()) throws(ClusterError) -> ClusterDiscovery {
        // SELECT is refused in cluster mode, so the probe itself stays on database 0.
        var probeURL = url
        probeURL.database = 0
        let connection: RedisConnection
        do {
            connection = try RedisConnection(
                url: probeURL, connectTimeoutMilliseconds: options.connectTimeoutMilliseconds,
                commandTimeoutMilliseconds: options.mapTimeoutMilliseconds)
        } catch {
            throw ClusterError(.connection, "cannot reach Redis at \(url): \(error.message)")
        }
        guard try isClusterNode(connection, url: url) else { return .standalone }
        try validate(url)
        guard case .tcp(let host, _) = url.endpoint else { return .standalone }
        return .cluster(try readTopology(from: connection, queriedHost: host))
    }

    /// Checks that a URL can name a cluster node: TCP, database 0.
    public static func validate(_ url: RedisURL) throws(ClusterError) {
        if case .unix = url.endpoint {
            throw ClusterError(
                .unsupportedURL,
                "\(url) is a Redis Cluster node on a Unix socket; a cluster is reached over TCP: redis://[user:password@]host:port")
        }
        if url.database != 0 {
            throw ClusterError(
                .unsupportedDatabase,
                "\(url) names database \(url.database), but a Redis Cluster has only database 0; drop the /\(url.database)")
        }
    }

    /// Reads the slot map from a connected node: `CLUSTER SHARDS`, or `CLUSTER SLOTS` on a
    /// server older than 7.0. `queriedHost` stands in for nodes that announce no endpoint.
    public static func readTopology(from connection: RedisConnection, queriedHost: String) throws(ClusterError) -> ClusterTopology {
        let shards = try reply(connection, ["CLUSTER", "SHARDS"])
        if case .error(let message) = shards {
            guard message.lowercased().contains("unknown subcommand") else {
                throw ClusterError(.badTopology, "CLUSTER SHARDS on \(connection.url): \(message)")
            }
            let slots = try reply(connection, ["CLUSTER", "SLOTS"])
            if case .error(let message) = slots { throw ClusterError(.badTopology, "CLUSTER SLOTS on \(connection.url): \(message)") }
            return try ClusterTopology.parse(slotsReply: slots, queriedHost: queriedHost)
        }
        return try ClusterTopology.parse(shardsReply: shards, queriedHost: queriedHost)
    }

    /// Whether the server is a cluster node: `INFO cluster`, or, when an ACL denies INFO,
    /// `CLUSTER MYID` (answered on a cluster node only). Throws when the connection fails.
    static func isClusterNode(_ connection: RedisConnection, url: RedisURL) throws(ClusterError) -> Bool {
        let info = try reply(connection, ["INFO", "cluster"])
        if let text = info.string {
            return text.split(whereSeparator: \.isNewline).contains { $0.trimmingSuffix() == "cluster_enabled:1" }
        }
        // INFO may be denied by an ACL; CLUSTER MYID answers on a cluster node only.
        let myID = try reply(connection, ["CLUSTER", "MYID"])
        return myID.errorMessage == nil
    }

    private static func reply(_ connection: RedisConnection, _ arguments: [RedisArgument]) throws(ClusterError) -> RedisReply {
        do {
            return try connection.send(RedisCommands(arguments))[0]
        } catch {
            throw ClusterError(.connection, "\(connection.url): \(error.message)")
        }
    }
}

extension Substring {
    fileprivate func trimmingSuffix() -> Substring {
        var text = self
        while let last = text.last, last == "\r" || last == " " { text = text.dropLast() }
        return text
    }
}
