/// The queue's length, pending entries and oldest pending entry, and Redis's clock: what
/// the worker's gauges show, sampled every few seconds.
struct QueueSample: RedisSegment {
    let keys: QueueKeys

    struct Output {
        var length: Int
        var pending: Int
        /// The entry id time of the oldest pending entry.
        var oldestPendingMilliseconds: Int64?
        var serverMilliseconds: Int64
    }

    func encode(into commands: inout RedisCommands) {
        commands.append("XLEN", .string(keys.jobs))
        commands.append("XPENDING", .string(keys.jobs), .string(QueueKeys.group))
        commands.append("TIME")
    }

    func decode(_ replies: ArraySlice<RedisReply>) throws(RedisError) -> Output {
        let base = replies.startIndex
        let time = replies[base + 2]
        guard let parts = time.array, parts.count == 2, let seconds = parts[0].integer, let micros = parts[1].integer else {
            throw time.error(command: "TIME") ?? RedisError.unexpected("TIME", time)
        }
        if let error = replies[base].error(command: "XLEN") { throw error }
        // XPENDING answers NOGROUP before the group exists; that is an empty queue.
        let summary = replies[base + 1].array ?? []
        let pending = Int(summary.first?.integer ?? 0)
        var oldest: Int64?
        if pending > 0, summary.count > 1 { oldest = summary[1].string.flatMap(Job.milliseconds(ofEntryID:)) }
        return Output(
            length: Int(replies[base].integer ?? 0), pending: pending, oldestPendingMilliseconds: oldest,
            serverMilliseconds: seconds * 1000 + micros / 1000)
    }
}

/// Redis's clock as this host can tell it: the last `TIME` read plus the time since on
/// the monotonic clock. Before the first reading, the system clock.
struct ServerClock {
    private var offset: Int64?

    mutating func update(serverMilliseconds: Int64, monotonicMilliseconds: Int64 = Monotonic.milliseconds()) {
        offset = serverMilliseconds - monotonicMilliseconds
    }

    var now: Int64 {
        guard let offset else { return WallClock.milliseconds() }
        return Monotonic.milliseconds() + offset
    }
}
