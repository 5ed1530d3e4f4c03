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
                reply = .audio(try render(request, with: engine, output: output))
            } catch let error as SynthesisError {
                reply = .failure(error)
            } catch {
                reply = .failure(SynthesisError(.crashed, "\(error)"))
            }
            guard send(reply, to: output) else { return 1 }
        }
        return 0
    }

    /// Renders one request. A streamed one sends its chunks as they are cut (see
    /// `ChunkCutter`); the reply then holds only what follows the last chunk.
    static func render(_ request: SpeechRequest, with engine: EspeakEngine, output: Int32) throws -> RenderedAudio {
        let started = Monotonic.nanoseconds()
        var encodingNanoseconds: Int64 = 0
        var samples: [Int16] = []
        var cutter = ChunkCutter(samplesPerChunk: engine.sampleRate)
        var chunked = 0
        var lostPipe = false
        try engine.render(request) { piece, sentenceStarts throws(SynthesisError) in
            samples.append(contentsOf: piece)
            guard request.streamed else { return }
            for cut in cutter.receive(count: piece.count, sentenceStarts: sentenceStarts) {
                let encodeStarted = Monotonic.nanoseconds()
                let chunk = StreamedWAV.chunk(samples[chunked..<cut], sampleRate: engine.sampleRate, first: chunked == 0)
                encodingNanoseconds += Monotonic.nanoseconds() - encodeStarted
                chunked = cut
                guard send(.chunk(chunk), to: output) else {
                    lostPipe = true
                    throw SynthesisError(.unavailable, "the worker went away")
                }
            }
        }
        if lostPipe { throw SynthesisError(.unavailable, "the worker went away") }
        let rendered = Monotonic.nanoseconds()
        let bytes: [UInt8]
        if request.streamed {
            bytes = StreamedWAV.chunk(samples[chunked...], sampleRate: engine.sampleRate, first: chunked == 0)
        } else {
            bytes = try WAVCodec.encode(PCMBuffer(sampleRate: engine.sampleRate, samples: samples))
        }
        encodingNanoseconds += Monotonic.nanoseconds() - rendered
        return RenderedAudio(
            bytes: bytes, sampleRate: engine.sampleRate, sampleCount: samples.count,
            synthesisMicroseconds: Int((rendered - started - encodingNanoseconds) / 1000), encodingMicroseconds: Int(encodingNanoseconds / 1000))
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
