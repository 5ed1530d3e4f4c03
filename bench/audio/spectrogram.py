#!/usr/bin/env python3
"""Spectrograms of the same reply in several audio formats, one panel each, on one
frequency scale (0 to 11 kHz), written as a PNG.

usage: spectrogram.py --out FILE FORMAT=DECODED.wav:BYTES…
Each DECODED.wav is the reply decoded by ffmpeg (16-bit PCM); BYTES is the size of the
reply as stored in Redis, shown in the panel's title."""

import argparse
import wave

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def samples(path):
    with wave.open(path, "rb") as f:
        rate = f.getframerate()
        data = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2").astype(np.float64)
        if f.getnchannels() > 1:
            data = data.reshape(-1, f.getnchannels()).mean(axis=1)
    return rate, data / 32768.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("items", nargs="+")
    args = parser.parse_args()
    fig, axes = plt.subplots(len(args.items), 1, figsize=(10, 1.9 * len(args.items)), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, item in zip(axes, args.items):
        name, rest = item.split("=", 1)
        path, size = rest.rsplit(":", 1)
        rate, data = samples(path)
        seconds = len(data) / rate
        nfft = 1024 if rate > 16000 else 512
        with np.errstate(divide="ignore"):  # digital silence: log10(0), drawn as the floor
            ax.specgram(data, NFFT=nfft, Fs=rate, noverlap=nfft // 2, cmap="magma", vmin=-120, vmax=-20)
        ax.set_facecolor("#000004")  # magma's floor: silence, and nothing above a low rate's Nyquist
        ax.set_ylim(0, 11025)
        ax.set_yticks([0, 4000, 8000])
        ax.set_yticklabels(["0", "4k", "8k"])
        kbps = int(size) * 8 / seconds / 1000
        ax.set_title(f"{name}: {int(size):,} bytes, {kbps:.0f} kbit/s, {rate} Hz decoded", fontsize=9, loc="left")
        ax.set_ylabel("Hz", fontsize=8)
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)


if __name__ == "__main__":
    main()
