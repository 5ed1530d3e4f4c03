/// A lane's connection: to the master that serves one slot, following that slot as the
/// cluster moves it (MOVED, failover), and sending pipelines whose keys all live in it.
///
/// Not thread-safe: one lane's thread owns it, as it owns a `RedisConnection`. Calls
/// block; every wait is bounded by the cluster's `ClusterOptions`.
///
/// Two ways to use it:
/// - `send(_:)` writes a pipeline, reads its replies and follows whatever the cluster
///   says (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, a broken connection when resending is safe)
///   until the pipeline ran or a bound is reached.
/// - A lane that writes and reads on `connection` itself (to keep a read outstanding)
///   scans the replies with `ClusterRedirect.scan(_:)`, calls `prepareResend(after:state:)`
///   with what it found, and resends as told; after a `RedisError.connection` it calls
///   `reconnect()`.
///
/// A redirect means the redirected command did not run; commands of the same pipeline
/// outside a transaction may have run. Resending is safe for a pipeline whose writes
/// are one MULTI/EXEC (all or nothing) or idempotent.
public final class ClusterSlotConnection {
    public let slot: HashSlot
    public let cluster: ClusterConnections
    /// The master this lane is connected to.
    public private(set) var address: ClusterNodeAddress
    /// The connection to `address`; replaced by `reconnect()` and by a MOVED.
    public private(set) var connection: RedisConnection
    /// Redirects and retries followed, and reconnects made, for metrics.
    public private(set) var redirectsFollowed = 0
    public private(set) var reconnects = 0
    /// A connection to the importing node of the last ASK, kept for the next one.
    private var asking: (address: ClusterNodeAddress, connection: RedisConnection)?

    /// How to resend after `prepareResend(after:state:)`.
    public enum Resend: Sendable, Equatable {
        /// On `connection` (which may now be to another master).
        case onLane
        /// To the importing node, with `sendAsking(_:to:)`.
        case asking(ClusterNodeAddress)
    }

    /// What one pipeline has been through; start each pipeline with a fresh value.
    public struct RetryState: Sendable, Equatable {
        public var redirects = 0
        public var retries = 0
        /// When the first TRYAGAIN/CLUSTERDOWN-like reply came (monotonic ms), if one did.
        public var retryingSince: Int64?

        public init() {}
    }

    init(slot: HashSlot, cluster: ClusterConnections) throws(ClusterError) {
        self.slot = slot
        self.cluster = cluster
        (address, connection) = try cluster.connectToMaster(of: slot)
    }

    /// Sends a pipeline of this slot's keys and returns one reply per command, after
    /// following redirects and retryable conditions. A broken connection is re-made
    /// (waiting out a failover); the pipeline is then sent again only when `idempotent`,
    /// else the error is thrown, as the pipeline may have run (the next call reconnects).
    public func send(_ commands: RedisCommands, idempotent: Bool = false) throws(ClusterError) -> [RedisReply] {
        var state = RetryState()
        var resend = Resend.onLane
        while true {
            if connection.isBroken { try reconnect() }
            let replies: [RedisReply]
            switch resend {
            case .asking(let target):
                replies = try sendAsking(commands, to: target)
            case .onLane:
                do {
                    replies = try connection.send(commands)
                } catch {
                    guard idempotent else {
                        throw ClusterError(.connection, "slot \(slot) at \(address): \(error.message); the pipeline may have run")
                    }
                    state.redirects += 1
                    guard state.redirects <= cluster.options.maxRedirects else {
                        throw ClusterError(.retriesExhausted, "slot \(slot): \(state.redirects - 1) connections broke for one pipeline")
                    }
                    continue
                }
            }
            guard let found = ClusterRedirect.scan(replies) else { return replies }
            resend = try prepareResend(after: found.redirect, state: &state)
        }
    }

    /// Acts on a cluster condition found in this lane's replies and says how to resend.
    /// Call it after reading every reply written on `connection`: a MOVED may replace it.
    /// - MOVED: takes the new master into the map, reads the map from it and moves the
    ///   lane there. READONLY: reads the map again and reconnects.
    /// - ASK: names the importing node to resend to (`sendAsking(_:to:)`).
    /// - TRYAGAIN, LOADING: sleeps (growing, capped); CLUSTERDOWN, MASTERDOWN: sleeps,
    ///   reads the map again and follows the slot if its master changed.
    ///
    /// Throws `retriesExhausted` past `maxRedirects` redirects or `retryTimeoutMilliseconds`
    /// of retrying, and `wrongSlot` when a MOVED names another slot than the lane's.
    public func prepareResend(after redirect: ClusterRedirect, state: inout RetryState) throws(ClusterError) -> Resend {
        let options = cluster.options
        redirectsFollowed += 1
        switch redirect.instruction {
        case .refreshAndResend(let movedSlot, let master):
            state.redirects += 1
            guard state.redirects <= options.maxRedirects else {
                throw ClusterError(
                    .retriesExhausted, "slot \(slot): more than \(options.maxRedirects) redirects for one pipeline (last: \(redirect))")
            }
            if let movedSlot, movedSlot != slot {
                throw ClusterError(
                    .wrongSlot,
                    "the lane of slot \(slot) sent a key of slot \(movedSlot) (\(redirect)); a lane's keys must share its hash tag")
            }
            if let master, let movedSlot {
                let target = master.resolved(relativeTo: address.host)
                cluster.noteMoved(movedSlot, to: target)
                cluster.logger.debug(
                    "cluster slot moved", metadata: ["cluster.slot": "\(slot)", "cluster.from": "\(address)", "cluster.to": "\(target)"])
                // The map is read from the new master itself: it knows it owns the slot.
                _ = try? cluster.refreshTopology(preferring: target)
                if target != address { try move(to: target) }
            } else {
                try cluster.refreshTopology()
                try reconnect()
            }
            return .onLane
        case .askAndResend(let target):
            state.redirects += 1
            guard state.redirects <= options.maxRedirects else {
                throw ClusterError(
                    .retriesExhausted, "slot \(slot): more than \(options.maxRedirects) redirects for one pipeline (last: \(redirect))")
            }
            return .asking(target.resolved(relativeTo: address.host))
        case .backOffAndResend(let refreshMap):
            let now = Monotonic.milliseconds()
            let since = state.retryingSince ?? now
            state.retryingSince = since
            guard now - since < Int64(options.retryTimeoutMilliseconds) else {
                throw ClusterError(
                    .retriesExhausted, "slot \(slot) at \(address): still '\(redirect)' after \(now - since) ms of retrying")
            }
            try cluster.sleep(milliseconds: Int64(options.backoff.delay(attempt: state.retries)))
            state.retries += 1
            if refreshMap {
                let seen = cluster.mapVersion
                _ = try? cluster.refreshTopology(unlessNewerThan: seen)
                if let master = cluster.master(for: slot), master != address { try move(to: master) }
            }
            return .onLane
        }
    }

    /// Sends a pipeline to the importing node of an ASK, with `ASKING` before each
    /// command (each MULTI … EXEC counting as one), and returns the original commands'
    /// replies. The lane's own connection is unchanged.
    public func sendAsking(_ commands: RedisCommands, to target: ClusterNodeAddress) throws(ClusterError) -> [RedisReply] {
        let connection: RedisConnection
        if let asking, asking.address == target, !asking.connection.isBroken {
            connection = asking.connection
        } else {
            connection = try cluster.connect(to: target, commandTimeoutMilliseconds: cluster.options.commandTimeoutMilliseconds)
            asking = (target, connection)
        }
        do {
            if let pipeline = AskingPipeline(commands) {
                return pipeline.originalReplies(try connection.send(pipeline.commands))
            }
            // Not reached for pipelines RedisCommands encoded: ASKING for the first command.
            var prefixed = RedisCommands(["ASKING"])
            prefixed.append(contentsOf: commands)
            return Array(try connection.send(prefixed).dropFirst())
        } catch {
            asking = nil
            throw ClusterError(.connection, "ASK to \(target) for slot \(slot): \(error.message)")
        }
    }

    /// Re-makes the lane's connection after it broke: reads the map again and connects to
    /// the slot's master, waiting (bounded by the failover timeout) while there is none
    /// that answers.
    public func reconnect() throws(ClusterError) {
        let seen = cluster.mapVersion
        _ = try? cluster.refreshTopology(unlessNewerThan: seen)
        let previous = address
        let timeout = connection.commandTimeoutMilliseconds
        (address, connection) = try cluster.connectToMaster(of: slot)
        // A lane may have set its own socket timeout (above its BLOCK); keep it.
        connection.setCommandTimeout(milliseconds: timeout)
        reconnects += 1
        if address != previous {
            cluster.logger.info(
                "cluster lane reconnected to another master",
                metadata: ["cluster.slot": "\(slot)", "cluster.from": "\(previous)", "cluster.to": "\(address)"])
        }
    }

    private func move(to target: ClusterNodeAddress) throws(ClusterError) {
        let made = try cluster.connect(to: target, commandTimeoutMilliseconds: connection.commandTimeoutMilliseconds)
        cluster.logger.info(
            "cluster lane moved to another master",
            metadata: ["cluster.slot": "\(slot)", "cluster.from": "\(address)", "cluster.to": "\(target)"])
        address = target
        connection = made
        reconnects += 1
    }
}
