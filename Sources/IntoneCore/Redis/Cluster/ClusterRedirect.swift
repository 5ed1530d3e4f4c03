/// A cluster condition in an error reply, and what a caller does about it (pure).
///
/// Redis Cluster answers a command it will not run with an error whose first word says
/// why: `MOVED` (the slot lives elsewhere now), `ASK` (the slot is migrating and this
/// key is on the importing node), `TRYAGAIN` (a multi-key command met a half-migrated
/// slot), `CLUSTERDOWN` (the cluster or this slot has no master right now). `LOADING`,
/// `MASTERDOWN` and `READONLY` are not cluster errors, but during a failover or a
/// restart they mean the same thing to a lane: not now, or not this node.
public enum ClusterRedirect: Sendable, Equatable, CustomStringConvertible {
    /// `MOVED <slot> <host>:<port>`: the slot's master is at the address (empty host: the
    /// host the command went to).
    case moved(slot: HashSlot, to: ClusterNodeAddress)
    /// `ASK <slot> <host>:<port>`: send this command, once, to the address after `ASKING`.
    case ask(slot: HashSlot, to: ClusterNodeAddress)
    /// `TRYAGAIN …`: the keys are split between two nodes during a migration.
    case tryAgain(String)
    /// `CLUSTERDOWN …`: no master for the slot, or the cluster is failing.
    case clusterDown(String)
    /// `LOADING …`: the node is loading its data set after a restart.
    case loading(String)
    /// `MASTERDOWN …`: a replica lost its master and does not serve stale data.
    case masterDown(String)
    /// `READONLY …`: a write reached a replica (a demoted master, or an old map).
    case readOnly(String)

    /// What the lane that got the reply does next.
    public enum Instruction: Sendable, Equatable {
        /// Refresh the slot map, reconnect the lane to the slot's master, resend.
        case refreshAndResend(slot: HashSlot?, master: ClusterNodeAddress?)
        /// Resend to the address after `ASKING`; the lane keeps its own connection.
        case askAndResend(ClusterNodeAddress)
        /// Wait (bounded, growing) and resend; when `refreshMap`, refresh the map first.
        case backOffAndResend(refreshMap: Bool)
    }

    /// Parses an error reply's text; nil when it is no cluster condition (a plain error).
    public init?(errorMessage: String) {
        let words = errorMessage.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true)
        guard let first = words.first else { return nil }
        switch first {
        case "MOVED", "ASK":
            guard words.count >= 3, let number = Int(words[1]), let slot = HashSlot(number),
                let address = ClusterNodeAddress(parsing: words[2])
            else { return nil }
            self = first == "MOVED" ? .moved(slot: slot, to: address) : .ask(slot: slot, to: address)
        case "TRYAGAIN": self = .tryAgain(errorMessage)
        case "CLUSTERDOWN": self = .clusterDown(errorMessage)
        case "LOADING": self = .loading(errorMessage)
        case "MASTERDOWN": self = .masterDown(errorMessage)
        case "READONLY": self = .readOnly(errorMessage)
        default: return nil
        }
    }

    /// The condition an error reply carries; nil for other replies and plain errors.
    public init?(reply: RedisReply) {
        guard case .error(let message) = reply else { return nil }
        self.init(errorMessage: message)
    }

    public var instruction: Instruction {
        switch self {
        case .moved(let slot, let address): .refreshAndResend(slot: slot, master: address)
        case .ask(_, let address): .askAndResend(address)
        case .readOnly: .refreshAndResend(slot: nil, master: nil)
        case .tryAgain, .loading: .backOffAndResend(refreshMap: false)
        case .clusterDown, .masterDown: .backOffAndResend(refreshMap: true)
        }
    }

    public var description: String {
        switch self {
        case .moved(let slot, let address): "MOVED \(slot) \(address)"
        case .ask(let slot, let address): "ASK \(slot) \(address)"
        case .tryAgain(let message), .clusterDown(let message), .loading(let message), .masterDown(let message),
            .readOnly(let message):
            message
        }
    }

    /// Where a condition was found in a pipeline's replies.
    public struct Found: Sendable, Equatable {
        /// The index of the top-level reply (the command) that carries it.
        public var commandIndex: Int
        public var redirect: ClusterRedirect
    }

    /// The first cluster condition in a pipeline's replies, looking into arrays too (an
    /// EXEC's results, a script's). A transaction refused for a redirect shows the
    /// redirect at the queued command and `EXECABORT` at EXEC; the redirect comes first,
    /// so it is the one found. Replies that carry none give nil.
    public static func scan(_ replies: [RedisReply]) -> Found? {
        for (index, reply) in replies.enumerated() {
            if let redirect = first(in: reply) { return Found(commandIndex: index, redirect: redirect) }
        }
        return nil
    }

    private static func first(in reply: RedisReply) -> ClusterRedirect? {
        switch reply {
        case .error(let message): return ClusterRedirect(errorMessage: message)
        case .array(let elements):
            for element in elements {
                if let redirect = first(in: element) { return redirect }
            }
            return nil
        default: return nil
        }
    }
}
