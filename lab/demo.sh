#!/usr/bin/env bash
# The Isthmus demo: three hosts whose isthmusd node agents put two virtual networks into the
# kernel (bridge + VXLAN, EVPN with a route reflector), workloads on them, and a bare-metal
# server behind an FRR 8.4 top-of-rack switch (an EVPN VTEP) on the same network.
#
#   h1  198.18.0.1  isthmusd   route reflector (AS 65000)
#   h2  198.18.0.2  isthmusd   agent: blue (VNI 100)             workload w2  100.64.1.12  fd00:64:1::12
#   h3  198.18.0.3  isthmusd   agent: blue, red (VNI 200)        workloads w3 100.64.1.13, r3 100.64.2.13
#   h4  198.18.0.4  isthmusd   agent: red                        workload r4  100.64.2.14  fd00:64:2::14
#   h5  198.18.0.5  FRR 8.4    ToR VTEP for VNI 100              bare metal bm 100.64.1.50
#
# Usage: sudo lab/demo.sh [--keep] [BUILD_DIR]     (BUILD_DIR defaults to build/)
#   --keep  leave the lab running until Enter is pressed, to try the commands it prints
# Exits 0 when every workload reaches the others of its network (IPv4 and IPv6) and the bare
# metal server reaches the blue workloads. The lab is lab/lab's lab demo<pid> (namespaces
# isl-demo<pid>-*, files in /run/isthmus-lab/demo<pid>); lab down removes it at the end, also on
# failure or Ctrl-C. lab/demo_bgp.sh is the earlier demo: isthmusd as a route reflector for FRR
# and BIRD.
set -euo pipefail
DEMO_DIR=$(cd "$(dirname "$0")" && pwd)

DEMO_HELP_END=19
DEMO_LAB_TOOL=1
source "${DEMO_DIR}/demo_common.sh"
sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
echo

lab_name="demo$$"
lab() { "${DEMO_DIR}/lab" --name "${lab_name}" "$@"; }
"${DEMO_DIR}/lab" down --stale 2>/dev/null || true  # demos killed before they could clean up
trap 'rc=$?; trap - ERR; lab down >/dev/null 2>&1 || true; exit ${rc}' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "lab up: 5 hosts on one switch (198.18.0.0/24, MTU 9000), isthmusd route reflector on h1, agents on h2-h4 ..."
t0=$(date +%s.%N)
lab up --quiet --owner $$ --build "${build}" --hosts 3 --extra-hosts 1 \
  --networks blue:100:100.64.1.0/24:fd00:64:1::/64,red:200:100.64.2.0/24:fd00:64:2::/64 \
  --host-networks 2=blue,3=blue+red,4=red
# The FRR ToR goes into the same lab with lab/lib.sh's functions: they need its prefix and dir.
eval "$(lab env)"
# From here an unchecked failure ends the demo through lab_fail, with the daemons' state and logs.
set -E
trap 'lab_on_err $? "${BASH_COMMAND}"' ERR
done_ "$(elapsed "${t0}")"

step "FRR ToR VTEP on h5 (VNI 100) with a bare-metal server behind it ..."
lab_vxlan_bridge 5 100 198.18.0.5
lab_frr_start 5 tor "$(lab_frr_evpn_vtep_conf 5)"
lab_new_ns "$(lab_ns bm)"
lab_workload 5 100 bm 02:00:00:00:05:50 100.64.1.50/24
ip -n "$(lab_ns bm)" route add default via 100.64.1.1
lab_wait_for 60 "rr: 198.18.0.5 (FRR) Established" lab_isthmus_established rr 198.18.0.5
done_

step "workloads: w2 (h2) and w3 (h3) on blue, r3 (h3) and r4 (h4) on red ..."
# lab attach makes each greet its anycast gateway (as any workload does for off-link traffic):
# the bridge learns its MAC and IP, the agent advertises them. The bare-metal server does too.
lab attach h2 blue w2 100.64.1.12 fd00:64:1::12 >/dev/null
lab attach h3 blue w3 100.64.1.13 fd00:64:1::13 >/dev/null
lab attach h3 red r3 100.64.2.13 fd00:64:2::13 >/dev/null
lab attach h4 red r4 100.64.2.14 fd00:64:2::14 >/dev/null
w() { ip netns exec "$(lab_ns "$1")" "${@:2}"; }
w bm ping -c1 -W2 100.64.1.1 >/dev/null 2>&1 || true
done_

step "reachability over VXLAN ..."
ping_ok() { w "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; }
for pair in w2:100.64.1.13 w3:100.64.1.12 w2:fd00:64:1::13 r3:100.64.2.14 r4:100.64.2.13 \
  r4:fd00:64:2::13 bm:100.64.1.12 bm:100.64.1.13 w2:100.64.1.50; do
  lab_wait_for 30 "${pair%%:*} reaches ${pair#*:}" ping_ok "${pair%%:*}" "${pair#*:}"
done
# Networks are apart: blue does not reach red's addresses.
if ping_ok w2 100.64.2.14; then lab_fail "w2 (blue) reaches r4 (red)"; fi
done_ "9 paths up, blue and red apart"

printf '\n%sWhat the agents did%s\n' "${bold}" "${off}"
show "isthmusctl show network                 (h3)" lab ctl h3 show network
show "isthmusctl show evpn mac vni 100        (h2)" lab ctl h2 show evpn mac vni 100
show "isthmusctl show kernel fdb vni 100      (h2)" lab ctl h2 show kernel fdb vni 100
show "bridge fdb show dev vxlan100            (h2)" lab exec h2 bridge fdb show dev vxlan100
show "ip neigh show dev br100                 (h2)" lab exec h2 ip neigh show dev br100
show "vtysh -c 'show evpn mac vni 100'        (FRR ToR, h5)" lab_vtysh tor "show evpn mac vni 100"

commands() {
  local l
  l="$(realpath --relative-to=. "${DEMO_DIR}/lab") --name ${lab_name}"
  cat <<EOF

${bold}Commands to look around${off} (as root; lab --help for more):
  ${l} status
  ${l} ctl h3 show network
  ${l} ctl h3 show evpn mac vni 200
  ${l} ctl h1 show bgp l2vpn evpn
  ${l} exec w2 ping 100.64.1.50
  ${l} attach h4 red r5 && ${l} exec r5 ping 100.64.2.13
  ${l} exec h5 vtysh --vty_socket ${LAB_DIR}/tor -c 'show bgp l2vpn evpn'
  configs and logs: ${LAB_DIR}/ (rr.yaml, agent2.yaml, agent2.log, tor/bgpd.conf)
EOF
}
commands
if [[ ${keep} == 1 ]]; then
  printf '\nThe lab keeps running. Press Enter to tear it down. '
  read -r _ || true
  [[ -t 0 ]] || echo
fi
step "tearing down: lab down (processes, namespaces, ${LAB_DIR}) ..."
trap - ERR
lab down >/dev/null
done_
[[ ${keep} == 1 ]] || printf '%s(run with --keep to keep the lab until Enter is pressed and try the commands above)%s\n' "${dim}" "${off}"
echo "${green}Demo finished: workloads on three hosts and a bare-metal server behind FRR reach each other over EVPN/VXLAN.${off}"
