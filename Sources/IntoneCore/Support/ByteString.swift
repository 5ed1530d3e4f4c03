/// Bytes as Redis stores them: job, agent and user ids, keys.
///
/// Compared, hashed and echoed byte for byte. Swift's `String` compares by Unicode
/// canonical equivalence (`café` composed equals `café` decomposed) and decoding
/// invalid UTF-8 replaces bytes, so two different ids could become one. `String` is
/// only for showing an id to people (`description`, escaped).
public struct ByteString: Hashable, Sendable, Comparable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    public init<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        self.bytes = Array(bytes)
    }

    public init(_ text: String) {
        bytes = Array(text.utf8)
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    public var isEmpty: Bool { bytes.isEmpty }
    public var count: Int { bytes.count }

    /// The text, when the bytes are valid UTF-8.
    public var utf8String: String? { String(validating: bytes, as: UTF8.self) }

    /// For people: printable text as it is; control characters, backslashes and bytes
    /// that are not UTF-8 as `\xNN` escapes. A newline in an id cannot forge a log line
    /// or a table row, and an escape sequence cannot reach a terminal.
    public var description: String { DisplayText.escaped(bytes) }

    public static func + (lhs: ByteString, rhs: ByteString) -> ByteString { ByteString(lhs.bytes + rhs.bytes) }

    public static func < (lhs: ByteString, rhs: ByteString) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }

    public func hasPrefix(_ prefix: ByteString) -> Bool { bytes.starts(with: prefix.bytes) }

    public var argument: RedisArgument { .bytes(bytes) }
}

/// Text from outside (ids, job fields, Redis values) made safe to show on a terminal, in a
/// log line or in a table.
public enum DisplayText {
    /// Keeps printable characters; writes C0 and C1 controls, DEL, backslash and invalid
    /// UTF-8 as `\xNN` (and `\\`).
    public static func escaped(_ bytes: [UInt8]) -> String {
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        var out = ""
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte < 0x80 {
                if byte < 0x20 || byte == 0x7F {
                    out += hex(byte)
                } else if byte == UInt8(ascii: "\\") {
                    out += "\\\\"
                } else {
                    out.unicodeScalars.append(Unicode.Scalar(byte))
                }
                index += 1
                continue
            }
            // A multi-byte sequence: kept when it is valid UTF-8 and not a C1 control or
            // a bidirectional override, escaped byte by byte otherwise.
            let length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
            if index + length <= bytes.count, let text = String(validating: bytes[index..<index + length], as: UTF8.self),
                let scalar = text.unicodeScalars.first, !isHidden(scalar)
            {
                out += text
                index += length
            } else {
                out += hex(byte)
                index += 1
            }
        }
        return out
    }

    public static func escaped(_ text: String) -> String { escaped(Array(text.utf8)) }

    private static func isHidden(_ scalar: Unicode.Scalar) -> Bool {
        (0x80...0x9F).contains(scalar.value) || (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value)
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return "\\x" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
    }
}
