/// The Lua script that gates a whole batch of jobs through their agents' and users'
/// token buckets, in one call.
///
/// Jobs are taken in order, as if each had its own call: both of a job's buckets are
/// checked before either is charged, so a job that one bucket refuses takes no token from
/// the other. Each bucket the batch names is read once and written once (a batch of 128
/// jobs often names a handful of agents), which is what makes one call cheaper than one
/// call per job: perf showed most of Redis's time in the per-call and per-argument work,
/// not in the buckets' arithmetic. Time comes from the Redis server (`TIME`), so replicas
/// with skewed clocks agree. A bucket is a hash `{tokens, ts}` that expires when it would
/// be full again: a missing bucket is a full one, and idle buckets cost no memory.
///
/// KEYS: per job, its agent bucket, its user bucket and its done marker.
/// ARGV: user rate/s, user burst, then per job its agent's rate/s and burst.
/// Returns two integers per job: `1, 0` admitted; `2, 0` its job id already has a result
/// (a duplicate takes no token); `3, ms` refused by the agent's bucket, `4, ms` by the
/// user's, with the milliseconds until a token is free.
enum TokenBucketScript {
    static let source = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
        local buckets = {}
        local function bucket(key, rate, burst)
          local b = buckets[key]
          if b == nil then
            local stored = redis.call('HMGET', key, 'tokens', 'ts')
            local tokens, ts = tonumber(stored[1]), tonumber(stored[2])
            if tokens == nil or ts == nil then tokens = burst
            else tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000) end
            b = {tokens = tokens, rate = rate, burst = burst, dirty = false}
            buckets[key] = b
          end
          return b
        end
        local function wait(b)
          if b.tokens >= 1 then return 0 end
          return math.max(1, math.ceil((1 - b.tokens) * 1000 / b.rate))
        end
        local ur, ub = tonumber(ARGV[1]), tonumber(ARGV[2])
        local out = {}
        for i = 1, #KEYS / 3 do
          local k = 3 * i - 2
          if redis.call('EXISTS', KEYS[k + 2]) == 1 then
            out[#out + 1] = 2
            out[#out + 1] = 0
          else
            local a = bucket(KEYS[k], tonumber(ARGV[2 * i + 1]), tonumber(ARGV[2 * i + 2]))
            local u = bucket(KEYS[k + 1], ur, ub)
            local aw, uw = wait(a), wait(u)
            if aw > 0 or uw > 0 then
              if aw >= uw then out[#out + 1] = 3; out[#out + 1] = aw
              else out[#out + 1] = 4; out[#out + 1] = uw end
            else
              a.tokens, a.dirty = a.tokens - 1, true
              u.tokens, u.dirty = u.tokens - 1, true
              out[#out + 1] = 1
              out[#out + 1] = 0
            end
          end
        end
        for key, b in pairs(buckets) do
          if b.dirty then
            redis.call('HSET', key, 'tokens', tostring(b.tokens), 'ts', tostring(now))
            redis.call('PEXPIRE', key, math.max(1, math.ceil((b.burst - b.tokens) * 1000 / b.rate)))
          end
        end
        return out
        """
}
