#!/usr/bin/env bash
# Validates the deployment files without a Docker engine (see ops/check-deploy.py) and
# runs shellcheck on every script. Installs python3-yaml and shellcheck when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
python3 -c "import yaml" 2>/dev/null || missing+=(python3-yaml)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
if ((${#missing[@]} > 0)) || ! apt-cache show --no-all-versions libhiredis0.14 >/dev/null 2>&1; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update -q
  if ((${#missing[@]} > 0)); then
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}"
  fi
fi

# The system python3 has python3-yaml; a pyenv one on PATH may not.
python=python3
if ! python3 -c "import yaml" 2>/dev/null; then python=/usr/bin/python3; fi
"$python" ops/check-deploy.py
shellcheck ops/*.sh .ci/run
echo "shellcheck: ok"
