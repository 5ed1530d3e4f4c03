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
        public var problems: [Problem] = []
    }

    let validation: JobValidation

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
        validation = JobValidation(maxTextBytes: maxTextBytes, keys: keys, catalog: catalog)
    }

    /// Parses and checks every line first; nothing is sent for a file that does not parse.
    public func parse(_ text: String) -> Parsed {
        var parsed = Parsed()
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmed
            if line.isEmpty { continue }
            let number = index + 1
            let object: [String: Scalar]
            do {
                object = try JSONDecoder().decode([String: Scalar].self, from: Data(line.utf8))
            } catch DecodingError.typeMismatch(_, let context) where !context.codingPath.isEmpty {
                parsed.problems.append(
                    Problem(line: number, message: "'\(context.codingPath[0].stringValue)' must be a string or a number"))
                continue
            } catch {
                parsed.problems.append(Problem(line: number, message: "not a JSON object of strings and numbers"))
                continue
            }
            let fields = object.keys.sorted().map { ($0, object[$0]!.text) }
            // Checked exactly as the worker will check it (the entry id is not known yet).
            let job = Job(entryID: "0-0", fields: fields.map { Job.Field($0.0, $0.1) })
            if case .failure(let failure) = validation.validate(job) {
                parsed.problems.append(Problem(line: number, message: "\(failure.code.rawValue): \(failure.message)"))
                continue
            }
            parsed.jobs.append(fields)
        }
        return parsed
    }
}
