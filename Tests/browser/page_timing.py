"""Times every page of `intone web` on a big queue: 100,000 results and 10,000 dead letters
(plus 500 agents, an hour of history, heartbeats and a backlog with pending entries).

Each page is fetched `--runs` times (default 50) over one keep-alive connection, after a
few warm-up requests; prints p50, p95 and the slowest, in milliseconds.

    INTONE_BIN=.build/release/intone python Tests/browser/page_timing.py
"""

import argparse
import http.client
import random
import statistics
import sys
import time

from console_fixtures import Keys, RedisServer, Web, publish_heartbeat, record_minute, redis_now_ms

QUEUE = "timing"
CODES = ["unknown_voice", "bad_parameter", "text_too_long", "synthesis_timeout", "missing_field"]
STATUSES = ["ok"] * 70 + ["text_only"] * 15 + ["rate_limited"] * 10 + ["failed"] * 4 + ["expired"]


def fill(client, keys, results, dead):
    random.seed(7)
    wav = b"RIFF" + (36 + 44100).to_bytes(4, "little") + b"WAVEfmt " + bytes.fromhex("10000000010001002256000044ac00000200100064617461") \
        + (44100).to_bytes(4, "little") + bytes(44100)
    pipe = client.pipeline(transaction=False)
    for index in range(results):
        status = random.choice(STATUSES)
        fields = {"job_id": f"reply-{index}", "entry_id": f"1700000000000-{index}", "agent_id": f"agent-{index % 200}",
                  "user_id": f"user-{index % 5000}", "status": status, "attempts": "1", "worker": "vm-1-4242",
                  "elapsed_ms": str(200 + index % 900)}
        if status == "ok":
            fields.update(audio_key=keys.audio(f"reply-{index}"), format="wav", sample_rate="22050",
                          duration_ms=str(1000 + index % 4000), bytes="44144", voice="en-us", content_type="audio/wav")
        elif status == "failed":
            fields.update(error=random.choice(CODES), message="a sentence for people about what went wrong")
        elif status == "text_only":
            fields.update(reason="agent_disabled")
        elif status == "rate_limited":
            fields.update(retry_after_ms="350", limit="user")
        pipe.xadd(keys.results, fields)
        if index % 2000 == 1999:
            pipe.execute()
    pipe.set(keys.audio(f"reply-{results - 1}"), wav, ex=3600)
    pipe.xadd(keys.results, {"job_id": f"reply-{results - 1}", "agent_id": "agent-1", "user_id": "user-1", "status": "ok",
                             "audio_key": keys.audio(f"reply-{results - 1}"), "format": "wav"})
    pipe.execute()
    for index in range(dead):
        pipe.xadd(keys.dead, {"job_id": f"dead-{index}", "agent_id": f"agent-{index % 200}", "user_id": f"user-{index % 5000}",
                              "text": "An agent's reply that could not be spoken. " * 3, "error": CODES[index % len(CODES)],
                              "message": "a sentence for people about what went wrong", "entry_id": f"1700000000000-{index}",
                              "attempts": "1", "failed_at": "1700000000000"})
        if index % 2000 == 1999:
            pipe.execute()
    for index in range(500):
        pipe.hset(keys.agent(f"agent-{index}"), mapping={"tts": "on", "voice": "en-us", "rate": str(150 + index % 100)})
    pipe.execute()
    # A backlog: 3,000 jobs, 256 of them read by a worker and pending.
    for index in range(3000):
        pipe.xadd(keys.jobs, {"agent_id": "agent-1", "user_id": f"user-{index}", "text": "Waiting to be spoken."})
    pipe.execute()
    client.xgroup_create(keys.jobs, "workers", id="0")
    client.xreadgroup("workers", "vm-1-4242", {keys.jobs: ">"}, count=256)
    now_minute = redis_now_ms(client) // 60_000
    for age in range(60):
        record_minute(client, keys, now_minute - age, {"ok": 1400, "text_only": 300, "rate_limited": 200, "failed": 80}, 2_800_000)
    started = int(time.time() * 1000) - 3_600_000
    for worker in range(8):
        publish_heartbeat(client, keys, f"vm-{worker}-4242", f"vm-{worker}", 4242, started, jobs_done=1000 * worker, in_hand=3,
                          job=b"reply-1", job_started_ms=started)


def time_page(connection, path, runs, warmup=3):
    samples = []
    for run in range(warmup + runs):
        start = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}: {body[:200]!r}")
        if run >= warmup:
            samples.append(elapsed)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(round(0.95 * len(samples))) - 1)], samples[-1], len(body)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--dead", type=int, default=10_000)
    arguments = parser.parse_args()

    server = RedisServer()
    web = None
    try:
        keys = Keys(QUEUE)
        started = time.time()
        fill(server.client, keys, arguments.results, arguments.dead)
        print(f"filled in {time.time() - started:.1f} s: {server.client.xlen(keys.results):,} results, "
              f"{server.client.xlen(keys.dead):,} dead letters, {server.client.xlen(keys.jobs):,} jobs "
              f"({server.client.xpending(keys.jobs, 'workers')['pending']} pending), 500 agents, 8 workers", flush=True)
        web = Web(server.url, QUEUE)
        newest_ok = next(entry_id.decode() for entry_id, fields in server.client.xrevrange(keys.results, count=5)
                         if fields[b"status"] == b"ok")
        dead_id = server.client.xrevrange(keys.dead, count=1)[0][0].decode()
        pages = [
            ("overview", "/"),
            ("workers", "/workers"),
            ("results", "/results"),
            ("results, filter status=failed", "/results?status=failed"),
            ("results, filter agent and user", "/results?agent=agent-7&user=user-7"),
            ("results, job id not among the last 1,000", "/results?job=reply-5"),
            ("results, older page", f"/results?before={newest_ok}"),
            ("dead letters", "/dead"),
            ("dead letters, filter code", "/dead?code=unknown_voice"),
            ("one dead letter", f"/dead/{dead_id}"),
            ("agents", "/agents"),
            ("agent edit form", "/agents/edit?agent=agent-1"),
            ("audio (1 s WAV)", f"/audio/{newest_ok}"),
        ]
        connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
        print(f"\n{'page':44} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'bytes':>9}   ({arguments.runs} runs each)")
        worst = 0.0
        for name, path in pages:
            p50, p95, slowest, size = time_page(connection, path, arguments.runs)
            worst = max(worst, p95)
            print(f"{name:44} {p50:8.1f} {p95:8.1f} {slowest:8.1f} {size:9,}", flush=True)
        print(f"\nslowest p95: {worst:.1f} ms ({'under' if worst < 100 else 'OVER'} 100 ms)")
        return 0 if worst < 100 else 1
    finally:
        if web:
            web.stop()
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
