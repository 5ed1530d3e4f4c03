/// A Lua script called by its SHA1 (EVALSHA), and with its source (EVAL) when Redis has
/// lost it.
///
/// The SHA1 is computed here, the way Redis computes it, so a call needs no `SCRIPT
/// LOAD` round trip first. A NOSCRIPT reply (after `SCRIPT FLUSH` or a restart) means
/// the script did not run, so the next call sends the source, which runs it and caches
/// it again: its effects never happen twice.
public final class RedisScript: @unchecked Sendable {
    public let name: String
    public let source: String
    public let sha: String
    /// Set after a NOSCRIPT: the next call carries the source.
    public private(set) var missing = false

    public init(name: String, source: String) {
        self.name = name
        self.source = source
        sha = SHA1.hex(Array(source.utf8))
    }

    /// The first words of the next call: `EVALSHA sha` or, after a NOSCRIPT, `EVAL source`.
    public var callPrefix: [RedisArgument] { missing ? ["EVAL", .string(source)] : ["EVALSHA", .string(sha)] }

    /// Redis answered NOSCRIPT (or the script ran again from its source).
    public func markMissing(_ missing: Bool) {
        self.missing = missing
    }

    /// Loads the script (for callers outside the loop that prefer to).
    public func load(on connection: RedisConnection) throws(RedisError) {
        let reply = try connection.command("SCRIPT", "LOAD", .string(source))
        guard reply.string == sha else { throw RedisError.unexpected("SCRIPT LOAD \(name)", reply) }
        missing = false
    }

    /// The words of a whole call: `EVALSHA sha numkeys keys… args…`.
    public func call(keys: [RedisArgument], arguments: [RedisArgument]) -> [RedisArgument] {
        callPrefix + [.integer(keys.count)] + keys + arguments
    }
}

/// SHA-1 (FIPS 180-4), only to name Lua scripts as Redis does.
enum SHA1 {
    static func hex(_ message: [UInt8]) -> String {
        var h: [UInt32] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0]
        var data = message
        let bitLength = UInt64(message.count) * 8
        data.append(0x80)
        while data.count % 64 != 56 { data.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { data.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        var w = [UInt32](repeating: 0, count: 80)
        for block in stride(from: 0, to: data.count, by: 64) {
            for i in 0..<16 {
                let j = block + 4 * i
                w[i] = UInt32(data[j]) << 24 | UInt32(data[j + 1]) << 16 | UInt32(data[j + 2]) << 8 | UInt32(data[j + 3])
            }
            for i in 16..<80 {
                let x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]
                w[i] = x << 1 | x >> 31
            }
            var (a, b, c, d, e) = (h[0], h[1], h[2], h[3], h[4])
            for i in 0..<80 {
                let (f, k): (UInt32, UInt32) =
                    switch i {
                    case 0..<20: ((b & c) | (~b & d), 0x5A82_7999)
                    case 20..<40: (b ^ c ^ d, 0x6ED9_EBA1)
                    case 40..<60: ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC)
                    default: (b ^ c ^ d, 0xCA62_C1D6)
                    }
                let temp = (a << 5 | a >> 27) &+ f &+ e &+ k &+ w[i]
                e = d
                d = c
                c = b << 30 | b >> 2
                b = a
                a = temp
            }
            h[0] &+= a
            h[1] &+= b
            h[2] &+= c
            h[3] &+= d
            h[4] &+= e
        }
        let digits = Array("0123456789abcdef")
        var out = ""
        for word in h {
            for shift in stride(from: 28, through: 0, by: -4) { out.append(digits[Int(word >> UInt32(shift) & 0xF)]) }
        }
        return out
    }
}
