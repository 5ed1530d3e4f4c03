import Logging

/// How a worker's lanes are laid out: found out at start from the server `--redis`
/// points at.
///
/// - A single Redis: one lane, one connection, for every stream of the queue (its shards
///   and, with shards, the version-1 stream) and the per-queue calls.
/// - A Redis Cluster: a lane per shard, to the master of its slot, and a lane for the
///   queue's own slot `{Q}` (the per-queue calls, and the version-1 stream). Unix sockets
///   and databases other than 0 are refused: a cluster has neither.
enum LaneLayout {
    struct Stopped: Error {}

    /// Waits for Redis (one log line, capped backoff; credentials refused end it), asks
    /// whether it is a cluster node, and makes the lanes. A connection that fails while
    /// asking, or a cluster whose slot map cannot be read yet (no master for a slot, a
    /// node away), is waited for like an unreachable Redis.
    static func make(for loop: WorkLoop) throws -> [Lane] {
        let configuration = loop.configuration
        let timeout = configuration.blockMilliseconds + 10_000
        let first = RedisLink(url: configuration.redisURL, commandTimeoutMilliseconds: timeout, logger: loop.logger)
        let streams = loop.shards.served.enumerated().map { JobStream(keys: $1, consumer: configuration.consumer, shard: $0) }
        var mapBackoff: Backoff?
        while true {
            guard let connection = try waitForRedis(first, loop: loop) else { throw Stopped() }
            let clustered: Bool
            do {
                clustered = try ClusterDiscovery.isClusterNode(connection, url: configuration.redisURL)
            } catch {
                first.lost(RedisError(.connection, error.message), now: Monotonic.milliseconds())
                continue
            }
            guard clustered else {
                let link = RedisLink(
                    url: configuration.redisURL, commandTimeoutMilliseconds: timeout, logger: loop.logger, connection: connection)
                return [loop.makeLane(name: "{\(configuration.queue)}", link: link, streams: streams, servesQueue: true)]
            }
            do {
                try ClusterDiscovery.validate(configuration.redisURL)
            } catch {
                throw RedisError(.configuration, error.message)
            }
            do {
                let cluster = try ClusterConnections(url: configuration.redisURL, logger: loop.logger)
                if mapBackoff != nil { loop.logger.info("the cluster's slot map is readable") }
                return clusterLanes(cluster, streams: streams, loop: loop)
            } catch {
                if mapBackoff == nil {
                    loop.logger.error(
                        "the cluster's slot map cannot be read; waiting for it",
                        metadata: ["redis": "\(configuration.redisURL)", "error.message": "\(error)"])
                    mapBackoff = Backoff(initialMilliseconds: 100, maximumMilliseconds: 5000)
                }
                loop.worker.setRedisReady(false)
                let until = Monotonic.milliseconds() + Int64(mapBackoff!.next())
                while !loop.worker.isStopping, Monotonic.milliseconds() < until { ThreadSleep.sleep(milliseconds: 50) }
            }
        }
    }

    /// Connects `link`, waiting (quietly, with backoff) while Redis is away; nil once the
    /// worker is stopping.
    private static func waitForRedis(_ link: RedisLink, loop: WorkLoop) throws -> RedisConnection? {
        while !loop.worker.isStopping {
            let now = Monotonic.milliseconds()
            if let attempt = link.nextAttempt, now < attempt {
                ThreadSleep.sleep(milliseconds: Int(min(attempt - now, 100)))
                continue
            }
            if try link.connect(now: now, prepare: { _ throws(RedisError) in }) != nil { return link.connection }
            loop.worker.setRedisReady(false)
        }
        return nil
    }

    /// A lane per slot that holds shards, to its master, and two for the queue's slot.
    private static func clusterLanes(_ cluster: ClusterConnections, streams: [JobStream], loop: WorkLoop) -> [Lane] {
        let configuration = loop.configuration
        let timeout = configuration.blockMilliseconds + 10_000
        loop.cluster = cluster
        var lanes: [Lane] = []
        // Streams grouped by slot: the version-1 stream shares the queue's slot.
        let queueSlot = HashSlot(forKey: loop.shards.base.jobs)
        var bySlot: [HashSlot: [JobStream]] = [queueSlot: []]
        for stream in streams { bySlot[HashSlot(forKey: stream.keys.jobs), default: []].append(stream) }
        func slotLink(_ slot: HashSlot) -> RedisLink {
            RedisLink(
                url: configuration.redisURL, commandTimeoutMilliseconds: timeout, logger: loop.logger,
                connector: { () throws(RedisError) in
                    do throws(ClusterError) {
                        let connection = try cluster.connectOnce(to: slot)
                        connection.setCommandTimeout(milliseconds: timeout)
                        return connection
                    } catch {
                        throw RedisError(.connection, error.message)
                    }
                }, maximumBackoffMilliseconds: cluster.options.backoff.capMilliseconds)
        }
        for (slot, slotStreams) in bySlot.sorted(by: { $0.key == queueSlot ? true : $1.key == queueSlot ? false : $0.key < $1.key }) {
            let link = slotLink(slot)
            let name = slotStreams.first.map { "{\($0.keys.tag)}" } ?? "{\(configuration.queue)}"
            guard slot == queueSlot else {
                lanes.append(loop.makeLane(name: name, link: link, streams: slotStreams, servesQueue: false))
                continue
            }
            // The queue's slot gets two lanes: one that never reads jobs, for the per-queue
            // calls every other lane's batches wait on (agent settings, token buckets), so
            // that they never sit behind a blocking read of the version-1 stream; and one
            // that reads and writes back that stream.
            lanes.append(loop.makeLane(name: name, link: link, streams: [], servesQueue: true))
            if !slotStreams.isEmpty {
                lanes.append(
                    loop.makeLane(name: name + " jobs", link: slotLink(slot), streams: slotStreams, servesQueue: false))
            }
        }
        let placement = ShardRouting.placement(queue: configuration.queue, shards: loop.shards.count, in: cluster.topology)
        loop.logger.info(
            "redis cluster found",
            metadata: [
                "lanes": "\(lanes.count)", "masters": "\(cluster.topology.masters.count)",
                "shards": "\(placement.map { "\($0.hashTag)@\($0.master?.description ?? "?")" }.joined(separator: " "))",
            ])
        return lanes
    }

    /// Records the shard count in `intone:{Q}:config` (the first worker does) and refuses
    /// another: changing it would separate job ids from their done markers. A Redis at
    /// `maxmemory` that refuses the first record is asked again at the next connection.
    static func checkShards(_ shards: QueueShards, on connection: RedisConnection) throws(RedisError) {
        var stored = try connection.command("HGET", .string(shards.base.config), "shards").string
        if stored == nil {
            var commands = RedisCommands()
            commands.append("HSETNX", .string(shards.base.config), "shards", .integer(shards.count))
            commands.append("HGET", .string(shards.base.config), "shards")
            let replies = try connection.send(commands)
            if let error = replies[0].error(command: "HSETNX"), error.code != .outOfMemory { throw error }
            stored = replies[1].string ?? String(shards.count)
        }
        guard let stored, stored == String(shards.count) else {
            throw RedisError(
                .configuration,
                "--shards \(shards.count) disagrees with the queue, which has \(stored ?? "?") shards (\(shards.base.config) field shards); every worker and producer of a queue must use the same count"
            )
        }
    }
}
