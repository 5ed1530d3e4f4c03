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

    /// F_SETPIPE_SZ (Linux); not exported to Swift.
    private static let setPipeSize: Int32 = 1031
    private static let pipeSize: Int32 = 1 << 20

    private init(pid: pid_t, requestFD: Int32, replyFD: Int32) {
        self.pid = pid
        self.requestFD = requestFD
        self.replyFD = replyFD
    }

    deinit {
        terminate()
    }

    static func spawn(executable: String, arguments: [String]) throws(SynthesisError) -> SynthesizerProcess {
        do {
            let request = try Spawn.pipe()
            let reply = try Spawn.pipe()
            defer {
                close(request.read)
                close(reply.write)
            }
            let pid: pid_t
            do {
                // glibc writes fatal messages such as "stack smashing detected" to the
                // terminal unless told to use stderr, which goes to /dev/null here.
                pid = try Spawn.start(
                    executable, arguments,
                    redirects: [
                        (STDIN_FILENO, .descriptor(request.read)), (STDOUT_FILENO, .descriptor(reply.write)), (STDERR_FILENO, .null),
                    ],
                    extraEnvironment: ["LIBC_FATAL_STDERR_=1"])
            } catch {
                close(request.write)
                close(reply.read)
                throw error
            }
            _ = fcntl(reply.read, F_SETFL, fcntl(reply.read, F_GETFL) | O_NONBLOCK)
            // A whole reply (a WAV file) fits in the pipe, so a child hands it over in one
            // write and never waits on the worker to drain 64 KiB at a time.
            _ = fcntl(reply.read, Self.setPipeSize, Self.pipeSize)
            return SynthesizerProcess(pid: pid, requestFD: request.write, replyFD: reply.read)
        } catch {
            throw SynthesisError(.unavailable, "\(error)")
        }
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
        let status = Spawn.wait(pid) ?? -1
        let description: String
        if status < 0 {
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
}
