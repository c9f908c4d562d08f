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
# metal server reaches the blue workloads. Everything it creates (namespaces il<pid>x<n>-*, files
# in /tmp/il<pid>x<n>.*) is removed at the end, also on failure or Ctrl-C.
# lab/demo_bgp.sh is the earlier demo: isthmusd as a route reflector for FRR and BIRD.
set -euo pipefail
DEMO_DIR=$(cd "$(dirname "$0")" && pwd)

DEMO_HELP_END=17
source "${DEMO_DIR}/demo_common.sh"
sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
echo

step "underlay: 5 hosts on one switch (198.18.0.0/24, MTU 9000) ..."
lab_underlay 5
done_

step "isthmusd route reflector on h1, agents on h2-h4 ..."
networks() { # networks NAME...: the networks: section with these of blue and red
  echo "networks:"
  for n in "$@"; do
    case ${n} in
      blue) echo '  - { name: blue, vni: 100, subnet: 100.64.1.0/24, subnet6: "fd00:64:1::/64" }' ;;
      red) echo '  - { name: red, vni: 200, subnet: 100.64.2.0/24, subnet6: "fd00:64:2::/64" }' ;;
    esac
  done
}
agent_conf() { # agent_conf ID NETWORK...
  local i=$1
  shift
  cat <<YAML
control_socket: $(lab_isthmus_sock "agent${i}")
agent:
  vtep: { address: 198.18.0.${i} }
$(networks "$@")
bgp:
  asn: 65000
  router_id: 198.18.0.${i}
  listen: { address: 198.18.0.${i}, port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.1, remote_as: 65000, families: [l2vpn-evpn] }
YAML
}
client() { echo "    - { address: 198.18.0.$1, remote_as: 65000, route_reflector_client: true, families: [l2vpn-evpn] }"; }
lab_isthmusd_start 1 rr "$(cat <<YAML
control_socket: $(lab_isthmus_sock rr)
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: { address: 198.18.0.1, port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
$(client 2)
$(client 3)
$(client 4)
$(client 5)
evpn:
  vnis: [{ vni: 100 }, { vni: 200 }]
YAML
)"
lab_isthmusd_start 2 agent2 "$(agent_conf 2 blue)"
lab_isthmusd_start 3 agent3 "$(agent_conf 3 blue red)"
lab_isthmusd_start 4 agent4 "$(agent_conf 4 red)"
for i in 2 3 4; do lab_wait_for 60 "rr: 198.18.0.${i} Established" lab_isthmus_established rr "198.18.0.${i}"; done
done_

step "FRR ToR VTEP on h5 (VNI 100) with a bare-metal server behind it ..."
lab_vxlan_bridge 5 100 198.18.0.5
lab_frr_start 5 tor "$(lab_frr_evpn_vtep_conf 5)"
lab_new_ns "$(lab_ns bm)"
lab_workload 5 100 bm 02:00:00:00:05:50 100.64.1.50/24
ip -n "$(lab_ns bm)" route add default via 100.64.1.1
lab_wait_for 60 "rr: 198.18.0.5 (FRR) Established" lab_isthmus_established rr 198.18.0.5
done_

step "workloads: w2 (h2) and w3 (h3) on blue, r3 (h3) and r4 (h4) on red ..."
lab_attach_workload 2 100 w2 100.64.1.12/24 fd00:64:1::12/64
lab_attach_workload 3 100 w3 100.64.1.13/24 fd00:64:1::13/64
lab_attach_workload 3 200 r3 100.64.2.13/24 fd00:64:2::13/64
lab_attach_workload 4 200 r4 100.64.2.14/24 fd00:64:2::14/64
w() { ip netns exec "$(lab_ns "$1")" "${@:2}"; }
# Each says hello to its anycast gateway (as any workload does for off-link traffic): the
# bridge learns its MAC and IP, the agent advertises them.
for x in w2:100.64.1.1 w3:100.64.1.1 r3:100.64.2.1 r4:100.64.2.1 bm:100.64.1.1; do
  w "${x%%:*}" ping -c1 -W2 "${x#*:}" >/dev/null 2>&1 || true
done
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
show "isthmusctl show network                 (h3)" lab_isthmusctl agent3 show network
show "isthmusctl show evpn mac vni 100        (h2)" lab_isthmusctl agent2 show evpn mac vni 100
show "isthmusctl show kernel fdb vni 100      (h2)" lab_isthmusctl agent2 show kernel fdb vni 100
show "bridge fdb show dev vxlan100            (h2)" lab_exec 2 bridge fdb show dev vxlan100
show "ip neigh show dev br100                 (h2)" lab_exec 2 ip neigh show dev br100
show "vtysh -c 'show evpn mac vni 100'        (FRR ToR, h5)" lab_vtysh tor "show evpn mac vni 100"

commands() {
  cat <<EOF

${bold}Commands to look around${off} (as root):
  ${ISTHMUSCTL} --socket $(lab_isthmus_sock agent3) show network
  ${ISTHMUSCTL} --socket $(lab_isthmus_sock agent3) show evpn mac vni 200
  ${ISTHMUSCTL} --socket $(lab_isthmus_sock rr) show bgp l2vpn evpn
  ip netns exec $(lab_ns w2) ping 100.64.1.50
  ip netns exec $(lab_ns 5) vtysh --vty_socket ${LAB_DIR}/tor -c 'show bgp l2vpn evpn'
  configs and logs: ${LAB_DIR}/ (rr.yaml, agent2.yaml, agent2.log, tor/bgpd.conf)
EOF
}
commands
if [[ ${keep} == 1 ]]; then
  printf '\nThe lab keeps running. Press Enter to tear it down. '
  read -r _ || true
  [[ -t 0 ]] || echo
fi
step "tearing down (processes, namespaces, ${LAB_DIR}) ..."
lab_cleanup
done_
[[ ${keep} == 1 ]] || printf '%s(run with --keep to keep the lab until Enter is pressed and try the commands above)%s\n' "${dim}" "${off}"
echo "${green}Demo finished: workloads on three hosts and a bare-metal server behind FRR reach each other over EVPN/VXLAN.${off}"
