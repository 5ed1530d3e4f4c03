import Foundation
import IntoneTools
import Testing

@testable import IntoneCore

/// Nothing lost, nothing answered twice: kills, Redis restarts, shutdowns, take-overs.
@Suite(.redisServer) struct ReliabilityTests {
    func assertExactlyOneResultEach(_ ids: [String], keys: QueueKeys, on connection: RedisConnection) throws {
        let results = try streamEntries(keys.results, on: connection)
        var counts: [String: Int] = [:]
        for result in results { counts[result["job_id"] ?? "", default: 0] += 1 }
        let lost = ids.filter { counts[$0] == nil }
        let duplicated = counts.filter { $0.value > 1 }.map(\.key)
        #expect(lost.isEmpty, "lost: \(lost.prefix(10))")
        #expect(duplicated.isEmpty, "answered twice: \(duplicated.prefix(10))")
        #expect(results.count == ids.count)
        #expect(try pendingCount(keys, on: connection) == 0, "nothing left pending")
        #expect(try connection.command("XLEN", .string(keys.jobs)).integer == 0)
    }

    @Test func killNineOfOneOfTwoWorkersLosesNothing() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let server = try #require(TestRedis.server)
        let ids = (0..<80).map { "k\($0)" }
        let text = longText(words: 300)
        let entryIDs = try JobProducer(keys: keys).enqueue(
            batch: ids.map { [("job_id", $0), ("agent_id", "a"), ("user_id", "u-\($0)"), ("text", text)] }, on: connection)
        let jobOfEntry = Dictionary(uniqueKeysWithValues: zip(entryIDs, ids))
        let flags = [
            "--claim-idle-ms", "500", "--batch-size", "8", "--user-rate", "1000/s burst 1000", "--agent-rate", "1000/s burst 1000",
        ]
        let doomed = try WorkerProcess(url: server.url, queue: keys, consumer: "doomed", arguments: flags)
        let survivor = try WorkerProcess(url: server.url, queue: keys, consumer: "survivor", arguments: flags)
        try await waitForEntries(keys.results, count: 10, on: connection)
        // Kill while it holds jobs: frozen first (it answers each job as it is rendered, so
        // what it holds moves until the kill lands), and let go again if it held nothing.
        let deadline = Date().addingTimeInterval(20)
        var held: Set<String> = []
        while held.isEmpty && Date() < deadline {
            while try pendingCount(keys, consumer: "doomed", on: connection) == 0 && Date() < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            doomed.signal(SIGSTOP)
            try await Task.sleep(for: .milliseconds(300))
            held = Set(try pendingEntries(keys, consumer: "doomed", on: connection).compactMap { jobOfEntry[$0] })
            if held.isEmpty { doomed.signal(SIGCONT) }
        }
        doomed.signal(SIGKILL)
        #expect(try await doomed.waitForExit(seconds: 5) != nil)
        #expect(!held.isEmpty, "the killed worker held jobs")

        try await waitForEntries(keys.results, count: ids.count, seconds: 60, on: connection)
        try await Task.sleep(for: .milliseconds(300))
        survivor.signal(SIGTERM)
        #expect(try await survivor.waitForExit(seconds: 10) == 0)
        try assertExactlyOneResultEach(ids, keys: keys, on: connection)
        // A write-back the frozen worker had sent (a large one may still be in the socket
        // when it stops) can be carried out after `held` was read: those jobs are answered
        // by it, once. And on a loaded machine an entry can change hands between two live
        // workers (one's loop late to keep it fresh): the survivor then answers it from its
        // own first delivery. The rest of what the killed worker held was taken over.
        let results = try streamEntries(keys.results, on: connection)
        let answeredByDoomed = Set(results.filter { $0["worker"] == "doomed" }.compactMap { $0["job_id"] })
        let takenOver = Set(results.filter { $0["worker"] == "survivor" && $0["attempts"] != "1" }.compactMap { $0["job_id"] })
        let left = held.subtracting(answeredByDoomed)
        #expect(!left.isEmpty, "the killed worker held jobs it had not answered")
        #expect(!left.intersection(takenOver).isEmpty, "the survivor took over what the killed worker held")
    }

    @Test func redisRestartsWhileJobsFlowAndTheWorkerRidesItOut() async throws {
        let server = try EmbeddedRedisServer(extraArguments: ["--appendonly", "yes", "--appendfsync", "always"])
        defer { server.stop() }
        let keys = try uniqueQueue()
        let worker = try WorkerProcess(url: server.url, queue: keys, consumer: "rider", arguments: ["--user-rate", "1000/s burst 1000"])
        var connection: RedisConnection? = try RedisConnection(url: server.url)
        let producer = JobProducer(keys: keys)
        var enqueued: [String] = []
        for round in 0..<30 {
            if round == 10 {
                server.kill()
                connection = nil
                try await Task.sleep(for: .milliseconds(700))
                try server.restart()
            }
            let batch = (0..<5).map { i in
                [("job_id", "r\(round)-\(i)"), ("agent_id", "a"), ("user_id", "u\(i)"), ("text", "Round \(round).")]
            }
            do {
                if connection == nil { connection = try RedisConnection(url: server.url) }
                _ = try producer.enqueue(batch: batch, on: connection!)
                enqueued += batch.map { $0[0].1 }
            } catch {
                connection = nil
            }
            try await Task.sleep(for: .milliseconds(60))
        }
        let reader = try RedisConnection(url: server.url)
        try await waitForEntries(keys.results, count: enqueued.count, seconds: 60, on: reader)
        try await Task.sleep(for: .milliseconds(300))
        #expect(worker.isRunning, "the worker never exited")
        #expect(enqueued.count >= 140)
        try assertExactlyOneResultEach(enqueued, keys: keys, on: reader)
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit(seconds: 10) == 0)
    }

    @Test func sigtermMidBatchExitsZeroWithinTheGraceAndLosesNothing() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let server = try #require(TestRedis.server)
        let ids = (0..<24).map { "s\($0)" }
        let text = longText(words: 800)
        _ = try JobProducer(keys: keys).enqueue(
            batch: ids.map { [("job_id", $0), ("agent_id", "a"), ("user_id", "u-\($0)"), ("text", text)] }, on: connection)
        let first = try WorkerProcess(
            url: server.url, queue: keys, consumer: "leaving",
            arguments: [
                "--shutdown-grace-s", "1", "--batch-size", "24", "--user-rate", "1000/s burst 1000", "--agent-rate", "1000/s burst 1000",
            ])
        let deadline = Date().addingTimeInterval(10)
        while try pendingCount(keys, consumer: "leaving", on: connection) == 0 && Date() < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        try await Task.sleep(for: .milliseconds(200))
        let signalled = Date()
        first.signal(SIGTERM)
        let status = try await first.waitForExit(seconds: 10)
        let took = Date().timeIntervalSince(signalled)
        #expect(status == 0)
        // The grace bounds the rendering; writing back what was rendered comes after it.
        #expect(took < 1 + 4, "exited \(took) s after SIGTERM with a 1 s grace")
        let leftOver = try pendingCount(keys, consumer: "leaving", on: connection)
        #expect(leftOver > 0, "the batch was too long to finish in the grace period")

        // Released at once: a replica with the default 30 s claim time takes them now.
        let second = try WorkerProcess(
            url: server.url, queue: keys, consumer: "staying",
            arguments: ["--user-rate", "1000/s burst 1000", "--agent-rate", "1000/s burst 1000"])
        try await waitForEntries(keys.results, count: ids.count, seconds: 25, on: connection)
        try await Task.sleep(for: .milliseconds(300))
        second.signal(SIGTERM)
        #expect(try await second.waitForExit(seconds: 20) == 0)
        try assertExactlyOneResultEach(ids, keys: keys, on: connection)
    }

    @Test func aSlowJobIsNotTakenFromALiveWorker() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        // About 0.5 s of rendering against a claim time of 300 ms.
        try JobProducer(keys: keys).add(
            [("job_id", "slow"), ("agent_id", "a"), ("user_id", "u"), ("text", longText(words: 2600)), ("rate", "450")], on: connection)
        let flags = ["claim-idle-ms": "300", "max-text-bytes": "100000"]
        let holder = try RunningWorker(queue: keys, consumer: "holder", flags: flags)
        let deadline = Date().addingTimeInterval(10)
        while try pendingCount(keys, consumer: "holder", on: connection) == 0 && Date() < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        let other = try RunningWorker(queue: keys, consumer: "other", flags: flags)
        let results = byJobID(try await waitForEntries(keys.results, count: 1, seconds: 30, on: connection))
        try await Task.sleep(for: .milliseconds(400))
        try await holder.stop()
        try await other.stop()
        #expect(results["slow"]?["status"] == "ok")
        #expect(results["slow"]?["worker"] == "holder")
        #expect(results["slow"]?["attempts"] == "1")
        #expect(other.worker.statistics.takeovers == 0)
        #expect(try connection.command("XLEN", .string(keys.results)).integer == 1)
    }

    @Test func aJobDeliveredTooOftenIsNotRenderedAgain() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let id = try JobProducer(keys: keys).add(
            [("job_id", "poison"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        try JobStream(keys: keys, consumer: "ghost").createGroup(on: connection)
        _ = try connection.command("XREADGROUP", "GROUP", "workers", "ghost", "COUNT", "1", "STREAMS", .string(keys.jobs), ">")
        for _ in 0..<5 {
            try connection.command("XCLAIM", .string(keys.jobs), "workers", "ghost", "0", .string(id), "IDLE", "100000")
        }
        let worker = try RunningWorker(queue: keys, consumer: "w", flags: ["claim-idle-ms": "1000", "max-attempts": "5"])
        let results = byJobID(try await waitForEntries(keys.results, count: 1, on: connection))
        try await worker.stop()
        let result = try #require(results["poison"])
        #expect(result["status"] == "failed" && result["error"] == "too_many_attempts")
        #expect((Int(result["attempts"] ?? "") ?? 0) > 5)
        #expect(try connection.command("EXISTS", .string(keys.audio(jobID: "poison"))).integer == 0, "not rendered")
        let dead = byJobID(try streamEntries(keys.dead, on: connection))
        #expect(dead["poison"]?["error"] == "too_many_attempts" && dead["poison"]?["text"] == "Hi.")
        #expect(try pendingCount(keys, on: connection) == 0)
    }

    @Test func consumersThatAreGoneAreRemovedButNeverOneThatHoldsJobs() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        try JobProducer(keys: keys).add([("job_id", "held"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi.")], on: connection)
        try JobStream(keys: keys, consumer: "x").createGroup(on: connection)
        _ = try connection.command("XREADGROUP", "GROUP", "workers", "holder", "COUNT", "1", "STREAMS", .string(keys.jobs), ">")
        _ = try connection.command("XREADGROUP", "GROUP", "workers", "gone", "COUNT", "1", "STREAMS", .string(keys.jobs), ">")
        try await Task.sleep(for: .milliseconds(1100))
        let worker = try RunningWorker(queue: keys, consumer: "sweeper", flags: ["consumer-idle-s": "1", "claim-idle-ms": "600000"])
        var names: [String] = []
        let deadline = Date().addingTimeInterval(10)
        repeat {
            try await Task.sleep(for: .milliseconds(100))
            let consumers = try connection.command("XINFO", "CONSUMERS", .string(keys.jobs), "workers").array ?? []
            names = consumers.compactMap { $0.pairs?.first { $0.0 == "name" }?.1.string }
        } while names.contains("gone") && Date() < deadline
        try await worker.stop()
        #expect(!names.contains("gone"), "an idle consumer holding nothing was removed")
        #expect(names.contains("holder"), "a consumer that holds a job is kept")
        #expect(try pendingCount(keys, consumer: "holder", on: connection) == 1, "and so is its pending job")
    }

    /// A worker that died in the middle of a streamed reply: another takes the job over,
    /// renders it again, cuts the same chunks and writes only those after the highest
    /// `seq` already there. No chunk twice, none missing, one last entry, one result.
    ///
    /// The dead worker is staged, not timed: a first worker renders the reply to the end
    /// on one queue; on a second queue the same job is left pending under a consumer that
    /// is gone, with the first chunks of that render already in its audio stream, as a
    /// worker killed there leaves it. (Each worker's synthesizer renders the reply as its
    /// first job, so both renders give the same samples.)
    @Test func aStreamedReplyTakenOverHasEveryChunkOnce() async throws {
        let connection = try TestRedis.connect()
        let text = String(repeating: "Here is one more sentence of a long answer. ", count: 40)
        let fields: [(String, String)] = [("job_id", "long"), ("agent_id", "a"), ("user_id", "u"), ("text", text), ("stream", "1")]

        let whole = try uniqueQueue()
        try JobProducer(keys: whole).add(fields, on: connection)
        let first = try RunningWorker(queue: whole)
        try await waitForEntries(whole.results, count: 1, on: connection)
        try await first.stop()
        let reference = try connection.command("XRANGE", .string(whole.audio(jobID: "long")), "-", "+").array ?? []
        #expect(reference.count > 10)

        let keys = try uniqueQueue()
        try JobStream(keys: keys, consumer: "doomed").createGroup(on: connection)
        try JobProducer(keys: keys).add(fields, on: connection)
        _ = try connection.command("XREADGROUP", "GROUP", "workers", "doomed", "COUNT", "1", "STREAMS", .string(keys.jobs), ">")
        let written = 4
        for entry in reference.prefix(written) {
            guard let parts = entry.array, let id = parts.first?.string, let flat = parts.last?.array else { continue }
            try connection.command(["XADD", .string(keys.audio(jobID: "long")), .string(id)] + flat.map { .bytes($0.bytes ?? []) })
        }
        let survivor = try RunningWorker(queue: keys, consumer: "survivor", flags: ["claim-idle-ms": "300"])
        let results = try await waitForEntries(keys.results, count: 1, seconds: 30, on: connection)
        try await survivor.stop()
        let result = try #require(results.first)
        #expect(results.count == 1 && result["status"] == "ok" && result["worker"] == "survivor" && result["streamed"] == "1")
        #expect(result["attempts"] == "2", "the take-over is a second delivery")
        let entries = try connection.command("XRANGE", .string(keys.audio(jobID: "long")), "-", "+").array ?? []
        let ids = entries.compactMap { $0.array?.first?.string }
        #expect(ids == (1...ids.count).map { "0-\($0)" }, "ids 0-1 … 0-n, each once")
        #expect(ids.count == reference.count && String(ids.count) == result["chunks"])
        #expect(entries == reference, "the same chunks as the whole render, the first four from the dead worker")
        let lastEntries = entries.filter { entry in
            let fields = entry.array?.last?.array ?? []
            return stride(from: 0, to: fields.count - 1, by: 2).contains { fields[$0].string == "last" }
        }
        #expect(lastEntries.count == 1, "one last entry")
    }

    /// A streamed reply taken over when the new worker would not speak it (its deadline
    /// passed, or its agent's voice was turned off meanwhile) still has a well-formed
    /// audio stream: past its deadline it is rendered to the end (a streamed reply whose
    /// first chunk went out is finished, `ok`); not spoken, its last entry goes after the
    /// dead worker's chunks, and `intone audio` and clients see how it ended.
    @Test(arguments: ["deadline passed", "voice off"]) func aStreamedReplyTakenOverEndsItsStream(_ change: String) async throws {
        let connection = try TestRedis.connect()
        let text = String(repeating: "Here is one more sentence of a long answer. ", count: 20)
        var fields: [(String, String)] = [("job_id", "late"), ("agent_id", "a"), ("user_id", "u"), ("text", text), ("stream", "1")]
        if change == "deadline passed" {
            let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
            fields.append(("expires_at", String(now + 1500)))
        }
        let keys = try uniqueQueue()
        try JobStream(keys: keys, consumer: "doomed").createGroup(on: connection)
        try JobProducer(keys: keys).add(fields, on: connection)
        _ = try connection.command("XREADGROUP", "GROUP", "workers", "doomed", "COUNT", "1", "STREAMS", .string(keys.jobs), ">")
        // What the dead worker wrote: three chunks (their content does not matter here).
        for seq in 0..<3 {
            try connection.command("XADD", .string(keys.audio(jobID: "late")), .string("0-\(seq + 1)"), "seq", .integer(seq), "data", "x")
        }
        if change == "voice off" { try connection.command("HSET", .string(keys.agent("a")), "tts", "off") }
        try await Task.sleep(for: .milliseconds(1600))
        let survivor = try RunningWorker(queue: keys, consumer: "survivor", flags: ["claim-idle-ms": "300"])
        let results = try await waitForEntries(keys.results, count: 1, seconds: 30, on: connection)
        try await survivor.stop()
        let result = try #require(results.first)
        let entries = try connection.command("XRANGE", .string(keys.audio(jobID: "late")), "-", "+").array ?? []
        let ids = entries.compactMap { $0.array?.first?.string }
        #expect(ids == (1...ids.count).map { "0-\($0)" }, "ids 0-1 … 0-n, each once: \(ids)")
        #expect(String(ids.count) == result["chunks"], "\(result)")
        let last = try #require(entries.last?.array?.last?.array).compactMap(\.string)
        #expect(last.contains("last") && last.contains(result["status"] ?? "?"), "\(last)")
        if change == "deadline passed" {
            #expect(result["status"] == "ok" && ids.count > 4, "rendered to the end: \(result)")
        } else {
            #expect(result["status"] == "text_only" && ids.count == 4, "\(result)")
        }
    }
}
