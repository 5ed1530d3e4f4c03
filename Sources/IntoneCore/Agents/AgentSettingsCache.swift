import Logging

/// Agent settings read from Redis and kept for a few seconds, so that an operator's
/// `HSET` takes effect without a restart while a batch costs no extra round trip.
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
    private var entries: [String: Entry] = [:]
    /// Bounds the cache for workers that see very many agents.
    private let capacity = 100_000

    public init(keys: QueueKeys, refreshMilliseconds: Int, defaultTTS: AgentSettings.Speech, catalog: VoiceCatalog?, logger: Logger) {
        self.keys = keys
        self.refreshMilliseconds = refreshMilliseconds
        self.defaultTTS = defaultTTS
        self.catalog = catalog
        self.logger = logger
    }

    /// Settings for each agent, reading in one pipeline those not fresh in the cache.
    public func settings(for agents: some Sequence<String>, on connection: RedisConnection) throws(RedisError) -> [String: AgentSettings] {
        let now = Monotonic.milliseconds()
        let wanted = Set(agents)
        let stale = wanted.filter { agent in
            guard let entry = entries[agent] else { return true }
            return now - entry.fetchedAt >= Int64(refreshMilliseconds)
        }.sorted()
        if !stale.isEmpty {
            var commands = RedisCommands()
            for agent in stale { commands.append("HGETALL", .string(keys.agent(agent))) }
            let replies = try connection.send(commands)
            if entries.count + stale.count > capacity { entries.removeAll(keepingCapacity: true) }
            for (agent, reply) in zip(stale, replies) {
                var fields: [String: String] = [:]
                for (name, value) in reply.pairs ?? [] { fields[name] = value.string ?? "" }
                let (settings, problems) = AgentSettings.parse(fields, defaultTTS: defaultTTS, catalog: catalog)
                if !problems.isEmpty && problems != entries[agent]?.problems {
                    // Once per change, not once per job: the operator should fix the hash.
                    logger.warning(
                        "agent settings have invalid values; defaults used for those fields",
                        metadata: ["agent.id": "\(agent)", "problems": "\(problems.joined(separator: "; "))"])
                }
                entries[agent] = Entry(settings: settings, fetchedAt: now, problems: problems)
            }
        }
        var result: [String: AgentSettings] = [:]
        for agent in wanted { result[agent] = entries[agent]?.settings }
        return result
    }
}
