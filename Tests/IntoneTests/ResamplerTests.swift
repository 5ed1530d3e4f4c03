import Foundation
import Testing

@testable import IntoneCore

@Suite("Resampler")
struct ResamplerTests {
    @Test("feeding pieces gives the same samples as feeding all at once", arguments: [8000, 16000, 24000, 44100, 48000])
    func piecesAreWhole(_ rate: Int) async throws {
        let (count, whole, pieces, small) = try await AudioWork.run {
            let speech = try Speech.sibilants.get()
            func run(_ largestPiece: Int, seed: UInt64) throws -> [Int16] {
                let resampler = try Resampler(from: 22050, to: rate)
                var generator = SeededGenerator(seed: seed)
                var output: [Int16] = []
                var offset = 0
                while offset < speech.count {
                    let piece = min(Int.random(in: 1...largestPiece, using: &generator), speech.count - offset)
                    try speech[offset..<offset + piece].withUnsafeBufferPointer { try resampler.process($0, into: &output) }
                    offset += piece
                }
                try resampler.flush(into: &output)
                return output
            }
            return (speech.count, try run(speech.count, seed: 1), try run(1000, seed: 2), try run(37, seed: 3))
        }
        #expect(abs(whole.count - count * rate / 22050) <= 1)
        #expect(pieces == whole)
        #expect(small == whole)
    }

    @Test("a tone keeps its level and its place")
    func toneKeepsLevel() throws {
        let tone = (0..<22050).map { Int16(10000 * sin(2 * Double.pi * 440 * Double($0) / 22050)) }
        let resampler = try Resampler(from: 22050, to: 8000)
        var output: [Int16] = []
        try tone.withUnsafeBufferPointer { try resampler.process($0, into: &output) }
        try resampler.flush(into: &output)
        #expect(output.count == 8000)
        let middle = Array(output[1000..<7000])
        #expect(abs(Signal.rms(middle) - 10000 / 2.0.squareRoot()) < 10000 * 0.01)
        // No delay: sample 4000 at 8 kHz is the tone at t = 0.5 s.
        let expected = 10000 * sin(2 * Double.pi * 440 * 0.5)
        #expect(abs(Double(output[4000]) - expected) < 200)
    }
}
