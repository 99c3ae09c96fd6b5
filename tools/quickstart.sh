#!/usr/bin/env bash
# Installs what is missing, builds the release preset and runs the quickstart pipeline
# (configs/quickstart.yaml) with the `sluice` CLI: it prints a summary whose counts add up
# and exits 0 on success. (It moves onto the embedded Kafka broker with issue #5.)
#
# Works as root on a fresh Debian 12 machine (or as a user with sudo).
# SLUICE_JOBS sets build parallelism (default 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs="${SLUICE_JOBS:-2}"

bash tools/install-deps.sh
cmake --preset release
cmake --build --preset release -j"${jobs}" --target sluice
./build/release/tools/sluice run configs/quickstart.yaml
