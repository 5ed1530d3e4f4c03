/// Audio bytes kept in Redis per format, from a bounded sample of a queue's audio keys:
/// at most `scanCalls` SCAN calls and `maxKeys` keys, so `intone status` stays cheap on a
/// large database. Strings are measured with STRLEN and recognised by their first bytes;
/// streamed replies (streams of chunks) with MEMORY USAGE.
public struct AudioSample: Codable, Sendable, Equatable {
    public struct Format: Codable, Sendable, Equatable {
        /// `wav`, `flac`, `opus`, `mp3`, `raw` (headerless: pcm, μ-law or A-law) or `streamed`.
        public var format: String
        public var keys: Int
        public var bytes: Int
    }

    public var formats: [Format]
    public var keysSampled: Int
    /// The SCAN saw the whole key space: the figures are every audio key's, not a sample.
    public var complete: Bool

    public static func read(_ keys: QueueKeys, scanCalls: Int = 10, maxKeys: Int = 200, on connection: RedisConnection) throws(RedisError)
        -> AudioSample
    {
        var found: [[UInt8]] = []
        var cursor = "0"
        var complete = false
        let pattern = QueueProbe(keys: keys).pattern.dropLast() + "audio:*"
        for _ in 0..<scanCalls {
            let reply = try connection.command("SCAN", .string(cursor), "MATCH", .string(String(pattern)), "COUNT", 1000)
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string else { throw RedisError.unexpected("SCAN", reply) }
            found += (parts[1].array ?? []).compactMap(\.bytes)
            cursor = next
            if next == "0" {
                complete = true
                break
            }
            if found.count >= maxKeys { break }
        }
        if found.count > maxKeys {
            found = Array(found.prefix(maxKeys))
            complete = false
        }
        var commands = RedisCommands()
        for key in found {
            commands.append("TYPE", .bytes(key))
            commands.append("STRLEN", .bytes(key))
            commands.append("GETRANGE", .bytes(key), 0, 11)
            commands.append("MEMORY", "USAGE", .bytes(key))
        }
        let replies = found.isEmpty ? [] : try connection.send(commands)
        var totals: [String: (keys: Int, bytes: Int)] = [:]
        for index in found.indices {
            let type = replies[4 * index].string
            let format: String
            let bytes: Int
            switch type {
            case "string":
                format = AudioExport.sniff(replies[4 * index + 2].bytes ?? [])?.rawValue ?? "raw"
                bytes = Int(replies[4 * index + 1].integer ?? 0)
            case "stream":
                format = "streamed"
                bytes = Int(replies[4 * index + 3].integer ?? 0)
            default:
                continue  // expired between the SCAN and the reads
            }
            totals[format, default: (0, 0)].keys += 1
            totals[format, default: (0, 0)].bytes += bytes
        }
        return AudioSample(
            formats: totals.map { Format(format: $0.key, keys: $0.value.keys, bytes: $0.value.bytes) }.sorted { $0.bytes > $1.bytes },
            keysSampled: totals.values.reduce(0) { $0 + $1.keys }, complete: complete)
    }

    /// Several samples (of a queue's streams) as one: keys and bytes added up per format.
    public static func sum(_ samples: [AudioSample]) -> AudioSample {
        var totals: [String: (keys: Int, bytes: Int)] = [:]
        for sample in samples {
            for format in sample.formats {
                totals[format.format, default: (0, 0)].keys += format.keys
                totals[format.format, default: (0, 0)].bytes += format.bytes
            }
        }
        return AudioSample(
            formats: totals.map { Format(format: $0.key, keys: $0.value.keys, bytes: $0.value.bytes) }.sorted { $0.bytes > $1.bytes },
            keysSampled: samples.reduce(0) { $0 + $1.keysSampled }, complete: samples.allSatisfy(\.complete))
    }

    /// The keys and bytes of all formats, for a table cell: `12 keys 340 KiB`.
    public var shortLine: String {
        "\(keysSampled) keys \(Self.size(formats.reduce(0) { $0 + $1.bytes }))" + (complete ? "" : " (sampled)")
    }

    /// One line for `intone status`.
    public var line: String {
        let scope = complete ? "all \(keysSampled) audio keys" : "sampled: \(keysSampled) audio keys, a bounded SCAN"
        guard !formats.isEmpty else { return "audio in Redis: none found (\(complete ? "all keys seen" : "sampled, a bounded SCAN"))" }
        return "audio in Redis (\(scope)): "
            + formats.map { "\($0.format) \($0.keys) keys \(Self.size($0.bytes))" }.joined(separator: ", ")
    }

    static func size(_ bytes: Int) -> String {
        if bytes < 1024 { return "\(bytes) B" }
        if bytes < 1024 * 1024 { return "\(bytes / 1024) KiB" }
        return "\((bytes * 10 / (1024 * 1024)) / 10).\((bytes * 10 / (1024 * 1024)) % 10) MiB"
    }
}
