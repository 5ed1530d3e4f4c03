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
/// The encoding is done here, in Swift, and the connection writes it to the socket
/// itself (hiredis only reads replies): arguments are never copied into C argv arrays.
/// Large byte arguments (the WAV files of a batch, tens of MB) are not copied at all:
/// they stay the caller's arrays, and the connection writes them from there
/// (`writev`). Copying them cost about 6% of a rendering worker's CPU in memmove and
/// page faults (perf).
public struct RedisCommands: Sendable {
    /// The encoding so far, but for `tail`: RESP text and large arguments, in order.
    public private(set) var segments: [[UInt8]] = []
    /// The RESP text after the last segment.
    private var tail: [UInt8] = []
    /// Arguments at least this long are kept by reference instead of copied.
    static let referencedBytes = 32 * 1024

    /// The whole encoding in one array (for tests and small pipelines).
    public var encoded: [UInt8] { Array((segments + [tail]).joined()) }

    /// The pieces to write, in order (empty pieces left out).
    public var pieces: [[UInt8]] { (segments + [tail]).filter { !$0.isEmpty } }

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
        tail.append(UInt8(ascii: "*"))
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
        case .bytes(let bytes) where bytes.count >= Self.referencedBytes:
            tail.append(UInt8(ascii: "$"))
            appendDecimal(bytes.count)
            segments.append(tail)
            segments.append(bytes)
            tail = [13, 10]
        case .bytes(let bytes):
            bytes.withUnsafeBufferPointer { appendBulk($0) }
        case .integer(let value):
            tail.append(UInt8(ascii: "$"))
            appendDecimal(Self.decimalLength(value))
            appendDecimal(value)
        }
    }

    /// Another pipeline's commands, after these.
    public mutating func append(contentsOf other: RedisCommands) {
        if other.segments.isEmpty {
            tail.append(contentsOf: other.tail)
        } else {
            segments.append(tail)
            segments.append(contentsOf: other.segments)
            tail = other.tail
        }
        names.append(contentsOf: other.names)
        count += other.count
    }

    /// Reserves room for about `bytes` more bytes of RESP text.
    public mutating func reserve(_ bytes: Int) {
        tail.reserveCapacity(tail.count + bytes)
    }

    private mutating func appendBulk(_ bytes: UnsafeBufferPointer<UInt8>) {
        tail.append(UInt8(ascii: "$"))
        appendDecimal(bytes.count)
        tail.append(contentsOf: bytes)
        tail.append(13)
        tail.append(10)
    }

    /// A decimal number and CRLF, written digit by digit (no String in between).
    private mutating func appendDecimal(_ value: Int) {
        if value < 0 { tail.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var divisor: UInt = 1
        while magnitude / divisor >= 10 { divisor *= 10 }
        repeat {
            tail.append(UInt8(ascii: "0") + UInt8(magnitude / divisor))
            magnitude %= divisor
            divisor /= 10
        } while divisor > 0
        tail.append(13)
        tail.append(10)
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
