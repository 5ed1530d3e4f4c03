import Foundation
import Testing

@testable import IntoneCore

/// The bytes of every format, checked with an independent decoder (Debian's ffmpeg and
/// ffprobe) on real espeak-ng speech (the `espeak-ng` command line).
@Suite("Audio encoding")
struct AudioEncodingTests {
    static let decodedFormats = [
        "wav", "wav_8000", "wav_16000", "wav_48000", "pcm_8000", "pcm_16000", "pcm_22050", "pcm_44100", "ulaw_8000", "alaw_8000",
        "flac", "flac_8000", "flac_48000", "opus", "opus_8000_6", "opus_12000", "opus_16000", "opus_48000_256", "mp3",
        "mp3_16000_8", "mp3_24000", "mp3_24000_8", "mp3_32000_32", "mp3_44100", "mp3_48000_320",
    ]

    @Test("ffmpeg decodes each format to the speech: rate, duration within 5%, correlation above 0.8", arguments: decodedFormats)
    func independentDecoderAgrees(_ name: String) async throws {
        let format = try AudioFormat(parsing: name)
        let speech = try await AudioWork.run { try Speech.sibilants.get() }
        let (bytes, frames) = try await AudioWork.run { try EncoderDriver().encode(speech, as: format) }
        let seconds = Double(speech.count) / Double(AudioFormat.engineSampleRate)
        #expect(abs(Double(frames) / Double(format.sampleRate) - seconds) < 0.01 * seconds)
        try checkHeader(bytes, format: format, frames: frames)

        let headerless = Tools.headerlessInput(format)
        if headerless == nil {
            let probe = try await AudioWork.run { try Tools.probe(bytes, fileExtension: format.fileExtension) }
            let expected: [AudioFormat.Codec: String] = [.wav: "pcm_s16le", .flac: "flac", .opus: "opus", .mp3: "mp3"]
            #expect(probe.codec == expected[format.codec])
            #expect(probe.channels == 1)
            // Opus always decodes at 48 kHz; its header carries the input rate (checked above).
            #expect(probe.sampleRate == (format.codec == .opus ? 48000 : format.sampleRate))
        }
        let decoded = try await AudioWork.run {
            try Tools.decode(bytes, fileExtension: format.fileExtension, input: headerless ?? [], rate: format.sampleRate)
        }
        let decodedSeconds = Double(decoded.count) / Double(format.sampleRate)
        #expect(abs(decodedSeconds - seconds) < 0.05 * seconds, "decoded \(decodedSeconds) s of \(seconds) s")
        try await expectSameSpeech(decoded, format: format)
    }

    @Test(
        "8 kHz output is band-limited: the 3.0-3.8 kHz share stays within 1.25 times the original's",
        arguments: ["ulaw_8000", "alaw_8000", "pcm_8000", "wav_8000"])
    func eightKilohertzHasNoAliasing(_ name: String) async throws {
        let format = try AudioFormat(parsing: name)
        let (ratio, droppedRatio) = try await AudioWork.run {
            let speech = try Speech.sibilants.get()
            let original = Signal.highBandRatio(speech, rate: AudioFormat.engineSampleRate)
            let (bytes, _) = try EncoderDriver().encode(speech, as: format)
            let decoded = try Tools.decode(
                bytes, fileExtension: format.fileExtension, input: Tools.headerlessInput(format) ?? [], rate: 8000)
            // Dropping samples instead folds the sibilants into the band: the measure tells.
            let dropped = (0..<speech.count * 8000 / AudioFormat.engineSampleRate).map { speech[$0 * AudioFormat.engineSampleRate / 8000] }
            return (Signal.highBandRatio(decoded, rate: 8000) / original, Signal.highBandRatio(dropped, rate: 8000) / original)
        }
        #expect(ratio < 1.25, "ratio \(ratio)")
        #expect(droppedRatio > 1.4, "sample dropping gives \(droppedRatio)")
    }

    static let byteStreams = [
        "pcm_8000", "pcm_16000", "pcm_22050", "pcm_48000", "ulaw_8000", "alaw_8000", "mp3", "mp3_16000_8", "mp3_48000_320", "mp3_44100",
    ]

    @Test("pcm, ulaw, alaw and mp3 chunks concatenate to exactly the bytes not streamed", arguments: byteStreams)
    func chunksConcatenate(_ name: String) async throws {
        let format = try AudioFormat(parsing: name)
        let speech = try await AudioWork.run { try Speech.sibilants.get() }
        let whole = try await AudioWork.run { try EncoderDriver(pieceSeed: 7, largestPiece: 9000).encode(speech, as: format) }
        let streamed = try await AudioWork.run {
            try EncoderDriver(pieceSeed: 3, largestPiece: 700, cutEvery: 15000).stream(speech, as: format)
        }
        #expect(streamed.chunks.count == (speech.count + 14999) / 15000)
        #expect(streamed.chunks.reduce([], +) == whole.bytes)
        #expect(streamed.frames == whole.frames)
        // The first chunk is out before the reply ends.
        #expect(!streamed.chunks[0].isEmpty)
        if format.codec == .mp3 {
            for chunk in streamed.chunks where !chunk.isEmpty {
                #expect(MPEGAudioFrames.wholeFramesLength(chunk) == chunk.count, "a chunk that is not whole frames")
            }
            // ffprobe's MP3 parser finds whole frames in each chunk too: their sizes add up.
            let first = streamed.chunks[0]
            let frames = try await AudioWork.run { try Tools.packetSizes(first, fileExtension: "mp3") }
            #expect(frames.reduce(0, +) == first.count && !frames.isEmpty)
        }
    }

    @Test("streamed wav starts with a header of unknown length and holds the same samples", arguments: ["wav", "wav_16000", "wav_8000"])
    func streamedWAV(_ name: String) async throws {
        let format = try AudioFormat(parsing: name)
        let speech = try await AudioWork.run { try Speech.sibilants.get() }
        let whole = try await AudioWork.run { try EncoderDriver().encode(speech, as: format) }
        let streamed = try await AudioWork.run { try EncoderDriver(cutEvery: 10000).stream(speech, as: format).chunks }
        let joined = streamed.reduce([], +)
        #expect(joined.count == whole.bytes.count)
        #expect(Array(joined[4..<8]) == [0xff, 0xff, 0xff, 0xff])
        #expect(Array(joined[40..<44]) == [0xff, 0xff, 0xff, 0xff])
        // The same header as libsndfile's but for the sizes, the same samples after it.
        #expect(Array(joined[8..<40]) == Array(whole.bytes[8..<40]))
        #expect(Array(joined[44...]) == Array(whole.bytes[44...]))
        let original = try WAVCodec.decode(whole.bytes)
        #expect(original.sampleRate == format.sampleRate)
        // A decoder that reads the stream as it comes (ffmpeg) takes it as it is.
        let decoded = try await AudioWork.run { try Tools.decode(joined, fileExtension: "wav", rate: format.sampleRate) }
        #expect(decoded == original.samples)
    }

    @Test(
        "each opus and flac chunk is a file of its own; in order they are the reply",
        arguments: ["opus", "opus_8000_6", "opus_48000_256", "flac", "flac_16000"])
    func chunksAreFiles(_ name: String) async throws {
        let format = try AudioFormat(parsing: name)
        let speech = try await AudioWork.run { try Speech.sibilants.get() }
        let streamed = try await AudioWork.run { try EncoderDriver().stream(speech, as: format) }
        let magic = format.codec == .opus ? Array("OggS".utf8) : Array("fLaC".utf8)
        var decoded: [Int16] = []
        for chunk in streamed.chunks where !chunk.isEmpty {
            #expect(Array(chunk.prefix(4)) == magic)
            decoded += try await AudioWork.run { try Tools.decode(chunk, fileExtension: format.fileExtension, rate: format.sampleRate) }
        }
        let seconds = Double(speech.count) / Double(AudioFormat.engineSampleRate)
        let decodedSeconds = Double(decoded.count) / Double(format.sampleRate)
        #expect(abs(decodedSeconds - seconds) < 0.05 * seconds, "decoded \(decodedSeconds) s of \(seconds) s")
        try await expectSameSpeech(decoded, format: format)
    }

    @Test("the same samples give the same bytes, however they are split", arguments: AudioFormat.Codec.allCases)
    func deterministic(_ codec: AudioFormat.Codec) async throws {
        let format = try AudioFormat(parsing: codec == .ulaw || codec == .alaw ? "\(codec)_8000" : "\(codec)_16000")
        let (once, pieces, streamedOnce, streamedAgain) = try await AudioWork.run {
            let speech = try Speech.sibilants.get()
            return (
                try EncoderDriver(pieceSeed: 1, largestPiece: 100_000).encode(speech, as: format).bytes,
                try EncoderDriver(pieceSeed: 2, largestPiece: 300).encode(speech, as: format).bytes,
                try EncoderDriver(pieceSeed: 1, largestPiece: 5000).stream(speech, as: format).chunks,
                try EncoderDriver(pieceSeed: 9, largestPiece: 77).stream(speech, as: format).chunks
            )
        }
        #expect(once == pieces)
        #expect(streamedOnce == streamedAgain)
    }

    @Test("an empty reply encodes: a file with no samples, or an empty stream", arguments: AudioFormat.Codec.allCases)
    func emptyReply(_ codec: AudioFormat.Codec) throws {
        let format = try AudioFormat(parsing: codec == .ulaw || codec == .alaw ? "\(codec)_8000" : "\(codec)_16000")
        let whole = try EncoderDriver().encode([], as: format)
        #expect(whole.frames == 0)
        switch codec {
        case .pcm, .ulaw, .alaw, .mp3: #expect(whole.bytes.isEmpty)
        case .wav: #expect(try WAVCodec.decode(whole.bytes).frames == 0)
        case .flac, .opus: #expect(!whole.bytes.isEmpty)
        }
        let streamed = try EncoderDriver().stream([], as: format).chunks
        #expect(streamed == (codec == .wav ? [ReplyEncoder.streamingWAVHeader(sampleRate: 16000)] : [[]]))
    }

    @Test("the default wav is version 1's WAVCodec file")
    func defaultMatchesVersionOne() async throws {
        let (encoded, versionOne) = try await AudioWork.run {
            let pcm = PCMBuffer(sampleRate: 22050, samples: try Speech.sibilants.get())
            return (try ReplyEncoder.encode(pcm, as: .wav), try WAVCodec.encode(pcm))
        }
        #expect(encoded == versionOne)
    }

    @Test(
        "Ogg Opus at every effort: pages as RFC 7845 says, the same bytes however the samples come, exactly the samples back",
        arguments: OpusEffort.allCases)
    func oggOpusPages(_ effort: OpusEffort) async throws {
        let format = try AudioFormat(parsing: "opus_24000_32")
        let speech = try await AudioWork.run { try Speech.sibilants.get() }
        let (bytes, frames) = try await AudioWork.run { try EncoderDriver(opusEffort: effort).encode(speech, as: format) }
        let again = try await AudioWork.run {
            try EncoderDriver(pieceSeed: 9, largestPiece: 300, opusEffort: effort).encode(speech, as: format).bytes
        }
        #expect(again == bytes)

        let pages = try OggPageList(bytes)
        try #require(pages.count >= 4)
        #expect(pages.map(\.sequence) == (0..<UInt32(pages.count)).map { $0 })
        #expect(pages.allSatisfy { $0.serial == ReplyEncoder.oggSerialNumber && $0.checksumHolds })
        #expect(
            pages.map { $0.flags & 0x02 != 0 } == [true] + Array(repeating: false, count: pages.count - 1), "BOS on the first page only")
        #expect(pages.map { $0.flags & 0x04 != 0 } == Array(repeating: false, count: pages.count - 1) + [true], "EOS on the last only")
        #expect(pages[0].body.starts(with: "OpusHead".utf8) && pages[0].body.count == 19)
        #expect(pages[1].body.starts(with: "OpusTags".utf8) && pages[1].granule == 0)
        // The last granule position is pre-skip plus the samples, at 48 kHz: the padding is trimmed.
        let preSkip = Int(pages[0].body[10]) | Int(pages[0].body[11]) << 8
        #expect(pages.last?.granule == Int64(preSkip + frames * 2))
        #expect(zip(pages.dropFirst(2), pages.dropFirst(3)).allSatisfy { $0.granule <= $1.granule })

        // ffmpeg gives back exactly the samples written, and checks every page's CRC:
        // one flipped bit in a page's checksum loses that page.
        let decoded = try await AudioWork.run { try Tools.decode(bytes, fileExtension: "opus", rate: 48000) }
        #expect(decoded.count == frames * 2)
        var flipped = bytes
        flipped[pages[3].offset + 22] ^= 1
        let corrupt = flipped
        let damaged = try await AudioWork.run { (try? Tools.decode(corrupt, fileExtension: "opus", rate: 48000)) ?? [] }
        #expect(damaged.count < decoded.count)
    }

    @Test("calls out of turn are refused")
    func misuse() throws {
        let whole = try ReplyEncoder(format: .wav, streamed: false)
        #expect(throws: AudioError.self) { try whole.cutChunk() }
        _ = try whole.finish()
        #expect(throws: AudioError.self) { try whole.append([1, 2, 3]) }
        #expect(throws: AudioError.self) { try whole.finish() }
        let streamed = try ReplyEncoder(format: .wav, streamed: true)
        _ = try streamed.finish()
        #expect(throws: AudioError.self) { try streamed.cutChunk() }
        #expect(throws: AudioError.self) { try ReplyEncoder(format: .wav, inputRate: 0, streamed: false) }
    }

    /// The decoded reply correlates with the original speech resampled to its rate (by
    /// ffmpeg) above 0.8. Below 10 kbit/s Opus codes speech parametrically (SILK at 6
    /// kbit/s keeps the spectrum, not the waveform: 0.78 here), so there the 10 ms
    /// loudness contour must correlate above 0.9 and the waveform above 0.7.
    private func expectSameSpeech(_ decoded: [Int16], format: AudioFormat) async throws {
        let (correlation, lag, contour) = try await AudioWork.run {
            let reference = try Speech.original(at: format.sampleRate)
            let (correlation, lag) = Signal.correlation(reference, decoded)
            return (correlation, lag, Signal.loudnessCorrelation(reference, decoded, rate: format.sampleRate))
        }
        if format.codec == .opus, let kbps = format.kilobitsPerSecond, kbps < 10 {
            #expect(correlation > 0.7, "correlation \(correlation) at lag \(lag)")
            #expect(contour > 0.9, "loudness contour correlation \(contour)")
        } else {
            #expect(correlation > 0.8, "correlation \(correlation) at lag \(lag)")
        }
    }

    /// Checks what the bytes say about themselves, by hand.
    private func checkHeader(_ bytes: [UInt8], format: AudioFormat, frames: Int) throws {
        func le32(_ offset: Int) -> Int { bytes[offset..<offset + 4].reversed().reduce(0) { $0 << 8 | Int($1) } }
        switch format.codec {
        case .wav:
            #expect(Array(bytes[0..<4]) == Array("RIFF".utf8) && Array(bytes[8..<12]) == Array("WAVE".utf8))
            let decoded = try WAVCodec.decode(bytes)
            #expect(decoded.isPCM16WAV && decoded.channels == 1 && decoded.sampleRate == format.sampleRate && decoded.frames == frames)
        case .pcm: #expect(bytes.count == 2 * frames)
        case .ulaw, .alaw: #expect(bytes.count == frames)
        case .flac: #expect(Array(bytes[0..<4]) == Array("fLaC".utf8))
        case .opus:
            // The first page's packet is OpusHead: version 1, one channel, then the input rate.
            #expect(Array(bytes[0..<4]) == Array("OggS".utf8) && Array(bytes[28..<36]) == Array("OpusHead".utf8))
            #expect(bytes[37] == 1 && le32(40) == format.sampleRate)
            #expect(le32(14) == Int(ReplyEncoder.oggSerialNumber))
        case .mp3:
            #expect(MPEGAudioFrames.wholeFramesLength(bytes) == bytes.count)
            let rateIndex = Int((bytes[2] >> 2) & 3)
            let version = (bytes[1] >> 3) & 3
            let rate = [44100, 48000, 32000][rateIndex] >> (version == 3 ? 0 : 1)
            #expect(rate == format.sampleRate)
            #expect(bytes[3] >> 6 == 3, "mono (channel mode 3)")
        }
    }
}
