#!/usr/bin/env bash
# A gateway of a tenant that speaks no EVPN: BIRD 2.0.12 on a plain eBGP session per family
# (IPv4 and IPv6 unicast) with the isthmusd node agent of h2, on a link of the tenant (VRF-lite
# handoff). The agent sends it the tenant's subnets (export policy: the overlay's prefixes, up to
# /24 and /64), and installs the default routes it sends in the tenant's table; the other agent
# (h3) gets them as type-5 routes from h2 and routes its workloads' outside traffic through h2.
#   h1 isthmusd RR 198.18.0.1
#   h2 agent 198.18.0.2: blue (VNI 100, 100.64.1.0/24, fd00:64:1::/64), workload w2 .12 / ::12;
#      green (VNI 300, 100.64.3.0/24, nat_outgoing: the agent's NAT must leave the gateway alone);
#      gw0 to the router: 198.19.1.2/24, fd00:19:1::2/64, neighbors 198.19.1.1 and fd00:19:1::1
#      (AS 65100) of VRF tenant1 (L3 VNI 5001)
#   h3 agent 198.18.0.3: red (VNI 200, 100.64.2.0/24, fd00:64:2::/64), workload w3 .13 / ::13
#   gw BIRD (AS 65100), eth0 to h2 .1 / ::1; eth1 to the outside host "out": 100.127.0.0/24 and
#      fd00:ffff::/64, BIRD .1 / ::1, the outside host .10 / ::10. BIRD exports static default
#      routes (blackhole in BIRD, never in its kernel) and puts what it learns into its kernel.
# Checks: sessions up; BIRD holds both agents' subnets (h3's imported from EVPN at h2) with AS
# path 65000 and no host route, nothing else; `show bgp vrf tenant1` on h2 lists the defaults
# from BIRD as best, its own subnet and h3's imported one; h2's tenant table has the defaults via
# BIRD's address on gw0 (onlink) and a rule routes what arrives on gw0 in it; h3's IP-VRF and
# table have the defaults from VTEP 198.18.0.2 with BIRD's AS path; w2 and w3 ping the outside
# host (TTL 62 and 61: routed at each hop), and it pings them. BIRD withdraws its defaults: they
# leave both agents' tables and the workloads' gateways answer "unreachable" again. Before that,
# agent 2 is killed and started again under continuous pings through the gateway: none is lost.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 3

l3vni=5001
table=$((0x49000000 + l3vni))      # the tenant's routing table (kTableBase + L3 VNI)
unreachable_metric=4278198272      # the agents' unreachable defaults (kUnreachableMetric)
rmac2=02:00:c6:12:00:02            # h2's router MAC: 02:00 + router ID
out4=100.127.0.10                  # the outside host
out6=fd00:ffff::10

dump_kernels() {
  local i
  for i in 2 3 gw out; do
    echo "===== host ${i}: addresses, rules, routes"
    lab_exec "${i}" ip addr show
    lab_exec "${i}" ip -4 rule show
    lab_exec "${i}" ip -6 rule show
    lab_exec "${i}" ip -4 route show table all
    lab_exec "${i}" ip -6 route show table all
  done
  lab_birdc bird show protocols all
  lab_birdc bird show route all
  local a
  for a in agent2 agent3; do
    echo "===== ${a}: show evpn prefix vni ${l3vni}"
    lab_isthmusctl "${a}" show evpn prefix vni "${l3vni}" -o json
  done
  for f in ipv4 ipv6; do
    echo "===== agent2: show bgp vrf tenant1 ${f}"
    lab_isthmusctl agent2 show bgp vrf tenant1 "${f}" -o json
  done
  lab_isthmusctl agent2 show bgp neighbors -o json
}
lab_on_fail dump_kernels

# The router and the outside host behind it.
lab_host gw
lab_link 2 gw0 gw eth0
lab_addr_add 2 198.19.1.2/24 gw0
lab_addr_add 2 fd00:19:1::2/64 gw0
lab_addr_add gw 198.19.1.1/24 eth0
lab_addr_add gw fd00:19:1::1/64 eth0
lab_outside_host gw eth1 out 100.127.0.1/24 fd00:ffff::1/64 "${out4}/24" "${out6}/64"
ip netns exec "$(lab_ns gw)" sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1
lab_bird_start gw bird "$(cat <<CONF
router id 198.19.1.1;
log "${LAB_DIR}/bird-events.log" all;
protocol device { scan time 1; }
protocol kernel k4 { ipv4 { import none; export where source = RTS_BGP; }; }
protocol kernel k6 { ipv6 { import none; export where source = RTS_BGP; }; }
protocol static s4 { ipv4; route 0.0.0.0/0 blackhole; }
protocol static s6 { ipv6; route ::/0 blackhole; }
template bgp tenant {
  local as 65100;
  hold time 9;
  connect retry time 1;
  error wait time 1, 5;
}
protocol bgp t4 from tenant {
  local 198.19.1.1;
  neighbor 198.19.1.2 as 65000;
  ipv4 { import all; export where source = RTS_STATIC; };
}
protocol bgp t6 from tenant {
  local fd00:19:1::1;
  neighbor fd00:19:1::2 as 65000;
  ipv6 { import all; export where source = RTS_STATIC; };
}
CONF
)"

# The agents: h2 with the gateway, h3 without.
lab_isthmus_rr_start 1 2 3
agent2_networks=$(lab_agent_conf 2 <<YAML
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, subnet6: "fd00:64:1::/64", vrf: tenant1,
      pool: 100.64.1.64/26, pool6: "fd00:64:1::1:0/112" }
  - { name: green, vni: 300, subnet: 100.64.3.0/24, vrf: tenant1, nat_outgoing: true,
      pool: 100.64.3.64/26 }
vrfs: [{ name: tenant1, l3vni: ${l3vni} }]
YAML
)
lab_isthmusd_start 2 agent2 "${agent2_networks}
    - { address: 198.19.1.1, remote_as: 65100, vrf: tenant1, interface: gw0,
        families: [ipv4-unicast], import: accept-all, export: tenant-out }
    - { address: \"fd00:19:1::1\", remote_as: 65100, vrf: tenant1, interface: gw0,
        families: [ipv6-unicast], import: accept-all, export: tenant-out }
prefix_lists:
  tenant-subnets:
    - { prefix: 100.64.0.0/10, le: 24 }
    - { prefix: \"fd00:64::/32\", le: 64 }
policies:
  tenant-out:
    - { match: { prefix_list: tenant-subnets }, then: accept }
    - { then: reject }"
lab_isthmusd_start 3 agent3 "$(lab_tenant_agent_conf 3 red 200 2 "${l3vni}")"
for peer in 198.18.0.2 198.18.0.3; do
  lab_wait_for 60 "rr: ${peer} Established" lab_isthmus_established rr "${peer}"
done
lab_wait_for 60 "agent2: 198.19.1.1 Established" lab_isthmus_established agent2 198.19.1.1
lab_wait_for 60 "agent2: fd00:19:1::1 Established" lab_isthmus_established agent2 fd00:19:1::1
lab_wait_for 60 "bird: t4 Established" lab_bird_established bird t4
lab_wait_for 60 "bird: t6 Established" lab_bird_established bird t6

# Workloads: each speaks to its gateway first, so that its agent advertises it.
lab_tenant_workload 2 100 w2 1 12
lab_tenant_workload 3 200 w3 2 13
w() { ip netns exec "$(lab_ns "$1")" "${@:2}"; }

# BIRD: both agents' subnets from h2 (AS path 65000), in its kernel via h2's address on the
# link; nothing else from h2 (no host routes, no default back, no underlay).
bird_has() { # bird_has PREFIX: BIRD's route for PREFIX came from h2 with AS path 65000
  local out
  out=$(lab_birdc bird show route for "$1" all)
  grep -qF "$1" <<<"${out}" && grep -q "BGP.as_path: 65000$" <<<"${out}"
}
for p in 100.64.1.0/24 100.64.2.0/24 fd00:64:1::/64 fd00:64:2::/64; do
  lab_wait_for 30 "bird has ${p} from h2 (AS path 65000)" bird_has "${p}"
done
for fam in 4 6; do
  routes=$(lab_birdc bird show route protocol "t${fam}")
  got=$(grep -Eo '^[0-9a-f:.]+/[0-9]+' <<<"${routes}" | sort | tr '\n' ' ')
  want="100.64.1.0/24 100.64.2.0/24 100.64.3.0/24 "
  [[ ${fam} == 6 ]] && want="fd00:64:1::/64 fd00:64:2::/64 "
  lab_assert_eq "bird: the routes of t${fam}" "${got}" "${want}"
done
lab_wait_for 30 "gw's kernel: 100.64.2.0/24 via 198.19.1.2" \
  lab_shows "^100\.64\.2\.0/24 via 198\.19\.1\.2 dev eth0 proto bird" lab_exec gw ip -4 route show
lab_log "BIRD holds the tenant's subnets (both agents') from h2, nothing else"

# h2's VRF table: the defaults from BIRD as best; its own subnet (local), h3's (imported from
# EVPN); no host route.
vrf_has() { # vrf_has FAMILY PREFIX FROM: PREFIX's best path in h2's tenant1 table is from FROM
  lab_isthmusctl agent2 show bgp vrf tenant1 "$1" -o json | lab_check_json "
any(ipaddress.ip_network(r['prefix']) == ipaddress.ip_network('$2') and
    any(p['best'] and p['from'] == '$3' for p in r['paths']) for r in j['routes'])"
}
for c in "ipv4 0.0.0.0/0 198.19.1.1" "ipv6 ::/0 fd00:19:1::1" "ipv4 100.64.1.0/24 local" \
  "ipv6 fd00:64:1::/64 local" "ipv4 100.64.2.0/24 imported" "ipv6 fd00:64:2::/64 imported"; do
  read -r fam pfx from <<<"${c}"
  lab_wait_for 30 "agent2: vrf tenant1 ${pfx} best from ${from}" vrf_has "${fam}" "${pfx}" "${from}"
done
for fam in ipv4 ipv6; do
  vrf=$(lab_isthmusctl agent2 show bgp vrf tenant1 "${fam}" -o json)
  lab_check_json "not any(ipaddress.ip_network(r['prefix']).prefixlen in (32, 128) for r in j['routes'])" \
    <<<"${vrf}" || lab_fail "agent2: host routes in vrf tenant1 ${fam}: ${vrf}"
done
text=$(lab_isthmusctl agent2 show bgp vrf tenant1 ipv4)
grep -q "0\.0\.0\.0/0" <<<"${text}" || lab_fail "agent2: show bgp vrf tenant1 ipv4 lacks the default: ${text}"
text=$(lab_isthmusctl agent2 show bgp neighbor 198.19.1.1)
grep -q "Gateway of VRF tenant1 on gw0" <<<"${text}" || lab_fail "agent2: show bgp neighbor 198.19.1.1: ${text}"
err=$(lab_isthmusctl agent2 show bgp vrf tenant9 ipv4 2>&1) && lab_fail "show bgp vrf tenant9 succeeded: ${err}"
grep -q "VRF tenant9 has no BGP neighbors (VRFs with neighbors: tenant1)" <<<"${err}" ||
  lab_fail "show bgp vrf tenant9: ${err}"

# h2's kernel: the defaults via BIRD on gw0 in the tenant's table, what arrives on gw0 routed
# there.
lab_wait_for 30 "host 2: default via 198.19.1.1 dev gw0 onlink in table ${table}" \
  lab_shows "^default via 198\.19\.1\.1 dev gw0 .*onlink" lab_exec 2 ip -4 route show table "${table}"
lab_wait_for 30 "host 2: default via fd00:19:1::1 dev gw0 onlink in table ${table}" \
  lab_shows "^default via fd00:19:1::1 dev gw0 .*onlink" lab_exec 2 ip -6 route show table "${table}"
for fam in -4 -6; do
  lab_shows "iif gw0 lookup ${table}" lab_exec 2 ip "${fam}" rule show ||
    lab_fail "host 2: no rule iif gw0 lookup ${table} (${fam}): $(lab_exec 2 ip "${fam}" rule show)"
done

# h3: the defaults as type-5 routes from h2 (its router MAC, BIRD's AS path) and in its table.
prefix_from_h2() { # prefix_from_h2 PREFIX
  lab_isthmusctl agent3 show evpn prefix vni "${l3vni}" -o json | lab_check_json "
any(ipaddress.ip_network(p['prefix']) == ipaddress.ip_network('$1') and
    any((r['vtep'], r['router_mac']) == ('198.18.0.2', '${rmac2}') for r in p['remote'])
    for p in j['prefixes'])"
}
for pfx in 0.0.0.0/0 ::/0; do
  lab_wait_for 30 "agent3: ${pfx} from VTEP 198.18.0.2" prefix_from_h2 "${pfx}"
done
evpn5=$(lab_isthmusctl agent3 show bgp l2vpn evpn route-type 5 -o json)
lab_check_json "
any(r['route'].endswith('[0.0.0.0]') and p['next_hop'] == '198.18.0.2' and p['as_path'] == '65100'
    for r in j['routes'] for p in r['paths'])" <<<"${evpn5}" ||
  lab_fail "agent3: the type-5 default from h2 does not carry BIRD's AS path 65100: ${evpn5}"
lab_wait_for 30 "host 3: default via 198.18.0.2 dev br5001 onlink in table ${table}" \
  lab_shows "^default via 198\.18\.0\.2 dev br5001 .*onlink" lab_exec 3 ip -4 route show table "${table}"
lab_wait_for 30 "host 3: default via ::ffff:198.18.0.2 dev br5001 onlink in table ${table}" \
  lab_shows "^default via ::ffff:198\.18\.0\.2 dev br5001 .*onlink" lab_exec 3 ip -6 route show table "${table}"
lab_log "h2 installs BIRD's defaults on gw0 and advertises them as type 5; h3 routes them to h2"

# The workloads reach the outside host and back, routed at every hop.
ttl_of() { sed -n 's/.* ttl=\([0-9]*\).*/\1/p' <<<"$1" | sort -u; }
ping_ok() { w "$1" ping "-$2" -c1 -W1 "$3" >/dev/null 2>&1; }
for c in "w2 100.64.1.12 fd00:64:1::12 62" "w3 100.64.2.13 fd00:64:2::13 61"; do
  read -r name a4 a6 ttl <<<"${c}"
  for fam in 4 6; do
    dst=${out4} src=${a4}
    [[ ${fam} == 6 ]] && dst=${out6} src=${a6}
    lab_wait_for 30 "${name} pings the outside host ${dst}" ping_ok "${name}" "${fam}" "${dst}"
    out=$(w "${name}" ping "-${fam}" -c2 -i0.2 -W2 "${dst}") || lab_fail "${name} -> ${dst}: ${out}"
    lab_assert_eq "${name} -> ${dst}: TTL of the replies" "$(ttl_of "${out}")" "${ttl}"
    out=$(lab_exec out ping "-${fam}" -c2 -i0.2 -W2 "${src}") || lab_fail "out -> ${name} (${src}): ${out}"
    lab_assert_eq "out -> ${name} (${src}): TTL of the replies" "$(ttl_of "${out}")" "${ttl}"
  done
done
# Through the tenant's gateway the workloads keep their addresses, also beside a nat_outgoing
# network of the tenant (green at h2: the agent's nftables table NATs what leaves the VRFs, not
# what goes to their gateways, and lets new connections in from the gateway's link).
lab_spawn out peer-echo socat TCP4-LISTEN:7000,reuseaddr,fork "SYSTEM:echo \$SOCAT_PEERADDR"
lab_wait_for 10 "the outside host's peer-address service listens" \
  lab_shows ":7000" ip netns exec "$(lab_ns out)" ss -Hltn
seen_as() { [[ $(w "$1" timeout 3 socat -T2 -u "TCP4:${out4}:7000" STDOUT 2>/dev/null) == "$2" ]]; }
lab_wait_for 15 "the outside host sees w2 as 100.64.1.12" seen_as w2 100.64.1.12
lab_wait_for 15 "the outside host sees w3 as 100.64.2.13" seen_as w3 100.64.2.13
lab_shows masquerade lab_exec 2 nft list table inet isthmus ||
  lab_fail "host 2's nftables table has no masquerade (green's nat_outgoing): $(lab_exec 2 nft list table inet isthmus)"
lab_log "w2 and w3 <-> the outside host through BIRD, IPv4 and IPv6 (its own addresses: no NAT)"

# Graceful restart (RFC 4724) across the gateway: agent 2 is killed (SIGKILL) and started again
# while w2, w3 and the outside host ping each other, 20 per second: not one packet is lost. BIRD
# keeps h2's routes as stale (isthmusd lists ipv4/ipv6-unicast with the F bit to a neighbor of a
# VRF on a node agent), the kernel keeps the tenant's table and rule, and the restarted agent
# waits for BIRD's End-of-RIB as for the route reflector's.
for pair in "w2 ${out4}" "w2 ${out6}" "w3 ${out4}" "w3 ${out6}" "out 100.64.1.12" "out fd00:64:2::13"; do
  read -r from to <<<"${pair}"
  lab_ping_start "${from}-${to}" "$(lab_ns "${from}")" 400 "${to}"
done
sleep 2
log_has() { grep -Eq -- "$2" "${LAB_DIR}/$1.log"; }
lab_stop agent2 KILL
lab_log "agent 2 killed (SIGKILL)"
lab_shows "^default via 198\.19\.1\.1 dev gw0" lab_exec 2 ip -4 route show table "${table}" ||
  lab_fail "host 2 lost the gateway's default when its agent died"
lab_isthmusd_start 2 agent2 "$(cat "${LAB_DIR}/agent2.yaml")"
lab_wait_for 30 "agent2: 198.19.1.1 Established again" lab_isthmus_established agent2 198.19.1.1
lab_wait_for 30 "agent2: fd00:19:1::1 Established again" lab_isthmus_established agent2 fd00:19:1::1
lab_wait_for 30 "agent 2: routes complete (End-of-RIB from the RR and BIRD)" \
  log_has agent2 "routes of l2vpn-evpn complete: End-of-RIB from every peer"
# Not before BIRD's End-of-RIB for both families (the restarted agent waited for them).
awk '/End-of-RIB for ipv4-unicast/ {v4 = NR} /End-of-RIB for ipv6-unicast/ {v6 = NR}
     /routes of l2vpn-evpn complete/ {done = NR}
     END { exit !(v4 && v6 && done > v4 && done > v6) }' "${LAB_DIR}/agent2.log" ||
  lab_fail "agent 2's routes were complete before BIRD's End-of-RIB: $(cat "${LAB_DIR}/agent2.log")"
lab_log "agent 2 restarted; waiting for the pings to end"
lab_pings_check
for c in "ipv4 0.0.0.0/0 198.19.1.1" "ipv6 ::/0 fd00:19:1::1"; do
  read -r fam pfx from <<<"${c}"
  lab_wait_for 30 "agent2 (restarted): vrf tenant1 ${pfx} best from ${from}" vrf_has "${fam}" "${pfx}" "${from}"
done
lab_log "no packet lost across agent 2's restart (SIGKILL), through the gateway, IPv4 and IPv6"

# BIRD withdraws its defaults: gone from both agents' tables, unreachable again.
lab_birdc bird disable s4 >/dev/null
lab_birdc bird disable s6 >/dev/null
no_default() { ! lab_shows "^default via" lab_exec "$1" ip "$2" route show table "${table}"; }
for i in 2 3; do
  lab_wait_for 30 "host ${i}: no IPv4 default left in table ${table}" no_default "${i}" -4
  lab_wait_for 30 "host ${i}: no IPv6 default left in table ${table}" no_default "${i}" -6
  for fam in -4 -6; do
    lab_shows "^unreachable default .*metric ${unreachable_metric}" lab_exec "${i}" ip "${fam}" route show table "${table}" ||
      lab_fail "host ${i}: the unreachable default (${fam}) is gone from table ${table}"
  done
done
no_prefix() {
  lab_isthmusctl agent3 show evpn prefix vni "${l3vni}" -o json | lab_check_json "
not any(ipaddress.ip_network(p['prefix']) == ipaddress.ip_network('$1') for p in j['prefixes'])"
}
lab_wait_for 30 "agent3: 0.0.0.0/0 withdrawn" no_prefix 0.0.0.0/0
lab_wait_for 30 "agent3: ::/0 withdrawn" no_prefix ::/0
for c in "w2 1" "w3 2"; do
  read -r name n <<<"${c}"
  out=$(w "${name}" ping -c1 -W2 "${out4}" 2>&1) && lab_fail "${name} still reaches ${out4}: ${out}"
  grep -Eq "^From 100\.64\.${n}\.1 .*[Uu]nreachable" <<<"${out}" ||
    lab_fail "${name} -> ${out4}: no unreachable from its gateway: ${out}"
done
lab_log "PASS"
