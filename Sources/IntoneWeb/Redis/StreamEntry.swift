import IntoneCore

/// One entry of a stream (a result, a dead letter, an audio chunk), its fields kept as
/// bytes: ids, agent names and texts are user input and may be anything, invalid UTF-8 too.
public struct StreamEntry: Sendable, Equatable {
    public var id: String
    public var fields: [Job.Field]

    public init(id: String, fields: [Job.Field]) {
        self.id = id
        self.fields = fields
    }

    /// The raw value of a field; the last one wins if it is repeated.
    public func value(_ name: String) -> [UInt8]? {
        fields.last { $0.name.elementsEqual(name.utf8) }?.value
    }

    /// The value as text for people (invalid UTF-8 shown as U+FFFD).
    public func text(_ name: String) -> String? {
        value(name).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The entries of an XRANGE or XREVRANGE reply.
    public static func list(_ reply: RedisReply) -> [StreamEntry] {
        (reply.array ?? []).compactMap { entry in
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string else { return nil }
            let flat = parts[1].array ?? []
            var fields: [Job.Field] = []
            fields.reserveCapacity(flat.count / 2)
            var index = 0
            while index + 1 < flat.count {
                fields.append(Job.Field(name: flat[index].bytes ?? [], value: flat[index + 1].bytes ?? []))
                index += 2
            }
            return StreamEntry(id: id, fields: fields)
        }
    }

    /// Whether `text` is an exact entry id, `<ms>-<seq>` in decimal: ids given by people
    /// are used only in this form (`123` alone would mean `123-0` to XDEL and a range
    /// to XRANGE).
    public static func isExactID(_ text: some StringProtocol) -> Bool {
        let parts = text.utf8.split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        return parts.count == 2
            && parts.allSatisfy { part in
                !part.isEmpty && part.count <= 20 && part.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            }
            && UInt64(String(decoding: parts[0], as: UTF8.self)) != nil && UInt64(String(decoding: parts[1], as: UTF8.self)) != nil
    }
}
