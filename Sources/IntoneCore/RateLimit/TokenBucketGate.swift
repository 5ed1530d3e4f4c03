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

    /// One script call for the whole batch. A call that found the script missing
    /// (NOSCRIPT) did not run and took no token, so it is sent again after a reload.
    public func check(_ tickets: [Ticket], on connection: RedisConnection) throws(RedisError) -> [Verdict] {
        var commands = RedisCommands()
        appendCall(tickets, to: &commands)
        return try complete(tickets, try verdicts(tickets, commands.count == 0 ? nil : try connection.send(commands)[0]), on: connection)
    }

    /// Appends the batch's script call (none for no tickets) to a pipeline that may carry
    /// other commands.
    public func appendCall(_ tickets: [Ticket], to commands: inout RedisCommands) {
        guard !tickets.isEmpty else { return }
        commands.begin(3 + 3 * tickets.count + 2 + 2 * tickets.count, name: "EVALSHA")
        commands.appendArgument(.string(script.sha ?? ""))
        commands.appendArgument(.integer(3 * tickets.count))
        for ticket in tickets {
            commands.appendArgument(.string(keys.agentBucket(ticket.agentID)))
            commands.appendArgument(.string(keys.userBucket(ticket.userID)))
            commands.appendArgument(.string(keys.done(jobID: ticket.jobID)))
        }
        commands.appendArgument(.string(Self.number(userLimit.perSecond)))
        commands.appendArgument(.integer(userLimit.burst))
        var lastLimit: RateLimit?
        var rate = RedisArgument.string("")
        for ticket in tickets {
            if ticket.agentLimit != lastLimit {
                rate = .string(Self.number(ticket.agentLimit.perSecond))
                lastLimit = ticket.agentLimit
            }
            commands.appendArgument(rate)
            commands.appendArgument(.integer(ticket.agentLimit.burst))
        }
    }

    /// The verdicts in the call's reply (nil: there was no call); nil verdicts when the
    /// call found the script missing.
    public func verdicts(_ tickets: [Ticket], _ reply: RedisReply?) throws(RedisError) -> [Verdict]? {
        guard let reply else { return [] }
        if let message = reply.errorMessage {
            guard message.hasPrefix("NOSCRIPT") else { throw RedisError(.server, "token bucket script: \(message)") }
            return nil
        }
        guard let parts = reply.array, parts.count == 2 * tickets.count else {
            throw RedisError.unexpected("token bucket script", reply)
        }
        var verdicts: [Verdict] = []
        verdicts.reserveCapacity(tickets.count)
        for index in tickets.indices {
            guard let code = parts[2 * index].integer, let wait = parts[2 * index + 1].integer else {
                throw RedisError.unexpected("token bucket script", reply)
            }
            switch code {
            case 1: verdicts.append(.admitted)
            case 2: verdicts.append(.duplicate)
            case 3: verdicts.append(.refused(retryAfterMilliseconds: Int(wait), limit: "agent"))
            case 4: verdicts.append(.refused(retryAfterMilliseconds: Int(wait), limit: "user"))
            default: throw RedisError.unexpected("token bucket script", reply)
            }
        }
        return verdicts
    }

    /// The verdicts, loading the script and calling it again if it was missing.
    public func complete(_ tickets: [Ticket], _ verdicts: [Verdict]?, on connection: RedisConnection) throws(RedisError) -> [Verdict] {
        if let verdicts { return verdicts }
        try script.load(on: connection)
        var commands = RedisCommands()
        appendCall(tickets, to: &commands)
        guard let again = try self.verdicts(tickets, try connection.send(commands)[0]) else {
            throw RedisError(.server, "token bucket script still missing after SCRIPT LOAD")
        }
        return again
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
