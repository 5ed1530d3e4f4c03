#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds Intone (the tests spawn the
# intone binary as their synthesizer processes) and runs unit and integration tests. The
# integration tests start their own redis-server on private Unix sockets.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x /opt/swift/usr/bin/swift ]; then PATH="$PATH:/opt/swift/usr/bin"; fi

bash ops/install-dependencies.sh
swift build --build-tests
swift test --skip-build "$@"
