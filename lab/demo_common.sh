# What the demos share (sourced by lab/demo.sh and lab/demo_bgp.sh, which set DEMO_DIR and
# DEMO_HELP_END, the last line of their header comment): options (--keep, --help, BUILD_DIR),
# the binaries, lab/lib.sh with its progress lines in a file, the output helpers, and the start
# of the lab run (unless DEMO_LAB_TOOL=1). Uses the script's own arguments.
keep=0
build=""
for a in "$@"; do
  case ${a} in
    --keep) keep=1 ;;
    -h | --help)
      sed -n "2,${DEMO_HELP_END}p" "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*) echo "demo: unknown option ${a} (try --help)" >&2; exit 2 ;;
    *) build=${a} ;;
  esac
done
build=$(realpath -m "${build:-${DEMO_DIR}/../build}")
export ISTHMUSD=${build}/bin/isthmusd ISTHMUSCTL=${build}/bin/isthmusctl
for b in "${ISTHMUSD}" "${ISTHMUSCTL}"; do
  [[ -x ${b} ]] || { echo "demo: ${b} not found; build first: cmake --build ${build} --target isthmusd isthmusctl" >&2; exit 1; }
done

source "${DEMO_DIR}/lib.sh"
# The lab's progress lines go to a file; the demo prints its own summary. Failures still print
# everything (lab_fail writes to stderr).
lab_log() {
  [[ -n ${LAB_DIR:-} && -d ${LAB_DIR} ]] && printf '%s %s\n' "$(date +%T.%3N)" "$*" >>"${LAB_DIR}/progress.log"
  return 0
}

bold=$'\e[1m' dim=$'\e[2m' green=$'\e[32m' off=$'\e[0m'
[[ -t 1 ]] || bold="" dim="" green="" off=""
step() { printf '%s==>%s %s' "${bold}" "${off}" "$1"; }
done_() { printf ' %s%s%s\n' "${green}" "${1:-done}" "${off}"; }
show() { # show TITLE CMD...: print a shell-like prompt with TITLE, then the output, indented
  printf '\n%s$ %s%s\n' "${bold}" "$1" "${off}"
  shift
  "$@" 2>&1 | sed 's/^/  /'
}
elapsed() { awk -v t0="$1" -v t1="$(date +%s.%N)" 'BEGIN { printf "%.1f s", t1 - t0 }'; }

# lab/demo.sh builds its lab with lab/lab (DEMO_LAB_TOOL=1); the others start a lab run here.
if [[ ${DEMO_LAB_TOOL:-0} != 1 ]]; then
  lab_init
  lab_require_isthmus
fi
