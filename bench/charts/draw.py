#!/usr/bin/env python3
"""Charts from the benchmark's JSON lines (bench/peers/peers.py --json and
intone bench --json), written as PNGs:

  bench-throughput.png     jobs/s per workload, Intone and Sidekiq side by side (log scale),
                           with the espeak-ng two-core ceiling over `on`
  bench-latency.png        elapsed_ms (and first_chunk_ms) as distributions: at half load,
                           and in a burst of long replies on one worker
  bench-redis-cpu.png      Redis CPU per job by command (INFO commandstats, each command
                           once), with INFO cpu's total marked
  bench-format-memory.png  Redis memory per reply for each audio format (when measured)

usage: draw.py FILE.jsonl… [--out docs/images]
Rows of the same kind from several files: the last one wins."""

import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WORKLOADS = ("off", "limited", "on")
SERIES = (  # (bench, system, label, colour)
    ("peers", "intone", "Intone", "#2b6cb0"),
    ("intone", "intone", "Intone (intone bench)", "#90cdf4"),
    ("peers", "sidekiq", "Sidekiq 6", "#c53030"),
)


def load(paths):
    rows = []
    for path in paths:
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def pick(rows, bench, system, workload, **extra):
    # A row run in another audio format (`on` per format) is only picked when asked for.
    extra.setdefault("format", None)
    found = [r for r in rows if r.get("bench") == bench and r.get("system") == system and r.get("workload") == workload
             and all(r.get(k) == v for k, v in extra.items())]
    return found[-1] if found else None


def subtitle(rows):
    labels = sorted({r.get("label") for r in rows if r.get("label")})
    times = sorted(r["time"] for r in rows if r.get("time"))
    cores = {r["host"]["cores"] for r in rows if r.get("host")}
    text = f"{times[0][:16]}–{times[-1][11:16]} UTC" if times else ""
    if cores:
        text += f", {'/'.join(map(str, sorted(cores)))} cores"
    if "smoke" in labels:
        text = "SMOKE RUN: small N on a shared machine; the figures mean nothing.\n" + text
    elif labels:
        text += " (" + ", ".join(labels) + ")"
    return text


def throughput(rows, out):
    series = [(b, s, name, colour) for b, s, name, colour in SERIES if any(pick(rows, b, s, w) for w in WORKLOADS)]
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(9, 5.2))
    width = 0.8 / len(series)
    for i, (bench, system, name, colour) in enumerate(series):
        xs, ys = [], []
        for w, workload in enumerate(WORKLOADS):
            row = pick(rows, bench, system, workload)
            if row:
                xs.append(w + (i - (len(series) - 1) / 2) * width)
                ys.append(row["jobs_per_s"])
        bars = ax.bar(xs, ys, width * 0.95, label=name, color=colour)
        ax.bar_label(bars, labels=[f"{y:,.0f}" for y in ys], fontsize=8, padding=2)
    ceilings = [r["ceiling"]["mean_jobs_per_s"] for r in rows if r.get("workload") == "on" and r.get("ceiling")]
    if ceilings:
        mean = sum(ceilings) / len(ceilings)
        w = WORKLOADS.index("on")
        ax.hlines(mean, w - 0.45, w + 0.45, colors="black", linestyles="dashed")
        ax.text(w, mean * 1.12, f"espeak-ng alone, 2 processes: {mean:,.0f}/s", ha="center", fontsize=8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(WORKLOADS)), ["off\n(voice off)", "limited\n(10 users at 1/s)", "on\n(every reply rendered)"])
    ax.set_ylabel("jobs/s (log scale)")
    ax.set_title("Jobs per second, first job taken to last result (Redis clock), 2 worker processes each\n" + subtitle(rows),
                 fontsize=10)
    ax.legend(loc="upper right", fontsize=9)
    ax.grid(axis="y", which="both", alpha=0.3)
    return save(fig, out, "bench-throughput.png")


def curve(ax, dist, label, style="-"):
    if dist and dist.get("percentiles"):
        values = dist["percentiles"]
        ax.plot(values, range(len(values)), style, label=f"{label}: p50 {dist['p50']:g}, p99 {dist['p99']:g} ms")


def latency(rows, out):
    bursts = [pick(rows, "intone", "intone", w) for w in ("burst", "burst_streamed")]
    halves = [(w, pick(rows, "intone", "intone", w)) for w in WORKLOADS]
    if not any(bursts) and not any(r and r.get("half_load") for _, r in halves):
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    for workload, row in halves:
        if row and row.get("half_load"):
            h = row["half_load"]
            curve(left, h["elapsed_ms"], f"{workload} at {h['jobs_per_s']:,.0f}/s, elapsed")
        if row and row.get("half_load_streamed"):
            h = row["half_load_streamed"]
            curve(left, h["elapsed_ms"], f"{workload} streamed, elapsed", "--")
            curve(left, h.get("first_chunk_ms"), f"{workload} streamed, first chunk", ":")
    left.set_xscale("log")
    left.set_title("At half the measured maximum (about 5 s of jobs)", fontsize=10)
    for row in bursts:
        if not row:
            continue
        kind = "streamed" if row["streamed"] else "whole replies"
        curve(right, row["elapsed_ms"], f"{kind}, elapsed", "--" if row["streamed"] else "-")
        if row["streamed"]:
            curve(right, row.get("first_chunk_ms"), "streamed, first chunk", ":")
    burst = next((r for r in bursts if r), None)
    if burst:
        right.set_title(f"Burst: {burst['jobs']} replies of {burst['audio_s_mean']:.1f} s at once, one worker "
                        f"({burst['synthesizers']} synthesizers)", fontsize=10)
    for ax in (left, right):
        ax.set_xlabel("milliseconds from the job's entry id")
        ax.set_ylabel("percentile")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3, which="both")
        if ax.lines:
            ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("Intone: elapsed_ms and first_chunk_ms\n" + subtitle(rows), fontsize=10)
    return save(fig, out, "bench-latency.png")


def redis_cpu(rows, out):
    panels = []
    for workload in WORKLOADS:
        bars = [(name, r) for b, s, name, _ in SERIES if (r := pick(rows, b, s, workload)) and r.get("redis_commands")]
        if bars:
            panels.append((workload, bars))
    if not panels:
        return None
    containers = {"exec", "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"}
    totals = {}
    for _, bars in panels:
        for _, r in bars:
            for name, c in r["redis_commands"].items():
                if name not in containers:
                    totals[name] = max(totals.get(name, 0), c["us_per_job"] / max(r["redis_cpu_us_per_job"], 0.01))
    shown = [name for name, _ in sorted(totals.items(), key=lambda kv: -kv[1])[:9]]
    colours = dict(zip(shown + ["other"], plt.get_cmap("tab10").colors))
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 1.9 * sum(len(b) for _, b in panels) / 2 + 1.6), squeeze=False)
    for ax, (workload, bars) in zip(axes[:, 0], panels):
        for y, (name, r) in enumerate(bars):
            left = 0.0
            commands = {k: v["us_per_job"] for k, v in r["redis_commands"].items() if k not in containers}
            parts = [(k, commands.get(k, 0)) for k in shown] + [("other", sum(v for k, v in commands.items() if k not in shown))]
            for command, value in parts:
                if value > 0:
                    ax.barh(y, value, left=left, color=colours[command], label=command)
                    left += value
            ax.plot([r["redis_cpu_us_per_job"]], [y], "kD", markersize=6, label="INFO cpu (all of Redis)")
            ax.text(max(left, r["redis_cpu_us_per_job"]) * 1.01, y,
                    f" {left:.1f} in commands, {r['redis_cpu_us_per_job']:.1f} in all", va="center", fontsize=8)
        ax.set_yticks(range(len(bars)), [name for name, _ in bars])
        ax.set_title(f"{workload}: Redis µs per job", fontsize=9, loc="left")
        ax.set_xlim(0, max(max(r["redis_cpu_us_per_job"], r["redis_commandstats_us_per_job_once"]) for _, r in bars) * 1.45)
        ax.grid(axis="x", alpha=0.3)
    handles, labels = [], []
    for ax in axes[:, 0]:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=8)
    fig.suptitle("Redis CPU per job by command (INFO commandstats; EXEC and scripts shown as the commands they run)\n"
                 + subtitle(rows), fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    return save(fig, out, "bench-redis-cpu.png", tight=False)


def format_memory(rows, out):
    formats = [r for r in rows if r.get("bench") == "intone" and r.get("workload") == "format"]
    if not formats:
        return None
    latest = {}
    for r in formats:
        latest[(r["format"], r["streamed"])] = r
    items = list(latest.values())
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(items) + 1.8))
    labels = [f"{r['format']}{' streamed' if r['streamed'] else ''} ({r['content_type'] or '?'})" for r in items]
    values = [r["redis_memory_bytes_per_reply"] / 1024 for r in items]
    bars = ax.barh(range(len(items)), values, color=["#dd6b20" if r["streamed"] else "#2b6cb0" for r in items])
    ax.bar_label(bars, labels=[f"{v:,.0f} KiB (result bytes {r['bytes_mean'] / 1024:,.0f} KiB)" for v, r in zip(values, items)],
                 fontsize=8, padding=3)
    ax.set_yticks(range(len(items)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max(values + [1]) * 1.5)
    ax.set_xlabel("Redis used_memory per reply, KiB (audio, result, done marker)")
    ax.set_title("Redis memory per reply by audio format\n" + subtitle(formats), fontsize=10)
    return save(fig, out, "bench-format-memory.png")


def save(fig, out, name, tight=True):
    path = os.path.join(out, name)
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../docs/images"))
    args = parser.parse_args()
    rows = load(args.files)
    os.makedirs(args.out, exist_ok=True)
    written = [p for p in (throughput(rows, args.out), latency(rows, args.out), redis_cpu(rows, args.out),
                           format_memory(rows, args.out)) if p]
    for path in written:
        print(os.path.normpath(path))
    if not written:
        sys.exit("no rows to draw")


if __name__ == "__main__":
    main()
