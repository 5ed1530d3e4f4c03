/// The frames a worker and its synthesizer children exchange over pipes.
///
/// Every frame is a little-endian `UInt32` length followed by that many bytes. The
/// child speaks first (`ready`), then answers each request with `audio` or `failure`;
/// a streamed request gets its `chunk`s first, in order, as they are rendered.
enum SynthesizerWire {
    static let headerSize = 4
    /// Guards against a corrupt length; the largest legal reply is well below it.
    static let maximumFrame = 1 << 30

    enum Message: Equatable {
        case request(SpeechRequest)
        case ready(sampleRate: Int, catalog: VoiceCatalog)
        case audio(RenderedAudio)
        case failure(SynthesisError)
        /// One piece of a streamed reply, ready to be written as it is.
        case chunk([UInt8])
    }

    private enum Kind: UInt8 {
        case request = 1
        case ready = 2
        case audio = 3
        case failure = 4
        case chunk = 5
    }

    private static let failureCodes: [SynthesisError.Code] = [.crashed, .timeout, .unknownVoice, .unavailable]

    /// The whole frame, header included.
    static func encode(_ message: Message) -> [UInt8] {
        var out: [UInt8] = [0, 0, 0, 0]
        switch message {
        case .request(let request):
            out.append(Kind.request.rawValue)
            appendUInt32(request.rate, to: &out)
            appendUInt32(request.pitch, to: &out)
            out.append(request.streamed ? 1 : 0)
            appendString(request.format.name, to: &out)
            appendString(request.voice, to: &out)
            out.append(contentsOf: request.text.utf8)
        case .ready(let sampleRate, let catalog):
            out.append(Kind.ready.rawValue)
            appendUInt32(sampleRate, to: &out)
            out.append(contentsOf: catalog.encoded().utf8)
        case .audio(let audio):
            out.reserveCapacity(out.count + 64 + audio.bytes.count)
            out.append(Kind.audio.rawValue)
            appendUInt32(audio.sampleRate, to: &out)
            appendUInt32(audio.sampleCount, to: &out)
            appendUInt32(audio.synthesisMicroseconds, to: &out)
            appendUInt32(audio.encodingMicroseconds, to: &out)
            appendString(audio.format, to: &out)
            appendString(audio.contentType, to: &out)
            out.append(contentsOf: audio.bytes)
        case .failure(let error):
            out.append(Kind.failure.rawValue)
            appendString(error.code.name, to: &out)
            out.append(contentsOf: error.message.utf8)
        case .chunk(let bytes):
            out.reserveCapacity(out.count + 1 + bytes.count)
            out.append(Kind.chunk.rawValue)
            out.append(contentsOf: bytes)
        }
        let length = UInt32(out.count - headerSize)
        for i in 0..<4 { out[i] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(i))) }
        return out
    }

    /// The length a header announces, or nil when it is not believable.
    static func payloadLength(header: some Collection<UInt8>) -> Int? {
        guard header.count >= headerSize else { return nil }
        var length = 0
        for (i, byte) in header.prefix(headerSize).enumerated() { length |= Int(byte) << (8 * i) }
        return length <= maximumFrame ? length : nil
    }

    /// Decodes a payload (the bytes after the header).
    static func decode(_ payload: ArraySlice<UInt8>) -> Message? {
        var reader = Reader(bytes: payload)
        guard let kindByte = reader.byte(), let kind = Kind(rawValue: kindByte) else { return nil }
        switch kind {
        case .request:
            guard let rate = reader.uint32(), let pitch = reader.uint32(), let streamed = reader.byte(), let formatName = reader.string(),
                let format = try? AudioFormat(parsing: formatName), let voice = reader.string()
            else {
                return nil
            }
            return .request(
                SpeechRequest(text: reader.rest(), voice: voice, rate: rate, pitch: pitch, streamed: streamed == 1, format: format))
        case .ready:
            guard let sampleRate = reader.uint32() else { return nil }
            return .ready(sampleRate: sampleRate, catalog: VoiceCatalog(decoding: reader.rest()))
        case .audio:
            guard let sampleRate = reader.uint32(), let count = reader.uint32(), let synthesis = reader.uint32(),
                let encoding = reader.uint32(), let format = reader.string(), let contentType = reader.string()
            else { return nil }
            return .audio(
                RenderedAudio(
                    bytes: Array(reader.remaining), format: format, contentType: contentType, sampleRate: sampleRate, sampleCount: count,
                    synthesisMicroseconds: synthesis, encodingMicroseconds: encoding))
        case .failure:
            guard let name = reader.string() else { return nil }
            let code = failureCodes.first { $0.name == name } ?? .crashed
            return .failure(SynthesisError(code, reader.rest()))
        case .chunk:
            return .chunk(Array(reader.remaining))
        }
    }

    private static func appendUInt32(_ value: Int, to out: inout [UInt8]) {
        let v = UInt32(clamping: value)
        for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
    }

    private static func appendString(_ text: String, to out: inout [UInt8]) {
        appendUInt32(text.utf8.count, to: &out)
        out.append(contentsOf: text.utf8)
    }

    private struct Reader {
        var remaining: ArraySlice<UInt8>

        init(bytes: ArraySlice<UInt8>) { remaining = bytes }

        mutating func byte() -> UInt8? { remaining.popFirst() }

        mutating func uint32() -> Int? {
            guard remaining.count >= 4 else { return nil }
            var value = 0
            for (i, byte) in remaining.prefix(4).enumerated() { value |= Int(byte) << (8 * i) }
            remaining = remaining.dropFirst(4)
            return value
        }

        mutating func string() -> String? {
            guard let length = uint32(), remaining.count >= length else { return nil }
            defer { remaining = remaining.dropFirst(length) }
            return String(decoding: remaining.prefix(length), as: UTF8.self)
        }

        mutating func rest() -> String {
            defer { remaining = [] }
            return String(decoding: remaining, as: UTF8.self)
        }
    }
}
