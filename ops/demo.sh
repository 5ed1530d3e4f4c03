#!/usr/bin/env bash
# Quick start: installs what is missing, builds Intone, and runs `intone demo` on a private
# redis-server (no Redis of your own needed). Audio files land in ./intone-demo/.
# Extra arguments go to `intone demo`: with --redis redis://host:6379 it runs on a fresh
# queue of its own (demo-<random>) and removes that queue's keys afterwards (--keep to
# leave them); it never touches a queue it did not create.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x /opt/swift/usr/bin/swift ]; then PATH="$PATH:/opt/swift/usr/bin"; fi

bash ops/install-dependencies.sh
swift build --product intone
exec .build/debug/intone demo "$@"
