#!/usr/bin/env bash
# The side-by-side table: Intone and Sidekiq 6 on the agent-reply workloads (off, limited,
# on), with the espeak-ng ceiling around each `on` run. Installs what is missing, builds
# Intone (release) and the ceiling, then runs bench/peers/peers.py.
#
# usage: bash bench/peers/run.sh [--smoke] [--out DIR] [peers.py options…]
#   --smoke   small runs that prove the harness works (their figures mean nothing)
#   --out DIR where peers.jsonl goes (default .build/bench/<UTC time>)
# Other options go to peers.py (e.g. --workloads off --jobs 50000; see --help).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if [ -x /opt/swift/usr/bin/swift ]; then PATH="$PATH:/opt/swift/usr/bin"; fi

smoke=()
out=""
passed=()
while (($# > 0)); do
  case "$1" in
    --smoke) smoke=(--jobs 2000 --on-jobs 100 --ceiling-renders 60 --label smoke) ;;
    --out)
      out="$2"
      shift
      ;;
    *) passed+=("$1") ;;
  esac
  shift
done
out="${out:-$root/.build/bench/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"

python="$(bash "$root/bench/peers/setup.sh" | tail -n 1)"
if [ "${INTONE_BENCH_NO_BUILD:-0}" != 1 ]; then
  echo "Building intone (release)" >&2
  swift build -c release --product intone >&2
fi
ceiling="$root/.build/bench/espeak-ceiling"
if [ ! -x "$ceiling" ] || [ "$root/bench/peers/espeak_ceiling.c" -nt "$ceiling" ]; then
  mkdir -p "$(dirname "$ceiling")"
  cc -O2 -Wall -o "$ceiling" "$root/bench/peers/espeak_ceiling.c" -lespeak-ng
fi

"$python" "$root/bench/peers/peers.py" --ceiling "$ceiling" --json "$out/peers.jsonl" \
  ${smoke[@]+"${smoke[@]}"} ${passed[@]+"${passed[@]}"}
echo "JSON: $out/peers.jsonl" >&2
