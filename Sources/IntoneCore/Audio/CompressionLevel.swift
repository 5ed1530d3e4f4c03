/// The libsndfile compression level (`SFC_SET_COMPRESSION_LEVEL`, 0 = largest, 1 =
/// smallest) that gives a format's target bitrate. The measured bitrates are in
/// docs/audio-bitrates.md (`INTONE_AUDIO_MEASURE=1 swift test --filter AudioMeasurements`).
enum CompressionLevel {
    /// MP3: in constant bitrate mode libsndfile asks LAME for
    /// `max - level × (max - min)` kbit/s, truncated, with min and max 32 and 320 for
    /// MPEG-1 (32000 Hz and up) and 8 and 160 for MPEG-2 (16000 to 24000 Hz). LAME then
    /// takes the nearest bitrate a Layer III frame header can carry; the level here
    /// asks for that standard bitrate directly, the one nearest the target by ratio
    /// (12 kbit/s is encoded at 16, not at 8), so that the bitrate is never more than
    /// 1.25 times off the target between 8 and 320.
    static func mp3(kilobitsPerSecond: Int, sampleRate: Int) -> (level: Double, kilobitsPerSecond: Int) {
        let mpeg1 = sampleRate >= 32000
        let allowed =
            mpeg1
            ? [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320] : [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]
        let target = Double(kilobitsPerSecond)
        func distance(_ bitrate: Int) -> Double { max(Double(bitrate) / target, target / Double(bitrate)) }
        let standard = allowed.min { distance($0) < distance($1) }!
        let (low, high) = mpeg1 ? (32.0, 320.0) : (8.0, 160.0)
        return (clamp((high - Double(standard) - 0.5) / (high - low)), standard)
    }

    private static func clamp(_ level: Double) -> Double {
        min(1, max(0, level))
    }
}
