import Testing

@testable import IntoneCore

@Suite struct WireTests {
    @Test func redisCommandsAreRESP() {
        var commands = RedisCommands()
        commands.append("SET", "k", .bytes([0, 13, 10, 255]))
        commands.append("INCRBY", "n", 42)
        #expect(commands.count == 2 && commands.names == ["SET", "INCRBY"])
        let expected =
            Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\n".utf8) + [0, 13, 10, 255]
            + Array("\r\n*3\r\n$6\r\nINCRBY\r\n$1\r\nn\r\n$2\r\n42\r\n".utf8)
        #expect(commands.encoded == expected)
    }

    /// A WAV-sized argument is written from the caller's array, not copied into the
    /// pipeline; the bytes on the wire are the same RESP.
    @Test func largeArgumentsAreReferencedNotCopied() {
        let audio = (0..<100_000).map { UInt8(truncatingIfNeeded: $0) }
        var commands = RedisCommands()
        commands.append("SET", "a", .bytes(audio), "EX", 60)
        var next = RedisCommands()
        next.append("SET", "b", .bytes(audio))
        next.append("PING")
        commands.append(contentsOf: next)
        #expect(commands.count == 3 && commands.names == ["SET", "SET", "PING"])
        #expect(commands.pieces.filter { $0.count == audio.count }.count == 2)
        let expected =
            Array("*5\r\n$3\r\nSET\r\n$1\r\na\r\n$100000\r\n".utf8) + audio + Array("\r\n$2\r\nEX\r\n$2\r\n60\r\n".utf8)
            + Array("*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$100000\r\n".utf8) + audio + Array("\r\n*1\r\n$4\r\nPING\r\n".utf8)
        #expect(commands.encoded == expected)
        #expect(Array(commands.pieces.joined()) == expected)
    }

    @Test func synthesizerFramesRoundTrip() throws {
        let messages: [SynthesizerWire.Message] = [
            .request(SpeechRequest(text: "Grüße, 世界", voice: "de+f3", rate: 210, pitch: 7)),
            .request(SpeechRequest(text: "Streamed.", voice: "en", rate: 175, pitch: 50, streamed: true)),
            .audio(
                RenderedAudio(
                    bytes: [1, 2, 3, 0, 255], format: "pcm_16000", contentType: "audio/pcm;rate=16000", sampleRate: 16000, sampleCount: 2,
                    synthesisMicroseconds: 6100, encodingMicroseconds: 300)),
            .chunk([0, 1, 2, 255]),
            .failure(SynthesisError(.unknownVoice, "no such voice")),
            .ready(
                sampleRate: 22050,
                catalog: VoiceCatalog(
                    voices: [Voice(identifier: "gmw/en", name: "English (Great Britain)", languages: ["en-gb", "en"])], variants: ["f3"])),
        ]
        for message in messages {
            let frame = SynthesizerWire.encode(message)
            let length = try #require(SynthesizerWire.payloadLength(header: frame))
            #expect(length == frame.count - 4)
            #expect(SynthesizerWire.decode(frame[4...]) == message)
        }
    }

    @Test func wavRoundTripsThroughLibsndfile() throws {
        let pcm = PCMBuffer(sampleRate: 22050, samples: (0..<5000).map { Int16(truncatingIfNeeded: $0 * 7) })
        let wav = try WAVCodec.encode(pcm)
        #expect(Array(wav.prefix(4)) == Array("RIFF".utf8) && Array(wav[8..<12]) == Array("WAVE".utf8))
        #expect(wav.count == 44 + 2 * 5000)
        let decoded = try WAVCodec.decode(wav)
        #expect(decoded.isPCM16WAV && decoded.sampleRate == 22050 && decoded.channels == 1)
        #expect(decoded.samples == pcm.samples)
    }

    @Test func garbageIsNotAWAV() {
        #expect(throws: AudioError.self) { try WAVCodec.decode(Array("not a wav file at all".utf8)) }
    }
}
