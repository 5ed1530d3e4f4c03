-- The Sidekiq peer's rate limit: the agent's and the user's token buckets, checked in
-- one call on Redis's clock. A reply takes a token from both or, when either is empty,
-- from neither (as Intone's gate does).
--
-- KEYS[1] the agent's bucket, KEYS[2] the user's (hashes: tokens, at_ms)
-- ARGV    agent rate/s, agent burst, user rate/s, user burst
-- Returns 0 when admitted; otherwise {which (1 agent, 2 user), retry_after_ms}.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local left = {}
for i = 1, 2 do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local saved = redis.call('HMGET', KEYS[i], 'tokens', 'at_ms')
  local tokens = tonumber(saved[1]) or burst
  local at = tonumber(saved[2]) or now
  if now > at then tokens = math.min(burst, tokens + (now - at) * rate / 1000) end
  if tokens < 1 then
    return {i, math.ceil((1 - tokens) * 1000 / rate)}
  end
  left[i] = tokens - 1
end
for i = 1, 2 do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  redis.call('HSET', KEYS[i], 'tokens', tostring(left[i]), 'at_ms', now)
  -- A bucket that has refilled holds no information: let it go.
  redis.call('PEXPIRE', KEYS[i], math.ceil(burst * 1000 / rate) + 1000)
end
return 0
