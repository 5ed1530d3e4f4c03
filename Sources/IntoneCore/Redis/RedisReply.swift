/// A reply from Redis, copied out of hiredis's reply tree into Swift values.
public enum RedisReply: Sendable, Equatable {
    case bulk([UInt8])
    case status(String)
    case integer(Int64)
    case array([RedisReply])
    case null
    case error(String)

    /// The reply as text: bulk strings (UTF-8, lossy) and status replies.
    public var string: String? {
        switch self {
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        case .integer(let value): String(value)
        default: nil
        }
    }

    public var bytes: [UInt8]? {
        switch self {
        case .bulk(let bytes): bytes
        case .status(let text): Array(text.utf8)
        default: nil
        }
    }

    /// The reply as an integer: integer replies and bulk strings that hold one.
    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .bulk(let bytes): Int64(String(decoding: bytes, as: UTF8.self))
        default: nil
        }
    }

    public var array: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// An error reply as a classified error, naming the command that got it.
    public func error(command: String) -> RedisError? {
        if case .error(let message) = self { return RedisError.reply(message, command: command) }
        return nil
    }

    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }

    /// Flat `[field, value, field, value …]` replies (HGETALL, stream entries) as pairs.
    public var pairs: [(String, RedisReply)]? {
        guard let elements = array, elements.count % 2 == 0 else { return nil }
        return stride(from: 0, to: elements.count, by: 2).compactMap { i in
            elements[i].string.map { ($0, elements[i + 1]) }
        }
    }
}
