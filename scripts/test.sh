#!/usr/bin/env bash
# Builds Isthmus twice and runs the whole test suite:
#   build-asan/  ASan+UBSan build: unit tests and fuzz-corpus replays
#   build/       release build: unit tests, fuzz-corpus replays, interop tests with real peers
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
if build build-asan -DCMAKE_BUILD_TYPE=Debug -DISTHMUS_SANITIZE=ON; then
  ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan -L 'unit|fuzz|kernel' -j"$jobs" --output-on-failure || status=1
else
  echo "sanitizer build failed"
  status=1
fi

echo "== release build: unit, fuzz corpora and interop tests"
if ! build build -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
  echo "release build failed"
  exit 1
fi
ctest --test-dir build --output-on-failure || status=1
exit $status
