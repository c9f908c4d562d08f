#!/usr/bin/env bash
# Interop: GTSM (RFC 5082, `ttl_security`) and `ebgp_multihop` between isthmusd (AS 65000) and
# FRR 8.4, over a routed topology:
#
#   h1 isthmusd ── 198.18.1.0/24, fd00:18:1::/64 ── h2 router (ip_forward) ── 198.18.2.0/24 ── h3 FRR "far" (AS 65003)
#                                                    + FRR "near" (AS 65002)
#
# Checks:
#   1. one hop: isthmusd `ttl_security: 1` with FRR `ttl-security hops 1` (IPv4 and IPv6
#      transport) establishes and routes flow
#   2. two hops, isthmusd `ttl_security: 1`, FRR far `ttl-security hops 2`: FRR's packets arrive
#      with TTL 254 and isthmusd must drop them: no session for 10 s (and, where the kernel has
#      the counter, TcpExt TCPMinTTLDrop moves in h1)
#   3. control for 2: same path, isthmusd `ttl_security: 2`: establishes
#   4. two hops, plain eBGP on isthmusd (TTL 1) while FRR has `ebgp-multihop 2`: isthmusd's
#      packets expire at the router: no session for 10 s
#   5. two hops, `ebgp_multihop: 2` on isthmusd and `ebgp-multihop 2` on FRR: establishes,
#      routes flow both ways
# The near sessions stay Established through every isthmusd restart of phases 2-5 (checked at
# the end of each phase after it comes back).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus

# --- Routed topology ---------------------------------------------------------------------------
for i in 1 2 3; do lab_host "${i}"; done
lab_link 1 eth0 2 eth0
lab_link 2 eth1 3 eth0
ns1=$(lab_ns 1) ns2=$(lab_ns 2) ns3=$(lab_ns 3)
ip -n "${ns1}" addr add 198.18.1.1/24 dev eth0
ip -n "${ns1}" addr add fd00:18:1::1/64 dev eth0 nodad
ip -n "${ns2}" addr add 198.18.1.2/24 dev eth0
ip -n "${ns2}" addr add fd00:18:1::2/64 dev eth0 nodad
ip -n "${ns2}" addr add 198.18.2.2/24 dev eth1
ip -n "${ns3}" addr add 198.18.2.3/24 dev eth0
ip -n "${ns1}" route add 198.18.2.0/24 via 198.18.1.2
ip -n "${ns3}" route add 198.18.1.0/24 via 198.18.2.2
lab_exec 2 sysctl -qw net.ipv4.ip_forward=1
lab_wait_for 10 "h1 reaches h3 through the router" lab_exec 1 ping -c1 -W1 198.18.2.3
ttl_seen=$(lab_exec 3 ping -c1 -W1 198.18.1.1 | sed -n 's/.* ttl=\([0-9]*\).*/\1/p')
lab_assert_eq "h1's ping reply reaches h3 with one hop used (TTL 64 - 1)" "${ttl_seen}" 63

# --- FRR near (h2): GTSM one hop, IPv4 and IPv6 -------------------------------------------------
lab_frr_start 2 near "$(cat <<CONF
frr defaults datacenter
hostname near
log stdout informational
router bgp 65002
 bgp router-id 198.18.1.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 no bgp network import-check
 bgp graceful-restart-disable
 neighbor 198.18.1.1 remote-as 65000
 neighbor 198.18.1.1 timers connect 1
 neighbor 198.18.1.1 ttl-security hops 1
 neighbor fd00:18:1::1 remote-as 65000
 neighbor fd00:18:1::1 timers connect 1
 neighbor fd00:18:1::1 ttl-security hops 1
 address-family ipv4 unicast
  network 100.64.2.0/24
  neighbor 198.18.1.1 activate
 exit-address-family
 address-family ipv6 unicast
  network fd00:64:2::/48
  neighbor fd00:18:1::1 activate
 exit-address-family
CONF
)"

# --- FRR far (h3), two hops away; its TTL handling is set per phase --------------------------------
lab_frr_start 3 far "$(cat <<CONF
frr defaults datacenter
hostname far
log stdout informational
router bgp 65003
 bgp router-id 198.18.2.3
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp graceful-restart-disable
 neighbor 198.18.1.1 remote-as 65000
 neighbor 198.18.1.1 timers connect 1
 neighbor 198.18.1.1 ttl-security hops 2
 address-family ipv4 unicast
  network 100.64.3.0/24
  neighbor 198.18.1.1 activate
 exit-address-family
CONF
)"

# isthmusd_config FAR_TTL_SETTING: the far neighbor's TTL key (e.g. "ttl_security: 1").
isthmusd_config() {
  cat <<YAML
control_socket: $(lab_isthmus_sock isthmusd)
bgp:
  asn: 65000
  router_id: 198.18.1.1
  listen: { port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
    - { address: 198.18.1.2, remote_as: 65002, ttl_security: 1, import: accept-all, export: accept-all }
    - { address: "fd00:18:1::2", remote_as: 65002, ttl_security: 1, import: accept-all, export: accept-all }
    - { address: 198.18.2.3, remote_as: 65003, import: accept-all, export: accept-all${1:+, $1} }
  originate:
    - { prefix: 100.64.1.0/24 }
    - { prefix: "fd00:64:1::/48" }
YAML
}
restart_isthmusd() {
  lab_stop isthmusd
  lab_isthmusd_start 1 isthmusd "$(isthmusd_config "$1")"
}
near_up() {
  lab_wait_for 60 "isthmusd: near 198.18.1.2 Established (GTSM, 1 hop)" lab_isthmus_established isthmusd 198.18.1.2
  lab_wait_for 60 "isthmusd: near fd00:18:1::2 Established (GTSM, 1 hop, IPv6)" lab_isthmus_established isthmusd fd00:18:1::2
}
frr_has() { lab_vtysh "$1" "show bgp $2 unicast $3 json" | lab_check_json "any(p.get('valid') for p in j.get('paths', []))"; }
far_frr_config() { lab_vtysh far "configure terminal" "router bgp 65003" "$@" >/dev/null; }

# --- 1 + 2: GTSM one hop works; GTSM 1 refuses a peer two hops away ------------------------------
drops0=$(lab_tcp_stat 1 TCPMinTTLDrop)
lab_isthmusd_start 1 isthmusd "$(isthmusd_config "ttl_security: 1")"
near_up
lab_wait_for 60 "near: 198.18.1.1 Established" lab_frr_established near 198.18.1.1
lab_wait_for 60 "near: fd00:18:1::1 Established" lab_frr_established near fd00:18:1::1
lab_wait_for 30 "isthmusd has 100.64.2.0/24 over the GTSM session" lab_isthmus_has_route isthmusd ipv4 100.64.2.0/24
lab_wait_for 30 "isthmusd has fd00:64:2::/48 over the IPv6 GTSM session" lab_isthmus_has_route isthmusd ipv6 fd00:64:2::/48
lab_wait_for 30 "near has 100.64.1.0/24 from isthmusd" frr_has near ipv4 100.64.1.0/24
lab_never 10 "isthmusd (ttl_security: 1) must not establish with a peer two hops away" \
  lab_isthmus_established isthmusd 198.18.2.3
lab_frr_established far 198.18.1.1 && lab_fail "far: Established although isthmusd has ttl_security: 1"
if [[ ${drops0} != missing ]]; then
  lab_wait_for 10 "h1 kernel dropped far's TTL-254 segments (TcpExt TCPMinTTLDrop > ${drops0})" \
    eval "(( \$(lab_tcp_stat 1 TCPMinTTLDrop) > ${drops0} ))"
else
  lab_log "note: this kernel has no TcpExt TCPMinTTLDrop counter"
fi

# --- 3: the same path with ttl_security: 2 establishes --------------------------------------------
restart_isthmusd "ttl_security: 2"
lab_wait_for 60 "isthmusd (ttl_security: 2): far 198.18.2.3 Established over two hops" \
  lab_isthmus_established isthmusd 198.18.2.3
lab_wait_for 30 "isthmusd has far's 100.64.3.0/24" lab_isthmus_has_route isthmusd ipv4 100.64.3.0/24
near_up

# --- 4: plain eBGP (TTL 1) on isthmusd, ebgp-multihop 2 on FRR: no session --------------------------
far_frr_config "no neighbor 198.18.1.1 ttl-security hops 2" "neighbor 198.18.1.1 ebgp-multihop 2"
restart_isthmusd ""
lab_never 10 "isthmusd without ebgp_multihop (TTL 1) must not establish with a peer two hops away" \
  lab_isthmus_established isthmusd 198.18.2.3
near_up

# --- 5: ebgp_multihop: 2 on both sides establishes ---------------------------------------------------
restart_isthmusd "ebgp_multihop: 2"
lab_wait_for 60 "isthmusd (ebgp_multihop: 2): far 198.18.2.3 Established over two hops" \
  lab_isthmus_established isthmusd 198.18.2.3
lab_wait_for 60 "far: 198.18.1.1 Established (ebgp-multihop 2)" lab_frr_established far 198.18.1.1
lab_wait_for 30 "isthmusd has far's 100.64.3.0/24 (multihop)" lab_isthmus_has_route isthmusd ipv4 100.64.3.0/24
lab_wait_for 30 "far has 100.64.1.0/24 from isthmusd (multihop)" frr_has far ipv4 100.64.1.0/24
lab_wait_for 30 "far has near's 100.64.2.0/24 through isthmusd" frr_has far ipv4 100.64.2.0/24
near_up
lab_always 5 "far multihop session stays up" lab_isthmus_established isthmusd 198.18.2.3

echo "PASS: gtsm"
