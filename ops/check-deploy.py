#!/usr/bin/env python3
"""Checks the deployment files without a Docker engine: compose.yaml, every manifest in
ops/k8s/ and ops/prometheus.yml parse and say what the worker needs (the contract's
variables, the binary, probes, grace periods); the runtime packages the Dockerfile
installs exist in Debian bookworm. Prints one line per check; exits 1 on any failure."""
import glob
import os
import re
import shutil
import subprocess
import sys

import yaml

failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def seconds(text):
    match = re.fullmatch(r"(\d+)(s|m)?", str(text))
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1) if match else None


# compose.yaml
compose = yaml.safe_load(open("compose.yaml"))
services = compose.get("services", {})
worker, redis = services.get("worker", {}), services.get("redis", {})
env = worker.get("environment", {})
check({"INTONE_REDIS_URL", "INTONE_QUEUE"} <= set(env), "compose: the worker sets INTONE_REDIS_URL and INTONE_QUEUE")
check(all(k.startswith("INTONE_") for k in env), "compose: every worker variable is one of Intone's")
check(worker.get("command") == ["work"] and worker.get("image", "").startswith("intone"), "compose: the worker runs `intone work`")
check(worker.get("deploy", {}).get("replicas", 0) >= 2, "compose: the worker runs as replicas")
grace = int(env.get("INTONE_SHUTDOWN_GRACE_S", "25"))
check((seconds(worker.get("stop_grace_period", "10s")) or 0) > grace, "compose: stop_grace_period exceeds the shutdown grace")
check(worker.get("depends_on", {}).get("redis", {}).get("condition") == "service_healthy", "compose: the worker waits for a healthy Redis")
command = " ".join(redis.get("command", []))
check("--maxmemory-policy noeviction" in command and "--appendonly yes" in command, "compose: Redis has appendonly and noeviction")
check("healthcheck" in redis and redis.get("volumes"), "compose: Redis has a health check and a volume")
check("demo" in services.get("producer", {}).get("profiles", []), "compose: a demo producer profile")
check("metrics" in services.get("prometheus", {}).get("profiles", []), "compose: a Prometheus profile")

prometheus = yaml.safe_load(open("ops/prometheus.yml"))
targets = prometheus["scrape_configs"][0]["dns_sd_configs"][0]
check(targets["names"] == ["worker"] and targets["port"] == 9464, "prometheus.yml: scrapes every worker replica on 9464")

# Kubernetes manifests
documents = []
for path in sorted(glob.glob("ops/k8s/*.yaml")):
    try:
        docs = [d for d in yaml.safe_load_all(open(path)) if d]
        check(all("apiVersion" in d and "kind" in d for d in docs), f"{path}: parses, every document has apiVersion and kind")
        documents += [(path, d) for d in docs]
    except yaml.YAMLError as error:
        check(False, f"{path}: parses ({error})")
kinds = {d["kind"]: d for _, d in documents if d.get("kind") != "Deployment" or "replicas" in d.get("spec", {})}
deployment = kinds.get("Deployment", {})
pod = deployment.get("spec", {}).get("template", {}).get("spec", {})
container = next((c for c in pod.get("containers", []) if c.get("name") == "intone"), {})
names = {e["name"] for e in container.get("env", [])}
check({"INTONE_REDIS_URL", "INTONE_QUEUE"} <= names, "k8s: the Deployment sets INTONE_REDIS_URL and INTONE_QUEUE")
url = next((e for e in container.get("env", []) if e["name"] == "INTONE_REDIS_URL"), {})
check("secretKeyRef" in url.get("valueFrom", {}), "k8s: the Redis URL comes from a Secret")
check(container.get("image", "").startswith("intone") and container.get("args") == ["work"], "k8s: the container runs `intone work`")
check(container.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", "k8s: liveness on /healthz")
check(container.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", "k8s: readiness on /readyz")
check("resources" in container, "k8s: resources are set")
k8s_grace = int(next((e["value"] for e in container.get("env", []) if e["name"] == "INTONE_SHUTDOWN_GRACE_S"), "25"))
check(pod.get("terminationGracePeriodSeconds", 30) > k8s_grace, "k8s: terminationGracePeriodSeconds exceeds the shutdown grace")
check("PodDisruptionBudget" in kinds, "k8s: a PodDisruptionBudget")
secret = kinds.get("Secret", {})
check("INTONE_REDIS_URL" in secret.get("stringData", {}), "k8s: the Secret holds INTONE_REDIS_URL")
scaled = kinds.get("ScaledObject", {})
trigger = (scaled.get("spec", {}).get("triggers") or [{}])[0]
meta = trigger.get("metadata", {})
check(trigger.get("type") == "redis-streams" and meta.get("consumerGroup") == "workers" and meta.get("stream") == "intone:{tts}:jobs",
      "k8s: KEDA scales on the lag of the workers group of intone:{tts}:jobs")
check(meta.get("activationLagCount") == "0" and scaled.get("spec", {}).get("minReplicaCount") == 0, "k8s: one job wakes a queue scaled to zero")

# Dockerfile
dockerfile = open("Dockerfile").read()
stages = re.split(r"^FROM ", dockerfile, flags=re.M)
check(re.search(r"^FROM swift:6\.\d+-bookworm AS builder", dockerfile, re.M) is not None, "Dockerfile: builds on the official Swift 6 bookworm image")
check("--static-swift-stdlib" in dockerfile, "Dockerfile: static Swift standard library")
runtime = next((s for s in stages if s.startswith("debian:bookworm-slim AS runtime")), "")
check(bool(runtime), "Dockerfile: a debian:bookworm-slim runtime stage")
for keyword in ["STOPSIGNAL SIGTERM", "HEALTHCHECK", "USER 10001", 'CMD ["work"]', 'ENTRYPOINT ["/usr/local/bin/intone"]']:
    check(keyword in runtime, f"Dockerfile: runtime has {keyword}")
install = re.search(r"apt-get install -y --no-install-recommends ([^\\&\n]+)", runtime)
packages = install.group(1).split() if install else []
check(bool(packages), "Dockerfile: runtime installs packages")
for package in packages:
    shown = subprocess.run(["apt-cache", "show", "--no-all-versions", package], capture_output=True, text=True)
    check(shown.returncode == 0 and "Package: " + package in shown.stdout, f"Dockerfile: {package} exists in Debian bookworm")

# Every system library a module map links is installed by the runtime stage: the package
# that holds the library the build links against (libopus.so -> libopus0).
for modulemap in sorted(glob.glob("Sources/*/module.modulemap")):
    for library in re.findall(r'^\s*link "([^"]+)"', open(modulemap).read(), re.M):
        ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"  # /sbin is not on a user's PATH
        found = subprocess.run([ldconfig, "-p"], capture_output=True, text=True).stdout
        paths = re.findall(rf"^\s*lib{re.escape(library)}\.so\.\S+ .*=> (\S+)$", found, re.M)
        owners = set()
        for path in paths:
            owner = subprocess.run(["dpkg", "-S", os.path.realpath(path)], capture_output=True, text=True).stdout
            owners.update(line.split(":")[0] for line in owner.splitlines())
        check(bool(owners & set(packages)), f"Dockerfile: the runtime installs lib{library} ({', '.join(sorted(owners)) or 'not found'})")

if failures:
    print(f"{len(failures)} checks failed")
    sys.exit(1)
print("all deployment checks passed")
