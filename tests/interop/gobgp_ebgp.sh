#!/usr/bin/env bash
# Interop: isthmusd <-> GoBGP 3.10, eBGP (65000 <-> 65001) with accept-all policies (RFC 8212).
#   h1 isthmusd 198.18.0.1 originates 100.64.1.0/24, fd00:64:1::/48
#   h2 gobgpd   198.18.0.2 injects    100.64.21.0/24 (community 65001:21), fd00:64:21::/48
# Checks: routes both ways with eBGP attributes (AS_PATH prepend, next hop self); withdrawal from
# GoBGP; a soft reset on GoBGP's side leaves session and routes alone. (ROUTE-REFRESH: see the
# note in the script; GoBGP's softresetin does not send one.)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 2

lab_gobgp_start 2 gobgp "$(cat <<CONF
[global.config]
  as = 65001
  router-id = "198.18.0.2"
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
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
CONF
)"
lab_isthmusd_start 1 isthmusd "$(cat <<YAML
control_socket: $(lab_isthmus_sock isthmusd)
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: { address: 198.18.0.1, port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.2, remote_as: 65001, families: [ipv4-unicast, ipv6-unicast], import: accept-all, export: accept-all }
  originate:
    - { prefix: 100.64.1.0/24 }
    - { prefix: fd00:64:1::/48 }
YAML
)"

lab_wait_for 60 "isthmusd: 198.18.0.2 Established" lab_isthmus_established isthmusd 198.18.0.2
lab_wait_for 60 "gobgp: 198.18.0.1 Established" lab_gobgp_established gobgp 198.18.0.1

# --- GoBGP -> isthmusd ------------------------------------------------------------------------
lab_gobgp gobgp global rib add -a ipv4 100.64.21.0/24 community 65001:21
lab_gobgp gobgp global rib add -a ipv6 fd00:64:21::/48 nexthop fd00:18::2
lab_wait_for 30 "isthmusd has 100.64.21.0/24" lab_isthmus_has_route isthmusd ipv4 100.64.21.0/24
lab_wait_for 30 "isthmusd has fd00:64:21::/48" lab_isthmus_has_route isthmusd ipv6 fd00:64:21::/48
r=$(lab_isthmus_route isthmusd ipv4 100.64.21.0/24)
lab_assert_eq "100.64.21.0/24 as_path" "$(lab_json "j['paths'][0]['as_path']" <<<"${r}")" 65001
lab_assert_eq "100.64.21.0/24 next_hop" "$(lab_json "j['paths'][0]['next_hop']" <<<"${r}")" 198.18.0.2
lab_assert_eq "100.64.21.0/24 communities" "$(lab_json "' '.join(j['paths'][0].get('communities') or [])" <<<"${r}")" 65001:21
lab_assert_eq "100.64.21.0/24 best" "$(lab_json "j['paths'][0]['best']" <<<"${r}")" True
r=$(lab_isthmus_route isthmusd ipv6 fd00:64:21::/48)
lab_assert_eq "fd00:64:21::/48 next_hop" "$(lab_json "str(ipaddress.ip_address(j['paths'][0]['next_hop']))" <<<"${r}")" fd00:18::2

# --- isthmusd -> GoBGP ------------------------------------------------------------------------
gobgp_route() { lab_gobgp gobgp -j global rib -a "$1" "$2"; }
gobgp_has() { gobgp_route "$1" "$2" | lab_check_json "j.get('$2')"; }
lab_wait_for 30 "gobgp has 100.64.1.0/24" gobgp_has ipv4 100.64.1.0/24
lab_wait_for 30 "gobgp has fd00:64:1::/48" gobgp_has ipv6 fd00:64:1::/48
g=$(gobgp_route ipv4 100.64.1.0/24)
lab_assert_eq "gobgp: 100.64.1.0/24 AS_PATH" \
  "$(lab_json "[a['as_paths'][0]['asns'] for a in j['100.64.1.0/24'][0]['attrs'] if a['type'] == 2][0]" <<<"${g}")" "[65000]"
lab_assert_eq "gobgp: 100.64.1.0/24 next hop" \
  "$(lab_json "[a['nexthop'] for a in j['100.64.1.0/24'][0]['attrs'] if a['type'] == 3][0]" <<<"${g}")" 198.18.0.1

# --- Withdrawal from GoBGP -----------------------------------------------------------------------
lab_gobgp gobgp global rib del -a ipv4 100.64.21.0/24
lab_wait_for 30 "isthmusd dropped 100.64.21.0/24" lab_isthmus_lacks_route isthmusd ipv4 100.64.21.0/24
lab_gobgp gobgp global rib add -a ipv4 100.64.22.0/24
lab_wait_for 30 "isthmusd has 100.64.22.0/24" lab_isthmus_has_route isthmusd ipv4 100.64.22.0/24

# --- ROUTE-REFRESH ---------------------------------------------------------------------------
# GoBGP 3.10 keeps an Adj-RIB-In, so "gobgp neighbor X softresetin" re-runs its import policy
# locally and never sends ROUTE-REFRESH (checked against FRR's routeRefreshRecv counter).
# ROUTE-REFRESH into isthmusd is therefore tested with FRR (frr_ibgp.sh, "clear bgp ... soft
# in"), and out of isthmusd towards GoBGP in gobgp_clear.sh. Here: a soft reset on GoBGP's side
# (in and out) must leave the session and the routes alone.
uptime() { lab_gobgp gobgp -j neighbor 198.18.0.1 | lab_json "j['timers']['state']['uptime']['seconds']"; }
peer_downs() { grep -c 'Peer Down' "${LAB_DIR}/gobgp.log" || true; }
msgs() { lab_gobgp gobgp -j neighbor 198.18.0.1 | lab_json "j['state']['messages']['$1'].get('$2', 0)"; }
uptime0=$(uptime)
downs0=$(peer_downs)
isth_rcvd0=$(lab_isthmusctl isthmusd show bgp neighbor 198.18.0.2 -o json | lab_json "j['prefixes_received']['ipv4-unicast']")
lab_gobgp gobgp neighbor 198.18.0.1 softreset -a ipv4
u0=$(msgs received update)
lab_gobgp gobgp global rib add -a ipv4 100.64.23.0/24
lab_wait_for 30 "isthmusd has 100.64.23.0/24 after GoBGP's soft reset" lab_isthmus_has_route isthmusd ipv4 100.64.23.0/24
gobgp_has ipv4 100.64.1.0/24 || lab_fail "gobgp lost 100.64.1.0/24 after its soft reset"
lab_isthmus_has_route isthmusd ipv4 100.64.22.0/24 || lab_fail "isthmusd lost 100.64.22.0/24 after GoBGP's soft reset"
lab_assert_eq "GoBGP session uptime stamp (no flap)" "$(uptime)" "${uptime0}"
lab_assert_eq "GoBGP 'Peer Down' log lines (no flap)" "$(peer_downs)" "${downs0}"
lab_assert_eq "isthmusd prefixes_received ipv4-unicast" \
  "$(lab_isthmusctl isthmusd show bgp neighbor 198.18.0.2 -o json | lab_json "j['prefixes_received']['ipv4-unicast']")" $((isth_rcvd0 + 1))

echo "PASS: gobgp_ebgp"
