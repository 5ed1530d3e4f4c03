#!/usr/bin/env bash
# Builds and runs the resampler comparison (libsoxr against libsamplerate) on espeak-ng
# speech. Needs: espeak-ng, libsoxr-dev, libsamplerate0-dev, libsndfile1-dev, a C compiler.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
espeak-ng -w "$work/speech.wav" "The quick brown fox jumps over the lazy dog. Intone turns an agent's reply \
into speech, and a telephone call needs it at eight kilohertz without aliasing. She sells sea shells by the \
sea shore, and the shells she sells are surely sea shells. Peter Piper picked a peck of pickled peppers; how \
many pickled peppers did Peter Piper pick? Sixty six thousand, three hundred and twelve customers called on \
Tuesday, asking about their invoices, refunds and shipping dates."
cc -O2 -o "$work/compare" "$here/compare.c" $(pkg-config --cflags --libs soxr samplerate sndfile) -lm
"$work/compare" "$work/speech.wav"
