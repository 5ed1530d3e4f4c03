/// Turns the bytes of an audio key into something a browser's `<audio>` plays.
///
/// - `wav*`: served as they are; a streamed WAV (its chunks concatenated) starts with a
///   header whose RIFF and data sizes are `0xFFFFFFFF` (length unknown while
///   streaming), so the sizes are set to the real ones.
/// - `pcm_<rate>`: raw 16-bit little-endian mono, given a WAV header (format 1).
/// - `ulaw_8000`, `alaw_8000`: raw G.711, given a WAV header of its own format
///   (7 μ-law, 6 A-law; 8 bits, 8000 Hz): the bytes are unchanged.
/// - `flac*`, `opus*`, `mp3*`: served as they are with their content type.
///
/// Only audio content types are ever sent: the `content_type` of a result is data from
/// Redis, and serving it as `text/html` would run a crafted "audio" as a page.
public enum AudioPlayback {
    public enum Encoding: Sendable, Equatable {
        case wav
        case pcm(sampleRate: Int)
        case ulaw
        case alaw
        /// Served as it is, with this (allowed) content type.
        case file(contentType: String)
    }

    /// Content types served as they are; anything else is not served as audio.
    static let allowedContentTypes: Set<String> = [
        "audio/wav", "audio/x-wav", "audio/wave", "audio/flac", "audio/ogg", "audio/ogg;codecs=opus", "audio/opus", "audio/mpeg",
        "audio/mp3", "audio/webm", "audio/aac", "audio/mp4",
    ]

    /// How to serve audio, from the result's `format` (the contract's names) and, when
    /// there is none, its `content_type`; without either it is WAV (contract version 1).
    public static func encoding(format: String?, contentType: String?) -> Encoding? {
        if let format = format?.lowercased(), !format.isEmpty {
            let parts = format.split(separator: "_")
            switch parts.first {
            case "wav": return .wav
            case "pcm":
                guard parts.count == 2, let rate = Int(parts[1]), (1000...384_000).contains(rate) else { return nil }
                return .pcm(sampleRate: rate)
            case "ulaw": return .ulaw
            case "alaw": return .alaw
            case "flac": return .file(contentType: "audio/flac")
            case "opus": return .file(contentType: "audio/ogg;codecs=opus")
            case "mp3": return .file(contentType: "audio/mpeg")
            default: return nil
            }
        }
        guard let type = contentType.map(normalized), !type.isEmpty else { return .wav }
        if type.hasPrefix("audio/pcm") {
            let rate = type.split(separator: ";").compactMap { part -> Int? in
                part.hasPrefix("rate=") ? Int(part.dropFirst(5)) : nil
            }.first
            return rate.map { .pcm(sampleRate: $0) }
        }
        switch type {
        case "audio/basic": return .ulaw
        case "audio/x-alaw-basic": return .alaw
        case "audio/wav", "audio/x-wav", "audio/wave": return .wav
        default: return allowedContentTypes.contains(type) ? .file(contentType: type) : nil
        }
    }

    /// The bytes to serve and their content type.
    public static func playable(_ bytes: [UInt8], encoding: Encoding) -> (bytes: [UInt8], contentType: String) {
        switch encoding {
        case .wav:
            var fixed = bytes
            fixWAVSizes(&fixed)
            return (fixed, "audio/wav")
        case .pcm(let rate):
            let even = bytes.count & ~1
            return (wavHeader(dataBytes: even, formatTag: 1, sampleRate: rate, bitsPerSample: 16) + bytes[..<even], "audio/wav")
        case .ulaw:
            return (wavHeader(dataBytes: bytes.count, formatTag: 7, sampleRate: 8000, bitsPerSample: 8) + bytes, "audio/wav")
        case .alaw:
            return (wavHeader(dataBytes: bytes.count, formatTag: 6, sampleRate: 8000, bitsPerSample: 8) + bytes, "audio/wav")
        case .file(let contentType):
            return (bytes, contentType)
        }
    }

    /// A WAV header for mono samples: `fmt ` (18 bytes for the G.711 formats, with the
    /// `fact` chunk their specification asks for) and the `data` chunk's header.
    public static func wavHeader(dataBytes: Int, formatTag: UInt16, sampleRate: Int, bitsPerSample: Int) -> [UInt8] {
        let pcm = formatTag == 1
        let blockAlign = bitsPerSample / 8
        var header: [UInt8] = []
        func text(_ value: String) { header += Array(value.utf8) }
        func u16(_ value: Int) { header += [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)] }
        func u32(_ value: Int) {
            header += [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 24 & 0xFF)]
        }
        let fmtSize = pcm ? 16 : 18
        let factSize = pcm ? 0 : 12
        text("RIFF")
        u32(4 + (8 + fmtSize) + factSize + 8 + dataBytes)
        text("WAVE")
        text("fmt ")
        u32(fmtSize)
        u16(Int(formatTag))
        u16(1)
        u32(sampleRate)
        u32(sampleRate * blockAlign)
        u16(blockAlign)
        u16(bitsPerSample)
        if !pcm {
            u16(0)
            text("fact")
            u32(4)
            u32(dataBytes / max(blockAlign, 1))
        }
        text("data")
        u32(dataBytes)
        return header
    }

    /// Sets the RIFF size and the `data` size of a WAV to what the bytes hold, as a
    /// streamed WAV's first chunk leaves them `0xFFFFFFFF`. Bytes that are not a WAV
    /// are left alone.
    public static func fixWAVSizes(_ bytes: inout [UInt8]) {
        guard bytes.count >= 12, bytes[0..<4].elementsEqual("RIFF".utf8), bytes[8..<12].elementsEqual("WAVE".utf8) else { return }
        func put(_ value: Int, at offset: Int) {
            let clamped = UInt32(clamping: value)
            for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: clamped >> (8 * UInt32(i))) }
        }
        put(bytes.count - 8, at: 4)
        var offset = 12
        while offset + 8 <= bytes.count {
            let size = Int(bytes[offset + 4]) | Int(bytes[offset + 5]) << 8 | Int(bytes[offset + 6]) << 16 | Int(bytes[offset + 7]) << 24
            if bytes[offset..<offset + 4].elementsEqual("data".utf8) {
                put(bytes.count - offset - 8, at: offset + 4)
                return
            }
            guard size != 0xFFFF_FFFF else { return }
            offset += 8 + size + (size & 1)
        }
    }

    /// The audio of a streamed job: the `data` of its chunks in order (the stream's ids
    /// `0-1`, `0-2`, … are in `seq` order), and whether the last chunk (`last` = 1) is among them.
    public static func concatenate(_ chunks: [StreamEntry]) -> (bytes: [UInt8], complete: Bool) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(chunks.reduce(0) { $0 + ($1.value("data")?.count ?? 0) })
        var complete = false
        for chunk in chunks {
            bytes += chunk.value("data") ?? []
            if chunk.value("last") == Array("1".utf8) { complete = true }
        }
        return (bytes, complete)
    }

    static func normalized(_ contentType: String) -> String {
        String(contentType.lowercased().filter { $0 != " " })
    }
}
