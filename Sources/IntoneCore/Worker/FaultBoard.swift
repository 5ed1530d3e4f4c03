import Logging

/// Conditions an operator must know about, each logged once when it starts and once when
/// it ends, never once per batch; while any lasts, `/readyz` says not ready and why.
struct FaultBoard {
    /// What is wrong, by kind (`redis`, `write-back`, `claim`…), with the real Redis error.
    private(set) var active: [String: String] = [:]

    /// Raises a fault; returns true when it is new (or its reason changed), to be logged.
    mutating func raise(_ kind: String, _ reason: String) -> Bool {
        guard active[kind] != reason else { return false }
        let isNew = active[kind] == nil
        active[kind] = reason
        return isNew
    }

    /// Clears a fault; returns true when it was raised.
    mutating func clear(_ kind: String) -> Bool {
        active.removeValue(forKey: kind) != nil
    }

    var reasons: [String] { active.keys.sorted().map { "\($0): \(active[$0]!)" } }
}
