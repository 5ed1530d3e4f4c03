#!/usr/bin/env bash
# Where the CPU goes while `intone bench` runs one workload: perf samples every process
# on the machine (Redis, the workers, their synthesizer children, idle) for a few seconds
# in the middle of the run, then prints the split by process and library and the
# hottest functions. BENCHMARKS.md quotes its output.
#
# usage: bash ops/profile.sh [off|limited|on] [seconds]
# needs: perf (apt-get install -y linux-perf) and permission to sample the system
#        (root, or kernel.perf_event_paranoid <= 0).
set -euo pipefail
cd "$(dirname "$0")/.."

workload=${1:-off}
seconds=${2:-4}
case "$workload" in
    off | limited) jobs=2000000 ;;
    on) jobs=6000 ;;
    *)
        echo "usage: bash ops/profile.sh [off|limited|on] [seconds]" >&2
        exit 2
        ;;
esac
if ! command -v perf >/dev/null; then
    echo "perf is not installed: apt-get install -y linux-perf" >&2
    exit 1
fi

swift build -c release --product intone >/dev/null
out=$(mktemp -d /tmp/intone-profile-XXXXXX)
.build/release/intone bench --workloads "$workload" --jobs "$jobs" --on-jobs "$jobs" >"$out/bench.txt" 2>&1 &
bench=$!
until grep -q "workers started" "$out/bench.txt"; do
    if ! kill -0 "$bench" 2>/dev/null; then
        cat "$out/bench.txt" >&2
        exit 1
    fi
    sleep 0.2
done
sleep 1
perf record -a -F 999 -o "$out/perf.data" -- sleep "$seconds" 2>/dev/null
wait "$bench"
cat "$out/bench.txt"
echo
echo "== CPU by process and library (100% = all cores for ${seconds}s; swapper is idle)"
perf report -i "$out/perf.data" --stdio --sort comm,dso 2>/dev/null | grep -E '^ +[0-9]' | head -15
echo
echo "== hottest functions"
perf report -i "$out/perf.data" --stdio --sort comm,sym 2>/dev/null | grep -E '^ +[0-9]' | head -30 |
    { if command -v swift >/dev/null; then swift demangle --simplified; else cat; fi } | cut -c1-150
echo
echo "perf data: $out/perf.data"
