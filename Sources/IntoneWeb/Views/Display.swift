import IntoneCore

#if canImport(Glibc)
    import Glibc
#endif

/// How numbers, times and bytes read on the console's pages.
enum Display {
    /// Bytes as text for people: invalid UTF-8 becomes U+FFFD (the template escapes the rest).
    static func text(_ bytes: [UInt8]?) -> String {
        bytes.map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// `2025-01-02 03:04:05Z`, from unix milliseconds.
    static func time(milliseconds: Int64) -> String {
        guard milliseconds > 0 else { return "-" }
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    /// `HH:MM` of a unix minute, UTC.
    static func clock(minute: Int64) -> String {
        let minutes = ((minute % 1440) + 1440) % 1440
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(two(minutes / 60)):\(two(minutes % 60))"
    }

    /// A duration in the unit that reads best: `850 ms`, `12.5 s`, `3.2 min`, `4.1 h`.
    static func duration(seconds: Double) -> String {
        let value = max(0, seconds)
        if value < 1 { return "\(Int((value * 1000).rounded())) ms" }
        if value < 120 { return oneDecimal(value) + " s" }
        if value < 7200 { return oneDecimal(value / 60) + " min" }
        if value < 172_800 { return oneDecimal(value / 3600) + " h" }
        return oneDecimal(value / 86400) + " d"
    }

    static func duration(milliseconds: Int64) -> String {
        duration(seconds: Double(milliseconds) / 1000)
    }

    static func oneDecimal(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))"
    }

    /// A whole number with thousands separators: `100,000`.
    static func count(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return (value < 0 ? "-" : "") + out
    }

    /// The start of a long text, cut at `limit` characters.
    static func excerpt(_ text: String, limit: Int = 160) -> String {
        text.count <= limit ? text : String(text.prefix(limit)) + "…"
    }

    /// Unix ms from a `TIME` reply (seconds and microseconds).
    static func milliseconds(fromTime reply: RedisReply) -> Int64 {
        let parts = reply.array ?? []
        return (parts.first?.integer ?? 0) * 1000 + (parts.count > 1 ? parts[1].integer ?? 0 : 0) / 1000
    }
}
