// Measures Intone's audio formats on espeak-ng speech and prints the tables of
// docs/audio-bitrates.md: the bitrate each Opus and MP3 target gives (whole and streamed),
// what libsndfile's compression level gives for MP3, and bytes and encoding CPU time per
// second of speech for each format family (Opus at each effort). It measures; it never asserts.
//
//     bench/audio/run.sh
//
// run.sh compiles this file together with Sources/IntoneCore/Audio/ (which needs only
// libsndfile, libsoxr and libopus) with optimisation, as one module, so the figures are those of
// a release build without building the whole package.

#if canImport(Glibc)
    import Glibc
#endif

struct Measure {
    let speech: [Int16]
    var seconds: Double { Double(speech.count) / Double(AudioFormat.engineSampleRate) }

    /// Encodes in pieces of 1024 samples, the way the engine hands them out; streamed, a
    /// chunk is cut every second of input.
    func encode(_ format: AudioFormat, streamed: Bool, opusEffort: OpusEffort = .fast) throws -> [UInt8] {
        let encoder = try ReplyEncoder(
            format: format, inputRate: AudioFormat.engineSampleRate, streamed: streamed, opusEffort: opusEffort)
        var bytes: [UInt8] = []
        var offset = 0
        try speech.withUnsafeBufferPointer { all in
            while offset < all.count {
                let end = min(offset + 1024, all.count)
                try encoder.append(UnsafeBufferPointer(rebasing: all[offset..<end]))
                if streamed && end / AudioFormat.engineSampleRate != offset / AudioFormat.engineSampleRate {
                    bytes += try encoder.cutChunk()
                }
                offset = end
            }
        }
        return bytes + (try encoder.finish())
    }

    func kbps(_ bytes: Int) -> Double { Double(bytes * 8) / seconds / 1000 }

    func bitrates() throws {
        print("Measured kbit/s (bytes × 8 / duration), whole file / streamed (a chunk a second):\n")
        let opusTargets = [6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]
        print("| opus | " + opusTargets.map { "\($0)" }.joined(separator: " | ") + " |")
        print("|---|" + String(repeating: "---|", count: opusTargets.count))
        for rate in AudioFormat.Codec.opus.sampleRates {
            var row = "| \(rate) Hz |"
            for target in opusTargets {
                row += " \(try cell(AudioFormat(codec: .opus, sampleRate: rate, kilobitsPerSecond: target))) |"
            }
            print(row)
        }
        for rates in [[16000, 22050, 24000], [32000, 44100, 48000]] {
            let targets = rates[0] < 32000 ? [8, 12, 16, 24, 32, 48, 64, 96, 128, 160] : [32, 40, 48, 64, 96, 128, 160, 192, 256, 320]
            print("\n| mp3 | " + targets.map { "\($0)" }.joined(separator: " | ") + " |")
            print("|---|" + String(repeating: "---|", count: targets.count))
            for rate in rates {
                var row = "| \(rate) Hz |"
                for target in targets {
                    row += " \(try cell(AudioFormat(codec: .mp3, sampleRate: rate, kilobitsPerSecond: target))) |"
                }
                print(row)
            }
        }
    }

    private func cell(_ format: AudioFormat) throws -> String {
        let whole = try encode(format, streamed: false)
        let streamed = try encode(format, streamed: true)
        var text = "\(fixed(kbps(whole.count))) / \(fixed(kbps(streamed.count)))"
        if format.codec == .mp3, whole.count > 3, let length = MPEGAudioFrames.frameLength(whole[0], whole[1], whole[2]) {
            // The bitrate the first frame header carries, when it is not the one asked for.
            let mpeg1 = format.sampleRate >= 32000
            let padding = Int((whole[2] >> 1) & 1)
            let carried = Int((Double(length - padding) * Double(format.sampleRate) / (mpeg1 ? 144 : 72) / 1000).rounded())
            let asked = CompressionLevel.mp3(kilobitsPerSecond: format.kilobitsPerSecond!, sampleRate: format.sampleRate).kilobitsPerSecond
            if carried != asked { text += " (frames: \(carried))" }
        }
        return text
    }

    func levels() throws {
        let levels = (0...10).map { Double($0) / 10 }
        print("\nlibsndfile's SFC_SET_COMPRESSION_LEVEL against the measured kbit/s (MP3 in constant bitrate mode):\n")
        print("| codec, rate | " + levels.map { fixed($0) }.joined(separator: " | ") + " |")
        print("|---|" + String(repeating: "---|", count: levels.count))
        for (codec, rate) in [(AudioFormat.Codec.mp3, 22050), (.mp3, 44100)] {
            let input = try resample(to: rate)
            var row = "| \(codec) \(rate) Hz |"
            for level in levels {
                guard let container = SoundFileWriter.Container.of(codec, streamed: false, level: level) else { continue }
                let writer = try SoundFileWriter(container, sampleRate: rate)
                try input.withUnsafeBufferPointer { try writer.write($0) }
                row += " \(fixed(kbps(try writer.close().count))) |"
            }
            print(row)
        }
    }

    func costs() throws {
        print("\n| format | bytes per second of speech | encoding CPU ms per second of speech |")
        print("|---|---|---|")
        let names = [
            "wav", "wav_16000", "pcm_8000", "pcm_16000", "pcm_48000", "ulaw_8000", "alaw_8000", "flac", "flac_16000", "opus",
            "opus_8000", "opus_16000", "opus_48000", "mp3", "mp3_16000", "mp3_44100",
        ]
        for name in names {
            let format = try AudioFormat(parsing: name)
            for effort in format.codec == .opus ? OpusEffort.allCases : [.fast] {
                var bytes = 0
                var best = Double.infinity
                for _ in 0..<5 {
                    let start = cpuTime()
                    bytes = try encode(format, streamed: false, opusEffort: effort).count
                    best = min(best, cpuTime() - start)
                }
                let label = format.codec == .opus ? "\(format.name), \(effort.rawValue)" : format.name
                print("| \(label) | \(Int((Double(bytes) / seconds).rounded())) | \(fixed(best / seconds * 1000, digits: 2)) |")
            }
        }
    }

    /// For bench/audio/opus-quality.sh: the speech as Opus at a few rates and bitrates, at
    /// every effort, one file each (`opus_16000_24-fast.opus`).
    func writeOpus(to directory: String) throws {
        for name in ["opus_8000_12", "opus_16000_12", "opus_16000_24", "opus_24000_32", "opus_48000_64"] {
            for effort in OpusEffort.allCases {
                let bytes = try encode(AudioFormat(parsing: name), streamed: false, opusEffort: effort)
                let path = "\(directory)/\(name)-\(effort.rawValue).opus"
                guard let file = fopen(path, "wb") else { throw AudioError(.encoding, "cannot write \(path)") }
                fwrite(bytes, 1, bytes.count, file)
                fclose(file)
            }
        }
    }

    private func resample(to rate: Int) throws -> [Int16] {
        guard rate != AudioFormat.engineSampleRate else { return speech }
        let resampler = try Resampler(from: AudioFormat.engineSampleRate, to: rate)
        var output: [Int16] = []
        try speech.withUnsafeBufferPointer { try resampler.process($0, into: &output) }
        try resampler.flush(into: &output)
        return output
    }

    private func cpuTime() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    private func fixed(_ value: Double, digits: Int = 1) -> String {
        let scale = digits == 1 ? 10.0 : 100.0
        let rounded = (value * scale).rounded() / scale
        var text = String(rounded)
        let decimals = text.split(separator: ".").last?.count ?? 0
        if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
        return text
    }
}

let arguments = CommandLine.arguments
guard arguments.count == 2 || (arguments.count == 4 && arguments[2] == "--write-opus") else {
    print("usage: \(arguments[0]) speech-22050.wav [--write-opus DIRECTORY]")
    exit(2)
}
do {
    guard let file = fopen(arguments[1], "rb") else { throw AudioError(.decoding, "cannot open \(arguments[1])") }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count == 0 { break }
        bytes += buffer[0..<count]
    }
    fclose(file)
    let decoded = try WAVCodec.decode(bytes)
    guard decoded.sampleRate == AudioFormat.engineSampleRate, decoded.channels == 1 else {
        throw AudioError(.decoding, "need mono 22050 Hz speech")
    }
    let measure = Measure(speech: decoded.samples)
    if arguments.count == 4 {
        try measure.writeOpus(to: arguments[3])
        exit(0)
    }
    print("\(fixed1(measure.seconds)) s of espeak-ng speech at 22050 Hz.\n")
    try measure.bitrates()
    try measure.levels()
    try measure.costs()
} catch {
    print("error: \(error)")
    exit(1)
}

func fixed1(_ value: Double) -> String { String((value * 10).rounded() / 10) }
