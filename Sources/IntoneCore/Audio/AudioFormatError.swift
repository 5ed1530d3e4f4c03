/// A format name that is not in the contract's table. The worker answers it with a
/// `failed` result, error `bad_parameter`, and this message, which names the format,
/// says what is wrong with it and lists the names that are accepted.
public struct AudioFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The refused name, as given.
    public var format: String
    public var message: String

    init(format: String, reason: String) {
        self.format = format
        message = "unsupported audio format '\(Self.shortened(format))': \(reason); accepted: \(Self.accepted)"
    }

    public var description: String { message }

    /// Every accepted name, in the contract's words.
    public static let accepted =
        "wav, wav_<rate>, pcm_<rate>, flac, flac_<rate> (rates 8000, 16000, 22050, 24000, 44100, 48000); "
        + "ulaw_8000, alaw_8000; "
        + "opus, opus_<rate>, opus_<rate>_<kbps> (rates 8000, 12000, 16000, 24000, 48000; 6 to 256 kbit/s); "
        + "mp3, mp3_<rate>, mp3_<rate>_<kbps> (rates 16000, 22050, 24000, 32000, 44100, 48000; "
        + "8 to 160 kbit/s up to 24000 Hz, 32 to 320 kbit/s above); names are lower case"

    /// A name as quoted in a message: a producer's typo, not a page of text.
    static func shortened(_ text: String) -> String {
        text.count <= 40 ? text : String(text.prefix(40)) + "…"
    }
}
