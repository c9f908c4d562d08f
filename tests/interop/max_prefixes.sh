#!/usr/bin/env bash
# Interop: maximum prefixes per neighbor and family (RFC 4486) against FRR 8.4 and GoBGP 3.10.
#   h1 isthmusd 198.18.0.1 AS 65000
#   h2 FRR      198.18.0.2 iBGP, `max_prefixes: { ipv4-unicast: 20, warning: 50, restart: 5 }`
#   h3 GoBGP    198.18.0.3 eBGP AS 65001, `max_prefixes: { ipv4-unicast: 10, restart: 0 }`
# Checks:
#   1. FRR sends 12 prefixes: a warning (past 50% of 20), the session stays up.
#   2. FRR sends 22: isthmusd sends Cease / Maximum Number of Prefixes Reached (6/1, data: AFI 1,
#      SAFI 1, bound 20) and drops FRR's routes; after the restart time (5 s) the session comes
#      back and is ended again while FRR still sends too many; with 12 again it stays up.
#   3. GoBGP sends 11: ended with the same Cease; with `restart: 0` it stays down although GoBGP
#      keeps connecting, until `isthmusctl clear bgp neighbor` (GoBGP then sends 6).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 3
isth=198.18.0.1 frr=198.18.0.2 gobgp=198.18.0.3

networks() { # networks FROM TO [no]: FRR `network` lines for 100.64.FROM.0/24 .. 100.64.TO.0/24
  local i
  for ((i = $1; i <= $2; i++)); do echo "${3:+$3 }network 100.64.${i}.0/24"; done
}
lab_frr_start 2 frr "$(cat <<CONF
frr defaults datacenter
hostname frr
log stdout informational
router bgp 65000
 bgp router-id 198.18.0.2
 no bgp network import-check
 bgp graceful-restart-disable
 neighbor ${isth} remote-as 65000
 neighbor ${isth} timers connect 1
 address-family ipv4 unicast
$(networks 1 12 | sed 's/^/  /')
  neighbor ${isth} activate
 exit-address-family
CONF
)"
lab_gobgp_start 3 gobgp "$(cat <<CONF
[global.config]
  as = 65001
  router-id = "198.18.0.3"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "${isth}"
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
  listen: { address: ${isth}, port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
    - { address: ${frr}, remote_as: 65000, families: [ipv4-unicast],
        max_prefixes: { ipv4-unicast: 20, warning: 50, restart: 5 } }
    - { address: ${gobgp}, remote_as: 65001, families: [ipv4-unicast], import: accept-all,
        export: accept-all, max_prefixes: { ipv4-unicast: 10, restart: 0 } }
YAML
)"
log_count() { grep -Ec -- "$1" "${LAB_DIR}/isthmusd.log" || true; }
not_established() { ! lab_isthmus_established isthmusd "$1"; }
received() { lab_isthmusctl isthmusd show bgp neighbor "$1" -o json | lab_json "j['prefixes_received'].get('ipv4-unicast', 0)"; }

# --- 1. FRR below the limit, past the warning ----------------------------------------------------
lab_wait_for 60 "isthmusd: FRR Established" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 30 "isthmusd has FRR's 12 prefixes" eval "[[ \$(received ${frr}) == 12 ]]"
lab_wait_for 10 "a warning past 50% of 20" \
  eval "(( \$(log_count 'neighbor ${frr}: 1[0-2] prefixes of ipv4-unicast, [56][0-9]% of its maximum of 20') == 1 ))"
lab_isthmus_established isthmusd "${frr}" || lab_fail "the session with FRR ended below the limit"

# --- 2. FRR over the limit: Cease, routes gone, back after 5 s and cut again ---------------------
exceeded="neighbor ${frr}: 2[1-9] prefixes of ipv4-unicast exceed the maximum of 20"
frr_net() { # frr_net FROM TO [no]
  local args=("configure terminal" "router bgp 65000" "address-family ipv4 unicast") line
  while read -r line; do args+=("${line}"); done < <(networks "$@")
  lab_vtysh frr "${args[@]}" >/dev/null
}
frr_net 13 22
lab_wait_for 30 "isthmusd ended FRR's session for too many prefixes" eval "(( \$(log_count '${exceeded}') >= 1 ))"
lab_wait_for 10 "FRR received Cease 6/1 with AFI 1, SAFI 1 and the bound 20" \
  grep -Eq "received from neighbor ${isth} 6/1 \(Cease/Maximum Number of Prefixes Reached\) 7 bytes 00 01 01 00 00 00 14" \
  "${LAB_DIR}/frr.log"
lab_wait_for 10 "isthmusd dropped FRR's routes" lab_isthmus_lacks_route isthmusd ipv4 100.64.1.0/24
lab_wait_for 30 "after the restart time, FRR's session comes back and is cut again" \
  eval "(( \$(log_count '${exceeded}') >= 2 ))"
frr_net 13 22 no
lab_wait_for 30 "with 12 prefixes FRR's session comes back" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 30 "isthmusd has FRR's routes again" lab_isthmus_has_route isthmusd ipv4 100.64.1.0/24
cuts=$(log_count "${exceeded}")
sleep 7
lab_assert_eq "FRR's session was not cut again below the limit" "$(log_count "${exceeded}")" "${cuts}"
lab_isthmus_established isthmusd "${frr}" || lab_fail "FRR's session ended below the limit"

# --- 3. GoBGP over a limit without restart: down until cleared -----------------------------------
lab_wait_for 60 "isthmusd: GoBGP Established" lab_isthmus_established isthmusd "${gobgp}"
for i in $(seq 31 41); do lab_gobgp gobgp global rib add -a ipv4 "100.64.${i}.0/24"; done
lab_wait_for 30 "isthmusd ended GoBGP's session for too many prefixes" \
  eval "(( \$(log_count 'neighbor ${gobgp}: 11 prefixes of ipv4-unicast exceed the maximum of 10') == 1 ))"
lab_wait_for 10 "GoBGP saw a NOTIFICATION" grep -q 'notification-received' "${LAB_DIR}/gobgp.log"
sleep 6
not_established "${gobgp}" || lab_fail "GoBGP's session came back although restart is 0"
lab_isthmus_lacks_route isthmusd ipv4 100.64.31.0/24 || lab_fail "isthmusd kept GoBGP's routes"
for i in $(seq 31 35); do lab_gobgp gobgp global rib del -a ipv4 "100.64.${i}.0/24"; done
lab_isthmusctl isthmusd clear bgp neighbor "${gobgp}" >/dev/null
lab_wait_for 30 "after clear, GoBGP's session comes back" lab_isthmus_established isthmusd "${gobgp}"
lab_wait_for 30 "isthmusd has GoBGP's 6 prefixes" eval "[[ \$(received ${gobgp}) == 6 ]]"
lab_log "PASS"
