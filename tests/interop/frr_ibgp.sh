#!/usr/bin/env bash
# Interop: isthmusd <-> FRR 8.4 bgpd, iBGP (AS 65000), IPv4 and IPv6 unicast over one session.
# Usage: frr_ibgp.sh 4|6   (transport of the BGP session: IPv4 or IPv6 underlay addresses)
#   h1 isthmusd 198.18.0.1 / fd00:18::1  originates 100.64.1.0/24, fd00:64:1::/48
#   h2 FRR      198.18.0.2 / fd00:18::2  networks   100.64.2.0/24, 100.64.12.0/24, fd00:64:2::/48
# Checks: session up on both sides with negotiated capabilities; routes both ways for both
# families; a FRR withdrawal reaches isthmusd; FRR's Cease (neighbor shutdown) shows in
# isthmusctl as last_notification_received and the routes go; FRR restart: session and routes
# come back; stopping isthmusd makes FRR drop isthmusd's routes.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

transport=${1:-4}
[[ ${transport} == 4 || ${transport} == 6 ]] || { echo "usage: $0 4|6" >&2; exit 2; }

lab_init
lab_require_isthmus
lab_underlay 2
if [[ ${transport} == 4 ]]; then
  isth=198.18.0.1 frr=198.18.0.2
else
  isth=fd00:18::1 frr=fd00:18::2
fi

# FRR: iBGP to isthmusd for both families. Graceful restart off: with it, FRR (a GR helper by
# default) would keep isthmusd's routes as stale for 120 s after isthmusd stops.
frr_conf=$(cat <<CONF
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
  network 100.64.2.0/24
  network 100.64.12.0/24
  neighbor ${isth} activate
 exit-address-family
 address-family ipv6 unicast
  network fd00:64:2::/48
  neighbor ${isth} activate
 exit-address-family
CONF
)
lab_frr_start 2 frr "${frr_conf}"

lab_isthmusd_start 1 isthmusd "$(cat <<YAML
control_socket: $(lab_isthmus_sock isthmusd)
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: { address: ${isth}, port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
    - { address: ${frr}, remote_as: 65000, families: [ipv4-unicast, ipv6-unicast] }
  originate:
    - { prefix: 100.64.1.0/24 }
    - { prefix: fd00:64:1::/48 }
YAML
)"

lab_wait_for 60 "isthmusd: ${frr} Established" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 60 "frr: ${isth} Established" lab_frr_established frr "${isth}"

# --- Negotiation, as isthmusd reports it ---------------------------------------------------
nbr=$(lab_isthmusctl isthmusd show bgp neighbor "${frr}" -o json)
lab_assert_eq "neighbor remote_as" "$(lab_json "j['remote_as']" <<<"${nbr}")" 65000
lab_assert_eq "neighbor router_id (FRR's BGP id)" "$(lab_json "j['router_id']" <<<"${nbr}")" 198.18.0.2
lab_assert_eq "negotiated hold_time (min of 9 and FRR's 9)" "$(lab_json "j['hold_time']" <<<"${nbr}")" 9
lab_assert_eq "FRR advertised four_octet_as" "$(lab_json "j['capabilities']['four_octet_as']" <<<"${nbr}")" True
lab_assert_eq "FRR advertised route_refresh" "$(lab_json "j['capabilities']['route_refresh']" <<<"${nbr}")" True
lab_assert_eq "negotiated families" "$(lab_json "' '.join(sorted(j['families']))" <<<"${nbr}")" \
  "ipv4-unicast ipv6-unicast"

# --- Routes FRR -> isthmusd ------------------------------------------------------------------
for p in 100.64.2.0/24 100.64.12.0/24; do
  lab_wait_for 30 "isthmusd has ${p} from FRR" lab_isthmus_has_route isthmusd ipv4 "${p}"
done
lab_wait_for 30 "isthmusd has fd00:64:2::/48 from FRR" lab_isthmus_has_route isthmusd ipv6 fd00:64:2::/48

r=$(lab_isthmus_route isthmusd ipv4 100.64.2.0/24)
lab_assert_eq "100.64.2.0/24 from" "$(lab_json "str(ipaddress.ip_address(j['paths'][0]['from']))" <<<"${r}")" "${frr}"
lab_assert_eq "100.64.2.0/24 next_hop" "$(lab_json "j['paths'][0]['next_hop']" <<<"${r}")" 198.18.0.2
lab_assert_eq "100.64.2.0/24 as_path (iBGP: empty)" "$(lab_json "j['paths'][0].get('as_path') or ''" <<<"${r}")" ""
lab_assert_eq "100.64.2.0/24 origin" "$(lab_json "j['paths'][0]['origin']" <<<"${r}")" igp
lab_assert_eq "100.64.2.0/24 local_pref" "$(lab_json "j['paths'][0]['local_pref']" <<<"${r}")" 100
lab_assert_eq "100.64.2.0/24 best" "$(lab_json "j['paths'][0]['best']" <<<"${r}")" True
r=$(lab_isthmus_route isthmusd ipv6 fd00:64:2::/48)
lab_assert_eq "fd00:64:2::/48 next_hop is FRR's global address" \
  "$(lab_json "str(ipaddress.ip_address(j['paths'][0]['next_hop']))" <<<"${r}")" fd00:18::2

sum=$(lab_isthmusctl isthmusd show bgp summary -o json)
lab_assert_eq "summary prefixes_received ipv4-unicast" \
  "$(lab_json "[n for n in j['neighbors']][0]['prefixes_received']['ipv4-unicast']" <<<"${sum}")" 2
lab_assert_eq "summary prefixes_received ipv6-unicast" \
  "$(lab_json "[n for n in j['neighbors']][0]['prefixes_received']['ipv6-unicast']" <<<"${sum}")" 1

# --- Routes isthmusd -> FRR -------------------------------------------------------------------
# FRR's own JSON: "show bgp ipv4 unicast P json" has paths[] with valid/nexthops.
frr_route_valid() {
  lab_vtysh frr "show bgp $1 unicast $2 json" |
    lab_check_json "any(p.get('valid') for p in j.get('paths', []))"
}
frr_route_absent() {
  lab_vtysh frr "show bgp $1 unicast $2 json" | lab_check_json "not j.get('paths')"
}
# Cross-family cases (IPv6 routes over the IPv4 session and the reverse) need a next hop of the
# route's family: a global IPv6 address of isthmusd (RFC 2545 §3; an IPv4-mapped ::ffff:a.b.c.d
# is not usable as a kernel gateway) and, over IPv6, an IPv4 address or RFC 8950 extended next hop.
lab_wait_for 30 "FRR has 100.64.1.0/24 (valid) from isthmusd (over IPv${transport})" frr_route_valid ipv4 100.64.1.0/24
lab_wait_for 30 "FRR has fd00:64:1::/48 (valid) from isthmusd (over IPv${transport})" frr_route_valid ipv6 fd00:64:1::/48
j=$(lab_vtysh frr "show bgp ipv4 unicast 100.64.1.0/24 json")
nh=$(lab_json "j['paths'][0]['nexthops'][0]['ip']" <<<"${j}")
if [[ ${transport} == 4 ]]; then
  lab_assert_eq "FRR: 100.64.1.0/24 next hop" "${nh}" 198.18.0.1
else
  # Over an IPv6 session an IPv4 route may carry an IPv4 next hop or, with the extended next
  # hop capability (RFC 8950), an IPv6 one. Either must be isthmusd's address (and valid, above).
  [[ ${nh} == 198.18.0.1 || ${nh} == fd00:18::1 ]] ||
    lab_fail "FRR: 100.64.1.0/24 next hop is '${nh}', want 198.18.0.1 or fd00:18::1"
  lab_log "ok: FRR: 100.64.1.0/24 next hop = '${nh}'"
fi
lab_assert_eq "FRR: 100.64.1.0/24 local pref" "$(lab_json "j['paths'][0].get('locPrf')" <<<"${j}")" 100
# ORIGIN of an originated route is not fixed by the contract: FRR must see what isthmusd shows.
own=$(lab_isthmus_route isthmusd ipv4 100.64.1.0/24)
lab_assert_eq "FRR: 100.64.1.0/24 origin (as isthmusd shows its own route)" \
  "$(lab_json "j['paths'][0]['origin'].lower()" <<<"${j}")" "$(lab_json "j['paths'][0]['origin'].lower()" <<<"${own}")"
j=$(lab_vtysh frr "show bgp ipv6 unicast fd00:64:1::/48 json")
lab_assert_eq "FRR: fd00:64:1::/48 global next hop (isthmusd's global IPv6 address, RFC 2545 §3)" \
  "$(lab_json "[n['ip'] for n in j['paths'][0]['nexthops'] if n.get('scope', 'global') == 'global'][0]" <<<"${j}")" fd00:18::1

# --- Withdrawal FRR -> isthmusd ----------------------------------------------------------------
lab_vtysh frr "configure terminal" "router bgp 65000" "address-family ipv4 unicast" \
  "no network 100.64.12.0/24" >/dev/null
lab_wait_for 30 "isthmusd dropped withdrawn 100.64.12.0/24" lab_isthmus_lacks_route isthmusd ipv4 100.64.12.0/24
lab_isthmus_has_route isthmusd ipv4 100.64.2.0/24 || lab_fail "100.64.2.0/24 vanished with the withdrawal of 100.64.12.0/24"

# --- ROUTE-REFRESH from FRR (RFC 2918; FRR without soft-reconfiguration inbound sends one) -------
frr_stat() { lab_vtysh frr "show bgp neighbors ${isth} json" | lab_json "j['${isth}']['messageStats']['$1']"; }
frr_drops() { lab_vtysh frr "show bgp neighbors ${isth} json" | lab_json "j['${isth}']['connectionsDropped']"; }
rr_sent0=$(frr_stat routeRefreshSent)
upd_rcvd0=$(frr_stat updatesRecv)
drops0=$(frr_drops)
isth_rcvd0=$(lab_isthmusctl isthmusd show bgp neighbor "${frr}" -o json | lab_json "j['messages_received']")
lab_vtysh frr "clear bgp ipv4 unicast ${isth} soft in" >/dev/null
lab_wait_for 30 "FRR sent a ROUTE-REFRESH" eval "(( \$(frr_stat routeRefreshSent) > ${rr_sent0} ))"
lab_wait_for 30 "isthmusd answered the ROUTE-REFRESH with UPDATEs (FRR updatesRecv > ${upd_rcvd0})" \
  eval "(( \$(frr_stat updatesRecv) > ${upd_rcvd0} ))"
isth_rcvd1=$(lab_isthmusctl isthmusd show bgp neighbor "${frr}" -o json | lab_json "j['messages_received']")
((isth_rcvd1 > isth_rcvd0)) || lab_fail "isthmusd messages_received did not move (${isth_rcvd0} -> ${isth_rcvd1})"
lab_log "ok: isthmusd messages_received ${isth_rcvd0} -> ${isth_rcvd1}"
if grep -qi refresh "${LAB_DIR}/isthmusd.log"; then
  lab_log "ok: isthmusd logged: $(grep -i refresh "${LAB_DIR}/isthmusd.log" | tail -1)"
else
  lab_log "note: isthmusd's log does not mention 'refresh' (not required)"
fi
lab_assert_eq "FRR connectionsDropped (no flap across the refresh)" "$(frr_drops)" "${drops0}"
frr_route_valid ipv4 100.64.1.0/24 || lab_fail "FRR lost 100.64.1.0/24 after the refresh"

# --- Cease from FRR: neighbor shutdown with a message (RFC 8203) --------------------------------
lab_vtysh frr "configure terminal" "router bgp 65000" "neighbor ${isth} shutdown message maint" >/dev/null
not_established() { ! lab_isthmus_established "$@"; }
lab_wait_for 30 "isthmusd: session down after FRR's shutdown" not_established isthmusd "${frr}"
nbr=$(lab_isthmusctl isthmusd show bgp neighbor "${frr}" -o json)
last=$(lab_json "j.get('last_notification_received') or ''" <<<"${nbr}")
[[ ${last,,} == *cease* && ${last,,} == *"administrative shutdown"* ]] ||
  lab_fail "last_notification_received is '${last}', want Cease/Administrative Shutdown"
lab_log "ok: last_notification_received = '${last}'"
lab_wait_for 30 "isthmusd dropped FRR's routes after the Cease" lab_isthmus_lacks_route isthmusd ipv4 100.64.2.0/24
lab_isthmus_lacks_route isthmusd ipv6 fd00:64:2::/48 || lab_fail "fd00:64:2::/48 still present after the Cease"
lab_vtysh frr "configure terminal" "router bgp 65000" "no neighbor ${isth} shutdown" >/dev/null
lab_wait_for 60 "isthmusd: re-established after no shutdown" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 30 "isthmusd has 100.64.2.0/24 again" lab_isthmus_has_route isthmusd ipv4 100.64.2.0/24

# --- FRR restart: the session and the routes come back ----------------------------------------
# Stop first and see the routes go (FRR has graceful restart off, so isthmusd keeps nothing as
# stale), then start: the routes that come back are new ones.
lab_stop frr
lab_wait_for 30 "isthmusd: session down while FRR is stopped" not_established isthmusd "${frr}"
lab_wait_for 30 "isthmusd dropped FRR's routes while FRR is stopped" lab_isthmus_lacks_route isthmusd ipv4 100.64.2.0/24
lab_frr_restart frr
lab_wait_for 60 "isthmusd: re-established after FRR restart" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 30 "isthmusd has 100.64.2.0/24 after FRR restart" lab_isthmus_has_route isthmusd ipv4 100.64.2.0/24
lab_wait_for 30 "isthmusd has fd00:64:2::/48 after FRR restart" lab_isthmus_has_route isthmusd ipv6 fd00:64:2::/48
lab_wait_for 30 "FRR has 100.64.1.0/24 after its restart" frr_route_valid ipv4 100.64.1.0/24
lab_wait_for 30 "FRR has fd00:64:1::/48 after its restart" frr_route_valid ipv6 fd00:64:1::/48

# --- isthmusd stops: FRR drops its routes (the withdrawal direction isthmusd -> FRR) -------------
lab_stop isthmusd TERM
lab_wait_for 30 "FRR: session down after isthmusd stopped" eval "! lab_frr_established frr ${isth}"
lab_wait_for 30 "FRR dropped 100.64.1.0/24" frr_route_absent ipv4 100.64.1.0/24
lab_wait_for 30 "FRR dropped fd00:64:1::/48" frr_route_absent ipv6 fd00:64:1::/48

echo "PASS: frr_ibgp (IPv${transport} transport)"
