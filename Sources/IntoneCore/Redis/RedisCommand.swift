/// One argument of a Redis command; binary-safe.
public enum RedisArgument: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case string(String)
    case bytes([UInt8])
    case integer(Int)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .integer(value) }
}

/// Commands encoded in RESP, ready to be written to a connection as they are.
///
/// The encoding is done here, in Swift, so that hiredis only moves bytes
/// (`redisAppendFormattedCommand`): arguments are never copied into C argv arrays,
/// and a whole pipeline goes to the socket as one buffer.
public struct RedisCommands: Sendable {
    public private(set) var encoded: [UInt8] = []
    /// How many commands, so how many replies to read back.
    public private(set) var count = 0
    /// The first word of each command, for error messages that name the command.
    public private(set) var names: [String] = []

    public init() {}

    public init(_ arguments: [RedisArgument]) {
        append(arguments)
    }

    public mutating func append(_ arguments: RedisArgument...) {
        append(arguments)
    }

    public mutating func append(_ arguments: [RedisArgument]) {
        precondition(!arguments.isEmpty, "a Redis command has at least one word")
        encoded.append(UInt8(ascii: "*"))
        appendDecimal(arguments.count)
        for argument in arguments {
            switch argument {
            case .string(let text):
                var text = text
                text.withUTF8 { appendBulk($0) }
            case .bytes(let bytes):
                bytes.withUnsafeBufferPointer { appendBulk($0) }
            case .integer(let value):
                var text = String(value)
                text.withUTF8 { appendBulk($0) }
            }
        }
        if case .string(let name) = arguments[0] { names.append(name) } else { names.append("?") }
        count += 1
    }

    private mutating func appendBulk(_ bytes: UnsafeBufferPointer<UInt8>) {
        encoded.append(UInt8(ascii: "$"))
        appendDecimal(bytes.count)
        encoded.append(contentsOf: bytes)
        encoded.append(contentsOf: [13, 10])
    }

    private mutating func appendDecimal(_ value: Int) {
        var text = String(value)
        text.withUTF8 { encoded.append(contentsOf: $0) }
        encoded.append(contentsOf: [13, 10])
    }
}
