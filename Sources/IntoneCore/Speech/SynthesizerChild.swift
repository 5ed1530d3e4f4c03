#if canImport(Glibc)
    import Glibc
#endif

/// The body of a synthesizer child process (`intone synthesizer-child`).
///
/// It keeps one espeak-ng engine initialised across jobs, reads requests on standard
/// input and writes rendered WAV files back. If espeak-ng crashes, only this process
/// dies; the worker fails the one job and starts a new child.
public enum SynthesizerChild {
    /// Runs until standard input closes (the worker went away). Returns the exit status.
    public static func run() -> Int32 {
        // The worker decides when children stop: it closes their pipe. A Ctrl-C or a
        // SIGTERM sent to the whole process group must not kill jobs mid-render.
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        // Answers go to a private copy of stdout; whatever espeak-ng prints goes nowhere
        // and cannot corrupt a frame.
        let output = dup(STDOUT_FILENO)
        let null = open("/dev/null", O_WRONLY)
        if null >= 0 {
            dup2(null, STDOUT_FILENO)
            close(null)
        }
        let engine: EspeakEngine
        do {
            engine = try EspeakEngine()
        } catch {
            _ = send(.failure(error), to: output)
            return 1
        }
        guard send(.ready(sampleRate: engine.sampleRate, catalog: engine.catalog()), to: output) else { return 1 }
        while let request = receive() {
            let reply: SynthesizerWire.Message
            do {
                let started = Monotonic.nanoseconds()
                let pcm = try engine.render(request)
                let rendered = Monotonic.nanoseconds()
                let wav = try WAVCodec.encode(pcm)
                let encoded = Monotonic.nanoseconds()
                reply = .audio(
                    RenderedAudio(
                        wav: wav, sampleRate: pcm.sampleRate, sampleCount: pcm.samples.count,
                        synthesisMicroseconds: Int((rendered - started) / 1000), encodingMicroseconds: Int((encoded - rendered) / 1000)))
            } catch let error as SynthesisError {
                reply = .failure(error)
            } catch {
                reply = .failure(SynthesisError(.crashed, "\(error)"))
            }
            guard send(reply, to: output) else { return 1 }
        }
        return 0
    }


    private static func receive() -> SpeechRequest? {
        do {
            let header = try FileDescriptorIO.read(STDIN_FILENO, count: SynthesizerWire.headerSize)
            guard let length = SynthesizerWire.payloadLength(header: header) else { return nil }
            let payload = try FileDescriptorIO.read(STDIN_FILENO, count: length)
            guard case .request(let request) = SynthesizerWire.decode(payload[...]) else { return nil }
            return request
        } catch {
            return nil
        }
    }

    private static func send(_ message: SynthesizerWire.Message, to fd: Int32) -> Bool {
        let frame = SynthesizerWire.encode(message)
        do {
            try FileDescriptorIO.writeAll(fd, frame)
            return true
        } catch {
            return false
        }
    }
}
