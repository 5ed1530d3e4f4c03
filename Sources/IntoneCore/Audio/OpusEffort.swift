import COpus

/// How much CPU the Opus encoder spends per reply: a worker setting (`--opus-effort`),
/// since it is the operator who pays for it, while the job or agent picks the format.
///
/// CPU per second of speech at `opus_24000_32`, `bench/audio/run.sh` (docs/audio-bitrates.md,
/// with PESQ scores): espeak-ng renders that second in about 0.9 ms.
/// - `fast`: CELT only (`OPUS_APPLICATION_RESTRICTED_LOWDELAY`), complexity 0: 1.0 ms.
/// - `balanced`: libopus chooses SILK, hybrid or CELT (`OPUS_APPLICATION_AUDIO`, voice
///   signal), complexity 5: 6.9 ms; much better than `fast` at 24 kbit/s and under.
/// - `best`: the same at complexity 10: 12.8 ms, what libsndfile always did.
public enum OpusEffort: String, Sendable, CaseIterable {
    case fast
    case balanced
    case best

    /// The libopus application mode.
    var application: Int32 {
        switch self {
        case .fast: OPUS_APPLICATION_RESTRICTED_LOWDELAY
        case .balanced, .best: OPUS_APPLICATION_AUDIO
        }
    }

    /// `OPUS_SET_COMPLEXITY`, 0 to 10.
    var complexity: Int32 {
        switch self {
        case .fast: 0
        case .balanced: 5
        case .best: 10
        }
    }

    /// The names, for error messages and `--help`.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
