import Testing

@testable import IntoneCore

/// The loop's decisions, without Redis: given a state, what goes in the next round trip.
@Suite struct SchedulerTests {
    let settings = Scheduler.Settings(
        batchSize: 256, blockMilliseconds: 2000, claimIntervalMilliseconds: 5000, claimIdleMilliseconds: 30000,
        hygieneIntervalMilliseconds: 60000, maxHeld: 1024, renderLookahead: 8, maxAudioBytes: 64 << 20)

    /// A scheduler whose periodic steps (gauges, heartbeat) have just been done.
    func scheduler(now: Int64 = 1_000_000) -> Scheduler {
        var scheduler = Scheduler(settings: settings, now: now)
        _ = scheduler.next(Scheduler.Snapshot(now: now, inFlight: false))
        return scheduler
    }

    func plan(_ action: Scheduler.Action) -> Scheduler.Plan? {
        if case .send(let plan) = action { return plan }
        return nil
    }

    @Test func anIdleWorkerWaitsForJobsWithBlockButWakesForItsTimers() {
        var scheduler = scheduler()
        let plan = plan(scheduler.next(.init(now: 1_000_010)))
        guard case .new(let block?)? = plan?.read else {
            Issue.record("expected a blocking read, got \(String(describing: plan))")
            return
        }
        // The next timer (the gauges, every 5 s) is sooner than the 2 s BLOCK allows? No:
        // the BLOCK is at most block-ms, and ends before the next timer is due.
        #expect(block <= 2000 && block > 0)
        #expect(plan?.claim == false && plan?.commit == false && plan?.check == false)
    }

    @Test func aBusyWorkerReadsWithoutBlockAndPausesAfterAnEmptyRead() {
        var scheduler = scheduler()
        var state = Scheduler.Snapshot(now: 1_000_010)
        state.rendering = 2
        state.held = 10
        #expect(plan(scheduler.next(state))?.read == .new(blockMilliseconds: nil))
        scheduler.readCameBackEmpty(now: 1_000_010, busy: true)
        state.now = 1_000_020
        #expect(scheduler.next(state) == .wait(until: 1_000_060), "no read for 50 ms")
        state.now = 1_000_060
        #expect(plan(scheduler.next(state))?.read == .new(blockMilliseconds: nil))
    }

    @Test func noReadWithoutRoom() {
        var scheduler = scheduler()
        var state = Scheduler.Snapshot(now: 1_000_010)
        state.rendering = 2
        state.renderQueued = 8
        state.held = 10
        #expect(plan(scheduler.next(state))?.read == nil, "eight jobs already wait for a synthesizer")
        state.renderQueued = 0
        state.held = 1024
        #expect(plan(scheduler.next(state))?.read == nil, "four batches in hand")
        state.held = 10
        state.audioBytes = 64 << 20
        #expect(plan(scheduler.next(state))?.read == nil, "64 MiB of audio waits to be written")
        state.audioBytes = 0
        state.undecided = 1
        #expect(plan(scheduler.next(state))?.read == nil, "a batch waits for its agents' settings")
    }

    @Test func aCheckedWriteBackIsCommittedAndTheNextCheckedInTheSameRoundTrip() {
        var scheduler = scheduler()
        var state = Scheduler.Snapshot(now: 1_000_010)
        state.commitReady = true
        state.checkReady = true
        state.gateWanted = true
        state.chunksWaiting = true
        state.writeBackEmpty = false
        state.held = 300
        let plan = plan(scheduler.next(state))
        #expect(plan?.commit == true && plan?.check == true && plan?.gate == true && plan?.chunks == true)
    }

    @Test func oneRoundTripAtATime() {
        var scheduler = scheduler()
        var state = Scheduler.Snapshot(now: 1_000_010)
        state.inFlight = true
        state.commitReady = true
        state.wakeAt = 1_000_500
        #expect(scheduler.next(state) == .wait(until: 1_000_500))
    }

    @Test func aLostConnectionIsReconnectedFirst() {
        var scheduler = scheduler()
        var state = Scheduler.Snapshot(now: 1_000_010)
        state.connected = false
        state.commitReady = true
        #expect(scheduler.next(state) == .reconnect)
    }

    @Test func stoppingFinishesWhatIsInHandThenEnds() {
        var scheduler = scheduler()
        var state = Scheduler.Snapshot(now: 1_000_010)
        state.stopping = true
        state.held = 3
        state.rendering = 1
        state.writeBackEmpty = false
        let plan = plan(scheduler.next(state))
        #expect(plan == nil || (plan?.read == nil && plan?.claim == false), "no read and no take-over while stopping")
        state.held = 0
        state.rendering = 0
        state.writeBackEmpty = true
        #expect(scheduler.next(state) == .finish)
    }

    @Test func theGraceRunningOutAbandonsOnce() {
        var scheduler = scheduler()
        var state = Scheduler.Snapshot(now: 1_000_010)
        state.stopping = true
        state.graceEnded = true
        state.held = 3
        state.rendering = 1
        #expect(scheduler.next(state) == .abandon)
        #expect(scheduler.next(state) != .abandon)
    }

    @Test func takeOversAreLookedForOnTheirTimerWhenThereIsRoom() {
        var scheduler = scheduler()
        var state = Scheduler.Snapshot(now: 1_000_010)
        #expect(plan(scheduler.next(state))?.claim == false)
        state.now = 1_005_000
        #expect(plan(scheduler.next(state))?.claim == true)
        state.now = 1_005_001
        let again = scheduler.next(state)
        #expect(plan(again)?.claim == false, "once per interval: \(again)")
        scheduler.claimAgainSoon(now: state.now)
        state.held = 1024
        #expect(plan(scheduler.next(state))?.claim != true, "no room for what it would take")
    }

    @Test func atStartOwnPendingEntriesAreReadFirst() {
        var scheduler = scheduler()
        var state = Scheduler.Snapshot(now: 1_000_010)
        state.recovering = true
        #expect(plan(scheduler.next(state))?.read == .ownPending)
        state.awaitingCounts = true
        #expect(plan(scheduler.next(state))?.read == nil, "one page at a time: its delivery counts first")
    }

    @Test func failedReadsWaitTheirBackoff() {
        var scheduler = scheduler()
        var state = Scheduler.Snapshot(now: 1_000_010)
        state.readPaused = true
        #expect(plan(scheduler.next(state))?.read == nil)
    }

    @Test func heldEntriesAreKeptFreshEveryThirdOfTheClaimTime() {
        var scheduler = scheduler()
        var state = Scheduler.Snapshot(now: 1_000_010)
        state.held = 5
        state.rendering = 1
        #expect(plan(scheduler.next(state))?.keepFresh == false)
        state.now = 1_010_000
        #expect(plan(scheduler.next(state))?.keepFresh == true)
    }
}

extension SchedulerTests {
    /// A worker whose Redis is away still stops: at the end of its grace it abandons what
    /// it holds (left pending for another replica) and finishes.
    @Test func aWorkerWithoutItsRedisStillStopsAfterItsGrace() {
        var scheduler = scheduler()
        var state = Scheduler.Snapshot(now: 1_000_010)
        state.connected = false
        state.stopping = true
        state.held = 40
        state.writeBackEmpty = false
        #expect(scheduler.next(state) == .reconnect, "within the grace it tries to write back")
        state.graceEnded = true
        #expect(scheduler.next(state) == .abandon)
        state.held = 0
        state.writeBackEmpty = true
        #expect(scheduler.next(state) == .finish)
    }
}
