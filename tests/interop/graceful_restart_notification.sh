#!/usr/bin/env bash
# Interop: RFC 8538 (graceful restart after a NOTIFICATION; Hard Reset) between isthmusd and
# FRR 8.4, both setting the N bit in their Graceful Restart Capability.
#   h1 isthmusd 198.18.0.1  AS 65000, route reflector; for FRR graceful_restart:
#                           { restart_time: 45, stale_routes_time: 30 }
#   h2 FRR      198.18.0.2  iBGP client: `bgp graceful-restart` + preserve-fw-state (families with
#                           the F bit), `bgp graceful-restart notification` (N), restart time 60,
#                           `no bgp hard-administrative-reset` (its `clear bgp` is graceful),
#                           `bgp route-map delay-timer 0` (an outbound route-map change waits for
#                           the next session); networks 100.64.2.0/24, 100.64.3.0/24, 100.64.4.0/24
#   h3 GoBGP    198.18.0.3  iBGP client: hears FRR's routes through isthmusd
# Checks:
#   0. Both sides see the other's N bit; FRR got isthmusd's configured restart time (45).
#   1. isthmusd's hold timer expires (FRR frozen with SIGSTOP): isthmusd sends Hold Timer Expired
#      (not a Hard Reset, RFC 8538 §4) and keeps FRR's routes, shown stale, still sent to GoBGP.
#      FRR (which meanwhile stopped announcing 100.64.4.0/24) comes back: isthmusd waits for its
#      End-of-RIB (up to the configured 30 s), which removes exactly 100.64.4.0/24; GoBGP saw one
#      withdrawn prefix over the whole restart.
#   2. `isthmusctl clear bgp neighbor X graceful`: FRR receives a plain Cease/Administrative
#      Reset; isthmusd keeps FRR's routes until FRR's End-of-RIB; GoBGP sees no withdrawal.
#   3. FRR's `clear bgp X` (Administrative Reset, not hard): isthmusd shows the NOTIFICATION and
#      keeps the routes until End-of-RIB; GoBGP sees no withdrawal.
#   4. `isthmusctl clear bgp neighbor X` (hard): FRR receives Cease/Hard Reset carrying
#      Cease/Administrative Reset (RFC 8538 §3); isthmusd drops FRR's routes at once.
#   5. FRR's `neighbor X shutdown`: isthmusd receives a Hard Reset (Administrative Shutdown
#      inside) and drops the routes at once.
#   6. FRR without the N bit: isthmusd's `clear ... graceful` and a hard clear are both a plain
#      Administrative Reset (no Hard Reset to a peer without N, §3.1), and the routes go at once
#      (a NOTIFICATION without N is not a restart, RFC 4724).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 3
isth=198.18.0.1 frr=198.18.0.2 gobgp=198.18.0.3

lab_frr_start 2 frr "$(cat <<CONF
frr defaults datacenter
hostname frr
log stdout informational
route-map OUT permit 10
router bgp 65000
 bgp router-id ${frr}
 no bgp network import-check
 bgp graceful-restart
 bgp graceful-restart preserve-fw-state
 bgp graceful-restart notification
 bgp graceful-restart restart-time 60
 no bgp hard-administrative-reset
 bgp route-map delay-timer 0
 neighbor ${isth} remote-as 65000
 neighbor ${isth} timers connect 1
 address-family ipv4 unicast
  network 100.64.2.0/24
  network 100.64.3.0/24
  network 100.64.4.0/24
  neighbor ${isth} activate
  neighbor ${isth} route-map OUT out
 exit-address-family
CONF
)"

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
    - address: ${frr}
      remote_as: 65000
      route_reflector_client: true
      graceful_restart: { restart_time: 45, stale_routes_time: 30 }
    - { address: ${gobgp}, remote_as: 65000, route_reflector_client: true, hold_time: 90 }
YAML
)"

not_established() { ! lab_isthmus_established "$@"; }
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
nbr() { lab_isthmusctl isthmusd show bgp neighbor "${frr}" -o json | lab_json "$1"; }
# How many lines of isthmusd's (FRR's) log contain the fixed string $1.
isth_log() { grep -cF -- "$1" "${LAB_DIR}/isthmusd.log" || true; }
frr_log() { grep -cF -- "$1" "${LAB_DIR}/frr.log" || true; }
frr_gr() { lab_vtysh frr "show bgp neighbors ${isth} json" | lab_json "j['${isth}']['gracefulRestartInfo']$1"; }
kept() { isth_log "routes of ipv4-unicast kept as stale"; }
eor_done() { isth_log "End-of-RIB for ipv4-unicast, $1 stale routes removed; restart complete"; }
# count_is N CMD...: CMD prints N.
count_is() {
  local want=$1
  shift
  [[ $("$@") == "${want}" ]]
}
routes=(100.64.2.0/24 100.64.3.0/24 100.64.4.0/24)

lab_wait_for 60 "isthmusd: ${frr} Established" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 60 "isthmusd: ${gobgp} Established" lab_isthmus_established isthmusd "${gobgp}"
for p in "${routes[@]}"; do lab_wait_for 30 "isthmusd and GoBGP have ${p}" all_present "${p}"; done

# --- 0. Negotiation ---------------------------------------------------------------------------
lab_assert_eq "isthmusd: FRR set the N bit" "$(nbr "j['capabilities']['graceful_restart_notification']")" True
lab_assert_eq "FRR: isthmusd set the N bit" "$(frr_gr "['nBit']")" True
lab_assert_eq "FRR: isthmusd's restart time (configured 45)" "$(frr_gr "['timers']['receivedRestartTimer']")" 45

# --- 1. Hold timer expiry: stale until End-of-RIB ----------------------------------------------
# FRR stops announcing 100.64.4.0/24 on its next session; with delay-timer 0 it sends nothing now.
lab_vtysh frr "configure terminal" "ip prefix-list NO4 seq 5 permit 100.64.4.0/24" \
  "route-map OUT deny 5" "match ip address prefix-list NO4" >/dev/null
lab_always 3 "FRR sent nothing for the route-map change" all_present "${routes[@]}"
wd0=$(gobgp_withdrawn)
kept0=$(kept)
kill -STOP "$(lab_pid frr)"
lab_wait_for 20 "isthmusd: hold timer expired for the frozen FRR" not_established isthmusd "${frr}"
lab_assert_eq "isthmusd sent Hold Timer Expired, not a Hard Reset" \
  "$(nbr "j['last_notification_sent']")" "Hold Timer Expired/Unspecific"
lab_wait_for 5 "isthmusd logged the retention" count_is $((kept0 + 1)) kept
for p in "${routes[@]}"; do
  lab_assert_eq "${p} kept and shown stale after the NOTIFICATION" "$(stale_of "${p}")" True
done
lab_assert_eq "stale families" "$(nbr "' '.join(j['stale_families'])")" ipv4-unicast
lab_always 3 "the routes stay on isthmusd and GoBGP while FRR is frozen" all_present "${routes[@]}"
lab_assert_eq "GoBGP withdrawn prefixes while FRR is frozen" "$(gobgp_withdrawn)" "${wd0}"
kill -CONT "$(lab_pid frr)"
lab_wait_for 60 "isthmusd: re-established with FRR" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 30 "FRR's End-of-RIB removed the one stale route it did not send again" \
  count_is 1 eor_done 1
lab_assert_eq "isthmusd waited for End-of-RIB up to stale_routes_time" \
  "$(isth_log "wait for End-of-RIB (up to 30s)")" 1
lab_wait_for 10 "100.64.4.0/24 gone from isthmusd and GoBGP" none_present 100.64.4.0/24
all_present 100.64.2.0/24 100.64.3.0/24 || lab_fail "100.64.2.0/24 or 100.64.3.0/24 missing"
for p in 100.64.2.0/24 100.64.3.0/24; do
  lab_assert_eq "${p} no longer stale" "$(stale_of "${p}")" False
done
lab_assert_eq "GoBGP withdrawn prefixes over the restart" "$(gobgp_withdrawn)" "$((wd0 + 1))"
routes=(100.64.2.0/24 100.64.3.0/24)

# --- 2. isthmusd's graceful clear -----------------------------------------------------------------
wd0=$(gobgp_withdrawn) kept0=$(kept) eor0=$(eor_done 0)
lab_isthmusctl isthmusd clear bgp neighbor "${frr}" graceful >/dev/null
lab_assert_eq "isthmusd sent a plain Administrative Reset" "$(nbr "j['last_notification_sent']")" \
  'Cease/Administrative Reset ("cleared by operator (graceful)")'
lab_wait_for 10 "FRR received Cease/Administrative Reset (not a Hard Reset)" \
  count_is 1 frr_log "NOTIFICATION: received from neighbor ${isth} 6/4 (Cease/Administrative Reset)"
lab_assert_eq "isthmusd kept FRR's routes" "$(kept)" "$((kept0 + 1))"
lab_wait_for 60 "isthmusd: re-established" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 30 "FRR's End-of-RIB ended the restart" count_is $((eor0 + 1)) eor_done 0
all_present "${routes[@]}" || lab_fail "routes missing after the graceful clear"
lab_assert_eq "GoBGP withdrawn prefixes across the graceful clear" "$(gobgp_withdrawn)" "${wd0}"

# --- 3. FRR's graceful clear ----------------------------------------------------------------------
wd0=$(gobgp_withdrawn) kept0=$(kept) eor0=$(eor_done 0)
lab_vtysh frr "clear bgp ${isth}" >/dev/null
lab_wait_for 10 "isthmusd kept FRR's routes after its Administrative Reset" count_is $((kept0 + 1)) kept
lab_assert_eq "isthmusd received" "$(nbr "j['last_notification_received']")" "Cease/Administrative Reset"
lab_wait_for 60 "isthmusd: re-established" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 30 "FRR's End-of-RIB ended the restart" count_is $((eor0 + 1)) eor_done 0
all_present "${routes[@]}" || lab_fail "routes missing after FRR's clear"
lab_assert_eq "GoBGP withdrawn prefixes across FRR's clear" "$(gobgp_withdrawn)" "${wd0}"

# isthmusd reconnects a second after a reset, so "gone at once" is read from GoBGP's withdrawal
# counter rather than from a table that may already be refilled.
withdrawn_again() { (($(gobgp_withdrawn) >= wd0 + 2)); }

# --- 4. isthmusd's hard clear: Hard Reset ---------------------------------------------------------
kept0=$(kept) wd0=$(gobgp_withdrawn)
lab_isthmusctl isthmusd clear bgp neighbor "${frr}" >/dev/null
lab_assert_eq "isthmusd sent a Hard Reset" "$(nbr "j['last_notification_sent']")" \
  'Cease/Hard Reset (Cease/Administrative Reset ("cleared by operator"))'
lab_wait_for 10 "FRR received the Hard Reset with the Administrative Reset inside" count_is 1 \
  frr_log "NOTIFICATION(Hard Reset): received from neighbor ${isth} 6/4 (Cease/Administrative Reset) \"cleared by operator\""
lab_wait_for 5 "FRR's routes withdrawn at once towards GoBGP" withdrawn_again
lab_assert_eq "no retention after a Hard Reset" "$(kept)" "${kept0}"
lab_wait_for 60 "isthmusd: re-established" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 30 "routes back" all_present "${routes[@]}"

# --- 5. FRR's shutdown: Hard Reset received -------------------------------------------------------
kept0=$(kept)
lab_vtysh frr "configure terminal" "router bgp 65000" "neighbor ${isth} shutdown" >/dev/null
lab_wait_for 30 "isthmusd: session down" not_established isthmusd "${frr}"
lab_assert_eq "isthmusd received" "$(nbr "j['last_notification_received']")" \
  "Cease/Hard Reset (Cease/Administrative Shutdown)"
lab_wait_for 5 "FRR's routes gone at once from isthmusd and GoBGP" none_present "${routes[@]}"
lab_assert_eq "no retention after a Hard Reset" "$(kept)" "${kept0}"
lab_vtysh frr "configure terminal" "router bgp 65000" "no neighbor ${isth} shutdown" >/dev/null
lab_wait_for 60 "isthmusd: re-established" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 30 "routes back" all_present "${routes[@]}"

# --- 6. FRR without the N bit -----------------------------------------------------------------------
lab_vtysh frr "configure terminal" "router bgp 65000" "no bgp graceful-restart notification" >/dev/null
# The running session still has N on both sides: this clear is a Hard Reset; the next session
# has no N.
lab_isthmusctl isthmusd clear bgp neighbor "${frr}" >/dev/null
lab_wait_for 60 "isthmusd: re-established" lab_isthmus_established isthmusd "${frr}"
lab_assert_eq "isthmusd: FRR no longer sets the N bit" \
  "$(nbr "j['capabilities']['graceful_restart_notification']")" False
lab_wait_for 30 "routes back" all_present "${routes[@]}"
kept0=$(kept) wd0=$(gobgp_withdrawn)
lab_isthmusctl isthmusd clear bgp neighbor "${frr}" graceful >/dev/null
lab_wait_for 5 "without N a NOTIFICATION is no restart: FRR's routes withdrawn at once" withdrawn_again
lab_assert_eq "no retention without N" "$(kept)" "${kept0}"
lab_wait_for 60 "isthmusd: re-established" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 30 "routes back" all_present "${routes[@]}"
wd0=$(gobgp_withdrawn)
lab_isthmusctl isthmusd clear bgp neighbor "${frr}" >/dev/null
lab_assert_eq "no Hard Reset to a peer without N" "$(nbr "j['last_notification_sent']")" \
  'Cease/Administrative Reset ("cleared by operator")'
lab_wait_for 10 "FRR received a plain Administrative Reset" count_is 1 \
  frr_log "NOTIFICATION: received from neighbor ${isth} 6/4 (Cease/Administrative Reset) \"cleared by operator\""
lab_wait_for 5 "FRR's routes withdrawn at once" withdrawn_again
lab_assert_eq "no retention" "$(kept)" "${kept0}"

lab_log "isthmusd graceful restart log:"$'\n'"$(grep 'graceful restart' "${LAB_DIR}/isthmusd.log")"
echo "PASS: graceful_restart_notification"
