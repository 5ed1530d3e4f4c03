/// What is decided or rendered and not yet written back, and the write-backs in flight.
///
/// Group commit: whatever finished while the previous write-back was in flight goes in
/// the next one. A write-back takes two steps on one connection, each riding in the
/// loop's next pipeline: the check (`WriteBackCheck`), then the commit
/// (`WriteBackCommit`) first thing in the pipeline after it, so no other EXEC comes in
/// between. Under load each pipeline carries one group's commit and the next group's
/// check.
///
/// Nothing is lost to Redis's refusals: a write-back Redis refuses (OOM, NOPERM, a key
/// of the wrong type) stays here, rendered, and is tried again after a capped backoff,
/// without another delivery of its jobs.
struct WriteBackQueue {
    struct Group {
        var items: [WriteBackCommit.Item] = []
        var acknowledgeOnly: [EntryRef] = []
        /// When its check was sent (monotonic nanoseconds), for the write-back's duration.
        var startedNanoseconds: Int64 = 0
        var isEmpty: Bool { items.isEmpty && acknowledgeOnly.isEmpty }
    }

    let maxJobs: Int
    let maxAudioBytes: Int
    private(set) var waiting: [WriteBackCommit.Item] = []
    private(set) var waitingAcks: [EntryRef] = []
    private(set) var checking: Group?
    private(set) var checked: (group: Group, check: WriteBackCheck.Output, epoch: Int)?
    private(set) var committing: Group?
    private(set) var retryAt: Int64 = 0
    private var backoff = Backoff(initialMilliseconds: 100, maximumMilliseconds: 5000)
    /// The faults that hold now, with Redis's reason.
    private(set) var faults: [Fault: RedisError] = [:]

    init(maxJobs: Int, maxAudioBytes: Int) {
        self.maxJobs = max(1, maxJobs)
        self.maxAudioBytes = maxAudioBytes
    }

    mutating func add(_ job: FinishedJob) { waiting.append(WriteBackCommit.Item(job)) }
    mutating func acknowledge(_ entries: [EntryRef]) { waitingAcks += entries }

    /// Nothing waiting and nothing in flight.
    var isEmpty: Bool { waiting.isEmpty && waitingAcks.isEmpty && checking == nil && checked == nil && committing == nil }
    var inFlight: Bool { checking != nil || committing != nil }
    var isHeldBack: Bool { retryAt > Monotonic.milliseconds() }

    /// Entries held here (for keeping them fresh, or releasing them at shutdown).
    var entries: [EntryRef] {
        func ref(_ item: WriteBackCommit.Item) -> EntryRef { EntryRef(keys: item.finished.keys, id: item.finished.job.entryID) }
        var refs = waitingAcks + waiting.filter(\.acknowledges).map(ref)
        for group in [checking, checked?.group, committing].compactMap({ $0 }) {
            refs += group.acknowledgeOnly + group.items.filter(\.acknowledges).map(ref)
        }
        return refs
    }

    /// How many entries `entries` lists, counted in place (the loop asks before every
    /// decision; building the list each time cost more than the rest of the loop).
    var entryCount: Int {
        var count = waitingAcks.count
        for item in waiting where item.acknowledges { count += 1 }
        count += Self.entryCount(checking) + Self.entryCount(checked?.group) + Self.entryCount(committing)
        return count
    }

    /// Audio bytes held here, rendered and not yet written (summed in place, from each
    /// item's stored size).
    var audioBytes: Int {
        var bytes = 0
        for item in waiting { bytes += item.audioBytes }
        bytes += Self.audioBytes(checking) + Self.audioBytes(checked?.group) + Self.audioBytes(committing)
        return bytes
    }

    private static func entryCount(_ group: Group?) -> Int {
        guard let group else { return 0 }
        var count = group.acknowledgeOnly.count
        for item in group.items where item.acknowledges { count += 1 }
        return count
    }

    private static func audioBytes(_ group: Group?) -> Int {
        guard let group else { return 0 }
        var bytes = 0
        for item in group.items { bytes += item.audioBytes }
        return bytes
    }

    /// Whether a checked group can be committed now (its WATCH still in force).
    func commitReady(epoch: Int) -> Bool { checked.map { $0.epoch == epoch } ?? false }

    /// Whether a new group can be checked now: nothing else checked, or the checked group
    /// is committed ahead of the check in the same pipeline (`committingFirst`), so that
    /// under load one round trip carries one group's commit and the next group's check.
    func checkReady(now: Int64, committingFirst: Bool = false) -> Bool {
        checking == nil && (checked == nil || committingFirst) && (!waiting.isEmpty || !waitingAcks.isEmpty) && now >= retryAt
    }

    /// The commit of the checked group, first thing in the next pipeline.
    mutating func takeCommit(settings: WriteBackCommit.Settings, epoch: Int, counters: [RedisCommands] = []) -> WriteBackCommit? {
        guard let (group, check, checkedEpoch) = checked else { return nil }
        checked = nil
        guard checkedEpoch == epoch else {
            // Its WATCH has ended (a reconnect): check it again.
            requeue(group)
            return nil
        }
        committing = group
        return WriteBackCommit(
            settings: settings, items: group.items, acknowledgeOnly: group.acknowledgeOnly, check: check, counters: counters)
    }

    /// The check of the next group: jobs in the order they finished, up to the limits.
    mutating func takeCheck(now: Int64) -> WriteBackCheck? {
        guard checkReady(now: now) else { return nil }
        var group = Group(acknowledgeOnly: waitingAcks, startedNanoseconds: Monotonic.nanoseconds())
        waitingAcks = []
        var bytes = 0
        var taken = 0
        for index in waiting.indices {
            let size = waiting[index].audioBytes
            if taken >= maxJobs || (taken > 0 && bytes + size > maxAudioBytes) { break }
            bytes += size
            taken += 1
        }
        if taken == waiting.count {
            swap(&group.items, &waiting)
        } else {
            group.items = Array(waiting[..<taken])
            waiting.removeFirst(taken)
        }
        checking = group
        return WriteBackCheck(jobs: group.items.map(\.checked))
    }

    /// The check came back: the group is ready to commit, but for jobs that cannot be
    /// written now (a queue-wide key of the wrong type), which wait for a retry.
    mutating func receiveCheck(_ result: Result<WriteBackCheck.Output, RedisError>, epoch: Int, now: Int64) -> [Report] {
        guard var group = checking else { return [] }
        checking = nil
        let check: WriteBackCheck.Output
        switch result {
        case .failure(let error):
            requeue(group)
            return holdBack(.refused, error, now: now)
        case .success(let output): check = output
        }
        var reports: [Report] = []
        var held: [Int] = []
        var broken: [Fault: RedisError] = [:]
        for index in group.items.indices {
            Self.prepare(&group.items[index].finished, check: check)
            let keys = group.items[index].finished.keys
            let results = check.state(of: keys.results)
            let dead = check.state(of: keys.dead)
            let stats = check.state(of: keys.stats)
            if !results.acceptsEntries { broken[.resultsKey] = Self.typeError(keys.results, results, "stream") }
            if !dead.acceptsEntries { broken[.deadKey] = Self.typeError(keys.dead, dead, "stream") }
            if !stats.acceptsHash { broken[.statsKey] = Self.typeError(keys.stats, stats, "hash") }
            let parts = group.items[index].parts
            if parts.contains(.result), group.items[index].finished.resultStream == keys.resultsBytes, !results.acceptsEntries {
                held.append(index)
            } else if parts.contains(.deadLetter), group.items[index].finished.outcome.failure != nil, !dead.acceptsEntries {
                held.append(index)
            }
        }
        if !group.items.isEmpty {
            for fault in [Fault.resultsKey, .deadKey, .statsKey] { reports += update(fault, broken[fault], now: now) }
        }
        if !held.isEmpty {
            waiting.insert(contentsOf: held.map { group.items[$0] }, at: 0)
            for index in held.reversed() { group.items.remove(at: index) }
            retryAt = now + Int64(backoff.next())
        }
        if !group.isEmpty { checked = (group, check, epoch) }
        return reports
    }

    /// The commit came back.
    mutating func receiveCommit(_ result: Result<WriteBackCommit.Output, RedisError>, commit: WriteBackCommit, now: Int64) -> [Report] {
        guard let group = committing else { return [] }
        committing = nil
        switch result {
        case .failure(let error):
            requeue(group)
            return holdBack(.refused, error, now: now)
        case .success(.aborted):
            // Another worker answered one of these job ids: check again, at once.
            requeue(group)
            return []
        case .success(.refused(let error)):
            requeue(group)
            return holdBack(.refused, error, now: now)
        case .success(.applied(let applied)):
            var reports = update(.refused, nil, now: now)
            backoff.reset()
            let written = applied.written.map { group.items[$0].finished }
            reports.append(
                .written(
                    written, duplicates: commit.duplicates.count, acknowledged: applied.acknowledged ? group.acknowledgeOnly.count : 0,
                    nanoseconds: Monotonic.nanoseconds() - group.startedNanoseconds))
            reports += rewriteLost(applied, group: group, now: now)
            if !applied.acknowledged {
                // The entries stay pending; their results are written, so a later delivery
                // finds the done markers and only acknowledges them.
                waitingAcks += group.acknowledgeOnly
            }
            for error in applied.otherErrors { reports.append(.refusedInTransaction(error)) }
            return reports
        }
    }

    /// The transaction went through without some results or dead letters (a stream
    /// changed in the instant before EXEC): each is written again, and only what was lost,
    /// without acknowledging its job twice. A result its `reply_to` refused goes to the
    /// queue's result stream as `failed`/`bad_reply_to` (with a dead letter); what the
    /// queue's own streams refused waits for a backoff (a fault until they take it).
    private mutating func rewriteLost(_ applied: WriteBackCommit.Applied, group: Group, now: Int64) -> [Report] {
        var reports: [Report] = []
        var refusedByQueue: RedisError?
        let lostDeadLetters = Dictionary(applied.lostDeadLetters.map { ($0.index, $0.error) }) { first, _ in first }
        let lostResults = Dictionary(applied.lostResults.map { ($0.index, $0.error) }) { first, _ in first }
        for index in Set(lostResults.keys).union(lostDeadLetters.keys).sorted(by: >) {
            var item = group.items[index]
            item.acknowledges = item.acknowledges && !applied.acknowledged
            var parts: WriteBackCommit.Item.Parts = []
            if let error = lostResults[index] {
                parts.insert(.result)
                if item.finished.resultStream != item.finished.keys.resultsBytes {
                    Self.redirect(&item.finished, because: "reply_to '\(item.finished.resultStream)' refused the result: \(error.message)")
                    parts.insert(.deadLetter)
                } else {
                    refusedByQueue = refusedByQueue ?? error
                }
                reports.append(.resultRefused(item.finished, error))
            }
            if let error = lostDeadLetters[index], item.parts.contains(.deadLetter) {
                parts.insert(.deadLetter)
                refusedByQueue = refusedByQueue ?? error
                reports.append(.deadLetterRefused(item.finished, error))
            }
            item.parts = parts
            waiting.insert(item, at: 0)
        }
        if let refusedByQueue { return reports + holdBack(.entriesRefused, refusedByQueue, now: now) }
        // Entries written again went through: the queue's streams take entries again.
        if group.items.contains(where: { $0.parts != WriteBackCommit.Item.Parts.all }) { reports += update(.entriesRefused, nil, now: now) }
        return reports
    }

    /// The connection broke with write-backs in flight: whether they were written is not
    /// known, so they are checked again (the done markers tell).
    mutating func connectionLost() {
        for group in [committing, checked?.group, checking].compactMap({ $0 }) { requeue(group) }
        committing = nil
        checked = nil
        checking = nil
    }

    /// Takes every job out (shutdown past its grace): their entries are released.
    mutating func drain() -> [EntryRef] {
        connectionLost()
        let ids = entries
        waiting = []
        waitingAcks = []
        return ids
    }

    private mutating func requeue(_ group: Group) {
        waiting.insert(contentsOf: group.items, at: 0)
        waitingAcks += group.acknowledgeOnly
    }

    private mutating func holdBack(_ fault: Fault, _ error: RedisError, now: Int64) -> [Report] {
        retryAt = now + Int64(backoff.next())
        return update(fault, error, now: now)
    }

    /// Raises or clears a fault; reports only changes.
    private mutating func update(_ fault: Fault, _ error: RedisError?, now: Int64) -> [Report] {
        if let error {
            return faults.updateValue(error, forKey: fault) == nil ? [.fault(fault, error)] : []
        }
        return faults.removeValue(forKey: fault) != nil ? [.cleared(fault)] : []
    }
}
