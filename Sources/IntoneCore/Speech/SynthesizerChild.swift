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
    public static func run(opusEffort: OpusEffort = .fast) -> Int32 {
        // The worker decides when children stop: it closes their pipe. A Ctrl-C or a
        // SIGTERM sent to the whole process group must not kill jobs mid-render.
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        FreedMemory.keep()
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
                reply = .audio(try render(request, with: engine, opusEffort: opusEffort, output: output))
            } catch let error as SynthesisError {
                reply = .failure(error)
            } catch {
                reply = .failure(SynthesisError(.crashed, "\(error)"))
            }
            guard send(reply, to: output) else { return 1 }
        }
        return 0
    }

    /// Renders one request and encodes it in its format as the samples come (see
    /// `ReplyEncoder`). A streamed one sends its chunks as they are cut (see
    /// `ChunkCutter`); the reply then holds only what follows the last chunk.
    static func render(_ request: SpeechRequest, with engine: EspeakEngine, opusEffort: OpusEffort, output: Int32) throws -> RenderedAudio {
        let started = Monotonic.nanoseconds()
        var encodingNanoseconds: Int64 = 0
        let encoder = try ReplyEncoder(
            format: request.format, inputRate: engine.sampleRate, streamed: request.streamed, opusEffort: opusEffort)
        var cutter = ChunkCutter(samplesPerChunk: engine.sampleRate)
        var lostPipe = false
        try engine.render(request) { piece, sentenceStarts throws(SynthesisError) in
            let encodeStarted = Monotonic.nanoseconds()
            defer { encodingNanoseconds += Monotonic.nanoseconds() - encodeStarted }
            guard request.streamed else {
                try encode { () throws(AudioError) in try encoder.append(piece) }
                return
            }
            // Cut where the cutter says, between the samples before and after the cut.
            var offset = 0
            let start = cutter.received
            for cut in cutter.receive(count: piece.count, sentenceStarts: sentenceStarts) {
                let upTo = cut - start
                try encode { () throws(AudioError) in try encoder.append(UnsafeBufferPointer(rebasing: piece[offset..<upTo])) }
                offset = upTo
                let chunk = try encode { () throws(AudioError) in try encoder.cutChunk() }
                // A cut where the codecs had nothing finished yet sends nothing.
                if !chunk.isEmpty, !send(.chunk(chunk), to: output) {
                    lostPipe = true
                    throw SynthesisError(.unavailable, "the worker went away")
                }
            }
            try encode { () throws(AudioError) in try encoder.append(UnsafeBufferPointer(rebasing: piece[offset...])) }
        }
        if lostPipe { throw SynthesisError(.unavailable, "the worker went away") }
        let rendered = Monotonic.nanoseconds()
        let bytes = try encode { () throws(AudioError) in try encoder.finish() }
        encodingNanoseconds += Monotonic.nanoseconds() - rendered
        return RenderedAudio(
            bytes: bytes, format: request.format.name, contentType: request.format.contentType, sampleRate: request.format.sampleRate,
            sampleCount: encoder.outputFrames, synthesisMicroseconds: Int((rendered - started - encodingNanoseconds) / 1000),
            encodingMicroseconds: Int(encodingNanoseconds / 1000))
    }

    /// An encoder's failure fails the job, as a crash of the engine would.
    private static func encode<T>(_ body: () throws(AudioError) -> T) throws(SynthesisError) -> T {
        do {
            return try body()
        } catch {
            throw SynthesisError(.crashed, "encoding failed: \(error.message)")
        }
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
