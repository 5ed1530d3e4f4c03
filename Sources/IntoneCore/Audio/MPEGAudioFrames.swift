/// Frame boundaries in an MPEG Layer III stream, so that the chunks of a streamed MP3
/// reply end where frames end.
///
/// LAME hands out its bytes as soon as they are final, which is usually in the middle of
/// a frame: with the bit reservoir, the rest of a frame's slot is filled by the main
/// data of the next one. A chunk therefore takes only the frames whose every byte is
/// out, and the rest waits for the next chunk.
enum MPEGAudioFrames {
    /// The length of the longest prefix of `bytes` that is whole frames (after an ID3v2
    /// tag, if the stream starts with one); nil when `bytes` does not start with a frame
    /// header or a tag.
    static func wholeFramesLength(_ bytes: [UInt8]) -> Int? {
        var offset = 0
        if bytes.count >= 10, bytes[0] == UInt8(ascii: "I"), bytes[1] == UInt8(ascii: "D"), bytes[2] == UInt8(ascii: "3") {
            // Syncsafe size (7 bits a byte), plus the header and an optional footer.
            let size = bytes[6...9].reduce(0) { $0 << 7 | Int($1 & 0x7f) }
            offset = 10 + size + (bytes[5] & 0x10 != 0 ? 10 : 0)
            if offset > bytes.count { return 0 }
        }
        var whole = offset
        while whole + 4 <= bytes.count {
            guard let length = frameLength(bytes[whole], bytes[whole + 1], bytes[whole + 2]) else {
                return whole == 0 ? nil : whole
            }
            guard whole + length <= bytes.count else { break }
            whole += length
        }
        return whole
    }

    /// The length in bytes of the Layer III frame whose header starts with these bytes.
    static func frameLength(_ first: UInt8, _ second: UInt8, _ third: UInt8) -> Int? {
        // 11 sync bits, version (3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5), layer (1: III).
        guard first == 0xff, second & 0xe0 == 0xe0, (second >> 1) & 0x3 == 1 else { return nil }
        let version = (second >> 3) & 0x3
        guard version != 1 else { return nil }
        let bitrateIndex = Int(third >> 4)
        let rateIndex = Int((third >> 2) & 0x3)
        let padding = Int((third >> 1) & 0x1)
        guard (1...14).contains(bitrateIndex), rateIndex < 3 else { return nil }
        let mpeg1 = version == 3
        let kilobits = (mpeg1 ? mpeg1Bitrates : mpeg2Bitrates)[bitrateIndex]
        let sampleRate = [44100, 48000, 32000][rateIndex] >> (mpeg1 ? 0 : version == 2 ? 1 : 2)
        // 1152 samples a frame in MPEG-1, 576 in MPEG-2 and 2.5: bytes = samples / 8 × bitrate / rate.
        return (mpeg1 ? 144 : 72) * kilobits * 1000 / sampleRate + padding
    }

    private static let mpeg1Bitrates = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320]
    private static let mpeg2Bitrates = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]
}
