/// An audio format of the contract's "Audio formats" table: a codec, the output sample
/// rate and, for Opus and MP3, a target bitrate. Named `codec_rate[_kbps]`, as the voice
/// platforms name theirs: `wav`, `pcm_16000`, `ulaw_8000`, `flac`, `opus_24000_32`,
/// `mp3_22050_32`.
///
/// Names are parsed strictly and are lower case only: `WAV`, `opus_024000`, `wav_` and
/// `opus_24000_32_x` are refused rather than guessed at, so a job's format and the
/// result's `format` field always spell the same thing.
///
/// Names without a rate or bitrate take these defaults: `wav` and `flac` are 22050 Hz
/// (the engine's rate), `opus` is `opus_24000_32`, `mp3` is `mp3_22050_32`. An Opus rate
/// without a bitrate takes 16, 20, 24, 32 or 64 kbit/s at 8000, 12000, 16000, 24000 or
/// 48000 Hz (narrow, medium, wide, super-wide and full band speech); an MP3 rate without
/// a bitrate takes 32 kbit/s at 16000 to 24000 Hz (MPEG-2) and 64 kbit/s at 32000 to
/// 48000 Hz (MPEG-1). `pcm`, `ulaw` and `alaw` have no default rate.
public struct AudioFormat: Sendable, Hashable, CustomStringConvertible {
    public enum Codec: String, Sendable, CaseIterable {
        /// RIFF/WAVE, PCM 16-bit mono.
        case wav
        /// Raw signed 16-bit little-endian mono, no header.
        case pcm
        /// Raw G.711 μ-law at 8000 Hz, no header.
        case ulaw
        /// Raw G.711 A-law at 8000 Hz, no header.
        case alaw
        /// FLAC, 16-bit mono.
        case flac
        /// Ogg Opus, mono.
        case opus
        /// MPEG-1/2 Layer III, mono, constant bitrate.
        case mp3

        /// The output rates the contract allows for this codec, in Hz.
        public var sampleRates: [Int] {
            switch self {
            case .wav, .pcm, .flac: [8000, 16000, 22050, 24000, 44100, 48000]
            case .ulaw, .alaw: [8000]
            // libopus takes only these; decoders may still give 48 kHz.
            case .opus: [8000, 12000, 16000, 24000, 48000]
            // MPEG-2 (16000 to 24000 Hz) and MPEG-1 (32000 to 48000 Hz).
            case .mp3: [16000, 22050, 24000, 32000, 44100, 48000]
            }
        }

        /// The rate of the bare codec name (`wav`, `flac`, `opus`, `mp3`); nil when the
        /// name must carry one.
        var defaultSampleRate: Int? {
            switch self {
            case .wav, .flac, .mp3: AudioFormat.engineSampleRate
            case .opus: 24000
            case .pcm, .ulaw, .alaw: nil
            }
        }

        /// The target bitrates the contract allows at a rate, in kbit/s; nil for the
        /// codecs that take none.
        public func kilobitsPerSecondRange(sampleRate: Int) -> ClosedRange<Int>? {
            switch self {
            case .opus: 6...256
            case .mp3: sampleRate <= 24000 ? 8...160 : 32...320
            case .wav, .pcm, .ulaw, .alaw, .flac: nil
            }
        }

        /// The bitrate of a name that gives a rate but no bitrate.
        func defaultKilobitsPerSecond(sampleRate: Int) -> Int? {
            switch self {
            case .opus:
                switch sampleRate {
                case 8000: 16
                case 12000: 20
                case 16000: 24
                case 24000: 32
                default: 64
                }
            case .mp3: sampleRate <= 24000 ? 32 : 64
            case .wav, .pcm, .ulaw, .alaw, .flac: nil
            }
        }
    }

    /// The rate espeak-ng renders at, and that of the default format.
    public static let engineSampleRate = 22050

    /// The default format: version 1's WAV at the engine's rate.
    public static let wav = AudioFormat(checked: .wav, sampleRate: engineSampleRate, kilobitsPerSecond: nil)

    public var codec: Codec
    /// The rate of the output, in Hz (Opus: the encoder's input rate).
    public var sampleRate: Int
    /// The target bitrate, Opus and MP3 only.
    public var kilobitsPerSecond: Int?

    /// A format from its parts, validated as a parsed name would be.
    public init(codec: Codec, sampleRate: Int, kilobitsPerSecond: Int? = nil) throws(AudioFormatError) {
        let bitrate = kilobitsPerSecond ?? codec.defaultKilobitsPerSecond(sampleRate: sampleRate)
        let spelled = [codec.rawValue, String(sampleRate)] + (kilobitsPerSecond.map { [String($0)] } ?? [])
        try Self.validate(codec: codec, sampleRate: sampleRate, kilobitsPerSecond: bitrate, name: spelled.joined(separator: "_"))
        self.init(checked: codec, sampleRate: sampleRate, kilobitsPerSecond: bitrate)
    }

    /// Parses a format name (`codec`, `codec_rate` or `codec_rate_kbps`); every name the
    /// contract does not list is refused with a message that names it and lists what is
    /// accepted.
    public init(parsing name: String) throws(AudioFormatError) {
        let parts = name.utf8.split(separator: UInt8(ascii: "_"), omittingEmptySubsequences: false).map { Array($0) }
        func refuse(_ reason: String) -> AudioFormatError {
            AudioFormatError(format: name, reason: reason)
        }
        guard !name.isEmpty else { throw refuse("the name is empty") }
        guard let codec = Codec(rawValue: String(decoding: parts[0], as: UTF8.self)) else {
            if name != name.lowercased(), (try? AudioFormat(parsing: name.lowercased())) != nil {
                throw refuse("names are lower case")
            }
            throw refuse("unknown codec '\(Self.quoted(parts[0]))'")
        }
        guard parts.count <= 3 else { throw refuse("a name has at most three parts, codec_rate_kbps") }
        let sampleRate: Int
        if parts.count >= 2 {
            guard let rate = Self.number(parts[1]) else {
                throw refuse("'\(Self.quoted(parts[1]))' is not a rate (digits, no leading zero)")
            }
            sampleRate = rate
        } else {
            guard let rate = codec.defaultSampleRate else {
                throw refuse("\(codec.rawValue) needs a rate, as in \(codec.rawValue)_\(codec.sampleRates[0])")
            }
            sampleRate = rate
        }
        var kilobitsPerSecond: Int? = nil
        if parts.count == 3 {
            guard codec.kilobitsPerSecondRange(sampleRate: sampleRate) != nil else {
                throw refuse("\(codec.rawValue) takes no bitrate")
            }
            guard let kbps = Self.number(parts[2]) else {
                throw refuse("'\(Self.quoted(parts[2]))' is not a bitrate in kbit/s (digits, no leading zero)")
            }
            kilobitsPerSecond = kbps
        }
        kilobitsPerSecond = kilobitsPerSecond ?? codec.defaultKilobitsPerSecond(sampleRate: sampleRate)
        try Self.validate(codec: codec, sampleRate: sampleRate, kilobitsPerSecond: kilobitsPerSecond, name: name)
        self.init(checked: codec, sampleRate: sampleRate, kilobitsPerSecond: kilobitsPerSecond)
    }

    private init(checked codec: Codec, sampleRate: Int, kilobitsPerSecond: Int?) {
        self.codec = codec
        self.sampleRate = sampleRate
        self.kilobitsPerSecond = kilobitsPerSecond
    }

    /// The name the result's `format` field reports: `wav` for the default (as in
    /// version 1), otherwise every part: `wav_16000`, `pcm_16000`, `ulaw_8000`,
    /// `flac_22050`, `opus_24000_32`, `mp3_22050_32`.
    public var name: String {
        switch codec {
        case .wav where sampleRate == Self.engineSampleRate: "wav"
        case .opus, .mp3: "\(codec.rawValue)_\(sampleRate)_\(kilobitsPerSecond ?? 0)"
        default: "\(codec.rawValue)_\(sampleRate)"
        }
    }

    public var description: String { name }

    /// The result's `content_type`, from the contract's table.
    public var contentType: String {
        switch codec {
        case .wav: "audio/wav"
        case .pcm: "audio/pcm;rate=\(sampleRate)"
        case .ulaw: "audio/basic"
        case .alaw: "audio/x-alaw-basic"
        case .flac: "audio/flac"
        case .opus: "audio/ogg;codecs=opus"
        case .mp3: "audio/mpeg"
        }
    }

    /// The extension for a file of this format (`intone audio`): `wav`, `pcm`, `ulaw`,
    /// `alaw`, `flac`, `opus` (Ogg Opus, RFC 7845's recommendation) or `mp3`.
    public var fileExtension: String { codec.rawValue }

    /// Whether each chunk of a streamed reply is a complete file of its own (Opus and
    /// FLAC) rather than a piece of one byte stream (the others).
    public var streamedChunksAreFiles: Bool { codec == .opus || codec == .flac }

    private static func validate(codec: Codec, sampleRate: Int, kilobitsPerSecond: Int?, name: String) throws(AudioFormatError) {
        guard codec.sampleRates.contains(sampleRate) else {
            let rates = codec.sampleRates.map(String.init).joined(separator: ", ")
            throw AudioFormatError(format: name, reason: "\(codec.rawValue) takes the rates \(rates) Hz")
        }
        guard let range = codec.kilobitsPerSecondRange(sampleRate: sampleRate) else {
            guard kilobitsPerSecond == nil else { throw AudioFormatError(format: name, reason: "\(codec.rawValue) takes no bitrate") }
            return
        }
        guard let kbps = kilobitsPerSecond, range.contains(kbps) else {
            throw AudioFormatError(
                format: name, reason: "\(codec.rawValue) at \(sampleRate) Hz takes \(range.lowerBound) to \(range.upperBound) kbit/s")
        }
    }

    /// A positive decimal number written the one way: ASCII digits, no sign, no leading
    /// zero, short enough not to overflow.
    private static func number(_ bytes: [UInt8]) -> Int? {
        guard (1...6).contains(bytes.count), bytes[0] != UInt8(ascii: "0") else { return nil }
        var value = 0
        for byte in bytes {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func quoted(_ bytes: [UInt8]) -> String {
        AudioFormatError.shortened(String(decoding: bytes, as: UTF8.self))
    }
}
