#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds Intone (the tests spawn the
# intone binary as their synthesizer processes) and runs unit and integration tests. The
# integration tests start their own redis-server on private Unix sockets.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x /opt/swift/usr/bin/swift ]; then PATH="$PATH:/opt/swift/usr/bin"; fi

bash ops/install-dependencies.sh
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# One test at a time: many tests start a real redis-server and a worker with its
# synthesizer children, and their figures (a burst's shape, a take-over's timing) are
# only meaningful on a machine that is not running forty of them at once.
swift test --skip-build --no-parallel "$@" 2>&1 | tee "$log"
# Swift Testing's summary, as a plain closing line ("XCTest: Executed 0 tests" above it
# only means that no test uses XCTest).
summary=$(grep -E "Test run with [0-9]+ tests? .* passed" "$log" | tail -n 1 || true)
if [ -n "$summary" ]; then
  count=$(sed -E 's/.*Test run with ([0-9]+) tests?.*/\1/' <<<"$summary")
  echo "tests: $count passed, 0 failed"
fi
