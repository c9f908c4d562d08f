#!/usr/bin/env bash
# lab/lab as a user drives it: `lab up --hosts 3` (route reflector h1, agents h2..h4 with networks
# blue and red), workloads on both networks on different hosts, pings across hosts over VXLAN
# (IPv4 and IPv6), blue and red apart, status/ctl/exec, detach, `lab down`; then nothing of the
# lab is left: no namespace with its prefix, no process it started, no file.
# The lab is named after this run (t<pid>); the EXIT trap takes it down also when a check fails.
# Labs of earlier runs whose shell is gone (kill -9) are removed first (lab down --stale).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LAB=${HERE}/../../lab/lab
name="t$$"
export ISTHMUS_LAB_ROOT=${ISTHMUS_LAB_ROOT:-/run/isthmus-lab}

log() { printf '%s [lab-tool] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }
fail() {
  echo "FAIL: $*" >&2
  "${LAB}" --name "${name}" status >&2 2>&1 || true
  for f in "${ISTHMUS_LAB_ROOT}/${name}"/*.log; do
    [[ -f ${f} ]] || continue
    echo "===== $(basename "${f}") (last 40 lines)" >&2
    tail -n 40 "${f}" >&2
  done
  exit 1
}
lab() { "${LAB}" --name "${name}" "$@"; }

if [[ ${EUID} -ne 0 ]]; then
  echo "lab_tool.sh: must run as root" >&2
  exit 1
fi
"${LAB}" down --stale
trap 'rc=$?; "${LAB}" --name "${name}" down >/dev/null 2>&1 || true; exit ${rc}' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=${SECONDS}
lab up --owner $$ --hosts 3 --host-networks 2=blue,3=blue+red,4=red || fail "lab up --hosts 3"
log "lab up took $((SECONDS - t0)) s"
lab up --hosts 3 2>/dev/null && fail "a second lab up of the same name succeeded"
pids=$(awk '{print $1}' "${ISTHMUS_LAB_ROOT}/${name}/pids")
[[ $(wc -w <<<"${pids}") == 4 ]] || fail "expected 4 isthmusd processes, got: ${pids}"

# Workloads: blue on h2 and h3, red on h3 and h4 (h2 has only blue, h4 only red); addresses
# given or the next free ones.
lab attach h2 blue w2 100.64.1.12 fd00:64:1::12 || fail "attach w2"
lab attach h3 blue w3 100.64.1.13 fd00:64:1::13 || fail "attach w3"
lab attach h3 red r3 || fail "attach r3"
lab attach h4 red r4 100.64.2.14/24 fd00:64:2::14/64 || fail "attach r4"
lab attach h2 blue w2 2>/dev/null && fail "a second workload w2 was attached"
lab attach h2 red x2 2>/dev/null && fail "h2 has no red, but x2 was attached to it"
r3_ip=$(lab exec r3 ip -4 -o addr show dev eth0 | awk '{ split($4, a, "/"); print a[1] }')
r3_ip6=$(lab exec r3 ip -6 -o addr show dev eth0 scope global | awk '{ split($4, a, "/"); print a[1] }')
[[ ${r3_ip} == 100.64.2.* && ${r3_ip6} == fd00:64:2::* ]] || fail "r3's addresses: '${r3_ip}' '${r3_ip6}'"

reaches() { # reaches WORKLOAD ADDR: within 30 s
  local deadline=$((SECONDS + 30))
  until lab exec "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$1 does not reach $2"
    sleep 0.2
  done
  log "ok: $1 reaches $2"
}
reaches w2 100.64.1.13
reaches w3 100.64.1.12
reaches w2 fd00:64:1::13
reaches w3 fd00:64:1::12
reaches r4 "${r3_ip}"
reaches r3 100.64.2.14
reaches r4 "${r3_ip6}"
if lab exec w2 ping -c1 -W1 100.64.2.14 >/dev/null 2>&1; then fail "w2 (blue) reaches r4 (red)"; fi

out=$(lab status) || fail "lab status"
for want in "3/3 sessions Established" "w2 " "r4 " "agent, networks: blue red" "agent, networks: red"; do
  grep -qF -- "${want}" <<<"${out}" || fail "lab status lacks '${want}': ${out}"
done
out=$(lab ctl h3 show network -o json) || fail "lab ctl h3 show network"
python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert sorted(n["name"] for n in j) == ["blue", "red"], j' "${out}" ||
  fail "h3's networks: ${out}"
log "ok: status, ctl and exec"

# Detach: the workload's namespace goes, the others see its MAC withdrawn.
mac_w3=$(lab exec w3 cat /sys/class/net/eth0/address)
has_w3() { local o; o=$(lab exec h2 bridge fdb show dev vxlan100); grep -q "^${mac_w3} dst 198.18.0.3 " <<<"${o}"; }
has_w3 || fail "h2 lacks w3's MAC ${mac_w3} at 198.18.0.3: $(lab exec h2 bridge fdb show dev vxlan100)"
lab detach w3 || fail "detach w3"
nss=$(ip netns list)
grep -q "^isl-${name}-hw3\b" <<<"${nss}" && fail "w3's namespace is still there"
deadline=$((SECONDS + 30))
while has_w3; do
  ((SECONDS < deadline)) || fail "h2 keeps w3's MAC ${mac_w3} after detach"
  sleep 0.2
done
log "ok: w3 detached, h2 forgot its MAC"

lab down || fail "lab down"
left=$(ip netns list | awk '{print $1}' | grep "^isl-${name}-" || true)
[[ -z ${left} ]] || fail "namespaces left after lab down: ${left}"
for p in ${pids}; do
  [[ ! -d /proc/${p} ]] || fail "process ${p} ($(tr '\0' ' ' </proc/"${p}"/cmdline)) left after lab down"
done
procs=$(pgrep -af "${ISTHMUS_LAB_ROOT}/${name}/" || true)
[[ -z ${procs} ]] || fail "processes with the lab's files left: ${procs}"
[[ ! -e ${ISTHMUS_LAB_ROOT}/${name} ]] || fail "files left: $(ls -la "${ISTHMUS_LAB_ROOT}/${name}")"
lab status >/dev/null 2>&1 && fail "lab status succeeds after lab down"
log "ok: lab down left no namespace, process or file"
log "PASS ($((SECONDS - t0)) s)"
