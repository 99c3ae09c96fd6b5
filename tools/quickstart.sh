#!/usr/bin/env bash
# Installs what is missing, builds the release preset and runs the quickstart pipeline
# (configs/quickstart.yaml) with the `sluice` CLI: generated orders go into a topic on the
# embedded Kafka broker (in-process, nothing else to install), are read back by the Kafka
# source, parsed, filtered, reshaped and written to another topic, the malformed ones
# dead-lettered. The source stops once idle; the summary's counts add up; exit 0.
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
