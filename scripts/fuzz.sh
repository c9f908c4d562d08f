#!/usr/bin/env bash
# Runs the libFuzzer targets (docs/fuzzing.md): each for a given time, one after the other.
#
#   scripts/fuzz.sh [--time SECONDS] [--out DIR] [--jobs N] [TARGET...]
#   scripts/fuzz.sh --build-only [--jobs N]    build build-fuzz/ only (scripts/test.sh)
#   scripts/fuzz.sh --list                     the targets
#
#   --time SECONDS  how long each target runs (default 60)
#   --out DIR       where crash artifacts and the run's new inputs go (default
#                   build-fuzz/runs/<UTC time>)
#   --jobs N        build jobs (default: the number of CPUs)
#   TARGET          fuzz targets by name (fuzz_update, ...); default: every target
#
# build-fuzz/ (clang, -DISTHMUS_FUZZ=ON, ASan+UBSan, BUG() fatal) is configured and built first
# when needed, the target `fuzzers` (or only the targets named). A target starts from its corpus,
# tests/fuzz/corpus/TARGET; the inputs that add coverage are merged into it afterwards
# (libFuzzer -merge=1: an input goes in only if it covers something the corpus does not). Prints
# per target: executions, exec/s, coverage (cov: edges, ft: features), corpus files before and
# after, crashes (with their files). Exit status 1 if any target crashed, 2 on a usage error.
set -uo pipefail
cd "$(dirname "$0")/.."

help() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
bad() {
  echo "fuzz.sh: $1" >&2
  echo >&2
  help >&2
  exit 2
}

time_each=60
out=
jobs=$(nproc)
build_only=0
list=0
targets=()
while (($#)); do
  case "$1" in
    --time | --out | --jobs)
      (($# >= 2)) || bad "$1 needs a value"
      case "$1" in
        --time) time_each=$2 ;;
        --out) out=$2 ;;
        --jobs) jobs=$2 ;;
      esac
      shift 2
      continue
      ;;
    --build-only) build_only=1 ;;
    --list) list=1 ;;
    -h | --help)
      help
      exit 0
      ;;
    -*) bad "unknown option $1" ;;
    *) targets+=("$1") ;;
  esac
  shift
done
[[ ${time_each} =~ ^[1-9][0-9]*$ ]] || bad "--time takes a number of seconds, not \"${time_each}\""
[[ ${jobs} =~ ^[1-9][0-9]*$ ]] || bad "--jobs takes a number, not \"${jobs}\""

corpora=tests/fuzz/corpus
# Every target has a corpus (its ctest replay needs one): the names are those of the corpora.
mapfile -t all < <(find "${corpora}" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort)
if ((list)); then
  printf '%s\n' "${all[@]}"
  exit 0
fi
for t in "${targets[@]}"; do
  [[ -d ${corpora}/${t} ]] || bad "no fuzz target \"${t}\" (scripts/fuzz.sh --list)"
done
((${#targets[@]})) || targets=("${all[@]}")

# The build: Debug (BUG() aborts) at -O1, so that fuzzing is not slowed down by -O0.
build=build-fuzz
if [[ ! -f ${build}/build.ninja ]]; then
  cmake -S . -B "${build}" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" -DISTHMUS_FUZZ=ON -DISTHMUS_WERROR=ON >/dev/null ||
    { echo "fuzz.sh: configuring ${build} failed" >&2; exit 1; }
fi
if ((build_only)) || ((${#targets[@]} == ${#all[@]})); then
  build_targets=(fuzzers)
else
  build_targets=("${targets[@]}")
fi
cmake --build "${build}" -j"${jobs}" --target "${build_targets[@]}" ||
  { echo "fuzz.sh: building the fuzz targets failed" >&2; exit 1; }
((build_only)) && exit 0

out=${out:-${build}/runs/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "${out}" || exit 1
echo "fuzz.sh: ${#targets[@]} target(s), ${time_each} s each; crashes and logs in ${out}"

# "key: value" of libFuzzer's final statistics (-print_final_stats=1).
final_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }
# A field of the last status line ("#123 DONE cov: 456 ft: 789 corp: ...").
field() { grep -o " $1: [0-9]*" "$2" | tail -1 | grep -o '[0-9]*$'; }
count() { find "$1" -maxdepth 1 -type f 2>/dev/null | wc -l; }

status=0
report=()
for t in "${targets[@]}"; do
  bin=${build}/fuzz/${t}
  corpus=${corpora}/${t}
  dir=${out}/${t}
  mkdir -p "${dir}/new" "${dir}/crashes"
  before=$(count "${corpus}")
  echo "== ${t}: ${time_each} s from ${before} inputs"
  # New inputs go to the first directory; the committed corpus is only read here.
  "${bin}" -max_total_time="${time_each}" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="${dir}/crashes/" "${dir}/new" "${corpus}" >"${dir}/log" 2>&1
  rc=$?
  # Merged even after a crash: what was found before it is worth keeping.
  "${bin}" -merge=1 "${corpus}" "${dir}/new" >"${dir}/merge.log" 2>&1 ||
    echo "fuzz.sh: ${t}: merging failed (${dir}/merge.log)" >&2
  after=$(count "${corpus}")
  crashes=$(count "${dir}/crashes")
  if ((rc != 0 && crashes == 0)); then
    # libFuzzer failed without an artifact (it could not start): a failure all the same.
    crashes=1
    echo "fuzz.sh: ${t}: exit status ${rc} without an artifact, see ${dir}/log" >&2
  fi
  ((crashes > 0)) && status=1
  execs=$(final_stat number_of_executed_units "${dir}/log")
  rate=$(final_stat average_exec_per_sec "${dir}/log")
  report+=("$(printf '%-28s %12s %8s %7s %8s %6s -> %-6s %s' "${t}" "${execs:-?}" "${rate:-?}" \
    "$(field cov "${dir}/log")" "$(field ft "${dir}/log")" "${before}" "${after}" "${crashes}")")
  if ((crashes > 0)); then
    grep -m1 -E '^==[0-9]+==ERROR|^SUMMARY|BUG:|deadly signal' "${dir}/log" | sed 's/^/    /'
    find "${dir}/crashes" -type f | sed 's/^/    /'
  fi
done

echo
printf '%-28s %12s %8s %7s %8s %16s %s\n' target executions exec/s cov ft "corpus files" crashes
printf '%s\n' "${report[@]}"
echo "artifacts: ${out}"
exit ${status}
