#!/usr/bin/env bash
# The Isthmus demo: isthmusd as a BGP route reflector for FRR and BIRD, in network namespaces.
#
#   h1 isthmusd  AS 65000, route reflector, originates 100.64.1.0/24, fd00:64:1::/48
#   h2 FRR 8.4   AS 65000, client over one IPv4 session (both families), 100.64.2.0/24, fd00:64:2::/48
#   h3 BIRD 2    AS 65000, client over an IPv4 and an IPv6 session, 100.64.3.0/24, fd00:64:3::/48
#
# Usage: sudo lab/demo_bgp.sh [--keep] [BUILD_DIR]     (BUILD_DIR defaults to build/)
#   --keep  leave the lab running until Enter is pressed, to try the commands it prints
# Exits 0 when every router has every prefix and the reflected routes carry ORIGINATOR_ID and
# CLUSTER_LIST. Everything it creates (namespaces il<pid>x<n>-*, files in /tmp/il<pid>x<n>.*)
# is removed at the end, also on failure or Ctrl-C.
set -euo pipefail
DEMO_DIR=$(cd "$(dirname "$0")" && pwd)

DEMO_HELP_END=13
source "${DEMO_DIR}/demo_common.sh"

cat <<EOF
${bold}Isthmus demo${off}: isthmusd as an iBGP route reflector (RFC 4456) for FRR and BIRD
  h1  198.18.0.1  fd00:18::1  isthmusd  route reflector, AS 65000   100.64.1.0/24  fd00:64:1::/48
  h2  198.18.0.2  fd00:18::2  FRR 8.4   client                      100.64.2.0/24  fd00:64:2::/48
  h3  198.18.0.3  fd00:18::3  BIRD 2    client                      100.64.3.0/24  fd00:64:3::/48

EOF

t0=$(date +%s.%N)
step "building the lab: 3 hosts on one switch (namespaces ${LAB_PREFIX}-*) ..."
lab_underlay 3
done_

step "starting FRR on h2, BIRD on h3, isthmusd on h1 ..."
lab_frr_start 2 frr "$(cat <<CONF
frr defaults datacenter
hostname frr
log stdout informational
router bgp 65000
 bgp router-id 198.18.0.2
 no bgp default ipv4-unicast
 no bgp network import-check
 bgp graceful-restart-disable
 neighbor 198.18.0.1 remote-as 65000
 neighbor 198.18.0.1 description isthmusd route reflector
 neighbor 198.18.0.1 timers connect 1
 address-family ipv4 unicast
  network 100.64.2.0/24
  neighbor 198.18.0.1 activate
 exit-address-family
 address-family ipv6 unicast
  network fd00:64:2::/48
  neighbor 198.18.0.1 activate
 exit-address-family
CONF
)"
lab_bird_start 3 bird "$(cat <<CONF
router id 198.18.0.3;
protocol device { scan time 1; }
protocol direct { ipv4; ipv6; interface "eth0"; }
protocol static s4 { ipv4; route 100.64.3.0/24 blackhole; }
protocol static s6 { ipv6; route fd00:64:3::/48 blackhole; }
template bgp reflector {
  local as 65000;
  hold time 9;
  connect retry time 1;
  error wait time 1, 5;
}
protocol bgp rr4 from reflector {
  description "isthmusd route reflector (IPv4)";
  local 198.18.0.3;
  neighbor 198.18.0.1 as 65000;
  ipv4 { import all; export where source = RTS_STATIC; };
}
protocol bgp rr6 from reflector {
  description "isthmusd route reflector (IPv6)";
  local fd00:18::3;
  neighbor fd00:18::1 as 65000;
  ipv6 { import all; export where source = RTS_STATIC; };
}
CONF
)"
sock=$(lab_isthmus_sock isthmusd)
lab_isthmusd_start 1 isthmusd "$(cat <<YAML
control_socket: ${sock}
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: { port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.2, remote_as: 65000, route_reflector_client: true, description: "FRR (h2)", families: [ipv4-unicast, ipv6-unicast] }
    - { address: 198.18.0.3, remote_as: 65000, route_reflector_client: true, description: "BIRD (h3), IPv4", families: [ipv4-unicast] }
    - { address: "fd00:18::3", remote_as: 65000, route_reflector_client: true, description: "BIRD (h3), IPv6", families: [ipv6-unicast] }
  originate:
    - { prefix: 100.64.1.0/24 }
    - { prefix: "fd00:64:1::/48" }
YAML
)"
done_

step "waiting for the BGP sessions ..."
t1=$(date +%s.%N)
for n in 198.18.0.2 198.18.0.3 fd00:18::3; do
  lab_wait_for 60 "isthmusd: ${n} Established" lab_isthmus_established isthmusd "${n}"
done
lab_wait_for 60 "FRR: session up" lab_frr_established frr 198.18.0.1
lab_wait_for 60 "BIRD: rr4 up" lab_bird_established bird rr4
lab_wait_for 60 "BIRD: rr6 up" lab_bird_established bird rr6
done_ "3 sessions Established ($(elapsed "${t1}"))"

step "waiting until every router has all 6 prefixes ..."
t1=$(date +%s.%N)
frr_has() { lab_vtysh frr "show bgp $1 unicast $2 json" | lab_check_json "any(p.get('valid') for p in j.get('paths', []))"; }
# BIRD marks a route whose next hop does not resolve as unreachable: require a usable one.
bird_has() { lab_birdc bird show route for "$1" all | grep -qE "^$1 +unicast.*\[rr[46] "; }
for p in 100.64.2.0/24 100.64.3.0/24; do lab_wait_for 60 "isthmusd has ${p}" lab_isthmus_has_route isthmusd ipv4 "${p}"; done
for p in fd00:64:2::/48 fd00:64:3::/48; do lab_wait_for 60 "isthmusd has ${p}" lab_isthmus_has_route isthmusd ipv6 "${p}"; done
for p in 100.64.1.0/24 100.64.3.0/24; do lab_wait_for 60 "FRR has ${p}" frr_has ipv4 "${p}"; done
for p in fd00:64:1::/48 fd00:64:3::/48; do lab_wait_for 60 "FRR has ${p}" frr_has ipv6 "${p}"; done
for p in 100.64.1.0/24 100.64.2.0/24 fd00:64:1::/48 fd00:64:2::/48; do lab_wait_for 60 "BIRD has ${p}" bird_has "${p}"; done
done_ "converged ($(elapsed "${t1}"); $(elapsed "${t0}") since the start)"

# The proof of reflection, checked before it is shown.
j=$(lab_vtysh frr "show bgp ipv4 unicast 100.64.3.0/24 json")
[[ $(lab_json "j['paths'][0].get('originatorId')" <<<"${j}") == 198.18.0.3 &&
   $(lab_json "(j['paths'][0].get('clusterList') or {}).get('list')" <<<"${j}") == '["198.18.0.1"]' ]] ||
  lab_fail "FRR: 100.64.3.0/24 lacks ORIGINATOR_ID 198.18.0.3 / CLUSTER_LIST 198.18.0.1: ${j}"
b=$(lab_birdc bird show route for 100.64.2.0/24 all)
if ! grep -q "BGP.originator_id: 198.18.0.2" <<<"${b}" || ! grep -q "BGP.cluster_list: 198.18.0.1" <<<"${b}"; then
  lab_fail "BIRD: 100.64.2.0/24 lacks ORIGINATOR_ID / CLUSTER_LIST:"$'\n'"${b}"
fi

printf '\n%sisthmusd'"'"'s view%s (h1)\n' "${bold}" "${off}"
show "isthmusctl show bgp summary" lab_isthmusctl isthmusd show bgp summary
show "isthmusctl show bgp ipv4 unicast" lab_isthmusctl isthmusd show bgp ipv4 unicast
show "isthmusctl show bgp ipv6 unicast" lab_isthmusctl isthmusd show bgp ipv6 unicast
show "isthmusctl show bgp neighbor 198.18.0.2" lab_isthmusctl isthmusd show bgp neighbor 198.18.0.2

printf '\n%sThe clients'"'"' view%s: BIRD'"'"'s prefix at FRR and FRR'"'"'s at BIRD, reflected by isthmusd\n' "${bold}" "${off}"
printf '%s(ORIGINATOR_ID = the client that announced it, CLUSTER_LIST = the reflector'"'"'s cluster id, next hop unchanged)%s\n' "${dim}" "${off}"
show "vtysh -c 'show bgp ipv4 unicast 100.64.3.0/24'      (FRR, h2)" lab_vtysh frr "show bgp ipv4 unicast 100.64.3.0/24"
show "birdc show route for 100.64.2.0/24 all              (BIRD, h3)" \
  bash -c 'lab_birdc() { ip netns exec "$1" birdc -s "$2" show route for 100.64.2.0/24 all; }; lab_birdc "$@" | grep -vE "^BIRD |^Table |BGP\.(origin|local_pref|as_path):"' _ "$(lab_ns 3)" "${LAB_DIR}/bird.ctl"

commands() {
  cat <<EOF

${bold}Commands to look around${off} (as root):
  ${ISTHMUSCTL} --socket ${sock} show bgp summary
  ${ISTHMUSCTL} --socket ${sock} show bgp ipv6 unicast fd00:64:3::/48
  ${ISTHMUSCTL} --socket ${sock} -o json show bgp neighbor fd00:18::3
  ip netns exec $(lab_ns 2) vtysh --vty_socket ${LAB_DIR}/frr -c 'show bgp ipv6 unicast'
  ip netns exec $(lab_ns 3) birdc -s ${LAB_DIR}/bird.ctl show protocols all rr6
  configs and logs: ${LAB_DIR}/ (isthmusd.yaml, isthmusd.log, frr/bgpd.conf, bird.conf)
EOF
}

commands
if [[ ${keep} == 1 ]]; then
  printf '\nThe lab keeps running. Press Enter to tear it down. '
  read -r _ || true
  [[ -t 0 ]] || echo
fi
step "tearing down (processes, namespaces, ${LAB_DIR}) ..."
lab_cleanup
done_
[[ ${keep} == 1 ]] || printf '%s(run with --keep to keep the lab until Enter is pressed and try the commands above)%s\n' "${dim}" "${off}"
echo "${green}Demo finished: isthmusd reflected every route between FRR and BIRD.${off}"
