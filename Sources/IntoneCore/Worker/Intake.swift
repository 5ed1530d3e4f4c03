/// A lane's jobs between the read and the decision: batches waiting for their delivery
/// counts or for their agents' settings, and where its reads and take-over scans stand.
///
/// Each waiting step is one segment of a later pipeline; a step whose reply is lost (the
/// connection broke) is simply made again. Nothing here is re-read from the pending
/// list, so Redis's trouble never counts as a delivery of a job.
struct Intake {
    /// The lane's streams (one per shard it serves).
    let streams: [JobStream]
    /// At start: this consumer's own pending entries (a previous life's) are read again
    /// first, stream by stream, from `recoverAfter` on.
    private(set) var recovering: Bool
    private var recoveringStream = 0
    var recoverAfter = "0"
    /// After a reconnect: entries delivered by a read whose reply was lost are looked for.
    var lostReadsWanted = false
    /// Take-over scans: the stream scanned next and each stream's cursor.
    private var claimStream = 0
    private var claimCursors: [Int: String] = [:]
    private(set) var awaitingCounts: [JobStream.Batch] = []
    private(set) var countsInFlight: JobStream.Batch?
    private(set) var undecided: [JobStream.Batch] = []
    /// Entries found pending after a reconnect that this worker does not hold.
    private(set) var lostReads: [(stream: JobStream, found: [(id: String, deliveries: Int)])] = []

    init(streams: [JobStream]) {
        self.streams = streams
        recovering = !streams.isEmpty
    }

    var entries: [EntryRef] {
        var refs: [EntryRef] = []
        for batch in awaitingCounts + undecided + [countsInFlight].compactMap({ $0 }) {
            refs += batch.jobs.compactMap { job in
                streams.first { $0.shard == job.shard }.map { EntryRef(keys: $0.keys, id: job.entryID) }
            }
            refs += batch.vanished
        }
        return refs
    }

    /// How many entries `entries` lists, counted in place.
    var entryCount: Int {
        var count = 0
        for batch in awaitingCounts { count += batch.jobs.count + batch.vanished.count }
        for batch in undecided { count += batch.jobs.count + batch.vanished.count }
        if let batch = countsInFlight { count += batch.jobs.count + batch.vanished.count }
        return count
    }

    var isEmpty: Bool { awaitingCounts.isEmpty && undecided.isEmpty && countsInFlight == nil && lostReads.isEmpty }

    // MARK: Reads

    /// The stream whose own pending entries are read next, while recovering.
    var recoveryStream: JobStream? { recovering ? streams[recoveringStream] : nil }

    /// A page of own pending entries came back; an empty one ends that stream's recovery.
    mutating func receiveRecovered(_ batch: JobStream.Batch) {
        if batch.jobs.isEmpty {
            recoveringStream += 1
            recoverAfter = "0"
            recovering = recoveringStream < streams.count
        } else {
            recoverAfter = batch.jobs.last?.entryID ?? recoverAfter
        }
        receiveCounted(batch)
    }

    /// A batch read with `>`: each job delivered once.
    mutating func receiveNew(_ batch: JobStream.Batch) {
        guard !batch.isEmpty else { return }
        undecided.append(batch)
    }

    /// A batch whose delivery counts must be read before deciding (taken over, or own
    /// pending entries read again).
    mutating func receiveCounted(_ batch: JobStream.Batch) {
        guard !batch.jobs.isEmpty else {
            if !batch.vanished.isEmpty {
                undecided.append(JobStream.Batch(vanished: batch.vanished, receivedNanoseconds: batch.receivedNanoseconds))
            }
            return
        }
        // One XPENDING reads the counts of one stream's entries.
        for (_, jobs) in Dictionary(grouping: batch.jobs, by: \.shard).sorted(by: { $0.key < $1.key }) {
            awaitingCounts.append(JobStream.Batch(jobs: jobs, receivedNanoseconds: batch.receivedNanoseconds))
        }
        if !batch.vanished.isEmpty {
            undecided.append(JobStream.Batch(vanished: batch.vanished, receivedNanoseconds: batch.receivedNanoseconds))
        }
    }

    mutating func takeCounts() -> DeliveryCounts? {
        guard countsInFlight == nil, let batch = awaitingCounts.first, let shard = batch.jobs.first?.shard,
            let stream = streams.first(where: { $0.shard == shard })
        else { return nil }
        awaitingCounts.removeFirst()
        countsInFlight = batch
        return stream.deliveryCounts(of: batch.jobs.map(\.entryID))
    }

    mutating func receiveCounts(_ result: Result<[String: Int], RedisError>) {
        guard var batch = countsInFlight else { return }
        countsInFlight = nil
        guard case .success(let deliveries) = result else {
            awaitingCounts.insert(batch, at: 0)
            return
        }
        for index in batch.jobs.indices { batch.jobs[index].attempts = deliveries[batch.jobs[index].entryID] ?? 1 }
        undecided.append(batch)
    }

    /// The batches whose agents are all known, in order, taken out to be decided.
    mutating func takeDecidable(_ known: (JobStream.Batch) -> Bool) -> [JobStream.Batch] {
        var ready: [JobStream.Batch] = []
        while let first = undecided.first, known(first) {
            ready.append(first)
            undecided.removeFirst()
        }
        return ready
    }

    // MARK: Take-overs

    /// The next take-over scan: streams in turn, each from where its last scan stopped.
    mutating func nextClaim(minimumIdleMilliseconds: Int, count: Int) -> IdleClaim? {
        guard !streams.isEmpty else { return nil }
        let stream = streams[claimStream % streams.count]
        claimStream += 1
        return stream.claimIdle(minimumIdleMilliseconds: minimumIdleMilliseconds, count: count, cursor: claimCursors[stream.shard] ?? "0-0")
    }

    /// A scan came back; true when it found a full batch and the stream may hold more.
    mutating func receiveClaim(_ batch: JobStream.Batch, cursor: String, of claim: IdleClaim, full: Bool) -> Bool {
        claimCursors[claim.stream.shard] = cursor
        receiveCounted(batch)
        if full && cursor != "0-0" {
            claimStream -= 1
            return true
        }
        return false
    }

    // MARK: Lost reads

    /// Entries pending under this consumer, found after a reconnect: those not in hand were
    /// delivered by a read whose reply was lost, and are fetched (without a new delivery).
    mutating func receiveOwnPending(_ found: [(stream: JobStream, found: [(id: String, deliveries: Int)])], held: Set<EntryRef>) {
        lostReadsWanted = false
        lostReads = found.map { stream, entries in
            (stream, entries.filter { !held.contains(EntryRef(keys: stream.keys, id: $0.id)) })
        }.filter { !$0.found.isEmpty }
    }

    mutating func takeLostReads() -> [EntryFetch] {
        defer { lostReads = [] }
        return lostReads.map { EntryFetch(stream: $0.stream, deliveries: $0.found) }
    }

    /// The connection broke with steps in flight: they are made again.
    mutating func connectionLost() {
        if let batch = countsInFlight { awaitingCounts.insert(batch, at: 0) }
        countsInFlight = nil
    }

    /// Everything taken out (shutdown past its grace): the entries, to be released.
    mutating func drain() -> [EntryRef] {
        connectionLost()
        let refs = entries
        awaitingCounts = []
        undecided = []
        lostReads = []
        return refs
    }
}

/// Speakable jobs of every lane waiting for the token buckets: one call for them all, on
/// the lane of the queue's own slot (the buckets are per queue, so limits hold across
/// shards).
struct GateQueue {
    private(set) var waiting: [BatchDecider.Speakable] = []
    private(set) var inFlight: [BatchDecider.Speakable]?

    var isEmpty: Bool { waiting.isEmpty && inFlight == nil }
    var count: Int { waiting.count + (inFlight?.count ?? 0) }
    var ready: Bool { !waiting.isEmpty && inFlight == nil }
    var jobs: [Job] { (waiting + (inFlight ?? [])).map(\.job) }

    mutating func add(_ speakable: [BatchDecider.Speakable]) { waiting += speakable }

    mutating func take(limit: Int) -> [BatchDecider.Speakable]? {
        guard ready else { return nil }
        let taken = Array(waiting.prefix(limit))
        waiting.removeFirst(taken.count)
        inFlight = taken
        return taken
    }

    /// The buckets answered; nil verdicts (the call did not run) put the jobs back.
    mutating func receive(_ verdicts: [TokenBucketGate.Verdict]?) -> [BatchDecider.Speakable]? {
        guard let sent = inFlight else { return nil }
        inFlight = nil
        guard verdicts != nil else {
            waiting.insert(contentsOf: sent, at: 0)
            return nil
        }
        return sent
    }

    mutating func connectionLost() { _ = receive(nil) }

    mutating func drain() -> [Job] {
        connectionLost()
        defer { waiting = [] }
        return waiting.map(\.job)
    }
}
