/// Says what the work loop does next. Pure: the loop describes its state in a
/// `Snapshot`, the scheduler answers with an `Action`, and the loop performs it.
///
/// One pipeline is in flight at a time; each carries whatever is due: the commit of the
/// write-back checked last time (first, so that its WATCH still holds), chunks of
/// streamed replies, the token buckets of a batch, agent settings, the check of the next
/// write-back, and a read of new jobs. A worker with nothing in hand reads with BLOCK; a
/// busy one reads without, and only while it has room.
struct Scheduler {
    struct Settings {
        var batchSize: Int
        var blockMilliseconds: Int
        var claimIntervalMilliseconds: Int
        var claimIdleMilliseconds: Int
        var hygieneIntervalMilliseconds: Int
        var sampleIntervalMilliseconds: Int = 5000
        var heartbeatIntervalMilliseconds: Int = 3000
        /// Entries in hand at most before reading stops.
        var maxHeld: Int
        /// Admitted jobs waiting for a synthesizer at most before reading stops.
        var renderLookahead: Int
        /// Audio rendered and not yet written at most before rendering pauses.
        var maxAudioBytes: Int
        /// How soon a busy worker reads again after a read that found nothing.
        var busyPollMilliseconds: Int = 50

        init(
            batchSize: Int, blockMilliseconds: Int, claimIntervalMilliseconds: Int, claimIdleMilliseconds: Int,
            hygieneIntervalMilliseconds: Int, maxHeld: Int, renderLookahead: Int, maxAudioBytes: Int
        ) {
            self.batchSize = batchSize
            self.blockMilliseconds = blockMilliseconds
            self.claimIntervalMilliseconds = claimIntervalMilliseconds
            self.claimIdleMilliseconds = claimIdleMilliseconds
            self.hygieneIntervalMilliseconds = hygieneIntervalMilliseconds
            self.maxHeld = maxHeld
            self.renderLookahead = renderLookahead
            self.maxAudioBytes = maxAudioBytes
        }

        /// A worker's: take-overs looked for often enough that a dead replica's jobs wait
        /// little past the claim time, rarely enough to cost nothing; at most four batches
        /// in hand; two jobs waiting per synthesizer.
        init(_ configuration: WorkerConfiguration, maxAudioBytes: Int) {
            let claimIdle = configuration.claimIdleMilliseconds
            self.init(
                batchSize: configuration.batchSize, blockMilliseconds: configuration.blockMilliseconds,
                claimIntervalMilliseconds: min(max(claimIdle / 4, 250), 5000), claimIdleMilliseconds: claimIdle,
                hygieneIntervalMilliseconds: min(configuration.consumerIdleSeconds * 500, 60_000), maxHeld: configuration.batchSize * 4,
                renderLookahead: max(2 * configuration.synthesizers, 8), maxAudioBytes: maxAudioBytes)
        }
    }

    /// The loop's state, as far as deciding goes.
    struct Snapshot {
        var now: Int64
        var connected = true
        var inFlight = false
        var stopping = false
        var graceEnded = false
        /// At start: this consumer's own pending entries are not all read again yet.
        var recovering = false
        /// After a reconnect: entries delivered by a read whose reply was lost.
        var lostReads = false
        /// Reads failed a moment ago: none until their backoff ends.
        var readPaused = false
        /// A batch whose delivery counts are not known yet (taken over, or own pending).
        var awaitingCounts = false
        /// Batches read whose agents' settings are not known yet.
        var undecided = 0
        var settingsWanted = false
        var gateWanted = false
        var renderQueued = 0
        var rendering = 0
        var chunksWaiting = false
        var commitReady = false
        var checkReady = false
        var writeBackEmpty = true
        /// Entries in hand: read and not yet written back or released.
        var held = 0
        var audioBytes = 0
        /// When the next render runs out of time, or the write-back's backoff ends.
        var wakeAt: Int64?
    }

    enum ReadKind: Equatable {
        case new(blockMilliseconds: Int?)
        case ownPending
    }

    /// What goes in the next pipeline.
    struct Plan: Equatable {
        var commit = false
        var chunks = false
        var gate = false
        var settings = false
        var check = false
        var read: ReadKind?
        var counts = false
        var lostReads = false
        /// Reads failed a moment ago: none until their backoff ends.
        var readPaused = false
        var claim = false
        var keepFresh = false
        var hygiene = false
        var sample = false
        var heartbeat = false

        var isEmpty: Bool { self == Plan() }
    }

    enum Action: Equatable {
        case send(Plan)
        /// Poll the connection (when a pipeline is in flight) and the synthesizers until
        /// this monotonic time at the latest.
        case wait(until: Int64)
        case reconnect
        /// Abandon what is in hand: the shutdown grace is over.
        case abandon
        case finish
    }

    let settings: Settings
    private(set) var nextClaim: Int64
    private(set) var nextHygiene: Int64
    private(set) var nextSample: Int64 = 0
    private(set) var nextKeepFresh: Int64
    private(set) var nextHeartbeat: Int64 = 0
    /// A busy worker's read found nothing: no read until then.
    private var quietUntil: Int64 = 0
    private var abandoned = false

    init(settings: Settings, now: Int64) {
        self.settings = settings
        nextClaim = now + Int64(settings.claimIntervalMilliseconds)
        nextHygiene = now + Int64(settings.hygieneIntervalMilliseconds)
        nextKeepFresh = now + Int64(settings.claimIdleMilliseconds / 3)
    }

    mutating func next(_ state: Snapshot) -> Action {
        let now = state.now
        if state.inFlight { return .wait(until: min(state.wakeAt ?? now + 1000, now + 1000)) }
        // Stopping comes before reconnecting: a worker whose Redis is away still stops
        // when its grace ends, leaving what it holds pending for another replica.
        if state.stopping && state.graceEnded && !abandoned {
            abandoned = true
            return .abandon
        }
        let emptyHanded = state.held == 0 && state.writeBackEmpty && state.rendering == 0 && !state.chunksWaiting && !state.commitReady
        if state.stopping && emptyHanded && (!state.connected || abandoned) { return .finish }
        if !state.connected { return .reconnect }
        var plan = Plan()
        plan.commit = state.commitReady
        plan.chunks = state.chunksWaiting
        plan.gate = state.gateWanted
        plan.settings = state.settingsWanted
        plan.check = state.checkReady
        plan.counts = state.awaitingCounts
        plan.lostReads = state.lostReads
        if now >= nextSample {
            plan.sample = true
            nextSample = now + Int64(settings.sampleIntervalMilliseconds)
        }
        if now >= nextHeartbeat {
            plan.heartbeat = true
            nextHeartbeat = now + Int64(settings.heartbeatIntervalMilliseconds)
        }
        if state.held > 0, now >= nextKeepFresh {
            plan.keepFresh = true
            nextKeepFresh = now + Int64(settings.claimIdleMilliseconds / 3)
        }
        if state.stopping {
            if state.held == 0 && state.writeBackEmpty && state.rendering == 0 && !plan.chunks && !plan.commit { return .finish }
        } else {
            plan.read = read(state)
            if !state.recovering, !state.readPaused, state.held < settings.maxHeld, now >= nextClaim {
                plan.claim = true
                nextClaim = now + Int64(settings.claimIntervalMilliseconds)
            }
            if now >= nextHygiene {
                plan.hygiene = true
                nextHygiene = now + Int64(settings.hygieneIntervalMilliseconds)
            }
        }
        if !plan.isEmpty { return .send(plan) }
        var wake = min(nextSample, nextHeartbeat, now + 1000)
        if let at = state.wakeAt { wake = min(wake, at) }
        if !state.stopping {
            wake = min(wake, nextClaim, nextHygiene)
            if quietUntil > now { wake = min(wake, quietUntil) }
        }
        return .wait(until: max(now, wake))
    }

    /// A read of new jobs, when there is room for them.
    private func read(_ state: Snapshot) -> ReadKind? {
        if state.readPaused { return nil }
        if state.recovering { return state.awaitingCounts ? nil : .ownPending }
        // A blocking read holds back every reply behind it in the pipeline: none beside
        // agent settings or token buckets.
        let busy =
            state.held > 0 || state.rendering > 0 || !state.writeBackEmpty || state.undecided > 0 || state.settingsWanted
            || state.gateWanted
        guard state.undecided == 0, !state.awaitingCounts, state.held < settings.maxHeld,
            state.renderQueued < settings.renderLookahead, state.audioBytes < settings.maxAudioBytes
        else { return nil }
        if !busy {
            // Nothing in hand: wait for jobs, but wake for the next timer.
            let until = min(nextClaim, nextHygiene, nextSample, nextHeartbeat)
            let block = Int(max(1, min(Int64(settings.blockMilliseconds), until - state.now)))
            return .new(blockMilliseconds: block)
        }
        return state.now >= quietUntil ? .new(blockMilliseconds: nil) : nil
    }

    /// A read found nothing while the worker was busy: wait a little before the next.
    mutating func readCameBackEmpty(now: Int64, busy: Bool) {
        quietUntil = busy ? now + Int64(settings.busyPollMilliseconds) : 0
    }

    /// The claim scan found a full batch: look again at once.
    mutating func claimAgainSoon(now: Int64) {
        nextClaim = now
    }
}
