#!/usr/bin/env bash
# Interop: RFC 7606 error handling of isthmusd, driven by raw_bgp.py (crafted UPDATE bytes).
#   h1 isthmusd AS 65000 198.18.0.1, passive eBGP neighbor 198.18.0.2 (IPv4 + IPv6 unicast)
#   h2 raw_bgp.py AS 65002 198.18.0.2
# Each case names the rule it checks. Ordering on one TCP session is the clock: after the bad
# UPDATEs a good "marker" UPDATE is sent, and once the marker is in isthmusd's RIB every earlier
# UPDATE has been processed, so "absent" assertions do not depend on timing.
#   treat-as-withdraw, session stays up:
#     ORIGIN value 7                       RFC 7606 §7.1
#     AS_PATH segment type 5               RFC 7606 §7.2
#     an attribute (MED) whose length runs past the Total Path Attribute Length
#                                          RFC 7606 §4 ("treat-as-withdraw MUST be used ... and
#                                          the Total Attribute Length MUST be relied upon to
#                                          locate the NLRI")
#   attribute discard, route kept:  MED twice: the first is kept       RFC 7606 §3.g
#   session reset, NOTIFICATION checked by the speaker:
#     Total Path Attribute Length past the end of the message -> 3/1   RFC 4271 §6.3, 7606 §4
#     MP_REACH_NLRI twice                                      -> 3/1   RFC 7606 §3.g
#     MP_REACH_NLRI next hop length 5 (IPv6)                   -> 3/x   RFC 7606 §7.11, §5.3
#       (7606 allows session reset or AFI/SAFI disable; Isthmus chose reset)
#   and isthmusd is still running and accepting routes at the end.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 2

lab_isthmusd_start 1 isthmusd "$(cat <<YAML
control_socket: $(lab_isthmus_sock isthmusd)
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: { address: 198.18.0.1, port: 179 }
  hold_time: 30
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.2, remote_as: 65002, passive: true, families: [ipv4-unicast, ipv6-unicast], import: accept-all, export: accept-all }
YAML
)"
lab_raw_start 2 raw --peer 198.18.0.1 --local 198.18.0.2 --asn 65002 --router-id 198.18.0.2 \
  --families ipv4-unicast,ipv6-unicast --hold 30

events() { lab_raw_count raw "$1"; }
wait_events() { # wait_events MSG PYEXPR N: until N events match
  lab_wait_for 60 "$1" eval "[[ \$(events \"$2\") -ge $3 ]]"
}
has() { lab_isthmus_has_route isthmusd "$1" "$2"; }
assert_present() { has "$1" "$2" || lab_fail "$2 should be in isthmusd's RIB ($3)"; lab_log "ok: $2 present ($3)"; }
assert_absent() {
  lab_isthmus_lacks_route isthmusd "$1" "$2" || lab_fail "$2 should not be in isthmusd's RIB ($3)"
  lab_log "ok: $2 absent ($3)"
}
v4() { [[ $1 == *:* ]] && echo ipv6 || echo ipv4; }
# Wait for a route, but fail at once (with the NOTIFICATION) if isthmusd reset the session.
no_reset_and_has() {
  if lab_raw_has raw "e['event'] in ('notification', 'closed')"; then
    lab_fail "isthmusd reset the session where RFC 7606 wants treat-as-withdraw or discard: $(grep -E '"(notification|closed)"' "${LAB_DIR}/raw.log" | head -2 | tr '\n' ' ')"
  fi
  has "$@"
}

wait_events "raw speaker Established" "e['event'] == 'established'" 1
lab_wait_for 30 "isthmusd: 198.18.0.2 Established" lab_isthmus_established isthmusd 198.18.0.2

# --- Baseline: routes to be hit by treat-as-withdraw later --------------------------------------
for p in 100.64.10.0/24 100.64.11.0/24 100.64.13.0/24 100.64.15.0/24 fd00:64:10::/48; do
  lab_raw raw send good "${p}"
done
for p in 100.64.10.0/24 100.64.11.0/24 100.64.13.0/24 100.64.15.0/24 fd00:64:10::/48; do
  lab_wait_for 30 "isthmusd has ${p}" has "$(v4 "${p}")" "${p}"
done

# --- Treat-as-withdraw and attribute discard: the session must stay up --------------------------
lab_raw raw send bad-origin 100.64.11.0/24          # announced before: must be withdrawn
lab_raw raw send bad-origin 100.64.12.0/24          # new: must never appear
lab_raw raw send bad-aspath-segtype 100.64.13.0/24  # announced before: must be withdrawn
lab_raw raw send bad-aspath-segtype 100.64.19.0/24  # new: must never appear
lab_raw raw send attr-overrun 100.64.15.0/24        # announced before: must be withdrawn
lab_raw raw send dup-med 100.64.14.0/24 10          # kept, MED 10 (the first)
lab_raw raw send good 100.64.99.0/24                # marker
lab_wait_for 30 "isthmusd has the marker 100.64.99.0/24 (all earlier UPDATEs processed)" no_reset_and_has ipv4 100.64.99.0/24

assert_present ipv4 100.64.10.0/24 "untouched control route"
assert_absent ipv4 100.64.11.0/24 "bad ORIGIN: treat-as-withdraw, RFC 7606 §7.1"
assert_absent ipv4 100.64.12.0/24 "bad ORIGIN on a new prefix"
assert_absent ipv4 100.64.13.0/24 "bad AS_PATH segment type: treat-as-withdraw, RFC 7606 §7.2"
assert_absent ipv4 100.64.19.0/24 "bad AS_PATH segment type on a new prefix"
assert_absent ipv4 100.64.15.0/24 "attribute overrunning Total Path Attribute Length: treat-as-withdraw, RFC 7606 §4"
assert_present ipv4 100.64.14.0/24 "duplicate MED: discard the duplicate, RFC 7606 §3.g"
r=$(lab_isthmus_route isthmusd ipv4 100.64.14.0/24)
lab_assert_eq "100.64.14.0/24 MED (first of the two)" "$(lab_json "j['paths'][0].get('med')" <<<"${r}")" 10
assert_present ipv6 fd00:64:10::/48 "IPv6 route untouched"
lab_assert_eq "NOTIFICATIONs received by the speaker so far" "$(events "e['event'] == 'notification'")" 0
lab_assert_eq "connections closed so far" "$(events "e['event'] == 'closed'")" 0
lab_isthmus_established isthmusd 198.18.0.2 || lab_fail "session not Established after treat-as-withdraw cases"

# --- Session resets: the speaker checks the NOTIFICATION ----------------------------------------
reset_case() { # reset_case N WHAT PREFIX SUBCODE|any RULE
  local n=$1 what=$2 prefix=$3 sub=$4 rule=$5
  lab_raw raw send "${what}" "${prefix}"
  wait_events "NOTIFICATION for ${what}" "e['event'] == 'notification'" "${n}"
  local got
  got=$(python3 -c '
import json, sys
ns = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
n = [e for e in ns if e.get("event") == "notification"][-1]
print("%d/%d" % (n["code"], n["subcode"]))' "${LAB_DIR}/raw.log")
  if [[ ${sub} == any ]]; then
    [[ ${got%%/*} == 3 ]] || lab_fail "${what}: NOTIFICATION ${got}, want 3/x (UPDATE Message Error), ${rule}"
  else
    lab_assert_eq "${what}: NOTIFICATION code/subcode (${rule})" "${got}" "3/${sub}"
  fi
  lab_log "ok: ${what} -> NOTIFICATION ${got}"
  wait_events "connection closed after ${what}" "e['event'] == 'closed'" "${n}"
  lab_alive isthmusd || lab_fail "isthmusd died after ${what}"
  lab_wait_for 30 "isthmusd: session down after ${what}" eval "! lab_isthmus_established isthmusd 198.18.0.2"
  lab_wait_for 30 "isthmusd flushed the speaker's routes after ${what}" lab_isthmus_lacks_route isthmusd ipv4 100.64.10.0/24
  # Reconnect (raw_bgp retries while isthmusd holds off after the reset) and re-announce.
  lab_raw raw connect
  wait_events "raw speaker re-Established after ${what}" "e['event'] == 'established'" $((n + 1))
  lab_wait_for 60 "isthmusd: 198.18.0.2 Established after ${what}" lab_isthmus_established isthmusd 198.18.0.2
  lab_raw raw send good 100.64.10.0/24
  lab_wait_for 30 "isthmusd has 100.64.10.0/24 after reconnect" has ipv4 100.64.10.0/24
}
reset_case 1 total-attr-overrun 100.64.16.0/24 1 "RFC 4271 §6.3 / RFC 7606 §4: Malformed Attribute List"
reset_case 2 dup-mp-reach fd00:64:17::/48 1 "RFC 7606 §3.g: Malformed Attribute List"
reset_case 3 bad-mp-nhlen fd00:64:18::/48 any "RFC 7606 §7.11: MP_REACH next hop length 5"

# --- Still alive and working --------------------------------------------------------------------
lab_raw raw send good fd00:64:20::/48
lab_wait_for 30 "isthmusd accepts IPv6 routes after the resets" has ipv6 fd00:64:20::/48
assert_absent ipv4 100.64.16.0/24 "route in the UPDATE that caused a reset"
assert_absent ipv6 fd00:64:17::/48 "route in the UPDATE that caused a reset"
assert_absent ipv6 fd00:64:18::/48 "route in the UPDATE that caused a reset"
lab_alive isthmusd || lab_fail "isthmusd is not running at the end"
lab_isthmusctl isthmusd show bgp summary -o json >/dev/null || lab_fail "isthmusctl cannot talk to isthmusd at the end"

echo "PASS: malformed_update"
