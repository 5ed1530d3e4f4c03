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
/// Not thread-safe: the worker's own thread drives it, without blocking: `start` hands a
/// job to an idle child, `descriptors` go into the loop's `poll`, and `collect` returns
/// chunks and finished renders.
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
    /// Child slot → the job it renders and when that job runs out of time.
    private var busy: [Int: (token: Int, deadline: Int64)] = [:]
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

    /// What a render hands back to the loop: a streamed reply's chunk, or the end of a
    /// render (its audio, or why there is none).
    public enum Event: Sendable {
        case chunk(token: Int, bytes: [UInt8])
        case finished(token: Int, Result<RenderedAudio, SynthesisError>)
    }

    /// Children with no job.
    public var idleChildren: Int { children.indices.filter { busy[$0] == nil }.count }
    /// Jobs rendering now.
    public var rendering: Int { busy.count }
    /// The tokens of the jobs rendering now.
    public var renderingTokens: [Int] { busy.values.map(\.token) }

    /// Starts a render on an idle child (starting a new child in a dead one's slot). The
    /// token comes back with its events. Returns false when no child is idle; a job that
    /// no child can take because none can be started fails with `.unavailable`, which is
    /// not the job's fault.
    public func start(_ request: SpeechRequest, token: Int) -> Result<Bool, SynthesisError> {
        for slot in children.indices where busy[slot] == nil {
            guard let child = liveChild(slot) else { continue }
            if child.send(request) {
                busy[slot] = (token, Monotonic.milliseconds() + Int64(configuration.timeoutMilliseconds))
                return .success(true)
            }
            // The child died after its last job, before this one reached it: not this
            // job's fault; another child (or a new one in this slot) takes it.
            replace(slot, reason: "exited between jobs: \(child.reap())")
            if let fresh = children[slot], fresh.send(request) {
                busy[slot] = (token, Monotonic.milliseconds() + Int64(configuration.timeoutMilliseconds))
                return .success(true)
            }
        }
        if liveProcesses == 0 { return .failure(SynthesisError(.unavailable, "no synthesizer process could be started")) }
        return .success(false)
    }

    /// The pipes of the children rendering, for `poll`.
    public var descriptors: [Int32] { busy.keys.sorted().compactMap { children[$0]?.replyFD } }

    /// When the earliest render runs out of time.
    public var nextDeadline: Int64? { busy.values.map(\.deadline).min() }

    /// Reads what the busy children have written (call when `poll` says a descriptor is
    /// readable; reading an empty pipe does not block) and fails renders past their time.
    public func collect() -> [Event] {
        var events: [Event] = []
        let now = Monotonic.milliseconds()
        for slot in busy.keys.sorted() {
            guard let job = busy[slot], let child = children[slot] else { continue }
            reading: while true {
                switch child.readAvailable() {
                case .needMore:
                    break reading
                case .message(.chunk(let bytes)):
                    events.append(.chunk(token: job.token, bytes: bytes))
                case .message(.audio(let audio)):
                    events.append(.finished(token: job.token, .success(audio)))
                    busy[slot] = nil
                    break reading
                case .message(.failure(let error)):
                    events.append(.finished(token: job.token, .failure(error)))
                    busy[slot] = nil
                    break reading
                case .message:
                    events.append(.finished(token: job.token, .failure(SynthesisError(.crashed, "synthesizer answered out of turn"))))
                    busy[slot] = nil
                    replace(slot, reason: "protocol error")
                    break reading
                case .closed:
                    let how = child.reap()
                    events.append(
                        .finished(token: job.token, .failure(SynthesisError(.crashed, "espeak-ng \(how) while rendering this text"))))
                    busy[slot] = nil
                    replace(slot, reason: how)
                    break reading
                }
            }
            if let job = busy[slot], now >= job.deadline {
                events.append(
                    .finished(
                        token: job.token,
                        .failure(SynthesisError(.timeout, "rendering took longer than \(configuration.timeoutMilliseconds) ms"))))
                busy[slot] = nil
                replace(slot, reason: "killed after the time limit")
            }
        }
        return events
    }

    /// Kills the children still rendering (a shutdown's grace ran out); returns their
    /// tokens. Those jobs are not failed: they are left for another replica.
    public func abandonAll() -> [Int] {
        let tokens = busy.values.map(\.token)
        for slot in busy.keys {
            children[slot]?.terminate()
            children[slot] = nil
        }
        busy = [:]
        return tokens
    }

    /// Renders every request with all children and waits for them (for tools and tests;
    /// the worker's loop uses `start` and `collect`). Outcomes are in request order;
    /// chunks of streamed requests are dropped.
    public func render(_ requests: [SpeechRequest]) -> [Result<RenderedAudio, SynthesisError>] {
        var outcomes = [Result<RenderedAudio, SynthesisError>?](repeating: nil, count: requests.count)
        var next = 0
        while outcomes.contains(where: { $0 == nil }) {
            while next < requests.count {
                switch start(requests[next], token: next) {
                case .success(true): next += 1
                case .success(false): break
                case .failure(let error):
                    for index in next..<requests.count { outcomes[index] = .failure(error) }
                    next = requests.count
                }
                if idleChildren == 0 { break }
            }
            var fds = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if !fds.isEmpty {
                let wait = max(0, (nextDeadline ?? Monotonic.milliseconds() + 1000) - Monotonic.milliseconds())
                _ = poll(&fds, nfds_t(fds.count), Int32(clamping: wait))
            }
            for event in collect() {
                if case .finished(let token, let outcome) = event { outcomes[token] = outcome }
            }
        }
        return outcomes.map { $0! }
    }

    /// Stops every child: closes its pipe so it exits, then reaps it.
    public func shutdown() {
        busy = [:]
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
