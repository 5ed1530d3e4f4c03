#if canImport(Glibc)
    import Glibc
#endif

/// One synthesizer child process and the two pipes the worker talks to it through.
///
/// The child's stdin carries requests, its stdout replies. The worker's ends are
/// close-on-exec so that no other child holds them open, which is what makes a dead
/// child show up as end-of-file at once.
final class SynthesizerProcess {
    let pid: pid_t
    private(set) var requestFD: Int32
    private(set) var replyFD: Int32
    private var pending: [UInt8] = []
    private var exitDescription: String?

    enum ReadOutcome {
        case message(SynthesizerWire.Message)
        case needMore
        case closed
    }

    private init(pid: pid_t, requestFD: Int32, replyFD: Int32) {
        self.pid = pid
        self.requestFD = requestFD
        self.replyFD = replyFD
    }

    deinit {
        terminate()
    }

    static func spawn(executable: String, arguments: [String]) throws(SynthesisError) -> SynthesizerProcess {
        var requestPipe: [Int32] = [-1, -1]
        var replyPipe: [Int32] = [-1, -1]
        guard pipe(&requestPipe) == 0 else { throw failure("pipe", errno) }
        guard pipe(&replyPipe) == 0 else {
            close(requestPipe[0])
            close(requestPipe[1])
            throw failure("pipe", errno)
        }
        // pipe2 is not visible from Swift; the pool spawns from one thread only, so
        // setting close-on-exec right after creation races with no other spawn.
        for fd in requestPipe + replyPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, requestPipe[0], STDIN_FILENO)
        posix_spawn_file_actions_adddup2(&actions, replyPipe[1], STDOUT_FILENO)
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0)

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        // glibc writes fatal messages such as "stack smashing detected" to the terminal
        // unless told to use stderr, which goes to /dev/null here.
        var environment: [UnsafeMutablePointer<CChar>?] = [strdup("LIBC_FATAL_STDERR_=1")]
        var cursor = environ
        while let entry = cursor.pointee {
            environment.append(strdup(entry))
            cursor += 1
        }
        environment.append(nil)
        defer {
            argv.forEach { free($0) }
            environment.forEach { free($0) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, nil, argv, environment)
        close(requestPipe[0])
        close(replyPipe[1])
        guard status == 0 else {
            close(requestPipe[1])
            close(replyPipe[0])
            throw failure("starting \(executable)", status)
        }
        let flags = fcntl(replyPipe[0], F_GETFL)
        _ = fcntl(replyPipe[0], F_SETFL, flags | O_NONBLOCK)
        return SynthesizerProcess(pid: pid, requestFD: requestPipe[1], replyFD: replyPipe[0])
    }

    /// Waits for the child's `ready` frame.
    func awaitReady(timeoutMilliseconds: Int) throws(SynthesisError) -> (sampleRate: Int, catalog: VoiceCatalog) {
        let deadline = Monotonic.milliseconds() + Int64(timeoutMilliseconds)
        while true {
            switch readAvailable() {
            case .message(.ready(let sampleRate, let catalog)):
                return (sampleRate, catalog)
            case .message(.failure(let error)):
                throw error
            case .message:
                throw SynthesisError(.unavailable, "synthesizer sent an unexpected first frame")
            case .closed:
                throw SynthesisError(.unavailable, "synthesizer exited at start: \(reap())")
            case .needMore:
                let left = deadline - Monotonic.milliseconds()
                guard left > 0 else {
                    terminate()
                    throw SynthesisError(.unavailable, "synthesizer did not start within \(timeoutMilliseconds) ms")
                }
                var fds = [pollfd(fd: replyFD, events: Int16(POLLIN), revents: 0)]
                _ = poll(&fds, 1, Int32(left))
            }
        }
    }

    /// Writes one request; false when the child is gone.
    func send(_ request: SpeechRequest) -> Bool {
        do {
            try FileDescriptorIO.writeAll(requestFD, SynthesizerWire.encode(.request(request)))
            return true
        } catch {
            return false
        }
    }

    /// Reads what the pipe holds without blocking and returns a frame once one is complete.
    func readAvailable() -> ReadOutcome {
        if let message = takeFrame() { return .message(message) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(replyFD, $0.baseAddress, $0.count) }
            if n > 0 {
                pending.append(contentsOf: chunk[0..<n])
                if let message = takeFrame() { return .message(message) }
                continue
            }
            if n == 0 { return .closed }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return .needMore }
            return .closed
        }
    }

    private func takeFrame() -> SynthesizerWire.Message? {
        guard let length = SynthesizerWire.payloadLength(header: pending),
            pending.count >= SynthesizerWire.headerSize + length
        else { return nil }
        let end = SynthesizerWire.headerSize + length
        let message = SynthesizerWire.decode(pending[SynthesizerWire.headerSize..<end])
        pending.removeSubrange(0..<end)
        return message ?? .failure(SynthesisError(.crashed, "synthesizer sent a frame that does not decode"))
    }

    /// Kills the child (if still running), reaps it, and closes the pipes.
    func terminate() {
        if exitDescription == nil {
            kill(pid, SIGKILL)
            _ = reap()
        }
        if requestFD >= 0 { close(requestFD) }
        if replyFD >= 0 { close(replyFD) }
        requestFD = -1
        replyFD = -1
    }

    /// Closes the request pipe so the child exits by itself, then reaps it.
    func stop() {
        if requestFD >= 0 { close(requestFD) }
        requestFD = -1
        _ = reap()
        terminate()
    }

    /// Waits for the child to exit and says how it ended ("killed by signal 6 (SIGABRT)").
    func reap() -> String {
        if let exitDescription { return exitDescription }
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, 0) } while result < 0 && errno == EINTR
        let description: String
        if result < 0 {
            description = "exit status unknown"
        } else if status & 0x7f == 0 {
            description = "exited with status \((status >> 8) & 0xff)"
        } else {
            let signal = status & 0x7f
            description = "killed by signal \(signal)" + (Self.signalNames[signal].map { " (\($0))" } ?? "")
        }
        exitDescription = description
        return description
    }

    private static let signalNames: [Int32: String] = [
        SIGABRT: "SIGABRT", SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGFPE: "SIGFPE",
        SIGKILL: "SIGKILL", SIGTERM: "SIGTERM",
    ]

    private static func failure(_ what: String, _ code: Int32) -> SynthesisError {
        SynthesisError(.unavailable, "\(what): \(String(cString: strerror(code)))")
    }
}
