#!/usr/bin/env bash
# Interop: isthmusd as the EVPN route reflector of two FRR 8.4 VTEPs (zebra + bgpd, VXLAN).
#   h1 isthmusd AS 65000 id 198.18.0.1, both VTEPs route_reflector_client, l2vpn-evpn; no VTEP of
#      its own (a route reflector is no flood target)
#   h2 FRR VTEP A 198.18.0.2 and h3 FRR VTEP B 198.18.0.3: br100 + vxlan100 + port vm100 each, a
#      MAC and a MAC+IP on each
# Checks (each kernel's own tables): A's FDB floods VNI 100 to B and holds B's MAC towards B, A's
# neighbour table holds B's IP (ARP suppression), and the same on B for A; a MAC deleted at A
# leaves B's FDB; isthmusd reflected the routes and is not in either flood list.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 3

for id in 2 3; do
  lab_vxlan_bridge "${id}" 100 "198.18.0.${id}"
  lab_frr_start "${id}" "vtep${id}" "$(lab_frr_evpn_vtep_conf "${id}")"
done
lab_isthmusd_start 1 isthmusd "$(cat <<YAML
control_socket: $(lab_isthmus_sock isthmusd)
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: { address: 198.18.0.1, port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.2, remote_as: 65000, route_reflector_client: true, families: [l2vpn-evpn] }
    - { address: 198.18.0.3, remote_as: 65000, route_reflector_client: true, families: [l2vpn-evpn] }
YAML
)"
for id in 2 3; do
  lab_wait_for 60 "isthmusd: 198.18.0.${id} Established" lab_isthmus_established isthmusd "198.18.0.${id}"
done

# A workload MAC and MAC+IP on each VTEP: 02:00:00:00:0<ID>:01 with 100.64.0.<ID>1.
for id in 2 3; do
  lab_exec "${id}" bridge fdb add "02:00:00:00:0${id}:01" dev vm100 master static
  lab_exec "${id}" ip neigh replace "100.64.0.${id}1" lladdr "02:00:00:00:0${id}:01" dev br100 \
    nud reachable
done

neigh_has() { lab_shows "^$2 lladdr $3 " lab_exec "$1" ip neigh show dev br100; }
for pair in "2 3" "3 2"; do
  read -r here there <<<"${pair}"
  lab_wait_for 30 "VTEP ${here}: kernel floods VNI 100 to 198.18.0.${there}" \
    lab_fdb_has "${here}" vxlan100 00:00:00:00:00:00 "198.18.0.${there}"
  lab_wait_for 30 "VTEP ${here}: kernel FDB has 02:00:00:00:0${there}:01 at 198.18.0.${there}" \
    lab_fdb_has "${here}" vxlan100 "02:00:00:00:0${there}:01" "198.18.0.${there}"
  lab_wait_for 30 "VTEP ${here}: neighbour 100.64.0.${there}1 is 02:00:00:00:0${there}:01" \
    neigh_has "${here}" "100.64.0.${there}1" "02:00:00:00:0${there}:01"
  if lab_fdb_has "${here}" vxlan100 00:00:00:00:00:00 198.18.0.1; then
    lab_fail "VTEP ${here} floods to the route reflector"
  fi
done
lab_log "both kernels hold the other VTEP's flood entry, MAC and IP, learned through isthmusd"

# isthmusd holds both VTEPs' routes (type 3 and type 2) and reflected them.
lab_isthmusctl isthmusd show bgp l2vpn evpn route-type 3 -o json |
  lab_check_json "len(j['routes']) == 2" || lab_fail "isthmusd does not hold two type-3 routes"
for id in 2 3; do
  sent=$(lab_isthmusctl isthmusd show bgp neighbor "198.18.0.${id}" -o json |
    lab_json "j['prefixes_sent']['l2vpn-evpn']")
  [[ ${sent} -ge 3 ]] || lab_fail "isthmusd sent ${sent} EVPN routes to 198.18.0.${id}, expected >= 3"
done

# A MAC leaves A: B's kernel forgets it.
lab_exec 2 bridge fdb del 02:00:00:00:02:01 dev vm100 master
gone() { ! lab_fdb_has 3 vxlan100 02:00:00:00:02:01 198.18.0.2; }
lab_wait_for 30 "VTEP 3: kernel FDB forgot 02:00:00:00:02:01" gone
lab_log "PASS"
