/// Stream entry ids as operators type them.
public enum EntryID {
    /// Whether `text` is an exact entry id, `<ms>-<seq>` in decimal. Ids given by people
    /// are sent to Redis only in this form: `123` alone means `123-0` to XDEL and a range
    /// to XRANGE, and anything else gets a raw Redis error.
    public static func isExact(_ text: some StringProtocol) -> Bool {
        let parts = text.utf8.split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        return parts.allSatisfy { part in
            !part.isEmpty && part.count <= 20 && part.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
                && UInt64(String(decoding: part, as: UTF8.self)) != nil
        }
    }

    /// The two numbers of an exact entry id, nil for any other text.
    public static func numbers(_ text: some StringProtocol) -> (milliseconds: UInt64, sequence: UInt64)? {
        guard isExact(text) else { return nil }
        let parts = text.split(separator: "-")
        guard let milliseconds = UInt64(parts[0]), let sequence = UInt64(parts[1]) else { return nil }
        return (milliseconds, sequence)
    }

    /// Whether entry `a` is older than entry `b` (ids of different streams compare by time;
    /// an id that is not exact sorts first).
    public static func precedes(_ a: String, _ b: String) -> Bool {
        switch (numbers(a), numbers(b)) {
        case (let x?, let y?): return x.milliseconds != y.milliseconds ? x.milliseconds < y.milliseconds : x.sequence < y.sequence
        case (nil, _?): return true
        default: return false
        }
    }

    /// Why `text` is not an exact entry id, for an operator's error line.
    public static func refusal(_ text: String, of what: String) -> String {
        let shown = DisplayText.escaped(text)
        if !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            return
                "'\(shown)' is not a \(what) id: give the whole entry id, <ms>-<seq> (as in '\(shown)-0'), as `intone dead list` prints it"
        }
        return "'\(shown)' is not a \(what) id: entry ids are <ms>-<seq>, as `intone dead list` prints them"
    }
}
