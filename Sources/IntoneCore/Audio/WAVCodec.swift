import CSndfile

/// Encodes PCM to WAV (16-bit PCM, mono) and decodes WAV, through libsndfile, in memory.
///
/// libsndfile rewrites the RIFF header when the file is closed, so writing to memory
/// needs its virtual I/O with a seekable buffer rather than a stream.
public enum WAVCodec {
    /// A WAV file as libsndfile reads it back.
    public struct Decoded: Sendable, Equatable {
        public var sampleRate: Int
        public var channels: Int
        public var frames: Int
        /// libsndfile's format word (`SF_FORMAT_WAV | SF_FORMAT_PCM_16` for ours).
        public var format: Int32
        public var samples: [Int16]

        public var isPCM16WAV: Bool {
            format & Int32(SF_FORMAT_TYPEMASK) == Int32(SF_FORMAT_WAV)
                && format & Int32(SF_FORMAT_SUBMASK) == Int32(SF_FORMAT_PCM_16)
        }
    }

    public static func encode(_ pcm: PCMBuffer) throws(AudioError) -> [UInt8] {
        let file = MemoryFile()
        var info = SF_INFO()
        info.samplerate = Int32(pcm.sampleRate)
        info.channels = 1
        info.format = Int32(SF_FORMAT_WAV) | Int32(SF_FORMAT_PCM_16)
        var io = MemoryFile.virtualIO
        guard let handle = sf_open_virtual(&io, Int32(SFM_WRITE), &info, file.userData) else {
            throw AudioError(.encoding, "libsndfile cannot open a WAV for writing: \(String(cString: sf_strerror(nil)))")
        }
        let written = pcm.samples.withUnsafeBufferPointer { sf_write_short(handle, $0.baseAddress, sf_count_t($0.count)) }
        let closed = sf_close(handle)
        guard written == pcm.samples.count, closed == 0 else {
            throw AudioError(.encoding, "libsndfile wrote \(written) of \(pcm.samples.count) samples")
        }
        return withExtendedLifetime(file) { file.bytes }
    }

    public static func decode(_ bytes: [UInt8]) throws(AudioError) -> Decoded {
        let file = MemoryFile(bytes: bytes)
        var info = SF_INFO()
        var io = MemoryFile.virtualIO
        guard let handle = sf_open_virtual(&io, Int32(SFM_READ), &info, file.userData) else {
            throw AudioError(.decoding, "not a sound file libsndfile can read: \(String(cString: sf_strerror(nil)))")
        }
        defer { sf_close(handle) }
        let frames = Int(info.frames)
        let channels = Int(info.channels)
        var samples = [Int16](repeating: 0, count: frames * channels)
        let read = samples.withUnsafeMutableBufferPointer { sf_read_short(handle, $0.baseAddress, sf_count_t($0.count)) }
        samples.removeLast(samples.count - Int(read))
        return withExtendedLifetime(file) {
            Decoded(sampleRate: Int(info.samplerate), channels: channels, frames: frames, format: info.format, samples: samples)
        }
    }
}
