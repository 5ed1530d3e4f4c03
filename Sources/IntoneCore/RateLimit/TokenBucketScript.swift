/// The Lua script that gates one job through its agent's and its user's token buckets.
///
/// Both buckets are checked before either is charged, so a job that one bucket refuses
/// takes no token from the other. Time comes from the Redis server (`TIME`), so replicas
/// with skewed clocks agree. A bucket is a hash `{tokens, ts}` that expires when it would
/// be full again: a missing bucket is a full one, and idle buckets cost no memory.
///
/// KEYS: agent bucket, user bucket, the job's done marker.
/// ARGV: agent rate/s, agent burst, user rate/s, user burst.
/// Returns `{1}` admitted, `{0, retry_after_ms, "agent"|"user"}` refused, `{2}` when the
/// job id already has a result (a duplicate takes no token).
enum TokenBucketScript {
    static let source = """
        if redis.call('EXISTS', KEYS[3]) == 1 then return {2} end
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
        local function level(key, rate, burst)
          local b = redis.call('HMGET', key, 'tokens', 'ts')
          local tokens, ts = tonumber(b[1]), tonumber(b[2])
          if tokens == nil or ts == nil then return burst end
          return math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
        end
        local function wait(tokens, rate)
          if tokens >= 1 then return 0 end
          return math.max(1, math.ceil((1 - tokens) * 1000 / rate))
        end
        local function store(key, tokens, rate, burst)
          redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
          redis.call('PEXPIRE', key, math.max(1, math.ceil((burst - tokens) * 1000 / rate)))
        end
        local ar, ab, ur, ub = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
        local at, ut = level(KEYS[1], ar, ab), level(KEYS[2], ur, ub)
        local aw, uw = wait(at, ar), wait(ut, ur)
        if aw > 0 or uw > 0 then
          if aw >= uw then return {0, aw, 'agent'} end
          return {0, uw, 'user'}
        end
        store(KEYS[1], at - 1, ar, ab)
        store(KEYS[2], ut - 1, ur, ub)
        return {1}
        """
}
