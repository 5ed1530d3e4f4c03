/// Capped exponential backoff with jitter.
struct Backoff: Sendable {
    let initialMilliseconds: Int
    let maximumMilliseconds: Int
    private var delay: Int

    init(initialMilliseconds: Int, maximumMilliseconds: Int) {
        self.initialMilliseconds = initialMilliseconds
        self.maximumMilliseconds = maximumMilliseconds
        delay = initialMilliseconds
    }

    /// The next wait: half the current delay plus up to as much again at random.
    mutating func next() -> Int {
        let wait = delay / 2 + Int.random(in: 0...max(0, delay / 2))
        delay = min(delay * 2, maximumMilliseconds)
        return wait
    }

    mutating func reset() {
        delay = initialMilliseconds
    }
}

/// Steps that wait after a failure, each with its own capped backoff.
struct StepBackoffs {
    private var retryAt: [String: Int64] = [:]
    private var backoffs: [String: Backoff] = [:]

    func ready(_ step: String, now: Int64) -> Bool { (retryAt[step] ?? 0) <= now }

    var nextRetry: Int64? { retryAt.values.min() }

    mutating func failed(_ step: String, now: Int64) {
        var backoff = backoffs[step] ?? Backoff(initialMilliseconds: 100, maximumMilliseconds: 5000)
        retryAt[step] = now + Int64(backoff.next())
        backoffs[step] = backoff
    }

    mutating func succeeded(_ step: String) {
        retryAt[step] = nil
        backoffs[step] = nil
    }
}
