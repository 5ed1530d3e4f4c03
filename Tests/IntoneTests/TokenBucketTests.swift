import Foundation
import Testing

@testable import IntoneCore

/// The gate's Lua script against a real redis-server: the arithmetic of the buckets.
@Suite(.redisServer) struct TokenBucketTests {
    /// A gate and its script, called as the worker calls it.
    struct Gate {
        let gate: TokenBucketGate
        let script = RedisScript(name: "token bucket", source: TokenBucketScript.source)

        /// Tickets name their job id in `marker`; the gate's queue makes it its done marker.
        func check(_ tickets: [TokenBucketGate.Ticket], on connection: RedisConnection) throws -> [TokenBucketGate.Verdict] {
            let marked = tickets.map { ticket in
                var ticket = ticket
                ticket.marker = gate.keys.done(jobID: ticket.marker)
                return ticket
            }
            return try gate.check(marked, script: script, on: connection)
        }
    }

    func makeGate(_ keys: QueueKeys, user: RateLimit, on connection: RedisConnection) throws -> Gate {
        Gate(gate: TokenBucketGate(keys: keys, userLimit: user))
    }

    func ticket(_ job: String, agent: String = "a1", user: String = "u1", limit: RateLimit = RateLimit(perSecond: 1000, burst: 1000))
        -> TokenBucketGate.Ticket
    {
        .init(marker: ByteString(job), agentID: ByteString(agent), userID: ByteString(user), agentLimit: limit)
    }

    func tokens(_ key: String, on connection: RedisConnection) throws -> Double {
        try #require(Double(try connection.command("HGET", .string(key), "tokens").string ?? ""))
    }

    @Test func burstIsAdmittedThenRefusedWithRetryAfter() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let gate = try makeGate(keys, user: RateLimit(perSecond: 1, burst: 3), on: connection)
        let verdicts = try gate.check((1...5).map { ticket("j\($0)") }, on: connection)
        #expect(Array(verdicts.prefix(3)) == [.admitted, .admitted, .admitted])
        for verdict in verdicts.suffix(2) {
            guard case .refused(let wait, let scope) = verdict else {
                Issue.record("expected a refusal, got \(verdict)")
                continue
            }
            #expect(scope == .user)
            #expect(wait > 0 && wait <= 1000)
        }
    }

    @Test func aJobOneBucketRefusesTakesNoTokenFromTheOther() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        // Refills so slow that the test's own duration cannot add a token.
        let slow = RateLimit(perSecond: 0.001, burst: 2)
        let gate = try makeGate(keys, user: RateLimit(perSecond: 0.001, burst: 10), on: connection)
        let verdicts = try gate.check((1...4).map { ticket("j\($0)", limit: slow) }, on: connection)
        #expect(verdicts[0] == .admitted && verdicts[1] == .admitted)
        guard case .refused(_, .agent) = verdicts[2] else {
            Issue.record("expected the agent to refuse: \(verdicts)")
            return
        }
        #expect(abs(try tokens(keys.userBucket("u1"), on: connection) - 8) < 0.01, "refused jobs took no user token")

        let userGate = try makeGate(keys, user: RateLimit(perSecond: 0.001, burst: 1), on: connection)
        let second = try userGate.check(
            [
                ticket("k1", agent: "a2", user: "u2", limit: RateLimit(perSecond: 0.001, burst: 5)),
                ticket("k2", agent: "a2", user: "u2", limit: RateLimit(perSecond: 0.001, burst: 5)),
            ], on: connection)
        #expect(second[0] == .admitted)
        guard case .refused(_, .user) = second[1] else {
            Issue.record("expected the user to refuse: \(second)")
            return
        }
        #expect(abs(try tokens(keys.agentBucket("a2"), on: connection) - 4) < 0.01, "refused jobs took no agent token")
    }

    @Test func bucketsRefillAtTheirRate() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let gate = try makeGate(keys, user: RateLimit(perSecond: 10, burst: 1), on: connection)
        let first = try gate.check([ticket("a"), ticket("b")], on: connection)
        #expect(first[0] == .admitted)
        guard case .refused(let wait, .user) = first[1] else {
            Issue.record("expected the user to refuse: \(first)")
            return
        }
        #expect(wait > 0 && wait <= 100, "one token at 10/s is at most 100 ms away")
        try await Task.sleep(for: .milliseconds(150))
        #expect(try gate.check([ticket("c")], on: connection) == [.admitted])
    }

    @Test func bucketKeysExpireWhenTheyWouldBeFull() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        // Slow refills, so that the TTLs are long next to the test's own duration.
        let gate = try makeGate(keys, user: RateLimit(perSecond: 0.02, burst: 5), on: connection)
        _ = try gate.check([ticket("j1", limit: RateLimit(perSecond: 0.01, burst: 40))], on: connection)
        let userTTL = try #require(try connection.command("PTTL", .string(keys.userBucket("u1"))).integer)
        let agentTTL = try #require(try connection.command("PTTL", .string(keys.agentBucket("a1"))).integer)
        #expect(userTTL > 40_000 && userTTL <= 50_000, "one token at 0.02/s refills in 50 s")
        #expect(agentTTL > 90_000 && agentTTL <= 100_000, "one token at 0.01/s refills in 100 s")
    }

    @Test func aJobIDThatHasAResultTakesNoToken() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        try connection.command("SET", .string(keys.done(jobID: "seen")), "1-0", "EX", "60")
        let gate = try makeGate(keys, user: RateLimit(perSecond: 1, burst: 5), on: connection)
        #expect(try gate.check([ticket("seen")], on: connection) == [.duplicate])
        #expect(try connection.command("EXISTS", .string(keys.userBucket("u1"))).integer == 0)
    }

    @Test func scriptCacheFlushDoesNotDoubleCharge() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let gate = try makeGate(keys, user: RateLimit(perSecond: 0.001, burst: 5), on: connection)
        #expect(try gate.check([ticket("j1"), ticket("j2")], on: connection) == [.admitted, .admitted])
        try connection.command("SCRIPT", "FLUSH")
        #expect(try gate.check([ticket("j3"), ticket("j4")], on: connection) == [.admitted, .admitted])
        #expect(abs(try tokens(keys.userBucket("u1"), on: connection) - 1) < 0.01, "four jobs took exactly four tokens")
    }

    /// Rates and bursts outside the bounds are refused where they are parsed; the script
    /// clamps what it writes as well, so even a bucket stored by an older worker with a
    /// tiny rate cannot give a key without a TTL or a negative retry time.
    @Test func boundsHoldInTheParserAndTheScript() throws {
        #expect(throws: ConfigurationError.self) { try RateLimit(parsing: "0.00000000000000000001/s burst 1") }
        #expect(throws: ConfigurationError.self) { try RateLimit(parsing: "5/s burst 0") }
        #expect(throws: ConfigurationError.self) { try RateLimit(parsing: "2000000000/s burst 1") }
        #expect(throws: ConfigurationError.self) { try RateLimit(parsing: "1/s burst 2000000000") }
        #expect(try RateLimit(parsing: "0.001/s burst 1000000000") == RateLimit(perSecond: 0.001, burst: 1_000_000_000))

        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let gate = try makeGate(keys, user: RateLimit(perSecond: 1, burst: 5), on: connection)
        let tiny = RateLimit(perSecond: 1e-20, burst: 1)
        let verdicts = try gate.check([ticket("t1", limit: tiny), ticket("t2", limit: tiny)], on: connection)
        #expect(verdicts[0] == .admitted)
        guard case .refused(let wait, .agent) = verdicts[1] else {
            Issue.record("expected the agent to refuse: \(verdicts)")
            return
        }
        #expect(wait > 0 && wait <= 1_000_000_000_000, "the retry time is clamped, never negative")
        let ttl = try #require(try connection.command("PTTL", .string(keys.agentBucket("a1"))).integer)
        #expect(ttl > 0, "the bucket keeps a TTL")
    }
}
