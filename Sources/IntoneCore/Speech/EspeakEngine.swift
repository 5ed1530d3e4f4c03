import CEspeakNG

/// espeak-ng in this process: the only type that touches the espeak-ng C API.
///
/// espeak-ng 1.51 keeps global state and can crash the process on some plain
/// text, so this runs only inside a synthesizer child process (see
/// `SynthesizerChild`), one engine per process, never in the worker itself.
final class EspeakEngine {
    let sampleRate: Int
    private var currentVoice: String?
    private var currentRate: Int?
    private var currentPitch: Int?

    init() throws(SynthesisError) {
        let rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nil, espeakINITIALIZE_DONT_EXIT)
        guard rate > 0 else {
            throw SynthesisError(.unavailable, "espeak-ng failed to initialise (is espeak-ng-data installed?)")
        }
        sampleRate = Int(rate)
        espeak_SetSynthCallback { wav, count, events in
            guard let events, let user = events.pointee.user_data else { return 0 }
            let sink = Unmanaged<SampleSink>.fromOpaque(user).takeUnretainedValue()
            if let wav, count > 0 {
                sink.samples.append(contentsOf: UnsafeBufferPointer(start: wav, count: Int(count)))
            }
            return 0
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
        let sink = SampleSink()
        let user = Unmanaged.passUnretained(sink).toOpaque()
        var text = request.text
        let status = text.withUTF8 { utf8 in
            // espeak-ng reads up to the NUL; `size` only sizes its buffer.
            var bytes = [CChar](repeating: 0, count: utf8.count + 1)
            bytes.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(utf8)) }
            return espeak_Synth(bytes, bytes.count, 0, POS_CHARACTER, 0, UInt32(espeakCHARS_UTF8), nil, user)
        }
        guard status == EE_OK else {
            throw SynthesisError(.crashed, "espeak-ng refused the text (error \(status.rawValue))")
        }
        return withExtendedLifetime(sink) { PCMBuffer(sampleRate: sampleRate, samples: sink.samples) }
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

private final class SampleSink {
    var samples: [Int16] = []
}
