#!/usr/bin/env bash
# Interop: RFC 2545 §3 link-local next hops from isthmusd to FRR 8.4 over IPv6 sessions.
#   h1 isthmusd fd00:18::1 (eth0), fd00:18:1::1 (lo)  AS 65000, originates fd00:64:1::/64;
#               fd00:64:1::1 on lo answers pings
#   h2 FRR      fd00:18::2   eBGP AS 65001, on the link          network fd00:64:2::/64
#   h3 FRR      fd00:18:3::3 iBGP between loopbacks (not on a shared subnet: multi-hop)
#   h4 FRR      fd00:18::4   iBGP, route reflector client, on the link  network fd00:64:4::/64
# All four hosts share the underlay link (veths on one bridge, fd00:18::/64).
# Checks:
#   1. eBGP on the link: FRR receives fd00:64:1::/64 with two next hops, isthmusd's global
#      fd00:18::1 and isthmusd's fe80:: address on that link (a 32-octet next hop); the route is
#      valid and best, FRR installs it in the kernel via the link-local address, and a ping from
#      h2 to fd00:64:1::1 crosses that route. isthmusd shows the address as local_link_local.
#   2. iBGP whose peer address is on a connected subnet: the same link-local next hop.
#   3. iBGP between loopbacks: no link-local next hop (and no local_link_local), the global next
#      hop is isthmusd's loopback address.
#   4. A route learned from h4 (with h4's own link-local next hop) and sent to eBGP h2 with next
#      hop self carries isthmusd's link-local address, not h4's.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 4
isth=fd00:18::1 isth_lo=fd00:18:1::1 h3_lo=fd00:18:3::3

# Loopback addresses for the multi-hop iBGP session, reachable over the link.
lab_addr_add 1 "${isth_lo}/128"
lab_addr_add 1 fd00:64:1::1/128
lab_addr_add 3 "${h3_lo}/128"
ip -n "$(lab_ns 1)" -6 route add "${h3_lo}/128" via fd00:18::3 dev eth0
ip -n "$(lab_ns 3)" -6 route add "${isth_lo}/128" via fd00:18::1 dev eth0

# The fe80:: address of a host's eth0 (the kernel made it when the veth came up; no DAD).
link_local_of() {
  ip -n "$(lab_ns "$1")" -6 -o addr show dev eth0 scope link |
    awk '{print $4}' | cut -d/ -f1 | head -1
}
isth_ll=$(link_local_of 1)
h4_ll=$(link_local_of 4)
[[ ${isth_ll} == fe80:* && ${h4_ll} == fe80:* ]] ||
  lab_fail "no link-local address on eth0 (h1 '${isth_ll}', h4 '${h4_ll}')"
lab_log "isthmusd's link-local address on eth0: ${isth_ll}; h4's: ${h4_ll}"

frr_conf() {
  local name=$1 id=$2 as=$3 nbr=$4 extra=$5 networks=$6
  cat <<CONF
frr defaults datacenter
hostname ${name}
log stdout informational
router bgp ${as}
 bgp router-id ${id}
 no bgp default ipv4-unicast
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp graceful-restart-disable
 neighbor ${nbr} remote-as 65000
 neighbor ${nbr} timers connect 1
${extra}
 address-family ipv6 unicast
$(for n in ${networks}; do echo "  network ${n}"; done)
  neighbor ${nbr} activate
 exit-address-family
CONF
}
lab_frr_start 2 frr2 "$(frr_conf frr2 198.18.0.2 65001 "${isth}" "" fd00:64:2::/64)"
lab_frr_start 3 frr3 "$(frr_conf frr3 198.18.0.3 65000 "${isth_lo}" \
  " neighbor ${isth_lo} update-source ${h3_lo}" "")"
lab_frr_start 4 frr4 "$(frr_conf frr4 198.18.0.4 65000 "${isth}" "" fd00:64:4::/64)"

lab_isthmusd_start 1 isthmusd "$(cat <<YAML
control_socket: $(lab_isthmus_sock isthmusd)
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: { port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
    - { address: "fd00:18::2", remote_as: 65001, families: [ipv6-unicast], import: accept-all, export: accept-all }
    - { address: "${h3_lo}", remote_as: 65000, local_address: "${isth_lo}", families: [ipv6-unicast] }
    - { address: "fd00:18::4", remote_as: 65000, route_reflector_client: true, families: [ipv6-unicast] }
  originate:
    - { prefix: "fd00:64:1::/64" }
YAML
)"

for p in fd00:18::2 "${h3_lo}" fd00:18::4; do
  lab_wait_for 60 "isthmusd: ${p} Established" lab_isthmus_established isthmusd "${p}"
done

# FRR's view of a prefix: the best path's next hops as "scope=ip" words, sorted.
frr_nexthops() {
  lab_vtysh "$1" "show bgp ipv6 unicast $2 json" |
    lab_json "' '.join(sorted(n.get('scope', 'global') + '=' + str(ipaddress.ip_address(n['ip'])) for p in j.get('paths', []) if p.get('bestpath') for n in p['nexthops']))"
}
frr_best_valid() {
  lab_vtysh "$1" "show bgp ipv6 unicast $2 json" |
    lab_check_json "any(p.get('valid') and p.get('bestpath') for p in j.get('paths', []))"
}
nbr_link_local() {
  lab_isthmusctl isthmusd show bgp neighbor "$1" -o json | lab_json "j.get('local_link_local', '')"
}

# --- 1. eBGP on the link ----------------------------------------------------------------------
lab_wait_for 30 "frr2 has fd00:64:1::/64 valid and best" frr_best_valid frr2 fd00:64:1::/64
lab_assert_eq "frr2: next hops of fd00:64:1::/64 (global + isthmusd's link-local)" \
  "$(frr_nexthops frr2 fd00:64:1::/64)" "global=fd00:18::1 link-local=${isth_ll}"
lab_assert_eq "isthmusd: local_link_local towards frr2" "$(nbr_link_local fd00:18::2)" "${isth_ll}"
kernel_route() { ip -n "$(lab_ns "$1")" -6 route show "$2" proto bgp; }
lab_wait_for 30 "frr2's kernel routes fd00:64:1::/64 via isthmusd's link-local address" \
  eval "kernel_route 2 fd00:64:1::/64 | grep -q 'via ${isth_ll} dev eth0'"
lab_log "ok: h2 kernel: $(kernel_route 2 fd00:64:1::/64)"
# Nothing else routes fd00:64:1::/64 in h2: the ping uses the BGP route.
lab_exec 2 ping -6 -c 2 -W 2 -i 0.2 fd00:64:1::1 >/dev/null ||
  lab_fail "h2 cannot ping fd00:64:1::1 through the route learned from isthmusd"
lab_log "ok: h2 pings fd00:64:1::1 over the BGP route"

# --- 2. iBGP, peer on a connected subnet -------------------------------------------------------
lab_wait_for 30 "frr4 has fd00:64:1::/64 valid and best" frr_best_valid frr4 fd00:64:1::/64
lab_assert_eq "frr4: next hops of fd00:64:1::/64" \
  "$(frr_nexthops frr4 fd00:64:1::/64)" "global=fd00:18::1 link-local=${isth_ll}"
lab_assert_eq "isthmusd: local_link_local towards frr4" "$(nbr_link_local fd00:18::4)" "${isth_ll}"

# --- 3. iBGP between loopbacks: not on the link -------------------------------------------------
lab_wait_for 30 "frr3 has fd00:64:1::/64 valid and best" frr_best_valid frr3 fd00:64:1::/64
lab_assert_eq "frr3: next hops of fd00:64:1::/64 (global only)" \
  "$(frr_nexthops frr3 fd00:64:1::/64)" "global=${isth_lo}"
lab_assert_eq "isthmusd: no local_link_local towards frr3" "$(nbr_link_local "${h3_lo}")" ""

# --- 4. A learned route, next hop self towards eBGP ---------------------------------------------
lab_wait_for 30 "isthmusd has fd00:64:4::/64 from frr4" lab_isthmus_has_route isthmusd ipv6 fd00:64:4::/64
r=$(lab_isthmus_route isthmusd ipv6 fd00:64:4::/64)
lab_assert_eq "isthmusd: fd00:64:4::/64 arrived with frr4's link-local next hop" \
  "$(lab_json "j['paths'][0].get('link_local_next_hop', '')" <<<"${r}")" "${h4_ll}"
lab_wait_for 30 "frr2 has fd00:64:4::/64 valid and best" frr_best_valid frr2 fd00:64:4::/64
lab_assert_eq "frr2: next hops of fd00:64:4::/64 (isthmusd's, not frr4's)" \
  "$(frr_nexthops frr2 fd00:64:4::/64)" "global=fd00:18::1 link-local=${isth_ll}"

echo "PASS: ipv6_link_local"
