#!/usr/bin/env bash
# Installs what the side-by-side benchmark needs, only what is missing, so it is safe to
# run any number of times:
#   apt:  redis-server, espeak-ng (the command Sidekiq renders with), libespeak-ng-dev and
#         gcc (the espeak-ng ceiling), ruby-sidekiq (Sidekiq 6), python3-venv
#   pip:  redis and matplotlib, into a venv of their own (default ~/.cache/intone/bench-venv,
#         or $INTONE_BENCH_VENV), never into the system's Python
# Prints the venv's python on its last line.
set -euo pipefail

venv="${INTONE_BENCH_VENV:-$HOME/.cache/intone/bench-venv}"
packages=(redis-server redis-tools espeak-ng libespeak-ng-dev gcc ruby-sidekiq python3-venv)
missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} > 0)); then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  echo "Installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}" >&2
fi

# Debian's python3, not whatever python3 comes first on PATH (pyenv and the like): the
# venv module and its ensurepip are what python3-venv installed.
if [ ! -x "$venv/bin/python" ]; then
  echo "Creating $venv" >&2
  mkdir -p "$(dirname "$venv")"
  /usr/bin/python3 -m venv "$venv" >&2
fi
if ! "$venv/bin/python" -c "import redis, matplotlib" 2>/dev/null; then
  echo "Installing redis and matplotlib into $venv" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "redis>=4.5" "matplotlib>=3.6" >&2
fi
echo "$venv/bin/python"
