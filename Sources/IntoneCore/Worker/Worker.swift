import Logging
import Synchronization

/// One `intone work` process: reads jobs through the consumer group, decides, gates,
/// renders and writes back, until asked to stop.
///
/// `run()` blocks the calling thread (hiredis and the synthesizer pool are blocking),
/// so it belongs on a thread of its own. `requestStop()` may be called from any thread:
/// the worker stops reading, finishes what it holds within the shutdown grace, and
/// returns. Its stages are in `WorkLoop`.
public final class Worker: Sendable {
    public let configuration: WorkerConfiguration
    let synthesizer: SynthesizerPool.Configuration
    let logger: Logger
    private let stopRequested = Atomic<Bool>(false)
    /// Monotonic milliseconds by which the jobs in hand must be finished, once stopping.
    private let stopDeadline = Atomic<Int64>(Int64.max)
    private let state = Mutex(WorkerStatistics())
    private let redisReady = Atomic<Bool>(false)
    private let liveSynthesizers = Atomic<Int>(0)
    private let faults = Mutex<[String]>([])

    public init(configuration: WorkerConfiguration, synthesizer: SynthesizerPool.Configuration, logger: Logger) {
        self.configuration = configuration
        self.synthesizer = synthesizer
        self.logger = logger
    }

    /// Stops reading; the jobs in hand are finished within the shutdown grace period,
    /// and those that cannot be are left pending, claimable by another replica at once.
    public func requestStop() {
        let deadline = Monotonic.milliseconds() + Int64(configuration.shutdownGraceSeconds) * 1000
        if stopDeadline.compareExchange(expected: Int64.max, desired: deadline, ordering: .relaxed).exchanged {
            logger.info("stop requested; finishing the jobs in hand", metadata: ["grace_s": "\(configuration.shutdownGraceSeconds)"])
        }
        stopRequested.store(true, ordering: .relaxed)
    }

    public var isStopping: Bool { stopRequested.load(ordering: .relaxed) }

    /// When stopping: the monotonic time by which work in hand is abandoned.
    var shutdownDeadline: Int64? {
        let deadline = stopDeadline.load(ordering: .relaxed)
        return deadline == Int64.max ? nil : deadline
    }

    public var statistics: WorkerStatistics { state.withLock { $0 } }

    /// Ready to work: connected to Redis, with at least one synthesizer process, and no
    /// fault an operator must fix (a key of the wrong type, a missing ACL permission, a
    /// Redis refusing writes). The reason says which, for `/readyz`.
    public var readiness: (ready: Bool, reason: String) {
        if !redisReady.load(ordering: .relaxed) {
            return (false, "redis at \(configuration.redisURL) is not reachable" + faultText)
        }
        if liveSynthesizers.load(ordering: .relaxed) == 0 { return (false, "no synthesizer process is running" + faultText) }
        let faults = faults.withLock { $0 }
        if !faults.isEmpty { return (false, faults.joined(separator: "\n")) }
        return (true, "ready")
    }

    private var faultText: String {
        let faults = faults.withLock { $0 }
        return faults.isEmpty ? "" : "\n" + faults.joined(separator: "\n")
    }

    func setRedisReady(_ ready: Bool) { redisReady.store(ready, ordering: .relaxed) }
    func setLiveSynthesizers(_ count: Int) { liveSynthesizers.store(count, ordering: .relaxed) }
    func setFaults(_ reasons: [String]) { faults.withLock { $0 = reasons } }

    /// Starts the synthesizer pool, then works until `requestStop()`. A Redis that cannot
    /// be reached is waited for; this throws only when the synthesizers cannot start or
    /// Redis refuses the credentials.
    public func run() throws {
        FreedMemory.keep()
        var synthesizer = synthesizer
        synthesizer.arguments += ["--opus-effort", configuration.opusEffort.rawValue]
        let pool = try SynthesizerPool(configuration: synthesizer, logger: logger)
        defer { pool.shutdown() }
        setLiveSynthesizers(pool.liveProcesses)
        defer {
            setRedisReady(false)
            setLiveSynthesizers(0)
        }
        var metadata: Logger.Metadata = [:]
        for (key, value) in configuration.summary { metadata[key] = "\(value)" }
        metadata["voices"] = "\(pool.catalog.voices.count)"
        logger.info("intone worker started", metadata: metadata)
        try WorkLoop(worker: self, pool: pool).run()
        logger.info("intone worker stopped", metadata: ["results": "\(statistics.totalResults)"])
    }

    func record(_ update: (inout WorkerStatistics) -> Void) {
        state.withLock { update(&$0) }
    }
}
