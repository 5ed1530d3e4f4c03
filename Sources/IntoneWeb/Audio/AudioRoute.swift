import Hummingbird
import IntoneCore

/// A result's audio, found from the result entry (so the content type comes from Redis,
/// and a job id that is not valid UTF-8 never has to travel in a URL).
public struct AudioSource: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// No result has this entry id (never, or trimmed).
        case noResult
        /// The result is not `ok`: there is no audio.
        case notSpoken(status: String)
        /// The audio key is gone (its TTL ran out).
        case expired
        /// The audio bytes (a streamed job's chunks concatenated), how the result says
        /// they are encoded, and whether they are complete (a stream may still be written).
        case audio(bytes: [UInt8], format: String?, contentType: String?, complete: Bool, jobID: [UInt8])
    }

    /// A streamed reply of 10,000 bytes of text is a few hundred chunks; this is far above.
    public static let chunkLimit = 20000

    public var keys: QueueKeys

    public init(keys: QueueKeys) {
        self.keys = keys
    }

    /// The audio of the result `entryID`; `chunk` k picks entry `0-(k+1)` of a streamed job.
    public func read(entryID: String, chunk: Int? = nil, on connection: RedisConnection) throws(RedisError) -> Outcome {
        guard StreamEntry.isExactID(entryID) else { return .noResult }
        let reply = try connection.command("XRANGE", .string(keys.results), .string(entryID), .string(entryID))
        guard let result = StreamEntry.list(reply).first else { return .noResult }
        let status = result.text("status") ?? ""
        guard status == "ok" else { return .notSpoken(status: status) }
        let jobID = result.value("job_id") ?? []
        let key = audioKey(result)
        var commands = RedisCommands()
        commands.append("TYPE", .bytes(key))
        commands.append("GET", .bytes(key))
        if let chunk {
            let id = "0-\(max(chunk, 0) + 1)"
            commands.append("XRANGE", .bytes(key), .string(id), .string(id))
        } else {
            commands.append("XRANGE", .bytes(key), "-", "+", "COUNT", .integer(Self.chunkLimit))
        }
        // GET of a stream and XRANGE of a string answer WRONGTYPE; the TYPE says which to read.
        let replies = try connection.send(commands)
        let format = result.text("format")
        let contentType = result.text("content_type")
        switch replies[0].string {
        case "string":
            guard let bytes = replies[1].bytes else { return .expired }
            return .audio(bytes: bytes, format: format, contentType: contentType, complete: true, jobID: jobID)
        case "stream":
            let chunks = StreamEntry.list(replies[2])
            if chunk != nil {
                guard let one = chunks.first else { return .expired }
                return .audio(bytes: one.value("data") ?? [], format: format, contentType: contentType, complete: true, jobID: jobID)
            }
            let joined = AudioPlayback.concatenate(chunks)
            return .audio(bytes: joined.bytes, format: format, contentType: contentType, complete: joined.complete, jobID: jobID)
        default:
            return .expired
        }
    }

    /// The audio of a result named as the console links it (`<id>@<shard>` on a sharded
    /// queue, a plain id otherwise), read on its stream's connection: the audio is in the
    /// result's own shard. A plain id is looked for in every stream.
    public static func read(ref: String, chunk: Int? = nil, access: QueueAccess) throws(RedisError) -> Outcome {
        guard let name = ShardedEntryID(parsing: ref) else { return .noResult }
        let streams = name.stream.map { access.keys(labelled: $0).map { [$0] } ?? [] } ?? access.shards.served
        for keys in streams {
            let outcome = try AudioSource(keys: keys).read(entryID: name.id, chunk: chunk, on: try access.connection(for: keys))
            if outcome != .noResult { return outcome }
        }
        return .noResult
    }

    /// The result's `audio_key` when it is an audio key of this queue; otherwise the key
    /// the contract gives the job id. A crafted result cannot make the console read
    /// another key.
    func audioKey(_ result: StreamEntry) -> [UInt8] {
        let prefix = Array((keys.prefix + "audio:").utf8)
        if let given = result.value("audio_key"), given.count > prefix.count, given.starts(with: prefix) { return given }
        return prefix + (result.value("job_id") ?? [])
    }
}

extension ConsoleSite {
    func audio(_ request: Request, context: ConsoleRequestContext) async throws -> Response {
        let entryID = context.parameters.get("entry") ?? ""
        let query = FormData(query: request.uri.query)
        let chunk = query.text("chunk").flatMap { Int($0) }.flatMap { (0..<AudioSource.chunkLimit).contains($0) ? $0 : nil }
        let download = query.text("download") == "1"
        let outcome = try await withQueue { access throws(RedisError) in try AudioSource.read(ref: entryID, chunk: chunk, access: access) }
        switch outcome {
        case .noResult:
            throw HTTPError(.notFound, message: "There is no result \(entryID) (it may have been trimmed).")
        case .notSpoken(let status):
            throw HTTPError(.notFound, message: "Result \(entryID) is \(status): it has no audio.")
        case .expired:
            throw HTTPError(.gone, message: "The audio of result \(entryID) has expired (audio keys have a TTL).")
        case .audio(let bytes, let format, let contentType, _, let jobID):
            let served: (bytes: [UInt8], contentType: String)
            let name = Self.fileName(jobID: jobID, format: format)
            if download {
                let allowed = contentType.map(AudioPlayback.normalized).flatMap {
                    AudioPlayback.allowedContentTypes.contains($0) ? $0 : nil
                }
                served = (bytes, allowed ?? "application/octet-stream")
            } else if let encoding = AudioPlayback.encoding(format: format, contentType: contentType) {
                served = AudioPlayback.playable(bytes, encoding: encoding)
            } else {
                throw HTTPError(.unsupportedMediaType, message: "Result \(entryID) has audio in a format the console cannot play.")
            }
            return Self.bytesResponse(
                served.bytes, contentType: served.contentType, range: request.headers[.range],
                disposition: (download ? "attachment" : "inline") + "; filename=\"\(name)\"")
        }
    }

    /// A file name made of the job id's safe characters and the format's extension.
    static func fileName(jobID: [UInt8], format: String?) -> String {
        let safe = String(
            decoding: jobID.prefix(80).map { byte -> UInt8 in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                    UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                    byte
                default: UInt8(ascii: "_")
                }
            }, as: UTF8.self)
        let codec = (format ?? "wav").split(separator: "_").first.map(String.init) ?? "wav"
        let known = ["wav": "wav", "pcm": "pcm", "ulaw": "ulaw", "alaw": "alaw", "flac": "flac", "opus": "opus", "mp3": "mp3"]
        return (safe.isEmpty ? "audio" : safe) + "." + (known[codec] ?? "bin")
    }

    /// The bytes, or the one range asked for (`bytes=a-b`, `bytes=a-`, `bytes=-n`), which
    /// lets a player seek. Served in a sandbox: never run as a page.
    static func bytesResponse(_ bytes: [UInt8], contentType: String, range: String?, disposition: String) -> Response {
        var headers: HTTPFields = [
            .contentType: contentType, .acceptRanges: "bytes", .contentDisposition: disposition, .contentSecurityPolicy: "sandbox",
            .cacheControl: "private, no-cache",
        ]
        switch range.map({ parseRange($0, count: bytes.count) }) {
        case .some(.bytes(let start, let end)):
            headers[.contentRange] = "bytes \(start)-\(end)/\(bytes.count)"
            return Response(status: .partialContent, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes[start...end])))
        case .some(.unsatisfiable):
            headers[.contentRange] = "bytes */\(bytes.count)"
            return Response(status: .rangeNotSatisfiable, headers: headers)
        case .some(.whole), .none:
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }

    enum ByteRange: Equatable {
        case bytes(Int, Int)
        /// A range past the end.
        case unsatisfiable
        /// No range this server serves (malformed, or several): the whole body.
        case whole
    }

    static func parseRange(_ header: String, count: Int) -> ByteRange {
        guard header.hasPrefix("bytes="), !header.contains(",") else { return .whole }
        let spec = header.dropFirst(6)
        guard let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash].trimmingSpaces
        let last = spec[spec.index(after: dash)...].trimmingSpaces
        if first.isEmpty {
            guard let suffix = Int(last) else { return .whole }
            return suffix > 0 && count > 0 ? .bytes(max(0, count - suffix), count - 1) : .unsatisfiable
        }
        guard let start = Int(first), last.isEmpty || Int(last) != nil else { return .whole }
        guard start < count else { return .unsatisfiable }
        let end = last.isEmpty ? count - 1 : min(Int(last)!, count - 1)
        return end >= start ? .bytes(start, end) : .whole
    }
}
