import Foundation

/// `intone enqueue --file`: one JSON object a line, each checked as the worker would
/// check it; bad lines are reported with their number and skipped, never half-enqueued.
public struct BulkEnqueue {
    public struct Problem: Sendable, Equatable {
        public var line: Int
        public var message: String
    }

    public struct Parsed: Sendable {
        public var jobs: [[(String, String)]] = []
        /// The stream each job goes on (`QueueShards.keys(forJob:index:)`), in the order of `jobs`.
        public var targets: [QueueKeys] = []
        public var problems: [Problem] = []
    }

    let shards: QueueShards
    let maxTextBytes: Int
    let catalog: VoiceCatalog?

    /// A field's value: a string, or a number written as one.
    struct Scalar: Decodable {
        var text: String

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let string = try? container.decode(String.self) {
                text = string
            } else if let integer = try? container.decode(Int64.self) {
                text = String(integer)
            } else {
                text = String(try container.decode(Double.self))
            }
        }
    }

    public init(keys: QueueKeys, maxTextBytes: Int, catalog: VoiceCatalog?) {
        self.init(shards: QueueShards(base: keys, count: 1), maxTextBytes: maxTextBytes, catalog: catalog)
    }

    /// Each job is checked against the shard it goes on (a `reply_to` must be a key of it).
    public init(shards: QueueShards, maxTextBytes: Int, catalog: VoiceCatalog?) {
        self.shards = shards
        self.maxTextBytes = maxTextBytes
        self.catalog = catalog
    }

    /// Parses and checks every line first; nothing is sent for a file that does not parse.
    public func parse(_ text: String) -> Parsed {
        parse(Array(text.utf8))
    }

    /// Lines end with LF or CRLF. (Split as bytes: in a Swift `String`, CR LF is one
    /// character, so splitting on "\n" would keep a CRLF file as one line.)
    public func parse(_ bytes: [UInt8]) -> Parsed {
        var parsed = Parsed()
        var checks: [QueueKeys: EnqueueCheck] = [:]
        for (index, rawLine) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let line = String(decoding: rawLine, as: UTF8.self).trimmed
            if line.isEmpty { continue }
            let number = index + 1
            let object: [String: Scalar]
            do {
                object = try JSONDecoder().decode([String: Scalar].self, from: Data(line.utf8))
            } catch DecodingError.typeMismatch(_, let context) where !context.codingPath.isEmpty {
                parsed.problems.append(
                    Problem(
                        line: number, message: "'\(DisplayText.escaped(context.codingPath[0].stringValue))' must be a string or a number"))
                continue
            } catch {
                parsed.problems.append(Problem(line: number, message: "not a JSON object of strings and numbers"))
                continue
            }
            let fields = object.sorted { $0.key < $1.key }.map { ($0.key, $0.value.text) }
            let target = shards.keys(forJob: fields, index: parsed.jobs.count)
            let check = checks[target] ?? EnqueueCheck(keys: target, maxTextBytes: maxTextBytes, catalog: catalog)
            checks[target] = check
            if let failure = check.problem(fields) {
                parsed.problems.append(Problem(line: number, message: EnqueueCheck.describe(failure)))
                continue
            }
            parsed.jobs.append(fields)
            parsed.targets.append(target)
        }
        return parsed
    }
}
