/// Where a cluster node listens: a host (name or IP) and a TCP port.
public struct ClusterNodeAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`, `[v6]:port` or `v6:port` (the last colon splits), as MOVED and
    /// ASK replies write it. The host may be empty: "the host you sent this to".
    public init?(parsing text: Substring) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port)
        else { return nil }
        var host = text[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        self.init(host: String(host), port: port)
    }

    /// This address with an empty host replaced by `host` (the host of the node that
    /// sent the redirect or the map, per the cluster specification).
    public func resolved(relativeTo host: String) -> ClusterNodeAddress {
        self.host.isEmpty ? ClusterNodeAddress(host: host, port: port) : self
    }

    /// A URL for this node with the credentials of `base` (database 0).
    public func url(credentialsFrom base: RedisURL) -> RedisURL {
        RedisURL(endpoint: .tcp(host: host, port: port), username: base.username, password: base.password, database: 0)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public static func < (lhs: ClusterNodeAddress, rhs: ClusterNodeAddress) -> Bool {
        (lhs.host, lhs.port) < (rhs.host, rhs.port)
    }
}
