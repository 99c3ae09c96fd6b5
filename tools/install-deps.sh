#!/usr/bin/env bash
# Installs the Debian 12 packages sluice needs to build, test and benchmark.
#
# Idempotent: asks dpkg which packages are missing and runs apt-get only for those, so a
# machine that has everything costs one dpkg query. Runs as root, or through sudo when
# not root and sudo exists. docs/DEPENDENCIES.md says why each package is here.
#
# To add a dependency: put its Debian package in PACKAGES below, in the group it belongs
# to, and add it to docs/DEPENDENCIES.md.
set -euo pipefail

PACKAGES=(
  # Toolchain and build: compiler, CMake + Ninja (CMakePresets.json), pkg-config (rdkafka,
  # xxhash), ccache (compiler launcher when found), git (format check lists tracked files).
  build-essential g++ cmake ninja-build pkg-config ccache git
  # Format check (tools/test-all.sh).
  clang-format
  # Runtime libraries (pipeline/): task arena, queue baseline, Status/containers, logs,
  # partition hash.
  libtbb-dev libconcurrentqueue-dev libabsl-dev libspdlog-dev libfmt-dev libxxhash-dev
  # Connectors, stages, config and CLI (connectors/, stages/, tools/): Kafka, YAML, command
  # line, JSON parsing, regular expressions, HTTP (ops endpoint, `sluice top`).
  librdkafka-dev libyaml-cpp-dev libcli11-dev libsimdjson-dev libre2-dev libcpp-httplib-dev
  # Metrics rendering (tools/ops/: the /metrics endpoint's registry and text format).
  prometheus-cpp-dev
  # Tests and benchmarks (tests/, bench/).
  libgtest-dev libgmock-dev libbenchmark-dev
  # Programs the tests drive: kcat (Kafka client), prometheus (for promtool),
  # graphviz (for dot).
  kcat prometheus graphviz
)

log() { printf 'install-deps: %s\n' "$*"; }

is_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == "installed" ]]
}

missing_packages() {
  local package
  for package in "${PACKAGES[@]}"; do
    is_installed "${package}" || printf '%s\n' "${package}"
  done
}

mapfile -t missing < <(missing_packages)
if ((${#missing[@]} == 0)); then
  log "all ${#PACKAGES[@]} packages already installed"
  exit 0
fi
log "missing: ${missing[*]}"

if ((EUID == 0)); then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  log "not root and no sudo: as root, run" >&2
  log "  apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

# Installing `prometheus` (we only want promtool) would start a Prometheus server. A
# policy-rc.d that answers 101 ("action forbidden") keeps package scripts from starting
# services during this install; it is removed again afterwards. An existing one is left
# alone.
policy_rc_d=/usr/sbin/policy-rc.d
created_policy_rc_d=0
remove_policy_rc_d() {
  if ((created_policy_rc_d)); then
    "${as_root[@]}" rm -f "${policy_rc_d}"
  fi
}
trap remove_policy_rc_d EXIT
if [[ ! -e "${policy_rc_d}" ]]; then
  printf '#!/bin/sh\n# Written by sluice tools/install-deps.sh for one install.\nexit 101\n' |
    "${as_root[@]}" tee "${policy_rc_d}" >/dev/null
  "${as_root[@]}" chmod 755 "${policy_rc_d}"
  created_policy_rc_d=1
fi

# A mirror hiccup should not fail a CI run: try each apt step up to three times.
apt() {
  local attempt
  for attempt in 1 2 3; do
    if "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get -q -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0 "$@"; then
      return 0
    fi
    log "apt-get $1 failed (attempt ${attempt} of 3)" >&2
    sleep $((attempt * 5))
  done
  return 1
}

log "apt-get update"
apt update
log "installing: ${missing[*]}"
apt install -y --no-install-recommends "${missing[@]}"

mapfile -t still_missing < <(missing_packages)
if ((${#still_missing[@]} != 0)); then
  log "still missing after install: ${still_missing[*]}" >&2
  exit 1
fi
log "installed ${#missing[@]} packages: ${missing[*]}"
