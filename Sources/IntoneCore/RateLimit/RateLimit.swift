/// A token bucket's shape: `rate` tokens a second, holding at most `burst`.
///
/// Written as `"R/s burst B"` in flags, environment variables and the agent hash's
/// `rate_limit` field, e.g. `20/s burst 40` or `0.5/s burst 2`.
public struct RateLimit: Sendable, Equatable, CustomStringConvertible {
    public var perSecond: Double
    public var burst: Int

    public init(perSecond: Double, burst: Int) {
        self.perSecond = perSecond
        self.burst = burst
    }

    public init(parsing text: String) throws(ConfigurationError) {
        let words = text.lowercased().split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard words.count == 3, words[0].hasSuffix("/s"), words[1] == "burst",
            let rate = Double(words[0].dropLast(2)), rate > 0, rate.isFinite,
            let burst = Int(words[2]), burst >= 1
        else {
            throw ConfigurationError("rate limit '\(text)' must look like '20/s burst 40' (rate > 0, burst ≥ 1)")
        }
        self.init(perSecond: rate, burst: burst)
    }

    /// The most jobs this bucket admits over any interval of `seconds`: `burst + rate × T`.
    public func maximumAdmitted(overSeconds seconds: Double) -> Double {
        Double(burst) + perSecond * seconds
    }

    public var description: String {
        let rate = perSecond == perSecond.rounded() && perSecond < 1e15 ? String(Int(perSecond)) : String(perSecond)
        return "\(rate)/s burst \(burst)"
    }
}
