#!/usr/bin/env bash
# Interop: "isthmusctl clear bgp neighbor" against GoBGP 3.10 (eBGP 65000 <-> 65001).
#   soft in  -> isthmusd sends ROUTE-REFRESH: GoBGP's received.refresh counter moves, no flap
#   soft out -> isthmusd re-sends its Adj-RIB-Out: GoBGP's received.update moves, no flap
#   hard     -> the session resets (GoBGP gets a NOTIFICATION) and comes back with the routes
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
    idle-hold-time-after-reset = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
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
    - { address: 198.18.0.2, remote_as: 65001, families: [ipv4-unicast], import: accept-all, export: accept-all }
  originate:
    - { prefix: 100.64.1.0/24 }
YAML
)"
lab_wait_for 60 "isthmusd: 198.18.0.2 Established" lab_isthmus_established isthmusd 198.18.0.2
lab_wait_for 60 "gobgp: 198.18.0.1 Established" lab_gobgp_established gobgp 198.18.0.1
lab_gobgp gobgp global rib add -a ipv4 100.64.21.0/24
lab_wait_for 30 "isthmusd has 100.64.21.0/24" lab_isthmus_has_route isthmusd ipv4 100.64.21.0/24
gobgp_has() { lab_gobgp gobgp -j global rib -a ipv4 "$1" | lab_check_json "j.get('$1')"; }
lab_wait_for 30 "gobgp has 100.64.1.0/24" gobgp_has 100.64.1.0/24
msgs() { lab_gobgp gobgp -j neighbor 198.18.0.1 | lab_json "j['state']['messages']['$1'].get('$2', 0)"; }
uptime() { lab_gobgp gobgp -j neighbor 198.18.0.1 | lab_json "j['timers']['state']['uptime']['seconds']"; }
peer_downs() { grep -c 'Peer Down' "${LAB_DIR}/gobgp.log" || true; }
uptime0=$(uptime)
downs0=$(peer_downs)

r0=$(msgs received refresh)
lab_isthmusctl isthmusd clear bgp neighbor 198.18.0.2 soft in
lab_wait_for 30 "GoBGP received a ROUTE-REFRESH from isthmusd" eval "(( \$(msgs received refresh) > ${r0} ))"
lab_wait_for 30 "isthmusd still has 100.64.21.0/24 after soft in" lab_isthmus_has_route isthmusd ipv4 100.64.21.0/24

u0=$(msgs received update)
lab_isthmusctl isthmusd clear bgp neighbor 198.18.0.2 soft out
lab_wait_for 30 "GoBGP received UPDATEs after soft out" eval "(( \$(msgs received update) > ${u0} ))"
gobgp_has 100.64.1.0/24 || lab_fail "gobgp lost 100.64.1.0/24 after soft out"
lab_assert_eq "GoBGP session uptime stamp (no flap across soft clears)" "$(uptime)" "${uptime0}"
lab_assert_eq "GoBGP 'Peer Down' log lines (no flap across soft clears)" "$(peer_downs)" "${downs0}"

lab_isthmusctl isthmusd clear bgp neighbor 198.18.0.2
lab_wait_for 30 "GoBGP saw the session go down (hard clear)" eval "(( \$(peer_downs) > ${downs0} ))"
grep 'Peer Down' "${LAB_DIR}/gobgp.log" | tail -1 | grep -q 'notification-received' ||
  lab_fail "hard clear: GoBGP's Peer Down reason is not a received NOTIFICATION: $(grep 'Peer Down' "${LAB_DIR}/gobgp.log" | tail -1)"
lab_wait_for 60 "isthmusd: re-established after hard clear" lab_isthmus_established isthmusd 198.18.0.2
lab_wait_for 30 "isthmusd has 100.64.21.0/24 after hard clear" lab_isthmus_has_route isthmusd ipv4 100.64.21.0/24
lab_wait_for 30 "gobgp has 100.64.1.0/24 after hard clear" gobgp_has 100.64.1.0/24

echo "PASS: gobgp_clear"
