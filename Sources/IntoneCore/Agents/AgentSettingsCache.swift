import Logging

/// Agent settings read from Redis and kept for a few seconds, so that an operator's
/// `HSET` takes effect without a restart while a batch costs no extra round trip.
///
/// Settings past their refresh time are still used while they are read again (the
/// read rides in the next pipeline), for one more refresh time at most; an agent never
/// seen before, or not seen for longer, makes its jobs wait one round trip. So an `HSET`
/// applies to every job decided more than twice the refresh time after it.
public final class AgentSettingsCache {
    private struct Entry {
        var settings: AgentSettings
        var fetchedAt: Int64
        var problems: [String]
    }

    let keys: QueueKeys
    let refreshMilliseconds: Int
    let defaultTTS: AgentSettings.Speech
    let catalog: VoiceCatalog?
    let logger: Logger
    private var entries: [ByteString: Entry] = [:]
    /// Agents whose hash is being read now.
    private var fetching = Set<ByteString>()
    /// Agents decided with settings past their refresh time: read them again soon.
    private var refreshWanted = Set<ByteString>()
    /// Bounds the cache for workers that see very many agents.
    private let capacity = 100_000

    public init(keys: QueueKeys, refreshMilliseconds: Int, defaultTTS: AgentSettings.Speech, catalog: VoiceCatalog?, logger: Logger) {
        self.keys = keys
        self.refreshMilliseconds = refreshMilliseconds
        self.defaultTTS = defaultTTS
        self.catalog = catalog
        self.logger = logger
    }

    /// The settings in the cache, fresh or not; nil for an agent never read.
    public func settings(for agent: ByteString) -> AgentSettings? { entries[agent]?.settings }

    /// Whether every agent has settings recent enough to decide with.
    public func knows(_ agents: some Sequence<ByteString>, now: Int64) -> Bool {
        agents.allSatisfy { agent in entries[agent].map { now - $0.fetchedAt < 2 * Int64(refreshMilliseconds) } ?? false }
    }

    /// Notes agents whose settings were just used: those past their refresh time are read
    /// again in a coming pipeline.
    public func used(_ agents: some Sequence<ByteString>, now: Int64) {
        for agent in agents {
            if let entry = entries[agent], now - entry.fetchedAt >= Int64(refreshMilliseconds) { refreshWanted.insert(agent) }
        }
    }

    /// The agents to read now: unknown or past the refresh time, and not being read.
    public func wanted(_ agents: some Sequence<ByteString>, now: Int64) -> [ByteString] {
        var wanted = refreshWanted.subtracting(fetching)
        for agent in agents where !fetching.contains(agent) {
            if let entry = entries[agent], now - entry.fetchedAt < Int64(refreshMilliseconds) { continue }
            wanted.insert(agent)
        }
        return wanted.sorted()
    }

    /// The read of these agents' hashes, for the next pipeline.
    public func fetch(_ agents: [ByteString]) -> AgentSettingsFetch {
        fetching.formUnion(agents)
        refreshWanted.subtract(agents)
        return AgentSettingsFetch(keys: keys, agents: agents)
    }

    /// Stores what a fetch read; a failed fetch is forgotten, to be made again.
    public func store(_ result: Result<[ByteString: [String: String]], RedisError>, for agents: [ByteString], now: Int64) {
        fetching.subtract(agents)
        guard case .success(let hashes) = result else {
            refreshWanted.formUnion(agents.filter { entries[$0] != nil })
            return
        }
        if entries.count + agents.count > capacity { entries.removeAll(keepingCapacity: true) }
        for agent in agents {
            let (settings, problems) = AgentSettings.parse(hashes[agent] ?? [:], defaultTTS: defaultTTS, catalog: catalog)
            if !problems.isEmpty && problems != entries[agent]?.problems {
                // Once per change, not once per job: the operator should fix the hash.
                logger.warning(
                    "agent settings have invalid values; defaults used for those fields",
                    metadata: ["agent.id": "\(agent)", "problems": "\(problems.joined(separator: "; "))"])
            }
            entries[agent] = Entry(settings: settings, fetchedAt: now, problems: problems)
        }
    }

    /// A connection was lost with reads in flight: they are made again.
    public func forgetFetches() {
        fetching.removeAll()
    }
}

/// `HGETALL` of agents' settings hashes.
public struct AgentSettingsFetch: RedisSegment {
    public let keys: QueueKeys
    public let agents: [ByteString]

    public func encode(into commands: inout RedisCommands) {
        for agent in agents { commands.append("HGETALL", keys.agent(agent).argument) }
    }

    public func decode(_ replies: ArraySlice<RedisReply>) throws(RedisError) -> [ByteString: [String: String]] {
        var hashes: [ByteString: [String: String]] = [:]
        for (agent, reply) in zip(agents, replies) {
            // A key of another type: the operator's mistake, reported as a setting problem.
            if let error = reply.error(command: "HGETALL") {
                guard error.code == .wrongType else { throw error }
                hashes[agent] = ["(key)": "not a hash"]
                continue
            }
            var fields: [String: String] = [:]
            for (name, value) in reply.pairs ?? [] { fields[name] = value.string ?? "" }
            hashes[agent] = fields
        }
        return hashes
    }
}
