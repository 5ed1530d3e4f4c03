/// The Lua script that gates a whole batch of jobs through their agents' and users'
/// token buckets, in one call.
///
/// Jobs are taken in order, as if each had its own call: both of a job's buckets are
/// checked before either is charged, so a job that one bucket refuses takes no token from
/// the other. Each bucket the batch names is read once and written once (a batch of 256
/// jobs often names a handful of agents), which is what makes one call cheaper than one
/// call per job: perf showed most of Redis's time in the per-call and per-argument work,
/// not in the buckets' arithmetic. Time comes from the Redis server (`TIME`), so replicas
/// with skewed clocks agree. A bucket is a hash `{tokens, ts}` that expires when it would
/// be full again: a missing bucket is a full one, and idle buckets cost no memory.
///
/// KEYS: per job, its agent bucket, its user bucket and (when ARGV[3] is 3) its done
/// marker, which must then live in the same slot.
/// ARGV: user rate/s, user burst, keys per job (2 or 3), then per job its agent's rate/s
/// and burst. Rates and bursts are bounded by the worker (`RateLimit`); the script
/// clamps its waits and TTLs as well, so that no value can overflow what Redis stores.
/// Returns two integers per job: `1, 0` admitted; `2, 0` its job id already has a result
/// (a duplicate takes no token); `3, ms` refused by the agent's bucket, `4, ms` by the
/// user's, with the milliseconds until a token is free; `5, 0` / `6, 0` its agent's /
/// user's bucket key holds another type (set by hand): that job alone cannot be gated,
/// and no token is taken from its other bucket.
enum TokenBucketScript {
    static let source = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
        local longest = 1e12
        local buckets = {}
        local function bucket(key, rate, burst)
          local b = buckets[key]
          if b == nil then
            local stored = redis.pcall('HMGET', key, 'tokens', 'ts')
            if stored['err'] then
              buckets[key] = {broken = true}
              return buckets[key]
            end
            local tokens, ts = tonumber(stored[1]), tonumber(stored[2])
            if tokens == nil or ts == nil or tokens ~= tokens then tokens = burst
            else tokens = math.max(0, math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)) end
            b = {tokens = tokens, rate = rate, burst = burst, dirty = false}
            buckets[key] = b
          end
          return b
        end
        local function wait(b)
          if b.tokens >= 1 then return 0 end
          return math.min(longest, math.max(1, math.ceil((1 - b.tokens) * 1000 / b.rate)))
        end
        local ur, ub, stride = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        local out = {}
        for i = 1, #KEYS / stride do
          local k = stride * (i - 1) + 1
          if stride == 3 and redis.call('EXISTS', KEYS[k + 2]) == 1 then
            out[#out + 1] = 2
            out[#out + 1] = 0
          else
            local a = bucket(KEYS[k], tonumber(ARGV[2 * i + 2]), tonumber(ARGV[2 * i + 3]))
            local u = bucket(KEYS[k + 1], ur, ub)
            if a.broken then out[#out + 1] = 5; out[#out + 1] = 0
            elseif u.broken then out[#out + 1] = 6; out[#out + 1] = 0
            else
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
        end
        for key, b in pairs(buckets) do
          if b.dirty and not b.broken then
            redis.call('HSET', key, 'tokens', tostring(b.tokens), 'ts', tostring(now))
            redis.call('PEXPIRE', key, math.min(longest, math.max(1, math.ceil((b.burst - b.tokens) * 1000 / b.rate))))
          end
        end
        return out
        """
}
