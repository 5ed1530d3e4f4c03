#if canImport(Glibc)
    import Glibc
#endif

/// Blocking reads and writes on raw file descriptors that retry on EINTR and short counts.
public enum FileDescriptorIO {
    enum Failure: Error {
        case endOfFile
        case errno(Int32)
    }

    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure.errno(errno)
            }
            offset += n
        }
    }

    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeAll(fd, $0) }
    }

    /// Reads exactly `count` bytes.
    public static func read(_ fd: Int32, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { try readExactly(fd, into: $0) }
        return bytes
    }

    public static func readExactly(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws {
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.read(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure.errno(errno)
            }
            if n == 0 { throw Failure.endOfFile }
            offset += n
        }
    }
}
