/// Encodes one reply incrementally, in the synthesizer child: the engine's samples go in
/// as espeak-ng hands them out, the bytes of the reply's format come out, as one file or
/// as the chunks of a streamed reply.
///
/// ```swift
/// let encoder = try ReplyEncoder(format: format, inputRate: 22050, streamed: true)
/// // for each piece of samples from the engine:
/// try encoder.append(piece)
/// // at the end of a sentence, or after a second of speech:
/// let chunk = try encoder.cutChunk()        // entry k's `data`
/// // at the end of the reply:
/// let last = try encoder.finish()           // the last entry's `data` (may be empty)
/// ```
///
/// What the chunks hold (the contract's "Streamed audio"):
/// - `pcm`, `ulaw`, `alaw`, `mp3`: concatenated in order, exactly the bytes of the same
///   reply not streamed. MP3 chunks end at frame boundaries, so a chunk may hold back
///   the encoder's last partial frame until the next one.
/// - `wav`: the first chunk starts with a 44-byte WAV header whose RIFF and data sizes
///   are 0xFFFFFFFF; the rest is the samples, as in the file not streamed.
/// - `opus`, `flac`: each chunk is a complete file with its own headers. The Ogg serial
///   number of chunk k is fixed (`0x496E746F + k`), so the same reply always gives the
///   same bytes and chunks can be chained.
///
/// A chunk holds what the codecs have finished at the cut: the resampler keeps back 20
/// to 55 ms (half its filter; 55 ms at 8000 Hz), LAME up to about two frames, which go
/// out in the next chunk. `cutChunk()` returns an empty array when nothing was finished since
/// the previous cut (an Opus or FLAC chunk is never an empty file).
///
/// The output depends only on the samples, not on how they are split into `append`
/// calls nor on where the chunks are cut (apart from the Opus and FLAC chunks' own
/// headers and codec restarts): the same samples and the same cuts give the same
/// bytes, so a replica that takes a streamed job over cuts the same chunks.
///
/// An error ends the reply: every later call throws `misuse`, so a reply is never
/// finished with audio missing from its middle. Not thread-safe: one reply on one thread.
public final class ReplyEncoder {
    public let format: AudioFormat
    /// The rate of the samples given to `append` (espeak-ng: 22050 Hz).
    public let inputRate: Int
    public let streamed: Bool
    /// Samples at the output rate encoded so far; after `finish()`, the reply's length.
    public private(set) var outputFrames = 0

    private let resampler: Resampler?
    /// libsndfile's settings for every codec but Opus.
    private let container: SoundFileWriter.Container?
    private let opusEffort: OpusEffort
    /// Byte streams: the one stream of the reply. Files: the current file, if it was opened.
    private var writer: (any AudioFileWriter)?
    private var samplesInFile = 0
    private var chunksCut = 0
    /// Files of this reply closed so far (streamed Opus and FLAC: one per chunk).
    private var filesClosed = 0
    private var finished = false
    private var resampled: [Int16] = []

    /// The Ogg serial number of the reply's first file; file k's is this plus k.
    static let oggSerialNumber: UInt32 = 0x496E_746F

    /// `opusEffort` is how hard libopus works on an Opus reply (ignored by other formats).
    public init(
        format: AudioFormat, inputRate: Int = AudioFormat.engineSampleRate, streamed: Bool, opusEffort: OpusEffort = .fast
    ) throws(AudioError) {
        guard inputRate > 0 else { throw AudioError(.misuse, "an input rate of \(inputRate) Hz") }
        self.format = format
        self.inputRate = inputRate
        self.streamed = streamed
        self.opusEffort = opusEffort
        resampler = inputRate == format.sampleRate ? nil : try Resampler(from: inputRate, to: format.sampleRate)
        let level: Double? =
            switch format.codec {
            case .mp3: format.kilobitsPerSecond.map { CompressionLevel.mp3(kilobitsPerSecond: $0, sampleRate: format.sampleRate).level }
            default: nil
            }
        container = .of(format.codec, streamed: streamed, level: level)
        // Opened now so that a format the codecs refuse fails here, before any audio.
        writer = try makeWriter()
    }

    /// Milliseconds of audio encoded so far (the result's `duration_ms` after `finish()`).
    public var durationMilliseconds: Int { outputFrames * 1000 / format.sampleRate }

    /// Takes engine samples at `inputRate`, in pieces of any size.
    public func append(_ samples: UnsafeBufferPointer<Int16>) throws(AudioError) {
        guard !finished else { throw AudioError(.misuse, "samples after the end of the reply") }
        try endingOnError { () throws(AudioError) in
            if let resampler {
                resampled.removeAll(keepingCapacity: true)
                try resampler.process(samples, into: &resampled)
                try encode(resampled)
            } else {
                try encode(samples)
            }
        }
    }

    public func append(_ samples: [Int16]) throws(AudioError) {
        try samples.withUnsafeBufferPointer { (buffer) throws(AudioError) in try append(buffer) }
    }

    /// Streamed replies only: ends the current chunk here and returns its bytes.
    public func cutChunk() throws(AudioError) -> [UInt8] {
        guard streamed else { throw AudioError(.misuse, "cutChunk() on a reply that is not streamed") }
        guard !finished else { throw AudioError(.misuse, "cutChunk() after the end of the reply") }
        let chunk = try endingOnError { () throws(AudioError) -> [UInt8] in
            if format.streamedChunksAreFiles {
                return samplesInFile > 0 ? try closeFile() : []
            }
            guard let writer else { return [] }
            if format.codec == .mp3 {
                let pending = writer.pendingBytes
                // Bytes that are not frames cannot be split at a frame; they go out whole.
                return writer.takeBytes(MPEGAudioFrames.wholeFramesLength(pending) ?? pending.count)
            }
            return streamHeader() + writer.takeBytes(nil)
        }
        chunksCut += 1
        return chunk
    }

    /// Ends the reply. Not streamed: the whole file. Streamed: the last chunk's bytes
    /// (empty when nothing is left).
    public func finish() throws(AudioError) -> [UInt8] {
        guard !finished else { throw AudioError(.misuse, "finish() twice") }
        defer { finished = true }
        if let resampler {
            resampled.removeAll(keepingCapacity: true)
            try resampler.flush(into: &resampled)
            try encode(resampled)
        }
        if format.streamedChunksAreFiles || (format.codec == .wav && !streamed) {
            // A streamed reply's last file, when it has samples; a whole reply is a file even when silent.
            guard !streamed || samplesInFile > 0 else {
                writer = nil
                return []
            }
            return try closeFile()
        }
        guard let writer else { return [] }
        self.writer = nil
        return try streamHeader() + writer.close()
    }

    /// Encodes a whole buffer of samples at once, not streamed.
    public static func encode(_ pcm: PCMBuffer, as format: AudioFormat, opusEffort: OpusEffort = .fast) throws(AudioError) -> [UInt8] {
        let encoder = try ReplyEncoder(format: format, inputRate: pcm.sampleRate, streamed: false, opusEffort: opusEffort)
        try encoder.append(pcm.samples)
        return try encoder.finish()
    }

    private func endingOnError<T>(_ body: () throws(AudioError) -> T) throws(AudioError) -> T {
        do {
            return try body()
        } catch {
            finished = true
            throw error
        }
    }

    private func encode(_ samples: UnsafeBufferPointer<Int16>) throws(AudioError) {
        guard !samples.isEmpty else { return }
        if writer == nil { writer = try makeWriter() }
        try writer?.write(samples)
        outputFrames += samples.count
        samplesInFile += samples.count
    }

    private func encode(_ samples: [Int16]) throws(AudioError) {
        try samples.withUnsafeBufferPointer { (buffer) throws(AudioError) in try encode(buffer) }
    }

    /// Closes the current file (Opus, FLAC, whole WAV) and returns its bytes.
    private func closeFile() throws(AudioError) -> [UInt8] {
        let file: any AudioFileWriter
        if let writer {
            file = writer
        } else {
            file = try makeWriter()
        }
        writer = nil
        samplesInFile = 0
        defer { filesClosed += 1 }
        return try file.close()
    }

    private func makeWriter() throws(AudioError) -> any AudioFileWriter {
        if let container { return try SoundFileWriter(container, sampleRate: format.sampleRate) }
        return try OggOpusWriter(
            sampleRate: format.sampleRate, kilobitsPerSecond: format.kilobitsPerSecond ?? 32, effort: opusEffort,
            serialNumber: Self.oggSerialNumber &+ UInt32(truncatingIfNeeded: filesClosed))
    }

    /// The streamed WAV header, before the first chunk's samples.
    private func streamHeader() -> [UInt8] {
        guard format.codec == .wav, streamed, chunksCut == 0 else { return [] }
        return Self.streamingWAVHeader(sampleRate: format.sampleRate)
    }

    /// A canonical 44-byte header of mono 16-bit PCM whose RIFF and data sizes are
    /// 0xFFFFFFFF: the length is not known when the first chunk goes out.
    static func streamingWAVHeader(sampleRate: Int) -> [UInt8] {
        func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
        func le16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
        let unknown: UInt32 = 0xFFFF_FFFF
        return Array("RIFF".utf8) + le32(unknown) + Array("WAVE".utf8)
            + Array("fmt ".utf8) + le32(16) + le16(1) + le16(1) + le32(UInt32(sampleRate)) + le32(UInt32(sampleRate * 2)) + le16(2)
            + le16(16)
            + Array("data".utf8) + le32(unknown)
    }
}
