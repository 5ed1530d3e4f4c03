/// Removes consumers of the group that are gone: idle past a threshold and holding no
/// pending entries. A consumer that still holds entries is never removed, because
/// `XGROUP DELCONSUMER` drops its pending entries with it; the check and the removal
/// happen in one script so that no read can slip in between.
struct ConsumerHygiene {
    static let source = """
        local removed = {}
        for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
          local info = {}
          for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
          if info['name'] ~= ARGV[3] and tonumber(info['pending']) == 0 and tonumber(info['idle']) > tonumber(ARGV[2]) then
            redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
            removed[#removed + 1] = info['name']
          end
        end
        return removed
        """

    let keys: QueueKeys
    let consumer: String
    let script: RedisScript

    /// Returns the names of the consumers removed.
    func sweep(idleMilliseconds: Int, on connection: RedisConnection) throws(RedisError) -> [String] {
        for attempt in 0..<2 {
            let reply = try connection.send(
                RedisCommands(
                    script.call(keys: [keys.jobs], arguments: [.string(QueueKeys.group), .integer(idleMilliseconds), .string(consumer)])))[
                    0]
            if let message = reply.errorMessage {
                if message.hasPrefix("NOSCRIPT"), attempt == 0 {
                    try script.load(on: connection)
                    continue
                }
                throw RedisError(.server, "consumer hygiene: \(message)")
            }
            return (reply.array ?? []).compactMap(\.string)
        }
        return []
    }
}
