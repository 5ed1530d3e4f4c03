#if canImport(Glibc)
    import Glibc
#endif

/// Small blocking helpers for files on this machine.
public enum LocalFiles {
    /// The whole file, or nil when it cannot be opened.
    public static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return bytes
    }

    /// Writes the whole file, replacing it.
    public static func write(_ bytes: [UInt8], to path: String) throws(LocalFileError) {
        guard let file = fopen(path, "wb") else { throw LocalFileError("cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        guard written == bytes.count else { throw LocalFileError("cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    /// Writes a line to standard error, unbuffered.
    public static func printError(_ line: String) {
        var text = line + "\n"
        text.withUTF8 { _ = Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}

/// A file that could not be written.
public struct LocalFileError: Error, CustomStringConvertible {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}
