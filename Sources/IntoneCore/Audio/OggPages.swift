/// Ogg's page checksum (RFC 3533), for the pages `OggOpusWriter` writes.
enum OggPages {
    /// Ogg's CRC-32: polynomial 0x04c11db7, most significant bit first, no reflection,
    /// initial value and final XOR 0, over the page with its CRC field zeroed.
    static func checksum(_ page: [UInt8]) -> UInt32 {
        page.reduce(UInt32(0)) { crc, byte in (crc << 8) ^ table[Int((crc >> 24) ^ UInt32(byte))] }
    }

    private static let table: [UInt32] = (0..<256).map { index in
        (0..<8).reduce(UInt32(index) << 24) { crc, _ in crc & 0x8000_0000 != 0 ? (crc << 1) ^ 0x04c1_1db7 : crc << 1 }
    }
}
