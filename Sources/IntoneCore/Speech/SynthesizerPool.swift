import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Renders speech in a pool of child processes that the worker starts and supervises.
///
/// Each child keeps espeak-ng initialised between jobs. A child that dies or runs past
/// the time limit fails only the job it was rendering (`synthesis_crashed` /
/// `synthesis_timeout`) and is replaced; the other jobs carry on. The pool is also how
/// one worker uses several cores: N children render N jobs at once.
///
/// Not thread-safe: the worker's own thread drives it.
public final class SynthesizerPool {
    public struct Configuration: Sendable {
        /// The program to run for each child, normally `intone` itself.
        public var executable: String
        /// Arguments that make that program a synthesizer child.
        public var arguments: [String]
        public var size: Int
        /// How long one job may render before its child is killed.
        public var timeoutMilliseconds: Int
        public var startTimeoutMilliseconds: Int

        public init(
            executable: String, arguments: [String] = ["synthesizer-child"], size: Int,
            timeoutMilliseconds: Int = 30000, startTimeoutMilliseconds: Int = 15000
        ) {
            self.executable = executable
            self.arguments = arguments
            self.size = size
            self.timeoutMilliseconds = timeoutMilliseconds
            self.startTimeoutMilliseconds = startTimeoutMilliseconds
        }
    }

    public let configuration: Configuration
    public let catalog: VoiceCatalog
    public let sampleRate: Int
    /// Children started to replace one that died or was killed.
    public private(set) var restarts = 0
    private var children: [SynthesizerProcess?]
    private let logger: Logger

    /// Starts every child and waits until each has espeak-ng ready.
    public init(configuration: Configuration, logger: Logger) throws(SynthesisError) {
        guard configuration.size > 0 else {
            throw SynthesisError(.unavailable, "the synthesizer pool needs at least one process")
        }
        self.configuration = configuration
        self.logger = logger
        var started: [SynthesizerProcess] = []
        for _ in 0..<configuration.size {
            started.append(try SynthesizerProcess.spawn(executable: configuration.executable, arguments: configuration.arguments))
        }
        var first: (sampleRate: Int, catalog: VoiceCatalog)?
        for child in started {
            let ready = try child.awaitReady(timeoutMilliseconds: configuration.startTimeoutMilliseconds)
            if first == nil { first = ready }
        }
        children = started
        sampleRate = first!.sampleRate
        catalog = first!.catalog
    }

    deinit {
        shutdown()
    }

    /// The path of the running program, for spawning it again as a child.
    public static func currentExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    }

    public var liveProcesses: Int { children.compactMap { $0 }.count }

    /// The voices espeak-ng has, asked of one short-lived synthesizer child (espeak-ng
    /// is never loaded into the calling process).
    public static func loadCatalog(executable: String, arguments: [String] = ["synthesizer-child"]) throws(SynthesisError) -> VoiceCatalog {
        let child = try SynthesizerProcess.spawn(executable: executable, arguments: arguments)
        defer { child.stop() }
        return try child.awaitReady(timeoutMilliseconds: 15000).catalog
    }

    /// Renders every request, using all children at once; outcomes are in request order.
    ///
    /// `tick` runs about every `tickMilliseconds` while rendering (the worker keeps the
    /// jobs it holds fresh with it). Once the monotonic time `abandonAt()` returns has
    /// passed (a shutdown's grace period ran out), the children still rendering are
    /// killed and every job not done comes back as `.unavailable`: not failed, to be left
    /// for another replica.
    public func render(
        _ requests: [SpeechRequest], tickMilliseconds: Int = 0, tick: () -> Void = {}, abandonAt: () -> Int64? = { nil }
    ) -> [Result<RenderedAudio, SynthesisError>] {
        var outcomes = [Result<RenderedAudio, SynthesisError>?](repeating: nil, count: requests.count)
        var queue = Array(requests.indices.reversed())
        // Child slot → (request index, deadline).
        var busy: [Int: (request: Int, deadline: Int64)] = [:]
        var nextTick = tickMilliseconds > 0 ? Monotonic.milliseconds() + Int64(tickMilliseconds) : Int64.max

        while !queue.isEmpty || !busy.isEmpty {
            if let abandon = abandonAt(), Monotonic.milliseconds() >= abandon {
                for (slot, job) in busy {
                    children[slot]?.terminate()
                    children[slot] = nil
                    outcomes[job.request] = .failure(SynthesisError(.unavailable, "abandoned: the shutdown grace period ran out"))
                }
                for index in queue {
                    outcomes[index] = .failure(SynthesisError(.unavailable, "abandoned: the shutdown grace period ran out"))
                }
                break
            }
            for slot in children.indices where busy[slot] == nil && !queue.isEmpty {
                let index = queue.removeLast()
                guard let child = liveChild(slot) else {
                    queue.append(index)
                    break
                }
                if child.send(requests[index]) {
                    busy[slot] = (index, Monotonic.milliseconds() + Int64(configuration.timeoutMilliseconds))
                } else {
                    // The child died after its last job, before this one reached it:
                    // not this job's fault, so it goes back in the queue.
                    replace(slot, reason: "exited between jobs: \(child.reap())")
                    queue.append(index)
                }
            }
            if busy.isEmpty {
                // No child can be started: the jobs are not at fault and are not failed.
                for index in queue {
                    outcomes[index] = .failure(SynthesisError(.unavailable, "no synthesizer process could be started"))
                }
                break
            }
            let slots = Array(busy.keys)
            var fds = slots.map { pollfd(fd: children[$0]!.replyFD, events: Int16(POLLIN), revents: 0) }
            let wakeAt = min(busy.values.map(\.deadline).min()!, nextTick, abandonAt() ?? Int64.max)
            _ = poll(&fds, nfds_t(fds.count), Int32(clamping: max(0, wakeAt - Monotonic.milliseconds())))
            if Monotonic.milliseconds() >= nextTick {
                tick()
                nextTick = Monotonic.milliseconds() + Int64(tickMilliseconds)
            }
            for (position, slot) in slots.enumerated() {
                let job = busy[slot]!
                let child = children[slot]!
                if fds[position].revents != 0 {
                    switch child.readAvailable() {
                    case .needMore:
                        break
                    case .message(.audio(let audio)):
                        outcomes[job.request] = .success(audio)
                        busy[slot] = nil
                        continue
                    case .message(.failure(let error)):
                        outcomes[job.request] = .failure(error)
                        busy[slot] = nil
                        continue
                    case .message:
                        outcomes[job.request] = .failure(SynthesisError(.crashed, "synthesizer answered out of turn"))
                        busy[slot] = nil
                        replace(slot, reason: "protocol error")
                        continue
                    case .closed:
                        let how = child.reap()
                        outcomes[job.request] = .failure(SynthesisError(.crashed, "espeak-ng \(how) while rendering this text"))
                        busy[slot] = nil
                        replace(slot, reason: how)
                        continue
                    }
                }
                if Monotonic.milliseconds() >= job.deadline {
                    outcomes[job.request] = .failure(
                        SynthesisError(.timeout, "rendering took longer than \(configuration.timeoutMilliseconds) ms"))
                    busy[slot] = nil
                    replace(slot, reason: "killed after the time limit")
                }
            }
        }
        return outcomes.map { $0! }
    }

    /// Stops every child: closes its pipe so it exits, then reaps it.
    public func shutdown() {
        for slot in children.indices {
            children[slot]?.stop()
            children[slot] = nil
        }
    }

    private func liveChild(_ slot: Int) -> SynthesizerProcess? {
        if let child = children[slot] { return child }
        do {
            let child = try SynthesizerProcess.spawn(executable: configuration.executable, arguments: configuration.arguments)
            _ = try child.awaitReady(timeoutMilliseconds: configuration.startTimeoutMilliseconds)
            children[slot] = child
            restarts += 1
            return child
        } catch {
            logger.error("cannot start a synthesizer process", metadata: ["error": "\(error)"])
            return nil
        }
    }

    private func replace(_ slot: Int, reason: String) {
        children[slot]?.terminate()
        children[slot] = nil
        logger.debug("synthesizer process replaced", metadata: ["reason": "\(reason)"])
        _ = liveChild(slot)
    }
}
