#!/usr/bin/env python3
"""Intone and Sidekiq 6 side by side on the agent-reply workload, measured the same way.

Each job is one reply of about 130 characters (about 7.3 s of speech) from one of 10 agents:

  off      the agents' voice is off: no token taken, nothing rendered; the queue's own cost
  limited  10 users at 1/s burst 1: nearly every reply is refused by the user's bucket
  on       buckets far above the load: every reply is rendered

For every run this script starts a private redis-server on 127.0.0.1 (a free port), fills
the queue with N jobs, then starts the workers (2 processes by default, one per core) and
measures:

  jobs_per_s   N / (last result entry id - first job taken). "First job taken" is Redis's
               clock (TIME) when the harness, polling every millisecond, first sees the
               queue shrink: the consumer group's entries-read for Intone, the list length
               for Sidekiq. Start-up is not counted; the first fetch and everything after is.
  first_to_last_jobs_per_s   (N - 1) / (last result id - first result id): an extra, labelled
               as such; it flatters a worker that holds results back until its batch is done.
  Redis        INFO cpu (user + sys) and INFO commandstats between the first job taken and
               the last result, per job; the harness's own commands are taken out of the
               commandstats figures (not out of INFO cpu: it polls every 10 ms meanwhile).
  workers      CPU (user + sys, children included) and RSS of each worker's whole process
               tree (its session: Intone's synthesizers, Sidekiq's espeak-ng children).

`on` also runs the espeak-ng ceiling (bench/peers/espeak_ceiling.c, two processes side by
side, summed) before and after every `on` run, and reports jobs/s as a share of the mean.

Prints one JSON object a line (also to --json FILE) and a side-by-side table at the end.
Needs redis (pip) in the Python that runs it: bench/peers/run.sh sets everything up."""

import argparse
import collections
import ctypes
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REPLY = ("Hello there. Your order has shipped and will arrive on Thursday, the twenty-seventh. "
         "Is there anything else I can help you with today?")
WORKLOADS = ("off", "limited", "on")
UNLIMITED = (1_000_000, 1_000_000)
LIMITED_USER = (1, 1)
CONTAINERS = ("exec", "eval", "evalsha", "fcall")
TICKS = os.sysconf("SC_CLK_TCK")


LIBC = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def own_session_dying_with_us():
    """In the child before exec: a session of its own (so its whole tree can be found and
    stopped), and SIGKILL should this harness die without cleaning up (kill -9): a worker
    whose Redis went away with the harness need not get the chance to wait for it."""
    os.setsid()
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class PrivateRedis:
    """redis-server on a free port of 127.0.0.1, nothing saved, in a folder of its own."""

    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="intone-peers-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.folder, "--logfile", os.path.join(self.folder, "redis.log")],
            stdout=subprocess.DEVNULL, preexec_fn=own_session_dying_with_us)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise SystemExit(f"redis-server did not start; see {self.folder}/redis.log")
                time.sleep(0.02)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


class Probe:
    """The harness's own commands, counted so that they can be taken out of commandstats."""

    def __init__(self, client):
        self.client = client
        self.counts = collections.Counter()

    def call(self, stat_name, *args):
        self.counts[stat_name] += 1
        return self.client.execute_command(*args)

    def redis_ms(self):
        seconds, micros = self.call("time", "TIME")
        return int(seconds) * 1000 + int(micros) // 1000

    def cpu_seconds(self):
        info = self.call("info", "INFO", "cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def command_stats(self):
        info = self.call("info", "INFO", "commandstats")
        stats = {}
        for key, value in info.items():
            name = key[len("cmdstat_"):] if key.startswith("cmdstat_") else key
            stats[name] = (int(value["calls"]), int(value["usec"]))
        return stats


def command_stats_between(before, after, harness_calls, jobs):
    """Per-job calls and microseconds by command, without the harness's own calls (their
    share of a command's time is taken out in proportion to calls)."""
    by_command = {}
    for name, (calls, usec) in after.items():
        calls0, usec0 = before.get(name, (0, 0))
        calls, usec = calls - calls0, usec - usec0
        own = min(harness_calls.get(name, 0), calls)
        if calls <= 0:
            continue
        kept_usec = usec * (calls - own) / calls
        if calls - own > 0:
            by_command[name] = {"calls_per_job": round((calls - own) / jobs, 4),
                                "us_per_job": round(kept_usec / jobs, 4)}
    return dict(sorted(by_command.items(), key=lambda item: -item[1]["us_per_job"]))


def process_tree(sessions):
    """Every process whose session is one of `sessions` (each worker started its own)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = stat_fields(int(entry))
        if fields and int(fields[3]) in sessions:
            pids.append(int(entry))
    return pids


def stat_fields(pid):
    """/proc/PID/stat after the command name: state [0], ppid [1], pgrp [2], session [3],
    utime [11], stime [12], cutime [13], cstime [14]."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def tree_rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def tree_cpu_seconds(pids):
    """User + system time of the processes and of their children already waited for."""
    total = 0
    for pid in pids:
        fields = stat_fields(pid)
        if fields:
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return total / TICKS


def jobs_of(n, workload):
    users = 10 if workload == "limited" else 1000
    return [(f"j{i}", f"a{i % 10}", f"u{i % users}") for i in range(n)]


def resp(*words):
    out = b"*%d\r\n" % len(words)
    for word in words:
        data = word if isinstance(word, bytes) else str(word).encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


class Intone:
    name = "intone"
    jobs_key = "intone:{tts}:jobs"
    results_key = "intone:{tts}:results"

    def __init__(self, args):
        self.executable = os.path.abspath(args.intone)
        if not os.access(self.executable, os.X_OK):
            raise SystemExit(f"{self.executable} is missing: swift build -c release")

    def version(self):
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        return f"git {commit.stdout.strip() or '?'}"

    def fill(self, server, workload, jobs):
        client = server.client
        if workload == "off":
            for agent in range(10):
                client.hset(f"intone:{{tts}}:agent:a{agent}", "tts", "off")
        # The producer must not be what bounds the run: the whole backlog goes in before
        # the workers start, as one redis-cli --pipe.
        data = b"".join(resp("XADD", self.jobs_key, "*", "job_id", j, "agent_id", a, "user_id", u, "text", REPLY)
                        for j, a, u in jobs)
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(server.port), "--pipe"], input=data, check=True,
                       capture_output=True)
        client.xgroup_create(self.jobs_key, "workers", id="0")

    def start(self, server, workload, jobs, args, logs):
        user = "%d/s burst %d" % (LIMITED_USER if workload == "limited" else UNLIMITED)
        agent = "%d/s burst %d" % UNLIMITED
        workers = []
        for index in range(args.procs):
            command = [self.executable, "work", "--redis", server.url, "--queue", "tts", "--consumer", f"peer-{index}",
                       "--agent-rate", agent, "--user-rate", user, "--metrics-port", "0", "--log-level", "error",
                       "--results-maxlen", str(max(100_000, jobs))]
            workers.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=logs,
                                            preexec_fn=own_session_dying_with_us))
        return workers

    def leftovers(self, client):
        """Jobs still pending in the group once every result is in: must be 0."""
        return {"held_at_end": int(client.xpending(self.jobs_key, "workers")["pending"])}

    def taken(self, probe, jobs):
        for group in probe.call("xinfo|groups", "XINFO", "GROUPS", self.jobs_key):
            if isinstance(group, dict):
                return int(group.get("entries-read") or 0)
            fields = dict(zip(group[::2], group[1::2]))
            return int(fields.get("entries-read") or 0)
        return 0


class Sidekiq:
    name = "sidekiq"
    queue_key = "queue:default"
    results_key = "peer:results"

    def __init__(self, args):
        self.fetch = args.sidekiq_fetch
        self.concurrency = args.sidekiq_concurrency
        self.worker = os.path.join(HERE, "sidekiq_worker.rb")
        if shutil.which("sidekiq") is None:
            raise SystemExit("sidekiq is missing: bash bench/peers/setup.sh")

    def version(self):
        out = subprocess.run(["sidekiq", "--version"], capture_output=True, text=True).stdout.strip()
        return f"{out} ({self.fetch} fetch, {self.concurrency} threads a process)"

    def environment(self, server, workload, jobs):
        user = LIMITED_USER if workload == "limited" else UNLIMITED
        return dict(os.environ, PEER_REDIS_URL=server.url, PEER_FETCH=self.fetch,
                    PEER_AGENT_RATE="%d,%d" % UNLIMITED, PEER_USER_RATE="%d,%d" % user,
                    PEER_RESULTS_MAXLEN=str(max(100_000, jobs)))

    def fill(self, server, workload, jobs):
        if workload == "off":
            for agent in range(10):
                server.client.hset(f"peer:agent:a{agent}", "tts", "off")
        # Sidekiq's own client (push_bulk), so the payloads are exactly Sidekiq's.
        lines = "".join(f"{j}\t{a}\t{u}\t{REPLY}\n" for j, a, u in jobs).encode()
        subprocess.run(["ruby", self.worker, "enqueue"], input=lines, check=True,
                       env=self.environment(server, workload, len(jobs)))
        queued = server.client.llen(self.queue_key)
        if queued != len(jobs):
            raise SystemExit(f"sidekiq: {queued} of {len(jobs)} jobs enqueued")

    def start(self, server, workload, jobs, args, logs):
        environment = self.environment(server, workload, jobs)
        command = ["sidekiq", "-r", self.worker, "-c", str(self.concurrency), "-q", "default"]
        return [subprocess.Popen(command, cwd=HERE, env=environment, stdout=subprocess.DEVNULL, stderr=logs,
                                 preexec_fn=own_session_dying_with_us) for _ in range(args.procs)]

    def taken(self, probe, jobs):
        return jobs - int(probe.call("llen", "LLEN", self.queue_key))

    def leftovers(self, client):
        """Jobs still held (taken, never acknowledged) once every result is in: must be 0."""
        return {"held_at_end": sum(client.llen(key) for key in client.scan_iter("peer:holding:*"))}


def stop(workers):
    for worker in workers:
        try:
            os.killpg(worker.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 30
    for worker in workers:
        try:
            worker.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for worker in workers:
        # The whole session: espeak-ng children or synthesizers left behind go too.
        for pid in process_tree({worker.pid}):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def espeak_ceiling(path, renders):
    """Two ceiling processes started together; their rates summed."""
    processes = [subprocess.Popen([path, str(renders)], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    rates = []
    for process in processes:
        out, _ = process.communicate(timeout=600)
        if process.returncode != 0:
            raise SystemExit(f"{path} failed ({process.returncode})")
        rates.append(json.loads(out)["jobs_per_s"])
    return {"renders_each": renders, "jobs_per_s_each": rates, "jobs_per_s": round(sum(rates), 2)}


def statuses(client, key, total):
    counts = collections.Counter()
    start = "-"
    seen = 0
    while seen < min(total, 200_000):
        page = client.xrange(key, min=start, count=10_000)
        if not page:
            break
        for entry_id, fields in page:
            counts[fields.get("status", "?")] += 1
        seen += len(page)
        start = "(" + page[-1][0]
    return dict(counts)


def ms_of(entry_id):
    return int(entry_id.split("-")[0])


def run(system, workload, jobs, args):
    server = PrivateRedis()
    workers = []
    logs = tempfile.TemporaryFile()
    try:
        log(f"{system.name} {workload}: enqueuing {jobs} jobs")
        system.fill(server, workload, jobs_of(jobs, workload))
        probe = Probe(redis.Redis(host="127.0.0.1", port=server.port, decode_responses=True))
        probe.call("config|resetstat", "CONFIG", "RESETSTAT")
        started = time.monotonic()
        workers = system.start(server, workload, jobs, args, logs)
        sessions = {worker.pid for worker in workers}

        def check(what):
            if time.monotonic() - started > args.timeout:
                raise SystemExit(f"{system.name} {workload}: {what} after {args.timeout} s")
            if all(worker.poll() is not None for worker in workers):
                logs.seek(0)
                raise SystemExit(f"{system.name} {workload}: every worker exited; {what}\n"
                                 + logs.read().decode(errors="replace")[-3000:])

        # First job taken, on Redis's clock: poll every millisecond.
        while system.taken(probe, jobs) == 0:
            check("no job taken")
            time.sleep(0.001)
        taken_ms = probe.redis_ms()
        cpu_before = probe.cpu_seconds()
        tree = process_tree(sessions)
        worker_cpu_before = tree_cpu_seconds(tree)
        probe.counts.clear()
        stats_before = probe.command_stats()
        log(f"{system.name} {workload}: first job taken; {len(workers)} workers, {len(tree)} processes")

        rss_peak = 0
        next_rss = 0.0
        while int(probe.call("xlen", "XLEN", system.results_key)) < jobs:
            check(f"{probe.client.xlen(system.results_key)} of {jobs} results")
            if time.monotonic() >= next_rss:
                rss_peak = max(rss_peak, tree_rss_kb(process_tree(sessions)))
                next_rss = time.monotonic() + 0.5
            time.sleep(0.01)
        cpu_after = probe.cpu_seconds()
        harness_calls = dict(probe.counts)
        stats_after = probe.command_stats()
        tree = process_tree(sessions)
        worker_cpu = tree_cpu_seconds(tree) - worker_cpu_before
        rss_end = tree_rss_kb(tree)
        rss_peak = max(rss_peak, rss_end)

        client = server.client
        first = client.xrange(system.results_key, count=1)[0][0]
        last = client.xrevrange(system.results_key, count=1)[0][0]
        span_ms = max(1, ms_of(last) - taken_ms)
        commands = command_stats_between(stats_before, stats_after, harness_calls, jobs)
        counted = {name: c for name, c in commands.items() if name not in CONTAINERS}
        row = {
            "bench": "peers", "system": system.name, "version": system.version(), "workload": workload,
            "jobs": jobs, "procs": args.procs,
            "jobs_per_s": round(jobs / span_ms * 1000, 1), "span_ms": span_ms,
            "first_to_last_jobs_per_s": round((jobs - 1) / max(1, ms_of(last) - ms_of(first)) * 1000, 1),
            "first_result_after_ms": ms_of(first) - taken_ms,
            "redis_cpu_us_per_job": round((cpu_after - cpu_before) * 1e6 / jobs, 2),
            "redis_commandstats_us_per_job": round(sum(c["us_per_job"] for c in commands.values()), 2),
            "redis_commandstats_us_per_job_once": round(sum(c["us_per_job"] for c in counted.values()), 2),
            "redis_calls_per_job": round(sum(c["calls_per_job"] for c in commands.values()), 2),
            "redis_commands": commands,
            "worker_cpu_us_per_job": round(worker_cpu * 1e6 / jobs, 1),
            "rss_kb_end": rss_end, "rss_kb_peak": rss_peak,
            "statuses": statuses(client, system.results_key, jobs),
        }
        row.update(system.leftovers(client))
        return row
    finally:
        stop(workers)
        server.stop()
        logs.close()


def host():
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    return {"cores": os.cpu_count(), "load_avg": [float(x) for x in load], "host": socket.gethostname()}


def expected(row):
    """What the workload must give; a run that does not is reported, not hidden."""
    s = row["statuses"]
    done = sum(s.values())
    if row["workload"] == "off" and s.get("text_only", 0) != done:
        return "expected every result text_only"
    if row["workload"] == "on" and s.get("ok", 0) != done:
        return "expected every result ok"
    if row["workload"] == "limited" and s.get("rate_limited", 0) < done // 2:
        return "expected most results rate_limited"
    if row.get("held_at_end"):
        return f"{row['held_at_end']} jobs taken and never acknowledged"
    return None


def table(rows):
    """The side-by-side table: one line per workload."""
    by = {(r["system"], r["workload"]): r for r in rows}
    systems = [s for s in ("intone", "sidekiq") if any(r["system"] == s for r in rows)]
    header = ["workload"]
    for s in systems:
        header += [f"{s} jobs", f"{s} jobs/s", f"{s} Redis CPU µs/job", f"{s} Redis calls/job", f"{s} RSS KiB"]
    if len(systems) == 2:
        header.append("ratio")
    lines = []
    for workload in WORKLOADS:
        if not any((s, workload) in by for s in systems):
            continue
        cells = [workload]
        for s in systems:
            r = by.get((s, workload))
            cells += ["-"] * 5 if r is None else [
                f"{r['jobs']:,}", f"{r['jobs_per_s']:,.1f}", f"{r['redis_cpu_us_per_job']:.2f}",
                f"{r['redis_calls_per_job']:.2f}", f"{r['rss_kb_peak']:,}"]
        if len(systems) == 2:
            a, b = by.get((systems[0], workload)), by.get((systems[1], workload))
            cells.append(f"{a['jobs_per_s'] / b['jobs_per_s']:.1f}x" if a and b and b["jobs_per_s"] else "-")
        lines.append(cells)
    out = render(header, lines)
    extras = []
    for r in rows:
        extra = f"{r['system']} {r['workload']}: first result to last {r['first_to_last_jobs_per_s']:,.1f} jobs/s (extra)"
        if "ceiling" in r:
            c = r["ceiling"]
            extra += (f"; espeak-ng ceiling (2 processes) {c['before']['jobs_per_s']:.1f} before, "
                      f"{c['after']['jobs_per_s']:.1f} after: {c['share'] * 100:.1f}% of the mean")
        if r.get("problem"):
            extra += f"; PROBLEM: {r['problem']} {r['statuses']}"
        extras.append(extra)
    return out + "\n" + "\n".join(extras)


def render(header, lines):
    widths = [max(len(str(row[i])) for row in [header] + lines) for i in range(len(header))]
    text = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip(),
            "  ".join("-" * w for w in widths)]
    text += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in lines]
    return "\n".join(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", default="intone,sidekiq", help="comma-separated: intone, sidekiq")
    parser.add_argument("--workloads", default="off,limited,on", help="comma-separated: off, limited, on")
    parser.add_argument("--jobs", type=int, help="jobs for off and limited, both systems (default: Intone 100000, "
                        "Sidekiq 20000: each run lasts a few seconds)")
    parser.add_argument("--on-jobs", type=int, help="jobs for on, both systems (default: Intone 3000, Sidekiq 1000)")
    parser.add_argument("--procs", type=int, default=2, help="worker processes each (default 2, one per core)")
    parser.add_argument("--intone", default=os.path.join(ROOT, ".build/release/intone"))
    parser.add_argument("--sidekiq-fetch", choices=["acked", "basic"], default="acked")
    parser.add_argument("--sidekiq-concurrency", type=int, default=5, help="threads per Sidekiq process (default 5)")
    parser.add_argument("--ceiling", help="the built espeak_ceiling.c (needed for on)")
    parser.add_argument("--ceiling-renders", type=int, default=300, help="renders per ceiling process (default 300)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a run may take (default 600)")
    parser.add_argument("--label", default="", help="a note stored with every row (e.g. smoke)")
    parser.add_argument("--json", help="also append the rows to this file, one JSON object a line")
    args = parser.parse_args()

    kinds = {"intone": Intone, "sidekiq": Sidekiq}
    systems = [kinds[name](args) for name in args.systems.split(",")]
    workloads = args.workloads.split(",")
    for workload in workloads:
        if workload not in WORKLOADS:
            raise SystemExit(f"unknown workload {workload} (off, limited, on)")
    if "on" in workloads and not args.ceiling:
        raise SystemExit("--ceiling PATH is needed for on (cc -O2 -o PATH bench/peers/espeak_ceiling.c -lespeak-ng)")
    # SIGTERM (a CI timeout) unwinds like Ctrl-C, so every process started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    rows = []
    output = open(args.json, "a") if args.json else None
    defaults = {("intone", False): 100_000, ("sidekiq", False): 20_000, ("intone", True): 3_000, ("sidekiq", True): 1_000}
    for workload in workloads:
        on = workload == "on"
        ceiling = espeak_ceiling(args.ceiling, args.ceiling_renders) if workload == "on" else None
        if ceiling:
            log(f"espeak-ng ceiling: {ceiling['jobs_per_s']} jobs/s")
        for system in systems:
            jobs = (args.on_jobs if on else args.jobs) or defaults[(system.name, on)]
            row = run(system, workload, jobs, args)
            # When the run ended, and the machine's load then (1-minute average first).
            row.update(time=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), host=host(),
                       label=args.label)
            if ceiling:
                after = espeak_ceiling(args.ceiling, args.ceiling_renders)
                log(f"espeak-ng ceiling: {after['jobs_per_s']} jobs/s")
                mean = (ceiling["jobs_per_s"] + after["jobs_per_s"]) / 2
                row["ceiling"] = {"before": ceiling, "after": after, "mean_jobs_per_s": round(mean, 2),
                                  "share": round(row["jobs_per_s"] / mean, 4)}
                ceiling = after
            row["problem"] = expected(row)
            rows.append(row)
            line = json.dumps(row)
            print(line, flush=True)
            if output:
                output.write(line + "\n")
                output.flush()
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
