import Logging

/// The work loop's faults, its lanes' connections, and its stopping.
extension WorkLoop {
    // MARK: Faults and connections

    func raise(_ kind: String, _ reason: String) {
        if faults.raise(kind, reason) {
            logger.error("\(kind) fault", metadata: ["reason": "\(DisplayText.escaped(reason))"])
        }
        worker.setFaults(faults.reasons)
    }

    func clear(_ kind: String) {
        if faults.clear(kind) {
            logger.info("\(kind) fault resolved")
        }
        worker.setFaults(faults.reasons)
    }

    /// A lane's connection broke (or its slot moved): what was in flight, and every check
    /// made on that connection, is made again after the reconnect.
    func connectionLost(_ lane: Lane, _ error: RedisError) {
        lane.inFlight?.lost()
        lane.inFlight = nil
        lane.writeBack.connectionLost()
        lane.intake.connectionLost()
        lane.link.lost(error, now: Monotonic.milliseconds())
        worker.setRedisReady(lanes.allSatisfy(\.link.isUp))
    }

    /// Connects a lane, when its next attempt is due. After an outage, a read whose reply
    /// was lost may have delivered entries to this consumer: they are looked for.
    func reconnect(_ lane: Lane) throws -> Bool {
        let now = Monotonic.milliseconds()
        if let attempt = lane.link.nextAttempt, now < attempt { return false }
        guard let (restored, _) = try lane.link.connect(now: now, prepare: prepare(lane)) else {
            worker.setRedisReady(false)
            raise("redis", "\(lane.name) at \(configuration.redisURL) is not reachable")
            return true
        }
        if case .afterOutage = restored { lane.intake.lostReadsWanted = true }
        if lanes.allSatisfy(\.link.isUp) {
            clear("redis")
            worker.setRedisReady(true)
        }
        return true
    }

    /// What a lane's new connection needs: its streams' group (which a Redis restarted
    /// without its data has lost), and on the queue's lane the check of the shard count.
    func prepare(_ lane: Lane) -> (RedisConnection) throws(RedisError) -> Void {
        let shards = shards
        return { connection throws(RedisError) in
            for stream in lane.streams { try stream.createGroup(on: connection) }
            if lane.servesQueue { try LaneLayout.checkShards(shards, on: connection) }
        }
    }

    // MARK: Stopping

    /// The grace is over: renders are killed, and every entry in hand is released.
    func abandon() {
        guard !abandonedOnce else { return }
        abandonedOnce = true
        abandoned += render.abandon()
        for lane in lanes {
            abandoned += lane.intake.drain()
            abandoned += lane.writeBack.drain()
        }
        abandoned += gateQueue.drain().map { EntryRef(keys: shards.served[$0.shard], id: $0.entryID) }
    }

    /// Releases what could not be finished, so another replica takes it at once, and takes
    /// this worker off the console's list.
    func finish() {
        reporter.summarize(final: true)
        if let lane = lanes.first(where: \.servesQueue), let connection = lane.connection, lane.link.isUp {
            var commands = RedisCommands()
            WorkerHeartbeat.appendRemove(consumer: configuration.consumer, keys: configuration.keys, to: &commands)
            _ = try? connection.send(commands)
        }
        let left = Set(abandoned)
        guard !left.isEmpty else { return }
        for (keys, entries) in Dictionary(grouping: left, by: \.keys) {
            let stream = JobStream(keys: keys, consumer: configuration.consumer)
            do throws(RedisError) {
                guard let connection = lane(of: shards.served.firstIndex(of: keys) ?? 0).connection else {
                    throw RedisError(.connection, "not connected")
                }
                try connection.command(stream.release(entries.map(\.id)).arguments)
                logger.info("left unfinished jobs to other replicas", metadata: ["jobs": "\(entries.count)", "stream": "\(keys.jobs)"])
            } catch {
                logger.warning(
                    "could not release unfinished jobs; they are taken over after the claim time",
                    metadata: ["jobs": "\(entries.count)", "error.message": "\(error.message)"])
            }
        }
    }
}
