#!/usr/bin/env bash
# Every benchmark figure and chart from one command, on a machine with nothing else
# running: the side-by-side table (Intone and Sidekiq 6, bench/peers/run.sh), then
# `intone bench` (throughput with Redis CPU by command, latency at half load, streamed
# replies, a burst of long replies on one worker, Redis memory per reply by format, a
# sharded queue on a local Redis Cluster with a master killed), then
# the charts (docs/images/bench-*.png). About 5 minutes on 2 cores.
#
# usage: bash bench/run.sh [--smoke] [--out DIR] [--images DIR]
#   --smoke     small runs that prove everything works (figures mean nothing; charts say so)
#   --out DIR   JSON lines and tables (default .build/bench/<UTC time>)
#   --images D  where the PNGs go (default docs/images)
# Environment: INTONE_BENCH_FORMATS (default wav,opus_24000_32,ulaw_8000,mp3),
#   INTONE_BENCH_BURST (default 200 replies), INTONE_BENCH_NO_BUILD=1 to skip the builds.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ -x /opt/swift/usr/bin/swift ]; then PATH="$PATH:/opt/swift/usr/bin"; fi

smoke=0
out=""
images="$root/docs/images"
while (($# > 0)); do
  case "$1" in
    --smoke) smoke=1 ;;
    --out)
      out="$2"
      shift
      ;;
    --images)
      images="$2"
      shift
      ;;
    *)
      echo "usage: bash bench/run.sh [--smoke] [--out DIR] [--images DIR]" >&2
      exit 2
      ;;
  esac
  shift
done
out="${out:-$root/.build/bench/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
formats="${INTONE_BENCH_FORMATS:-wav,opus_24000_32,ulaw_8000,mp3}"

if ((smoke)); then
  peers=(--smoke)
  intone=(--jobs 3000 --on-jobs 200 --burst 20 --format-jobs 20 --ceiling-renders 60 --cluster-shards 6 --on-formats opus_24000_32 --label smoke)
else
  peers=()
  intone=(--jobs 100000 --on-jobs 3000 --burst "${INTONE_BENCH_BURST:-200}" --format-jobs 200 --ceiling-renders 300 --cluster-shards 16 --on-formats opus_24000_32,ulaw_8000,pcm_16000)
fi

# Set-up, builds and the peers' table (writes $out/peers.jsonl).
bash "$root/bench/peers/run.sh" --out "$out" ${peers[@]+"${peers[@]}"} | tee "$out/peers.txt"
python="$(bash "$root/bench/peers/setup.sh" 2>/dev/null | tail -n 1)"

echo "intone bench" >&2
"$root/.build/release/intone" bench --latency --commands --formats "$formats" --stream-formats \
  --ceiling-command "$root/.build/bench/espeak-ceiling" --json "$out/intone.jsonl" "${intone[@]}" | tee "$out/intone.txt"

"$python" "$root/bench/charts/draw.py" "$out/peers.jsonl" "$out/intone.jsonl" --out "$images"
bash "$root/bench/audio/spectrogram.sh" --out "$images/audio-spectrograms.png"
echo "Tables: $out/peers.txt $out/intone.txt; JSON: $out/peers.jsonl $out/intone.jsonl" >&2
