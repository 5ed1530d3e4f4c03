#!/usr/bin/env bash
# Opus quality against CPU at each --opus-effort (docs/audio-bitrates.md): the speech of
# bench/audio/run.sh encoded by Intone's own encoder (compiled as in run.sh), decoded by
# ffmpeg, scored against the original with PESQ (ITU-T P.862, the `pesq` package from
# PyPI): wide band at 16 kHz, narrow band for 8 kHz formats. It measures; it never asserts.
# PESQ was made for telephone codecs and marks CELT's artefacts harder than listeners
# do; read the scores as a ranking within one rate and bitrate, not as absolute quality.
#
# Needs: swift, espeak-ng, ffmpeg, libopus-dev, libsndfile1-dev, libsoxr-dev and the
# bench's venv (bench/peers/setup.sh); numpy, scipy and pesq are added to that venv.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
if [ -x /opt/swift/usr/bin/swift ]; then PATH="$PATH:/opt/swift/usr/bin"; fi
python="$(bash "$root/bench/peers/setup.sh" | tail -n 1)"
if ! "$python" -c "import numpy, scipy, pesq" 2>/dev/null; then
  echo "Installing numpy, scipy and pesq into the bench venv" >&2
  "$python" -m pip install -q --disable-pip-version-check numpy scipy pesq >&2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
espeak-ng -w "$work/speech.wav" "The quick brown fox jumps over the lazy dog. Intone turns an agent's reply \
into speech, and a telephone call needs it at eight kilohertz without aliasing. She sells sea shells by the \
sea shore, and the shells she sells are surely sea shells."
swiftc -O -module-name IntoneAudioBench -o "$work/measure" \
  -I "$root/Sources/CSndfile" -I "$root/Sources/CSoxr" -I "$root/Sources/COpus" -Xcc -I/usr/include/opus \
  "$root"/Sources/IntoneCore/Audio/*.swift "$root/bench/audio/main.swift"
mkdir "$work/opus"
"$work/measure" "$work/speech.wav" --write-opus "$work/opus"
"$python" - "$work" <<'PY'
import glob, os, subprocess, sys
import numpy as np
from pesq import pesq

work = sys.argv[1]

def decode(path, rate):
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "s16le", "-ac", "1", "-ar", str(rate), "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float64)

print("| format | effort | PESQ | bytes |")
print("|---|---|---|---|")
def order(path):
    name, effort = os.path.basename(path)[:-5].split("-")
    return name, ["fast", "balanced", "best"].index(effort)

for path in sorted(glob.glob(os.path.join(work, "opus", "*.opus")), key=order):
    name, effort = os.path.basename(path)[:-5].split("-")
    rate = 8000 if name.startswith("opus_8000") else 16000
    reference, decoded = decode(os.path.join(work, "speech.wav"), rate), decode(path, rate)
    n = min(len(reference), len(decoded))
    mode = "nb" if rate == 8000 else "wb"
    print(f"| {name} | {effort} | {pesq(rate, reference[:n], decoded[:n], mode):.2f} ({mode}) | {os.path.getsize(path)} |")
PY
