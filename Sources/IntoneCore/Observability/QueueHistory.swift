/// Results and audio of a queue minute by minute, kept in Redis so that the console's
/// chart of the last hour survives restarts of workers and of the console.
///
/// One hash a minute, `intone:{Q}:minute:<unix minute>` (unix minute = unix ms / 60,000,
/// on Redis's clock): a field per result status (`ok`, `text_only`, `rate_limited`,
/// `expired`, `failed`) counting the results written in that minute, and `audio_ms`,
/// the milliseconds of audio rendered. Every write sets the hash's TTL to
/// `retentionSeconds` (2 h), so at most about 120 hashes of at most 6 fields live at once.
///
/// The writer is a pure helper: the worker appends `appendRecord` to its write-back,
/// inside the MULTI/EXEC that writes the results, so a minute counts each result once.
public enum QueueHistory {
    /// How long a minute is kept: the chart shows one hour, with an hour of margin.
    public static let retentionSeconds = 7200
    /// The audio field; every other field is a result status.
    public static let audioField = "audio_ms"

    /// One minute as read back.
    public struct Minute: Sendable, Equatable {
        /// Unix time in minutes.
        public var minute: Int64
        /// Results written in the minute, by status.
        public var statusCounts: [String: Int]
        public var audioMilliseconds: Int

        public init(minute: Int64, statusCounts: [String: Int] = [:], audioMilliseconds: Int = 0) {
            self.minute = minute
            self.statusCounts = statusCounts
            self.audioMilliseconds = audioMilliseconds
        }

        public var results: Int { statusCounts.values.reduce(0, +) }
    }

    /// The unix minute of a unix time in milliseconds.
    public static func minute(ofUnixMilliseconds milliseconds: Int64) -> Int64 {
        milliseconds >= 0 ? milliseconds / 60_000 : (milliseconds - 59_999) / 60_000
    }

    /// Appends the counters of one write-back: an HINCRBY per status with a count above
    /// zero, one for `audio_ms` when audio was rendered, and the EXPIRE (one to four
    /// commands; none when there is nothing to count). `minute` comes from Redis's clock
    /// (`TIME`, as `elapsed_ms` does), so that replicas agree on the minute.
    public static func appendRecord(
        statusCounts: [String: Int], audioMilliseconds: Int, minute: Int64, keys: QueueKeys, to commands: inout RedisCommands
    ) {
        let key = keys.minute(minute)
        var wrote = false
        for (status, count) in statusCounts.sorted(by: { $0.key < $1.key }) where count > 0 {
            commands.append("HINCRBY", .string(key), .string(status), .integer(count))
            wrote = true
        }
        if audioMilliseconds > 0 {
            commands.append("HINCRBY", .string(key), .string(audioField), .integer(audioMilliseconds))
            wrote = true
        }
        if wrote { commands.append("EXPIRE", .string(key), .integer(retentionSeconds)) }
    }

    /// Appends one HGETALL per minute of `minutes`, oldest first; `parse` reads their replies.
    public static func appendRead(minutes: ClosedRange<Int64>, keys: QueueKeys, to commands: inout RedisCommands) {
        for minute in minutes { commands.append("HGETALL", .string(keys.minute(minute))) }
    }

    /// The minutes from the replies of `appendRead` (one per minute, in order); a minute
    /// without a hash is a minute with nothing written.
    public static func parse(_ replies: some Collection<RedisReply>, minutes: ClosedRange<Int64>) -> [Minute] {
        zip(minutes, replies).map { minute, reply in
            var counts: [String: Int] = [:]
            var audio = 0
            for (name, value) in reply.pairs ?? [] {
                let number = Int(value.integer ?? 0)
                if name == audioField { audio = number } else { counts[name] = number }
            }
            return Minute(minute: minute, statusCounts: counts, audioMilliseconds: audio)
        }
    }

    /// The `count` minutes up to and including `lastMinute`, in one round trip.
    public static func read(count: Int, endingAt lastMinute: Int64, keys: QueueKeys, on connection: RedisConnection) throws(RedisError)
        -> [Minute]
    {
        let minutes = (lastMinute - Int64(max(count, 1)) + 1)...lastMinute
        var commands = RedisCommands()
        appendRead(minutes: minutes, keys: keys, to: &commands)
        return parse(try connection.send(commands), minutes: minutes)
    }
}
