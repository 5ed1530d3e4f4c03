import CEspeakNG

/// espeak-ng in this process: the only type that touches the espeak-ng C API.
///
/// espeak-ng 1.51 keeps global state and can crash the process on some plain
/// text, so this runs only inside a synthesizer child process (see
/// `SynthesizerChild`), one engine per process, never in the worker itself.
public final class EspeakEngine {
    public let sampleRate: Int
    private var currentVoice: String?
    private var currentRate: Int?
    private var currentPitch: Int?

    public init() throws(SynthesisError) {
        let rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nil, espeakINITIALIZE_DONT_EXIT)
        guard rate > 0 else {
            throw SynthesisError(.unavailable, "espeak-ng failed to initialise (is espeak-ng-data installed?)")
        }
        sampleRate = Int(rate)
        espeak_SetSynthCallback { wav, count, events in
            guard let events, let user = events.pointee.user_data else { return 0 }
            let sink = Unmanaged<SampleSink>.fromOpaque(user).takeUnretainedValue()
            // Sentence starts after the first: where a streamed reply may end a chunk.
            var event = events
            while event.pointee.type != espeakEVENT_LIST_TERMINATED {
                if event.pointee.type == espeakEVENT_SENTENCE, event.pointee.sample > 0 {
                    sink.sentenceStarts.append(Int(event.pointee.sample))
                }
                event += 1
            }
            if let wav, count > 0 {
                sink.deliver(UnsafeBufferPointer(start: wav, count: Int(count)))
            }
            return sink.failed ? 1 : 0
        }
    }

    /// Every voice and variant espeak-ng has.
    func catalog() -> VoiceCatalog {
        var voices: [Voice] = []
        if let list = espeak_ListVoices(nil) {
            var index = 0
            while let voice = list[index] {
                voices.append(Self.voice(voice.pointee))
                index += 1
            }
        }
        var variants: [String] = []
        var spec = espeak_VOICE()
        "variant".withCString { languages in
            spec.languages = languages
            if let list = espeak_ListVoices(&spec) {
                var index = 0
                while let voice = list[index] {
                    let identifier = String(cString: voice.pointee.identifier)
                    // Variants live in the `!v` folder: `!v/f3` is used as `en+f3`.
                    if let slash = identifier.lastIndex(of: "/") {
                        variants.append(String(identifier[identifier.index(after: slash)...]))
                    }
                    index += 1
                }
            }
        }
        return VoiceCatalog(voices: voices, variants: variants)
    }

    /// Renders plain text (never SSML or phonemes) to mono 16-bit samples.
    func render(_ request: SpeechRequest) throws(SynthesisError) -> PCMBuffer {
        var samples: [Int16] = []
        try render(request) { piece, _ in samples.append(contentsOf: piece) }
        return PCMBuffer(sampleRate: sampleRate, samples: samples)
    }

    /// Renders plain text, handing the samples over as espeak-ng produces them (a few
    /// tens of milliseconds of speech at a time) with the sample positions, counted
    /// from the start of the reply, where sentences after the first begin. `receive`
    /// throwing stops the render.
    public func render(
        _ request: SpeechRequest, receive: @escaping (UnsafeBufferPointer<Int16>, _ sentenceStarts: [Int]) throws(SynthesisError) -> Void
    ) throws(SynthesisError) {
        if request.voice != currentVoice {
            guard espeak_SetVoiceByName(request.voice) == EE_OK else {
                currentVoice = nil
                throw SynthesisError(.unknownVoice, "espeak-ng has no voice '\(request.voice)'")
            }
            currentVoice = request.voice
            // A voice change resets speed and pitch to the voice's own.
            currentRate = nil
            currentPitch = nil
        }
        if request.rate != currentRate {
            espeak_SetParameter(espeakRATE, Int32(request.rate), 0)
            currentRate = request.rate
        }
        if request.pitch != currentPitch {
            espeak_SetParameter(espeakPITCH, Int32(request.pitch), 0)
            currentPitch = request.pitch
        }
        let sink = SampleSink(receive: receive)
        let user = Unmanaged.passUnretained(sink).toOpaque()
        var text = request.text
        let status = text.withUTF8 { utf8 in
            // espeak-ng reads up to the NUL; `size` only sizes its buffer.
            var bytes = [CChar](repeating: 0, count: utf8.count + 1)
            bytes.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(utf8)) }
            return espeak_Synth(bytes, bytes.count, 0, POS_CHARACTER, 0, UInt32(espeakCHARS_UTF8), nil, user)
        }
        if let error = sink.error { throw error }
        guard status == EE_OK else {
            throw SynthesisError(.crashed, "espeak-ng refused the text (error \(status.rawValue))")
        }
        withExtendedLifetime(sink) {}
    }

    private static func voice(_ voice: espeak_VOICE) -> Voice {
        var languages: [String] = []
        // `languages` is a list of (priority byte, NUL-terminated code), ended by a 0 byte.
        if var cursor = voice.languages {
            while cursor.pointee != 0 {
                cursor += 1
                let code = String(cString: cursor)
                languages.append(code)
                cursor += code.utf8.count + 1
            }
        }
        return Voice(
            identifier: String(cString: voice.identifier),
            name: String(cString: voice.name),
            languages: languages
        )
    }
}

/// Where the synthesis callback hands samples to: the caller's closure, and the first
/// error it threw (which stops the render).
private final class SampleSink {
    let receive: (UnsafeBufferPointer<Int16>, [Int]) throws(SynthesisError) -> Void
    var sentenceStarts: [Int] = []
    var error: SynthesisError?
    var failed: Bool { error != nil }

    init(receive: @escaping (UnsafeBufferPointer<Int16>, [Int]) throws(SynthesisError) -> Void) {
        self.receive = receive
    }

    func deliver(_ samples: UnsafeBufferPointer<Int16>) {
        guard error == nil else { return }
        do {
            try receive(samples, sentenceStarts)
            sentenceStarts.removeAll(keepingCapacity: true)
        } catch {
            self.error = error
        }
    }
}
