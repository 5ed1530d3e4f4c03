import Foundation
import Testing

@testable import IntoneCore

/// The write-back's two steps on their own, against a real redis-server, where the timing
/// of two workers and the state of every key can be set by hand.
@Suite(.redisServer) struct WriteBackTests {
    func settings(_ keys: QueueKeys, worker: String = "one", audioTTL: Int = 600) -> WriteBackCommit.Settings {
        .init(worker: worker, resultsMaxLength: 1000, deadMaxLength: 1000, markerTTLSeconds: 600, audioTTLSeconds: audioTTL)
    }

    /// Reads `count` new entries as `consumer`.
    func read(_ keys: QueueKeys, _ consumer: String, count: Int = 1, on connection: RedisConnection) throws -> [Job] {
        let stream = JobStream(keys: keys, consumer: consumer)
        try stream.createGroup(on: connection)
        var pipeline = RedisPipeline()
        let slot = pipeline.add(stream.readNew(count: count, blockMilliseconds: 100))
        return try connection.send(pipeline).output(slot).jobs
    }

    func check(_ items: [WriteBackCommit.Item], _ keys: QueueKeys, on connection: RedisConnection) throws -> WriteBackCheck.Output {
        var pipeline = RedisPipeline()
        let slot = pipeline.add(
            WriteBackCheck(jobs: items.map(\.checked)))
        return try connection.send(pipeline).output(slot)
    }

    func commit(_ segment: WriteBackCommit, on connection: RedisConnection) throws -> WriteBackCommit.Output {
        var pipeline = RedisPipeline()
        let slot = pipeline.add(segment)
        return try connection.send(pipeline).output(slot)
    }

    /// Check and commit until written (or found answered), as the loop does.
    func writeBack(_ items: [WriteBackCommit.Item], _ keys: QueueKeys, on connection: RedisConnection) throws -> WriteBackCommit {
        for _ in 0..<3 {
            let checked = try check(items, keys, on: connection)
            let prepared = items.map { item in
                var finished = item.finished
                WriteBackQueue.prepare(&finished, check: checked)
                return WriteBackCommit.Item(finished, acknowledges: item.acknowledges)
            }
            let segment = WriteBackCommit(settings: settings(keys), items: prepared, acknowledgeOnly: [], check: checked)
            if case .applied = try commit(segment, on: connection) { return segment }
        }
        throw TestSupportError("the write-back never went through")
    }

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
        let held = try read(keys, "one", on: first)
        let alsoHeld = try read(keys, "two", on: second)
        #expect(held.count == 1 && alsoHeld.count == 1 && held[0].entryID != alsoHeld[0].entryID)

        let mine = [WriteBackCommit.Item(FinishedJob(job: held[0], valid: nil, outcome: .textOnly(.agentDisabled), keys: keys))]
        let theirs = [WriteBackCommit.Item(FinishedJob(job: alsoHeld[0], valid: nil, outcome: .textOnly(.agentDisabled), keys: keys))]
        let myCheck = try check(mine, keys, on: first)
        let theirCheck = try check(theirs, keys, on: second)
        #expect(myCheck.answered.isEmpty && theirCheck.answered.isEmpty)

        guard
            case .applied(let applied) = try commit(
                .init(settings: settings(keys), items: mine, acknowledgeOnly: [], check: myCheck), on: first)
        else {
            Issue.record("the first commit did not go through")
            return
        }
        #expect(applied.written == [0] && applied.lostResults.isEmpty && applied.acknowledged)
        guard
            case .aborted = try commit(
                .init(settings: settings(keys, worker: "two"), items: theirs, acknowledgeOnly: [], check: theirCheck), on: second)
        else {
            Issue.record("the second commit was not aborted although the marker it watched was set")
            return
        }
        let again = try writeBack(theirs, keys, on: second)
        #expect(again.writes.isEmpty && again.duplicates == [0])

        let results = try streamEntries(keys.results, on: first)
        #expect(results.count == 1 && results.first?["job_id"] == "race" && results.first?["worker"] == "one")
        #expect(try first.command("XLEN", .string(keys.jobs)).integer == 0, "both entries are acknowledged and deleted")
        #expect(try first.command("XPENDING", .string(keys.jobs), "workers").array?.first?.integer == 0)
        #expect(try first.command("HGET", .string(keys.stats), "text_only").string == "1")
        #expect(try first.command("GET", .string(keys.done(jobID: "race"))).string == "text_only agent_disabled")
    }

    /// A queue's check is in force only while no EXEC ran on its connection: the queue
    /// refuses to commit on an older one and checks the group again.
    @Test func aCheckIsNotTrustedOnceItsWatchHasEnded() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        try JobProducer(keys: keys).add([("job_id", "x"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        let job = try #require(try read(keys, "one", on: connection).first)
        var queue = WriteBackQueue(maxJobs: 10, maxAudioBytes: 1 << 20)
        queue.add(FinishedJob(job: job, valid: nil, outcome: .expired, keys: keys))
        let taken = queue.takeCheck(now: 0)
        let segment = try #require(taken)
        var pipeline = RedisPipeline()
        let slot = pipeline.add(segment)
        let output = try connection.send(pipeline).output(slot)
        #expect(queue.receiveCheck(.success(output), epoch: connection.watchEpoch, now: 0).isEmpty)
        #expect(queue.commitReady(epoch: connection.watchEpoch))
        try connection.command("MULTI")
        try connection.command("EXEC")
        #expect(!queue.commitReady(epoch: connection.watchEpoch), "an EXEC ended the WATCH")
        let stale = queue.takeCommit(settings: settings(keys), epoch: connection.watchEpoch)
        #expect(stale == nil)
        #expect(queue.checkReady(now: 0), "the group waits for a new check")
    }

    /// Group commit under load: jobs that finished while a group was being checked are
    /// checked in the round trip that commits that group (commit first, then the check),
    /// not one round trip later, and both land.
    @Test func theNextGroupIsCheckedInTheRoundTripThatCommitsThePrevious() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let producer = JobProducer(keys: keys)
        for id in ["g1", "g2"] { try producer.add([("job_id", id), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection) }
        let jobs = try read(keys, "one", count: 2, on: connection)
        try #require(jobs.count == 2)
        var queue = WriteBackQueue(maxJobs: 10, maxAudioBytes: 1 << 20)
        queue.add(FinishedJob(job: jobs[0], valid: nil, outcome: .expired, keys: keys))
        var first = RedisPipeline()
        let firstSegment = queue.takeCheck(now: 0)
        let firstCheck = first.add(try #require(firstSegment))
        queue.add(FinishedJob(job: jobs[1], valid: nil, outcome: .expired, keys: keys))
        #expect(!queue.checkReady(now: 0), "one group checked at a time")
        let checked = try connection.send(first).output(firstCheck)
        #expect(queue.receiveCheck(.success(checked), epoch: connection.watchEpoch, now: 0).isEmpty)
        #expect(!queue.checkReady(now: 0), "not while the checked group waits for its commit")
        #expect(queue.commitReady(epoch: connection.watchEpoch))
        #expect(queue.checkReady(now: 0, committingFirst: true), "but in the round trip that commits it")

        var second = RedisPipeline()
        let commitSegment = queue.takeCommit(settings: settings(keys), epoch: connection.watchEpoch)
        let checkSegment = queue.takeCheck(now: 0)
        let commit = second.add(try #require(commitSegment))
        let secondCheck = second.add(try #require(checkSegment, "checked together with the commit"))
        let replies = try connection.send(second)
        let committed = try replies.output(commit)
        var reports = queue.receiveCommit(.success(committed), commit: commit.segment, now: 0)
        #expect(queue.receiveCheck(.success(try replies.output(secondCheck)), epoch: connection.watchEpoch, now: 0).isEmpty)
        var third = RedisPipeline()
        let lastSegment = queue.takeCommit(settings: settings(keys), epoch: connection.watchEpoch)
        let lastCommit = third.add(try #require(lastSegment))
        reports += queue.receiveCommit(.success(try connection.send(third).output(lastCommit)), commit: lastCommit.segment, now: 0)
        let written = reports.flatMap { report -> [String] in
            if case .written(let jobs, _, _, _) = report { return jobs.map { $0.jobID.description } }
            return []
        }
        #expect(written == ["g1", "g2"])
        #expect(queue.isEmpty)
        #expect(try streamEntries(keys.results, on: connection).map { $0["job_id"] } == ["g1", "g2"])
    }

    /// `elapsed_ms` and `failed_at` come from Redis's clock, and a refused job's dead
    /// letter carries its fields byte for byte.
    @Test func timesComeFromRedisAndDeadLettersKeepTheJobsBytes() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        try JobProducer(keys: keys).add(
            [("job_id", "bad"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi."), ("rate", "9000")], on: connection)
        let job = try #require(try read(keys, "one", on: connection).first)
        let failure = JobFailure(.badParameter, "rate '9000' must be a whole number from 80 to 450")
        Thread.sleep(forTimeInterval: 0.05)
        _ = try writeBack([.init(FinishedJob(job: job, valid: nil, outcome: .failed(failure), keys: keys))], keys, on: connection)

        let time = try connection.command("TIME").array ?? []
        let now = (time.first?.integer ?? 0) * 1000 + (time.last?.integer ?? 0) / 1000
        let enqueued = try #require(job.enqueuedAtMilliseconds)
        let result = try #require(try streamEntries(keys.results, on: connection).first)
        let elapsed = try #require(Int64(result["elapsed_ms"] ?? ""))
        // Redis's TIME can lag a busy event loop by a few milliseconds: a little slack.
        #expect(elapsed >= 50 && elapsed <= now - enqueued + 250, "elapsed \(elapsed) ms, at most \(now - enqueued)")
        let dead = try #require(try streamEntries(keys.dead, on: connection).first)
        #expect(dead["rate"] == "9000" && dead["text"] == "Hi." && dead["error"] == "bad_parameter" && dead["entry_id"] == job.entryID)
        let failedAt = try #require(Int64(dead["failed_at"] ?? ""))
        #expect(failedAt >= enqueued + 50 && failedAt <= now + 250)
    }

    /// A `reply_to` that cannot take the result (a key of another type, or a stream at the
    /// largest id) costs its job a `failed`/`bad_reply_to` result on the queue's result
    /// stream and a dead letter, in the same transaction as its XACK; its batch-mates are
    /// written as usual.
    @Test func aReplyToThatCannotTakeTheResultGetsBadReplyToOnTheDefaultStream() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let evil = keys.prefix + "evil"
        let notAStream = keys.prefix + "notastream"
        try connection.command("XADD", .string(evil), "18446744073709551615-18446744073709551615", "a", "b")
        try connection.command("SET", .string(notAStream), "x")
        let producer = JobProducer(keys: keys)
        try producer.add([("job_id", "evil"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi."), ("reply_to", evil)], on: connection)
        try producer.add(
            [("job_id", "str"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi."), ("reply_to", notAStream)], on: connection)
        try producer.add([("job_id", "fine"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        let jobs = try read(keys, "one", count: 3, on: connection)
        let validation = JobValidation(maxTextBytes: 100, keys: keys, catalog: nil)
        let items = try jobs.map { job in
            WriteBackCommit.Item(
                FinishedJob(job: job, valid: try validation.validate(job).get(), outcome: .textOnly(.agentDisabled), keys: keys))
        }
        let segment = try writeBack(items, keys, on: connection)
        #expect(segment.writes.count == 3)

        let results = byJobID(try streamEntries(keys.results, on: connection))
        #expect(results["fine"]?["status"] == "text_only")
        for id in ["evil", "str"] {
            #expect(results[id]?["status"] == "failed" && results[id]?["error"] == "bad_reply_to", "\(id): \(results[id] ?? [:])")
        }
        #expect(results["str"]?["message"]?.contains("is a string, not a stream") == true)
        #expect(results["evil"]?["message"]?.contains("largest stream id") == true)
        #expect(Set(try streamEntries(keys.dead, on: connection).compactMap { $0["job_id"] }) == ["evil", "str"])
        #expect(try connection.command("XLEN", .string(keys.jobs)).integer == 0)
        #expect(try connection.command("GET", .string(notAStream)).string == "x", "the key of another type is left alone")
    }

    /// A stream the producer owns keeps its own lifetime: a result added to it does not
    /// put a TTL on it. A stream the worker creates expires with the audio.
    @Test func onlyStreamsTheWorkerCreatesGetATTL() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let audit = keys.prefix + "audit"
        let fresh = keys.prefix + "replies:fresh"
        try connection.command("XADD", .string(audit), "*", "keep", "me")
        let producer = JobProducer(keys: keys)
        try producer.add([("job_id", "a1"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi."), ("reply_to", audit)], on: connection)
        try producer.add([("job_id", "f1"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi."), ("reply_to", fresh)], on: connection)
        let jobs = try read(keys, "one", count: 2, on: connection)
        let validation = JobValidation(maxTextBytes: 100, keys: keys, catalog: nil)
        let items = try jobs.map { job in
            WriteBackCommit.Item(FinishedJob(job: job, valid: try validation.validate(job).get(), outcome: .expired, keys: keys))
        }
        _ = try writeBack(items, keys, on: connection)
        #expect(try connection.command("TTL", .string(audit)).integer == -1, "the producer's stream has no TTL")
        let ttl = try #require(try connection.command("TTL", .string(fresh)).integer)
        #expect(ttl > 500 && ttl <= 600)
        #expect(try connection.command("XLEN", .string(audit)).integer == 2)
    }

    /// A command refused inside a transaction that went through (the result stream
    /// changed type in the instant between check and EXEC) is reported per job, so the
    /// job is answered again instead of lost.
    @Test func aResultRefusedInsideTheTransactionIsReportedForItsJob() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        try JobProducer(keys: keys).add([("job_id", "j"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        let job = try #require(try read(keys, "one", on: connection).first)
        let items = [WriteBackCommit.Item(FinishedJob(job: job, valid: nil, outcome: .expired, keys: keys))]
        let checked = try check(items, keys, on: connection)
        // The results key changes type after the check (it is not watched: every worker
        // writes to it).
        let other = try TestRedis.connect()
        try other.command("SET", .string(keys.results), "x")
        guard
            case .applied(let applied) = try commit(
                .init(settings: settings(keys), items: items, acknowledgeOnly: [], check: checked), on: connection)
        else {
            Issue.record("the transaction did not run")
            return
        }
        #expect(applied.written.isEmpty)
        #expect(applied.lostResults.map(\.index) == [0] && applied.lostResults.first?.error.code == .wrongType)
        #expect(applied.acknowledged, "XACK ran anyway: MULTI/EXEC does not roll back")

        // The queue puts it back, not acknowledging it a second time.
        var queue = WriteBackQueue(maxJobs: 10, maxAudioBytes: 1 << 20)
        queue.add(items[0].finished)
        _ = queue.takeCheck(now: 0)
        _ = queue.receiveCheck(.success(checked), epoch: 1, now: 0)
        let taken = queue.takeCommit(settings: settings(keys), epoch: 1)
        let segment = try #require(taken)
        let reports = queue.receiveCommit(.success(.applied(applied)), commit: segment, now: 0)
        #expect(reports.contains { if case .resultRefused = $0 { true } else { false } })
        #expect(queue.waiting.count == 1 && queue.waiting.first?.acknowledges == false)
    }

    /// A dead letter refused inside a transaction that wrote the result (the dead-letter
    /// stream reached the largest id between check and EXEC) is written again, alone:
    /// no second result, no second count, no second acknowledgement; the queue holds
    /// back with a fault until the stream takes it.
    @Test func aDeadLetterRefusedInsideTheTransactionIsWrittenAgainAlone() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        try JobProducer(keys: keys).add([("job_id", "d"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        let job = try #require(try read(keys, "one", on: connection).first)
        let failed = FinishedJob(job: job, valid: nil, outcome: .failed(JobFailure(.badParameter, "bad")), keys: keys)
        var queue = WriteBackQueue(maxJobs: 10, maxAudioBytes: 1 << 20)
        queue.add(failed)
        func roundTrip(now: Int64, between: () throws -> Void = {}) throws -> [WriteBackQueue.Report] {
            let takenCheck = queue.takeCheck(now: now)
            let checkSegment = try #require(takenCheck)
            var pipeline = RedisPipeline()
            let slot = pipeline.add(checkSegment)
            var reports = queue.receiveCheck(.success(try connection.send(pipeline).output(slot)), epoch: 1, now: now)
            try between()
            let takenCommit = queue.takeCommit(settings: settings(keys), epoch: 1)
            let segment = try #require(takenCommit)
            reports += queue.receiveCommit(.success(try commit(segment, on: connection)), commit: segment, now: now)
            return reports
        }
        let first = try roundTrip(now: 0) {
            let other = try TestRedis.connect()
            try other.command("XADD", .string(keys.dead), "18446744073709551615-18446744073709551615", "a", "b")
        }
        #expect(first.contains { if case .written(let jobs, _, _, _) = $0 { jobs.count == 1 } else { false } })
        #expect(first.contains { if case .deadLetterRefused = $0 { true } else { false } })
        #expect(first.contains { if case .fault(.entriesRefused, _) = $0 { true } else { false } })
        #expect(queue.waiting.map(\.parts) == [[.deadLetter]] && queue.waiting.first?.acknowledges == false)
        #expect(try pendingCount(keys, on: connection) == 0, "acknowledged with its result")
        #expect(!queue.checkReady(now: 0), "held back")

        // While the stream refuses, the check finds it exhausted and holds the letter.
        let held = try roundTripHeld(&queue, keys, on: connection)
        #expect(held.isEmpty && queue.waiting.count == 1)

        try connection.command("DEL", .string(keys.dead))
        let second = try roundTrip(now: Int64.max / 2)
        #expect(second.contains { if case .cleared(.entriesRefused) = $0 { true } else { false } })
        #expect(!second.contains { if case .written(let jobs, _, _, _) = $0 { !jobs.isEmpty } else { false } }, "not answered twice")
        #expect(queue.isEmpty)
        let dead = try streamEntries(keys.dead, on: connection)
        #expect(dead.count == 1 && dead.first?["job_id"] == "d" && dead.first?["error"] == "bad_parameter")
        #expect(try streamEntries(keys.results, on: connection).count == 1)
        #expect(try connection.command("HGET", .string(keys.stats), "failed").string == "1")
    }

    /// One check of the queue's waiting items; the items it could not take stay waiting.
    func roundTripHeld(_ queue: inout WriteBackQueue, _ keys: QueueKeys, on connection: RedisConnection) throws -> [Int] {
        let taken = queue.takeCheck(now: Int64.max / 4)
        let checkSegment = try #require(taken)
        var pipeline = RedisPipeline()
        let slot = pipeline.add(checkSegment)
        _ = queue.receiveCheck(.success(try connection.send(pipeline).output(slot)), epoch: 1, now: Int64.max / 4)
        return queue.checked?.group.items.indices.map { $0 } ?? []
    }

    /// Redis refusing the whole transaction (OOM: EXECABORT) writes nothing; the cause is
    /// the queued command's own error, not "EXECABORT".
    @Test func aRefusedTransactionWritesNothingAndNamesItsCause() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        try JobProducer(keys: keys).add([("job_id", "j"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        let job = try #require(try read(keys, "one", on: connection).first)
        let items = [WriteBackCommit.Item(FinishedJob(job: job, valid: nil, outcome: .expired, keys: keys))]
        let checked = try check(items, keys, on: connection)
        try connection.command("CONFIG", "SET", "maxmemory", "1")
        defer { _ = try? connection.command("CONFIG", "SET", "maxmemory", "0") }
        let outcome = try commit(.init(settings: settings(keys), items: items, acknowledgeOnly: [], check: checked), on: connection)
        _ = try connection.command("CONFIG", "SET", "maxmemory", "0")
        guard case .refused(let error) = outcome else {
            Issue.record("expected a refusal, got \(outcome)")
            return
        }
        #expect(error.code == .outOfMemory)
        #expect(try connection.command("XLEN", .string(keys.results)).integer == 0)
        #expect(try connection.command("XPENDING", .string(keys.jobs), "workers").array?.first?.integer == 1, "still pending")
    }

    /// Ids are bytes: `café` composed and decomposed are two jobs, and ids that are not
    /// UTF-8 come back exactly as sent.
    @Test func idsAreComparedAndEchoedAsBytes() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let ids: [[UInt8]] = [Array("caf\u{E9}".utf8), Array("cafe\u{301}".utf8), [0xFF], [0xFE]]
        for id in ids {
            try connection.command("XADD", .string(keys.jobs), "*", "job_id", .bytes(id), "agent_id", "a", "user_id", "u", "text", "Hi.")
        }
        let jobs = try read(keys, "one", count: 4, on: connection)
        let decider = BatchDecider(
            shards: [keys], validation: JobValidation(maxTextBytes: 100, keys: keys, catalog: nil), maxAttempts: 5, defaultTTS: .off,
            agentLimit: RateLimit(perSecond: 1, burst: 1))
        let decision = decider.decide(JobStream.Batch(jobs: jobs), settings: { _ in nil }, now: 0)
        #expect(decision.acknowledgeOnly.isEmpty && decision.answered.count == 4, "four different ids")
        _ = try writeBack(decision.answered.map { WriteBackCommit.Item($0) }, keys, on: connection)
        let echoed = try (connection.command("XRANGE", .string(keys.results), "-", "+").array ?? []).compactMap { entry -> [UInt8]? in
            guard let pairs = entry.array?.last?.array else { return nil }
            return stride(from: 0, to: pairs.count, by: 2).first { pairs[$0].string == "job_id" }.flatMap { pairs[$0 + 1].bytes }
        }
        #expect(Set(echoed) == Set(ids))
        for id in ids { #expect(try connection.command("EXISTS", keys.done(jobID: ByteString(id)).argument).integer == 1) }
    }
}
