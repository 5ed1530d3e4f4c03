/// One entry of the jobs stream as it was read: its id, its fields exactly as the
/// producer wrote them (bytes, in order), and how many times it has been delivered.
public struct Job: Sendable, Equatable {
    public struct Field: Sendable, Equatable {
        public var name: [UInt8]
        public var value: [UInt8]

        public init(name: [UInt8], value: [UInt8]) {
            self.name = name
            self.value = value
        }

        public init(_ name: String, _ value: String) {
            self.init(name: Array(name.utf8), value: Array(value.utf8))
        }
    }

    public var entryID: String
    public var fields: [Field]
    public var attempts: Int
    /// Which of the worker's streams it came from (its index in `QueueShards.served`).
    public var shard: Int

    public init(entryID: String, fields: [Field], attempts: Int = 1, shard: Int = 0) {
        self.entryID = entryID
        self.fields = fields
        self.attempts = attempts
        self.shard = shard
    }

    /// The raw value of a field; the last one wins if a producer repeated it.
    public func value(_ name: String) -> [UInt8]? {
        fields.last { $0.name.elementsEqual(name.utf8) }?.value
    }

    /// The millisecond timestamp in the entry id (`1700000000000-0`).
    public var enqueuedAtMilliseconds: Int64? { Self.milliseconds(ofEntryID: entryID) }

    /// The millisecond part of a stream entry id, read digit by digit (no allocation:
    /// this runs for every result written).
    public static func milliseconds(ofEntryID id: String) -> Int64? {
        var value: Int64 = 0
        var digits = 0
        for byte in id.utf8 {
            if byte == UInt8(ascii: "-") { break }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 18 else { return nil }
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            digits += 1
        }
        return digits > 0 ? value : nil
    }
}

/// The contract's error codes for a job that is refused or fails.
public enum JobErrorCode: String, Sendable, CaseIterable {
    case missingField = "missing_field"
    case emptyText = "empty_text"
    case invalidUTF8 = "invalid_utf8"
    case textTooLong = "text_too_long"
    case unknownVoice = "unknown_voice"
    case badParameter = "bad_parameter"
    case unsupportedVersion = "unsupported_version"
    case badReplyTo = "bad_reply_to"
    case synthesisCrashed = "synthesis_crashed"
    case synthesisTimeout = "synthesis_timeout"
    case tooManyAttempts = "too_many_attempts"
    /// Added by this implementation: the job's agent or user token bucket key holds a value
    /// of another type (set by hand), so the job cannot be gated; its batch-mates are.
    case badRateLimitKey = "bad_rate_limit_key"
}

/// A job refused or failed: its stable code and a sentence for people.
public struct JobFailure: Error, Sendable, Equatable {
    public var code: JobErrorCode
    public var message: String

    public init(_ code: JobErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
}

/// An entry of a jobs stream: which stream (by its shard's keys) and its id.
public struct EntryRef: Hashable, Sendable, Comparable {
    public var keys: QueueKeys
    public var id: String

    public init(keys: QueueKeys, id: String) {
        self.keys = keys
        self.id = id
    }

    public static func < (lhs: EntryRef, rhs: EntryRef) -> Bool { (lhs.keys.prefix, lhs.id) < (rhs.keys.prefix, rhs.id) }
}
