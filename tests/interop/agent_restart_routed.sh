#!/usr/bin/env bash
# Restarting a node agent does not stop its tenant's routed traffic (symmetric IRB, RFC 9135,
# with RFC 4724 graceful restart, isthmusd as the restarting speaker). While isthmusd is away the
# kernel keeps the L3 VNI's bridge and VXLAN device, the tenant's table with its remote routes
# (onlink through the L3 VNI's bridge) and the router MAC's neighbour and FDB entries; the
# restarted agent adopts them and removes only what did not come back.
#   h1 route reflector (isthmusd)
#   h2 agent 198.18.0.2, tenant1 (L3 VNI 5001): network blue (VNI 100) + workloads w2 100.64.1.12,
#      w2b 100.64.1.22
#   h3 agent 198.18.0.3, tenant1: network red (VNI 200) + workload w3 100.64.2.13
# A continuous ping w2 <-> w3 (routed between the two networks, 20 per second, both ways) runs
# while agent 3 restarts (SIGTERM) and agent 2 is killed (SIGKILL) and started again: the test
# asserts that not one packet is lost, IPv4 and IPv6. While agent 3 is away, w2b leaves host 2;
# when agent 3 is back, host 3's table forgets w2b's host route.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 3

lab_isthmus_rr_start 1 2 3
lab_isthmusd_start 2 agent2 "$(lab_tenant_agent_conf 2 blue 100 1)"
lab_isthmusd_start 3 agent3 "$(lab_tenant_agent_conf 3 red 200 2)"
established() { lab_isthmus_established "agent$1" 198.18.0.1; }
lab_wait_for 60 "agent 2 Established with the route reflector" established 2
lab_wait_for 60 "agent 3 Established with the route reflector" established 3

lab_attach_workload 2 100 w2 100.64.1.12/24 fd00:64:1::12/64
lab_attach_workload 2 100 w2b 100.64.1.22/24
lab_attach_workload 3 200 w3 100.64.2.13/24 fd00:64:2::13/64
w() { ip netns exec "$(lab_ns "$1")" "${@:2}"; }
table=$((0x49000000 + 5001))
dump_tenant() {
  local h
  for h in 2 3; do
    echo "== host ${h}: tenant table, rules, L3 VNI entries, EVPN prefixes"
    lab_exec "${h}" ip -d route show table "${table}"
    lab_exec "${h}" ip -6 -d route show table "${table}"
    lab_exec "${h}" ip rule
    lab_exec "${h}" ip neigh show nud all dev br5001 || true
    lab_exec "${h}" bridge fdb show dev vxlan5001 || true
    lab_isthmusctl "agent${h}" show evpn prefix vni 5001 || true
  done
}
lab_on_fail dump_tenant
route_in() { # route_in HOST PREFIX: host's tenant table routes PREFIX through the L3 VNI
  local routes
  routes=$(lab_exec "$1" ip route show table "${table}"; lab_exec "$1" ip -6 route show table "${table}")
  grep -q "^$2 .*dev br5001.*onlink" <<<"${routes}"
}
for x in w2 w2b; do w "${x}" ping -c1 -W2 100.64.1.1 >/dev/null || lab_fail "${x} cannot reach its gateway"; done
w w3 ping -c1 -W2 100.64.2.1 >/dev/null || lab_fail "w3 cannot reach its gateway"
lab_wait_for 30 "host 3 routes w2b (100.64.1.22/32) through the L3 VNI" route_in 3 100.64.1.22
lab_wait_for 30 "host 2 routes red's subnet through the L3 VNI" route_in 2 100.64.2.0/24
ping_ok() { w "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; }
lab_wait_for 30 "w2 pings w3" ping_ok w2 100.64.2.13
lab_wait_for 30 "w3 pings w2" ping_ok w3 100.64.1.12
lab_wait_for 30 "w2 pings w3 (IPv6)" ping_ok w2 fd00:64:2::13
lab_wait_for 30 "w3 pings w2 (IPv6)" ping_ok w3 fd00:64:1::12
lab_log "w2 and w3 reach each other through the L3 VNI; the continuous pings start"

# 700 echo requests each way and family, one per 50 ms (35 s): they span both restarts.
for pair in "w2 100.64.2.13" "w3 100.64.1.12" "w2 fd00:64:2::13" "w3 fd00:64:1::12"; do
  read -r from to <<<"${pair}"
  lab_ping_start "${from}-${to}" "$(lab_ns "${from}")" 700 "${to}"
done
sleep 2

log_has() { grep -q -- "$2" "${LAB_DIR}/$1.log"; }
lab_stop agent3
lab_log "agent 3 stopped (SIGTERM)"
lab_wait_for 10 "the route reflector keeps agent 3's routes as stale" log_has rr "neighbor 198.18.0.3: graceful restart: [1-9][0-9]* routes of l2vpn-evpn kept as stale"
route_in 2 100.64.2.0/24 || lab_fail "host 2 lost red's route when agent 3 stopped"
route_in 3 100.64.1.12 || lab_fail "host 3 lost w2's route when its agent stopped"
# While agent 3 is away, w2b leaves host 2: agent 2 withdraws it, host 3 cannot hear it yet.
mac_w2b=$(w w2b cat /sys/class/net/eth0/address)
ip netns delete "$(lab_ns w2b)"
lab_exec 2 bridge fdb del "${mac_w2b}" dev veth-w2b master 2>/dev/null || true
rr_has_w2b() { grep -q '100.64.1.22' <<<"$(lab_isthmusctl rr show bgp l2vpn evpn -o json)"; }
gone_at_rr() { ! rr_has_w2b; }
lab_wait_for 30 "the route reflector no longer has w2b" gone_at_rr
route_in 3 100.64.1.22 || lab_fail "host 3 lost w2b's route while its agent was away"
lab_isthmusd_start 3 agent3 "$(cat "${LAB_DIR}/agent3.yaml")"
lab_wait_for 30 "agent 3 Established again" established 3
lab_wait_for 30 "agent 3: routes complete after the route reflector's End-of-RIB" \
  log_has agent3 "routes of l2vpn-evpn complete: End-of-RIB from every peer"
no_w2b() { ! route_in 3 100.64.1.22; }
lab_wait_for 30 "host 3 forgets w2b's host route once the routes are complete" no_w2b
route_in 3 100.64.1.12 || lab_fail "host 3 lost w2's host route"
lab_log "agent 3 restarted: the tenant's kernel state adopted, w2b's stale route removed"

lab_stop agent2 KILL
lab_log "agent 2 killed (SIGKILL)"
lab_wait_for 10 "the route reflector keeps agent 2's routes as stale" log_has rr "neighbor 198.18.0.2: graceful restart: [1-9][0-9]* routes of l2vpn-evpn kept as stale"
lab_isthmusd_start 2 agent2 "$(cat "${LAB_DIR}/agent2.yaml")"
lab_wait_for 30 "agent 2 Established again" established 2
lab_wait_for 30 "agent 2: routes complete" log_has agent2 "routes of l2vpn-evpn complete: End-of-RIB from every peer"
route_in 2 100.64.2.0/24 || lab_fail "host 2 lost red's route"
lab_log "agent 2 restarted after SIGKILL; waiting for the pings to end"

lab_pings_check
lab_log "PASS: no routed packet lost across an agent restart and an agent kill (IPv4, IPv6)"
