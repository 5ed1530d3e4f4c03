/// Bounds on every wait of the cluster code, with defaults for a worker.
///
/// Nothing waits forever: a connect, a command, a failover and a run of TRYAGAIN or
/// CLUSTERDOWN replies each have a limit, after which a `ClusterError` says what ran out.
public struct ClusterOptions: Sendable, Equatable {
    /// Longest TCP connect to one node. Default 1000 ms: nodes are near, and a dead node
    /// must not hold up trying the next one.
    public var connectTimeoutMilliseconds: Int
    /// Socket timeout of a lane's connection; must exceed any `BLOCK` the lane uses.
    /// Default 10000 ms.
    public var commandTimeoutMilliseconds: Int
    /// Socket timeout of the connection that reads the slot map. Default 2000 ms.
    public var mapTimeoutMilliseconds: Int
    /// Longest wait for a slot to have a reachable master again (a failover takes about
    /// `cluster-node-timeout` plus an election). Default 30000 ms.
    public var failoverTimeoutMilliseconds: Int
    /// Longest run of TRYAGAIN, CLUSTERDOWN, LOADING or MASTERDOWN replies for one
    /// pipeline before giving up. Default 10000 ms.
    public var retryTimeoutMilliseconds: Int
    /// Most MOVED or ASK redirects followed for one pipeline (a map that changes under
    /// us settles in one or two). Default 16.
    public var maxRedirects: Int
    /// Backoff between attempts: the first delay and the cap. Defaults 50 ms and 1000 ms.
    public var backoff: ClusterBackoff

    public init(
        connectTimeoutMilliseconds: Int = 1000, commandTimeoutMilliseconds: Int = 10_000, mapTimeoutMilliseconds: Int = 2000,
        failoverTimeoutMilliseconds: Int = 30_000, retryTimeoutMilliseconds: Int = 10_000, maxRedirects: Int = 16,
        backoff: ClusterBackoff = ClusterBackoff()
    ) {
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        self.commandTimeoutMilliseconds = commandTimeoutMilliseconds
        self.mapTimeoutMilliseconds = mapTimeoutMilliseconds
        self.failoverTimeoutMilliseconds = failoverTimeoutMilliseconds
        self.retryTimeoutMilliseconds = retryTimeoutMilliseconds
        self.maxRedirects = maxRedirects
        self.backoff = backoff
    }
}
