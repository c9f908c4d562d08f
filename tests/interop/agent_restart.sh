#!/usr/bin/env bash
# Restarting a node agent does not stop its workloads' traffic (RFC 4724 graceful restart, with
# isthmusd as the restarting speaker). The kernel keeps the agent's bridge, VXLAN device, FDB and
# neighbour entries while isthmusd is away; the route reflector keeps the agent's routes as stale
# (its OPENs list l2vpn-evpn with the F bit, and a stopping agent closes its sessions without a
# NOTIFICATION); the restarted agent adopts the kernel state, keeps the remote entries until the route
# reflector's End-of-RIB, then removes only what did not come back.
#   h1 route reflector and graceful restart helper: isthmusd, or GoBGP 3.10 (`agent_restart.sh
#      gobgp`)
#   h2 agent 198.18.0.2 + workloads w2 100.64.1.12, w2b 100.64.1.22
#   h3 agent 198.18.0.3 + workload  w3 100.64.1.13
# A continuous ping w2 <-> w3 (20 per second, both ways) runs while agent 3 restarts (SIGTERM)
# and agent 2 is killed (SIGKILL) and started again: the test asserts that not one packet is
# lost. While agent 3 is away, w2b leaves host 2; when agent 3 is back, host 3 forgets w2b.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"
rr=${1:-isthmusd}

lab_init
lab_require_isthmus
lab_underlay 3

agent_conf() { # agent_conf ID
  lab_agent_conf "$1" <<YAML
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, gateway: 100.64.1.1 }
YAML
}
if [[ ${rr} == gobgp ]]; then
  # GoBGP 3.10 as the route reflector and graceful restart helper. (FRR 8.4 cannot be the
  # helper here: its graceful restart covers unicast and VPN families only, not EVPN.)
  gobgp_client() {
    cat <<CONF
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.0.$1"
    peer-as = 65000
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
  [neighbors.route-reflector.config]
    route-reflector-client = true
    route-reflector-cluster-id = "198.18.0.1"
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 120
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "l2vpn-evpn"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
CONF
  }
  lab_gobgp_start 1 rr "$(cat <<CONF
[global.config]
  as = 65000
  router-id = "198.18.0.1"
  local-address-list = ["198.18.0.1"]
$(gobgp_client 2)
$(gobgp_client 3)
CONF
)"
else
  lab_isthmus_rr_start 1 2 3
fi
lab_isthmusd_start 2 agent2 "$(agent_conf 2)"
lab_isthmusd_start 3 agent3 "$(agent_conf 3)"
established() { lab_isthmus_established "agent$1" 198.18.0.1; }
lab_wait_for 60 "agent 2 Established with the route reflector" established 2
lab_wait_for 60 "agent 3 Established with the route reflector" established 3

lab_attach_workload 2 100 w2 100.64.1.12/24
lab_attach_workload 2 100 w2b 100.64.1.22/24
lab_attach_workload 3 100 w3 100.64.1.13/24
w() { ip netns exec "$(lab_ns "$1")" "${@:2}"; }
for x in w2 w2b w3; do w "${x}" ping -c1 -W2 100.64.1.1 >/dev/null || lab_fail "${x} cannot reach its gateway"; done
mac_w2=$(w w2 cat /sys/class/net/eth0/address)
mac_w2b=$(w w2b cat /sys/class/net/eth0/address)
mac_w3=$(w w3 cat /sys/class/net/eth0/address)
lab_wait_for 30 "host 3 has w2's MAC" lab_fdb_has 3 vxlan100 "${mac_w2}" 198.18.0.2
lab_wait_for 30 "host 3 has w2b's MAC" lab_fdb_has 3 vxlan100 "${mac_w2b}" 198.18.0.2
lab_wait_for 30 "host 2 has w3's MAC" lab_fdb_has 2 vxlan100 "${mac_w3}" 198.18.0.3
ping_ok() { w "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; }
lab_wait_for 30 "w2 pings w3" ping_ok w2 100.64.1.13
lab_wait_for 30 "w3 pings w2" ping_ok w3 100.64.1.12
lab_log "w2 and w3 reach each other; the continuous pings start"

# 700 echo requests each way, one per 50 ms (35 s): they span both restarts.
w w2 ping -q -c 700 -i 0.05 -W 1 100.64.1.13 >"${LAB_DIR}/ping23.txt" 2>&1 &
ping23=$!
w w3 ping -q -c 700 -i 0.05 -W 1 100.64.1.12 >"${LAB_DIR}/ping32.txt" 2>&1 &
ping32=$!
sleep 2

# Agent 3 restarts (SIGTERM). The route reflector keeps its routes meanwhile.
log_has() { grep -q -- "$2" "${LAB_DIR}/$1.log"; }
lab_stop agent3
lab_log "agent 3 stopped (SIGTERM)"
rr_has() { # rr_has MAC: the route reflector holds a type-2 route of MAC
  local out
  if [[ ${rr} == gobgp ]]; then
    out=$(lab_gobgp rr global rib -a evpn)
  else
    out=$(lab_isthmusctl rr show bgp l2vpn evpn -o json)
  fi
  grep -qi -- "$1" <<<"${out}"
}
if [[ ${rr} == isthmusd ]]; then
  # RFC 4724 §4.2: the end of the TCP connection, no NOTIFICATION.
  lab_wait_for 10 "agent 3 closed its session without a NOTIFICATION" log_has rr 'neighbor 198.18.0.3: Established -> Idle (connection closed'
  lab_wait_for 10 "the route reflector keeps agent 3's routes as stale" log_has rr "neighbor 198.18.0.3: graceful restart: [1-9][0-9]* routes of l2vpn-evpn kept as stale"
fi
rr_has "${mac_w3}" || lab_fail "the route reflector dropped w3's route when agent 3 stopped"
lab_fdb_has 2 vxlan100 "${mac_w3}" 198.18.0.3 || lab_fail "host 2 lost w3's entry when agent 3 stopped"
# While agent 3 is away, w2b leaves host 2: agent 2 withdraws it, host 3 cannot hear it yet.
ip netns delete "$(lab_ns w2b)"
lab_exec 2 bridge fdb del "${mac_w2b}" dev veth-w2b master 2>/dev/null || true
gone_at_rr() { ! rr_has "${mac_w2b}"; }
lab_wait_for 30 "the route reflector no longer has w2b" gone_at_rr
lab_fdb_has 3 vxlan100 "${mac_w2b}" 198.18.0.2 || lab_fail "host 3 lost w2b's entry while its agent was away: $(lab_exec 3 bridge fdb show dev vxlan100)"
lab_isthmusd_start 3 agent3 "$(cat "${LAB_DIR}/agent3.yaml")"
lab_wait_for 30 "agent 3 Established again" established 3
lab_wait_for 30 "agent 3: routes complete after the route reflector's End-of-RIB" \
  log_has agent3 "routes of l2vpn-evpn complete: End-of-RIB from every peer"
log_has agent3 "restarting: forwarding state of l2vpn-evpn preserved" ||
  lab_fail "agent 3 did not find its forwarding state: $(grep -m3 'bgp:' "${LAB_DIR}/agent3.log")"
no_w2b() { ! lab_fdb_has 3 vxlan100 "${mac_w2b}" 198.18.0.2; }
lab_wait_for 30 "host 3 forgets w2b once the routes are complete" no_w2b
lab_fdb_has 3 vxlan100 "${mac_w2}" 198.18.0.2 || lab_fail "host 3 lost w2's entry"
lab_log "agent 3 restarted: kernel state adopted, stale w2b removed after End-of-RIB"

# Agent 2 is killed (no NOTIFICATION at all) and started again.
lab_stop agent2 KILL
lab_log "agent 2 killed (SIGKILL)"
if [[ ${rr} == isthmusd ]]; then
  lab_wait_for 10 "the route reflector keeps agent 2's routes as stale" log_has rr "neighbor 198.18.0.2: graceful restart: [1-9][0-9]* routes of l2vpn-evpn kept as stale"
fi
lab_isthmusd_start 2 agent2 "$(cat "${LAB_DIR}/agent2.yaml")"
lab_wait_for 30 "agent 2 Established again" established 2
lab_wait_for 30 "agent 2: routes complete" log_has agent2 "routes of l2vpn-evpn complete: End-of-RIB from every peer"
lab_fdb_has 2 vxlan100 "${mac_w3}" 198.18.0.3 || lab_fail "host 2 lost w3's entry"
if [[ ${rr} == isthmusd ]]; then
  lab_wait_for 30 "the route reflector's restart of agent 2 is complete" log_has rr "neighbor 198.18.0.2: graceful restart: End-of-RIB for l2vpn-evpn"
  lab_isthmusctl rr show bgp l2vpn evpn -o json | lab_check_json "'stale' not in str(j)" ||
    lab_fail "the route reflector still has stale routes: $(lab_isthmusctl rr show bgp l2vpn evpn -o json)"
fi
lab_log "agent 2 restarted after SIGKILL; waiting for the pings to end"

wait "${ping23}" || true
wait "${ping32}" || true
loss() { # loss FILE: "transmitted received"
  sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p' "$1"
}
read -r sent23 got23 <<<"$(loss "${LAB_DIR}/ping23.txt")"
read -r sent32 got32 <<<"$(loss "${LAB_DIR}/ping32.txt")"
lab_log "w2 -> w3: ${got23:-?}/${sent23:-?} answered; w3 -> w2: ${got32:-?}/${sent32:-?} answered"
[[ ${sent23:-0} -eq 700 && ${got23:-0} -eq 700 ]] || lab_fail "w2 -> w3 lost packets: $(cat "${LAB_DIR}/ping23.txt")"
[[ ${sent32:-0} -eq 700 && ${got32:-0} -eq 700 ]] || lab_fail "w3 -> w2 lost packets: $(cat "${LAB_DIR}/ping32.txt")"
lab_log "PASS: no packet lost across an agent restart and an agent kill"
