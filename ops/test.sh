#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds Intone (the tests spawn the
# intone binary as their synthesizer processes), runs the unit and integration tests
# (they start their own redis-server on private Unix sockets, and a local Redis Cluster),
# then the web console's tests in headless Chromium (ops/test-browser.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x /opt/swift/usr/bin/swift ]; then PATH="$PATH:/opt/swift/usr/bin"; fi

bash ops/install-dependencies.sh
swift build --build-tests
log=$(mktemp)
shots=$(mktemp -d)
trap 'rm -rf "$log" "$shots"' EXIT
# One test at a time: many tests start a real redis-server and a worker with its
# synthesizer children, and their figures (a burst's shape, a take-over's timing) are
# only meaningful on a machine that is not running forty of them at once.
swift test --skip-build --no-parallel "$@" 2>&1 | tee "$log"
# Swift Testing's summary, as a plain closing line ("XCTest: Executed 0 tests" above it
# only means that no test uses XCTest).
summary=$(grep -E "Test run with [0-9]+ tests? .* passed" "$log" | tail -n 1 || true)
count=0
if [ -n "$summary" ]; then count=$(sed -E 's/.*Test run with ([0-9]+) tests?.*/\1/' <<<"$summary"); fi

# The browser tests, unless only some Swift tests were asked for (--filter …). Their
# screenshots go to a temporary folder; `bash ops/test-browser.sh` alone writes the
# README's.
if (($# == 0)); then
  INTONE_SCREENSHOT_DIR="$shots" INTONE_BIN="$PWD/.build/debug/intone" bash ops/test-browser.sh -q 2>&1 | tee "$log"
  browser=$(grep -Eo "^[0-9]+ passed" "$log" | tail -n 1 | grep -Eo "[0-9]+" || echo 0)
  echo "tests: $count Swift and $browser browser tests passed, 0 failed"
else
  echo "tests: $count passed, 0 failed"
fi
