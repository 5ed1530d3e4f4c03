import COpus

/// One mono Ogg Opus file (RFC 7845), encoded into memory with libopus directly, so that
/// the encoder's effort (`OpusEffort`) can be chosen: libsndfile always runs libopus at
/// its highest complexity, about 14 times the CPU of the render itself.
///
/// Frames are 20 ms. Pages hold up to 50 packets (one second), so that a page's own 27
/// bytes and lacing cost little at low bitrates. The first page holds OpusHead, the second
/// OpusTags, and the last page's granule position trims the padding at the end, so a
/// decoder gives back exactly the samples written. With one libopus build the output
/// depends only on the samples and the settings: the serial number is the caller's and
/// nothing comes from the clock (another libopus version, or another CPU's code paths,
/// may encode differently).
final class OggOpusWriter: AudioFileWriter {
    private let encoder: OpaquePointer
    private let sampleRate: Int
    private let serialNumber: UInt32
    /// Samples per 20 ms frame at `sampleRate`.
    private let frameLength: Int
    /// 48 kHz samples per sample at `sampleRate` (granule positions count at 48 kHz).
    private let granuleScale: Int
    /// The encoder's delay, at `sampleRate`; the decoder skips it (`pre-skip`).
    private let lookahead: Int
    private var frame: [Int16] = []
    private var samplesWritten = 0
    private var packetsEncoded = 0
    private var packet = [UInt8](repeating: 0, count: 1500)
    private var page = Page()
    private var pageSequence: UInt32 = 0
    private var finished: [UInt8] = []
    private var closed = false

    static let packetsPerPage = 50

    init(sampleRate: Int, kilobitsPerSecond: Int, effort: OpusEffort, serialNumber: UInt32) throws(AudioError) {
        var status: Int32 = OPUS_OK
        guard let encoder = opus_encoder_create(Int32(sampleRate), 1, effort.application, &status), status == OPUS_OK else {
            throw AudioError(.encoding, "libopus cannot encode at \(sampleRate) Hz: \(Self.describe(status))")
        }
        var lookahead: Int32 = 0
        for (request, result) in [
            ("bitrate \(kilobitsPerSecond) kbit/s", intone_opus_set_bitrate(encoder, Int32(kilobitsPerSecond * 1000))),
            ("complexity \(effort.complexity)", intone_opus_set_complexity(encoder, effort.complexity)),
            ("the voice signal type", intone_opus_set_signal_voice(encoder)),
            ("its lookahead", intone_opus_get_lookahead(encoder, &lookahead)),
        ] where result != OPUS_OK {
            // No stored property is set yet, so deinit does not run: the encoder is freed here, once.
            opus_encoder_destroy(encoder)
            throw AudioError(.encoding, "libopus refused \(request): \(Self.describe(result))")
        }
        self.encoder = encoder
        self.sampleRate = sampleRate
        self.serialNumber = serialNumber
        frameLength = sampleRate / 50
        granuleScale = 48000 / sampleRate
        self.lookahead = Int(lookahead)
        frame.reserveCapacity(frameLength)
        writeHeaders()
    }

    deinit {
        opus_encoder_destroy(encoder)
    }

    func write(_ samples: UnsafeBufferPointer<Int16>) throws(AudioError) {
        guard !closed else { throw AudioError(.misuse, "the Opus file is closed") }
        var rest = samples[...]
        while !rest.isEmpty {
            let taken = rest.prefix(frameLength - frame.count)
            frame.append(contentsOf: taken)
            rest = rest.dropFirst(taken.count)
            if frame.count == frameLength { try encodeFrame() }
        }
        samplesWritten += samples.count
    }

    func takeBytes(_ count: Int?) -> [UInt8] {
        let taken = count.map { min($0, finished.count) } ?? finished.count
        defer { finished.removeFirst(taken) }
        return Array(finished.prefix(taken))
    }

    var pendingBytes: [UInt8] { finished }

    /// Encodes silence until the decoder has every sample written (the encoder's delay
    /// and the last partial frame), ends the stream and returns the bytes not yet taken.
    func close() throws(AudioError) -> [UInt8] {
        guard !closed else { throw AudioError(.misuse, "the Opus file is closed") }
        let framesNeeded = (samplesWritten + lookahead + frameLength - 1) / frameLength
        while packetsEncoded < framesNeeded {
            frame.append(contentsOf: repeatElement(0, count: frameLength - frame.count))
            try encodeFrame()
        }
        closed = true
        // Granule positions count decoded samples at 48 kHz, pre-skip included: the last
        // page's is below the sum of its packets, which tells the decoder to drop the padding.
        page.granulePosition = Int64((lookahead + samplesWritten) * granuleScale)
        flushPage(endOfStream: true)
        return takeBytes(nil)
    }

    private func encodeFrame() throws(AudioError) {
        let length = frame.withUnsafeBufferPointer { samples in
            packet.withUnsafeMutableBufferPointer { output in
                guard let input = samples.baseAddress, let bytes = output.baseAddress else { return OPUS_BAD_ARG }
                return opus_encode(encoder, input, Int32(frameLength), bytes, Int32(output.count))
            }
        }
        guard length >= 0 else { throw AudioError(.encoding, "libopus failed to encode a frame: \(Self.describe(length))") }
        frame.removeAll(keepingCapacity: true)
        let lacing = Page.lacing(of: Int(length))
        if page.packets == Self.packetsPerPage || page.segments.count + lacing.count > 255 { flushPage(endOfStream: false) }
        page.append(packet[0..<Int(length)], lacing: lacing)
        packetsEncoded += 1
        page.granulePosition = Int64(packetsEncoded * frameLength * granuleScale)
    }

    /// OpusHead (RFC 7845 5.1) alone on the first page, OpusTags (5.2) on the second.
    private func writeHeaders() {
        var head = Array("OpusHead".utf8) + [1, 1]
        head += Self.littleEndian(UInt16(lookahead * granuleScale)) + Self.littleEndian(UInt32(sampleRate))
        head += [0, 0, 0]  // output gain 0 dB, channel mapping family 0
        let vendor = Array(String(cString: opus_get_version_string()).utf8)
        let tags = Array("OpusTags".utf8) + Self.littleEndian(UInt32(vendor.count)) + vendor + Self.littleEndian(UInt32(0))
        for header in [head, tags] {
            page.append(header[...], lacing: Page.lacing(of: header.count))
            flushPage(endOfStream: false)
        }
    }

    private func flushPage(endOfStream: Bool) {
        var flags: UInt8 = pageSequence == 0 ? 0x02 : 0
        if endOfStream { flags |= 0x04 }
        var bytes = Array("OggS".utf8) + [0, flags]
        bytes += Self.littleEndian(UInt64(bitPattern: page.granulePosition))
        bytes += Self.littleEndian(serialNumber) + Self.littleEndian(pageSequence) + [0, 0, 0, 0]
        bytes += [UInt8(page.segments.count)] + page.segments + page.body
        bytes.replaceSubrange(22..<26, with: Self.littleEndian(OggPages.checksum(bytes)))
        finished += bytes
        pageSequence += 1
        page = Page()
    }

    private static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian, Array.init)
    }

    private static func describe(_ status: Int32) -> String {
        String(cString: opus_strerror(status))
    }

    /// The page being filled: whole packets only, none continued on the next page.
    private struct Page {
        var segments: [UInt8] = []
        var body: [UInt8] = []
        var packets = 0
        var granulePosition: Int64 = 0

        mutating func append(_ packet: ArraySlice<UInt8>, lacing: [UInt8]) {
            segments += lacing
            body += packet
            packets += 1
        }

        /// A packet's lacing values: 255 for each whole 255 bytes, then the rest (0 too).
        static func lacing(of length: Int) -> [UInt8] {
            Array(repeating: 255, count: length / 255) + [UInt8(length % 255)]
        }
    }
}
