/// Gates a batch's speakable jobs through the token buckets: one script call a batch.
public struct TokenBucketGate: Sendable {
    public enum Verdict: Sendable, Equatable {
        case admitted
        case refused(retryAfterMilliseconds: Int, scope: RateLimitScope)
        /// The job id already has a result; no token was taken.
        case duplicate
        /// The agent's or user's bucket key holds another type: this job cannot be gated.
        case unusableBucket(scope: RateLimitScope)
    }

    public struct Ticket: Sendable {
        /// The job's done marker (checked by the script when it lives in the buckets' slot).
        public var marker: ByteString
        public var agentID: ByteString
        public var userID: ByteString
        public var agentLimit: RateLimit

        public init(marker: ByteString, agentID: ByteString, userID: ByteString, agentLimit: RateLimit) {
            self.marker = marker
            self.agentID = agentID
            self.userID = userID
            self.agentLimit = agentLimit
        }
    }

    let keys: QueueKeys
    let userLimit: RateLimit
    /// Whether the jobs' done markers live in the buckets' slot, so that the script can
    /// skip jobs already answered (not so for a sharded queue in a cluster).
    let checksMarkers: Bool

    public init(keys: QueueKeys, userLimit: RateLimit, checksMarkers: Bool = true) {
        self.keys = keys
        self.userLimit = userLimit
        self.checksMarkers = checksMarkers
    }

    /// The batch's script call.
    public func call(_ tickets: [Ticket], script: RedisScript) -> TokenBucketCall {
        TokenBucketCall(gate: self, tickets: tickets, prefix: script.callPrefix)
    }

    /// Calls the script once for these tickets, sending its source if Redis lost it (for
    /// tools and tests; the worker's loop adds the call to its pipeline).
    public func check(_ tickets: [Ticket], script: RedisScript, on connection: RedisConnection) throws(RedisError) -> [Verdict] {
        for _ in 0..<2 {
            var pipeline = RedisPipeline()
            let slot = pipeline.add(call(tickets, script: script))
            if let verdicts = try connection.send(pipeline).output(slot) {
                script.markMissing(false)
                return verdicts
            }
            script.markMissing(true)
        }
        throw RedisError(.noScript, "token bucket script still missing after EVAL")
    }
}

/// One EVALSHA of the token-bucket script for a batch. Its output is nil when Redis had
/// lost the script (NOSCRIPT): the call did not run and took no token, so it is made
/// again after a reload.
public struct TokenBucketCall: RedisSegment {
    public let gate: TokenBucketGate
    public let tickets: [TokenBucketGate.Ticket]
    /// `EVALSHA sha` or `EVAL source`.
    public let prefix: [RedisArgument]

    public func encode(into commands: inout RedisCommands) {
        let stride = gate.checksMarkers ? 3 : 2
        commands.begin(3 + stride * tickets.count + 3 + 2 * tickets.count, name: prefix[0])
        commands.appendArgument(prefix[1])
        commands.appendArgument(.integer(stride * tickets.count))
        for ticket in tickets {
            commands.appendArgument(gate.keys.agentBucket(ticket.agentID).argument)
            commands.appendArgument(gate.keys.userBucket(ticket.userID).argument)
            if gate.checksMarkers { commands.appendArgument(ticket.marker.argument) }
        }
        commands.appendArgument(.string(Self.number(gate.userLimit.perSecond)))
        commands.appendArgument(.integer(gate.userLimit.burst))
        commands.appendArgument(.integer(stride))
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

    public func decode(_ replies: ArraySlice<RedisReply>) throws(RedisError) -> [TokenBucketGate.Verdict]? {
        let reply = replies[replies.startIndex]
        if let error = reply.error(command: "token bucket script") {
            if error.code == .noScript { return nil }
            throw error
        }
        guard let parts = reply.array, parts.count == 2 * tickets.count else {
            throw RedisError.unexpected("token bucket script", reply)
        }
        var verdicts: [TokenBucketGate.Verdict] = []
        verdicts.reserveCapacity(tickets.count)
        for index in tickets.indices {
            guard let code = parts[2 * index].integer, let wait = parts[2 * index + 1].integer else {
                throw RedisError.unexpected("token bucket script", reply)
            }
            switch code {
            case 1: verdicts.append(.admitted)
            case 2: verdicts.append(.duplicate)
            case 3: verdicts.append(.refused(retryAfterMilliseconds: Int(wait), scope: .agent))
            case 4: verdicts.append(.refused(retryAfterMilliseconds: Int(wait), scope: .user))
            case 5: verdicts.append(.unusableBucket(scope: .agent))
            case 6: verdicts.append(.unusableBucket(scope: .user))
            default: throw RedisError.unexpected("token bucket script", reply)
            }
        }
        return verdicts
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
