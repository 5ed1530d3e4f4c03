/// What to say and how: one job's text with the voice settings that apply to it.
public struct SpeechRequest: Sendable, Equatable {
    /// Plain text, control characters already removed; never SSML.
    public var text: String
    public var voice: String
    /// Words per minute, 80 to 450.
    public var rate: Int
    /// 0 to 99.
    public var pitch: Int
    /// Send the audio as a stream of chunks while it renders (contract 1.1).
    public var streamed: Bool
    /// What the audio is encoded as.
    public var format: AudioFormat

    /// About how many bytes of WAV this text becomes: 16-bit samples at 22,050 Hz, and
    /// about 17.8 characters a second at 175 words a minute (the benchmark's reply:
    /// 130 characters, 7.3 s). A guess on the large side for text in scripts whose
    /// characters take several bytes.
    public var estimatedWAVBytes: Int {
        text.utf8.count * 2_500 * 175 / max(rate, 1)
    }

    public init(text: String, voice: String, rate: Int, pitch: Int, streamed: Bool = false, format: AudioFormat = .wav) {
        self.text = text
        self.voice = voice
        self.rate = rate
        self.pitch = pitch
        self.streamed = streamed
        self.format = format
    }
}

/// A rendered reply: its encoded bytes and what they hold. For a streamed reply, `bytes`
/// is only the last piece (the chunks went out as they were rendered).
public struct RenderedAudio: Sendable, Equatable {
    public var bytes: [UInt8]
    /// The format's name as the result reports it (`wav` for the default).
    public var format: String
    public var contentType: String
    /// Output sample rate, and samples at that rate.
    public var sampleRate: Int
    public var sampleCount: Int
    /// Time espeak-ng took, and time the encoder took, measured in the child.
    public var synthesisMicroseconds: Int
    public var encodingMicroseconds: Int

    public init(
        bytes: [UInt8], format: String = "wav", contentType: String = "audio/wav", sampleRate: Int, sampleCount: Int,
        synthesisMicroseconds: Int = 0, encodingMicroseconds: Int = 0
    ) {
        self.bytes = bytes
        self.format = format
        self.contentType = contentType
        self.sampleRate = sampleRate
        self.sampleCount = sampleCount
        self.synthesisMicroseconds = synthesisMicroseconds
        self.encodingMicroseconds = encodingMicroseconds
    }

    public var durationMilliseconds: Int {
        sampleRate > 0 ? sampleCount * 1000 / sampleRate : 0
    }
}

/// Why a reply could not be rendered. `code` values that reach users are the contract's.
public struct SynthesisError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        /// espeak-ng died while rendering (the contract's `synthesis_crashed`).
        public static let crashed = Code(name: "synthesis_crashed")
        /// Rendering took longer than the time limit (the contract's `synthesis_timeout`).
        public static let timeout = Code(name: "synthesis_timeout")
        /// espeak-ng does not know the voice (the contract's `unknown_voice`).
        public static let unknownVoice = Code(name: "unknown_voice")
        /// No synthesizer process could be started; the job is not at fault and stays pending.
        public static let unavailable = Code(name: "synthesis_unavailable")
        public var description: String { name }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
