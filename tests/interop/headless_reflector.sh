#!/usr/bin/env bash
# Headless dataplane: losing the route reflectors interrupts no traffic between existing
# workloads. The reflectors restart gracefully (RFC 4724: they forward nothing, so they list every
# family with the F bit, close their sessions without a NOTIFICATION when stopped, and hold their
# End-of-RIBs until they have relearned their clients' routes); the agents, as helpers, keep the
# reflectors' routes as stale for the Restart Time, then as long-lived stale (RFC 9494) for the
# Long-lived Stale Time, and their kernel state with them.
#   h1 route reflector rr1 198.18.0.1 (restart time 4 s, long-lived stale time 600 s)
#   h4 route reflector rr2 198.18.0.4, same settings, started for phase c
#   h2 agent 198.18.0.2 + workload w2 100.64.1.12 (and w2b 100.64.1.22, attached in phase b)
#   h3 agent 198.18.0.3 + workload w3 100.64.1.13
# The agents peer with both reflectors. A continuous ping w2 <-> w3 (20 per second, both ways)
# runs across each phase, and not one packet may be lost:
#   a. rr1, the only reflector, is killed (SIGKILL) and started again 5 s later. Its End-of-RIB
#      to each agent comes after it relearned every route: the agents remove no stale route.
#   b. rr1 is stopped (SIGTERM) for 12 s, longer than its Restart Time: the agents keep its
#      routes as long-lived stale. Meanwhile w2b is attached on host 2; when rr1 is back, w3
#      reaches it.
#   c. rr2 joins; rr1 is killed and restarted, then rr2 is killed: losing either one is
#      invisible to the workloads.
#   d. rr1 is killed and restarted with its clients as a range (`neighbor_ranges`, restart_wait
#      15 s) while agent 3 cannot reach it for 8 s: rr1 holds its End-of-RIB to agent 2 until
#      agent 3 is back and has sent its own, so agent 2 keeps w3's routes all along.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 4

rr_conf() { # rr_conf I NAME: route reflector NAME on host I for the agents 2 and 3
  local c clients=""
  for c in 2 3; do
    clients+="    - { address: 198.18.0.${c}, remote_as: 65000, route_reflector_client: true, families: [l2vpn-evpn],
        graceful_restart: { restart_time: 4, long_lived_stale_time: 600 } }"$'\n'
  done
  cat <<YAML
control_socket: $(lab_isthmus_sock "$2")
bgp:
  asn: 65000
  router_id: 198.18.0.$1
  listen: { address: 198.18.0.$1, port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
${clients}
YAML
}
agent_conf() { # agent_conf I: lab_agent_conf with the second reflector as well
  lab_agent_conf "$1" <<YAML
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, gateway: 100.64.1.1 }
YAML
  echo "    - { address: 198.18.0.4, remote_as: 65000, families: [l2vpn-evpn] }"
}
lab_isthmusd_start 1 rr1 "$(rr_conf 1 rr1)"
lab_isthmusd_start 2 agent2 "$(agent_conf 2)"
lab_isthmusd_start 3 agent3 "$(agent_conf 3)"
established() { lab_isthmus_established "agent$1" "$2"; }
for a in 2 3; do lab_wait_for 60 "agent ${a} Established with rr1" established "${a}" 198.18.0.1; done

lab_attach_workload 2 100 w2 100.64.1.12/24
lab_attach_workload 3 100 w3 100.64.1.13/24
w() { ip netns exec "$(lab_ns "$1")" "${@:2}"; }
ping_ok() { w "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; }
lab_wait_for 30 "w2 pings w3" ping_ok w2 100.64.1.13
lab_wait_for 30 "w3 pings w2" ping_ok w3 100.64.1.12
mac_w3=$(w w3 cat /sys/class/net/eth0/address)
log_has() { grep -Eq -- "$2" "${LAB_DIR}/$1.log"; }
log_count() { grep -Ec -- "$2" "${LAB_DIR}/$1.log" || true; }
pings() { # pings COUNT: w2 <-> w3, COUNT each way
  lab_ping_start w2-w3 "$(lab_ns w2)" "$1" 100.64.1.13
  lab_ping_start w3-w2 "$(lab_ns w3)" "$1" 100.64.1.12
  sleep 1
}
# The reflector advertises the family with the F bit, and the LLGR capability with 600 s.
lab_isthmusctl agent2 show bgp neighbor 198.18.0.1 -o json | lab_check_json "
(j['capabilities']['graceful_restart_time'], j['capabilities']['graceful_restart_families'],
 j['capabilities']['long_lived_graceful_restart']) == (
  4, [{'family': 'l2vpn-evpn', 'forwarding_preserved': True}],
  [{'family': 'l2vpn-evpn', 'forwarding_preserved': True, 'stale_time': 600}])" ||
  lab_fail "rr1's Graceful Restart Capability: $(lab_isthmusctl agent2 show bgp neighbor 198.18.0.1 -o json)"

# --- a. The only reflector killed and restarted ---------------------------------------------------
pings 300
eor_before=$(log_count agent2 "neighbor 198.18.0.1: graceful restart: End-of-RIB for l2vpn-evpn")
lab_stop rr1 KILL
lab_log "rr1 killed (SIGKILL)"
for a in 2 3; do
  lab_wait_for 15 "agent ${a} keeps rr1's routes as stale" \
    log_has "agent${a}" "neighbor 198.18.0.1: graceful restart: [1-9][0-9]* routes of l2vpn-evpn kept as stale"
done
sleep 5
lab_isthmusd_start 1 rr1 "$(cat "${LAB_DIR}/rr1.yaml")"
log_has rr1 "bgp: restarting: forwarding state of l2vpn-evpn preserved" ||
  lab_fail "rr1 did not start as a restarting speaker: $(grep -m5 'bgp:' "${LAB_DIR}/rr1.log")"
eor_done() { [[ $(log_count "agent$1" "neighbor 198.18.0.1: graceful restart: End-of-RIB for l2vpn-evpn") -gt $2 ]]; }
for a in 2 3; do
  lab_wait_for 30 "agent ${a} Established with rr1 again" established "${a}" 198.18.0.1
  lab_wait_for 30 "agent ${a} received rr1's End-of-RIB" eor_done "${a}" "${eor_before}"
done
# RFC 4724 §4.1: the End-of-RIB came once rr1 had every route again, so none was removed.
grep -E "neighbor 198.18.0.1: graceful restart: End-of-RIB for l2vpn-evpn" "${LAB_DIR}/agent2.log" |
  tail -1 | grep -q " 0 stale routes removed" ||
  lab_fail "agent 2 removed routes at rr1's End-of-RIB: $(grep 'End-of-RIB' "${LAB_DIR}/agent2.log")"
log_has rr1 "routes of l2vpn-evpn complete: End-of-RIB from every peer" ||
  lab_fail "rr1 did not wait for its clients' End-of-RIB: $(grep 'bgp:' "${LAB_DIR}/rr1.log")"
lab_pings_check
lab_log "PASS a: the only reflector killed and restarted, no packet lost"

# --- b. The only reflector stopped for longer than its Restart Time -----------------------------
pings 600
llgr="neighbor 198.18.0.1: long-lived graceful restart: [1-9][0-9]* routes of l2vpn-evpn kept as long-lived stale for up to 600s"
llgr_before=$(log_count agent2 "${llgr}")
lab_stop rr1
lab_log "rr1 stopped (SIGTERM)"
lab_wait_for 10 "rr1 closed the sessions without a NOTIFICATION" \
  log_has rr1 "stopped: isthmusd is shutting down \(graceful restart: no NOTIFICATION\)"
more_llgr() { [[ $(log_count "agent$1" "${llgr}") -gt $2 ]]; }
for a in 2 3; do
  lab_wait_for 20 "agent ${a} keeps rr1's routes as long-lived stale" more_llgr "${a}" "${llgr_before}"
done
lab_fdb_has 2 vxlan100 "${mac_w3}" 198.18.0.3 || lab_fail "host 2 lost w3's entry"
lab_isthmusctl agent2 show bgp l2vpn evpn -o json | lab_check_json "'llgr-stale' in str(j)" ||
  lab_fail "agent 2's routes from rr1 do not carry LLGR_STALE: $(lab_isthmusctl agent2 show bgp l2vpn evpn -o json)"
# A workload attached while no reflector is there.
lab_attach_workload 2 100 w2b 100.64.1.22/24
sleep 6
lab_isthmusd_start 1 rr1 "$(cat "${LAB_DIR}/rr1.yaml")"
for a in 2 3; do lab_wait_for 30 "agent ${a} Established with rr1 again" established "${a}" 198.18.0.1; done
lab_wait_for 30 "w3 reaches w2b, attached while the reflector was away" ping_ok w3 100.64.1.22
lab_pings_check
lab_log "PASS b: the only reflector away beyond its Restart Time, no packet lost"

# --- c. Two reflectors: losing either one --------------------------------------------------------
lab_isthmusd_start 4 rr2 "$(rr_conf 4 rr2)"
for a in 2 3; do lab_wait_for 60 "agent ${a} Established with rr2" established "${a}" 198.18.0.4; done
from_rr2() { lab_isthmusctl agent2 show bgp l2vpn evpn -o json | lab_check_json "'198.18.0.4' in str(j)"; }
lab_wait_for 30 "agent 2 learned routes from rr2 too" from_rr2
pings 500
lab_stop rr1 KILL
lab_log "rr1 killed (SIGKILL), rr2 remains"
sleep 5
lab_isthmusd_start 1 rr1 "$(cat "${LAB_DIR}/rr1.yaml")"
for a in 2 3; do lab_wait_for 30 "agent ${a} Established with rr1 again" established "${a}" 198.18.0.1; done
lab_stop rr2 KILL
lab_log "rr2 killed (SIGKILL), rr1 remains"
lab_pings_check
lab_log "PASS c: either of two reflectors lost, no packet lost"

# --- d. The reflector's clients as a range: the first back does not drop the others' routes ------
cat >"${LAB_DIR}/rr1-range.yaml" <<YAML
control_socket: $(lab_isthmus_sock rr1)
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: { address: 198.18.0.1, port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbor_ranges:
    - { prefix: 198.18.0.0/24, remote_as: 65000, route_reflector_client: true,
        families: [l2vpn-evpn], restart_wait: 15,
        graceful_restart: { restart_time: 4, long_lived_stale_time: 600 } }
YAML
pings 450
eor_before=$(log_count agent2 "neighbor 198.18.0.1: graceful restart: End-of-RIB for l2vpn-evpn")
complete="routes of l2vpn-evpn complete: End-of-RIB from every peer"
complete_before=$(log_count rr1 "${complete}")
lab_stop rr1 KILL
lab_exec 3 ip route add blackhole 198.18.0.1/32
lab_log "rr1 killed (SIGKILL); agent 3 cut off from it"
sleep 2
lab_isthmusd_start 1 rr1 "$(cat "${LAB_DIR}/rr1-range.yaml")"
log_has rr1 "bgp: waiting 15s for the neighbors of neighbor_ranges to come back" ||
  lab_fail "rr1 does not wait for its range's neighbors: $(grep -m5 'bgp:' "${LAB_DIR}/rr1.log")"
lab_wait_for 30 "agent 2 Established with rr1 again" established 2 198.18.0.1
sleep 6
[[ $(log_count agent2 "neighbor 198.18.0.1: graceful restart: End-of-RIB for l2vpn-evpn") -eq ${eor_before} ]] ||
  lab_fail "rr1 sent agent 2 its End-of-RIB before agent 3 was back: $(grep 'End-of-RIB' "${LAB_DIR}/agent2.log" | tail -2)"
lab_fdb_has 2 vxlan100 "${mac_w3}" 198.18.0.3 || lab_fail "host 2 lost w3's entry while agent 3 was away"
lab_exec 3 ip route del blackhole 198.18.0.1/32
lab_wait_for 30 "agent 3 Established with rr1 again" established 3 198.18.0.1
more_complete() { [[ $(log_count rr1 "${complete}") -gt ${complete_before} ]]; }
lab_wait_for 30 "rr1's routes are complete once both clients sent End-of-RIB" more_complete
lab_wait_for 30 "agent 2 received rr1's End-of-RIB" eor_done 2 "${eor_before}"
grep -E "neighbor 198.18.0.1: graceful restart: End-of-RIB for l2vpn-evpn" "${LAB_DIR}/agent2.log" |
  tail -1 | grep -q " 0 stale routes removed" ||
  lab_fail "agent 2 removed routes at rr1's End-of-RIB: $(grep 'End-of-RIB' "${LAB_DIR}/agent2.log" | tail -2)"
lab_pings_check
lab_log "PASS d: the clients of a range, one late, no packet lost"
lab_log "PASS"
