import Foundation
import Testing

@testable import IntoneCore

/// The write-back on its own, where the timing of two workers can be set by hand.
@Suite(.redisServer) struct BatchFinisherTests {
    let limits = BatchFinisher.Limits(resultsMaxLength: 1000, deadMaxLength: 1000, markerTTLSeconds: 600, audioTTLSeconds: 600)

    /// Two workers hold two entries of the same `job_id` (a producer enqueued it twice)
    /// and both find no done marker. The first to commit answers it; the other's
    /// transaction is aborted by WATCH, and its retry only acknowledges.
    @Test func twoWorkersRacingOnOneJobIDWriteOneResult() throws {
        let keys = try uniqueQueue()
        let first = try TestRedis.connect()
        let second = try TestRedis.connect()
        let producer = JobProducer(keys: keys)
        let fields: [(String, String)] = [("job_id", "race"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hello.")]
        try producer.add(fields, on: first)
        try producer.add(fields, on: first)
        try JobStream(keys: keys, consumer: "one").createGroup(on: first)
        let held = try JobStream(keys: keys, consumer: "one").readNew(count: 1, blockMilliseconds: 100, on: first).jobs
        let alsoHeld = try JobStream(keys: keys, consumer: "two").readNew(count: 1, blockMilliseconds: 100, on: second).jobs
        #expect(held.count == 1 && alsoHeld.count == 1 && held[0].entryID != alsoHeld[0].entryID)

        let finisher = BatchFinisher(keys: keys, limits: limits)
        func finished(_ job: Job, worker: String) -> FinishedJob {
            FinishedJob(job: job, valid: nil, outcome: .textOnly(reason: "agent_disabled"), keys: keys, worker: worker)
        }
        func check(_ jobs: [FinishedJob], on connection: RedisConnection) throws -> BatchFinisher.Check {
            let request = finisher.checkRequest(for: jobs)
            var commands = RedisCommands()
            finisher.appendCheck(request, to: &commands)
            return try finisher.parseCheck(request, try connection.send(commands)[...], on: connection)
        }
        let mine = [finished(held[0], worker: "one")]
        let theirs = [finished(alsoHeld[0], worker: "two")]
        let myCheck = try check(mine, on: first)
        let theirCheck = try check(theirs, on: second)
        #expect(myCheck.answered.isEmpty && theirCheck.answered.isEmpty)

        guard case .written(let written) = try finisher.commit(mine, acknowledgeOnly: [], check: myCheck, on: first) else {
            Issue.record("the first commit did not go through")
            return
        }
        #expect(written == .init(results: 1, duplicates: 0))
        guard case .aborted = try finisher.commit(theirs, acknowledgeOnly: [], check: theirCheck, on: second) else {
            Issue.record("the second commit was not aborted although the marker it watched was set")
            return
        }
        #expect(try finisher.finish(theirs, on: second) == .init(results: 0, duplicates: 1))

        let results = try streamEntries(keys.results, on: first)
        #expect(results.count == 1 && results.first?["job_id"] == "race" && results.first?["worker"] == "one")
        #expect(try first.command("XLEN", .string(keys.jobs)).integer == 0, "both entries are acknowledged and deleted")
        #expect(try first.command("XPENDING", .string(keys.jobs), "workers").array?.first?.integer == 0)
        #expect(try first.command("HGET", .string(keys.stats), "text_only").string == "1")
        #expect(try first.command("GET", .string(keys.done(jobID: "race"))).string == "text_only agent_disabled")
        let ttl = try #require(try first.command("TTL", .string(keys.done(jobID: "race"))).integer)
        #expect(ttl > 0 && ttl <= 600)
    }

    /// A check whose WATCH has ended (another transaction ran on the connection since)
    /// proves nothing: committing with it is refused, and the write-back checks again.
    @Test func aCheckIsNotTrustedOnceItsWatchHasEnded() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let other = try TestRedis.connect()
        let producer = JobProducer(keys: keys)
        try producer.add([("job_id", "x"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        try producer.add([("job_id", "y"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        let stream = JobStream(keys: keys, consumer: "one")
        try stream.createGroup(on: connection)
        let jobs = try stream.readNew(count: 2, blockMilliseconds: 100, on: connection).jobs
        let finisher = BatchFinisher(keys: keys, limits: limits)
        let x = [FinishedJob(job: jobs[0], valid: nil, outcome: .expired, keys: keys, worker: "one")]
        let y = [FinishedJob(job: jobs[1], valid: nil, outcome: .expired, keys: keys, worker: "one")]
        let request = finisher.checkRequest(for: x)
        var commands = RedisCommands()
        finisher.appendCheck(request, to: &commands)
        let check = try finisher.parseCheck(request, try connection.send(commands)[...], on: connection)
        // Another batch is written on the same connection (its EXEC ends every WATCH),
        // then another worker answers x.
        _ = try finisher.finish(y, on: connection)
        try other.command("SET", .string(keys.done(jobID: "x")), "ok")
        // The command meant to follow the commit in the same write is sent all the same.
        let next = RedisCommands(["PING"])
        guard case .aborted = try finisher.commit(x, acknowledgeOnly: [], check: check, then: next, on: connection) else {
            Issue.record("a commit went through on a check whose WATCH had ended")
            return
        }
        #expect(try connection.read(next.names[...]) == [.status("PONG")])
        #expect(try finisher.finish(x, on: connection) == .init(results: 0, duplicates: 1))
        #expect(try streamEntries(keys.results, on: connection).map { $0["job_id"] } == ["y"])
    }

    /// `elapsed_ms` and `failed_at` come from Redis's clock, and a refused job's dead
    /// letter carries its fields byte for byte.
    @Test func timesComeFromRedisAndDeadLettersKeepTheJobsBytes() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let producer = JobProducer(keys: keys)
        try producer.add([("job_id", "bad"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi."), ("rate", "9000")], on: connection)
        let stream = JobStream(keys: keys, consumer: "one")
        try stream.createGroup(on: connection)
        let job = try #require(try stream.readNew(count: 1, blockMilliseconds: 100, on: connection).jobs.first)
        let failure = JobFailure(.badParameter, "rate '9000' must be a whole number from 80 to 450")
        let finished = FinishedJob(job: job, valid: nil, outcome: .failed(failure), keys: keys, worker: "one")
        Thread.sleep(forTimeInterval: 0.05)
        #expect(try BatchFinisher(keys: keys, limits: limits).finish([finished], on: connection) == .init(results: 1, duplicates: 0))

        let time = try connection.command("TIME").array ?? []
        let now = (time.first?.integer ?? 0) * 1000 + (time.last?.integer ?? 0) / 1000
        let enqueued = try #require(job.enqueuedAtMilliseconds)
        let result = try #require(try streamEntries(keys.results, on: connection).first)
        let elapsed = try #require(Int64(result["elapsed_ms"] ?? ""))
        #expect(elapsed >= 50 && elapsed <= now - enqueued, "elapsed \(elapsed) ms, at most \(now - enqueued)")
        let dead = try #require(try streamEntries(keys.dead, on: connection).first)
        #expect(dead["rate"] == "9000" && dead["text"] == "Hi." && dead["error"] == "bad_parameter" && dead["entry_id"] == job.entryID)
        let failedAt = try #require(Int64(dead["failed_at"] ?? ""))
        #expect(failedAt >= enqueued + 50 && failedAt <= now)
    }
}

/// A batch's audio is held until it is written back, so long replies are rendered and
/// written back in parts that stay under the budget.
@Suite struct AudioInFlightTests {
    func admitted(_ characters: Int, rate: Int = 175) -> WorkLoop.Admitted {
        let text = String(repeating: "a", count: characters)
        let job = Job(entryID: "1-\(characters)", fields: [])
        let valid = ValidJob(jobID: "j\(characters)", agentID: "a", userID: "u", text: text)
        return (job, valid, SpeechRequest(text: text, voice: "en", rate: rate, pitch: 50))
    }

    @Test func partsStayUnderTheBudgetAndKeepEveryJobInOrder() {
        // The benchmark's reply, 130 characters, is about 321 KB of WAV; the estimate is
        // on the large side of that.
        let reply = admitted(130).request.estimatedWAVBytes
        #expect(reply >= 321_000 && reply < 400_000)
        #expect(admitted(130, rate: 350).request.estimatedWAVBytes == reply / 2)

        let jobs = (1...300).map { admitted(100 + $0) }
        let budget = 8 << 20
        let parts = WorkLoop.parts(of: jobs, budget: budget)
        #expect(parts.count > 1)
        #expect(parts.flatMap { $0 }.map(\.valid.jobID) == jobs.map(\.valid.jobID))
        for part in parts { #expect(part.reduce(0) { $0 + $1.request.estimatedWAVBytes } <= budget) }

        // One reply larger than the budget is a part of its own.
        let huge = WorkLoop.parts(of: [admitted(10), admitted(10_000), admitted(10)], budget: 1 << 20)
        #expect(huge.map(\.count) == [1, 1, 1])
        #expect(WorkLoop.parts(of: [], budget: budget).isEmpty)
    }
}
