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
        var commands = RedisCommands()
        appendCalls(tickets, to: &commands)
        return try complete(tickets, verdicts(try connection.send(commands)[...]), on: connection)
    }

    /// Appends one script call per ticket to a pipeline (which may carry other commands).
    public func appendCalls(_ tickets: [Ticket], to commands: inout RedisCommands) {
        let userRate = RedisArgument.string(Self.number(userLimit.perSecond))
        for ticket in tickets {
            commands.begin(10, name: "EVALSHA")
            commands.appendArgument(.string(script.sha ?? ""))
            commands.appendArgument(3)
            commands.appendArgument(.string(keys.agentBucket(ticket.agentID)))
            commands.appendArgument(.string(keys.userBucket(ticket.userID)))
            commands.appendArgument(.string(keys.done(jobID: ticket.jobID)))
            commands.appendArgument(.string(Self.number(ticket.agentLimit.perSecond)))
            commands.appendArgument(.integer(ticket.agentLimit.burst))
            commands.appendArgument(userRate)
            commands.appendArgument(.integer(userLimit.burst))
        }
    }

    /// The verdicts of the calls' replies; nil for a call that found the script missing.
    public func verdicts(_ replies: ArraySlice<RedisReply>) throws(RedisError) -> [Verdict?] {
        var verdicts: [Verdict?] = []
        verdicts.reserveCapacity(replies.count)
        for reply in replies {
            if let message = reply.errorMessage {
                guard message.hasPrefix("NOSCRIPT") else { throw RedisError(.server, "token bucket script: \(message)") }
                verdicts.append(nil)
            } else {
                verdicts.append(try Self.verdict(reply))
            }
        }
        return verdicts
    }

    /// Loads the script and sends again the calls that found it missing.
    public func complete(_ tickets: [Ticket], _ verdicts: [Verdict?], on connection: RedisConnection) throws(RedisError) -> [Verdict] {
        let missing = verdicts.indices.filter { verdicts[$0] == nil }
        guard !missing.isEmpty else { return verdicts.map { $0! } }
        try script.load(on: connection)
        var commands = RedisCommands()
        appendCalls(missing.map { tickets[$0] }, to: &commands)
        var complete = verdicts
        for (index, verdict) in zip(missing, try self.verdicts(try connection.send(commands)[...])) {
            guard let verdict else { throw RedisError(.server, "token bucket script still missing after SCRIPT LOAD") }
            complete[index] = verdict
        }
        return complete.map { $0! }
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
