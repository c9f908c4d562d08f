#!/usr/bin/env bash
# Symmetric IRB (RFC 9135) with an L3 VNI and EVPN IP prefix routes (RFC 9136) between isthmusd
# node agents and an FRR 8.4 VTEP. One tenant, tenant1, L3 VNI 5001 everywhere; each host has a
# network of the tenant the others do not have, so every packet between them is routed:
#   h1 isthmusd RR 198.18.0.1
#   h2 agent 198.18.0.2: blue  (VNI 100, 100.64.1.0/24, fd00:64:1::/64), workload w2 .12
#   h3 agent 198.18.0.3: red   (VNI 200, 100.64.2.0/24, fd00:64:2::/64), workload w3 .13
#   h4 FRR 8.4 VTEP 198.18.0.4: green (VNI 300, 100.64.3.0/24, fd00:64:3::/64), workload w4 .14,
#      L3 VNI 5001 in its default VRF (zebra `vni 5001`, br5001 with its router MAC)
# Checks: the agents' L3 VNI devices; FRR holds the agents' type-5 routes and router MACs; h2's
# IP-VRF holds h3's and FRR's prefixes (no underlay); h2's kernel routes them through br5001 in
# the tenant's table; every workload pings every other (IPv4 and IPv6, routed twice: TTL 62), and
# the underlay carries those packets in VNI 5001 only, none in VNI 100, 200 or 300; agent 2
# restarted without its network and tenant leaves nothing of them, and h3 and FRR forget h2.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 4
dump_kernels() { # what the hosts' kernels hold of the tenant, for a failure's report
  local i
  for i in 2 3 4; do
    echo "===== host ${i}: links, rules, routes, neighbours, FDB"
    lab_exec "${i}" ip -d link show type bridge
    lab_exec "${i}" ip -d link show type vxlan
    lab_exec "${i}" ip -4 rule show
    lab_exec "${i}" ip -6 rule show
    lab_exec "${i}" ip -4 route show table all
    lab_exec "${i}" ip -6 route show table all
    lab_exec "${i}" ip neigh show nud all
    lab_exec "${i}" bridge fdb show
  done
  lab_vtysh frr "show evpn vni ${l3vni}" "show evpn rmac vni ${l3vni}" "show evpn next-hops vni ${l3vni}" \
    "show bgp l2vpn evpn route type prefix" "show bgp l2vpn evpn route type macip"
  lab_isthmusctl agent2 show evpn prefix vni "${l3vni}"
  lab_isthmusctl agent3 show evpn prefix vni "${l3vni}"
}
lab_on_fail dump_kernels

l3vni=5001
table=$((0x49000000 + l3vni))      # the tenant's routing table (kTableBase + L3 VNI)
rmac2=02:00:c6:12:00:02            # the agents' router MACs: 02:00 + router ID (198.18.0.2, .3)
rmac3=02:00:c6:12:00:03
rmac4=02:00:00:00:50:04            # FRR's: the MAC of its br5001

# The agents: one network each, in tenant1.
lab_isthmus_rr_start 1 2 3 4
lab_isthmusd_start 2 agent2 "$(lab_tenant_agent_conf 2 blue 100 1 "${l3vni}")"
lab_isthmusd_start 3 agent3 "$(lab_tenant_agent_conf 3 red 200 2 "${l3vni}")"

# FRR: green (br300 with the gateway, vxlan300) and the L3 VNI (br5001 + vxlan5001).
lab_vxlan_bridge 4 300 198.18.0.4
lab_exec 4 ip addr add 100.64.3.1/24 dev br300
lab_exec 4 ip addr add fd00:64:3::1/64 dev br300 nodad
lab_l3vni_bridge 4 "${l3vni}" 198.18.0.4 "${rmac4}"
lab_frr_start 4 frr "$(lab_frr_evpn_l3vni_conf 4 100.64.3.0/24 fd00:64:3::/64)"
lab_frr_zebra_vni frr "${l3vni}"
for peer in 198.18.0.2 198.18.0.3 198.18.0.4; do
  lab_wait_for 60 "rr: ${peer} Established" lab_isthmus_established rr "${peer}"
done
frr_l3vni_up() {
  lab_vtysh frr "show evpn vni ${l3vni} json" | lab_check_json "j['type'] == 'L3' and j['state'] == 'Up' and j['routerMac'] == '${rmac4}'"
}
lab_wait_for 30 "FRR: L3 VNI ${l3vni} up with router MAC ${rmac4}" frr_l3vni_up

# The agents made the L3 VNI: br5001 with the router MAC and no address, vxlan5001 as its port
# (learning off), rules into the tenant's table for what comes in on br5001 and on the network.
for h in "2 ${rmac2} br100" "3 ${rmac3} br200"; do
  read -r i rmac br <<<"${h}"
  lab_wait_for 30 "host ${i}: br5001 and vxlan5001 are there" lab_exec "${i}" ip link show vxlan5001 master br5001
  lab_shows "link/ether ${rmac} " lab_exec "${i}" ip link show br5001 ||
    lab_fail "host ${i}: br5001's MAC is not the router MAC ${rmac}: $(lab_exec "${i}" ip link show br5001)"
  lab_shows "inet" lab_exec "${i}" ip -4 addr show br5001 && lab_fail "host ${i}: br5001 has an address"
  lab_shows "vxlan id ${l3vni} local 198.18.0.${i} .*nolearning" lab_exec "${i}" ip -d link show vxlan5001 ||
    lab_fail "host ${i}: vxlan5001: $(lab_exec "${i}" ip -d link show vxlan5001)"
  lab_shows "master br5001 " lab_exec "${i}" ip -d link show vxlan5001 || lab_fail "host ${i}: vxlan5001 is no port of br5001"
  lab_shows "bridge_slave state forwarding " lab_exec "${i}" ip -d link show vxlan5001 ||
    lab_fail "host ${i}: vxlan5001 does not forward: $(lab_exec "${i}" ip -d link show vxlan5001)"
  lab_shows "learning off" lab_exec "${i}" ip -d link show vxlan5001 || lab_fail "host ${i}: vxlan5001 port learning is on"
  for fam in -4 -6; do
    for b in br5001 "${br}"; do
      lab_wait_for 30 "host ${i}: rule ${fam} iif ${b} lookup ${table}" \
        lab_shows "iif ${b} lookup ${table}" lab_exec "${i}" ip "${fam}" rule show
    done
  done
done
lab_isthmusctl agent2 show evpn ip-vrf -o json | lab_check_json "
[(v['name'], v['vni'], v['router_mac']) for v in j] == [('tenant1', ${l3vni}, '${rmac2}')]" ||
  lab_fail "show evpn ip-vrf at agent 2: $(lab_isthmusctl agent2 show evpn ip-vrf -o json)"
lab_log "agents: br5001 (router MAC, no address) + vxlan5001, rules into table ${table}"

# Workloads: w2 on blue at h2, w3 on red at h3, w4 on green behind FRR at h4. Each speaks to its
# gateway first, so its bridge knows it (the agents and FRR advertise it as a MAC/IP route).
lab_wait_for 30 "host 2: br100 is there" lab_exec 2 ip link show br100
lab_wait_for 30 "host 3: br200 is there" lab_exec 3 ip link show br200
lab_attach_workload 2 100 w2 100.64.1.12/24 fd00:64:1::12/64
lab_attach_workload 3 200 w3 100.64.2.13/24 fd00:64:2::13/64
lab_attach_workload 4 300 w4 100.64.3.14/24 fd00:64:3::14/64
w() { ip netns exec "$(lab_ns "$1")" "${@:2}"; }
for wl in "w2 1" "w3 2" "w4 3"; do
  read -r name n <<<"${wl}"
  w "${name}" ping -c1 -W2 "100.64.${n}.1" >/dev/null || lab_fail "${name} cannot reach its gateway 100.64.${n}.1"
  lab_wait_for 10 "${name} reaches its gateway fd00:64:${n}::1" w "${name}" ping -6 -c1 -W1 "fd00:64:${n}::1"
done

# FRR holds the agents' subnets as type-5 routes and their router MACs (so it routes to them
# over VNI 5001), learned only through the isthmusd route reflector.
for p in "100.64.1.0/24 198.18.0.2 ${rmac2}" "fd00:64:1::/64 198.18.0.2 ${rmac2}" \
  "100.64.2.0/24 198.18.0.3 ${rmac3}" "fd00:64:2::/64 198.18.0.3 ${rmac3}"; do
  read -r pfx vtep rmac <<<"${p}"
  lab_wait_for 30 "FRR has ${pfx} from ${vtep} as a type-5 route (RT 65000:${l3vni}, ${rmac})" \
    lab_frr_has_type5 frr "${l3vni}" "${pfx}" "${vtep}" "${rmac}"
done
frr_rmac() { # frr_rmac RMAC VTEP: FRR's L3 VNI knows RMAC at VTEP
  lab_vtysh frr "show evpn rmac vni ${l3vni} json" | lab_check_json "j.get('$1', {}).get('vtepIp') == '$2'"
}
lab_wait_for 30 "FRR: router MAC ${rmac2} at 198.18.0.2" frr_rmac "${rmac2}" 198.18.0.2
lab_wait_for 30 "FRR: router MAC ${rmac3} at 198.18.0.3" frr_rmac "${rmac3}" 198.18.0.3
frr_kernel_route() { # frr_kernel_route FAMILY PREFIX GATEWAY: FRR's kernel routes PREFIX over br5001
  lab_shows "^$2 .*via $3 dev br5001 .*onlink" lab_exec 4 ip "$1" route show
}
lab_wait_for 30 "FRR's kernel: 100.64.1.0/24 via 198.18.0.2 on br5001" frr_kernel_route -4 100.64.1.0/24 198.18.0.2
lab_wait_for 30 "FRR's kernel: fd00:64:2::/64 via ::ffff:198.18.0.3 on br5001" frr_kernel_route -6 fd00:64:2::/64 ::ffff:198.18.0.3
# w2's and w3's host routes, from the agents' MAC/IP routes with the L3 VNI as second label
lab_wait_for 30 "FRR's kernel: 100.64.1.12 via 198.18.0.2 on br5001" frr_kernel_route -4 100.64.1.12 198.18.0.2
lab_wait_for 30 "FRR's kernel: fd00:64:2::13 via ::ffff:198.18.0.3 on br5001" frr_kernel_route -6 fd00:64:2::13 ::ffff:198.18.0.3
lab_log "FRR imported the agents' type-5 routes and router MACs"

# Agent 2's IP-VRF holds h3's and FRR's subnets (type-5) and workloads (MAC/IP routes with the
# L3 VNI as second label) with their VTEP, router MAC and label 5001, its own subnets as local,
# and nothing of the underlay.
prefix_vtep() { # prefix_vtep PREFIX VTEP RMAC: agent 2 has PREFIX through VTEP, with RMAC and VNI 5001
  lab_isthmusctl agent2 show evpn prefix vni "${l3vni}" -o json | lab_check_json "
any(ipaddress.ip_network(p['prefix']) == ipaddress.ip_network('$1') and
    any((r['vtep'], r['router_mac'], r['vni']) == ('$2', '$3', ${l3vni}) for r in p['remote'])
    for p in j['prefixes'])"
}
for p in "100.64.2.0/24 198.18.0.3 ${rmac3}" "fd00:64:2::/64 198.18.0.3 ${rmac3}" \
  "100.64.3.0/24 198.18.0.4 ${rmac4}" "fd00:64:3::/64 198.18.0.4 ${rmac4}" \
  "100.64.2.13/32 198.18.0.3 ${rmac3}" "fd00:64:2::13/128 198.18.0.3 ${rmac3}" \
  "100.64.3.14/32 198.18.0.4 ${rmac4}" "fd00:64:3::14/128 198.18.0.4 ${rmac4}"; do
  read -r pfx vtep rmac <<<"${p}"
  lab_wait_for 30 "agent 2: ${pfx} through ${vtep} (${rmac})" prefix_vtep "${pfx}" "${vtep}" "${rmac}"
done
prefixes=$(lab_isthmusctl agent2 show evpn prefix vni "${l3vni}" -o json)
lab_check_json "(
{p['prefix'] for p in j['prefixes'] if p['local']} == {'100.64.1.0/24', 'fd00:64:1::/64'} and
not any(ipaddress.ip_network(p['prefix']).overlaps(ipaddress.ip_network(u))
        for p in j['prefixes'] for u in ('198.18.0.0/15', 'fd00:18::/64') if
        ipaddress.ip_network(p['prefix']).version == ipaddress.ip_network(u).version))" <<<"${prefixes}" ||
  lab_fail "agent 2's IP-VRF: local prefixes other than blue's, or an underlay prefix: ${prefixes}"
lab_log "agent 2's IP-VRF: h3's and FRR's subnets through their VTEPs, its own local, no underlay"

# Agent 2's kernel: the routes through br5001 onlink in the tenant's table, the VTEPs' router MACs
# as neighbours on br5001 and FDB entries on vxlan5001.
kernel_route() { # kernel_route HOST FAMILY PREFIX GATEWAY
  lab_shows "^$3 via $4 dev br5001 table ${table} .*onlink" lab_exec "$1" ip "$2" route show table all
}
for r in "-4 100.64.2.0/24 198.18.0.3" "-6 fd00:64:2::/64 ::ffff:198.18.0.3" \
  "-4 100.64.3.0/24 198.18.0.4" "-6 fd00:64:3::/64 ::ffff:198.18.0.4" \
  "-4 100.64.3.14 198.18.0.4" "-6 fd00:64:3::14 ::ffff:198.18.0.4"; do
  read -r fam pfx gw <<<"${r}"
  lab_wait_for 30 "host 2: ${pfx} via ${gw} dev br5001 onlink in table ${table}" kernel_route 2 "${fam}" "${pfx}" "${gw}"
done
lab_wait_for 30 "host 3: 100.64.1.0/24 via 198.18.0.2 dev br5001 onlink" kernel_route 3 -4 100.64.1.0/24 198.18.0.2
lab_wait_for 30 "host 3: fd00:64:3::/64 via ::ffff:198.18.0.4 dev br5001 onlink" kernel_route 3 -6 fd00:64:3::/64 ::ffff:198.18.0.4
for n in "198.18.0.3 ${rmac3}" "::ffff:198.18.0.3 ${rmac3}" "198.18.0.4 ${rmac4}" "::ffff:198.18.0.4 ${rmac4}"; do
  read -r addr rmac <<<"${n}"
  lab_shows "^${addr} lladdr ${rmac} .*NOARP" lab_exec 2 ip neigh show dev br5001 nud all ||
    lab_fail "host 2: no neighbour ${addr} -> ${rmac} on br5001: $(lab_exec 2 ip neigh show dev br5001 nud all)"
done
for v in "${rmac3} 198.18.0.3" "${rmac4} 198.18.0.4"; do
  read -r rmac vtep <<<"${v}"
  lab_shows "^${rmac} dst ${vtep} self" lab_exec 2 bridge fdb show dev vxlan5001 ||
    lab_fail "host 2: no FDB entry ${rmac} dst ${vtep} on vxlan5001: $(lab_exec 2 bridge fdb show dev vxlan5001)"
done
lab_log "host 2's kernel: the tenant's routes via br5001 onlink, router MACs as neighbours and FDB entries"

# Every workload reaches every other, IPv4 and IPv6, routed at both VTEPs (TTL 64 - 2).
addr4() { case $1 in w2) echo 100.64.1.12 ;; w3) echo 100.64.2.13 ;; w4) echo 100.64.3.14 ;; esac; }
addr6() { case $1 in w2) echo fd00:64:1::12 ;; w3) echo fd00:64:2::13 ;; w4) echo fd00:64:3::14 ;; esac; }
pairs=("w2 w3" "w3 w2" "w2 w4" "w4 w2" "w3 w4" "w4 w3")
ping_ok() { w "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; }
for p in "${pairs[@]}"; do
  read -r a b <<<"${p}"
  lab_wait_for 30 "${a} pings ${b} (IPv4)" ping_ok "${a}" "$(addr4 "${b}")"
  lab_wait_for 30 "${a} pings ${b} (IPv6)" ping_ok "${a}" "$(addr6 "${b}")"
done

# The same pings under a capture on the switch: each echo request and reply crosses the underlay
# in VXLAN VNI 5001, and nothing crosses in the networks' VNIs.
sw="${LAB_PREFIX}-sw"
ip netns exec "${sw}" tcpdump -n -U -i br0 -w "${LAB_DIR}/vxlan.pcap" udp port 4789 2>"${LAB_DIR}/tcpdump.log" &
capture=$!
lab_wait_for 10 "tcpdump listens on the switch" grep -q "listening on br0" "${LAB_DIR}/tcpdump.log"
for p in "${pairs[@]}"; do
  read -r a b <<<"${p}"
  for fam in 4 6; do
    out=$(w "${a}" ping -"${fam}" -c2 -i0.2 -W2 "$(addr"${fam}" "${b}")") ||
      lab_fail "${a} -> ${b} (IPv${fam}) under capture: ${out}"
    ttl=$(sed -n 's/.* ttl=\([0-9]*\).*/\1/p' <<<"${out}" | sort -u)
    [[ ${ttl} == 62 ]] || lab_fail "${a} -> ${b} (IPv${fam}): ttl ${ttl}, want 62 (routed at both VTEPs): ${out}"
  done
done
sleep 0.5 # the last replies reach the capture file (-U writes each packet at once)
kill "${capture}"
wait "${capture}" 2>/dev/null || true
tcpdump -n -r "${LAB_DIR}/vxlan.pcap" >"${LAB_DIR}/vxlan.txt" 2>/dev/null
# tcpdump prints the outer packet ("... VXLAN, flags [I] (0x08), vni N") and on the next line the
# inner one: echo request/reply per VNI and inner source/destination, and all packets per VNI.
awk '/VXLAN, flags/ { vni = $NF; packets[vni]++; next }
     vni != "" && /ICMP6?,? echo (request|reply)/ {
       type = ($0 ~ /request/) ? "request" : "reply"; src = $2; dst = $4; sub(/:$/, "", dst)
       print vni, src, dst, type; vni = "" }
     END { for (v in packets) print "packets", v, packets[v] }' "${LAB_DIR}/vxlan.txt" >"${LAB_DIR}/vxlan.sum"
for p in "${pairs[@]}"; do
  read -r a b <<<"${p}"
  for fam in 4 6; do
    src=$(addr"${fam}" "${a}")
    dst=$(addr"${fam}" "${b}")
    grep -qx "${l3vni} ${src} ${dst} request" "${LAB_DIR}/vxlan.sum" ||
      lab_fail "no echo request ${a} -> ${b} (IPv${fam}) in VNI ${l3vni} on the underlay: $(cat "${LAB_DIR}/vxlan.txt")"
    grep -qx "${l3vni} ${dst} ${src} reply" "${LAB_DIR}/vxlan.sum" ||
      lab_fail "no echo reply ${b} -> ${a} (IPv${fam}) in VNI ${l3vni} on the underlay: $(cat "${LAB_DIR}/vxlan.txt")"
  done
done
if grep -Eq "^packets (100|200|300) " "${LAB_DIR}/vxlan.sum"; then
  lab_fail "packets crossed the underlay in a network's VNI: $(grep '^packets' "${LAB_DIR}/vxlan.sum")"
fi
echoes=$(grep -c "^${l3vni} " "${LAB_DIR}/vxlan.sum")
lab_log "12 routed pings x 2 crossed as ${echoes} echoes in VNI ${l3vni}, none in VNI 100, 200, 300 ($(grep '^packets' "${LAB_DIR}/vxlan.sum" | tr '\n' ' '))"

# Agent 2 restarted without blue and tenant1: its links, rules and routes go; h3 and FRR withdraw
# its prefixes and forget its VTEP and router MAC; h3 and FRR still reach each other.
lab_stop agent2
lab_isthmusd_start 2 agent2 "$(lab_agent_conf 2 </dev/null | sed '/^networks:$/d')"
grep -Eq "vrfs|networks|vni" "${LAB_DIR}/agent2.yaml" && lab_fail "agent 2's new config still has a network or tenant"
lab_wait_for 60 "rr: 198.18.0.2 Established again" lab_isthmus_established rr 198.18.0.2
gone() { ! lab_exec 2 ip link show "$1" >/dev/null 2>&1; }
for l in br5001 vxlan5001 br100 vxlan100; do
  lab_wait_for 30 "host 2: ${l} is gone" gone "${l}"
done
host2_clean() { # nothing of blue or tenant1 is left in host 2's kernel
  ! lab_shows "iif br" lab_exec 2 ip -4 rule show && ! lab_shows "iif br" lab_exec 2 ip -6 rule show &&
    ! lab_shows "table ${table}|^100\.64\." lab_exec 2 ip -4 route show table all &&
    ! lab_shows "table ${table}|^fd00:64:" lab_exec 2 ip -6 route show table all &&
    ! lab_shows "extern_learn" lab_exec 2 ip neigh show nud all &&
    ! lab_shows "dst 198\.18\." lab_exec 2 bridge fdb show
}
lab_wait_for 30 "host 2: no rule, route (table ${table} or overlay), neighbour or FDB entry of the agent left" host2_clean
no_route() { ! lab_shows "$3" lab_exec "$1" ip "$2" route show table all; }
for h in "3 host 3" "4 FRR's kernel"; do
  read -r i what <<<"${h}"
  lab_wait_for 30 "${what} has no route into 100.64.1.0/24 left" no_route "${i}" -4 "^100\.64\.1\."
  lab_wait_for 30 "${what} has no route into fd00:64:1::/64 left" no_route "${i}" -6 "^fd00:64:1:"
done
no_vtep2() { # no neighbour or FDB entry of host 3 or FRR points at 198.18.0.2 / rmac2
  ! lab_shows "198\.18\.0\.2 lladdr|${rmac2}" lab_exec "$1" ip neigh show dev br5001 nud all &&
    ! lab_shows "${rmac2}" lab_exec "$1" bridge fdb show dev vxlan5001
}
lab_wait_for 30 "host 3 forgot VTEP 198.18.0.2 on the L3 VNI" no_vtep2 3
lab_wait_for 30 "FRR forgot VTEP 198.18.0.2 on the L3 VNI" no_vtep2 4
no_frr_rmac2() { ! frr_rmac "${rmac2}" 198.18.0.2; }
lab_wait_for 30 "FRR's show evpn rmac no longer lists ${rmac2}" no_frr_rmac2
for p in "w3 w4" "w4 w3"; do
  read -r a b <<<"${p}"
  ping_ok "${a}" "$(addr4 "${b}")" || lab_fail "${a} no longer reaches ${b} (IPv4) after agent 2 left"
  ping_ok "${a}" "$(addr6 "${b}")" || lab_fail "${a} no longer reaches ${b} (IPv6) after agent 2 left"
done
lab_log "agent 2 without its tenant: nothing left on host 2, host 3 and FRR forgot it, h3 and FRR still route"
lab_log "PASS"
