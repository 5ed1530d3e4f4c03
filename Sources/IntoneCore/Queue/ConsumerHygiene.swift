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

    /// The sweep, as a segment; its output is the names of the consumers removed, or nil
    /// when Redis had lost the script (the call did not run).
    func sweep(idleMilliseconds: Int) -> ConsumerSweep {
        ConsumerSweep(
            words: script.call(
                keys: [.string(keys.jobs)], arguments: [.string(QueueKeys.group), .integer(idleMilliseconds), .string(consumer)]))
    }
}

struct ConsumerSweep: RedisSegment {
    let words: [RedisArgument]

    func encode(into commands: inout RedisCommands) { commands.append(words) }

    func decode(_ replies: ArraySlice<RedisReply>) throws(RedisError) -> [String]? {
        let reply = replies[replies.startIndex]
        if let error = reply.error(command: "consumer hygiene script") {
            if error.code == .noScript { return nil }
            throw error
        }
        return (reply.array ?? []).compactMap(\.string)
    }
}
