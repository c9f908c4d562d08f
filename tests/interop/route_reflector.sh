#!/usr/bin/env bash
# Interop: isthmusd as an iBGP route reflector (RFC 4456) for two FRR 8.4 clients.
#   h1 isthmusd AS 65000 id 198.18.0.1, both neighbors route_reflector_client: true
#   h2 FRR client A id 198.18.0.2: 100.64.2.0/24, fd00:64:2::/48
#   h3 FRR client B id 198.18.0.3: 100.64.3.0/24
# Checks (with FRR's own JSON): A's routes reach B with ORIGINATOR_ID = A's router id,
# CLUSTER_LIST containing isthmusd's id, next hop unchanged (A), LOCAL_PREF kept; the same the
# other way; the reflected path is received from isthmusd. Withdrawal at A reaches B.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 3

client_conf() { # client_conf ID NETWORKS6...
  local id=$1
  cat <<CONF
frr defaults datacenter
hostname client${id}
router bgp 65000
 bgp router-id 198.18.0.${id}
 no bgp network import-check
 bgp graceful-restart-disable
 neighbor 198.18.0.1 remote-as 65000
 neighbor 198.18.0.1 timers connect 1
 address-family ipv4 unicast
  network 100.64.${id}.0/24
  neighbor 198.18.0.1 activate
 exit-address-family
 address-family ipv6 unicast
  network fd00:64:${id}::/48
  neighbor 198.18.0.1 activate
 exit-address-family
CONF
}
lab_frr_start 2 clientA "$(client_conf 2)"
lab_frr_start 3 clientB "$(client_conf 3)"

lab_isthmusd_start 1 isthmusd "$(cat <<YAML
control_socket: $(lab_isthmus_sock isthmusd)
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: { address: 198.18.0.1, port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.2, remote_as: 65000, route_reflector_client: true, families: [ipv4-unicast, ipv6-unicast] }
    - { address: 198.18.0.3, remote_as: 65000, route_reflector_client: true, families: [ipv4-unicast, ipv6-unicast] }
YAML
)"

for c in 2 3; do
  lab_wait_for 60 "isthmusd: 198.18.0.${c} Established" lab_isthmus_established isthmusd "198.18.0.${c}"
done
lab_wait_for 60 "clientA: session to the reflector" lab_frr_established clientA 198.18.0.1
lab_wait_for 60 "clientB: session to the reflector" lab_frr_established clientB 198.18.0.1

frr_has() { lab_vtysh "$1" "show bgp $2 unicast $3 json" | lab_check_json "j.get('paths')"; }
frr_lacks() { lab_vtysh "$1" "show bgp $2 unicast $3 json" | lab_check_json "not j.get('paths')"; }

# check_reflected CLIENT AFI PREFIX ORIGINATOR NEXTHOP
check_reflected() {
  local client=$1 afi=$2 prefix=$3 orig=$4 nh=$5 j
  lab_wait_for 30 "${client} has ${prefix} reflected by isthmusd" frr_has "${client}" "${afi}" "${prefix}"
  j=$(lab_vtysh "${client}" "show bgp ${afi} unicast ${prefix} json")
  lab_assert_eq "${client} ${prefix}: ORIGINATOR_ID" "$(lab_json "j['paths'][0].get('originatorId')" <<<"${j}")" "${orig}"
  lab_assert_eq "${client} ${prefix}: CLUSTER_LIST has isthmusd's id" \
    "$(lab_json "'198.18.0.1' in (j['paths'][0].get('clusterList') or {}).get('list', [])" <<<"${j}")" True
  lab_assert_eq "${client} ${prefix}: received from" "$(lab_json "j['paths'][0]['peer']['peerId']" <<<"${j}")" 198.18.0.1
  lab_assert_eq "${client} ${prefix}: next hop unchanged" \
    "$(lab_json "[n['ip'] for n in j['paths'][0]['nexthops'] if n.get('scope', 'global') == 'global'][0]" <<<"${j}")" "${nh}"
  lab_assert_eq "${client} ${prefix}: LOCAL_PREF" "$(lab_json "j['paths'][0].get('locPrf')" <<<"${j}")" 100
  lab_assert_eq "${client} ${prefix}: valid" "$(lab_json "j['paths'][0].get('valid')" <<<"${j}")" True
}
check_reflected clientB ipv4 100.64.2.0/24 198.18.0.2 198.18.0.2
check_reflected clientB ipv6 fd00:64:2::/48 198.18.0.2 fd00:18::2
check_reflected clientA ipv4 100.64.3.0/24 198.18.0.3 198.18.0.3
check_reflected clientA ipv6 fd00:64:3::/48 198.18.0.3 fd00:18::3

# isthmusd's own view of A's route: learned from A, no reflection attributes yet.
r=$(lab_isthmus_route isthmusd ipv4 100.64.2.0/24)
lab_assert_eq "isthmusd: 100.64.2.0/24 from" "$(lab_json "j['paths'][0]['from']" <<<"${r}")" 198.18.0.2
lab_assert_eq "isthmusd: 100.64.2.0/24 best" "$(lab_json "j['paths'][0]['best']" <<<"${r}")" True

# Withdrawal at A is reflected to B.
lab_vtysh clientA "configure terminal" "router bgp 65000" "address-family ipv4 unicast" \
  "no network 100.64.2.0/24" >/dev/null
lab_wait_for 30 "isthmusd dropped 100.64.2.0/24" lab_isthmus_lacks_route isthmusd ipv4 100.64.2.0/24
lab_wait_for 30 "clientB dropped 100.64.2.0/24" frr_lacks clientB ipv4 100.64.2.0/24
frr_has clientB ipv6 fd00:64:2::/48 || lab_fail "clientB lost fd00:64:2::/48 with the IPv4 withdrawal"

echo "PASS: route_reflector"
