/// Rewrites the Ogg pages of an Ogg Opus file that libsndfile wrote, so that the same
/// audio always gives the same bytes and a small file stays small.
///
/// - libsndfile draws each stream's serial number from the clock
///   (`psf_rand_int32`), so two renders of one reply would differ; every page gets
///   the serial number the caller chooses instead.
/// - libsndfile pads the OpusTags packet to 512 bytes or more (room for tags to be
///   added in place later, which nothing here does). RFC 7845 allows the padding and
///   decoders ignore it; without it a one-second chunk of a streamed reply at 6 kbit/s
///   is half its size.
///
/// Every page gets its CRC computed again.
enum OggPages {
    static func normalize(_ input: [UInt8], serialNumber: UInt32) throws(AudioError) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        var offset = 0
        while offset < input.count {
            guard offset + 27 <= input.count, input[offset..<offset + 4].elementsEqual("OggS".utf8) else {
                throw AudioError(.encoding, "libsndfile wrote an Ogg stream with no page at byte \(offset)")
            }
            let segmentCount = Int(input[offset + 26])
            let bodyStart = offset + 27 + segmentCount
            guard bodyStart <= input.count else { throw AudioError(.encoding, "a truncated Ogg page at byte \(offset)") }
            var segments = Array(input[offset + 27..<bodyStart])
            let bodyLength = segments.reduce(0) { $0 + Int($1) }
            guard bodyStart + bodyLength <= input.count else { throw AudioError(.encoding, "a truncated Ogg page at byte \(offset)") }
            var header = Array(input[offset..<offset + 26])
            var body = Array(input[bodyStart..<bodyStart + bodyLength])
            offset = bodyStart + bodyLength

            // A page that holds the whole OpusTags packet and nothing else (libsndfile
            // flushes it alone; a last lacing value under 255 ends the packet).
            if body.starts(with: "OpusTags".utf8), let last = segments.last, last < 255, let used = tagsLength(body), used < body.count {
                body.removeLast(body.count - used)
                segments = Array(repeating: 255, count: used / 255) + [UInt8(used % 255)]
            }
            withUnsafeBytes(of: serialNumber.littleEndian) { header.replaceSubrange(14..<18, with: $0) }
            header.replaceSubrange(22..<26, with: [0, 0, 0, 0])
            var page = header + [UInt8(segments.count)] + segments + body
            let crc = checksum(page)
            withUnsafeBytes(of: crc.littleEndian) { page.replaceSubrange(22..<26, with: $0) }
            output.append(contentsOf: page)
        }
        return output
    }

    /// The length of an OpusTags packet without its padding: magic, vendor string and
    /// the user comments, each a 32-bit little-endian length and its bytes.
    static func tagsLength(_ packet: [UInt8]) -> Int? {
        func length(at index: Int) -> Int? {
            guard index + 4 <= packet.count else { return nil }
            return packet[index..<index + 4].reversed().reduce(0) { $0 << 8 | Int($1) }
        }
        var cursor = 8
        guard let vendor = length(at: cursor) else { return nil }
        cursor += 4 + vendor
        guard let count = length(at: cursor) else { return nil }
        cursor += 4
        for _ in 0..<count {
            guard let comment = length(at: cursor) else { return nil }
            cursor += 4 + comment
        }
        return cursor <= packet.count ? cursor : nil
    }

    /// Ogg's CRC-32: polynomial 0x04c11db7, most significant bit first, no reflection,
    /// initial value and final XOR 0, over the page with its CRC field zeroed.
    static func checksum(_ page: [UInt8]) -> UInt32 {
        page.reduce(UInt32(0)) { crc, byte in (crc << 8) ^ table[Int((crc >> 24) ^ UInt32(byte))] }
    }

    private static let table: [UInt32] = (0..<256).map { index in
        (0..<8).reduce(UInt32(index) << 24) { crc, _ in crc & 0x8000_0000 != 0 ? (crc << 1) ^ 0x04c1_1db7 : crc << 1 }
    }
}
