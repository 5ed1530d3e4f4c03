"""A private redis-server, a real `intone web`, and the data the console shows.

Shared by the browser tests (conftest.py) and the page timing script (page_timing.py).
Keys follow docs/contract.md; heartbeats and per-minute history are written here the
way the IntoneCore helpers write them, so that the pages have data without a worker.
"""

import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.request

import redis

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def intone_binary():
    path = os.environ.get("INTONE_BIN") or os.path.join(REPO, ".build", "debug", "intone")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is not built: run `swift build` (or set INTONE_BIN)")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """redis-server on a Unix socket in a temporary folder, stopped by stop()."""

    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="intone-browser-")
        self.socket = os.path.join(self.folder, "redis.sock")
        self.process = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.socket, "--unixsocketperm", "700", "--save", "",
             "--appendonly", "no", "--dir", self.folder, "--logfile", os.path.join(self.folder, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = "unix://" + self.socket
        self.client = redis.Redis(unix_socket_path=self.socket)
        deadline = time.time() + 10
        while True:
            try:
                self.client.ping()
                break
            except (redis.ConnectionError, FileNotFoundError):
                if time.time() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)


class Web:
    """`intone web` on a free loopback port; stop() sends SIGTERM."""

    def __init__(self, redis_url, queue, extra=(), env=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="intone-web-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            [intone_binary(), "web", "--redis", redis_url, "--queue", queue, "--listen", f"127.0.0.1:{self.port}", *extra],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        wait_for_http(self.base + "/healthz", self.process)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(15)


def wait_for_http(url, process, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


class Keys:
    def __init__(self, queue):
        self.prefix = "intone:{%s}:" % queue
        self.jobs = self.prefix + "jobs"
        self.results = self.prefix + "results"
        self.dead = self.prefix + "dead"
        self.stats = self.prefix + "stats"
        self.workers = self.prefix + "workers"

    def audio(self, job_id):
        return self.prefix + "audio:" + job_id

    def agent(self, agent_id):
        return self.prefix + "agent:" + agent_id

    def worker(self, consumer):
        return self.prefix + "worker:" + consumer

    def minute(self, minute):
        return self.prefix + f"minute:{minute}"


def redis_now_ms(client):
    seconds, micros = client.time()
    return seconds * 1000 + micros // 1000


def record_minute(client, keys, minute, counts, audio_ms):
    """What QueueHistory.appendRecord sends with a write-back."""
    pipe = client.pipeline(transaction=True)
    for status, count in counts.items():
        if count > 0:
            pipe.hincrby(keys.minute(minute), status, count)
    if audio_ms > 0:
        pipe.hincrby(keys.minute(minute), "audio_ms", audio_ms)
    pipe.expire(keys.minute(minute), 7200)
    pipe.execute()


def publish_heartbeat(client, keys, consumer, host, pid, started_ms, jobs_done=0, in_hand=0, job=b"", job_started_ms=0):
    """What WorkerHeartbeat.appendPublish sends, every 3 s."""
    now = int(time.time() * 1000)
    pipe = client.pipeline(transaction=True)
    pipe.hset(keys.worker(consumer), mapping={
        "consumer": consumer, "host": host, "pid": pid, "version": "1.1.0", "started_at": started_ms, "updated_at": now,
        "jobs_done": jobs_done, "in_hand": in_hand, "job": job, "job_started_at": job_started_ms})
    pipe.pexpire(keys.worker(consumer), 10_000)
    pipe.zadd(keys.workers, {consumer: now})
    pipe.zremrangebyscore(keys.workers, "-inf", f"({now - 60_000}")
    pipe.pexpire(keys.workers, 60_000)
    pipe.execute()


class Heartbeats(threading.Thread):
    """Simulated live workers, refreshed every 3 s until stopped (or dropped one by one)."""

    def __init__(self, client, keys, workers):
        super().__init__(daemon=True)
        self.client, self.keys, self.workers = client, keys, dict(workers)
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def drop(self, consumer):
        with self.lock:
            self.workers.pop(consumer, None)

    def add(self, consumer, fields):
        with self.lock:
            self.workers[consumer] = fields
        publish_heartbeat(self.client, self.keys, consumer, **fields)

    def run(self):
        while not self.stopped.is_set():
            with self.lock:
                workers = list(self.workers.items())
            for consumer, fields in workers:
                fields = dict(fields)
                fields["jobs_done"] = fields.get("jobs_done", 0) + int(time.time()) % 7
                publish_heartbeat(self.client, self.keys, consumer, **fields)
            self.stopped.wait(3)


def ulaw_encode(samples):
    """G.711 μ-law of 16-bit samples (the classic segment encoder)."""
    out = bytearray()
    for sample in samples:
        sign = 0x80 if sample < 0 else 0
        magnitude = min(abs(sample), 32635) + 0x84
        exponent = 7
        mask = 0x4000
        while exponent > 0 and not magnitude & mask:
            exponent -= 1
            mask >>= 1
        mantissa = (magnitude >> (exponent + 3)) & 0x0F
        out.append(~(sign | (exponent << 4) | mantissa) & 0xFF)
    return bytes(out)


def tone(rate, seconds, frequency=440.0):
    return [int(6000 * math.sin(2 * math.pi * frequency * i / rate)) for i in range(int(rate * seconds))]


def run_worker(server, queue, expected_results, seconds=60):
    """Runs the real `intone work` until `expected_results` results are written, then SIGTERM."""
    process = subprocess.Popen(
        [intone_binary(), "work", "--redis", server.url, "--queue", queue, "--synthesizers", "1", "--block-ms", "200",
         "--metrics-port", "0", "--consumer", "browser-test-worker", "--user-rate", "100/s burst 100"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    keys = Keys(queue)
    deadline = time.time() + seconds
    try:
        while server.client.xlen(keys.results) < expected_results:
            if time.time() > deadline:
                raise RuntimeError(f"the worker wrote {server.client.xlen(keys.results)} of {expected_results} results")
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


XSS = "<script>alert('xss')</script><img src=x onerror=alert('img')>"


def seed(server, queue):
    """Real results from a real worker, then crafted results, dead letters, agents,
    history and heartbeats. Returns a dict of ids the tests look for."""
    client = server.client
    keys = Keys(queue)
    client.hset(keys.agent("support-bot"), mapping={"tts": "on", "voice": "en-us", "rate": "185"})
    client.hset(keys.agent("quiet-bot"), mapping={"tts": "off"})
    client.hset(keys.agent("digest-bot"), mapping={"tts": "keywords", "keywords": "read aloud,speak"})
    jobs = [
        {"job_id": "reply-hello", "agent_id": "support-bot", "user_id": "u-17", "text": "Your order has shipped. It arrives on Monday."},
        {"job_id": "reply-quiet", "agent_id": "quiet-bot", "user_id": "u-18", "text": "This one stays text."},
        {"job_id": "reply-keyword", "agent_id": "digest-bot", "user_id": "u-19", "text": "Nothing to read.", "prompt": "summarise"},
        {"job_id": "reply-bad-voice", "agent_id": "support-bot", "user_id": "u-20", "text": "Hello " + XSS, "voice": "xx-nope"},
        {"job_id": "reply-bad-rate", "agent_id": "support-bot", "user_id": "u-21", "text": "Too fast.", "rate": "9000"},
        {"job_id": "reply-retry-me", "agent_id": "support-bot", "user_id": "u-22", "text": "Retry me.", "voice": "xx-none"},
        {"job_id": "reply-delete-me", "agent_id": "support-bot", "user_id": "u-23", "text": "Delete me.", "pitch": "500"},
        {"job_id": XSS, "agent_id": "support-bot", "user_id": "u-24", "text": "A job id with markup."},
    ]
    for job in jobs:
        client.xadd(keys.jobs, job)
    run_worker(server, queue, len(jobs))

    wav = client.get(keys.audio("reply-hello"))
    assert wav and wav[:4] == b"RIFF", "the worker rendered reply-hello"
    data_at = wav.find(b"data") + 8
    pcm = wav[data_at:]

    def result(job_id, **fields):
        return client.xadd(keys.results, {"job_id": job_id, "entry_id": "0-1", "agent_id": "support-bot", "user_id": "u-30",
                                          "status": "ok", "attempts": "1", "worker": "crafted", "elapsed_ms": "420",
                                          "audio_key": keys.audio(job_id), **fields}).decode()

    ids = {}
    client.set(keys.audio("crafted-pcm"), pcm, ex=3600)
    ids["pcm"] = result("crafted-pcm", format="pcm_22050", content_type="audio/pcm;rate=22050", sample_rate="22050",
                        duration_ms=str(len(pcm) * 1000 // 44100), bytes=str(len(pcm)))
    ulaw = ulaw_encode(tone(8000, 1.5))
    client.set(keys.audio("crafted-ulaw"), ulaw, ex=3600)
    ids["ulaw"] = result("crafted-ulaw", format="ulaw_8000", content_type="audio/basic", sample_rate="8000", duration_ms="1500",
                         bytes=str(len(ulaw)))
    # A streamed WAV: the first chunk's header has unknown sizes (0xFFFFFFFF).
    header = bytearray(wav[:data_at])
    header[4:8] = b"\xff\xff\xff\xff"
    header[data_at - 4:data_at] = b"\xff\xff\xff\xff"
    half = (len(pcm) // 2) & ~1
    stream = keys.audio("crafted-streamed")
    client.xadd(stream, {"seq": "0", "data": bytes(header) + pcm[:half]}, id="0-1")
    client.xadd(stream, {"seq": "1", "data": pcm[half:]}, id="0-2")
    client.xadd(stream, {"seq": "2", "data": b"", "last": "1", "status": "ok"}, id="0-3")
    client.expire(stream, 3600)
    ids["streamed"] = result("crafted-streamed", format="wav", content_type="audio/wav", streamed="1", chunks="3", first_chunk_ms="120")
    ids["hello"] = next(entry_id.decode() for entry_id, fields in client.xrange(keys.results)
                        if fields.get(b"job_id") == b"reply-hello")

    # The last hour, minute by minute, as workers record it with each write-back.
    now_minute = redis_now_ms(client) // 60_000
    for age in range(60):
        wave = 1 + math.sin(age / 6)
        record_minute(client, keys, now_minute - age,
                      {"ok": int(40 * wave) + 5, "text_only": int(12 * wave), "rate_limited": age % 7, "failed": age % 11 // 5},
                      int(40 * wave) * 2300)
    client.hset(keys.stats, mapping={"ok": 4210, "text_only": 980, "rate_limited": 133, "expired": 4, "failed": 21,
                                     "audio_ms": 9_540_000})

    started = int(time.time() * 1000) - 3_600_000
    heartbeats = Heartbeats(client, keys, {
        "vm-tts-1-4242": dict(host="vm-tts-1", pid=4242, started_ms=started, jobs_done=3812, in_hand=3,
                              job=b"reply-8812", job_started_ms=int(time.time() * 1000) - 1200),
        "vm-tts-2-977": dict(host="vm-tts-2", pid=977, started_ms=started + 600_000, jobs_done=2950),
    })
    heartbeats.start()
    return ids, heartbeats
