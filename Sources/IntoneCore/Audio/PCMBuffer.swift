/// Mono 16-bit PCM samples at a sample rate: what the synthesizer produces.
public struct PCMBuffer: Sendable, Equatable {
    public var sampleRate: Int
    public var samples: [Int16]

    public init(sampleRate: Int, samples: [Int16] = []) {
        self.sampleRate = sampleRate
        self.samples = samples
    }

    public var durationMilliseconds: Int {
        sampleRate > 0 ? samples.count * 1000 / sampleRate : 0
    }
}
