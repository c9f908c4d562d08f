#!/usr/bin/env bash
# Interop: isthmusd as the receiving speaker ("helper") of RFC 4724 §4.2 for a restarting FRR 8.4.
#   h1 isthmusd 198.18.0.1  AS 65000, route reflector
#   h2 FRR      198.18.0.2  iBGP client, `bgp graceful-restart` + preserve-fw-state (F bit),
#                           restart time 20 s; networks 100.64.2.0/24, 100.64.3.0/24, 100.64.4.0/24
#   h3 GoBGP    198.18.0.3  iBGP client: hears FRR's routes through isthmusd
# Checks:
#   1. kill -9 FRR (bgpd and zebra): isthmusd keeps FRR's routes, shown "stale": true, and sends
#      GoBGP nothing; FRR comes back without 100.64.4.0/24: after FRR's End-of-RIB that prefix is
#      gone from isthmusd and GoBGP, the other two stay, and GoBGP received exactly one withdrawn
#      prefix over the whole restart.
#   2. kill -9 FRR and leave it down: the routes stay until FRR's restart time (20 s) expires,
#      then go.
#   3. FRR `neighbor shutdown` sends a Cease / Hard Reset (RFC 8538 §3.1): no restart, the routes go
#      at once.
#   4. FRR back with graceful restart disabled (no capability in its OPEN): the stale routes go
#      at once on re-establishment, before FRR's End-of-RIB. (FRR 8.4 sets the F bit with or
#      without `preserve-fw-state`, so the F-bit branch is not reachable with it.)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 3
isth=198.18.0.1 frr=198.18.0.2 gobgp=198.18.0.3
restart_time=20

frr_conf() {
  local networks=$1 gr=${2:-" bgp graceful-restart"$'\n'" bgp graceful-restart preserve-fw-state"}
  cat <<CONF
frr defaults datacenter
hostname frr
log stdout informational
router bgp 65000
 bgp router-id 198.18.0.2
 no bgp network import-check
${gr}
 bgp graceful-restart restart-time ${restart_time}
 neighbor ${isth} remote-as 65000
 neighbor ${isth} timers connect 1
 address-family ipv4 unicast
$(for n in ${networks}; do echo "  network ${n}"; done)
  neighbor ${isth} activate
 exit-address-family
CONF
}
lab_frr_start 2 frr "$(frr_conf "100.64.2.0/24 100.64.3.0/24 100.64.4.0/24")"

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
    hold-time = 9
    keepalive-interval = 3
TOML
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
    - { address: ${frr}, remote_as: 65000, route_reflector_client: true, families: [ipv4-unicast] }
    - { address: ${gobgp}, remote_as: 65000, route_reflector_client: true, families: [ipv4-unicast] }
YAML
)"

not_established() { ! lab_isthmus_established "$@"; }
gobgp_has() { lab_gobgp gobgp -j global rib -a ipv4 | lab_check_json "'$1' in j"; }
gobgp_lacks() { lab_gobgp gobgp -j global rib -a ipv4 | lab_check_json "'$1' not in j"; }
# GoBGP's counters for its session to isthmusd: withdrawn prefixes and UPDATEs received.
gobgp_stat() { lab_gobgp gobgp -j neighbor "${isth}" | lab_json "j['state']['messages']['received'].get('$1', 0)"; }
stale_of() { lab_isthmus_route isthmusd ipv4 "$1" | lab_json "j['paths'][0].get('stale', False)"; }
all_present() {
  local p
  for p in "$@"; do
    lab_isthmus_has_route isthmusd ipv4 "${p}" && gobgp_has "${p}" || return 1
  done
}
gr_log() { grep -c "graceful restart: .*$1" "${LAB_DIR}/isthmusd.log" || true; }

lab_wait_for 60 "isthmusd: ${frr} Established" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 60 "isthmusd: ${gobgp} Established" lab_isthmus_established isthmusd "${gobgp}"
nbr=$(lab_isthmusctl isthmusd show bgp neighbor "${frr}" -o json)
lab_assert_eq "FRR advertised graceful restart" "$(lab_json "j['capabilities']['graceful_restart']" <<<"${nbr}")" True
for p in 100.64.2.0/24 100.64.3.0/24 100.64.4.0/24; do
  lab_wait_for 30 "isthmusd and GoBGP have ${p}" all_present "${p}"
done

# --- 1. kill -9, restart with one prefix fewer, End-of-RIB ----------------------------------------
wd0=$(gobgp_stat withdraw_prefix)
lab_log "GoBGP withdrawn prefixes before the restart: ${wd0}"
lab_stop frr KILL
lab_wait_for 30 "isthmusd: session to FRR down after kill -9" not_established isthmusd "${frr}"
lab_wait_for 10 "isthmusd logged the retention" eval "(( \$(gr_log 'kept as stale') >= 1 ))"
for p in 100.64.2.0/24 100.64.3.0/24 100.64.4.0/24; do
  lab_assert_eq "${p} kept and shown stale while FRR is down" "$(stale_of "${p}")" True
done
lab_always 3 "the routes stay on isthmusd and GoBGP while FRR is down" \
  all_present 100.64.2.0/24 100.64.3.0/24 100.64.4.0/24
lab_assert_eq "GoBGP withdrawn prefixes while FRR is down" "$(gobgp_stat withdraw_prefix)" "${wd0}"

frr_conf "100.64.2.0/24 100.64.3.0/24" >"${LAB_DIR}/frr/bgpd.conf"
lab_frr_restart frr
lab_wait_for 60 "isthmusd: re-established with the restarted FRR" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 60 "isthmusd: End-of-RIB from FRR ended the restart" \
  eval "(( \$(gr_log 'End-of-RIB for ipv4-unicast, 1 stale routes removed') >= 1 ))"
lab_wait_for 10 "100.64.4.0/24 gone from isthmusd" lab_isthmus_lacks_route isthmusd ipv4 100.64.4.0/24
lab_wait_for 10 "100.64.4.0/24 gone from GoBGP" gobgp_lacks 100.64.4.0/24
all_present 100.64.2.0/24 100.64.3.0/24 || lab_fail "100.64.2.0/24 or 100.64.3.0/24 missing after the restart"
for p in 100.64.2.0/24 100.64.3.0/24; do
  lab_assert_eq "${p} no longer stale" "$(stale_of "${p}")" False
done
# Exactly one prefix withdrawn towards GoBGP over the whole restart: 100.64.4.0/24.
lab_assert_eq "GoBGP withdrawn prefixes after the restart" "$(gobgp_stat withdraw_prefix)" "$((wd0 + 1))"

# --- 2. kill -9 and stay down: the restart time expires --------------------------------------------
lab_stop frr KILL
lab_wait_for 30 "isthmusd: session to FRR down" not_established isthmusd "${frr}"
t0=${SECONDS}
lab_always 5 "the routes stay during the restart time" all_present 100.64.2.0/24 100.64.3.0/24
lab_wait_for $((restart_time + 10)) "routes gone after the ${restart_time}s restart time" \
  lab_isthmus_lacks_route isthmusd ipv4 100.64.2.0/24
((SECONDS - t0 >= restart_time - 2)) || lab_fail "routes went after $((SECONDS - t0))s, before the restart time"
lab_wait_for 10 "GoBGP dropped 100.64.2.0/24" gobgp_lacks 100.64.2.0/24
lab_assert_eq "isthmusd logged the expiry" "$(gr_log "restart time of ${restart_time}s expired")" 1

# --- 3. Hard Reset (Cease inside): no graceful restart ---------------------------------------------
lab_frr_restart frr
lab_wait_for 60 "isthmusd: re-established" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 30 "routes back" all_present 100.64.2.0/24 100.64.3.0/24
kept0=$(gr_log 'kept as stale')
lab_vtysh frr "configure terminal" "router bgp 65000" "neighbor ${isth} shutdown" >/dev/null
lab_wait_for 30 "isthmusd: session down after FRR's Cease" not_established isthmusd "${frr}"
lab_wait_for 5 "isthmusd dropped 100.64.2.0/24 at once" lab_isthmus_lacks_route isthmusd ipv4 100.64.2.0/24
lab_wait_for 5 "GoBGP dropped 100.64.2.0/24 at once" gobgp_lacks 100.64.2.0/24
lab_assert_eq "no retention after a NOTIFICATION" "$(gr_log 'kept as stale')" "${kept0}"

lab_vtysh frr "configure terminal" "router bgp 65000" "no neighbor ${isth} shutdown" >/dev/null
lab_wait_for 60 "isthmusd: re-established after no shutdown" lab_isthmus_established isthmusd "${frr}"
lab_wait_for 30 "routes back" all_present 100.64.2.0/24 100.64.3.0/24

# --- 4. back without graceful restart: stale routes go at once -----------------------------------
lab_stop frr KILL
lab_wait_for 30 "isthmusd: session to FRR down" not_established isthmusd "${frr}"
frr_conf "100.64.2.0/24 100.64.3.0/24" " bgp graceful-restart-disable" >"${LAB_DIR}/frr/bgpd.conf"
lab_frr_restart frr
lab_wait_for 60 "isthmusd: re-established with FRR without graceful restart" \
  lab_isthmus_established isthmusd "${frr}"
lab_wait_for 10 "isthmusd purged the stale routes at once" \
  eval "(( \$(gr_log '2 stale routes of ipv4-unicast removed: ') >= 1 ))"
lab_log "ok: $(grep 'stale routes of ipv4-unicast removed: ' "${LAB_DIR}/isthmusd.log" | tail -1)"
lab_wait_for 30 "routes back from the new session" all_present 100.64.2.0/24 100.64.3.0/24
lab_assert_eq "100.64.2.0/24 not stale" "$(stale_of 100.64.2.0/24)" False

lab_log "isthmusd graceful restart log:"$'\n'"$(grep 'graceful restart' "${LAB_DIR}/isthmusd.log")"
echo "PASS: graceful_restart"
