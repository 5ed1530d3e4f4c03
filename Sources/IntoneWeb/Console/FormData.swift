/// The name-value pairs of a query string or of a form body
/// (`application/x-www-form-urlencoded`), decoded to bytes: an id that is not valid
/// UTF-8 survives a round trip through a link or a form.
public struct FormData: Sendable {
    public private(set) var pairs: [(name: String, value: [UInt8])] = []

    public init(_ encoded: some Collection<UInt8>) {
        for part in encoded.split(separator: UInt8(ascii: "&")) where !part.isEmpty {
            let halves = part.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(decoding: Self.decode(halves[0]), as: UTF8.self)
            pairs.append((name, halves.count > 1 ? Self.decode(halves[1]) : []))
        }
    }

    public init(query: String?) {
        self.init(Array((query ?? "").utf8))
    }

    /// The first value of `name`, as bytes.
    public func bytes(_ name: String) -> [UInt8]? {
        pairs.first { $0.name == name }?.value
    }

    /// The first value of `name` as text, trimmed; nil when missing or blank.
    public func text(_ name: String) -> String? {
        guard let bytes = bytes(name) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).trimmingSpaces
        return text.isEmpty ? nil : text
    }

    /// `+` is a space; `%XX` a byte; a `%` not followed by two hex digits stays as it is.
    static func decode(_ encoded: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(encoded.count)
        var index = encoded.startIndex
        while index != encoded.endIndex {
            let byte = encoded[index]
            if byte == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), let high = encoded.index(index, offsetBy: 1, limitedBy: encoded.endIndex),
                high != encoded.endIndex, let low = encoded.index(high, offsetBy: 1, limitedBy: encoded.endIndex), low != encoded.endIndex,
                let h = hexValue(encoded[high]), let l = hexValue(encoded[low])
            {
                out.append(h << 4 | l)
                index = low
            } else {
                out.append(byte)
            }
            index = encoded.index(after: index)
        }
        return out
    }

    /// Bytes as a query value: unreserved ASCII as it is, everything else `%XX`.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A query string from pairs, leaving out empty values.
    public static func query(_ pairs: [(String, [UInt8]?)]) -> String {
        let parts = pairs.compactMap { name, value in value.flatMap { $0.isEmpty ? nil : name + "=" + encode($0) } }
        return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
