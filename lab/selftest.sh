#!/usr/bin/env bash
# Self-test of lab/lib.sh: FRR, GoBGP, BIRD 2 and ExaBGP peer with each other over the underlay
# and every prefix reaches every router. Needs root. Exit 0 on success.
#   h1 FRR    AS 65001  100.64.1.0/24  fd00:64:1::/48   (zebra + bgpd)
#   h2 GoBGP  AS 65002  100.64.2.0/24  fd00:64:2::/48
#   h3 BIRD   AS 65003  100.64.3.0/24  fd00:64:3::/48
#   h4 ExaBGP AS 65004  100.64.4.0/24  (to FRR only)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lab_init
lab_underlay 4

lab_frr_start 1 frr "$(cat <<CONF
frr defaults datacenter
hostname frr
route-map all permit 10
exit
router bgp 65001
 bgp router-id 198.18.0.1
 no bgp network import-check
 neighbor 198.18.0.2 remote-as 65002
 neighbor 198.18.0.3 remote-as 65003
 neighbor 198.18.0.4 remote-as 65004
 neighbor fd00:18::2 remote-as 65002
 neighbor fd00:18::3 remote-as 65003
 address-family ipv4 unicast
  network 100.64.1.0/24
  neighbor 198.18.0.2 route-map all in
  neighbor 198.18.0.2 route-map all out
  neighbor 198.18.0.3 route-map all in
  neighbor 198.18.0.3 route-map all out
  neighbor 198.18.0.4 route-map all in
  neighbor 198.18.0.4 route-map all out
  no neighbor fd00:18::2 activate
  no neighbor fd00:18::3 activate
 exit-address-family
 address-family ipv6 unicast
  network fd00:64:1::/48
  neighbor fd00:18::2 activate
  neighbor fd00:18::3 activate
  neighbor fd00:18::2 route-map all in
  neighbor fd00:18::2 route-map all out
  neighbor fd00:18::3 route-map all in
  neighbor fd00:18::3 route-map all out
 exit-address-family
CONF
)"

lab_gobgp_start 2 gobgp "$(cat <<CONF
[global.config]
  as = 65002
  router-id = "198.18.0.2"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.0.1"
    peer-as = 65001
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.0.3"
    peer-as = 65003
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "fd00:18::1"
    peer-as = 65001
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "fd00:18::3"
    peer-as = 65003
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
CONF
)"
lab_gobgp gobgp global rib add 100.64.2.0/24 -a ipv4
lab_gobgp gobgp global rib add fd00:64:2::/48 -a ipv6

lab_bird_start 3 bird "$(cat <<CONF
router id 198.18.0.3;
log "${LAB_DIR}/bird-proto.log" all;
protocol device {}
protocol static s4 { ipv4; route 100.64.3.0/24 blackhole; }
protocol static s6 { ipv6; route fd00:64:3::/48 blackhole; }
template bgp peer4 { local as 65003; ipv4 { import all; export all; }; }
template bgp peer6 { local as 65003; ipv6 { import all; export all; }; }
protocol bgp frr4 from peer4 { neighbor 198.18.0.1 as 65001; }
protocol bgp gobgp4 from peer4 { neighbor 198.18.0.2 as 65002; }
protocol bgp frr6 from peer6 { neighbor fd00:18::1 as 65001; }
protocol bgp gobgp6 from peer6 { neighbor fd00:18::2 as 65002; }
CONF
)"

lab_exabgp_start 4 exabgp "$(cat <<CONF
neighbor 198.18.0.1 {
  router-id 198.18.0.4;
  local-address 198.18.0.4;
  local-as 65004;
  peer-as 65001;
  family { ipv4 unicast; }
  static { route 100.64.4.0/24 next-hop self; }
}
CONF
)"

for p in 198.18.0.2 198.18.0.3 198.18.0.4 fd00:18::2 fd00:18::3; do
  lab_wait_for 60 "frr <-> ${p} Established" lab_frr_established frr "${p}"
done
for p in 198.18.0.3 fd00:18::3; do
  lab_wait_for 60 "gobgp <-> ${p} Established" lab_gobgp_established gobgp "${p}"
done
for p in frr4 gobgp4 frr6 gobgp6; do
  lab_wait_for 60 "bird ${p} Established" lab_bird_established bird "${p}"
done

frr_has() { lab_vtysh frr "show bgp $1 unicast $2 json" | lab_check_json "j.get('prefix') == '$2'"; }
gobgp_has() { lab_gobgp gobgp global rib -a "$1" "$2" | grep -qF "$2"; }
bird_has() { lab_birdc bird show route for "$2" | grep -qF "$2"; }
for n in 2 3 4; do lab_wait_for 30 "frr has 100.64.${n}.0/24" frr_has ipv4 "100.64.${n}.0/24"; done
for n in 2 3; do lab_wait_for 30 "frr has fd00:64:${n}::/48" frr_has ipv6 "fd00:64:${n}::/48"; done
for n in 1 3 4; do lab_wait_for 30 "gobgp has 100.64.${n}.0/24" gobgp_has ipv4 "100.64.${n}.0/24"; done
for n in 1 3; do lab_wait_for 30 "gobgp has fd00:64:${n}::/48" gobgp_has ipv6 "fd00:64:${n}::/48"; done
for n in 1 2 4; do lab_wait_for 30 "bird has 100.64.${n}.0/24" bird_has ipv4 "100.64.${n}.0/24"; done
for n in 1 2; do lab_wait_for 30 "bird has fd00:64:${n}::/48" bird_has ipv6 "fd00:64:${n}::/48"; done

# A withdrawal flows too: GoBGP withdraws, FRR and BIRD drop the route.
lab_gobgp gobgp global rib del 100.64.2.0/24 -a ipv4
frr_lacks() { ! frr_has "$@"; }
lab_wait_for 30 "frr dropped 100.64.2.0/24" frr_lacks ipv4 100.64.2.0/24
lab_wait_for 30 "bird dropped 100.64.2.0/24" eval "! lab_birdc bird show route for 100.64.2.0/24 | grep -q 100.64.2.0/24"

echo "PASS: lab self-test (FRR, GoBGP, BIRD, ExaBGP peered; routes and a withdrawal flowed)"
