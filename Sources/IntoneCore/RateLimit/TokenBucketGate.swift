/// Gates a batch's speakable jobs through the token buckets in one pipelined round trip.
public struct TokenBucketGate {
    public enum Verdict: Sendable, Equatable {
        case admitted
        case refused(retryAfterMilliseconds: Int, limit: String)
        /// The job id already has a result; no token was taken.
        case duplicate
    }

    public struct Ticket: Sendable {
        public var jobID: String
        public var agentID: String
        public var userID: String
        public var agentLimit: RateLimit

        public init(jobID: String, agentID: String, userID: String, agentLimit: RateLimit) {
            self.jobID = jobID
            self.agentID = agentID
            self.userID = userID
            self.agentLimit = agentLimit
        }
    }

    let keys: QueueKeys
    let userLimit: RateLimit
    let script: RedisScript

    /// One script call per job, all in one pipeline. Calls that found the script missing
    /// (NOSCRIPT) did not run and took no token, so they alone are sent again after a reload.
    public func check(_ tickets: [Ticket], on connection: RedisConnection) throws(RedisError) -> [Verdict] {
        var verdicts = [Verdict?](repeating: nil, count: tickets.count)
        var todo = Array(tickets.indices)
        for attempt in 0..<2 where !todo.isEmpty {
            var commands = RedisCommands()
            for index in todo {
                let ticket = tickets[index]
                commands.append(
                    script.call(
                        keys: [keys.agentBucket(ticket.agentID), keys.userBucket(ticket.userID), keys.done(jobID: ticket.jobID)],
                        arguments: [
                            .string(Self.number(ticket.agentLimit.perSecond)), .integer(ticket.agentLimit.burst),
                            .string(Self.number(userLimit.perSecond)), .integer(userLimit.burst),
                        ]))
            }
            let replies = try connection.send(commands)
            var missing: [Int] = []
            for (index, reply) in zip(todo, replies) {
                if let message = reply.errorMessage {
                    guard message.hasPrefix("NOSCRIPT"), attempt == 0 else {
                        throw RedisError(.server, "token bucket script: \(message)")
                    }
                    missing.append(index)
                    continue
                }
                verdicts[index] = try Self.verdict(reply)
            }
            if !missing.isEmpty { try script.load(on: connection) }
            todo = missing
        }
        guard todo.isEmpty else { throw RedisError(.server, "token bucket script still missing after SCRIPT LOAD") }
        return verdicts.map { $0! }
    }

    static func verdict(_ reply: RedisReply) throws(RedisError) -> Verdict {
        guard let parts = reply.array, let status = parts.first?.integer else {
            throw RedisError.unexpected("token bucket script", reply)
        }
        switch status {
        case 1: return .admitted
        case 2: return .duplicate
        default:
            guard parts.count == 3, let wait = parts[1].integer, let limit = parts[2].string else {
                throw RedisError.unexpected("token bucket script", reply)
            }
            return .refused(retryAfterMilliseconds: Int(wait), limit: limit)
        }
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
