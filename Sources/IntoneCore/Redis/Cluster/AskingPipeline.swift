/// A pipeline rewritten for the importing node of an ASK redirect.
///
/// `ASKING` lets only the next command into a slot being imported (inside MULTI the
/// flag lasts until EXEC), so each command outside a transaction, and each MULTI, gets
/// its own `ASKING` in front. The pipeline comes as encoded RESP; it is split back into
/// commands here. That copies its bytes once, which is fine for a redirect that only a
/// slot migration produces.
struct AskingPipeline {
    /// The pipeline with the `ASKING` commands added.
    let commands: RedisCommands
    /// For each reply of `commands`, whether it is the reply of an original command
    /// (false: the reply of an added `ASKING`).
    let isOriginal: [Bool]

    init?(_ original: RedisCommands) {
        guard let split = Self.split(original.encoded), split.count == original.count else { return nil }
        var commands = RedisCommands()
        var isOriginal: [Bool] = []
        var inTransaction = false
        for words in split {
            let name = String(decoding: words[0], as: UTF8.self).uppercased()
            if !inTransaction {
                commands.append("ASKING")
                isOriginal.append(false)
            }
            if name == "MULTI" { inTransaction = true }
            if name == "EXEC" || name == "DISCARD" { inTransaction = false }
            let first: RedisArgument = String(validating: words[0], as: UTF8.self).map(RedisArgument.string) ?? .bytes(words[0])
            commands.append([first] + words.dropFirst().map(RedisArgument.bytes))
            isOriginal.append(true)
        }
        self.commands = commands
        self.isOriginal = isOriginal
    }

    /// The replies of the original commands, in order.
    func originalReplies(_ replies: [RedisReply]) -> [RedisReply] {
        zip(replies, isOriginal).compactMap { reply, keep in keep ? reply : nil }
    }

    /// Splits RESP arrays of bulk strings (what `RedisCommands` writes) into their words.
    static func split(_ bytes: [UInt8]) -> [[[UInt8]]]? {
        var commands: [[[UInt8]]] = []
        var index = 0
        func number(after marker: UInt8) -> Int? {
            guard index < bytes.count, bytes[index] == marker else { return nil }
            index += 1
            var value = 0
            var negative = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") {
                negative = true
                index += 1
            }
            var digits = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                value = value &* 10 &+ Int(bytes[index] - UInt8(ascii: "0"))
                index += 1
                digits += 1
            }
            guard digits > 0, index + 1 < bytes.count, bytes[index] == 13, bytes[index + 1] == 10 else { return nil }
            index += 2
            return negative ? -value : value
        }
        while index < bytes.count {
            guard let count = number(after: UInt8(ascii: "*")), count > 0 else { return nil }
            var words: [[UInt8]] = []
            words.reserveCapacity(count)
            for _ in 0..<count {
                guard let length = number(after: UInt8(ascii: "$")), length >= 0, index + length + 2 <= bytes.count else { return nil }
                words.append(Array(bytes[index..<(index + length)]))
                index += length + 2
            }
            commands.append(words)
        }
        return commands
    }
}
