#!/usr/bin/env bash
# Interop: RT-constrained route distribution (RFC 4684) with isthmusd as the EVPN route reflector
# of two GoBGP 3.10 clients and two isthmusd VTEPs, every session with l2vpn-evpn and ipv4-rtc.
#   h1 isthmusd RR, AS 65000, id 198.18.0.1
#   h2 GoBGP A: imports route target 65000:100 (a VRF, hence a membership route), and injects
#      one MAC route of each route target 65000:100, 65000:200 and 65000:300 (imported by no one)
#   h3 GoBGP B: imports 65000:200 (a VRF)
#   h4 isthmusd C: VTEP of VNI 100 (route target 65000:100): its IMET route, one MAC
#   h5 isthmusd D: VTEP of VNI 200 (route target 65000:200): its IMET route
# Checks: the reflector sends its clients the memberships as its own, also back to the client
# they came from (RFC 4684 §3.2), so the clients send it the routes others import: it holds all
# of them; yet each client receives only the routes of the route targets it imports; a
# membership added later lets the routes through, and its withdrawal takes them back.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 5

gobgp_conf() { # gobgp_conf ID
  cat <<CONF
[global.config]
  as = 65000
  router-id = "198.18.0.$1"
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.0.1"
    peer-as = 65000
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "l2vpn-evpn"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "rtc"
CONF
}
vtep_conf() { # vtep_conf ID VNI
  cat <<YAML
control_socket: $(lab_isthmus_sock "vtep$1")
bgp:
  asn: 65000
  router_id: 198.18.0.$1
  listen: { address: 198.18.0.$1, port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.1, remote_as: 65000, families: [l2vpn-evpn, ipv4-rtc] }
evpn:
  vtep: 198.18.0.$1
  vnis:
    - { vni: $2 }
YAML
}
lab_gobgp_start 2 a "$(gobgp_conf 2)"
lab_gobgp_start 3 b "$(gobgp_conf 3)"
lab_isthmusd_start 4 vtep4 "$(vtep_conf 4 100)"
lab_isthmusd_start 5 vtep5 "$(vtep_conf 5 200)"
client() { echo "    - { address: 198.18.0.$1, remote_as: 65000, route_reflector_client: true, families: [l2vpn-evpn, ipv4-rtc] }"; }
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
YAML
)"
for peer in 198.18.0.2 198.18.0.3 198.18.0.4 198.18.0.5; do
  lab_wait_for 60 "rr: ${peer} Established" lab_isthmus_established rr "${peer}"
done

# GoBGP 3.10's CLI cannot add a membership route; it originates one per import route target of
# a VRF.
lab_gobgp a vrf add v100 rd 198.18.0.2:100 rt import 65000:100
lab_gobgp b vrf add v200 rd 198.18.0.3:200 rt import 65000:200
lab_gobgp a global rib -a evpn add macadv 02:00:00:00:02:01 0.0.0.0 etag 0 label 100 \
  rd 198.18.0.2:100 rt 65000:100 encap vxlan
lab_gobgp a global rib -a evpn add macadv 02:00:00:00:02:02 0.0.0.0 etag 0 label 200 \
  rd 198.18.0.2:200 rt 65000:200 encap vxlan
# No one imports 65000:300: GoBGP keeps this one to itself, by the memberships we sent it.
lab_gobgp a global rib -a evpn add macadv 02:00:00:00:02:03 0.0.0.0 etag 0 label 300 \
  rd 198.18.0.2:300 rt 65000:300 encap vxlan
lab_isthmusctl vtep4 evpn mac add 100 02:00:00:00:04:01 100.64.1.4 >/dev/null

# The reflector: every route (A's 2, C's IMET and MAC, D's IMET), and every membership.
rr_routes() { lab_isthmusctl rr show bgp l2vpn evpn -o json | lab_json "len(j['routes'])"; }
lab_wait_for 30 "the reflector holds all 5 EVPN routes" lab_is 5 rr_routes
lab_always 3 "GoBGP A does not send the route of 65000:300" lab_is 5 rr_routes
lab_isthmusctl rr show bgp ipv4 rtc -o json >"${LAB_DIR}/rtc.json"
lab_check_json "sorted((r['route'], p['from']) for r in j['routes'] for p in r['paths']) == sorted([
  ('65000:rt:65000:100', '198.18.0.2'), ('65000:rt:65000:100', '198.18.0.4'),
  ('65000:rt:65000:200', '198.18.0.3'), ('65000:rt:65000:200', '198.18.0.5')])" \
  <"${LAB_DIR}/rtc.json" || lab_fail "show bgp ipv4 rtc: $(cat "${LAB_DIR}/rtc.json")"
lab_isthmusctl rr show bgp ipv4 rtc | grep -q '65000:rt:65000:100' ||
  lab_fail "show bgp ipv4 rtc: the text view lacks 65000:rt:65000:100"
lab_isthmusctl rr show bgp neighbor 198.18.0.4 -o json | lab_check_json "j['rt_constraint_memberships'] == 1" ||
  lab_fail "show bgp neighbor 198.18.0.4 lacks its membership count"
lab_log "reflector: 5 EVPN routes and the 4 clients' memberships"

# What each client holds from others, by route target (GoBGP: paths not originated locally).
gobgp_rts() { # the route targets of the routes a GoBGP holds from the reflector
  lab_gobgp "$1" -j global rib -a evpn | lab_json "sorted({c['value'] for ps in j.values() for p in ps
    if not any(a['type'] == 14 and a.get('nexthop') == '0.0.0.0' for a in p['attrs'])
    for a in p['attrs'] if a['type'] == 16 for c in a['value'] if c.get('subtype') == 2})"
}
gobgp_count() { lab_gobgp "$1" -j global rib -a evpn | lab_json "len(j)"; }
isthmus_rts() { # the route targets of the routes an isthmusd VTEP holds from the reflector
  lab_isthmusctl "$1" show bgp l2vpn evpn -o json | lab_json "sorted({c for r in j['routes']
    for p in r['paths'] if p['from'] != 'local' for c in p.get('ext_communities', [])
    if c.startswith('rt:')})"
}
isthmus_count() { lab_isthmusctl "$1" show bgp l2vpn evpn -o json | lab_json "len(j['routes'])"; }
counts() { echo "$(gobgp_count a)$(gobgp_count b)$(isthmus_count vtep4)$(isthmus_count vtep5)"; }
# A: its 3 + C's IMET and MAC (65000:100). B: D's IMET and A's 65000:200 MAC.
# C: its 2 + A's 65000:100 MAC. D: its IMET + A's 65000:200 MAC.
lab_wait_for 30 "A holds 5 routes" lab_is 5 gobgp_count a
lab_wait_for 30 "B holds 2 routes" lab_is 2 gobgp_count b
lab_wait_for 30 "C holds 3 routes" lab_is 3 isthmus_count vtep4
lab_wait_for 30 "D holds 2 routes" lab_is 2 isthmus_count vtep5
lab_assert_eq "A receives route targets" "$(gobgp_rts a)" '["65000:100"]'
lab_assert_eq "B receives route targets" "$(gobgp_rts b)" '["65000:200"]'
lab_assert_eq "C receives route targets" "$(isthmus_rts vtep4)" '["rt:65000:100"]'
lab_assert_eq "D receives route targets" "$(isthmus_rts vtep5)" '["rt:65000:200"]'
lab_always 3 "nothing more reaches A, B, C, D" lab_is 5232 counts
lab_log "each client holds only the routes of the route targets it imports"

# B joins route target 65000:100 too: C's routes and A's reach it; leaving takes them back.
lab_gobgp b vrf add v100 rd 198.18.0.3:100 rt import 65000:100
lab_wait_for 30 "B holds 5 routes after joining 65000:100" lab_is 5 gobgp_count b
lab_assert_eq "B receives route targets" "$(gobgp_rts b)" '["65000:100", "65000:200"]'
lab_gobgp b vrf del v100
lab_wait_for 30 "B is back to 2 routes after leaving 65000:100" lab_is 2 gobgp_count b
lab_assert_eq "B receives route targets" "$(gobgp_rts b)" '["65000:200"]'
lab_log "a membership added later lets its routes through; its withdrawal takes them back"
lab_log "PASS"
