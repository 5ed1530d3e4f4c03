import Logging

/// The work loop's connection to Redis and what it does when Redis is away: one log line
/// when the connection is lost (or cannot be made at start), quiet retries with capped
/// backoff and jitter, one line when it is back. A restarted Redis still loading its
/// data is part of the same outage. Credentials refused at start end the worker (waiting
/// cannot fix them); later, they are retried like any other outage, with the password
/// file read again each time.
final class RedisLink {
    let url: RedisURL
    let commandTimeoutMilliseconds: Int
    let logger: Logger
    /// Makes a new connection in a cluster, to the master of the lane's slot (nil: to the URL).
    let connector: (() throws(RedisError) -> RedisConnection)?
    /// The longest wait between attempts: 5 s, or less for a cluster's lane, whose master
    /// comes back as a promoted replica that is worth finding at once.
    let maximumBackoffMilliseconds: Int
    private(set) var connection: RedisConnection?
    /// Since when Redis is away, and when to try again.
    private(set) var outage: (since: Int64, backoff: Backoff, nextAttempt: Int64)?
    private(set) var connectedOnce = false

    init(
        url: RedisURL, commandTimeoutMilliseconds: Int, logger: Logger, connection: RedisConnection? = nil,
        connector: (() throws(RedisError) -> RedisConnection)? = nil, maximumBackoffMilliseconds: Int = 5000
    ) {
        self.url = url
        self.commandTimeoutMilliseconds = commandTimeoutMilliseconds
        self.logger = logger
        self.connection = connection
        self.connector = connector
        self.maximumBackoffMilliseconds = maximumBackoffMilliseconds
    }

    private func newConnection() throws(RedisError) -> RedisConnection {
        if let connector { return try connector() }
        return try RedisConnection(url: url, commandTimeoutMilliseconds: commandTimeoutMilliseconds)
    }

    /// Connected, with no outage running.
    var isUp: Bool { connection != nil && outage == nil }

    /// When the next connection attempt is due, while Redis is away.
    var nextAttempt: Int64? { outage?.nextAttempt }

    /// What happens when a (re)connection succeeds.
    enum Restored {
        case first
        /// Back after an outage of so many milliseconds.
        case afterOutage(milliseconds: Int64)
    }

    /// Connects (or reconnects) and prepares the connection with `prepare` (the queue's
    /// group, which a restarted Redis may have lost). Returns nil while Redis stays away;
    /// throws only for credentials refused before the first connection.
    func connect(now: Int64, prepare: (RedisConnection) throws(RedisError) -> Void) throws(RedisError) -> (Restored, RedisError?)? {
        do {
            if connection == nil || connection?.isBroken == true { connection = try newConnection() }
            try prepare(connection!)
        } catch {
            if error.code == .authentication, !connectedOnce { throw error }
            if error.code == .configuration { throw error }
            if outage == nil {
                logger.error("redis is not reachable; waiting for it", metadata: ["redis": "\(url)", "error.message": "\(error.message)"])
                outage = (now, Backoff(initialMilliseconds: 100, maximumMilliseconds: maximumBackoffMilliseconds), now)
            }
            outage!.nextAttempt = now + Int64(outage!.backoff.next())
            return nil
        }
        let restored: Restored
        if let outage, connectedOnce {
            logger.info("redis connection restored", metadata: ["down_ms": "\(now - outage.since)"])
            restored = .afterOutage(milliseconds: now - outage.since)
        } else {
            if outage != nil { logger.info("redis reachable", metadata: ["redis": "\(url)"]) }
            restored = .first
        }
        outage = nil
        connectedOnce = true
        return (restored, nil)
    }

    /// The connection broke (or, in a cluster, the slot moved): one line, then quiet
    /// retries. The next attempt makes a new connection.
    func lost(_ error: RedisError, now: Int64) {
        _ = connection?.markBroken(error.message)
        guard outage == nil else { return }
        if error.code == .moved {
            logger.info("cluster slot moved; following it", metadata: ["redis": "\(url)", "error.message": "\(error.message)"])
        } else {
            logger.error("redis connection lost; reconnecting", metadata: ["redis": "\(url)", "error.message": "\(error.message)"])
        }
        var backoff = Backoff(initialMilliseconds: 100, maximumMilliseconds: maximumBackoffMilliseconds)
        outage = (now, backoff, now + Int64(backoff.next()))
    }
}
