import Foundation
import IntoneCore

/// Where the audio tests' blocking work (espeak-ng, encoding, ffmpeg, FFTs) runs: one
/// job at a time, on a Dispatch thread. Off Swift's cooperative pool, because the
/// integration tests that run alongside poll Redis from it; one at a time, because
/// their timings (a shutdown within its grace, a write-back before a render ends) need
/// a core of their own. Expectations stay in the test's task: only values come back.
enum AudioWork {
    private static let queue = DispatchQueue(label: "intone.audio-tests")

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}

/// Real espeak-ng speech for the audio tests, rendered by the `espeak-ng` command line
/// (Debian package `espeak-ng`) into a WAV that `WAVCodec.decode` reads: espeak-ng never
/// runs inside the test process, and the fixtures do not depend on the synthesizer
/// child's protocol.
enum Speech {
    /// About nine seconds, rich in sibilants: sample dropping to 8 kHz folds their
    /// energy (4 to 11 kHz) into the 3.0 to 3.8 kHz band, a real resampler does not.
    static let sibilants = Result {
        try render(
            "She sells sea shells by the sea shore. Six sharp swords slice fresh fish. "
                + "Sister Suzie's sewing shirts for soldiers, such skill at sewing shirts.")
    }

    /// About 27 seconds of ordinary prose, for bitrates and timings.
    static let prose = Result {
        try render(
            "The quick brown fox jumps over the lazy dog. Intone turns an agent's reply into speech, and a telephone "
                + "call needs it at eight kilohertz without aliasing. She sells sea shells by the sea shore, and the shells "
                + "she sells are surely sea shells. Peter Piper picked a peck of pickled peppers; how many pickled peppers "
                + "did Peter Piper pick? Sixty six thousand, three hundred and twelve customers called on Tuesday, asking "
                + "about their invoices, refunds and shipping dates.")
    }

    /// `sibilants` resampled to `rate` by ffmpeg: the reference a decoded reply is
    /// compared with.
    static func original(at rate: Int) throws -> [Int16] {
        let speech = try sibilants.get()
        let wav = try WAVCodec.encode(PCMBuffer(sampleRate: AudioFormat.engineSampleRate, samples: speech))
        return rate == AudioFormat.engineSampleRate ? speech : try Tools.decode(wav, fileExtension: "wav", rate: rate)
    }

    static func render(_ text: String) throws -> [Int16] {
        let directory = try TemporaryDirectory()
        let path = directory.path("speech.wav")
        try Tools.run("espeak-ng", ["-w", path, text])
        let decoded = try WAVCodec.decode(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        guard decoded.sampleRate == AudioFormat.engineSampleRate, decoded.channels == 1 else {
            throw TestSupportError("espeak-ng wrote \(decoded.channels) channels at \(decoded.sampleRate) Hz")
        }
        return decoded.samples
    }
}

/// A folder that is removed with its contents when the value goes away.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("intone-audio-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func write(_ bytes: [UInt8], to name: String) throws -> String {
        let path = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// The independent decoders: Debian's `ffmpeg` and `ffprobe` (their own MP3, Opus, FLAC,
/// WAV and G.711 decoders; neither libsndfile nor our code).
enum Tools {
    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let directory = try TemporaryDirectory()
        let outputPath = directory.path("stdout")
        let errorPath = directory.path("stderr")
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            let error = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
            if process.terminationStatus == 127 {
                throw TestSupportError("\(tool) is not installed: run ops/install-dependencies.sh (test tools: ffmpeg, espeak-ng)")
            }
            throw TestSupportError("\(tool) \(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): \(error)")
        }
        return output
    }

    /// What ffprobe sees in a file: codec, rate and channels of its audio stream.
    struct Probe: Equatable, Sendable {
        var codec: String
        var sampleRate: Int
        var channels: Int
    }

    static func probe(_ bytes: [UInt8], fileExtension: String, input: [String] = []) throws -> Probe {
        let directory = try TemporaryDirectory()
        let path = try directory.write(bytes, to: "audio.\(fileExtension)")
        let output = try run(
            "ffprobe",
            ["-v", "error"] + input + [
                "-select_streams", "a:0", "-show_entries", "stream=codec_name,sample_rate,channels", "-of", "csv=p=0", path,
            ])
        let fields = output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").map(String.init)
        guard fields.count == 3, let rate = Int(fields[1]), let channels = Int(fields[2]) else {
            throw TestSupportError("ffprobe said '\(output)'")
        }
        return Probe(codec: fields[0], sampleRate: rate, channels: channels)
    }

    /// The sizes of the packets (MP3: frames) ffprobe's demuxer finds in a file.
    static func packetSizes(_ bytes: [UInt8], fileExtension: String) throws -> [Int] {
        let directory = try TemporaryDirectory()
        let path = try directory.write(bytes, to: "audio.\(fileExtension)")
        let output = try run("ffprobe", ["-v", "error", "-show_entries", "packet=size", "-of", "csv=p=0", path])
        return output.split(whereSeparator: \.isNewline).compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// Decodes with ffmpeg to mono 16-bit samples at `rate` (ffmpeg's own resampler).
    /// `input` gives the options for headerless formats (`-f mulaw -ar 8000 -ac 1`).
    static func decode(_ bytes: [UInt8], fileExtension: String, input: [String] = [], rate: Int) throws -> [Int16] {
        let directory = try TemporaryDirectory()
        let path = try directory.write(bytes, to: "audio.\(fileExtension)")
        let outputPath = directory.path("decoded.raw")
        try run(
            "ffmpeg", ["-nostdin", "-v", "error"] + input + ["-i", path, "-f", "s16le", "-ac", "1", "-ar", String(rate), "-y", outputPath])
        let data = try Data(contentsOf: URL(fileURLWithPath: outputPath))
        return data.withUnsafeBytes { raw in raw.bindMemory(to: Int16.self).map { Int16(littleEndian: $0) } }
    }

    /// The ffmpeg options that read a headerless format, nil for the others.
    static func headerlessInput(_ format: AudioFormat) -> [String]? {
        let rate = ["-ar", String(format.sampleRate), "-ac", "1"]
        switch format.codec {
        case .pcm: return ["-f", "s16le"] + rate
        case .ulaw: return ["-f", "mulaw"] + rate
        case .alaw: return ["-f", "alaw"] + rate
        default: return nil
        }
    }
}

/// Signal measures for the audio tests.
enum Signal {
    /// Energy between `low` and `high` Hz, from an averaged periodogram (Hann windows of
    /// 2048 samples, half overlapping).
    static func bandEnergy(_ samples: [Int16], rate: Int, low: Double, high: Double) -> Double {
        let size = 2048
        var total = 0.0
        var real = [Double](repeating: 0, count: size)
        var imaginary = [Double](repeating: 0, count: size)
        var start = 0
        while start + size <= samples.count {
            for index in 0..<size {
                let window = 0.5 - 0.5 * cos(2 * Double.pi * Double(index) / Double(size))
                real[index] = Double(samples[start + index]) * window
                imaginary[index] = 0
            }
            fft(&real, &imaginary)
            for bin in 0...size / 2 {
                let frequency = Double(bin) * Double(rate) / Double(size)
                if frequency >= low && frequency < high { total += real[bin] * real[bin] + imaginary[bin] * imaginary[bin] }
            }
            start += size / 2
        }
        return total
    }

    /// The contract's aliasing measure: energy in 3.0 to 3.8 kHz relative to 0.3 to
    /// 3.0 kHz.
    static func highBandRatio(_ samples: [Int16], rate: Int) -> Double {
        bandEnergy(samples, rate: rate, low: 3000, high: 3800) / bandEnergy(samples, rate: rate, low: 300, high: 3000)
    }

    /// The largest normalised cross-correlation of two signals over all lags (codecs
    /// delay their output by different amounts), and the lag that gives it.
    static func correlation(_ a: [Int16], _ b: [Int16]) -> (value: Double, lag: Int) {
        var size = 1
        while size < a.count + b.count { size <<= 1 }
        var aReal = [Double](repeating: 0, count: size)
        var aImaginary = [Double](repeating: 0, count: size)
        var bReal = [Double](repeating: 0, count: size)
        var bImaginary = [Double](repeating: 0, count: size)
        for (index, value) in a.enumerated() { aReal[index] = Double(value) }
        for (index, value) in b.enumerated() { bReal[index] = Double(value) }
        fft(&aReal, &aImaginary)
        fft(&bReal, &bImaginary)
        // conj(A) × B, transformed back (as a forward transform of the conjugate).
        for index in 0..<size {
            let real = aReal[index] * bReal[index] + aImaginary[index] * bImaginary[index]
            let imaginary = aReal[index] * bImaginary[index] - aImaginary[index] * bReal[index]
            aReal[index] = real
            aImaginary[index] = -imaginary
        }
        fft(&aReal, &aImaginary)
        var best = 0.0
        var bestLag = 0
        for index in 0..<size where aReal[index] / Double(size) > best {
            best = aReal[index] / Double(size)
            bestLag = index < size / 2 ? index : index - size
        }
        let energy = a.reduce(0.0) { $0 + Double($1) * Double($1) } * b.reduce(0.0) { $0 + Double($1) * Double($1) }
        return (energy > 0 ? best / energy.squareRoot() : 0, bestLag)
    }

    /// The Pearson correlation of two signals' loudness contours (RMS level of each
    /// 10 ms), at the best lag within ±100 ms.
    static func loudnessCorrelation(_ a: [Int16], _ b: [Int16], rate: Int) -> Double {
        func contour(_ samples: [Int16]) -> [Double] {
            let frame = rate / 100
            return stride(from: 0, to: samples.count - frame + 1, by: frame).map { rms(Array(samples[$0..<$0 + frame])) }
        }
        let (x, y) = (contour(a), contour(b))
        var best = -1.0
        for lag in -10...10 {
            let pairs = x.indices.compactMap { index in y.indices.contains(index + lag) ? (x[index], y[index + lag]) : nil }
            let meanX = pairs.reduce(0) { $0 + $1.0 } / Double(pairs.count)
            let meanY = pairs.reduce(0) { $0 + $1.1 } / Double(pairs.count)
            let covariance = pairs.reduce(0) { $0 + ($1.0 - meanX) * ($1.1 - meanY) }
            let varianceX = pairs.reduce(0) { $0 + ($1.0 - meanX) * ($1.0 - meanX) }
            let varianceY = pairs.reduce(0) { $0 + ($1.1 - meanY) * ($1.1 - meanY) }
            best = max(best, covariance / (varianceX * varianceY).squareRoot())
        }
        return best
    }

    static func rms(_ samples: [Int16]) -> Double {
        guard !samples.isEmpty else { return 0 }
        return (samples.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(samples.count)).squareRoot()
    }

    /// In-place iterative radix-2 FFT; the length is a power of two.
    static func fft(_ real: inout [Double], _ imaginary: inout [Double]) {
        let count = real.count
        real.withUnsafeMutableBufferPointer { re in
            imaginary.withUnsafeMutableBufferPointer { im in
                var j = 0
                for i in 1..<count {
                    var bit = count >> 1
                    while j & bit != 0 {
                        j ^= bit
                        bit >>= 1
                    }
                    j ^= bit
                    if i < j {
                        re.swapAt(i, j)
                        im.swapAt(i, j)
                    }
                }
                var length = 2
                while length <= count {
                    let angle = -2 * Double.pi / Double(length)
                    let stepReal = cos(angle)
                    let stepImaginary = sin(angle)
                    var start = 0
                    while start < count {
                        var wReal = 1.0
                        var wImaginary = 0.0
                        for k in 0..<length / 2 {
                            let even = start + k
                            let odd = even + length / 2
                            let vReal = re[odd] * wReal - im[odd] * wImaginary
                            let vImaginary = re[odd] * wImaginary + im[odd] * wReal
                            re[odd] = re[even] - vReal
                            im[odd] = im[even] - vImaginary
                            re[even] += vReal
                            im[even] += vImaginary
                            let nextReal = wReal * stepReal - wImaginary * stepImaginary
                            wImaginary = wReal * stepImaginary + wImaginary * stepReal
                            wReal = nextReal
                        }
                        start += length
                    }
                    length <<= 1
                }
            }
        }
    }
}

/// Feeds samples to a `ReplyEncoder` the way the synthesizer child does: in pieces of
/// varying sizes (from a seeded generator, so a run is repeatable), cutting a chunk
/// every `cutEvery` input samples when streamed.
struct EncoderDriver {
    var pieceSeed: UInt64 = 1
    var largestPiece = 4096
    var cutEvery = AudioFormat.engineSampleRate
    var opusEffort = OpusEffort.fast

    /// The whole reply (not streamed).
    func encode(_ samples: [Int16], as format: AudioFormat) throws -> (bytes: [UInt8], frames: Int) {
        let encoder = try ReplyEncoder(format: format, inputRate: AudioFormat.engineSampleRate, streamed: false, opusEffort: opusEffort)
        try feed(samples, to: encoder, cut: nil)
        let bytes = try encoder.finish()
        return (bytes, encoder.outputFrames)
    }

    /// The chunks of a streamed reply, the last one included (even when empty).
    func stream(_ samples: [Int16], as format: AudioFormat) throws -> (chunks: [[UInt8]], frames: Int) {
        let encoder = try ReplyEncoder(format: format, inputRate: AudioFormat.engineSampleRate, streamed: true, opusEffort: opusEffort)
        var chunks: [[UInt8]] = []
        try feed(samples, to: encoder) { chunks.append(try encoder.cutChunk()) }
        chunks.append(try encoder.finish())
        return (chunks, encoder.outputFrames)
    }

    private func feed(_ samples: [Int16], to encoder: ReplyEncoder, cut: (() throws -> Void)?) throws {
        var generator = SeededGenerator(seed: pieceSeed)
        var offset = 0
        var sinceCut = 0
        while offset < samples.count {
            var piece = min(Int.random(in: 1...largestPiece, using: &generator), samples.count - offset)
            if cut != nil { piece = min(piece, cutEvery - sinceCut) }
            try samples[offset..<offset + piece].withUnsafeBufferPointer { try encoder.append($0) }
            offset += piece
            sinceCut += piece
            if let cut, sinceCut == cutEvery, offset < samples.count {
                try cut()
                sinceCut = 0
            }
        }
    }
}

/// SplitMix64: a repeatable generator for piece sizes.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The pages of an Ogg stream, read by hand (RFC 3533).
struct OggPageList: RandomAccessCollection {
    struct Page {
        var offset: Int
        var flags: UInt8
        var granule: Int64
        var serial: UInt32
        var sequence: UInt32
        var body: [UInt8]
        var lacing: [UInt8]
        var checksumHolds: Bool

        /// The packets that end on this page (a last lacing value under 255 ends one).
        var packets: [[UInt8]] {
            var packets: [[UInt8]] = []
            var start = 0
            var length = 0
            for value in lacing {
                length += Int(value)
                if value < 255 {
                    packets.append(Array(body[start..<start + length]))
                    start += length
                    length = 0
                }
            }
            return packets
        }
    }

    private let pages: [Page]
    var startIndex: Int { pages.startIndex }
    var endIndex: Int { pages.endIndex }
    subscript(position: Int) -> Page { pages[position] }

    init(_ bytes: [UInt8]) throws {
        func little(_ range: Range<Int>) -> UInt64 { bytes[range].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        var pages: [Page] = []
        var offset = 0
        while offset < bytes.count {
            guard offset + 27 <= bytes.count, bytes[offset..<offset + 4].elementsEqual("OggS".utf8) else {
                throw TestSupportError("no Ogg page at byte \(offset)")
            }
            let segments = Int(bytes[offset + 26])
            let bodyStart = offset + 27 + segments
            guard bodyStart <= bytes.count else { throw TestSupportError("a truncated page at \(offset)") }
            let length = bytes[offset + 27..<bodyStart].reduce(0) { $0 + Int($1) }
            guard bodyStart + length <= bytes.count else { throw TestSupportError("a truncated page at \(offset)") }
            var zeroed = Array(bytes[offset..<bodyStart + length])
            zeroed.replaceSubrange(22..<26, with: [0, 0, 0, 0])
            pages.append(
                Page(
                    offset: offset, flags: bytes[offset + 5], granule: Int64(bitPattern: little(offset + 6..<offset + 14)),
                    serial: UInt32(little(offset + 14..<offset + 18)), sequence: UInt32(little(offset + 18..<offset + 22)),
                    body: Array(bytes[bodyStart..<bodyStart + length]), lacing: Array(bytes[offset + 27..<bodyStart]),
                    checksumHolds: OggPageList.crc(zeroed) == UInt32(little(offset + 22..<offset + 26))))
            offset = bodyStart + length
        }
        self.pages = pages
    }

    /// Ogg's CRC-32 (polynomial 0x04c11db7, no reflection), bit by bit: written apart
    /// from the worker's table-driven one.
    static func crc(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0
        for byte in bytes {
            crc ^= UInt32(byte) << 24
            for _ in 0..<8 { crc = crc & 0x8000_0000 != 0 ? (crc << 1) ^ 0x04c1_1db7 : crc << 1 }
        }
        return crc
    }
}
