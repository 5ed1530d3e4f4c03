import CSoxr

/// Band-limited sample-rate conversion of mono 16-bit audio, with libsoxr at its "high
/// quality" recipe (20-bit precision, linear phase, pass band to 91.3% of the lower
/// Nyquist frequency).
///
/// Why libsoxr rather than libsamplerate (`bench/resampler/run.sh`, 27 s of espeak-ng
/// speech; docs/audio-resampling.md): to 8000 Hz, soxr HQ keeps the contract's aliasing
/// ratio at 1.00 (sample dropping: 1.29 on that text), leaves a 3400 Hz tone at -0.01 dB
/// and takes tones at 4200 and 5000 Hz (which would alias to 3800 and 3000 Hz) down by
/// 143 dB or more, for 0.1 to 0.5 ms of CPU per second of speech (8 to 48 kHz) and
/// 0.08 ms to design its filter for each reply. libsamplerate's SINC_MEDIUM_QUALITY
/// filters less (its pass band ends lower: ratio 0.88; stop band -132 dB) for 5 to 12 ms
/// per second, 20 to 40 times the cost, and its SINC_BEST_QUALITY, soxr HQ's equal in
/// quality, takes 24 to 78 ms. Both give the same output whether the input comes in
/// pieces or at once; both are maintained Debian packages (libsoxr0, libsamplerate0).
///
/// The output is the input's, delayed by nothing: soxr compensates its filter's delay,
/// holding back the last 20 to 55 ms (55 ms to 8000 Hz, 22 ms to 16000 Hz) until
/// `flush`. Feeding the same samples in
/// any pieces gives the same output samples (tested), so a streamed reply resamples
/// exactly as the whole one does. soxr's dither is not used: it is random.
final class Resampler {
    let inputRate: Int
    let outputRate: Int
    private let soxr: soxr_t
    private var scratch: [Float] = []

    init(from inputRate: Int, to outputRate: Int) throws(AudioError) {
        self.inputRate = inputRate
        self.outputRate = outputRate
        var error: soxr_error_t? = nil
        var io = soxr_io_spec(SOXR_INT16_I, SOXR_FLOAT32_I)
        var quality = soxr_quality_spec(UInt(SOXR_HQ), 0)
        // One thread: a synthesizer child is one of several processes sharing the cores.
        var runtime = soxr_runtime_spec(1)
        let created = soxr_create(Double(inputRate), Double(outputRate), 1, &error, &io, &quality, &runtime)
        guard let created, error == nil else {
            let reason = error.map { String(cString: $0) } ?? "unknown error"
            throw AudioError(.encoding, "libsoxr cannot resample \(inputRate) Hz to \(outputRate) Hz: \(reason)")
        }
        soxr = created
    }

    deinit {
        soxr_delete(soxr)
    }

    /// Resamples `input` and appends what is ready to `output`.
    func process(_ input: UnsafeBufferPointer<Int16>, into output: inout [Int16]) throws(AudioError) {
        guard let base = input.baseAddress, !input.isEmpty else { return }
        var consumed = 0
        while consumed < input.count {
            let remaining = input.count - consumed
            let (used, produced) = try run(UnsafeRawPointer(base + consumed), count: remaining)
            append(produced, to: &output)
            consumed += used
            if used == 0 && produced == 0 {
                throw AudioError(.encoding, "libsoxr took none of \(remaining) samples")
            }
        }
    }

    /// Ends the input and appends the samples soxr still holds.
    func flush(into output: inout [Int16]) throws(AudioError) {
        while true {
            let (_, produced) = try run(nil, count: 0)
            if produced == 0 { return }
            append(produced, to: &output)
        }
    }

    private func run(_ input: UnsafeRawPointer?, count: Int) throws(AudioError) -> (used: Int, produced: Int) {
        let capacity = count * outputRate / inputRate + 1024
        if scratch.count < capacity { scratch = [Float](repeating: 0, count: capacity) }
        var used = 0
        var produced = 0
        let error = scratch.withUnsafeMutableBufferPointer { buffer in
            soxr_process(soxr, input, count, &used, buffer.baseAddress, capacity, &produced)
        }
        if let error { throw AudioError(.encoding, "libsoxr failed: \(String(cString: error))") }
        return (used, produced)
    }

    /// soxr's floats are the input scaled to ±1; rounded to the nearest 16-bit value.
    private func append(_ count: Int, to output: inout [Int16]) {
        output.reserveCapacity(output.count + count)
        for index in 0..<count {
            let value = (scratch[index] * 32768).rounded()
            output.append(Int16(max(-32768, min(32767, value))))
        }
    }
}
