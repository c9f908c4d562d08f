#!/usr/bin/env bash
# A gateway to the outside with standard EVPN type-5 routes only (RFC 9136 §4.4.1, symmetric IRB
# RFC 9135): an FRR 8.4 border leaf advertises a default route into tenant1 (L3 VNI 5001), and the
# isthmusd node agents' workloads reach a host outside, behind the border on a plain link.
#   h1 isthmusd RR 198.18.0.1
#   h2 agent 198.18.0.2: blue (VNI 100, 100.64.1.0/24, fd00:64:1::/64), workload w2 .12 / ::12
#   h3 agent 198.18.0.3: red  (VNI 200, 100.64.2.0/24, fd00:64:2::/64), workload w3 .13 / ::13
#   h4 FRR 8.4 border 198.18.0.4: L3 VNI 5001 in its default VRF (zebra `vni 5001`, br5001 with
#      its router MAC), no network of its own; eth1 to the outside namespace "out" (no EVPN):
#      100.127.0.0/24 and fd00:ffff::/64, the border .1 / ::1, the outside host .10 / ::10 with
#      its default routes via the border. FRR advertises `default-originate ipv4` and `ipv6`
#      (configured through vtysh once bgpd knows the L3 VNI: FRR 8.4's bug with it in the
#      startup config) and, through route-maps, no other prefix: no underlay, not the outside.
# Checks: the agents' tenant tables route 0.0.0.0/0 via 198.18.0.4 and ::/0 via ::ffff:198.18.0.4
# onlink through br5001, ahead of their unreachable defaults (which stay, metric 4278198272);
# `show evpn prefix vni 5001` lists both from the border (router MAC, VNI 5001) and nothing else
# of it; FRR holds the agents' subnets as type-5 routes; w2 and w3 ping the outside host (IPv4,
# IPv6, routed at their node and the border: TTL 62), the outside host sees their own addresses
# (no NAT) and the underlay carries every echo in VNI 5001, none in VNI 100 or 200. The border
# withdraws its default (`no default-originate`): the agents' tables and IP-VRFs lose it and the
# workloads' gateways answer "unreachable" for the outside host again.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 4

l3vni=5001
table=$((0x49000000 + l3vni))      # the tenant's routing table (kTableBase + L3 VNI)
unreachable_metric=4278198272      # the agents' unreachable defaults (kUnreachableMetric)
rmac2=02:00:c6:12:00:02            # the agents' router MACs: 02:00 + router ID (198.18.0.2, .3)
rmac3=02:00:c6:12:00:03
rmac4=02:00:00:00:50:04            # the border's: the MAC of its br5001
border=198.18.0.4
out4=100.127.0.10                  # the outside host
out6=fd00:ffff::10

dump_kernels() { # what the hosts' kernels and FRR hold of the tenant, for a failure's report
  local i
  for i in 2 3 4 out; do
    echo "===== host ${i}: links, addresses, rules, routes, neighbours, FDB"
    lab_exec "${i}" ip -d link show
    lab_exec "${i}" ip addr show
    lab_exec "${i}" ip -4 rule show
    lab_exec "${i}" ip -6 rule show
    lab_exec "${i}" ip -4 route show table all
    lab_exec "${i}" ip -6 route show table all
    lab_exec "${i}" ip neigh show nud all
    lab_exec "${i}" bridge fdb show
  done
  lab_vtysh frr "show running-config" "show evpn vni ${l3vni}" "show evpn rmac vni ${l3vni}" \
    "show evpn next-hops vni ${l3vni}" "show bgp l2vpn evpn vni ${l3vni}" \
    "show bgp l2vpn evpn route type prefix" "show bgp l2vpn evpn route type macip"
  local a
  for a in agent2 agent3; do
    echo "===== ${a}: show evpn prefix vni ${l3vni}"
    lab_isthmusctl "${a}" show evpn prefix vni "${l3vni}" -o json
  done
  echo "===== rr: show bgp l2vpn evpn route-type 5"
  lab_isthmusctl rr show bgp l2vpn evpn route-type 5 -o json
}
lab_on_fail dump_kernels

# The agents: one network each, in tenant1.
lab_isthmus_rr_start 1 2 3 4
lab_isthmusd_start 2 agent2 "$(lab_tenant_agent_conf 2 blue 100 1 "${l3vni}")"
lab_isthmusd_start 3 agent3 "$(lab_tenant_agent_conf 3 red 200 2 "${l3vni}")"

# The border: the L3 VNI (br5001 + vxlan5001, forwarding on) and the outside on eth1. FRR's
# config is a VTEP's with no network: only overlay prefixes (100.64.0.0/10, fd00:64::/32) could
# go out as type-5 routes, and it has none; the default comes later, through vtysh.
lab_l3vni_bridge 4 "${l3vni}" "${border}" "${rmac4}"
lab_outside_host 4 eth1 out 100.127.0.1/24 fd00:ffff::1/64 "${out4}/24" "${out6}/64"
lab_frr_start 4 frr "$(lab_frr_evpn_l3vni_conf 4)"
lab_frr_zebra_vni frr "${l3vni}"
for peer in 198.18.0.2 198.18.0.3 "${border}"; do
  lab_wait_for 60 "rr: ${peer} Established" lab_isthmus_established rr "${peer}"
done
frr_l3vni_up() {
  lab_vtysh frr "show evpn vni ${l3vni} json" | lab_check_json "j['type'] == 'L3' and j['state'] == 'Up' and j['routerMac'] == '${rmac4}'"
}
lab_wait_for 30 "FRR: L3 VNI ${l3vni} up with router MAC ${rmac4}" frr_l3vni_up


# Workloads: w2 on blue at h2, w3 on red at h3. Each speaks to its gateway first, so the agent
# learns it from the bridge and advertises it.
lab_tenant_workload 2 100 w2 1 12
lab_tenant_workload 3 200 w3 2 13
w() { ip netns exec "$(lab_ns "$1")" "${@:2}"; }

# FRR holds the agents' subnets as type-5 routes (tenant's RT, VXLAN, router MAC), through the RR.
for p in "100.64.1.0/24 198.18.0.2 ${rmac2}" "fd00:64:1::/64 198.18.0.2 ${rmac2}" \
  "100.64.2.0/24 198.18.0.3 ${rmac3}" "fd00:64:2::/64 198.18.0.3 ${rmac3}"; do
  read -r pfx vtep rmac <<<"${p}"
  lab_wait_for 30 "FRR has ${pfx} from ${vtep} as a type-5 route (RT 65000:${l3vni}, ${rmac})" \
    lab_frr_has_type5 frr "${l3vni}" "${pfx}" "${vtep}" "${rmac}"
done
frr_kernel_route() { # frr_kernel_route FAMILY PREFIX GATEWAY: the border routes PREFIX over br5001
  lab_shows "^$2 .*via $3 dev br5001 .*onlink" lab_exec 4 ip "$1" route show
}
lab_wait_for 30 "border's kernel: 100.64.1.0/24 via 198.18.0.2 on br5001" frr_kernel_route -4 100.64.1.0/24 198.18.0.2
lab_wait_for 30 "border's kernel: fd00:64:1::/64 via ::ffff:198.18.0.2 on br5001" frr_kernel_route -6 fd00:64:1::/64 ::ffff:198.18.0.2
lab_wait_for 30 "border's kernel: 100.64.2.0/24 via 198.18.0.3 on br5001" frr_kernel_route -4 100.64.2.0/24 198.18.0.3
lab_wait_for 30 "border's kernel: fd00:64:2::/64 via ::ffff:198.18.0.3 on br5001" frr_kernel_route -6 fd00:64:2::/64 ::ffff:198.18.0.3
lab_log "FRR holds the agents' subnets as type-5 routes and routes them over br5001"

# Before the default: the workloads' gateways answer "unreachable" for the outside host (the
# tenant's unreachable default), and nothing of the border is in the agents' tables.
unreachable() { # unreachable W FAMILY DST GATEWAY: W's ping to DST is answered unreachable by GATEWAY
  local out
  if out=$(w "$1" ping "-$2" -c1 -W2 "$3" 2>&1); then
    echo "${out}"
    return 1
  fi
  grep -Eq "^From $4 .*[Uu]nreachable" <<<"${out}" || {
    echo "${out}"
    return 1
  }
}
expect_unreachable() { # expect_unreachable WHEN: w2 and w3 get unreachable for the outside host
  local wl name n out
  for wl in "w2 1" "w3 2"; do
    read -r name n <<<"${wl}"
    out=$(unreachable "${name}" 4 "${out4}" "100.64.${n}.1") ||
      lab_fail "$1: ${name} -> ${out4}: no unreachable from its gateway 100.64.${n}.1: ${out}"
    out=$(unreachable "${name}" 6 "${out6}" "fd00:64:${n}::1") ||
      lab_fail "$1: ${name} -> ${out6}: no unreachable from its gateway fd00:64:${n}::1: ${out}"
  done
  lab_log "ok: $1: w2 and w3 get unreachable from their gateways for ${out4} and ${out6}"
}
expect_unreachable "without the border's default"

# The border advertises its default route into EVPN (after bgpd knows the L3 VNI).
lab_frr_evpn_default_originate frr "${l3vni}" "${rmac4}"
frr_local_default() { # FRR originated type-5 PREFIX/0 with its L3 VNI's RD, RT and router MAC
  lab_vtysh frr "show bgp l2vpn evpn route type prefix json" | lab_check_json "
any(set(path['extendedCommunity']['string'].split()) >= {'RT:65000:${l3vni}', 'ET:8', 'Rmac:${rmac4}'}
    for rd, routes in j.items() if rd.startswith('${border}:')
    for key, route in routes.items() if key == '[5]:[0]:[0]:[$1]'
    for paths in route['paths'] for path in paths)"
}
lab_wait_for 30 "FRR originated type-5 0.0.0.0/0" frr_local_default 0.0.0.0
lab_wait_for 30 "FRR originated type-5 ::/0" frr_local_default ::

# The agents' IP-VRFs: 0.0.0.0/0 and ::/0 from the border (its router MAC, VNI 5001), and nothing
# else of the border (no underlay, not the outside network); every remote route of the defaults
# is the border's proper one (no RD 0:0 route without route target or router MAC).
prefix_from_border() { # prefix_from_border AGENT PREFIX
  lab_isthmusctl "$1" show evpn prefix vni "${l3vni}" -o json | lab_check_json "
any(ipaddress.ip_network(p['prefix']) == ipaddress.ip_network('$2') and p['remote'] and
    all((r['vtep'], r['router_mac'], r['vni']) == ('${border}', '${rmac4}', ${l3vni}) and
        r['rd'].startswith('${border}:') for r in p['remote'])
    for p in j['prefixes'])"
}
for a in agent2 agent3; do
  for pfx in 0.0.0.0/0 ::/0; do
    lab_wait_for 30 "${a}: ${pfx} from the border ${border} (${rmac4}, VNI ${l3vni})" prefix_from_border "${a}" "${pfx}"
  done
  prefixes=$(lab_isthmusctl "${a}" show evpn prefix vni "${l3vni}" -o json)
  lab_check_json "
{p['prefix'] for p in j['prefixes'] for r in p['remote'] if r['vtep'] == '${border}'} == {'0.0.0.0/0', '::/0'}" \
    <<<"${prefixes}" || lab_fail "${a}: prefixes from the border other than its defaults: ${prefixes}"
  text=$(lab_isthmusctl "${a}" show evpn prefix vni "${l3vni}")
  { grep -q "0\.0\.0\.0/0" <<<"${text}" && grep -q "::/0" <<<"${text}"; } ||
    lab_fail "${a}: show evpn prefix vni ${l3vni} does not list the defaults: ${text}"
done
# The route reflector holds the border's defaults with the L3 VNI's RD only: no RD 0:0 route (no
# route target, no router MAC, label 0), which FRR 8.4 sends with default-originate at startup.
rr_type5=$(lab_isthmusctl rr show bgp l2vpn evpn route-type 5 -o json)
lab_check_json "(
sorted(r['route'].split(']:[', 2)[2] for r in j['routes'] if any(p['next_hop'] == '${border}' for p in r['paths'])) ==
['0]:[0]:[0.0.0.0]', '0]:[0]:[::]'] and
all(r['route'].startswith('[5]:[${border}:') for r in j['routes'] if any(p['next_hop'] == '${border}' for p in r['paths'])) and
not any(r['route'].startswith('[5]:[0:0]') for r in j['routes']))" <<<"${rr_type5}" ||
  lab_fail "rr: the border's type-5 routes are not exactly its two defaults with its RD (${border}:n): ${rr_type5}"
lab_log "agents' IP-VRFs: 0.0.0.0/0 and ::/0 from the border, nothing else of it; no RD 0:0 route at the RR"

# The agents' kernels: the defaults via the border onlink through br5001 in the tenant's table,
# the unreachable defaults still behind them, and a route lookup for the outside host from the
# workload's bridge takes the border's.
for h in "2 br100 100.64.1.12 fd00:64:1::12" "3 br200 100.64.2.13 fd00:64:2::13"; do
  read -r i br src4 src6 <<<"${h}"
  lab_wait_for 30 "host ${i}: default via ${border} dev br5001 onlink in table ${table}" \
    lab_shows "^default via ${border} dev br5001 .*onlink" lab_exec "${i}" ip -4 route show table "${table}"
  lab_wait_for 30 "host ${i}: default via ::ffff:${border} dev br5001 onlink in table ${table}" \
    lab_shows "^default via ::ffff:${border} dev br5001 .*onlink" lab_exec "${i}" ip -6 route show table "${table}"
  for fam in -4 -6; do
    lab_shows "^unreachable default .*metric ${unreachable_metric}" lab_exec "${i}" ip "${fam}" route show table "${table}" ||
      lab_fail "host ${i}: no unreachable default (${fam}, metric ${unreachable_metric}) in table ${table}: $(lab_exec "${i}" ip "${fam}" route show table "${table}")"
  done
  out=$(lab_exec "${i}" ip -4 route get "${out4}" from "${src4}" iif "${br}")
  grep -Eq "via ${border} dev br5001 table ${table}" <<<"${out}" ||
    lab_fail "host ${i}: ${out4} from ${src4} iif ${br} does not take the border's default: ${out}"
  out=$(lab_exec "${i}" ip -6 route get "${out6}" from "${src6}" iif "${br}")
  grep -Eq "via ::ffff:${border} dev br5001 table ${table}" <<<"${out}" ||
    lab_fail "host ${i}: ${out6} from ${src6} iif ${br} does not take the border's default: ${out}"
  lab_shows "^${border} lladdr ${rmac4} .*NOARP" lab_exec "${i}" ip neigh show dev br5001 nud all ||
    lab_fail "host ${i}: no neighbour ${border} -> ${rmac4} on br5001: $(lab_exec "${i}" ip neigh show dev br5001 nud all)"
  lab_shows "^::ffff:${border} lladdr ${rmac4} .*NOARP" lab_exec "${i}" ip neigh show dev br5001 nud all ||
    lab_fail "host ${i}: no neighbour ::ffff:${border} -> ${rmac4} on br5001: $(lab_exec "${i}" ip neigh show dev br5001 nud all)"
  lab_shows "^${rmac4} dst ${border} self" lab_exec "${i}" bridge fdb show dev vxlan5001 ||
    lab_fail "host ${i}: no FDB entry ${rmac4} dst ${border} on vxlan5001: $(lab_exec "${i}" bridge fdb show dev vxlan5001)"
done
lab_log "agents' kernels: the border's defaults via br5001 onlink win over the unreachable defaults"

# w2 and w3 reach the outside host, IPv4 and IPv6.
addr4() { case $1 in w2) echo 100.64.1.12 ;; w3) echo 100.64.2.13 ;; esac; }
addr6() { case $1 in w2) echo fd00:64:1::12 ;; w3) echo fd00:64:2::13 ;; esac; }
ping_ok() { w "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; }
for name in w2 w3; do
  lab_wait_for 30 "${name} pings the outside host ${out4}" ping_ok "${name}" "${out4}"
  lab_wait_for 30 "${name} pings the outside host ${out6}" ping_ok "${name}" "${out6}"
done

# The same pings (and the outside host's own pings back) under two captures: the outside link
# (the outside host sees the workloads' own addresses: no NAT) and the underlay (VXLAN).
sw="${LAB_PREFIX}-sw"
ip netns exec "${sw}" tcpdump -n -U -i br0 -w "${LAB_DIR}/vxlan.pcap" udp port 4789 2>"${LAB_DIR}/tcpdump-vxlan.log" &
cap_vxlan=$!
lab_exec out tcpdump -n -U -i eth0 -w "${LAB_DIR}/outside.pcap" icmp or icmp6 2>"${LAB_DIR}/tcpdump-outside.log" &
cap_out=$!
lab_wait_for 10 "tcpdump listens on the switch" grep -q "listening on br0" "${LAB_DIR}/tcpdump-vxlan.log"
lab_wait_for 10 "tcpdump listens on the outside host" grep -q "listening on eth0" "${LAB_DIR}/tcpdump-outside.log"
for name in w2 w3; do
  for fam in 4 6; do
    dst=${out4}
    [[ ${fam} == 6 ]] && dst=${out6}
    out=$(w "${name}" ping -"${fam}" -c2 -i0.2 -W2 "${dst}") ||
      lab_fail "${name} -> ${dst} under capture: ${out}"
    ttl=$(sed -n 's/.* ttl=\([0-9]*\).*/\1/p' <<<"${out}" | sort -u)
    [[ ${ttl} == 62 ]] || lab_fail "${name} -> ${dst}: ttl ${ttl}, want 62 (routed at its node and the border): ${out}"
    src=$(addr"${fam}" "${name}")
    out=$(lab_exec out ping -"${fam}" -c2 -i0.2 -W2 "${src}") ||
      lab_fail "the outside host -> ${name} (${src}) under capture: ${out}"
    ttl=$(sed -n 's/.* ttl=\([0-9]*\).*/\1/p' <<<"${out}" | sort -u)
    [[ ${ttl} == 62 ]] || lab_fail "the outside host -> ${name} (${src}): ttl ${ttl}, want 62: ${out}"
  done
done
sleep 0.5 # the last packets reach the capture files (-U writes each packet at once)
kill "${cap_vxlan}" "${cap_out}"
wait "${cap_vxlan}" "${cap_out}" 2>/dev/null || true
tcpdump -n -r "${LAB_DIR}/outside.pcap" >"${LAB_DIR}/outside.txt" 2>/dev/null
tcpdump -n -r "${LAB_DIR}/vxlan.pcap" >"${LAB_DIR}/vxlan.txt" 2>/dev/null
# Outside: "IP 100.64.1.12 > 100.127.0.10: ICMP echo request, ..." / "IP6 a > b: ICMP6, echo request, ..."
awk '/ICMP6?,? echo (request|reply)/ {
       type = ($0 ~ /request/) ? "request" : "reply"; src = $3; dst = $5; sub(/:$/, "", dst)
       print src, dst, type }' "${LAB_DIR}/outside.txt" | sort -u >"${LAB_DIR}/outside.sum"
# Underlay: the outer packet ("... IP 198.18.0.2.60621 > 198.18.0.4.4789: VXLAN, flags [I] (0x08),
# vni N"), then on the next line the inner one: echo request/reply per VNI, outer (VTEPs) and
# inner source/destination, and all packets per VNI.
awk '/VXLAN, flags/ { vni = $NF; packets[vni]++
       osrc = $3; odst = $5; sub(/:$/, "", odst); sub(/\.[0-9]+$/, "", osrc); sub(/\.[0-9]+$/, "", odst)
       next }
     vni != "" && /ICMP6?,? echo (request|reply)/ {
       type = ($0 ~ /request/) ? "request" : "reply"; src = $2; dst = $4; sub(/:$/, "", dst)
       print vni, osrc, odst, src, dst, type; vni = "" }
     END { for (v in packets) print "packets", v, packets[v] }' "${LAB_DIR}/vxlan.txt" >"${LAB_DIR}/vxlan.sum"
vtep() { case $1 in w2) echo 198.18.0.2 ;; w3) echo 198.18.0.3 ;; esac; }
for name in w2 w3; do
  for fam in 4 6; do
    src=$(addr"${fam}" "${name}")
    dst=${out4}
    [[ ${fam} == 6 ]] && dst=${out6}
    # each with the outer addresses it must have: the workload's VTEP to the border or back
    for pair in "${src} ${dst} request" "${dst} ${src} reply" "${dst} ${src} request" "${src} ${dst} reply"; do
      grep -qx "${pair}" "${LAB_DIR}/outside.sum" ||
        lab_fail "the outside host did not see echo ${pair} (its own addresses, no NAT): $(cat "${LAB_DIR}/outside.txt")"
      outer="$(vtep "${name}") ${border}"
      [[ ${pair} == "${src} "* ]] || outer="${border} $(vtep "${name}")"
      grep -qx "${l3vni} ${outer} ${pair}" "${LAB_DIR}/vxlan.sum" ||
        lab_fail "no echo ${pair} in VNI ${l3vni} from ${outer% *} to ${outer#* } on the underlay: $(cat "${LAB_DIR}/vxlan.txt")"
    done
  done
done
foreign=$(awk '$1 != "packets" && $1 != "'"${l3vni}"'"' "${LAB_DIR}/vxlan.sum")
[[ -z ${foreign} ]] || lab_fail "echoes crossed the underlay outside VNI ${l3vni}: ${foreign}"
if grep -Eq "^packets (100|200) " "${LAB_DIR}/vxlan.sum"; then
  lab_fail "packets crossed the underlay in a network's VNI: $(grep '^packets' "${LAB_DIR}/vxlan.sum")"
fi
lab_log "w2, w3 <-> outside (IPv4, IPv6, TTL 62): the outside host sees the workloads' own addresses; the underlay carried $(grep -c "^${l3vni} " "${LAB_DIR}/vxlan.sum") echoes in VNI ${l3vni}, none elsewhere ($(grep '^packets' "${LAB_DIR}/vxlan.sum" | tr '\n' ' '))"

# The border withdraws its default: the agents' IP-VRFs and tables lose it, the unreachable
# defaults answer again.
lab_frr_evpn_default_originate frr "${l3vni}" "${rmac4}" no
no_prefix() { # no_prefix AGENT PREFIX: AGENT's IP-VRF does not list PREFIX
  lab_isthmusctl "$1" show evpn prefix vni "${l3vni}" -o json | lab_check_json "
not any(ipaddress.ip_network(p['prefix']) == ipaddress.ip_network('$2') for p in j['prefixes'])"
}
for a in agent2 agent3; do
  for pfx in 0.0.0.0/0 ::/0; do
    lab_wait_for 30 "${a}: ${pfx} withdrawn" no_prefix "${a}" "${pfx}"
  done
  text=$(lab_isthmusctl "${a}" show evpn prefix vni "${l3vni}")
  grep -Eq "0\.0\.0\.0/0|::/0" <<<"${text}" && lab_fail "${a}: show evpn prefix still lists a default: ${text}"
done
rr_no_border_route() {
  lab_isthmusctl rr show bgp l2vpn evpn route-type 5 -o json |
    lab_check_json "not any(p['next_hop'] == '${border}' for r in j['routes'] for p in r['paths'])"
}
lab_wait_for 30 "rr: no type-5 route of the border left" rr_no_border_route
no_default() { ! lab_shows "^default via" lab_exec "$1" ip "$2" route show table "${table}"; }
for i in 2 3; do
  lab_wait_for 30 "host ${i}: no IPv4 default via the border in table ${table}" no_default "${i}" -4
  lab_wait_for 30 "host ${i}: no IPv6 default via the border in table ${table}" no_default "${i}" -6
  for fam in -4 -6; do
    lab_shows "^unreachable default .*metric ${unreachable_metric}" lab_exec "${i}" ip "${fam}" route show table "${table}" ||
      lab_fail "host ${i}: the unreachable default (${fam}) is gone from table ${table}: $(lab_exec "${i}" ip "${fam}" route show table "${table}")"
  done
done
expect_unreachable "after the border withdrew its default"
lab_log "PASS"
