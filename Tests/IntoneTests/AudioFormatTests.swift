import IntoneCore
import Testing

@Suite("Audio format names")
struct AudioFormatTests {
    struct Good: Sendable, CustomTestStringConvertible {
        var name: String
        var canonical: String
        var codec: AudioFormat.Codec
        var rate: Int
        var kbps: Int?
        var contentType: String
        var testDescription: String { name }
    }

    static let good: [Good] = [
        Good(name: "wav", canonical: "wav", codec: .wav, rate: 22050, kbps: nil, contentType: "audio/wav"),
        Good(name: "wav_22050", canonical: "wav", codec: .wav, rate: 22050, kbps: nil, contentType: "audio/wav"),
        Good(name: "wav_8000", canonical: "wav_8000", codec: .wav, rate: 8000, kbps: nil, contentType: "audio/wav"),
        Good(name: "wav_16000", canonical: "wav_16000", codec: .wav, rate: 16000, kbps: nil, contentType: "audio/wav"),
        Good(name: "wav_48000", canonical: "wav_48000", codec: .wav, rate: 48000, kbps: nil, contentType: "audio/wav"),
        Good(name: "pcm_8000", canonical: "pcm_8000", codec: .pcm, rate: 8000, kbps: nil, contentType: "audio/pcm;rate=8000"),
        Good(name: "pcm_16000", canonical: "pcm_16000", codec: .pcm, rate: 16000, kbps: nil, contentType: "audio/pcm;rate=16000"),
        Good(name: "pcm_22050", canonical: "pcm_22050", codec: .pcm, rate: 22050, kbps: nil, contentType: "audio/pcm;rate=22050"),
        Good(name: "pcm_44100", canonical: "pcm_44100", codec: .pcm, rate: 44100, kbps: nil, contentType: "audio/pcm;rate=44100"),
        Good(name: "ulaw_8000", canonical: "ulaw_8000", codec: .ulaw, rate: 8000, kbps: nil, contentType: "audio/basic"),
        Good(name: "alaw_8000", canonical: "alaw_8000", codec: .alaw, rate: 8000, kbps: nil, contentType: "audio/x-alaw-basic"),
        Good(name: "flac", canonical: "flac_22050", codec: .flac, rate: 22050, kbps: nil, contentType: "audio/flac"),
        Good(name: "flac_22050", canonical: "flac_22050", codec: .flac, rate: 22050, kbps: nil, contentType: "audio/flac"),
        Good(name: "flac_24000", canonical: "flac_24000", codec: .flac, rate: 24000, kbps: nil, contentType: "audio/flac"),
        Good(name: "opus", canonical: "opus_24000_32", codec: .opus, rate: 24000, kbps: 32, contentType: "audio/ogg;codecs=opus"),
        Good(name: "opus_24000", canonical: "opus_24000_32", codec: .opus, rate: 24000, kbps: 32, contentType: "audio/ogg;codecs=opus"),
        Good(name: "opus_8000", canonical: "opus_8000_16", codec: .opus, rate: 8000, kbps: 16, contentType: "audio/ogg;codecs=opus"),
        Good(name: "opus_12000", canonical: "opus_12000_20", codec: .opus, rate: 12000, kbps: 20, contentType: "audio/ogg;codecs=opus"),
        Good(name: "opus_16000", canonical: "opus_16000_24", codec: .opus, rate: 16000, kbps: 24, contentType: "audio/ogg;codecs=opus"),
        Good(name: "opus_48000", canonical: "opus_48000_64", codec: .opus, rate: 48000, kbps: 64, contentType: "audio/ogg;codecs=opus"),
        Good(name: "opus_24000_32", canonical: "opus_24000_32", codec: .opus, rate: 24000, kbps: 32, contentType: "audio/ogg;codecs=opus"),
        Good(name: "opus_8000_6", canonical: "opus_8000_6", codec: .opus, rate: 8000, kbps: 6, contentType: "audio/ogg;codecs=opus"),
        Good(
            name: "opus_48000_256", canonical: "opus_48000_256", codec: .opus, rate: 48000, kbps: 256, contentType: "audio/ogg;codecs=opus"),
        Good(name: "mp3", canonical: "mp3_22050_32", codec: .mp3, rate: 22050, kbps: 32, contentType: "audio/mpeg"),
        Good(name: "mp3_22050", canonical: "mp3_22050_32", codec: .mp3, rate: 22050, kbps: 32, contentType: "audio/mpeg"),
        Good(name: "mp3_16000", canonical: "mp3_16000_32", codec: .mp3, rate: 16000, kbps: 32, contentType: "audio/mpeg"),
        Good(name: "mp3_44100", canonical: "mp3_44100_64", codec: .mp3, rate: 44100, kbps: 64, contentType: "audio/mpeg"),
        Good(name: "mp3_22050_32", canonical: "mp3_22050_32", codec: .mp3, rate: 22050, kbps: 32, contentType: "audio/mpeg"),
        Good(name: "mp3_16000_8", canonical: "mp3_16000_8", codec: .mp3, rate: 16000, kbps: 8, contentType: "audio/mpeg"),
        Good(name: "mp3_24000_160", canonical: "mp3_24000_160", codec: .mp3, rate: 24000, kbps: 160, contentType: "audio/mpeg"),
        Good(name: "mp3_32000_32", canonical: "mp3_32000_32", codec: .mp3, rate: 32000, kbps: 32, contentType: "audio/mpeg"),
        Good(name: "mp3_48000_320", canonical: "mp3_48000_320", codec: .mp3, rate: 48000, kbps: 320, contentType: "audio/mpeg"),
        Good(name: "mp3_44100_33", canonical: "mp3_44100_33", codec: .mp3, rate: 44100, kbps: 33, contentType: "audio/mpeg"),
    ]

    @Test("every name of the contract parses to its canonical name, rate, bitrate and content type", arguments: good)
    func goodNamesParse(_ good: Good) throws {
        let format = try AudioFormat(parsing: good.name)
        #expect(format.codec == good.codec)
        #expect(format.sampleRate == good.rate)
        #expect(format.kilobitsPerSecond == good.kbps)
        #expect(format.name == good.canonical)
        #expect(format.description == good.canonical)
        #expect(format.contentType == good.contentType)
        #expect(format.fileExtension == good.codec.rawValue)
        // The canonical name is a name too, of the same format.
        #expect(try AudioFormat(parsing: format.name) == format)
    }

    static let bad: [String] = [
        "", "pcm", "ulaw", "alaw", "ulaw_16000", "alaw_22050", "wav_", "wav_8000_32", "wav_11025", "wav_22050_",
        "flac_22050_10", "flac_", "flac_96000", "pcm_12000", "pcm_16000_16",
        "opus_11025", "opus_22050", "opus_24000_5", "opus_24000_257", "opus_24000_0", "opus__32", "opus_024000",
        "opus_24000_032", "opus_24000_32_", "opus_24000_32_1", "opus_", "opus_24000_", "opus_-24000", "opus_+24000",
        "opus_24000.0", "opus_24000_32.5", "opus_99999999999999999999", "opus_24000_99999999999999999999",
        "mp3_8000", "mp3_11025", "mp3_12000", "mp3_22050_161", "mp3_22050_7", "mp3_44100_16", "mp3_44100_321", "mp3_48000_31",
        "mp3_24000_0", "WAV", "Wav", "OPUS_24000_32", "Mp3", "wav ", " wav", "wav\n", "wave", "ogg", "vorbis", "aac", "m4a",
        "mulaw_8000", "pcm_8k", "pcm_16000hz", "opus_24k", "opus-24000-32", "opus 24000 32", "opus_٢٤٠٠٠",
        "_", "__", "wav__", "_wav", "opus_24000_32_64",
    ]

    @Test("every malformed name is refused with a message that names it and lists what is accepted", arguments: bad)
    func badNamesAreRefused(_ name: String) {
        #expect {
            try AudioFormat(parsing: name)
        } throws: { error in
            guard let error = error as? AudioFormatError else { return false }
            return error.format == name && error.message.contains("'\(name.prefix(40))")
                && error.message.contains("accepted: wav, wav_<rate>")
        }
    }

    @Test("the refusals say what is wrong")
    func refusalsExplain() {
        func message(_ name: String) -> String {
            do {
                _ = try AudioFormat(parsing: name)
                return ""
            } catch {
                return error.message
            }
        }
        #expect(message("opus_11025").contains("opus takes the rates 8000, 12000, 16000, 24000, 48000 Hz"))
        #expect(message("mp3_44100_16").contains("mp3 at 44100 Hz takes 32 to 320 kbit/s"))
        #expect(message("mp3_22050_161").contains("mp3 at 22050 Hz takes 8 to 160 kbit/s"))
        #expect(message("wav_8000_32").contains("wav takes no bitrate"))
        #expect(message("pcm").contains("pcm needs a rate, as in pcm_8000"))
        #expect(message("WAV").contains("names are lower case"))
        #expect(message("opus_024000").contains("'024000' is not a rate"))
        #expect(message("aac").contains("unknown codec 'aac'"))
        #expect(message(String(repeating: "x", count: 500)).count < 900)
    }

    @Test("every rate of every codec, with its bitrate range's ends, round-trips")
    func everyRateRoundTrips() throws {
        for codec in AudioFormat.Codec.allCases {
            for rate in codec.sampleRates {
                let withRate = try AudioFormat(parsing: "\(codec.rawValue)_\(rate)")
                #expect(withRate.sampleRate == rate)
                guard let range = codec.kilobitsPerSecondRange(sampleRate: rate) else {
                    #expect(withRate.kilobitsPerSecond == nil)
                    #expect(throws: AudioFormatError.self) { try AudioFormat(parsing: "\(codec.rawValue)_\(rate)_32") }
                    continue
                }
                #expect(withRate.kilobitsPerSecond.map(range.contains) == true)
                for kbps in [range.lowerBound, range.upperBound] {
                    let format = try AudioFormat(parsing: "\(codec.rawValue)_\(rate)_\(kbps)")
                    #expect(format.name == "\(codec.rawValue)_\(rate)_\(kbps)")
                    #expect(try AudioFormat(codec: codec, sampleRate: rate, kilobitsPerSecond: kbps) == format)
                }
                #expect(throws: AudioFormatError.self) { try AudioFormat(parsing: "\(codec.rawValue)_\(rate)_\(range.lowerBound - 1)") }
                #expect(throws: AudioFormatError.self) { try AudioFormat(parsing: "\(codec.rawValue)_\(rate)_\(range.upperBound + 1)") }
            }
        }
    }

    @Test("the default is version 1's wav")
    func defaultIsWAV() throws {
        #expect(AudioFormat.wav == (try AudioFormat(parsing: "wav")))
        #expect(AudioFormat.wav.name == "wav")
        #expect(AudioFormat.wav.sampleRate == 22050)
        #expect(AudioFormat.wav.contentType == "audio/wav")
        #expect(!AudioFormat.wav.streamedChunksAreFiles)
        #expect(try AudioFormat(parsing: "opus").streamedChunksAreFiles)
        #expect(try AudioFormat(parsing: "flac").streamedChunksAreFiles)
    }

    @Test("building a format from its parts is validated like a name")
    func partsAreValidated() throws {
        #expect(try AudioFormat(codec: .opus, sampleRate: 16000).name == "opus_16000_24")
        #expect(try AudioFormat(codec: .pcm, sampleRate: 8000).name == "pcm_8000")
        #expect(throws: AudioFormatError.self) { try AudioFormat(codec: .wav, sampleRate: 22050, kilobitsPerSecond: 32) }
        #expect(throws: AudioFormatError.self) { try AudioFormat(codec: .ulaw, sampleRate: 16000) }
        #expect(throws: AudioFormatError.self) { try AudioFormat(codec: .mp3, sampleRate: 8000) }
        #expect(throws: AudioFormatError.self) { try AudioFormat(codec: .opus, sampleRate: 24000, kilobitsPerSecond: 300) }
    }
}
