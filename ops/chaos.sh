#!/usr/bin/env bash
# Chaos run: several workers and a producer on a private redis-server (appendonly yes,
# appendfsync always), for a bounded time. Then every job the producer enqueued must have
# exactly one result and nothing may be left pending. Prints the counts; exits 1 if
# anything was lost, answered twice or left pending.
#
# Two modes:
#   kills     workers killed (-9 and SIGTERM) and Redis killed and restarted at random
#   refusals  no worker killed, Redis never restarted; Redis refuses instead: it runs out
#             of memory for a while, the result stream becomes a key of another type and is
#             put back, clients are paused. Also fails if any result is "failed": Redis's
#             trouble must never be counted against a job.
#
# usage: bash ops/chaos.sh [seconds (default 120)] [workers (default 3)] [kills|refusals]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x /opt/swift/usr/bin/swift ]; then PATH="$PATH:/opt/swift/usr/bin"; fi

duration=${1:-120}
workers=${2:-3}
mode=${3:-kills}
case "$mode" in kills | refusals) ;; *)
  echo "usage: bash ops/chaos.sh [seconds] [workers] [kills|refusals]" >&2
  exit 2
  ;;
esac
bash ops/install-dependencies.sh >/dev/null
if ! swift build --product intone >"$(mktemp)" 2>&1; then swift build --product intone; fi
bin=$(swift build --show-bin-path)/intone

dir=$(mktemp -d /tmp/intone-chaos-XXXXXX)
sock="$dir/redis.sock"
queue=chaos
jobs="intone:{$queue}:jobs"
results="intone:{$queue}:results"
kills=0
terms=0
restarts=0
ooms=0
swaps=0
pauses=0

cli() { redis-cli -s "$sock" "$@"; }

start_redis() {
  redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --dir "$dir" --save "" \
    --appendonly yes --appendfsync always --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  for _ in $(seq 100); do
    # Until the append-only file is loaded, Redis answers LOADING, not PONG.
    if [ "$(cli PING 2>/dev/null)" = "PONG" ]; then return 0; fi
    sleep 0.05
  done
  echo "redis-server did not start; see $dir/redis.log" >&2
  exit 1
}

crash_redis() {
  kill -9 "$(cat "$dir/redis.pid")" 2>/dev/null || true
  rm -f "$sock"
}

start_worker() {
  "$bin" work --redis "unix://$sock" --queue "$queue" --consumer "chaos-$1" --claim-idle-ms 2000 \
    --synthesizers 1 --block-ms 200 --user-rate "1000/s burst 1000" --results-maxlen 10000000 \
    --shutdown-grace-s 5 --metrics-port 0 --log-level error >>"$dir/worker-$1.log" 2>&1 &
  echo $! >"$dir/worker-$1.pid"
  disown  # killing it on purpose is not news
}

worker_alive() { kill -0 "$(cat "$dir/worker-$1.pid")" 2>/dev/null; }

cleanup() {
  for i in $(seq "$workers"); do kill -9 "$(cat "$dir/worker-$i.pid" 2>/dev/null)" 2>/dev/null || true; done
  kill "${producer_pid:-0}" 2>/dev/null || true
  crash_redis
  rm -rf "$dir"
}
trap cleanup EXIT

# Sends one batch of XADDs; the ids go to enqueued.txt only when every reply came back.
produce() {
  local batch=0 k
  while [ ! -e "$dir/stop" ]; do
    batch=$((batch + 1))
    : >"$dir/batch.txt"
    for k in $(seq 0 19); do
      echo "XADD $jobs * job_id c-$batch-$k agent_id a$((k % 5)) user_id u$k text \"Reply $k of batch $batch: your order has shipped.\"" >>"$dir/batch.txt"
    done
    local replies
    replies=$(cli <"$dir/batch.txt" 2>/dev/null | grep -c -E '^[0-9]+-[0-9]+$' || true)
    if [ "$replies" -eq 20 ]; then
      for k in $(seq 0 19); do echo "c-$batch-$k"; done >>"$dir/enqueued.txt"
    else
      for k in $(seq 0 19); do echo "c-$batch-$k"; done >>"$dir/uncertain.txt"
      sleep 0.2
    fi
    sleep 0.1
  done
}

start_redis
cli HSET "intone:{$queue}:agent:a0" tts off >/dev/null
touch "$dir/enqueued.txt" "$dir/uncertain.txt"
for i in $(seq "$workers"); do start_worker "$i"; done
produce &
producer_pid=$!

# Refusals: Redis says no for a moment, then yes again; nothing is killed.
refuse() {
  local roll=$((RANDOM % 3))
  if [ "$roll" -eq 0 ]; then
    cli CONFIG SET maxmemory 1 >/dev/null
    sleep "$((1 + RANDOM % 3))"
    cli CONFIG SET maxmemory 0 >/dev/null
    ooms=$((ooms + 1))
  elif [ "$roll" -eq 1 ]; then
    # The result stream is set aside and a string takes its place; then it comes back.
    printf 'MULTI\nRENAME %s %s:aside\nSET %s not-a-stream\nEXEC\n' "$results" "$results" "$results" | cli >/dev/null
    sleep "$((1 + RANDOM % 3))"
    printf 'MULTI\nDEL %s\nRENAME %s:aside %s\nEXEC\n' "$results" "$results" "$results" | cli >/dev/null
    swaps=$((swaps + 1))
  else
    cli CLIENT PAUSE "$((500 + RANDOM % 1500))" ALL >/dev/null
    pauses=$((pauses + 1))
  fi
}

echo "chaos ($mode) for ${duration}s: $workers workers and a producer (folder $dir)"
end=$((SECONDS + duration))
while [ "$mode" = refusals ] && [ "$SECONDS" -lt "$end" ]; do
  sleep "$((1 + RANDOM % 3))"
  refuse
done
while [ "$mode" = kills ] && [ "$SECONDS" -lt "$end" ]; do
  sleep "$((1 + RANDOM % 3))"
  roll=$((RANDOM % 10))
  victim=$((1 + RANDOM % workers))
  if [ "$roll" -lt 6 ]; then
    kill -9 "$(cat "$dir/worker-$victim.pid")" 2>/dev/null && kills=$((kills + 1))
  elif [ "$roll" -lt 8 ]; then
    kill -TERM "$(cat "$dir/worker-$victim.pid")" 2>/dev/null && terms=$((terms + 1))
  else
    crash_redis
    sleep 1
    start_redis
    restarts=$((restarts + 1))
  fi
  sleep 0.5
  for i in $(seq "$workers"); do
    if ! worker_alive "$i"; then start_worker "$i"; fi
  done
done

touch "$dir/stop"
wait "$producer_pid" || true
for i in $(seq "$workers"); do
  if ! worker_alive "$i"; then start_worker "$i"; fi
done

echo "draining…"
for _ in $(seq 240); do
  left=$(cli XLEN "$jobs")
  pending=$(cli XPENDING "$jobs" workers | head -1)
  if [ "$left" -eq 0 ] && [ "$pending" -eq 0 ]; then break; fi
  sleep 0.5
done

cli --raw XRANGE "$results" - + | awk 'prev == "job_id" { print } { prev = $0 }' | sort | uniq -c >"$dir/counts.txt"
enqueued=$(sort -u "$dir/enqueued.txt" | wc -l)
uncertain=$(sort -u "$dir/uncertain.txt" | wc -l)
answered=$(wc -l <"$dir/counts.txt")
duplicated=$(awk '$1 > 1' "$dir/counts.txt" | wc -l)
lost=$(awk '{ print $2 }' "$dir/counts.txt" | sort | comm -13 - <(sort -u "$dir/enqueued.txt") | wc -l)
left=$(cli XLEN "$jobs")
pending=$(cli XPENDING "$jobs" workers | head -1)

echo "jobs enqueued (acknowledged): $enqueued"
echo "jobs in doubt (Redis went away mid-batch): $uncertain"
echo "job ids answered: $answered"
failed=$(cli --raw XRANGE "$results" - + | awk 'prev == "status" && $0 == "failed" { n++ } { prev = $0 } END { print n + 0 }')
if [ "$mode" = kills ]; then
  echo "worker kill -9: $kills, SIGTERM: $terms, Redis restarts: $restarts"
else
  echo "out of memory: $ooms times, result stream of the wrong type: $swaps times, clients paused: $pauses times"
fi
echo "lost: $lost, answered twice: $duplicated, still queued: $left, pending: $pending, failed results: $failed"
if [ "$mode" = refusals ] && [ "$failed" -ne 0 ]; then
  echo "FAILED: a refusal of Redis's was counted against a job" >&2
  exit 1
fi
if [ "$lost" -ne 0 ] || [ "$duplicated" -ne 0 ] || [ "$left" -ne 0 ] || [ "$pending" -ne 0 ]; then
  echo "FAILED" >&2
  exit 1
fi
echo "OK: every enqueued job has exactly one result"
