#!/usr/bin/env bash
# scripts/install-deps.sh and the machine's services: a service that was installed and running
# before it ran is running and enabled after; the services of the packages it installs are kept
# from starting and disabled; the administrator's own policy-rc.d is left alone.
#
# It runs the real script in a private mount namespace (root) where the package system and the
# init system are recorders: apt-get, dpkg-query and systemctl come first in PATH, /usr/sbin,
# /run and /etc/init.d are empty tmpfs mounts. apt-get "installs" a package by noting it and, as
# a package's postinst does (deb-systemd-helper, invoke-rc.d), enables its service and starts it
# unless /usr/sbin/policy-rc.d exits 101; it also restarts the already-installed containerd, as
# the upgrade of a shared dependency would. Nothing on the machine is installed, started or
# stopped.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SCRIPT=$(cd "${HERE}/../../scripts" && pwd)/install-deps.sh

if [[ ${1:-} != --inside ]]; then
  [[ ${EUID} == 0 ]] || { echo "FAIL: needs root (a private mount namespace)" >&2; exit 1; }
  exec unshare --mount --propagation private bash "$0" --inside
fi

DIR=$(mktemp -d /tmp/isthmus-install-deps.XXXXXX)
trap 'rm -rf "${DIR}"' EXIT
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }

# --- the recorders --------------------------------------------------------------------------
mkdir -p "${DIR}/bin"
cat >"${DIR}/bin/dpkg-query" <<'EOF'
#!/bin/bash
# dpkg-query -W -f='${db:Status-Status}' PKG
pkg=${!#}
[[ -e ${STATE}/installed/${pkg} ]] && printf installed
exit 0
EOF
cat >"${DIR}/bin/apt-get" <<'EOF'
#!/bin/bash
echo "apt-get $*" >>"${STATE}/log"
[[ $1 == install ]] || exit 0
declare -A service=([frr]=frr [bird2]=bird [gobgpd]=gobgpd [exabgp]=exabgp [containerd]=containerd)
invoke_rc_d() {  # SERVICE ACTION: what invoke-rc.d does when policy-rc.d allows it
  local rc=0
  [[ -x /usr/sbin/policy-rc.d ]] && { /usr/sbin/policy-rc.d --quiet "$1" "$2" || rc=$?; }
  echo "policy $1 $2 -> ${rc}" >>"${STATE}/log"
  [[ ${rc} == 101 ]] || touch "${STATE}/running/$1"
}
for p in "$@"; do
  [[ $p == -* || $p == install ]] && continue
  touch "${STATE}/installed/$p"
  s=${service[$p]:-}
  [[ -n $s ]] || continue
  touch "${STATE}/units/$s" "${STATE}/enabled/$s"
  printf '#!/bin/bash\necho "init.d %s $1" >>"${STATE}/log"\n[[ $1 == stop ]] && rm -f "${STATE}/running/%s"\nexit 0\n' "$s" "$s" >"/etc/init.d/$s"
  chmod +x "/etc/init.d/$s"
  invoke_rc_d "$s" start
done
[[ -e ${STATE}/installed/containerd ]] && invoke_rc_d containerd restart
exit 0
EOF
cat >"${DIR}/bin/systemctl" <<'EOF'
#!/bin/bash
echo "systemctl $*" >>"${STATE}/log"
unit=${2%.service}
case $1 in
  list-unit-files) [[ -e ${STATE}/units/${unit} ]] && echo "${unit}.service enabled enabled" ;;
  disable) rm -f "${STATE}/enabled/${unit}" ;;
  stop) rm -f "${STATE}/running/${unit}" ;;
esac
exit 0
EOF
chmod +x "${DIR}/bin/"*
export PATH="${DIR}/bin:${PATH}"

# scenario NAME SYSTEMD(0|1) ADMIN_POLICY(none|allow|deny): a fresh machine state where every
# package of `install-deps.sh test` is installed except frr and bird2, containerd is enabled and
# running; then install-deps.sh test.
scenario() {
  local name=$1 systemd=$2 admin_policy=$3
  export STATE=${DIR}/${name}
  mkdir -p "${STATE}"/{installed,units,enabled,running}
  mount -t tmpfs tmpfs /run
  mount -t tmpfs tmpfs /usr/sbin
  mount -t tmpfs tmpfs /etc/init.d
  ((systemd)) && mkdir -p /run/systemd/system
  local p
  for p in $(bash "${SCRIPT}" --list test); do
    [[ $p == frr || $p == bird2 ]] || touch "${STATE}/installed/$p"
  done
  touch "${STATE}/units/containerd" "${STATE}/enabled/containerd" "${STATE}/running/containerd"
  case ${admin_policy} in
    allow) printf '#!/bin/sh\nexit 0\n' >/usr/sbin/policy-rc.d ;;
    deny) printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d ;;
  esac
  [[ ${admin_policy} == none ]] || chmod 755 /usr/sbin/policy-rc.d
  local admin_copy=
  [[ ${admin_policy} == none ]] || admin_copy=$(cat /usr/sbin/policy-rc.d)

  local rc=0
  bash "${SCRIPT}" test >"${STATE}/out" 2>&1 || rc=$?
  ((rc == 0)) || { fail "${name}: install-deps.sh exited ${rc}"; cat "${STATE}/out" >&2; }

  [[ -e ${STATE}/installed/frr && -e ${STATE}/installed/bird2 ]] ||
    fail "${name}: frr and bird2 were not installed"
  grep -q ' gobgpd\| podman' <(grep '^apt-get install' "${STATE}/log") &&
    fail "${name}: packages already installed were installed again"
  # The service that was there before: untouched.
  if [[ -e ${STATE}/running/containerd && -e ${STATE}/enabled/containerd ]]; then
    ok "${name}: containerd (installed and running before) is running and enabled after"
  else
    fail "${name}: containerd was stopped or disabled"
  fi
  grep -E 'systemctl (stop|disable) containerd|init.d containerd stop' "${STATE}/log" &&
    fail "${name}: install-deps.sh stopped or disabled containerd"
  # The services of the packages it installed: not running, not enabled.
  local s
  for s in frr bird; do
    if [[ ! -e ${STATE}/running/$s && ! -e ${STATE}/enabled/$s ]]; then
      ok "${name}: ${s} (installed by the script) is neither running nor enabled"
    else
      fail "${name}: ${s} is running or enabled after install-deps.sh"
    fi
  done
  # The policy: ours forbids only frr and bird and is gone after; the administrator's stays.
  case ${admin_policy} in
    none)
      grep -q 'policy frr start -> 101' "${STATE}/log" || fail "${name}: frr's start was not forbidden"
      grep -q 'policy containerd restart -> 0' "${STATE}/log" ||
        fail "${name}: the policy forbade containerd's restart (not a package it installs)"
      [[ ! -e /usr/sbin/policy-rc.d ]] || fail "${name}: its policy-rc.d was left behind"
      ;;
    *)
      [[ $(cat /usr/sbin/policy-rc.d 2>/dev/null) == "${admin_copy}" ]] ||
        fail "${name}: the administrator's policy-rc.d was changed or removed"
      ;;
  esac
  if ((!systemd)) && [[ ${admin_policy} == allow ]]; then
    grep -q 'init.d frr stop' "${STATE}/log" || fail "${name}: frr, started all the same, was not stopped"
  fi

  # A second run finds everything installed and touches nothing.
  : >"${STATE}/log"
  bash "${SCRIPT}" test >"${STATE}/out2" 2>&1 || fail "${name}: the second run failed"
  grep -q 'already installed' "${STATE}/out2" || fail "${name}: the second run did not find everything installed"
  [[ ! -s ${STATE}/log ]] && ok "${name}: a second run touches nothing" ||
    fail "${name}: the second run touched: $(tr '\n' ';' <"${STATE}/log")"

  umount /etc/init.d /usr/sbin /run
}

scenario systemd 1 none
scenario no-systemd 0 none
scenario admin-policy-allows 1 allow
scenario admin-policy-allows-no-systemd 0 allow
scenario admin-policy-denies 1 deny

# Usage errors and the lists of the purposes.
bash "${SCRIPT}" nonsense >/dev/null 2>&1 && fail "an unknown purpose was accepted"
run_list=$(bash "${SCRIPT}" --list run)
demo_list=$(bash "${SCRIPT}" --list demo)
grep -qx 'libyaml-cpp0.7' <<<"${run_list}" || fail "--list run lacks the runtime libraries"
grep -qx 'libnftables1' <<<"${run_list}" || fail "--list run lacks libnftables (the agent's nftables table)"
grep -qx 'nftables' <<<"${demo_list}" && fail "--list demo names the nft command (test-only)"
grep -qx 'g++' <<<"${run_list}" && fail "--list run names the compiler"
grep -qx 'frr' <<<"${demo_list}" || fail "--list demo lacks FRR (the demo's ToR)"
grep -qx 'gobgpd' <<<"${demo_list}" && fail "--list demo names a test-only peer"
# scripts/test.sh builds the libFuzzer targets with clang (and its runtime libraries).
test_list=$(bash "${SCRIPT}" --list test)
grep -qx 'clang' <<<"${test_list}" || fail "--list test lacks clang (the libFuzzer build)"
grep -qx 'libclang-rt-14-dev' <<<"${test_list}" || fail "--list test lacks clang's libFuzzer runtime"
grep -qx 'clang' <<<"${demo_list}" && fail "--list demo names clang (test-only)"

((FAILS == 0)) || { echo "${FAILS} check(s) failed" >&2; exit 1; }
echo "install-deps.sh: all checks passed"
