#!/usr/bin/env bash
# Interop: EVPN match terms of isthmusd's routing policies (evpn_route_type, vni, route_target)
# against routes GoBGP 3.10 sends, on import and on export.
#   h1 isthmusd AS 65000 id 198.18.0.1, route reflector, l2vpn-evpn only
#   h2 GoBGP A id 198.18.0.2 (client; import policy evpn-in): sends type-2 and type-3 routes of
#      VNIs 100 and 200, a type-5 route with label 100, and a VNI 100 MAC tagged RT 65000:999
#   h3 GoBGP B id 198.18.0.3 (client; export policy macs-only)
# evpn-in rejects RT 65000:999, then accepts types 2 and 3 of VNI 100 (the type-3 VNI is its
# PMSI_TUNNEL label); the rest falls off the end. Checks: `isthmusctl show bgp l2vpn evpn` holds
# exactly the accepted routes, the neighbor counters say 6 received / 2 accepted, and B, whose
# export policy accepts only type 2, receives exactly the accepted MAC route.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 3

client_conf() { # client_conf ID
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
CONF
}
lab_gobgp_start 2 a "$(client_conf 2)"
lab_gobgp_start 3 b "$(client_conf 3)"
lab_isthmusd_start 1 isthmusd "$(cat <<YAML
control_socket: $(lab_isthmus_sock isthmusd)
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: { address: 198.18.0.1, port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.2, remote_as: 65000, route_reflector_client: true, families: [l2vpn-evpn], import: evpn-in }
    - { address: 198.18.0.3, remote_as: 65000, route_reflector_client: true, families: [l2vpn-evpn], export: macs-only }
policies:
  evpn-in:
    - name: no-rt-999
      match: { route_target: ["65000:999"] }
      then: reject
    - name: vni-100-l2
      match: { evpn_route_type: [2, 3], vni: [100] }
      then: accept
  macs-only:
    - match: { evpn_route_type: 2 }
      then: accept
YAML
)"
for peer in 198.18.0.2 198.18.0.3; do
  lab_wait_for 60 "isthmusd: ${peer} Established" lab_isthmus_established isthmusd "${peer}"
done

add() { lab_gobgp a global rib -a evpn add "$@"; }
add macadv 02:00:00:00:00:01 0.0.0.0 etag 0 label 100 rd 198.18.0.2:100 rt 65000:100 encap vxlan
add macadv 02:00:00:00:00:02 100.64.0.2 etag 0 label 200 rd 198.18.0.2:200 rt 65000:200 encap vxlan
add macadv 02:00:00:00:00:03 0.0.0.0 etag 0 label 100 rd 198.18.0.2:100 rt 65000:100 rt 65000:999 \
  encap vxlan
add multicast 198.18.0.2 etag 0 rd 198.18.0.2:100 rt 65000:100 encap vxlan pmsi ingress-repl 100 198.18.0.2
add multicast 198.18.0.2 etag 0 rd 198.18.0.2:200 rt 65000:200 encap vxlan pmsi ingress-repl 200 198.18.0.2
add prefix 100.64.10.0/24 gw 0.0.0.0 etag 0 label 100 rd 198.18.0.2:5 rt 65000:100 encap vxlan

received() {
  lab_isthmusctl isthmusd show bgp neighbor 198.18.0.2 -o json | lab_json "j['prefixes_received']['l2vpn-evpn']"
}
received_is() { [[ $(received) == "$1" ]]; }  # polled: asks again on every call
lab_wait_for 30 "isthmusd received A's 6 routes" received_is 6

# Exactly the two routes of VNI 100 of types 2 and 3, without RT 65000:999.
lab_isthmusctl isthmusd show bgp l2vpn evpn -o json >"${LAB_DIR}/evpn.json"
python3 - "${LAB_DIR}/evpn.json" <<'PY' || lab_fail "the import policy let the wrong routes in"
import json, sys
j = json.load(open(sys.argv[1]))
got = sorted((r["route"], [p["vni"] for p in r["paths"]]) for r in j["routes"])
want = sorted([
    ("[2]:[198.18.0.2:100]:[0]:[48]:[02:00:00:00:00:01]", [100]),
    ("[3]:[198.18.0.2:100]:[0]:[32]:[198.18.0.2]", [100]),
])
print(f"got {got}")
sys.exit(0 if got == want else 1)
PY
accepted=$(lab_isthmusctl isthmusd show bgp neighbor 198.18.0.2 -o json |
  lab_json "j['prefixes_accepted']['l2vpn-evpn']")
lab_assert_eq "isthmusd: routes accepted from A" "${accepted}" 2
lab_log "import policy: of A's 6 routes only type 2 and 3 of VNI 100 without RT 65000:999 are in"

# Export: B gets the accepted MAC route only (macs-only drops the type-3 route).
b_only_mac() {
  lab_gobgp b -j global rib -a evpn | lab_check_json \
    "sorted(j) == ['[type:macadv][rd:198.18.0.2:100][etag:0][mac:02:00:00:00:00:01][ip:<nil>]']"
}
lab_wait_for 30 "B holds the accepted MAC route" b_only_mac
lab_always 3 "B holds only the MAC route" b_only_mac
lab_log "PASS"
