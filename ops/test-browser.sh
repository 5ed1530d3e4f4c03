#!/usr/bin/env bash
# Browser tests of `intone web`: headless Chromium (Debian's chromium and chromium-driver)
# driven by Selenium from pytest, against the real intone binary and a private
# redis-server that the tests start themselves. Installs what is missing (apt: chromium,
# chromium-driver, python3-venv; pip, into a virtual environment in the user's cache:
# selenium, pytest, redis), builds, and runs pytest; safe to run again. Screenshots of
# every page are written to docs/images/. Extra arguments go to pytest (-k, -x, …).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x /opt/swift/usr/bin/swift ]; then PATH="$PATH:/opt/swift/usr/bin"; fi

bash ops/install-dependencies.sh
packages=(chromium chromium-driver python3-venv)
missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} > 0)); then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  echo "Installing ${missing[*]}"
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}"
fi

venv="${INTONE_BROWSER_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/intone/browser-venv}"
if [ ! -x "$venv/bin/python" ]; then
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import selenium, pytest, redis" 2>/dev/null; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check selenium pytest redis
fi

if [ -z "${INTONE_BIN:-}" ]; then
  swift build --product intone
  export INTONE_BIN="$PWD/.build/debug/intone"
fi
# Selenium uses /usr/bin/chromedriver as given; nothing is fetched or reported.
export SE_AVOID_STATS=true PYTHONDONTWRITEBYTECODE=1
cd Tests/browser
exec "$venv/bin/python" -m pytest -p no:cacheprovider "$@"
