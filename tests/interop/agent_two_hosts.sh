#!/usr/bin/env bash
# The node agent end to end: isthmusd agents (h2, h3, h4) peer with an isthmusd route reflector
# (h1); each puts network blue (VNI 100) into its kernel, learns the workload attached to br100
# and advertises it; the others install it; the workloads ping each other over VXLAN, IPv4 and
# IPv6; ARP suppression; routing at the anycast gateway between the networks of a VRF (blue and
# green) but not into another (red); a workload moves from h3 to h4; the networks are deleted at
# h3.
#   h1 isthmusd RR 198.18.0.1        h2 agent 198.18.0.2 + workload w2 100.64.1.12
#                                    h3 agent 198.18.0.3 + workload w3 100.64.1.13 (moves to h4)
#                                    h4 agent 198.18.0.4
# Usage: agent_two_hosts.sh [4|6]: the VTEPs (the VXLAN underlay) on IPv4 (198.18.0.N) or IPv6
# (fd00:18::N); the BGP sessions are IPv4 either way.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

underlay=${1:-4}
vtep() { if [[ ${underlay} == 6 ]]; then echo "fd00:18::$1"; else echo "198.18.0.$1"; fi; }
# RFC 7348: 50 octets of VXLAN over IPv4, 70 over IPv6, under the lab's underlay MTU of 9000.
mtu=$([[ ${underlay} == 6 ]] && echo 8930 || echo 8950)

lab_init
lab_require_isthmus
lab_underlay 4

agent_conf() { # agent_conf ID
  lab_agent_conf "$1" "$(vtep "$1")" <<YAML
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, gateway: 100.64.1.1, subnet6: "fd00:64:1::/64", gateway6: "fd00:64:1::1", vrf: tenant1 }
  - { name: green, vni: 300, subnet: 100.64.3.0/24, subnet6: "fd00:64:3::/64", vrf: tenant1 }
  - { name: red, vni: 200, subnet: 100.64.2.0/24 }
YAML
}
lab_isthmus_rr_start 1 2 3 4
lab_isthmusd_start 2 agent2 "$(agent_conf 2)"
lab_isthmusd_start 3 agent3 "$(agent_conf 3)"
lab_isthmusd_start 4 agent4 "$(agent_conf 4)"
for peer in 198.18.0.2 198.18.0.3 198.18.0.4; do
  lab_wait_for 60 "rr: ${peer} Established" lab_isthmus_established rr "${peer}"
done

# The agents made the network: bridge with the anycast gateway, VXLAN port, overlay MTU. (Output
# is read whole before grep: with pipefail, `cmd | grep -q` fails when grep exits first.)
shows() { # shows PATTERN CMD...: CMD's output has PATTERN
  local out
  out=$("${@:2}")
  grep -q -- "$1" <<<"${out}"
}
for i in 2 3; do
  shows "vxlan id 100 local $(vtep "${i}") .*nolearning" lab_exec "${i}" ip -d link show vxlan100 ||
    lab_fail "host ${i}: vxlan100 is not as the agent should make it: $(lab_exec "${i}" ip -d link show vxlan100)"
  shows "neigh_suppress on" lab_exec "${i}" ip -d link show vxlan100 || lab_fail "host ${i}: vxlan100 lacks neigh_suppress"
  shows "learning off" lab_exec "${i}" ip -d link show vxlan100 || lab_fail "host ${i}: vxlan100 port learning is on"
  shows "inet 100.64.1.1/24" lab_exec "${i}" ip addr show br100 ||
    lab_fail "host ${i}: no gateway on br100: $(lab_exec "${i}" ip addr show br100)"
  shows "mtu ${mtu}" lab_exec "${i}" ip link show br100 || lab_fail "host ${i}: br100 MTU is not ${mtu}"
done
lab_isthmusctl agent2 show network -o json | lab_check_json "j[0]['name'] == 'blue' and j[0]['vni'] == 100 and j[0]['up'] and j[0]['mtu'] == ${mtu}" ||
  lab_fail "show network: $(lab_isthmusctl agent2 show network -o json)"
flood_has() { lab_fdb_has "$1" vxlan100 00:00:00:00:00:00 "$2"; }
lab_wait_for 30 "host 2 floods to $(vtep 3)" flood_has 2 "$(vtep 3)"
lab_wait_for 30 "host 3 floods to $(vtep 2)" flood_has 3 "$(vtep 2)"
lab_log "agents: br100/vxlan100 with gateway, suppression and MTU ${mtu}; flood lists from each other's IMET routes"

# Workloads: the bridges learn them, the agents advertise them, the other side installs them.
lab_attach_workload 2 100 w2 100.64.1.12/24 fd00:64:1::12/64
lab_attach_workload 3 100 w3 100.64.1.13/24 fd00:64:1::13/64
w() { ip netns exec "$(lab_ns "$1")" "${@:2}"; }
# Each workload speaks to its gateway first (as it would for any off-link traffic).
w w2 ping -c1 -W2 100.64.1.1 >/dev/null || lab_fail "w2 cannot reach its anycast gateway"
w w3 ping -c1 -W2 100.64.1.1 >/dev/null || lab_fail "w3 cannot reach its anycast gateway"
mac_w3=$(w w3 cat /sys/class/net/eth0/address)
mac_w2=$(w w2 cat /sys/class/net/eth0/address)
lab_wait_for 30 "host 2 has w3's MAC at VTEP $(vtep 3)" lab_fdb_has 2 vxlan100 "${mac_w3}" "$(vtep 3)"
lab_wait_for 30 "host 3 has w2's MAC at VTEP $(vtep 2)" lab_fdb_has 3 vxlan100 "${mac_w2}" "$(vtep 2)"
neigh_has() { shows "^$2 lladdr $3 .*extern_learn" lab_exec "$1" ip neigh show dev br100; }
lab_wait_for 30 "host 2 has w3's IP for ARP suppression" neigh_has 2 100.64.1.13 "${mac_w3}"
lab_isthmusctl agent2 show kernel fdb vni 100 -o json | lab_check_json "
any(e['mac'] == '${mac_w3}' and e.get('vtep') == '$(vtep 3)' for e in j)" ||
  lab_fail "show kernel fdb vni 100: $(lab_isthmusctl agent2 show kernel fdb vni 100 -o json)"
lab_isthmusctl agent2 show endpoint -o json | lab_check_json "
[(e['network'], e['mac'], e['ips'], e['port'], e['state']) for e in j] == [('blue', '${mac_w2}', ['100.64.1.12'], 'veth-w2', 'local')]" ||
  lab_fail "show endpoint: $(lab_isthmusctl agent2 show endpoint -o json)"
lab_log "workloads learned and advertised; the other host installed MAC, VTEP and IP"

ping_ok() { w "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; }
lab_wait_for 30 "w2 pings w3 over VXLAN (IPv4)" ping_ok w2 100.64.1.13
lab_wait_for 30 "w3 pings w2 (IPv4)" ping_ok w3 100.64.1.12
w w3 ping -6 -c1 -W2 fd00:64:1::1 >/dev/null 2>&1 || true  # its IPv6 neighbour entry at host 3
w w2 ping -6 -c1 -W2 fd00:64:1::1 >/dev/null 2>&1 || true
lab_wait_for 30 "w2 pings w3 (IPv6)" ping_ok w2 fd00:64:1::13
# 1472 bytes of ICMP data with DF: a full 1500-byte frame crosses the overlay unfragmented.
w w2 ping -c1 -W2 -M do -s 1472 100.64.1.13 >/dev/null || lab_fail "a 1500-byte DF packet does not cross"
lab_log "w2 and w3 reach each other over VXLAN, IPv4 and IPv6, 1500-byte frames with DF"

# ARP suppression: w2 forgets w3's MAC and asks again; host 2's bridge answers from the entry the
# agent installed, and no ARP request crosses the VXLAN port (a capture on vxlan100 at host 2).
lab_exec 2 timeout 5 tcpdump -n -i vxlan100 -c 50 arp >"${LAB_DIR}/arp.txt" 2>/dev/null &
capture=$!
sleep 1  # tcpdump attaches (nothing is asserted on this wait)
w w2 ip neigh flush dev eth0
w w2 ping -c1 -W2 100.64.1.13 >/dev/null || lab_fail "w2 cannot reach w3 after flushing its ARP cache"
shows "${mac_w3}" w w2 ip neigh show 100.64.1.13 || lab_fail "w2 did not learn w3's MAC again"
# The capture works: a request for an address nobody has does cross (flooded to the VTEPs).
w w2 ping -c1 -W1 100.64.1.99 >/dev/null 2>&1 || true
wait "${capture}" || true
grep -q "Request who-has 100.64.1.99" "${LAB_DIR}/arp.txt" ||
  lab_fail "the capture on vxlan100 saw no flooded ARP request: $(cat "${LAB_DIR}/arp.txt")"
if grep -q "Request who-has 100.64.1.13" "${LAB_DIR}/arp.txt"; then
  lab_fail "an ARP request for 100.64.1.13 crossed vxlan100: $(cat "${LAB_DIR}/arp.txt")"
fi
lab_log "ARP suppression: w2 resolved w3 without an ARP request crossing the overlay"

# Routing at the anycast gateway (asymmetric IRB): blue and green are one VRF, red is alone.
# w2 (blue, host 2) reaches g3 (green, host 3): routed by host 2 into br300, bridged over VXLAN to
# host 3; the answer is routed by host 3 into br100. r3 (red, host 3) stays out of reach.
lab_attach_workload 3 300 g3 100.64.3.13/24 fd00:64:3::13/64
lab_attach_workload 3 200 r3 100.64.2.13/24
w g3 ping -c1 -W2 100.64.3.1 >/dev/null || lab_fail "g3 cannot reach its gateway"
w r3 ping -c1 -W2 100.64.2.1 >/dev/null || lab_fail "r3 cannot reach its gateway"
w g3 ping -6 -c1 -W2 fd00:64:3::1 >/dev/null 2>&1 || true
lab_wait_for 30 "host 2 has g3's IP (green)" shows "^100.64.3.13 lladdr .*extern_learn" lab_exec 2 ip neigh show dev br300
lab_wait_for 30 "w2 (blue) pings g3 (green) on host 3" ping_ok w2 100.64.3.13
lab_wait_for 30 "w2 pings g3 over IPv6" ping_ok w2 fd00:64:3::13
ttl=$(w w2 ping -c1 -W2 100.64.3.13 | sed -n 's/.*ttl=\([0-9]*\).*/\1/p')
[[ ${ttl} == 63 ]] || lab_fail "w2 -> g3 is not routed once (ttl ${ttl}, want 63)"
lab_wait_for 30 "host 2 has r3's IP (red)" shows "^100.64.2.13 lladdr .*extern_learn" lab_exec 2 ip neigh show dev br200
if w w2 ping -c2 -W1 100.64.2.13 >/dev/null 2>&1; then lab_fail "w2 (blue) reaches r3 (red, another VRF)"; fi
if w r3 ping -c2 -W1 100.64.1.12 >/dev/null 2>&1; then lab_fail "r3 (red) reaches w2 (blue)"; fi
shows "iif br100 lookup" lab_exec 2 ip rule show || lab_fail "host 2 has no rule for br100: $(lab_exec 2 ip rule show)"
lab_log "routing at the anycast gateway: blue reaches green (IPv4 and IPv6, one hop), red stays apart"

# A workload moves: w3 leaves host 3 (its namespace and veth go, the bridge forgets its MAC) and
# comes up on host 4 with the same MAC and addresses. Everyone finds it there (RFC 7432 §15),
# and no FDB entry points at host 3 any more.
ip netns delete "$(lab_ns w3)"
lab_attach_workload 4 100 w3m 100.64.1.13/24 fd00:64:1::13/64
ip -n "$(lab_ns w3m)" link set eth0 address "${mac_w3}"
w w3m ping -c1 -W2 100.64.1.1 >/dev/null 2>&1 || true
lab_wait_for 30 "host 2 has w3's MAC at its new VTEP $(vtep 4)" lab_fdb_has 2 vxlan100 "${mac_w3}" "$(vtep 4)"
lab_wait_for 30 "host 3 has w3's MAC at $(vtep 4)" lab_fdb_has 3 vxlan100 "${mac_w3}" "$(vtep 4)"
at_old() { lab_fdb_has "$1" vxlan100 "${mac_w3}" "$(vtep 3)"; }
lab_never 2 "host 2 points w3's MAC at $(vtep 3)" at_old 2
lab_wait_for 30 "w2 reaches w3 at its new place" ping_ok w2 100.64.1.13
lab_isthmusctl agent2 show evpn mac vni 100 -o json | lab_check_json "
[m['vtep'] for m in j['macs'] if m['mac'] == '${mac_w3}'] == ['$(vtep 4)']" ||
  lab_fail "show evpn mac vni 100 at host 2: $(lab_isthmusctl agent2 show evpn mac vni 100 -o json)"
lab_log "w3 moved from host 3 to host 4: found there by host 2 and host 3, nothing points at host 3"

# Deleting the network (agent 3 restarted without it) leaves nothing of it behind at host 3,
# and host 2 forgets host 3's VTEP and workload.
sed -i '/^networks:/,/^bgp:/{/^networks:/d;/^  - /d}' "${LAB_DIR}/agent3.yaml"
grep -q "name: blue" "${LAB_DIR}/agent3.yaml" && lab_fail "the test could not remove blue from agent3.yaml"
lab_isthmusd_restart agent3
lab_wait_for 60 "rr: 198.18.0.3 Established again" lab_isthmus_established rr 198.18.0.3
gone() { ! lab_exec 3 ip link show "$1" >/dev/null 2>&1; }
lab_wait_for 30 "host 3: br100 is gone" gone br100
lab_wait_for 30 "host 3: vxlan100 is gone" gone vxlan100
shows "dst $(vtep 1 | sed 's/1$//')" lab_exec 3 bridge fdb show && lab_fail "host 3 keeps FDB entries: $(lab_exec 3 bridge fdb show)"
shows extern_learn lab_exec 3 ip neigh show && lab_fail "host 3 keeps neighbours: $(lab_exec 3 ip neigh show)"
shows "100.64" lab_exec 3 ip route show table all && lab_fail "host 3 keeps a route: $(lab_exec 3 ip route show table all)"
shows "iif br" lab_exec 3 ip rule show && lab_fail "host 3 keeps a rule: $(lab_exec 3 ip rule show)"
shows "iif br" lab_exec 3 ip -6 rule show && lab_fail "host 3 keeps an IPv6 rule: $(lab_exec 3 ip -6 rule show)"
shows "unreachable" lab_exec 3 ip -6 route show table all && lab_fail "host 3 keeps an unreachable route"
for l in br200 br300 vxlan200 vxlan300; do gone "${l}" || lab_fail "host 3: ${l} is still there"; done
no_flood() { ! lab_fdb_has 2 vxlan100 00:00:00:00:00:00 "$(vtep 3)"; }
lab_wait_for 30 "host 2 no longer floods to $(vtep 3)" no_flood
lab_log "network deleted at host 3: no link, FDB entry, neighbour or route left; host 2 forgot its VTEP"
lab_log "PASS"
