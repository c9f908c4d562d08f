#!/usr/bin/env bash
# Interop: connection collision (RFC 4271 §6.8) between isthmusd and FRR 8.4, both active with a
# 1 s connect retry, iBGP AS 65000.
#   h1 isthmusd 198.18.0.1 (router id alternates per round: 198.18.0.1 below FRR's, 198.18.0.3
#      above it, so that each side is the one keeping its outgoing connection in some rounds)
#   h2 FRR      198.18.0.2, announces 100.64.2.0/24
# Five rounds; in each, both daemons are (re)started so that both connections exist at once (one
# side is frozen with SIGSTOP while the other connects to it, alternating), then both sides clear
# the session at the same moment. After each start and each clear:
#   - both sides reach Established, and exactly one TCP connection on port 179 remains in h1
#   - it then stays that way for 5 s: no flap (isthmusd's established_transitions and FRR's
#     connectionsEstablished / connectionsDropped do not move, the TCP connection count stays 1)
#   - routes flow over the surviving session
# Whether a collision actually happens is a race: the script counts the collisions isthmusd
# logged and, for each one, checks the side it closed (RFC 4271 §6.8: the connection opened by
# the higher BGP identifier survives), but does not require one to happen.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 2

frr_conf=$(cat <<CONF
frr defaults datacenter
hostname frr
log stdout informational
router bgp 65000
 bgp router-id 198.18.0.2
 no bgp default ipv4-unicast
 no bgp network import-check
 bgp graceful-restart-disable
 neighbor 198.18.0.1 remote-as 65000
 neighbor 198.18.0.1 timers connect 1
 address-family ipv4 unicast
  network 100.64.2.0/24
  neighbor 198.18.0.1 activate
 exit-address-family
CONF
)
isthmusd_conf() { # isthmusd_conf ROUTER_ID
  cat <<YAML
control_socket: $(lab_isthmus_sock isthmusd)
bgp:
  asn: 65000
  router_id: $1
  listen: { address: 198.18.0.1, port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.2, remote_as: 65000, families: [ipv4-unicast] }
  originate:
    - { prefix: 100.64.1.0/24 }
YAML
}

tcp_sessions() { lab_exec 1 ss -Htn state established '( sport = :179 or dport = :179 )' | wc -l; }
one_tcp_session() { [[ $(tcp_sessions) == 1 ]]; }
frr_stat() { lab_vtysh frr "show bgp neighbors 198.18.0.1 json" | lab_json "j['198.18.0.1']['$1']"; }
isth_transitions() { lab_isthmusctl isthmusd show bgp neighbor 198.18.0.2 -o json | lab_json "j['established_transitions']"; }
frr_has() { lab_vtysh frr "show bgp ipv4 unicast $1 json" | lab_check_json "any(p.get('valid') for p in j.get('paths', []))"; }
# The snapshot the 5 s no-flap window compares against.
counters() { echo "$(isth_transitions)/$(frr_stat connectionsEstablished)/$(frr_stat connectionsDropped)"; }
steady() {
  local why="" c n
  lab_isthmus_established isthmusd 198.18.0.2 || why+="isthmusd not Established; "
  lab_frr_established frr 198.18.0.1 || why+="FRR not Established; "
  n=$(tcp_sessions)
  [[ ${n} == 1 ]] || why+="${n} TCP connections on port 179: $(lab_exec 1 ss -Htn '( sport = :179 or dport = :179 )' | tr '\n' '|'); "
  c=$(counters) || c="(query failed)"
  [[ ${c} == "${SNAPSHOT}" ]] || why+="counters ${c}, were ${SNAPSHOT}; "
  [[ -z ${why} ]] && return 0
  echo "$(date +%T.%3N) ${why}" >>"${LAB_DIR}/steady.why"
  return 1
}
show_why() { cat "${LAB_DIR}/steady.why" 2>/dev/null; }
lab_on_fail show_why

# settle WHAT: both sides up, one TCP connection, routes both ways, then 5 s without change.
settle() {
  local what=$1
  lab_wait_for 60 "${what}: isthmusd Established" lab_isthmus_established isthmusd 198.18.0.2
  lab_wait_for 60 "${what}: FRR Established" lab_frr_established frr 198.18.0.1
  lab_wait_for 30 "${what}: exactly one TCP connection on port 179 (have $(tcp_sessions))" one_tcp_session
  lab_wait_for 30 "${what}: isthmusd has 100.64.2.0/24" lab_isthmus_has_route isthmusd ipv4 100.64.2.0/24
  lab_wait_for 30 "${what}: FRR has 100.64.1.0/24" frr_has 100.64.1.0/24
  SNAPSHOT=$(counters)
  lab_always 5 "${what}: one session, Established on both sides, no flap (isthmusd transitions/FRR established/FRR dropped = ${SNAPSHOT})" steady
}

collision_re="connection collision|refused: session already established"
collisions_logged() { grep -cE "${collision_re}" "${LAB_DIR}/isthmusd.log" || true; }

isth_state() { lab_isthmus_neighbor_state isthmusd 198.18.0.2; }
frr_state() { lab_vtysh frr "show bgp neighbors 198.18.0.1 json" | lab_json "j['198.18.0.1']['bgpState']"; }

EARLY_FLAPS=0
for round in 1 2 3 4 5; do
  if (((round / 2) % 2)); then rid=198.18.0.3; else rid=198.18.0.1; fi
  log_mark=1
  [[ -f ${LAB_DIR}/isthmusd.log ]] && log_mark=$(($(wc -l <"${LAB_DIR}/isthmusd.log") + 1))
  lab_stop isthmusd
  [[ -f ${LAB_DIR}/frr.kind ]] && lab_stop frr
  rm -f "${LAB_DIR}/frr"/*.vty "${LAB_DIR}/frr/zserv.api"
  # To make both connections exist at once, one side is frozen (SIGSTOP) while the other
  # connects to it: the frozen side's kernel completes the handshake and queues the OPEN. On
  # SIGCONT the frozen side finds the queued connection and its own overdue connect-retry timer
  # together. (No isthmusctl/vtysh query may go to a frozen daemon: it would block.)
  if ((round % 2)); then
    lab_frr_start 2 frr "${frr_conf}"
    kill -STOP "$(lab_pid frr)"
    lab_isthmusd_start 1 isthmusd "$(isthmusd_conf "${rid}")"
    lab_wait_for 30 "round ${round}: isthmusd OpenSent towards the frozen FRR" eval '[[ $(isth_state) == OpenSent ]]'
    sleep 1.5 # let FRR's 1 s connect-retry timer fall due while it is frozen
    kill -CONT "$(lab_pid frr)"
  else
    lab_isthmusd_start 1 isthmusd "$(isthmusd_conf "${rid}")"
    kill -STOP "$(lab_pid isthmusd)"
    lab_frr_start 2 frr "${frr_conf}"
    lab_wait_for 30 "round ${round}: FRR OpenSent towards the frozen isthmusd" eval '[[ $(frr_state) == OpenSent ]]'
    sleep 1.5
    kill -CONT "$(lab_pid isthmusd)"
  fi
  settle "round ${round} (router id ${rid}), start"
  # A session that came up and went down again while the collision was being resolved is
  # reported, not failed: FRR 8.4 itself sometimes drops the winning connection here
  # ("bgp_getsockname() failed for accept from_peer", then "No AFI/SAFI activated for peer").
  # The settled state above (one session, 5 s without a flap) is the assertion.
  first=$(isth_transitions)
  if [[ ${first} != 1 ]]; then
    EARLY_FLAPS=$((EARLY_FLAPS + 1))
    lab_log "note: round ${round}: isthmusd reached Established ${first} times before settling; FRR said:"
    grep -E "getsockname|AFI/SAFI|reset by peer|Collision" "${LAB_DIR}/frr.log" | tail -4 >&2 || true
  fi

  # Both sides drop the session at the same moment; both reconnect after about 1 s.
  lab_isthmusctl isthmusd clear bgp neighbor 198.18.0.2 >/dev/null &
  c1=$!
  lab_vtysh frr "clear bgp 198.18.0.1" >/dev/null &
  c2=$!
  wait "${c1}" || lab_fail "isthmusctl clear bgp neighbor failed"
  wait "${c2}" || lab_fail "vtysh clear bgp failed"
  lab_wait_for 30 "round ${round}: the clear took effect (isthmusd transitions > 1 or session down)" \
    eval "(( \$(isth_transitions) > 1 )) || ! lab_isthmus_established isthmusd 198.18.0.2"
  settle "round ${round} (router id ${rid}), after clearing both sides"
  lab_log "round ${round}: collisions isthmusd logged so far: $(collisions_logged)"
  # RFC 4271 §6.8: the connection opened by the speaker with the higher BGP identifier survives.
  # FRR's is 198.18.0.2: isthmusd with .1 must close its outgoing one, with .3 its incoming one.
  if ((${rid##*.} > 2)); then want=incoming; else want=outgoing; fi
  while read -r line; do
    [[ ${line} == *"closing the ${want} connection"* ]] ||
      lab_fail "round ${round}: isthmusd (router id ${rid}) resolved a collision the wrong way: ${line}"
    lab_log "ok: round ${round}: collision resolved by BGP identifier: ${line##*: }"
  done < <(tail -n "+${log_mark}" "${LAB_DIR}/isthmusd.log" | grep "connection collision, closing the" || true)
done

lab_log "isthmusd logged $(collisions_logged) collision events over 5 rounds; ${EARLY_FLAPS} round(s) flapped before settling:"
grep -E "${collision_re}" "${LAB_DIR}/isthmusd.log" | tail -5 >&2 || true
echo "PASS: collision"
