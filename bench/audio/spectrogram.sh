#!/usr/bin/env bash
# The same reply in every audio format, as spectrograms side by side
# (docs/images/audio-spectrograms.png): a private redis-server, one `intone work`, one job
# per format through `intone enqueue --format`, `intone audio` to fetch each reply, and
# ffmpeg (an independent decoder) to turn each back into samples for the picture.
#
# usage: bash bench/audio/spectrogram.sh [--out FILE] [FORMAT…]
# Needs: a built intone (.build/release or .build/debug), redis-server, ffmpeg, and the
# bench's Python venv (bench/peers/setup.sh installs matplotlib there).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/docs/images/audio-spectrograms.png"
if [ "${1:-}" = "--out" ]; then
  out="$2"
  shift 2
fi
formats=("$@")
if ((${#formats[@]} == 0)); then
  formats=(wav pcm_16000 ulaw_8000 alaw_8000 flac opus_24000_32 opus_48000_64 mp3_22050_32 mp3_44100_128)
fi
bin="$root/.build/release/intone"
[ -x "$bin" ] || bin="$root/.build/debug/intone"
[ -x "$bin" ] || {
  echo "build intone first: swift build -c release --product intone" >&2
  exit 1
}
command -v ffmpeg >/dev/null || {
  echo "ffmpeg is missing: apt-get install -y ffmpeg" >&2
  exit 1
}
python="$(bash "$root/bench/peers/setup.sh" 2>/dev/null | tail -n 1)"

work="$(mktemp -d)"
cleanup() {
  if [ -n "${worker:-}" ]; then
    kill "$worker" 2>/dev/null || true
    wait "$worker" 2>/dev/null || true
  fi
  [ -n "${redis:-}" ] && kill "$redis" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
redis-server --port 0 --unixsocket "$work/redis.sock" --save "" --appendonly no --daemonize no >/dev/null &
redis=$!
for _ in $(seq 100); do
  redis-cli -s "$work/redis.sock" PING >/dev/null 2>&1 && break
  sleep 0.05
done
url="unix://$work/redis.sock"
export INTONE_REDIS_URL="$url" INTONE_QUEUE="spectrogram"
"$bin" work --consumer spectrogram --metrics-port 0 --log-level error &
worker=$!

text="The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore."
for format in "${formats[@]}"; do
  # One user each: the default per-user bucket would refuse the sixth reply of one user.
  "$bin" enqueue --agent bench --user "u-$format" --format "$format" --job-id "s-$format" "$text" >/dev/null
done
for _ in $(seq 600); do
  count=$(redis-cli -s "$work/redis.sock" XLEN 'intone:{spectrogram}:results')
  ((count >= ${#formats[@]})) && break
  sleep 0.05
done
decoded=()
for format in "${formats[@]}"; do
  (cd "$work" && "$bin" audio "s-$format" --output "$work/s-$format.audio" >/dev/null)
  # G.711 and raw PCM have no header: ffmpeg is told what they are.
  input=(-i "$work/s-$format.audio")
  case "$format" in
    ulaw_*) input=(-f mulaw -ar "${format#ulaw_}" -ac 1 -i "$work/s-$format.audio") ;;
    alaw_*) input=(-f alaw -ar "${format#alaw_}" -ac 1 -i "$work/s-$format.audio") ;;
    pcm_*) input=(-f s16le -ar "${format#pcm_}" -ac 1 -i "$work/s-$format.audio") ;;
  esac
  ffmpeg -v error -y "${input[@]}" -ac 1 "$work/s-$format.wav"
  decoded+=("$format=$work/s-$format.wav:$(stat -c %s "$work/s-$format.audio")")
done
"$python" "$root/bench/audio/spectrogram.py" --out "$out" "${decoded[@]}"
echo "$out"
