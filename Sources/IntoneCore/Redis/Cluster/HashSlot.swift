/// One of the 16384 hash slots of a Redis Cluster.
///
/// A key's slot is CRC16 (XMODEM) of its hash tag, or of the whole key when it has
/// none, modulo 16384 (Redis Cluster specification, "Keys distribution model"). The
/// hash tag is what lies between the first `{` and the first `}` after it, when that
/// is not empty; only the first `{` counts, so `{}{a}` is hashed whole. Keys are bytes.
public struct HashSlot: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// How many slots a cluster has.
    public static let count = 16384

    public let rawValue: UInt16

    /// A slot number, nil when it is 16384 or more.
    public init?(rawValue: UInt16) {
        guard Int(rawValue) < Self.count else { return nil }
        self.rawValue = rawValue
    }

    public init?(_ value: Int) {
        guard (0..<Self.count).contains(value) else { return nil }
        rawValue = UInt16(value)
    }

    /// The slot of a key, as `CLUSTER KEYSLOT` computes it.
    public init(forKey key: [UInt8]) {
        rawValue = Self.crc16(Self.hashedPart(of: key)) & UInt16(Self.count - 1)
    }

    /// The slot of a key given as text (its UTF-8 bytes).
    public init(forKey key: String) {
        self.init(forKey: Array(key.utf8))
    }

    /// The slot of a key, as `CLUSTER KEYSLOT` computes it.
    public static func slot(forKey key: [UInt8]) -> HashSlot {
        HashSlot(forKey: key)
    }

    public var description: String { String(rawValue) }

    public static func < (lhs: HashSlot, rhs: HashSlot) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The bytes that decide the slot: the first non-empty `{…}` tag, else the whole key.
    public static func hashedPart(of key: [UInt8]) -> ArraySlice<UInt8> {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")),
            close > open + 1
        else { return key[...] }
        return key[(open + 1)..<close]
    }

    /// CRC16-CCITT in the XMODEM variant (polynomial 0x1021, initial value 0, no reflection).
    public static func crc16<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ crc16Table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let crc16Table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}
