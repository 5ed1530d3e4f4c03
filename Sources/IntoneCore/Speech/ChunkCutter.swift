/// Where a streamed reply's chunks end: at the start of a sentence, or after one second
/// of speech, whichever comes first (contract 1.1, "Streamed audio").
///
/// Positions are samples from the start of the reply, so the cuts depend only on the
/// rendered audio: the same samples and sentence starts, handed over in any pieces, give
/// the same cuts. espeak-ng reports a sentence's start with the buffer that begins there,
/// never after samples past it, so no cut is decided before its sentence start is known.
public struct ChunkCutter: Sendable {
    public let samplesPerChunk: Int
    /// Samples in chunks already cut, and samples received.
    public private(set) var cut = 0
    public private(set) var received = 0
    private var sentenceStarts: [Int] = []

    public init(samplesPerChunk: Int) {
        self.samplesPerChunk = max(1, samplesPerChunk)
    }

    /// Takes `count` more samples and the sentence starts reported with them; returns
    /// the positions where chunks end, in order.
    public mutating func receive(count: Int, sentenceStarts starts: [Int]) -> [Int] {
        received += count
        sentenceStarts += starts.filter { $0 > cut }
        var cuts: [Int] = []
        while true {
            sentenceStarts.removeAll { $0 <= cut }
            let next = min(sentenceStarts.min() ?? Int.max, cut + samplesPerChunk)
            guard next <= received else { break }
            cuts.append(next)
            cut = next
        }
        return cuts
    }
}
