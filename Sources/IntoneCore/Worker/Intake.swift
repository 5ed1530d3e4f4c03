/// Jobs between the read and the synthesizers: batches waiting for their delivery
/// counts, for their agents' settings, or for the token buckets.
///
/// Each waiting step is one segment of a later pipeline; a step whose reply is lost (the
/// connection broke) is simply made again. Nothing here is re-read from the pending
/// list, so Redis's trouble never counts as a delivery of a job.
struct Intake {
    /// At start: this consumer's own pending entries (a previous life's) are read again
    /// first, from `recoverAfter` on.
    var recovering = true
    var recoverAfter = "0"
    /// After a reconnect: entries delivered by a read whose reply was lost are looked for.
    var lostReadsWanted = false
    var claimCursor = "0-0"
    private(set) var awaitingCounts: [JobStream.Batch] = []
    private(set) var countsInFlight: JobStream.Batch?
    private(set) var undecided: [JobStream.Batch] = []
    private(set) var gating: [BatchDecider.Speakable] = []
    private(set) var gateInFlight: [BatchDecider.Speakable]?
    /// Entries found pending after a reconnect that this worker does not hold.
    private(set) var lostReads: [(id: String, deliveries: Int)] = []

    var entryIDs: [String] {
        var ids: [String] = []
        for batch in awaitingCounts + undecided + [countsInFlight].compactMap({ $0 }) {
            ids += batch.jobs.map(\.entryID) + batch.vanished
        }
        ids += (gating + (gateInFlight ?? [])).map(\.job.entryID)
        return ids
    }

    var isEmpty: Bool { entryIDs.isEmpty && lostReads.isEmpty }

    /// A batch read with `>`: each job delivered once.
    mutating func receiveNew(_ batch: JobStream.Batch) {
        guard !batch.isEmpty else { return }
        undecided.append(batch)
    }

    /// A batch whose delivery counts must be read before deciding (taken over, or own
    /// pending entries read again).
    mutating func receiveCounted(_ batch: JobStream.Batch) {
        guard !batch.jobs.isEmpty else {
            if !batch.vanished.isEmpty { undecided.append(batch) }
            return
        }
        awaitingCounts.append(batch)
    }

    mutating func takeCounts(_ stream: JobStream) -> DeliveryCounts? {
        guard countsInFlight == nil, let batch = awaitingCounts.first else { return nil }
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

    mutating func queueForGate(_ speakable: [BatchDecider.Speakable]) { gating += speakable }

    mutating func takeGate(limit: Int) -> [BatchDecider.Speakable]? {
        guard gateInFlight == nil, !gating.isEmpty else { return nil }
        let taken = Array(gating.prefix(limit))
        gating.removeFirst(taken.count)
        gateInFlight = taken
        return taken
    }

    /// The buckets answered (or did not: the call is made again).
    mutating func receiveGate(_ verdicts: [TokenBucketGate.Verdict]?) -> [BatchDecider.Speakable]? {
        guard let sent = gateInFlight else { return nil }
        gateInFlight = nil
        guard verdicts != nil else {
            gating.insert(contentsOf: sent, at: 0)
            return nil
        }
        return sent
    }

    mutating func receiveOwnPending(_ found: [(id: String, deliveries: Int)], held: Set<String>) {
        lostReadsWanted = false
        lostReads = found.filter { !held.contains($0.id) }
    }

    mutating func takeLostReads() -> [(id: String, deliveries: Int)]? {
        guard !lostReads.isEmpty else { return nil }
        defer { lostReads = [] }
        return lostReads
    }

    /// The connection broke with steps in flight: they are made again.
    mutating func connectionLost() {
        if let batch = countsInFlight { awaitingCounts.insert(batch, at: 0) }
        countsInFlight = nil
        if let sent = gateInFlight { gating.insert(contentsOf: sent, at: 0) }
        gateInFlight = nil
    }

    /// Everything taken out (shutdown past its grace): the entries, to be released.
    mutating func drain() -> [String] {
        connectionLost()
        let ids = entryIDs
        awaitingCounts = []
        undecided = []
        gating = []
        lostReads = []
        return ids
    }
}
