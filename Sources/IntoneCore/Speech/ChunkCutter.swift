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

/// A streamed WAV: the first chunk starts with a header whose RIFF and data sizes are
/// 0xFFFFFFFF (the length is not known yet); every chunk then carries raw 16-bit
/// little-endian samples. Concatenated, the chunks are a WAV with the samples of the
/// whole reply.
enum StreamedWAV {
    static func chunk(_ samples: ArraySlice<Int16>, sampleRate: Int, first: Bool) -> [UInt8] {
        var out: [UInt8] = first ? header(sampleRate: sampleRate) : []
        out.reserveCapacity(out.count + samples.count * 2)
        for sample in samples {
            let value = UInt16(bitPattern: sample)
            out.append(UInt8(truncatingIfNeeded: value))
            out.append(UInt8(truncatingIfNeeded: value >> 8))
        }
        return out
    }

    static func header(sampleRate: Int) -> [UInt8] {
        var out: [UInt8] = []
        func append32(_ value: UInt32) { for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> shift)) } }
        func append16(_ value: UInt16) { out.append(UInt8(truncatingIfNeeded: value)); out.append(UInt8(truncatingIfNeeded: value >> 8)) }
        out += Array("RIFF".utf8)
        append32(0xFFFF_FFFF)
        out += Array("WAVEfmt ".utf8)
        append32(16)
        append16(1)  // PCM
        append16(1)  // mono
        append32(UInt32(sampleRate))
        append32(UInt32(sampleRate * 2))
        append16(2)
        append16(16)
        out += Array("data".utf8)
        append32(0xFFFF_FFFF)
        return out
    }
}
