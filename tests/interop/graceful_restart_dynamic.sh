#!/usr/bin/env bash
# Interop: graceful restart (RFC 4724 §4.2, receiving speaker) for a dynamic neighbor
# (`neighbor_ranges`), with FRR 8.4 restarting.
#   h1 isthmusd 198.18.0.1  AS 65000, range 198.18.0.0/24 (iBGP, route reflector clients)
#   h2 FRR      198.18.0.2  dynamic client, `bgp graceful-restart` + preserve-fw-state, restart
#                           time 15 s; networks 100.64.2.0/24, 100.64.12.0/24
#   h3 GoBGP    198.18.0.3  configured client (a configured neighbor wins over the range): hears
#                           FRR's routes through isthmusd
# Checks:
#   1. kill -9 FRR: isthmusd keeps the dynamic neighbor (listed, "dynamic": true, not
#      Established, stale_families ipv4-unicast) and its routes, shown stale and still sent to
#      GoBGP. FRR comes back without 100.64.12.0/24: the same neighbor entry takes the session
#      (established_transitions 2), End-of-RIB removes exactly that prefix.
#   2. kill -9 FRR and leave it down: the routes stay for FRR's restart time (15 s), then go, and
#      so does the dynamic neighbor entry.
#   3. `isthmusctl clear bgp neighbor` of a dynamic neighbor: while its stale routes wait for it,
#      they and the entry go at once; when Established, it comes back as a new entry.
#   4. FRR's `neighbor shutdown` (a Hard Reset, both sides set the N bit): the routes and the
#      entry go at once.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 3
isth=198.18.0.1 frr=198.18.0.2 gobgp=198.18.0.3
restart_time=15

frr_conf() {
  cat <<CONF
frr defaults datacenter
hostname frr
log stdout informational
router bgp 65000
 bgp router-id ${frr}
 no bgp network import-check
 bgp graceful-restart
 bgp graceful-restart preserve-fw-state
 bgp graceful-restart restart-time ${restart_time}
 neighbor ${isth} remote-as 65000
 neighbor ${isth} timers connect 1
 address-family ipv4 unicast
$(for n in $1; do echo "  network ${n}"; done)
  neighbor ${isth} activate
 exit-address-family
CONF
}
lab_frr_start 2 frr "$(frr_conf "100.64.2.0/24 100.64.12.0/24")"

lab_gobgp_start 3 gobgp "$(cat <<TOML
[global.config]
  as = 65000
  router-id = "${gobgp}"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "${isth}"
    peer-as = 65000
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 90
    keepalive-interval = 30
TOML
)"

lab_isthmusd_start 1 isthmusd "$(cat <<YAML
control_socket: $(lab_isthmus_sock isthmusd)
bgp:
  asn: 65000
  router_id: ${isth}
  listen: { address: ${isth}, port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
    - { address: ${gobgp}, remote_as: 65000, route_reflector_client: true, hold_time: 90 }
  neighbor_ranges:
    - { prefix: 198.18.0.0/24, remote_as: 65000, route_reflector_client: true, families: [ipv4-unicast] }
YAML
)"

not_established() { ! lab_isthmus_established "$@"; }
summary_row() {
  lab_isthmusctl isthmusd show bgp summary -o json |
    lab_json "([n for n in j['neighbors'] if n['address'] == '${frr}'] or [{}])[0]$1"
}
listed() { [[ $(summary_row "") != "{}" ]]; }
not_listed() { [[ $(summary_row "") == "{}" ]]; }
nbr() { lab_isthmusctl isthmusd show bgp neighbor "${frr}" -o json | lab_json "$1"; }
gobgp_has() { lab_gobgp gobgp -j global rib -a ipv4 | lab_check_json "'$1' in j"; }
gobgp_lacks() { lab_gobgp gobgp -j global rib -a ipv4 | lab_check_json "'$1' not in j"; }
gobgp_withdrawn() {
  lab_gobgp gobgp -j neighbor "${isth}" | lab_json "j['state']['messages']['received'].get('withdraw_prefix', 0)"
}
stale_of() { lab_isthmus_route isthmusd ipv4 "$1" | lab_json "j['paths'][0].get('stale', False)"; }
all_present() {
  local p
  for p in "$@"; do
    lab_isthmus_has_route isthmusd ipv4 "${p}" && gobgp_has "${p}" || return 1
  done
}
none_present() {
  local p
  for p in "$@"; do
    lab_isthmus_lacks_route isthmusd ipv4 "${p}" && gobgp_lacks "${p}" || return 1
  done
}
isth_log() { grep -cF -- "$1" "${LAB_DIR}/isthmusd.log" || true; }

lab_wait_for 60 "isthmusd: dynamic neighbor ${frr} Established" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 60 "isthmusd: ${gobgp} Established" lab_isthmus_established isthmusd "${gobgp}"
lab_assert_eq "${frr} is a dynamic neighbor" "$(summary_row "['dynamic']")" True
lab_assert_eq "FRR advertised graceful restart" "$(nbr "j['capabilities']['graceful_restart']")" True
for p in 100.64.2.0/24 100.64.12.0/24; do
  lab_wait_for 30 "isthmusd and GoBGP have ${p}" all_present "${p}"
done

# --- 1. kill -9, restart with one prefix fewer, End-of-RIB ------------------------------------------
wd0=$(gobgp_withdrawn)
lab_stop frr KILL
lab_wait_for 30 "isthmusd: session to FRR down" not_established isthmusd "${frr}"
lab_wait_for 5 "isthmusd logged the retention" \
  eval "(( \$(isth_log 'routes of ipv4-unicast kept as stale') == 1 ))"
lab_assert_eq "the dynamic neighbor stays listed" "$(summary_row "['dynamic']")" True
lab_assert_eq "... waiting for the peer" "$(summary_row "['state']")" Active
lab_assert_eq "... with its stale families" "$(nbr "' '.join(j['stale_families'])")" ipv4-unicast
for p in 100.64.2.0/24 100.64.12.0/24; do
  lab_assert_eq "${p} kept and shown stale" "$(stale_of "${p}")" True
done
lab_always 3 "the routes stay on isthmusd and GoBGP while FRR is down" \
  all_present 100.64.2.0/24 100.64.12.0/24
lab_assert_eq "GoBGP withdrawn prefixes while FRR is down" "$(gobgp_withdrawn)" "${wd0}"

frr_conf "100.64.2.0/24" >"${LAB_DIR}/frr/bgpd.conf"
lab_frr_restart frr
lab_wait_for 60 "isthmusd: re-established with the restarted FRR" lab_isthmus_established isthmusd "${frr}"
lab_assert_eq "the same neighbor entry took the new session (established_transitions)" \
  "$(nbr "j['established_transitions']")" 2
lab_wait_for 30 "End-of-RIB from FRR removed the prefix it did not send again" \
  eval "(( \$(isth_log 'End-of-RIB for ipv4-unicast, 1 stale routes removed; restart complete') == 1 ))"
lab_wait_for 10 "100.64.12.0/24 gone from isthmusd and GoBGP" none_present 100.64.12.0/24
all_present 100.64.2.0/24 || lab_fail "100.64.2.0/24 missing after the restart"
lab_assert_eq "100.64.2.0/24 no longer stale" "$(stale_of 100.64.2.0/24)" False
lab_assert_eq "GoBGP withdrawn prefixes over the restart" "$(gobgp_withdrawn)" "$((wd0 + 1))"

# --- 2. kill -9 and stay down: the restart time expires ---------------------------------------------
lab_stop frr KILL
lab_wait_for 30 "isthmusd: session to FRR down" not_established isthmusd "${frr}"
t0=${SECONDS}
lab_always 5 "the routes and the entry stay during the restart time" \
  eval "all_present 100.64.2.0/24 && listed"
lab_wait_for $((restart_time + 10)) "routes gone after the ${restart_time}s restart time" \
  none_present 100.64.2.0/24
((SECONDS - t0 >= restart_time - 2)) || lab_fail "routes went after $((SECONDS - t0))s, before the restart time"
lab_wait_for 5 "the dynamic neighbor entry is gone too" not_listed
lab_assert_eq "isthmusd logged the expiry" "$(isth_log "restart time of ${restart_time}s expired")" 1

# --- 3. clear of a dynamic neighbor ------------------------------------------------------------------
lab_frr_restart frr
lab_wait_for 60 "isthmusd: FRR back" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 30 "routes back" all_present 100.64.2.0/24
lab_assert_eq "a new entry after the expiry" "$(nbr "j['established_transitions']")" 1
# While its routes wait for it: a (hard) clear drops them and the entry at once.
lab_stop frr KILL
lab_wait_for 30 "isthmusd: session to FRR down" not_established isthmusd "${frr}"
lab_assert_eq "routes kept as stale" "$(stale_of 100.64.2.0/24)" True
lab_isthmusctl isthmusd clear bgp neighbor "${frr}" >/dev/null
lab_wait_for 5 "the clear dropped the stale routes" none_present 100.64.2.0/24
lab_wait_for 5 "... and the waiting entry" not_listed
# Established: it comes back as a new entry.
lab_frr_restart frr
lab_wait_for 60 "isthmusd: FRR back" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 30 "routes back" all_present 100.64.2.0/24
lab_isthmusctl isthmusd clear bgp neighbor "${frr}" >/dev/null
lab_wait_for 60 "isthmusd: FRR reconnected after the clear" lab_isthmus_established isthmusd "${frr}"
lab_assert_eq "a new entry after the clear" "$(nbr "j['established_transitions']")" 1
lab_wait_for 30 "routes back after the clear" all_present 100.64.2.0/24

# --- 4. Hard Reset from FRR: routes and entry go at once --------------------------------------------
kept0=$(isth_log 'routes of ipv4-unicast kept as stale')
lab_vtysh frr "configure terminal" "router bgp 65000" "neighbor ${isth} shutdown" >/dev/null
lab_wait_for 10 "routes gone at once" none_present 100.64.2.0/24
lab_wait_for 5 "the dynamic neighbor entry is gone" not_listed
lab_assert_eq "no retention after a Hard Reset" "$(isth_log 'routes of ipv4-unicast kept as stale')" "${kept0}"
lab_assert_eq "it was a Hard Reset" \
  "$(isth_log 'Established -> Idle (received Cease/Hard Reset (Cease/Administrative Shutdown))')" 1

echo "PASS: graceful_restart_dynamic"
