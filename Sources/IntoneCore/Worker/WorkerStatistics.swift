/// What a worker has done since it started.
public struct WorkerStatistics: Sendable, Equatable {
    /// Results written, by status (`ok`, `text_only`, `rate_limited`, `expired`, `failed`).
    public var results: [String: Int] = [:]
    /// Jobs acknowledged without a result because their job_id already had one.
    public var duplicates = 0
    public var batches = 0
    public var redisRoundTrips = 0
    public var synthesizerRestarts = 0
    /// Jobs taken over from other consumers whose entries went idle past the claim time.
    public var takeovers = 0
    public var audioMilliseconds = 0

    public var totalResults: Int { results.values.reduce(0, +) }
}
