#if canImport(Glibc)
    import Glibc
#endif

/// Finds a job's audio, a string or a stream of chunks, with its format, or says plainly
/// why there is none; and names and writes the file `intone audio` makes of it.
public struct AudioExport {
    /// A job's audio as one file's bytes.
    public struct Audio: Sendable {
        public var bytes: [UInt8]
        /// The format as the result names it (`wav`, `ulaw_8000`, `opus_24000_32`), or as
        /// recognised from the bytes when no result was found; nil when neither tells.
        public var formatName: String?
        /// The extension for a file of it: the format's, or `raw` for headerless audio of
        /// an unknown format.
        public var fileExtension: String
        /// The audio was a stream of chunks (put together here).
        public var streamed: Bool
        public var chunks: Int
        /// Streamed Opus and FLAC chunks are complete files each; Ogg allows them one
        /// after another (chained streams), FLAC does not.
        public var chunksAreFiles: Bool
    }

    public enum Outcome: Sendable {
        case audio(Audio)
        /// The job has a result that is not `ok` (its status and reason or error).
        case notSpoken(status: String, detail: String)
        /// The job was spoken, but the audio's TTL has run out.
        case expired
        /// The job's audio is a stream whose last chunk has not been written yet.
        case stillStreaming(chunks: Int)
        /// Nothing is known of this job id (never finished, or long forgotten).
        case unknown
    }

    public let keys: QueueKeys
    /// Newest results read to find the job's (for its format).
    public var resultScanLimit = 2000
    /// Most chunks read from a streamed reply.
    public var chunkLimit = 100_000

    public init(keys: QueueKeys) {
        self.keys = keys
    }

    public func fetch(jobID: String, on connection: RedisConnection) throws(RedisError) -> Outcome {
        try fetch(jobID: ByteString(jobID), on: connection)
    }

    public func fetch(jobID: ByteString, on connection: RedisConnection) throws(RedisError) -> Outcome {
        let audioKey = keys.audio(jobID: jobID)
        var commands = RedisCommands()
        commands.append("TYPE", audioKey.argument)
        commands.append("GET", keys.done(jobID: jobID).argument)
        let replies = try connection.send(commands)
        if let error = replies[0].error(command: "TYPE") ?? replies[1].error(command: "GET") { throw error }
        var bytes: [UInt8]
        var streamed = false
        var chunks = 0
        switch try audio(at: audioKey, type: replies[0].string, on: connection) {
        case .none:
            return try absent(replies[1])
        case .bytes(let data):
            bytes = data
        case .chunks(let data, let count):
            bytes = data
            chunks = count
            streamed = true
        case .notSpoken(let status):
            return .notSpoken(status: status, detail: Self.detail(ofMarker: replies[1].string) ?? "")
        case .unfinished(let count):
            return .stillStreaming(chunks: count)
        }
        let named = try resultFormat(jobID: jobID, on: connection)
        let format = named.flatMap { try? AudioFormat(parsing: $0) }
        let sniffed = Self.sniff(bytes)
        let codec = format?.codec ?? named.flatMap { Self.codec(prefixOf: $0) } ?? sniffed
        if streamed, codec == .wav { Self.fixStreamedWAVSizes(&bytes) }
        return .audio(
            Audio(
                bytes: bytes, formatName: named ?? sniffed?.rawValue, fileExtension: codec?.rawValue ?? "raw", streamed: streamed,
                chunks: chunks, chunksAreFiles: streamed && (codec == .opus || codec == .flac)))
    }

    /// No audio: the done marker says why (it outlives the result, which may be trimmed).
    private func absent(_ marker: RedisReply) throws(RedisError) -> Outcome {
        guard let text = marker.string else { return .unknown }
        let parts = text.split(separator: " ", maxSplits: 1)
        let status = parts.first.map(String.init) ?? "?"
        if status == "ok" { return .expired }
        return .notSpoken(status: status, detail: parts.count > 1 ? String(parts[1]) : "")
    }

    private static func detail(ofMarker text: String?) -> String? {
        guard let text, let space = text.firstIndex(of: " ") else { return nil }
        return String(text[text.index(after: space)...])
    }

    /// What an audio key holds.
    public enum StoredAudio: Sendable {
        /// No such key (expired, or never written).
        case none
        /// A string: the whole file.
        case bytes([UInt8])
        /// A stream of chunks, complete: their `data` put together in order (a streamed
        /// WAV still has its unknown-length sizes; `fetch` fixes them).
        case chunks([UInt8], count: Int)
        /// A stream whose last entry says the job was not spoken.
        case notSpoken(status: String)
        /// A stream whose last chunk has not been written yet.
        case unfinished(count: Int)
    }

    /// The audio at `key`, a string or a stream of chunks; `type` is the key's TYPE when
    /// already known.
    public func audio(at key: ByteString, type: String? = nil, on connection: RedisConnection) throws(RedisError) -> StoredAudio {
        var type = type
        if type == nil { type = try connection.command("TYPE", key.argument).string }
        switch type {
        case "string":
            guard let value = try connection.command("GET", key.argument).bytes else { return .none }
            return .bytes(value)
        case "stream":
            return try readChunks(key, on: connection)
        case "none", nil:
            return .none
        case let other?:
            throw RedisError(.wrongType, "\(key) is a \(DisplayText.escaped(other)), not audio")
        }
    }

    /// The `data` of every chunk in order (entries `0-1`, `0-2`, …), up to the one marked
    /// `last`.
    private func readChunks(_ key: ByteString, on connection: RedisConnection) throws(RedisError) -> StoredAudio {
        var data: [UInt8] = []
        var count = 0
        var start = "-"
        while count < chunkLimit {
            let page = DeadLetters.letters(try connection.command("XRANGE", key.argument, .string(start), "+", "COUNT", 200))
            for entry in page {
                count += 1
                data += entry.bytes("data") ?? []
                if entry.bytes("last")?.elementsEqual("1".utf8) == true {
                    let status = entry.value("status") ?? "ok"
                    return status == "ok" ? .chunks(data, count: count) : .notSpoken(status: status)
                }
            }
            guard let last = page.last, page.count == 200 else { break }
            start = "(" + last.id
        }
        return .unfinished(count: count)
    }

    /// The `format` of the job's result, looked for among the newest results of the
    /// queue's result stream (a result sent to a `reply_to` stream is not found); `wav`
    /// for a result that has none (contract version 1).
    private func resultFormat(jobID: ByteString, on connection: RedisConnection) throws(RedisError) -> String? {
        var scanned = 0
        var end = "+"
        while scanned < resultScanLimit {
            let want = min(500, resultScanLimit - scanned)
            let page = DeadLetters.letters(
                try connection.command("XREVRANGE", .string(keys.results), .string(end), "-", "COUNT", .integer(want)))
            scanned += page.count
            if let result = page.first(where: { $0.bytes("job_id") == jobID.bytes && $0.value("status") == "ok" }) {
                return result.value("format") ?? "wav"
            }
            guard let last = page.last, page.count == want else { return nil }
            end = "(" + last.id
        }
        return nil
    }

    /// The codec a format name starts with, for a name this version cannot parse.
    public static func codec(prefixOf name: String) -> AudioFormat.Codec? {
        AudioFormat.Codec(rawValue: String(name.prefix { $0 != "_" }))
    }

    /// The codec the bytes' header shows; nil for headerless audio (pcm, μ-law, A-law).
    static func sniff(_ bytes: [UInt8]) -> AudioFormat.Codec? {
        func starts(_ text: String, at offset: Int = 0) -> Bool {
            bytes.count >= offset + text.utf8.count && bytes[offset..<offset + text.utf8.count].elementsEqual(text.utf8)
        }
        if starts("RIFF") && starts("WAVE", at: 8) { return .wav }
        if starts("fLaC") { return .flac }
        if starts("OggS") { return .opus }
        if starts("ID3") || (bytes.count >= 2 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0) { return .mp3 }
        return nil
    }

    /// A streamed WAV's first chunk carries RIFF and data sizes of 0xFFFFFFFF (unknown
    /// length); once put together, the real sizes are known.
    public static func fixStreamedWAVSizes(_ bytes: inout [UInt8]) {
        guard sniff(bytes) == .wav else { return }
        func put(_ value: Int, at offset: Int) {
            let clamped = UInt32(clamping: value)
            for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: clamped >> (8 * UInt32(i))) }
        }
        func read(at offset: Int) -> UInt32 {
            (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
        }
        if read(at: 4) == 0xFFFF_FFFF { put(bytes.count - 8, at: 4) }
        var offset = 12
        while offset + 8 <= bytes.count {
            let size = read(at: offset + 4)
            if bytes[offset..<offset + 4].elementsEqual("data".utf8) {
                if size == 0xFFFF_FFFF { put(bytes.count - offset - 8, at: offset + 4) }
                return
            }
            guard size != 0xFFFF_FFFF else { return }
            offset += 8 + Int(size) + Int(size & 1)
        }
    }

    /// The longest file name made from a job id, before the extension.
    public static let longestFileStem = 100

    /// A file name for a job's audio in the current folder: only letters, digits, `.`,
    /// `_` and `-` of the job id (any run of other bytes becomes one `_`), no leading dot
    /// or dash (no hidden file, no option), at most `longestFileStem` bytes; an id with
    /// nothing left is `audio`.
    public static func fileName(jobID: ByteString, fileExtension: String) -> String {
        var stem: [UInt8] = []
        for byte in jobID.bytes {
            let kept =
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "-")
            if kept {
                stem.append(byte)
            } else if stem.last != UInt8(ascii: "_") {
                stem.append(UInt8(ascii: "_"))
            }
        }
        while let first = stem.first, first == UInt8(ascii: ".") || first == UInt8(ascii: "-") || first == UInt8(ascii: "_") {
            stem.removeFirst()
        }
        stem = Array(stem.prefix(longestFileStem))
        while stem.last == UInt8(ascii: "_") || stem.last == UInt8(ascii: ".") { stem.removeLast() }
        let name = stem.isEmpty ? "audio" : String(decoding: stem, as: UTF8.self)
        return name + "." + fileExtension
    }

    /// Writes the file; an existing file is replaced only with `overwrite`.
    public static func write(_ bytes: [UInt8], to path: String, overwrite: Bool) throws(LocalFileError) {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL)
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else {
            if errno == EEXIST { throw LocalFileError("\(DisplayText.escaped(path)) exists; pass --force to replace it") }
            throw LocalFileError("cannot write \(DisplayText.escaped(path)): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw LocalFileError("cannot write \(DisplayText.escaped(path)): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }
}
