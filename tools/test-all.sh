#!/usr/bin/env bash
# Installs what is missing, checks formatting, then builds and runs the test suite three
# ways: release (all tests), ThreadSanitizer (all but the install test) and ASan + UBSan
# (all tests). Stops at the first failure with a non-zero exit. This is what CI runs.
#
# Works as root on a fresh Debian 12 machine (or as a user with sudo).
#   SLUICE_SKIP_SANITIZERS=1  skip the tsan and asan-ubsan stages (quicker local runs)
#   SLUICE_JOBS=N             build parallelism (default 2)
#
# The output ends with the last ctest run's own closing lines: nothing is printed after
# it, so its "100% tests passed, 0 tests failed out of N" is the verdict.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs="${SLUICE_JOBS:-2}"
stage="start"

banner() {
  stage="$*"
  printf '\n========== %s ==========\n' "$*"
}

on_exit() {
  local status=$?
  if ((status != 0)); then
    printf '\ntest-all: FAILED in stage "%s" (exit %d)\n' "${stage}" "${status}" >&2
  fi
}
trap on_exit EXIT

# Tracked C++ sources in our folders (all files under them when not in a git checkout).
source_files() {
  local folders=(pipeline stages connectors tools tests bench)
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -- "${folders[@]}" | grep -E '\.(h|cc)$' || true
  else
    find "${folders[@]}" -type f \( -name '*.h' -o -name '*.cc' \) 2>/dev/null | sort || true
  fi
}

banner "install dependencies (tools/install-deps.sh)"
bash tools/install-deps.sh

banner "format check (clang-format $(clang-format --version | grep -oE '[0-9]+\.[0-9.]+' | head -1))"
mapfile -t files < <(source_files)
existing=()
for file in "${files[@]}"; do
  [[ -f "${file}" ]] && existing+=("${file}")
done
if ((${#existing[@]} == 0)); then
  echo "no C++ files to check"
elif ! clang-format --dry-run -Werror "${existing[@]}"; then
  echo "Not formatted as .clang-format says. Fix with: clang-format -i <file>..." >&2
  exit 1
else
  echo "${#existing[@]} files formatted"
fi

banner "release: configure and build"
cmake --preset release
cmake --build --preset release -j"${jobs}"

if [[ "${SLUICE_SKIP_SANITIZERS:-0}" == "1" ]]; then
  banner "release: test (sanitizer stages skipped: SLUICE_SKIP_SANITIZERS=1)"
  ctest --preset release
  exit 0
fi

banner "release: test"
ctest --preset release

banner "tsan: configure and build"
cmake --preset tsan
cmake --build --preset tsan -j"${jobs}"

banner "tsan: test (all but label install)"
ctest --preset tsan

banner "asan-ubsan: configure and build"
cmake --preset asan-ubsan
cmake --build --preset asan-ubsan -j"${jobs}"

banner "asan-ubsan: test"
ctest --preset asan-ubsan
