#!/usr/bin/env bash
# Builds Isthmus three times and runs the whole test suite:
#   build-asan/  ASan+UBSan build: unit tests and fuzz-corpus replays
#   build-fuzz/  clang libFuzzer build of the fuzz targets only (scripts/fuzz.sh --build-only):
#                compiled, not run, so that what only clang rejects fails here (docs/fuzzing.md)
#   build/       Release build, the README's configuration (Ninja, -O3) with the tests: unit
#                tests, fuzz-corpus replays, interop tests with real peers, and the README's first
#                command run as written on a clean copy of the tree (interop-readme-try-it)
# Both build with -DISTHMUS_TESTS=ON -DISTHMUS_WERROR=ON: every warning of GCC 12, at -O0 and at
# -O3, is an error here (docs/building.md).
# The output ends with ctest's summary of the release build; the exit code is non-zero if
# anything failed in either build.
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

build() {  # build DIR [cmake args...]
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null && cmake --build "$dir" -j"$jobs"
}

status=0
echo "== sanitizer build (ASan+UBSan): unit tests, kernel (netlink) tests and fuzz corpora"
options=(-DISTHMUS_TESTS=ON -DISTHMUS_WERROR=ON)
if build build-asan -DCMAKE_BUILD_TYPE=Debug -DISTHMUS_SANITIZE=ON "${options[@]}"; then
  ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan -L 'unit|fuzz|kernel' -j"$jobs" --output-on-failure || status=1
else
  echo "sanitizer build failed"
  status=1
fi

echo "== libFuzzer build (clang): the fuzz targets compile"
if ! scripts/fuzz.sh --build-only --jobs "$jobs"; then
  echo "libFuzzer build failed"
  status=1
fi

echo "== release build: unit, fuzz corpora and interop tests"
if ! build build -DCMAKE_BUILD_TYPE=Release "${options[@]}"; then
  echo "release build failed"
  exit 1
fi
# Two at a time: the interop tests wait on networks more than they compute, and each lives in
# namespaces of its own.
ctest --test-dir build -j"$jobs" --output-on-failure || status=1
exit $status
