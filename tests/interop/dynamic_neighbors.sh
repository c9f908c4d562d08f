#!/usr/bin/env bash
# Interop: dynamic neighbors (`neighbor_ranges`) on isthmusd as a route reflector, no neighbor
# configured by address; three FRR 8.4 clients connect from inside the range, one from outside.
#   h1 isthmusd AS 65000, range 198.18.0.0/24 (iBGP, route_reflector_client, ipv4-unicast, with a
#      TCP-MD5 key: on the IPv4 listening socket for the whole prefix), originates 100.64.1.0/24
#   h2..h4 FRR clients c2..c4, 198.18.0.N, with the range's key, each announcing 100.64.N.0/24
#   h5 FRR "outsider" AS 65000, no key, connecting from 198.18.1.5 (an address on its lo, outside
#      the range; without a key so that its connection reaches isthmusd's range check)
# Checks:
#   1. the clients establish (so the prefix key is on the listener: a signed SYN for an address
#      without a key is dropped by the kernel); `show bgp summary -o json` lists exactly them, each with
#      "dynamic": true, state Established, route_reflector_client true
#   2. each client's route reaches the two others, reflected (ORIGINATOR_ID = the client,
#      CLUSTER_LIST has isthmusd's id, next hop unchanged); isthmusd's own route reaches all
#   3. c4 stops: its entry leaves the summary ("show bgp neighbor" says no such neighbor), its
#      route is withdrawn from isthmusd, c2 and c3; c4 starts again: a new dynamic entry, route back
#   4. the outsider is refused: never Established for 10 s, never in the summary, and isthmusd
#      logs the refusal
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 5

range_key=dyn-range-key-8Kp
client_conf() { # client_conf N [EXTRA-NEIGHBOR-LINE]   (default extra line: the range's key)
  cat <<CONF
frr defaults datacenter
hostname c$1
log stdout informational
router bgp 65000
 bgp router-id 198.18.0.$1
 no bgp default ipv4-unicast
 no bgp network import-check
 bgp graceful-restart-disable
 neighbor 198.18.0.1 remote-as 65000
 neighbor 198.18.0.1 timers connect 1
${2- neighbor 198.18.0.1 password ${range_key}}
 address-family ipv4 unicast
  network 100.64.$1.0/24
  neighbor 198.18.0.1 activate
 exit-address-family
CONF
}

lab_isthmusd_start 1 isthmusd "$(cat <<YAML
control_socket: $(lab_isthmus_sock isthmusd)
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: { address: 198.18.0.1, port: 179 }
  hold_time: 9
  neighbor_ranges:
    - { prefix: 198.18.0.0/24, remote_as: 65000, route_reflector_client: true, families: [ipv4-unicast], password: "${range_key}" }
  originate:
    - { prefix: 100.64.1.0/24 }
YAML
)"
for n in 2 3 4; do lab_frr_start "${n}" "c${n}" "$(client_conf "${n}")"; done

summary() { lab_isthmusctl isthmusd show bgp summary -o json; }
in_summary() { summary | lab_check_json "any(ipaddress.ip_address(n['address']) == ipaddress.ip_address('$1') for n in j['neighbors'])"; }
not_in_summary() { summary | lab_check_json "not any(ipaddress.ip_address(n['address']) == ipaddress.ip_address('$1') for n in j['neighbors'])"; }
frr_has() { lab_vtysh "$1" "show bgp ipv4 unicast $2 json" | lab_check_json "any(p.get('valid') for p in j.get('paths', []))"; }
frr_lacks() { lab_vtysh "$1" "show bgp ipv4 unicast $2 json" | lab_check_json "not j.get('paths')"; }

# --- 1. Clients come up as dynamic neighbors -------------------------------------------------------
for n in 2 3 4; do
  lab_wait_for 60 "isthmusd: dynamic neighbor 198.18.0.${n} Established" lab_isthmus_established isthmusd "198.18.0.${n}"
  lab_wait_for 30 "c${n}: session to the reflector" lab_frr_established "c${n}" 198.18.0.1
done
s=$(summary)
lab_assert_eq "summary: neighbors listed" \
  "$(lab_json "' '.join(sorted(n['address'] for n in j['neighbors']))" <<<"${s}")" "198.18.0.2 198.18.0.3 198.18.0.4"
for n in 2 3 4; do
  row="[x for x in j['neighbors'] if x['address'] == '198.18.0.${n}'][0]"
  lab_assert_eq "198.18.0.${n} dynamic" "$(lab_json "${row}['dynamic']" <<<"${s}")" True
  lab_assert_eq "198.18.0.${n} state" "$(lab_json "${row}['state']" <<<"${s}")" Established
  lab_assert_eq "198.18.0.${n} type" "$(lab_json "${row}['type']" <<<"${s}")" ibgp
  lab_assert_eq "198.18.0.${n} route_reflector_client (from the range)" "$(lab_json "${row}['route_reflector_client']" <<<"${s}")" True
  lab_assert_eq "198.18.0.${n} remote_as (from the range)" "$(lab_json "${row}['remote_as']" <<<"${s}")" 65000
done

# --- 2. Reflection between dynamic clients ---------------------------------------------------------
for src in 2 3 4; do
  for dst in 2 3 4; do
    [[ ${src} == "${dst}" ]] && continue
    lab_wait_for 30 "c${dst} has c${src}'s 100.64.${src}.0/24" frr_has "c${dst}" "100.64.${src}.0/24"
  done
done
j=$(lab_vtysh c3 "show bgp ipv4 unicast 100.64.2.0/24 json")
lab_assert_eq "c3: 100.64.2.0/24 ORIGINATOR_ID" "$(lab_json "j['paths'][0].get('originatorId')" <<<"${j}")" 198.18.0.2
lab_assert_eq "c3: 100.64.2.0/24 CLUSTER_LIST has isthmusd's id" \
  "$(lab_json "'198.18.0.1' in (j['paths'][0].get('clusterList') or {}).get('list', [])" <<<"${j}")" True
lab_assert_eq "c3: 100.64.2.0/24 next hop unchanged" "$(lab_json "j['paths'][0]['nexthops'][0]['ip']" <<<"${j}")" 198.18.0.2
for n in 2 3 4; do
  lab_wait_for 30 "c${n} has isthmusd's 100.64.1.0/24" frr_has "c${n}" 100.64.1.0/24
done

# --- 3. A client leaves and comes back ----------------------------------------------------------------
lab_stop c4
lab_wait_for 30 "198.18.0.4 left the summary" not_in_summary 198.18.0.4
lab_isthmusctl isthmusd show bgp neighbor 198.18.0.4 >/dev/null 2>&1 &&
  lab_fail "show bgp neighbor 198.18.0.4 still answers after the client left"
lab_wait_for 30 "isthmusd dropped c4's 100.64.4.0/24" lab_isthmus_lacks_route isthmusd ipv4 100.64.4.0/24
lab_wait_for 30 "c2: 100.64.4.0/24 withdrawn" frr_lacks c2 100.64.4.0/24
lab_wait_for 30 "c3: 100.64.4.0/24 withdrawn" frr_lacks c3 100.64.4.0/24
grep -q "dynamic neighbor 198.18.0.4 removed" "${LAB_DIR}/isthmusd.log" ||
  lab_fail "isthmusd did not log the removal of dynamic neighbor 198.18.0.4"
for n in 2 3; do lab_isthmus_established isthmusd "198.18.0.${n}" || lab_fail "198.18.0.${n} went down with c4"; done
lab_frr_restart c4
lab_wait_for 60 "isthmusd: 198.18.0.4 back as a dynamic neighbor" lab_isthmus_established isthmusd 198.18.0.4
lab_assert_eq "198.18.0.4 dynamic again" \
  "$(summary | lab_json "[x for x in j['neighbors'] if x['address'] == '198.18.0.4'][0]['dynamic']")" True
lab_wait_for 30 "c2 has 100.64.4.0/24 again" frr_has c2 100.64.4.0/24

# --- 4. A connection from outside the range is refused ----------------------------------------------
lab_addr_add 5 198.18.1.5/32
ip -n "$(lab_ns 1)" route add 198.18.1.5/32 via 198.18.0.5
lab_frr_start 5 outsider "$(client_conf 5 " neighbor 198.18.0.1 update-source 198.18.1.5")"
lab_wait_for 30 "isthmusd logged the refusal of 198.18.1.5" \
  grep -q "connection from 198.18.1.5:[0-9]* refused: not a configured neighbor" "${LAB_DIR}/isthmusd.log"
lab_never 10 "outsider 198.18.1.5 must not be accepted" in_summary 198.18.1.5
lab_frr_established outsider 198.18.0.1 && lab_fail "outsider: Established from outside the range"
lab_isthmus_lacks_route isthmusd ipv4 100.64.5.0/24 || lab_fail "isthmusd has the outsider's route"
lab_assert_eq "summary after the outsider: still the three clients" \
  "$(summary | lab_json "' '.join(sorted(n['address'] for n in j['neighbors']))")" "198.18.0.2 198.18.0.3 198.18.0.4"

echo "PASS: dynamic_neighbors"
