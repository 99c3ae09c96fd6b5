#!/usr/bin/env bash
# Issue #4, "the out-of-tree custom stage example builds against the installed
# package and runs in a pipeline config":
#   1. `cmake --install` the sluice build into a temporary prefix;
#   2. configure docs/examples/custom-stage (copied out of the tree) with
#      -DCMAKE_PREFIX_PATH=<prefix>, with the build's compiler, build type,
#      flags and sanitizer, and build it;
#   3. run `my-sluice run pipeline.yaml` and check the exit code and that
#      output.txt is input.txt upper-cased, byte for byte;
#   4. check that the installed stock `sluice` does not know `type: uppercase`
#      (the type comes from the user's library, not from ours).
#
# Usage: custom_stage_install_test.sh <sluice build dir> <sluice source dir>
# Registered in tests/CMakeLists.txt as `custom_stage_install` (label `install`).
# Set SLUICE_KEEP_INSTALL_TEST=1 to keep the temporary directory.
set -euo pipefail

if (($# != 2)); then
  echo "usage: $0 <sluice build dir> <sluice source dir>" >&2
  exit 2
fi
build_dir="$(cd "$1" && pwd)"
source_dir="$(cd "$2" && pwd)"

work="$(mktemp -d "${TMPDIR:-/tmp}/sluice-install-test.XXXXXX")"
if [[ "${SLUICE_KEEP_INSTALL_TEST:-0}" == 1 ]]; then
  echo "keeping ${work}"
else
  trap 'rm -rf "${work}"' EXIT
fi

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# A value from the sluice build's CMakeCache.txt ("" if absent).
cache_value() {
  sed -n "s/^$1:[A-Z]*=//p" "${build_dir}/CMakeCache.txt" | head -n 1
}

# CMake's false constants: SLUICE_SANITIZER is "" (or OFF) when not sanitizing.
is_cmake_false() {
  local value="${1^^}"
  [[ -z "${value}" || "${value}" =~ ^(0|OFF|NO|N|FALSE|IGNORE|NOTFOUND)$ || "${value}" == *-NOTFOUND ]]
}

compiler="$(cache_value CMAKE_CXX_COMPILER)"
build_type="$(cache_value CMAKE_BUILD_TYPE)"
build_type="${build_type:-Release}"
build_type_flags="$(cache_value "CMAKE_CXX_FLAGS_${build_type^^}")"
sanitizer="$(cache_value SLUICE_SANITIZER)"
ccache="$(cache_value SLUICE_CCACHE)"

echo "== install ${build_dir} into ${work}/prefix"
cmake --install "${build_dir}" --prefix "${work}/prefix" >"${work}/install.log" ||
  { cat "${work}/install.log" >&2; fail "cmake --install"; }
for file in bin/sluice lib/cmake/sluice/sluiceConfig.cmake include/pipeline/stage.h \
  include/pipeline/config/stage_registry.h include/tools/cli/cli.h; do
  [[ -e "${work}/prefix/${file}" ]] || fail "not installed: ${file}"
done

# The example as a user has it: a directory of its own, nowhere near sluice.
cp -R "${source_dir}/docs/examples/custom-stage" "${work}/example"
rm -rf "${work}/example/build" "${work}/example/output.txt"

configure_args=(
  -S "${work}/example" -B "${work}/build" -G Ninja
  -DCMAKE_PREFIX_PATH="${work}/prefix"
  -DCMAKE_CXX_COMPILER="${compiler}"
  -DCMAKE_BUILD_TYPE="${build_type}"
  "-DCMAKE_CXX_FLAGS_${build_type^^}=${build_type_flags}"
)
if ! is_cmake_false "${ccache}"; then
  configure_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER="${ccache}")
fi
if ! is_cmake_false "${sanitizer}"; then
  # The installed archives are instrumented; their exported targets already
  # link the sanitizer runtime. Our own code gets the same instrumentation.
  sanitizer_flags="-fsanitize=${sanitizer} -fno-omit-frame-pointer"
  [[ "${sanitizer}" == *undefined* ]] && sanitizer_flags+=" -fno-sanitize-recover=undefined"
  configure_args+=("-DCMAKE_CXX_FLAGS=${sanitizer_flags}")
fi

echo "== configure the example: cmake $(printf '%q ' "${configure_args[@]}")"
cmake "${configure_args[@]}" >"${work}/configure.log" 2>&1 ||
  { cat "${work}/configure.log" >&2; fail "configuring the example"; }
grep -q "sluice_SANITIZER" "${work}/prefix/lib/cmake/sluice/sluiceConfig.cmake" ||
  fail "sluiceConfig.cmake does not set sluice_SANITIZER"

echo "== build the example"
cmake --build "${work}/build" >"${work}/build.log" 2>&1 ||
  { cat "${work}/build.log" >&2; fail "building the example"; }
binary="${work}/build/my-sluice"
[[ -x "${binary}" ]] || fail "no ${binary}"

echo "== run: my-sluice run pipeline.yaml"
set +e
(cd "${work}/example" && "${binary}" run pipeline.yaml) >"${work}/run.out" 2>"${work}/run.err"
status=$?
set -e
cat "${work}/run.out"
cat "${work}/run.err" >&2
((status == 0)) || fail "my-sluice run pipeline.yaml exited ${status}, expected 0"

expected=$'HELLO, SLUICE\nSTAGES COME FROM A REGISTRY\nOURS AND YOURS ALIKE\n'
[[ -f "${work}/example/output.txt" ]] || fail "the pipeline wrote no output.txt"
actual="$(cat "${work}/example/output.txt"; printf x)"
actual="${actual%x}"
if [[ "${actual}" != "${expected}" ]]; then
  echo "--- expected output.txt" >&2
  printf '%s' "${expected}" >&2
  echo "--- actual output.txt" >&2
  printf '%s' "${actual}" >&2
  fail "output.txt is not input.txt upper-cased"
fi
# The expectation above is input.txt upper-cased: keep the two in step.
[[ "$(tr '[:lower:]' '[:upper:]' <"${work}/example/input.txt")" == "${expected%$'\n'}" ]] ||
  fail "the test's expected output no longer matches the example's input.txt"

echo "== the stock sluice does not know type: uppercase"
set +e
"${work}/prefix/bin/sluice" validate "${work}/example/pipeline.yaml" >"${work}/stock.out" 2>&1
status=$?
set -e
((status == 2)) || { cat "${work}/stock.out" >&2; fail "stock sluice validate exited ${status}, expected 2"; }
grep -q 'uppercase' "${work}/stock.out" ||
  { cat "${work}/stock.out" >&2; fail "stock sluice's error does not name the unknown type"; }

echo "PASS: custom stage built against the installed package and ran"
