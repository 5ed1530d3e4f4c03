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
