#!/usr/bin/env bash
# Interop: isthmusd <-> BIRD 2.0.12, eBGP (65000 <-> 65003) over an IPv4 and an IPv6 session.
#   h1 isthmusd 198.18.0.1 / fd00:18::1 originates 100.64.1.0/24, fd00:64:1::/48
#   h2 BIRD     198.18.0.2 / fd00:18::2 exports    100.64.31.0/24, fd00:64:31::/48
#   IPv4 unicast over the IPv4 session, IPv6 unicast over the IPv6 session.
# Checks: both sessions Established on both sides; routes both ways with eBGP attributes; a
# withdrawal from BIRD (static protocol disabled) reaches isthmusd.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 2

lab_bird_start 2 bird "$(cat <<CONF
router id 198.18.0.2;
log "${LAB_DIR}/bird-events.log" all;
protocol device { scan time 1; }
protocol static s4 { ipv4; route 100.64.31.0/24 blackhole; }
protocol static s6 { ipv6; route fd00:64:31::/48 blackhole; }
template bgp isth {
  local as 65003;
  hold time 9;
  connect retry time 1;
  error wait time 1, 5;
}
protocol bgp isth4 from isth {
  local 198.18.0.2;
  neighbor 198.18.0.1 as 65000;
  ipv4 { import all; export all; };
}
protocol bgp isth6 from isth {
  local fd00:18::2;
  neighbor fd00:18::1 as 65000;
  ipv6 { import all; export all; };
}
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
    - { address: 198.18.0.2, remote_as: 65003, families: [ipv4-unicast], import: accept-all, export: accept-all }
    - { address: "fd00:18::2", remote_as: 65003, families: [ipv6-unicast], import: accept-all, export: accept-all }
  originate:
    - { prefix: 100.64.1.0/24 }
    - { prefix: "fd00:64:1::/48" }
YAML
)"

lab_wait_for 60 "isthmusd: 198.18.0.2 Established" lab_isthmus_established isthmusd 198.18.0.2
lab_wait_for 60 "isthmusd: fd00:18::2 Established" lab_isthmus_established isthmusd fd00:18::2
lab_wait_for 60 "bird: isth4 Established" lab_bird_established bird isth4
lab_wait_for 60 "bird: isth6 Established" lab_bird_established bird isth6

# --- BIRD -> isthmusd --------------------------------------------------------------------------
lab_wait_for 30 "isthmusd has 100.64.31.0/24" lab_isthmus_has_route isthmusd ipv4 100.64.31.0/24
lab_wait_for 30 "isthmusd has fd00:64:31::/48" lab_isthmus_has_route isthmusd ipv6 fd00:64:31::/48
r=$(lab_isthmus_route isthmusd ipv4 100.64.31.0/24)
lab_assert_eq "100.64.31.0/24 as_path" "$(lab_json "j['paths'][0]['as_path']" <<<"${r}")" 65003
lab_assert_eq "100.64.31.0/24 next_hop" "$(lab_json "j['paths'][0]['next_hop']" <<<"${r}")" 198.18.0.2
lab_assert_eq "100.64.31.0/24 from" "$(lab_json "j['paths'][0]['from']" <<<"${r}")" 198.18.0.2
r=$(lab_isthmus_route isthmusd ipv6 fd00:64:31::/48)
lab_assert_eq "fd00:64:31::/48 as_path" "$(lab_json "j['paths'][0]['as_path']" <<<"${r}")" 65003
lab_assert_eq "fd00:64:31::/48 next_hop" "$(lab_json "str(ipaddress.ip_address(j['paths'][0]['next_hop']))" <<<"${r}")" fd00:18::2
lab_assert_eq "fd00:64:31::/48 from" "$(lab_json "str(ipaddress.ip_address(j['paths'][0]['from']))" <<<"${r}")" fd00:18::2

# --- isthmusd -> BIRD --------------------------------------------------------------------------
bird_route() { lab_birdc bird show route for "$1" all; }
bird_has() { bird_route "$1" | grep -qF "$1"; }
lab_wait_for 30 "bird has 100.64.1.0/24" bird_has 100.64.1.0/24
lab_wait_for 30 "bird has fd00:64:1::/48" bird_has fd00:64:1::/48
out=$(bird_route 100.64.1.0/24)
grep -q 'BGP.as_path: 65000$' <<<"${out}" || lab_fail "bird: 100.64.1.0/24 AS path is not '65000':"$'\n'"${out}"
grep -q 'BGP.next_hop: 198.18.0.1$' <<<"${out}" || lab_fail "bird: 100.64.1.0/24 next hop is not 198.18.0.1:"$'\n'"${out}"
# ORIGIN of an originated route is not fixed by the contract: BIRD must see what isthmusd shows.
own_origin=$(lab_isthmus_route isthmusd ipv4 100.64.1.0/24 | lab_json "j['paths'][0]['origin']")
grep -qi "BGP.origin: ${own_origin}\$" <<<"${out}" ||
  lab_fail "bird: 100.64.1.0/24 origin differs from isthmusd's own view (${own_origin}):"$'\n'"${out}"
grep -qE '^100\.64\.1\.0/24 +unicast \[isth4 ' <<<"${out}" || lab_fail "bird: 100.64.1.0/24 not learned from isth4:"$'\n'"${out}"
lab_log "ok: bird 100.64.1.0/24 from isth4, AS path 65000, next hop 198.18.0.1"
out=$(bird_route fd00:64:1::/48)
grep -q 'BGP.as_path: 65000$' <<<"${out}" || lab_fail "bird: fd00:64:1::/48 AS path is not '65000':"$'\n'"${out}"
grep -qE 'BGP.next_hop: fd00:18::1( |$)' <<<"${out}" || lab_fail "bird: fd00:64:1::/48 next hop is not fd00:18::1:"$'\n'"${out}"
grep -qE '^fd00:64:1::/48 +unicast \[isth6 ' <<<"${out}" || lab_fail "bird: fd00:64:1::/48 not learned from isth6:"$'\n'"${out}"
lab_log "ok: bird fd00:64:1::/48 from isth6, AS path 65000, next hop fd00:18::1"

# --- Withdrawal from BIRD -----------------------------------------------------------------------
lab_birdc bird disable s4 >/dev/null
lab_wait_for 30 "isthmusd dropped 100.64.31.0/24" lab_isthmus_lacks_route isthmusd ipv4 100.64.31.0/24
lab_isthmus_has_route isthmusd ipv6 fd00:64:31::/48 || lab_fail "fd00:64:31::/48 vanished with the IPv4 withdrawal"
lab_birdc bird enable s4 >/dev/null
lab_wait_for 30 "isthmusd has 100.64.31.0/24 again" lab_isthmus_has_route isthmusd ipv4 100.64.31.0/24

echo "PASS: bird_ebgp"
