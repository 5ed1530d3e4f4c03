/// Capped exponential backoff with jitter (pure): attempt 0 waits about `initial`, each
/// later attempt twice as long, never more than `cap`. The jitter (the delay is drawn
/// from its upper half) keeps many workers that lost the same master from asking the
/// cluster for its map in step.
public struct ClusterBackoff: Sendable, Equatable {
    public var initialMilliseconds: Int
    public var capMilliseconds: Int

    public init(initialMilliseconds: Int = 50, capMilliseconds: Int = 1000) {
        self.initialMilliseconds = max(1, initialMilliseconds)
        self.capMilliseconds = max(self.initialMilliseconds, capMilliseconds)
    }

    /// The longest delay of an attempt (0-based), before jitter.
    public func ceiling(attempt: Int) -> Int {
        let doublings = min(max(attempt, 0), 30)
        return min(capMilliseconds, initialMilliseconds << doublings)
    }

    /// The delay of an attempt, in `ceiling/2 … ceiling`; `unit` (0 ≤ unit < 1) is the random draw.
    public func delay(attempt: Int, unit: Double) -> Int {
        let ceiling = ceiling(attempt: attempt)
        let half = ceiling / 2
        return half + Int(Double(ceiling - half) * min(max(unit, 0), 1))
    }

    /// The delay of an attempt with a random draw.
    public func delay(attempt: Int) -> Int {
        delay(attempt: attempt, unit: Double.random(in: 0..<1))
    }
}
