import CSndfile

/// One mono 16-bit stream that libsndfile encodes into memory: a WAV or FLAC file, a
/// headerless PCM, μ-law or A-law stream, or an MPEG Layer III stream.
///
/// The handle is closed in `close()` or, when an error cut the reply short, in `deinit`.
final class SoundFileWriter: AudioFileWriter {
    /// What libsndfile is asked to write, as its format word and settings.
    struct Container {
        var format: Int32
        var mode: MemoryFile.Mode
        /// `SFC_SET_BITRATE_MODE`, set before the compression level (MP3: constant).
        var bitrateMode: Int32? = nil
        /// `SFC_SET_COMPRESSION_LEVEL`, 0 (largest) to 1 (smallest).
        var compressionLevel: Double? = nil

        /// Every codec but Opus, which `OggOpusWriter` encodes.
        static func of(_ codec: AudioFormat.Codec, streamed: Bool, level: Double?) -> Container? {
            let raw = Int32(SF_FORMAT_RAW)
            switch codec {
            // Streamed WAV is headerless PCM after a header of unknown length (ReplyEncoder).
            case .wav where streamed, .pcm:
                return Container(format: raw | Int32(SF_FORMAT_PCM_16) | Int32(SF_ENDIAN_LITTLE), mode: .appendOnly)
            case .wav:
                return Container(format: Int32(SF_FORMAT_WAV) | Int32(SF_FORMAT_PCM_16), mode: .seekable)
            case .ulaw:
                return Container(format: raw | Int32(SF_FORMAT_ULAW), mode: .appendOnly)
            case .alaw:
                return Container(format: raw | Int32(SF_FORMAT_ALAW), mode: .appendOnly)
            case .flac:
                // libsndfile rewrites STREAMINFO (length, MD5) when it closes the file.
                return Container(format: Int32(SF_FORMAT_FLAC) | Int32(SF_FORMAT_PCM_16), mode: .seekable)
            case .opus:
                return nil
            case .mp3:
                // Append-only whether streamed or not, so that libsndfile never goes back to
                // fill in a LAME/Xing header: the whole file is then exactly the chunks
                // of a streamed reply, concatenated.
                return Container(
                    format: Int32(SF_FORMAT_MPEG) | Int32(SF_FORMAT_MPEG_LAYER_III), mode: .appendOnly,
                    bitrateMode: Int32(SF_BITRATE_MODE_CONSTANT), compressionLevel: level)
            }
        }
    }

    private let file: MemoryFile
    private let format: Int32
    private var handle: OpaquePointer?
    private var wroteSamples = false

    init(_ container: Container, sampleRate: Int) throws(AudioError) {
        file = MemoryFile(mode: container.mode)
        format = container.format
        var info = SF_INFO()
        info.samplerate = Int32(sampleRate)
        info.channels = 1
        info.format = container.format
        var io = MemoryFile.virtualIO
        guard let handle = sf_open_virtual(&io, Int32(SFM_WRITE), &info, file.userData) else {
            throw AudioError(
                .encoding, "libsndfile cannot write \(Self.describe(container.format)) at \(sampleRate) Hz: \(Self.lastError(nil))")
        }
        self.handle = handle
        if var mode = container.bitrateMode {
            // Its return value is whether a level set before was re-applied; read the mode back instead.
            sf_command(handle, Int32(SFC_SET_BITRATE_MODE), &mode, Int32(MemoryLayout<Int32>.size))
            guard sf_command(handle, Int32(SFC_GET_BITRATE_MODE), nil, 0) == mode else {
                throw AudioError(.encoding, "libsndfile refused bitrate mode \(mode) for \(Self.describe(container.format))")
            }
        }
        if var level = container.compressionLevel {
            guard sf_command(handle, Int32(SFC_SET_COMPRESSION_LEVEL), &level, Int32(MemoryLayout<Double>.size)) == SF_TRUE else {
                throw AudioError(.encoding, "libsndfile refused compression level \(level) for \(Self.describe(container.format))")
            }
        }
    }

    deinit {
        if let handle { sf_close(handle) }
    }

    func write(_ samples: UnsafeBufferPointer<Int16>) throws(AudioError) {
        guard let handle else { throw AudioError(.misuse, "the sound file is closed") }
        guard let base = samples.baseAddress, !samples.isEmpty else { return }
        let written = sf_write_short(handle, base, sf_count_t(samples.count))
        guard written == samples.count else {
            throw AudioError(.encoding, "libsndfile wrote \(written) of \(samples.count) samples: \(Self.lastError(handle))")
        }
        wroteSamples = true
    }

    /// The bytes encoded since the last call (append-only files), without closing.
    func takeBytes(_ count: Int?) -> [UInt8] {
        file.take(count)
    }

    /// The bytes encoded so far and not yet taken.
    var pendingBytes: [UInt8] { file.bytes }

    /// Ends the stream (the encoders flush what they hold) and returns the bytes not yet taken.
    func close() throws(AudioError) -> [UInt8] {
        guard let handle else { throw AudioError(.misuse, "the sound file is closed") }
        self.handle = nil
        if !wroteSamples && format & Int32(SF_FORMAT_TYPEMASK) == Int32(SF_FORMAT_FLAC) {
            // libsndfile starts a FLAC stream at its first samples; without any it would write nothing.
            sf_command(handle, Int32(SFC_UPDATE_HEADER_NOW), nil, 0)
        }
        let status = sf_close(handle)
        guard status == 0 else {
            throw AudioError(.encoding, "libsndfile failed to close the stream: \(String(cString: sf_error_number(status)))")
        }
        return file.take()
    }

    private static func lastError(_ handle: OpaquePointer?) -> String {
        String(cString: sf_strerror(handle))
    }

    private static func describe(_ format: Int32) -> String {
        var info = SF_FORMAT_INFO()
        info.format = format & Int32(SF_FORMAT_SUBMASK)
        guard sf_command(nil, Int32(SFC_GET_FORMAT_INFO), &info, Int32(MemoryLayout<SF_FORMAT_INFO>.size)) == 0, let name = info.name else {
            return "format 0x\(String(format, radix: 16))"
        }
        return String(cString: name)
    }
}

/// One file or byte stream of a reply being encoded in memory: libsndfile's
/// (`SoundFileWriter`) or libopus's (`OggOpusWriter`).
protocol AudioFileWriter: AnyObject {
    func write(_ samples: UnsafeBufferPointer<Int16>) throws(AudioError)
    /// The bytes finished since the last call (all of them, or the first `count`).
    func takeBytes(_ count: Int?) -> [UInt8]
    /// The bytes finished and not yet taken.
    var pendingBytes: [UInt8] { get }
    /// Ends the stream (the encoders flush what they hold) and returns the bytes not yet taken.
    func close() throws(AudioError) -> [UInt8]
}
