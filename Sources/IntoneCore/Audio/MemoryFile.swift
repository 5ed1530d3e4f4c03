import CSndfile

/// Bytes that libsndfile reads and writes through its virtual I/O, in memory.
///
/// A `seekable` file is a growable buffer libsndfile may go back into (it rewrites a
/// WAV's RIFF header and a FLAC's STREAMINFO when it closes them). An `appendOnly` file
/// is the write end of a stream whose front may already have been sent away: it takes
/// no seek that moves, so libsndfile cannot change bytes that are gone, and
/// `take(_:)` removes bytes from its front.
final class MemoryFile {
    enum Mode {
        case seekable
        case appendOnly
    }

    let mode: Mode
    /// The bytes not yet taken.
    private(set) var bytes: [UInt8]
    /// The bytes taken from the front so far (append-only files).
    private(set) var taken = 0
    /// The position in the whole file, taken bytes included.
    private var position = 0

    init(bytes: [UInt8] = [], mode: Mode = .seekable) {
        self.bytes = bytes
        self.mode = mode
    }

    /// Removes and returns the first `count` bytes (all of them when nil).
    func take(_ count: Int? = nil) -> [UInt8] {
        let count = min(count ?? bytes.count, bytes.count)
        let front = Array(bytes.prefix(count))
        bytes.removeFirst(count)
        taken += count
        return front
    }

    private var length: Int { taken + bytes.count }

    private func seek(to target: Int) -> Int {
        switch mode {
        case .seekable:
            guard target >= 0 else { return -1 }
        case .appendOnly:
            guard target == length else { return -1 }
        }
        position = target
        return target
    }

    private func read(into pointer: UnsafeMutableRawPointer, count: Int) -> Int {
        let start = position - taken
        let available = max(0, min(count, bytes.count - start))
        guard available > 0 else { return 0 }
        bytes.withUnsafeBytes { source in
            pointer.copyMemory(from: source.baseAddress! + start, byteCount: available)
        }
        position += available
        return available
    }

    private func write(_ source: UnsafeRawBufferPointer) -> Int {
        let start = position - taken
        let end = start + source.count
        if start == bytes.count {
            bytes.append(contentsOf: source)
        } else {
            if end > bytes.count { bytes.append(contentsOf: repeatElement(0, count: end - bytes.count)) }
            bytes.replaceSubrange(start..<end, with: source)
        }
        position += source.count
        return source.count
    }

    static func from(_ pointer: UnsafeMutableRawPointer?) -> MemoryFile {
        Unmanaged<MemoryFile>.fromOpaque(pointer!).takeUnretainedValue()
    }

    /// The pointer to pass to `sf_open_virtual` with `virtualIO`; the file must outlive
    /// the SNDFILE opened on it.
    var userData: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    static let virtualIO = SF_VIRTUAL_IO(
        get_filelen: { sf_count_t(MemoryFile.from($0).length) },
        seek: { offset, whence, user in
            let file = MemoryFile.from(user)
            let base =
                switch whence {
                case SEEK_CUR: file.position
                case SEEK_END: file.length
                default: 0
                }
            return sf_count_t(file.seek(to: base + Int(offset)))
        },
        read: { pointer, count, user in
            guard let pointer else { return 0 }
            return sf_count_t(MemoryFile.from(user).read(into: pointer, count: Int(count)))
        },
        write: { pointer, count, user in
            guard count > 0, let pointer else { return 0 }
            return sf_count_t(MemoryFile.from(user).write(UnsafeRawBufferPointer(start: pointer, count: Int(count))))
        },
        tell: { sf_count_t(MemoryFile.from($0).position) }
    )
}
