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

    /// The rates and bursts accepted. Outside them the bucket's arithmetic stops being
    /// meaningful: a refill of 10⁻²⁰/s would need a key TTL and a retry time beyond any
    /// integer Redis or a client holds.
    public static let rateRange = 0.001...1_000_000_000.0
    public static let burstRange = 1...1_000_000_000
    public static let accepted = "'R/s burst B' with R from 0.001 to 1000000000 and B from 1 to 1000000000, e.g. '20/s burst 40'"

    public init(parsing text: String) throws(ConfigurationError) {
        let words = text.lowercased().split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard words.count == 3, words[0].hasSuffix("/s"), words[1] == "burst",
            let rate = Double(words[0].dropLast(2)), Self.rateRange.contains(rate),
            let burst = Int(words[2]), Self.burstRange.contains(burst)
        else {
            throw ConfigurationError("rate limit '\(DisplayText.escaped(text))' must be \(Self.accepted)")
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
