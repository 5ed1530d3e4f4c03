import Foundation
import Testing

@testable import IntoneCore

/// The keys workers keep for the console: per-minute history and heartbeats.
@Suite(.redisServer) struct ObservabilityKeysTests {
    @Test func aWriteBackCountsItsMinuteWithATTL() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        var commands = RedisCommands()
        QueueHistory.appendRecord(
            statusCounts: ["ok": 3, "failed": 1, "expired": 0], audioMilliseconds: 2500, minute: 29_000_000, keys: keys, to: &commands)
        #expect(commands.names == ["HINCRBY", "HINCRBY", "HINCRBY", "EXPIRE"], "nothing for a zero count")
        QueueHistory.appendRecord(statusCounts: ["ok": 2], audioMilliseconds: 0, minute: 29_000_000, keys: keys, to: &commands)
        var nothing = RedisCommands()
        QueueHistory.appendRecord(statusCounts: [:], audioMilliseconds: 0, minute: 1, keys: keys, to: &nothing)
        #expect(nothing.count == 0)
        _ = try connection.send(commands)
        let key = "intone:{\(keys.queue)}:minute:29000000"
        #expect(keys.minute(29_000_000) == key)
        let ttl = try connection.command("TTL", .string(key)).integer ?? -1
        #expect(ttl > 7000 && ttl <= 7200)
        let minutes = try QueueHistory.read(count: 3, endingAt: 29_000_001, keys: keys, on: connection)
        #expect(minutes.map(\.minute) == [28_999_999, 29_000_000, 29_000_001])
        #expect(minutes[1].statusCounts == ["ok": 5, "failed": 1] && minutes[1].audioMilliseconds == 2500 && minutes[1].results == 6)
        #expect(minutes[0].results == 0 && minutes[2].results == 0)
        #expect(QueueHistory.minute(ofUnixMilliseconds: 1_740_000_059_999) == 29_000_000)
    }

    @Test func aHeartbeatLivesForItsTTLAndIsRemovedOnStop() throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let beat = WorkerHeartbeat(
            consumer: "host-a-17", host: "host-a", pid: 17, version: "1.1.0", startedAtMilliseconds: now - 5000, updatedAtMilliseconds: now,
            jobsDone: 42, jobsInHand: 2, currentJobID: [0x72, 0xFF, 0x3C], currentJobStartedAtMilliseconds: now - 700)
        var commands = RedisCommands()
        WorkerHeartbeat.appendPublish(beat, keys: keys, to: &commands)
        #expect(commands.names == ["HSET", "PEXPIRE", "ZADD", "ZREMRANGEBYSCORE", "PEXPIRE"])
        var idle = beat
        idle.consumer = "host-b-9"
        idle.currentJobID = []
        idle.currentJobStartedAtMilliseconds = 0
        WorkerHeartbeat.appendPublish(idle, keys: keys, to: &commands)
        _ = try connection.send(commands)

        let pttl = try connection.command("PTTL", .string(keys.worker("host-a-17"))).integer ?? -1
        #expect(pttl > 9000 && pttl <= 10_000)
        #expect((try connection.command("PTTL", .string(keys.workers)).integer ?? -1) > 50_000)
        var live = try WorkerHeartbeat.readLive(keys: keys, on: connection)
        #expect(live == [beat, idle])

        // A worker that died: its hash expired, its index entry is still there.
        try connection.command("DEL", .string(keys.worker("host-b-9")))
        // A hash left without a TTL (a publish cut short) is not a live worker either.
        try connection.command("PERSIST", .string(keys.worker("host-a-17")))
        live = try WorkerHeartbeat.readLive(keys: keys, on: connection)
        #expect(live.isEmpty)

        // The next publish trims index entries older than a minute.
        var later = beat
        later.updatedAtMilliseconds = now + 61_000
        commands = RedisCommands()
        WorkerHeartbeat.appendPublish(later, keys: keys, to: &commands)
        _ = try connection.send(commands)
        #expect(try connection.command("ZRANGE", .string(keys.workers), "0", "-1").array?.compactMap(\.string) == ["host-a-17"])
        #expect(try WorkerHeartbeat.readLive(keys: keys, on: connection).map(\.jobsDone) == [42])

        commands = RedisCommands()
        WorkerHeartbeat.appendRemove(consumer: "host-a-17", keys: keys, to: &commands)
        _ = try connection.send(commands)
        #expect(try WorkerHeartbeat.readLive(keys: keys, on: connection).isEmpty)
        #expect(try connection.command("EXISTS", .string(keys.worker("host-a-17"))).integer == 0)
    }

    @Test func replyToMayNotNameTheConsolesKeys() throws {
        let keys = try QueueKeys(queue: "tts")
        for key: ByteString in ["intone:{tts}:workers", "intone:{tts}:worker:w1", "intone:{tts}:minute:123"] {
            #expect(!keys.acceptsReplyTo(key), "\(key)")
        }
        #expect(keys.acceptsReplyTo("intone:{tts}:replies:s1"))
    }
}
