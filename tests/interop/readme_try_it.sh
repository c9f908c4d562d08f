#!/usr/bin/env bash
# The README's first command, as a user runs it: the first ```sh block of README.md (read from
# the file, so that the README and this test cannot drift), run with bash on a clean copy of the
# source tree (the files git knows, without any build directory), as root. It installs what is
# missing, builds the README's configuration (Release, Ninja, default options) from nothing and
# runs the demo. Passes when the block exits 0 and the demo printed its success line.
#
#   readme_try_it.sh [SOURCE_DIR]      (default: the repository this script is in)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "${1:-${HERE}/../..}" && pwd)

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# The first fenced block whose info string is `sh`.
block=$(awk '/^```sh$/ && !in_block { in_block = 1; next }
             /^```/ && in_block { exit }
             in_block { print }' "${SRC}/README.md")
[[ -n ${block} ]] || fail "README.md has no \`\`\`sh block"
grep -q 'lab/demo.sh' <<<"${block}" || fail "README.md's first sh block does not run lab/demo.sh: ${block}"
echo "README.md's first command:"
printf '  %s\n' "${block}"

DIR=$(mktemp -d /tmp/isthmus-readme.XXXXXX)
trap 'rm -rf "${DIR}"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A clean checkout of what is in the tree: every file git tracks or would track (uncommitted
# edits included), nothing it ignores (build directories).
(cd "${SRC}" && git ls-files -z --cached --others --exclude-standard --deduplicate |
  while IFS= read -r -d '' f; do [[ -e ${f} ]] && printf '%s\0' "${f}"; done |
  tar --null -T - -cf -) | tar -xf - -C "${DIR}"
[[ ! -e ${DIR}/build ]] || fail "the copy already has a build directory"

log=${DIR}/try-it.log
rc=0
(cd "${DIR}" && bash -c "set -o pipefail; ${block}") >"${log}" 2>&1 || rc=$?
tail -n 40 "${log}"
[[ ${rc} == 0 ]] || fail "the README's first command exited ${rc} (whole output above, last 40 lines)"
grep -q 'Demo finished: ' "${log}" || fail "the demo did not print its success line"
echo "ok: the README's first command built the Release configuration and the demo passed"
