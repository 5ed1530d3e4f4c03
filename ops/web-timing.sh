#!/usr/bin/env bash
# Times every page of `intone web` on a big queue (100,000 results, 10,000 dead letters):
# fills a private redis-server, starts a release build of the console and fetches each
# page 50 times; prints p50/p95. Arguments go to Tests/browser/page_timing.py (--runs N).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x /opt/swift/usr/bin/swift ]; then PATH="$PATH:/opt/swift/usr/bin"; fi

bash ops/install-dependencies.sh
venv="${INTONE_BROWSER_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/intone/browser-venv}"
if [ ! -x "$venv/bin/python" ]; then
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
fi
"$venv/bin/python" -c "import redis" 2>/dev/null || "$venv/bin/python" -m pip install -q --disable-pip-version-check redis
if [ -z "${INTONE_BIN:-}" ]; then
  swift build -c release --product intone
  export INTONE_BIN="$PWD/.build/release/intone"
fi
cd Tests/browser
PYTHONDONTWRITEBYTECODE=1 exec "$venv/bin/python" page_timing.py "$@"
