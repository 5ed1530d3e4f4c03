import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// One JSON object per line on standard error, for log pipelines:
/// `{"ts":"…","level":"info","label":"intone.worker","message":"…","job.id":"…"}`.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let label: String

    public init(label: String) {
        self.label = label
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = self.line(event, timestamp: Self.timestamp())
        line.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    /// The event as one JSON line. One key each: metadata named like a field of the line
    /// is renamed (`metadata.message`, then `metadata.metadata.message`, …), so log
    /// pipelines that keep the last of a repeated key lose nothing.
    func line(_ event: LogEvent, timestamp: String) -> String {
        var fields: [(String, String)] = [
            ("ts", timestamp), ("level", event.level.rawValue), ("label", label), ("message", event.message.description),
        ]
        var used = Set(fields.map(\.0))
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for key in merged.keys.sorted() {
            var name = key
            while used.contains(name) || (name != key && merged[name] != nil) { name = "metadata." + name }
            used.insert(name)
            fields.append((name, "\(merged[key]!)"))
        }
        return "{" + fields.map { Self.quoted($0.0) + ":" + Self.quoted($0.1) }.joined(separator: ",") + "}\n"
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(scalar.value, radix: 16).leftPadded(to: 4)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &parts)
        func two(_ v: Int32) -> String { String(v).leftPadded(to: 2) }
        let millis = String(now.tv_nsec / 1_000_000).leftPadded(to: 3)
        return
            "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(millis)Z"
    }
}
