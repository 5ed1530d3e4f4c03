import IntoneCore
import Testing

/// The contract's bitrate promise on real speech, whole and streamed (docs/audio-bitrates.md
/// has the whole range).
@Suite("Audio bitrates")
struct AudioBitrateTests {
    static let targets = [
        "opus_8000_6", "opus_8000_256", "opus_12000_12", "opus_16000_24", "opus_24000_32", "opus_24000_6", "opus_48000_6", "opus_48000_64",
        "opus_48000_256", "mp3_16000_8", "mp3_16000_160", "mp3_22050_32", "mp3_22050_12", "mp3_24000_8", "mp3_24000_160", "mp3_32000_32",
        "mp3_44100_128", "mp3_48000_320",
    ]

    @Test("a reply of 5 s or more averages within 1.5 times the target bitrate", arguments: targets)
    func bitrateNearTarget(_ name: String) async throws {
        let format = try AudioFormat(parsing: name)
        let (seconds, whole, streamed) = try await AudioWork.run {
            let speech = try Speech.sibilants.get()
            return (
                Double(speech.count) / Double(AudioFormat.engineSampleRate),
                try EncoderDriver().encode(speech, as: format).bytes.count,
                try EncoderDriver().stream(speech, as: format).chunks.reduce(0) { $0 + $1.count }
            )
        }
        #expect(seconds >= 5)
        let target = Double(format.kilobitsPerSecond!)
        let kbps = Double(whole * 8) / seconds / 1000
        #expect(kbps >= target / 1.5 && kbps <= target * 1.5, "\(kbps) kbit/s for \(name)")
        let streamedKbps = Double(streamed * 8) / seconds / 1000
        #expect(streamedKbps >= target / 1.5 && streamedKbps <= target * 1.5, "\(streamedKbps) kbit/s streamed for \(name)")
    }
}
