#!/usr/bin/env bash
# Egress NAT per network (networks[].nat_outgoing) and the node's own packets routed by the
# connection's VRF (docs/architecture.md, "Packet filtering and NAT"):
#   - a workload of a NAT network reaches a host outside (behind a router of the underlay, not
#     through the tenant), IPv4 and IPv6, ping and TCP, and the outside host sees the node's
#     underlay address as source; workloads of networks without NAT (the same tenant on the other
#     node, another tenant on the same node) do not reach it;
#   - the NAT network's workload still reaches its tenant's other network on the other node
#     through the L3 VNI with its own address, and is refused another tenant's network on its own
#     node, other nodes' underlay addresses and the underlay router;
#   - two tenants with the same subnet and the same workload address on one node: each
#     workload's connection to a service of the node on its gateway address is answered, the
#     node's replies routed by the connection's mark in the tenant's own table (IPv4, IPv6);
#   - an agent restart keeps NAT working without a lost packet (the table is replaced, not
#     deleted first), and an agent without tenant and NAT network removes the table and its rules.
#   h1 route reflector; h2 agent: blue (VNI 100, tenant1, nat_outgoing), orange (VNI 400, tenant2,
#   the same subnets as blue: o2 with w2's address, p2), yellow (VNI 600, tenant2); h3 agent: red
#   (VNI 200, tenant1); h4 an underlay router (198.18.0.4) to the outside host "out" (198.19.0.10,
#   fd00:19::10).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
command -v nft >/dev/null || lab_fail "nft (Debian package nftables) is needed to read the agent's table"
lab_underlay 4

# The outside: behind h4, which routes for it; the agents' nodes route to it through h4.
lab_outside_host 4 out0 out 198.19.0.1/24 fd00:19::1/64 198.19.0.10/24 fd00:19::10/64
lab_exec 4 sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
for h in 2 3; do
  ip -n "$(lab_ns "${h}")" route add 198.19.0.0/24 via 198.18.0.4
  ip -n "$(lab_ns "${h}")" -6 route add fd00:19::/64 via fd00:18::4
done

agent2_conf() { # agent2_conf NAT: h2's configuration, blue with nat_outgoing NAT
  lab_agent_conf 2 <<YAML
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, subnet6: "fd00:64:1::/64", vrf: tenant1,
      nat_outgoing: $1, pool: 100.64.1.0/26, pool6: "fd00:64:1::/112" }
  - { name: orange, vni: 400, subnet: 100.64.1.0/24, subnet6: "fd00:64:1::/64", vrf: tenant2,
      pool: 100.64.1.0/26, pool6: "fd00:64:1::/112" }
  - { name: yellow, vni: 600, subnet: 100.64.6.0/24, vrf: tenant2, pool: 100.64.6.0/26 }
vrfs: [{ name: tenant1, l3vni: 5001 }, { name: tenant2, l3vni: 5002 }]
YAML
}
lab_isthmus_rr_start 1 2 3
lab_isthmusd_start 2 agent2 "$(agent2_conf true)"
lab_isthmusd_start 3 agent3 "$(lab_agent_conf 3 <<YAML
  - { name: red, vni: 200, subnet: 100.64.2.0/24, subnet6: "fd00:64:2::/64", vrf: tenant1,
      pool: 100.64.2.64/26, pool6: "fd00:64:2::1:0/112" }
vrfs: [{ name: tenant1, l3vni: 5001 }]
YAML
)"
lab_wait_for 60 "agent 2 Established with the route reflector" lab_isthmus_established agent2 198.18.0.1
lab_wait_for 60 "agent 3 Established with the route reflector" lab_isthmus_established agent3 198.18.0.1
# The same address in both tenants: w2 (blue, tenant1) and o2 (orange, tenant2).
lab_attach_workload 2 100 w2 100.64.1.12/24 fd00:64:1::12/64
lab_attach_workload 2 400 o2 100.64.1.12/24 fd00:64:1::12/64
lab_attach_workload 2 400 p2 100.64.1.13/24
lab_attach_workload 2 600 y2 100.64.6.12/24
lab_attach_workload 3 200 r3 100.64.2.12/24 fd00:64:2::12/64
w() { ip netns exec "$(lab_ns "$1")" "${@:2}"; }

nft_table() { lab_exec 2 nft list table inet isthmus; }
dump_nat() {
  local h
  for h in 2 3; do
    echo "===== host ${h}: ip rule, nft, conntrack counters"
    lab_exec "${h}" ip rule || true
    lab_exec "${h}" ip -6 rule || true
    lab_exec "${h}" nft list ruleset || true
    lab_exec "${h}" ip route get 198.19.0.10 from 100.64.1.12 iif br100 || true
    lab_exec "${h}" conntrack -L 2>/dev/null || true
  done
}
lab_on_fail dump_nat
lab_wait_for 20 "agent 2's nftables table" nft_table
lab_shows 'masquerade' nft_table || lab_fail "agent 2's table has no masquerade rule: $(nft_table)"
lab_shows '^[0-9]+:.*fwmark 0x1389/0xffffff lookup 1224741769' lab_exec 2 ip rule ||
  lab_fail "agent 2 has no fwmark rule for tenant1: $(lab_exec 2 ip rule)"
lab_shows '^[0-9]+:.*fwmark 0x1389/0xffffff lookup 1224741769' lab_exec 2 ip -6 rule ||
  lab_fail "agent 2 has no IPv6 fwmark rule for tenant1: $(lab_exec 2 ip -6 rule)"
lab_shows '^20001:.*iif br100 lookup main' lab_exec 2 ip rule ||
  lab_fail "agent 2 has no rule from blue into main: $(lab_exec 2 ip rule)"
lab_shows '^20000:.*iif br100 lookup 1241518985$' lab_exec 2 ip rule ||
  lab_fail "blue's rule does not go into tenant1's NAT table: $(lab_exec 2 ip rule)"
# Red's subnet comes from host 3 over EVPN (type 5): wait for it.
nat_table_has_red() { lab_shows '^100.64.2.0/24 via 198.18.0.3 dev br5001' lab_exec 2 ip route show table 1241518985; }
lab_poll 30 nat_table_has_red ||
  lab_fail "tenant1's NAT table lacks red's subnet: $(lab_exec 2 ip route show table 1241518985)"
lab_shows 'default' lab_exec 2 ip route show table 1241518985 &&
  lab_fail "tenant1's NAT table has a default route"
lab_shows masquerade lab_exec 3 nft list table inet isthmus &&
  lab_fail "agent 3 (no NAT network) masquerades"

# Services: the outside host and r3 answer with the peer address they see; the node answers on
# its gateway addresses (which blue and orange share) with the address it sees.
serve() { # serve HOST NAME SOCAT-LISTEN-ADDRESS
  # shellcheck disable=SC2016 # expanded by the shell socat starts, with socat's variable
  lab_spawn "$1" "$2" socat "$3" 'SYSTEM:echo "$SOCAT_PEERADDR"'
}
serve out out-tcp "TCP4-LISTEN:7070,bind=198.19.0.10,reuseaddr,fork"
serve out out-tcp6 "TCP6-LISTEN:7070,bind=[fd00:19::10],ipv6only=1,reuseaddr,fork"
serve r3 r3-tcp "TCP4-LISTEN:9090,reuseaddr,fork"
serve 2 node-tcp "TCP4-LISTEN:8080,bind=100.64.1.1,reuseaddr,fork"
serve 2 node-tcp6 "TCP6-LISTEN:8080,bind=[fd00:64:1::1],reuseaddr,fork"
listening() { # listening HOST PORT
  lab_shows LISTEN lab_exec "$1" ss -Hltn "sport = :$2"
}
for s in "out 7070" "r3 9090" "2 8080"; do
  # shellcheck disable=SC2086
  lab_wait_for 10 "a listener on ${s}" listening ${s}
done
ask() { # ask NS SOCAT-ADDRESS: the peer address the service saw (empty: no answer within 3 s;
  # nothing is sent, so the service closes with nothing unread: a FIN, not a reset that could
  # overtake its answer); socat writes IPv6 addresses in full and in brackets, printed here as
  # usual ("fd00:18::2")
  local got
  got=$(ip netns exec "$(lab_ns "$1")" timeout 5 socat -T3 -u "$2" STDOUT 2>>"${LAB_DIR}/ask.log" || true)
  [[ -n ${got} ]] || return 0
  python3 -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.argv[1].strip("[]")))' "${got}" ||
    echo "${got}"
}

# Egress NAT: blue's workload reaches the outside, seen as its node's underlay address.
lab_wait_for 10 "w2 pings the outside host" w w2 ping -c1 -W1 198.19.0.10
lab_wait_for 10 "w2 pings the outside host (IPv6)" w w2 ping -c1 -W1 fd00:19::10
lab_assert_eq "the outside host's view of w2 (TCP)" "$(ask w2 TCP4:198.19.0.10:7070)" 198.18.0.2
lab_assert_eq "the outside host's view of w2 (TCP, IPv6)" "$(ask w2 "TCP6:[fd00:19::10]:7070")" fd00:18::2
# A capture at the outside host: every echo request of w2 comes from the node's address.
lab_spawn out out-capture tcpdump -l -n -i eth0 'icmp[icmptype] == icmp-echo'
lab_wait_for 10 "the capture at the outside host runs" grep -q 'listening on' "${LAB_DIR}/out-capture.log"
w w2 ping -c3 -i 0.2 -W1 198.19.0.10 >/dev/null || lab_fail "w2 lost pings to the outside host"
captured() { [[ $(grep -c 'ICMP echo request' "${LAB_DIR}/out-capture.log") -ge 3 ]]; }
lab_wait_for 5 "three echo requests at the outside host" captured
grep 'ICMP echo request' "${LAB_DIR}/out-capture.log" | grep -qv '198.18.0.2 > 198.19.0.10' &&
  lab_fail "the outside host saw an echo request from elsewhere than 198.18.0.2: $(cat "${LAB_DIR}/out-capture.log")"
lab_stop out-capture
lab_log "w2 (blue, nat_outgoing) reaches the outside host as 198.18.0.2 / fd00:18::2 (ping, TCP)"
shows_nat() { # shows_nat BOOL: show network lists blue in tenant1 with nat_outgoing BOOL
  local nets
  nets=$(lab_isthmusctl agent2 show network -o json)
  lab_check_json "{n['name']: (n['vrf'], n['nat_outgoing']) for n in j}['blue'] == ('tenant1', $1)" <<<"${nets}" ||
    lab_fail "show network: blue is not in tenant1 with nat_outgoing $1: ${nets}"
}
shows_nat True
lab_shows "^blue +100 +tenant1 .* yes +yes " lab_isthmusctl agent2 show network ||
  lab_fail "show network (text): blue's row lacks tenant1 or NAT yes: $(lab_isthmusctl agent2 show network)"

# The tenant's own routes come first: w2 reaches red on h3 with its own address, not NATed.
lab_wait_for 20 "w2 pings r3 through the L3 VNI" w w2 ping -c1 -W1 100.64.2.12
lab_assert_eq "r3's view of w2" "$(ask w2 TCP4:100.64.2.12:9090)" 100.64.1.12

unreachable() { # unreachable W DST: W's pings to DST get no reply
  local out
  out=$(w "$1" ping -c2 -i 0.3 -W1 "$2" 2>&1) && return 1
  grep -q ' 0 received' <<<"${out}"
}
# Networks without NAT: the outside stays out of reach.
unreachable r3 198.19.0.10 || lab_fail "r3 (red, no NAT) reaches the outside host"
unreachable o2 198.19.0.10 || lab_fail "o2 (orange, tenant2, no NAT) reaches the outside host"
unreachable y2 198.19.0.10 || lab_fail "y2 (yellow, tenant2, no NAT) reaches the outside host"
[[ -z $(ask r3 TCP4:198.19.0.10:7070) ]] || lab_fail "r3 (no NAT) reached the outside host's service"
# Isolation stays for the NAT network: not another tenant's network on its node (main's route
# to it is refused), not the underlay of other nodes or the underlay router.
out=$(w w2 ping -c1 -W2 100.64.6.12 2>&1) && lab_fail "w2 (tenant1) reaches y2 (tenant2) through NAT"
grep -q 'Unreachable\|Prohibited\|filtered' <<<"${out}" || lab_fail "w2's ping of y2 is not refused: ${out}"
unreachable w2 100.64.6.12 || lab_fail "w2 (tenant1) reaches y2 (tenant2)"
# Nor tenant2's workload in the subnet that both tenants have here (it exists: o2 reaches it).
w o2 ping -c1 -W2 100.64.1.13 >/dev/null || lab_fail "o2 cannot ping p2 (orange, the same network)"
unreachable w2 100.64.1.13 || lab_fail "w2 (tenant1) reaches p2 (tenant2) in the subnet both tenants have"
unreachable w2 198.18.0.3 || lab_fail "w2 reaches node 3's underlay address"
unreachable w2 198.18.0.4 || lab_fail "w2 reaches the underlay router"
unreachable w2 fd00:18::3 || lab_fail "w2 reaches node 3's underlay address (IPv6)"
lab_log "networks without NAT do not reach the outside; NAT leaves other tenants and the underlay out"

# The node's answers go to the tenant they answer: w2 and o2 have the same address, and each
# gets the node's reply on its gateway (main alone would send both to one bridge). Each
# connection from a port of its own: the node's TCP has no VRF, so the same address and port of
# two tenants are one connection to it (and fresh namespaces pick the same first ephemeral port).
port=40000
for a in TCP4:100.64.1.1:8080 "TCP6:[fd00:64:1::1]:8080"; do
  for c in w2 o2; do
    for _ in 1 2 3; do
      port=$((port + 1))
      got=$(ask "${c}" "${a},sourceport=${port}")
      [[ ${got} == 100.64.1.12 || ${got} == fd00:64:1::12 ]] ||
        lab_fail "${c} got no answer from the node's service on ${a} (got '${got}')"
    done
  done
done
w w2 ping -c2 -i 0.2 -W1 100.64.1.1 >/dev/null || lab_fail "w2 cannot ping its gateway"
w o2 ping -c2 -i 0.2 -W1 100.64.1.1 >/dev/null || lab_fail "o2 cannot ping its gateway"
w w2 ping -c2 -i 0.2 -W1 fd00:64:1::1 >/dev/null || lab_fail "w2 cannot ping its gateway (IPv6)"
w o2 ping -c2 -i 0.2 -W1 fd00:64:1::1 >/dev/null || lab_fail "o2 cannot ping its gateway (IPv6)"
lab_log "the node answers each tenant's workload with the same address (TCP, ping, IPv4, IPv6)"

# Restart: the table is replaced with the same contents in one transaction, NAT goes on.
lab_spawn w2 w2-pings ping -i 0.05 -c 200 -W1 198.19.0.10
pings=${LAB_LAST_PID}
lab_wait_for 10 "w2's pings to the outside run" grep -q 'bytes from' "${LAB_DIR}/w2-pings.log"
lab_isthmusd_restart agent2
lab_wait_for 60 "agent 2 Established again" lab_isthmus_established agent2 198.18.0.1
wait "${pings}" || true
lab_shows ' 200 received' cat "${LAB_DIR}/w2-pings.log" ||
  lab_fail "w2 lost pings to the outside host while agent 2 restarted: $(tail -3 "${LAB_DIR}/w2-pings.log")"
lab_log "agent 2 restarted: 200/200 pings through NAT"

# Without NAT, blue is refused the outside again; without tenants and NAT the table goes.
lab_stop agent2
lab_isthmusd_start 2 agent2 "$(agent2_conf false)"
no_masquerade() { ! lab_shows masquerade nft_table; }
lab_wait_for 20 "agent 2's table without masquerade" no_masquerade
lab_never 1 "w2 reaches the outside host without nat_outgoing" w w2 ping -c1 -W1 198.19.0.10
shows_nat False
lab_shows '^20001:' lab_exec 2 ip rule && lab_fail "the rule into main outlived nat_outgoing"
lab_stop agent2
lab_isthmusd_start 2 agent2 "$(lab_agent_conf 2 <<YAML
  - { name: green, vni: 300, subnet: 100.64.3.0/24, vrf: office, pool: 100.64.3.0/26 }
YAML
)"
no_table() { ! nft_table; }
lab_wait_for 20 "agent 2 without tenant or NAT network deletes its table" no_table
lab_shows 'fwmark' lab_exec 2 ip rule && lab_fail "fwmark rules outlived the tenants: $(lab_exec 2 ip rule)"
lab_shows 'fwmark' lab_exec 2 ip -6 rule && lab_fail "IPv6 fwmark rules outlived the tenants"
lab_log "PASS: egress NAT, isolation, the node's answers by tenant, restart, removal"
