/// One connection to Redis and the work that goes over it.
///
/// A lane serves the streams whose keys share its connection: on a single Redis one lane
/// serves every shard (and the queue's own keys); in a Redis Cluster each shard has a
/// lane to the master of its slot, and the lane of the queue's own slot (`{Q}`) also
/// makes the calls that are per queue: token buckets, agent settings, heartbeat. Each
/// lane has one pipeline in flight at a time, its own scheduler, its own reads and its
/// own write-backs: a WATCH holds per connection, so a write-back is checked and
/// committed on the lane of its shard.
final class Lane {
    let name: String
    let link: RedisLink
    /// The streams it reads and writes back (the shards whose keys it reaches).
    let streams: [JobStream]
    /// Whether the per-queue calls go over it.
    let servesQueue: Bool
    var scheduler: Scheduler
    var intake: Intake
    var writeBack: WriteBackQueue
    var steps = StepBackoffs()
    var inFlight: LoopPipeline?

    init(name: String, link: RedisLink, streams: [JobStream], servesQueue: Bool, scheduler: Scheduler, writeBack: WriteBackQueue) {
        self.name = name
        self.link = link
        self.streams = streams
        self.servesQueue = servesQueue
        self.scheduler = scheduler
        intake = Intake(streams: streams)
        self.writeBack = writeBack
    }

    var connection: RedisConnection? { link.connection }

    /// Whether a job of this shard (index in the worker's streams) is this lane's.
    func serves(shard: Int) -> Bool { streams.contains { $0.shard == shard } }
}
