#!/usr/bin/env bash
# Prints the audio format measurements (docs/audio-bitrates.md): bitrates per target,
# libsndfile's compression levels for MP3, bytes and encoding CPU time per second of speech.
# Compiles Sources/IntoneCore/Audio/ with bench/audio/main.swift, optimised, as one
# module. Needs: swift, espeak-ng, libsndfile1-dev, libsoxr-dev, libopus-dev.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
if [ -x /opt/swift/usr/bin/swift ]; then PATH="$PATH:/opt/swift/usr/bin"; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
espeak-ng -w "$work/speech.wav" "The quick brown fox jumps over the lazy dog. Intone turns an agent's reply \
into speech, and a telephone call needs it at eight kilohertz without aliasing. She sells sea shells by the \
sea shore, and the shells she sells are surely sea shells. Peter Piper picked a peck of pickled peppers; how \
many pickled peppers did Peter Piper pick? Sixty six thousand, three hundred and twelve customers called on \
Tuesday, asking about their invoices, refunds and shipping dates."
swiftc -O -module-name IntoneAudioBench -o "$work/measure" \
  -I "$root/Sources/CSndfile" -I "$root/Sources/CSoxr" -I "$root/Sources/COpus" -Xcc -I/usr/include/opus \
  "$root"/Sources/IntoneCore/Audio/*.swift "$root/bench/audio/main.swift"
"$work/measure" "$work/speech.wav"
