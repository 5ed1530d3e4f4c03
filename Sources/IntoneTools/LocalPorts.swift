import IntoneCore

#if canImport(Glibc)
    import Glibc
#endif

/// Loopback ports for the private servers of the demo, the bench and the tests.
public enum LocalPorts {
    /// A TCP port on 127.0.0.1 that nothing listens on right now.
    public static func free() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw EmbeddedRedisError("no free TCP port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Reading one figure out of a `/metrics` page.
public enum PrometheusText {
    /// The value of one sample (`name{labels} value`) in Prometheus text, 0 when absent.
    public static func sample(_ text: String, _ series: String) -> Double {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1)) ?? 0
        }
        return 0
    }
}
