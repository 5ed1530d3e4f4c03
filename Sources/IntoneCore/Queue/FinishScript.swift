/// The Lua script that writes back a whole batch; the worker runs it inside MULTI/EXEC.
///
/// For each job whose `job_id` has no result yet (no done marker) it appends the result
/// entry (`MAXLEN ~`), the dead letter for a failed job, and sets the done marker with
/// its TTL. A job whose marker exists is a
/// duplicate: nothing is written for it. Then every entry of the batch is acknowledged
/// and deleted from the jobs stream. Doing the marker check and the writes in one
/// script is what makes "exactly one result per job_id" hold even when two workers
/// finish the same job_id at once.
///
/// The audio does not pass through the script: Lua copies every argument into its own
/// strings, which for a batch of WAV files costs about a millisecond a job of Redis CPU
/// (measured with `INFO commandstats`). The worker stores audio with plain `SET … EX`
/// in the same MULTI/EXEC, before this script.
///
/// It also counts what it wrote in the hash `intone:{Q}:stats` (results by status and
/// milliseconds of audio), which `intone status` reads; the hash has a fixed set of
/// fields, so it is bounded.
///
/// KEYS: jobs, dead, results, stats, then per job: done marker, result stream.
/// ARGV: group, results MAXLEN, dead MAXLEN, marker TTL s, reply_to TTL s, job count, then
/// per job: entry id, status, audio ms, n, n result field pairs, m, m dead-letter field
/// pairs. Returns `{written, duplicates}`.
enum FinishScript {
    static let source = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local group, results_max, dead_max = ARGV[1], ARGV[2], ARGV[3]
        local marker_ttl, reply_ttl, n = ARGV[4], ARGV[5], tonumber(ARGV[6])
        local a, ids, written, duplicates, tally = 7, {}, 0, 0, {}
        for i = 1, n do
          local marker, stream = KEYS[2 * i + 3], KEYS[2 * i + 4]
          local id, status, audio_ms = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
          ids[i] = id
          local nr = tonumber(ARGV[a + 3])
          local rs = a + 4
          local nd = tonumber(ARGV[rs + 2 * nr])
          local ds = rs + 2 * nr + 1
          a = ds + 2 * nd
          if redis.call('EXISTS', marker) == 1 then
            duplicates = duplicates + 1
          else
            local note = nil
            if stream ~= KEYS[3] then
              local kind = redis.call('TYPE', stream)['ok']
              if kind ~= 'stream' and kind ~= 'none' then
                note = 'reply_to is a ' .. kind .. ', not a stream'
                stream = KEYS[3]
              end
            end
            local x = {'XADD', stream, 'MAXLEN', '~', results_max, '*'}
            for j = rs, rs + 2 * nr - 1 do x[#x + 1] = ARGV[j] end
            local ms = tonumber(string.match(id, '^(%d+)')) or now
            x[#x + 1] = 'elapsed_ms'
            x[#x + 1] = tostring(math.max(0, now - ms))
            if note then
              x[#x + 1] = 'reply_to_error'
              x[#x + 1] = note
            end
            local rid = redis.call(unpack(x))
            if stream ~= KEYS[3] then redis.call('EXPIRE', stream, reply_ttl) end
            if nd > 0 then
              local d = {'XADD', KEYS[2], 'MAXLEN', '~', dead_max, '*'}
              for j = ds, ds + 2 * nd - 1 do d[#d + 1] = ARGV[j] end
              d[#d + 1] = 'failed_at'
              d[#d + 1] = tostring(now)
              redis.call(unpack(d))
            end
            redis.call('SET', marker, rid, 'EX', marker_ttl)
            written = written + 1
            tally[status] = (tally[status] or 0) + 1
            tally['audio_ms'] = (tally['audio_ms'] or 0) + audio_ms
          end
        end
        if n > 0 then
          redis.call('XACK', KEYS[1], group, unpack(ids))
          redis.call('XDEL', KEYS[1], unpack(ids))
        end
        for field, count in pairs(tally) do redis.call('HINCRBY', KEYS[4], field, count) end
        return {written, duplicates}
        """
}
