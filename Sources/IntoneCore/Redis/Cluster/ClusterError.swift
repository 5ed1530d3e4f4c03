/// A failure to find or follow a Redis Cluster. `code` is stable (for logs, metrics and
/// tests); `message` is one sentence for people that names the node or slot involved.
///
/// Every wait in the cluster code is bounded; when a bound is reached the wait ends
/// with one of these, so a caller logs it once and decides (retry later, or stop).
public struct ClusterError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// A cluster URL that is not `redis://host:port`: a Unix socket.
        public static let unsupportedURL = Code(name: "cluster_unsupported_url")
        /// A cluster URL that names a database other than 0 (a cluster has only database 0).
        public static let unsupportedDatabase = Code(name: "cluster_unsupported_database")
        /// The server at the URL is not a cluster node (`cluster_enabled:0`).
        public static let notCluster = Code(name: "cluster_not_enabled")
        /// No node of the cluster could be reached to read the slot map.
        public static let noReachableNode = Code(name: "cluster_no_reachable_node")
        /// `CLUSTER SHARDS` or `CLUSTER SLOTS` answered something that is not a slot map.
        public static let badTopology = Code(name: "cluster_bad_topology")
        /// A slot had no reachable master within the failover timeout.
        public static let noMaster = Code(name: "cluster_no_master")
        /// Redirects or TRYAGAIN/CLUSTERDOWN replies went on past their bound.
        public static let retriesExhausted = Code(name: "cluster_retries_exhausted")
        /// A lane's pipeline touched a key of another slot than the lane's (a key without
        /// the lane's hash tag): a bug in the caller, not a state of the cluster.
        public static let wrongSlot = Code(name: "cluster_wrong_slot")
        /// A node could not be reached or the connection to it broke.
        public static let connection = Code(name: "cluster_connection")
        /// `ClusterConnections.stop()` was called while waiting.
        public static let stopped = Code(name: "cluster_stopped")
        public var description: String { name }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
