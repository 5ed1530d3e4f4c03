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
        begin(arguments.count, name: arguments[0])
        for argument in arguments.dropFirst() { appendArgument(argument) }
    }

    /// Starts a command of `count` words, the first being `name`; the other words follow
    /// with `appendArgument(_:)`. For long commands built in a loop, without an array of words.
    public mutating func begin(_ count: Int, name: RedisArgument) {
        encoded.append(UInt8(ascii: "*"))
        appendDecimal(count)
        appendArgument(name)
        if case .string(let text) = name { names.append(text) } else { names.append("?") }
        self.count += 1
    }

    /// One word of the command started with `begin(_:name:)`.
    public mutating func appendArgument(_ argument: RedisArgument) {
        switch argument {
        case .string(var text):
            text.withUTF8 { appendBulk($0) }
        case .bytes(let bytes):
            bytes.withUnsafeBufferPointer { appendBulk($0) }
        case .integer(let value):
            encoded.append(UInt8(ascii: "$"))
            appendDecimal(Self.decimalLength(value))
            appendDecimal(value)
        }
    }

    /// Another pipeline's commands, after these.
    public mutating func append(contentsOf other: RedisCommands) {
        encoded.append(contentsOf: other.encoded)
        names.append(contentsOf: other.names)
        count += other.count
    }

    /// Reserves room for about `bytes` more bytes of encoded commands.
    public mutating func reserve(_ bytes: Int) {
        encoded.reserveCapacity(encoded.count + bytes)
    }

    private mutating func appendBulk(_ bytes: UnsafeBufferPointer<UInt8>) {
        encoded.append(UInt8(ascii: "$"))
        appendDecimal(bytes.count)
        encoded.append(contentsOf: bytes)
        encoded.append(13)
        encoded.append(10)
    }

    /// A decimal number and CRLF, written digit by digit (no String in between).
    private mutating func appendDecimal(_ value: Int) {
        if value < 0 { encoded.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var divisor: UInt = 1
        while magnitude / divisor >= 10 { divisor *= 10 }
        repeat {
            encoded.append(UInt8(ascii: "0") + UInt8(magnitude / divisor))
            magnitude %= divisor
            divisor /= 10
        } while divisor > 0
        encoded.append(13)
        encoded.append(10)
    }

    /// Characters of `value` in decimal, sign included.
    private static func decimalLength(_ value: Int) -> Int {
        var magnitude = value.magnitude
        var length = value < 0 ? 2 : 1
        while magnitude >= 10 {
            magnitude /= 10
            length += 1
        }
        return length
    }
}
