import COpus

/// How much CPU the Opus encoder spends per reply: a worker setting (`--opus-effort`),
/// since it is the operator who pays for it, while the job or agent picks the format.
///
/// Measured on one 7.3 s reply at `opus_24000_32` on this project's 2-core machine
/// (docs/audio-formats.md has the table, with PESQ scores): espeak-ng renders it in
/// about 6 ms of CPU.
/// - `fast`: CELT only (`OPUS_APPLICATION_RESTRICTED_LOWDELAY`), complexity 0: about
///   6 ms, as much as the render itself.
/// - `balanced`: libopus chooses SILK, hybrid or CELT (`OPUS_APPLICATION_AUDIO`, voice
///   signal), complexity 5: about 50 ms; much better than `fast` below 24 kbit/s.
/// - `best`: the same at complexity 10: about 110 ms, what libsndfile always did.
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
