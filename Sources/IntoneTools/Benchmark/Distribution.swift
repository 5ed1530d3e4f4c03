import IntoneCore

/// Samples (milliseconds of `elapsed_ms` or `first_chunk_ms`) and the figures the bench
/// reports from them.
public struct Distribution: Sendable {
    public let sorted: [Double]

    public init(_ samples: [Double]) {
        sorted = samples.sorted()
    }

    public var count: Int { sorted.count }
    public var isEmpty: Bool { sorted.isEmpty }
    public var max: Double? { sorted.last }
    public var median: Double? { percentile(0.5) }

    /// Nearest rank: the smallest sample with at least `p` of the samples at or below it.
    public func percentile(_ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p * Double(sorted.count)).rounded(.up))
        return sorted[Swift.min(sorted.count - 1, Swift.max(0, rank - 1))]
    }

    public var mean: Double? {
        sorted.isEmpty ? nil : sorted.reduce(0, +) / Double(sorted.count)
    }

    /// p50, p90, p99, max and mean, and the 101 percentiles 0…100 for a distribution
    /// chart (`percentiles[k]` is the k-th percentile; `[0]` the smallest sample).
    public var json: BenchJSON {
        .object([
            ("count", .integer(count)),
            ("p50", .rounded(percentile(0.50), 1)),
            ("p90", .rounded(percentile(0.90), 1)),
            ("p99", .rounded(percentile(0.99), 1)),
            ("max", .rounded(max, 1)),
            ("mean", .rounded(mean, 1)),
            ("percentiles", .array((0...100).map { .rounded(percentile(Double($0) / 100), 1) })),
        ])
    }
}
