#!/usr/bin/env bash
# Installs the Debian packages Intone builds and runs with, only those that are missing,
# so it is safe to run any number of times. Used by ops/demo.sh, ops/test.sh and CI.
set -euo pipefail

packages=(pkg-config libhiredis-dev libespeak-ng-dev libsndfile1-dev libsoxr-dev libopus-dev redis-server)
# Test tools, not needed to build or run Intone: the audio tests render speech with the
# espeak-ng command line and check every format with an independent decoder (ffmpeg).
test_tools=(espeak-ng ffmpeg)
missing=()
for package in "${packages[@]}" "${test_tools[@]}"; do
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

if ! command -v swift >/dev/null 2>&1; then
  echo "swift is not on PATH: install the Swift 6 toolchain (https://www.swift.org/install/linux/) first" >&2
  exit 1
fi
