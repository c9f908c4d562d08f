#!/usr/bin/env bash
# What a workload reaches on its own node and what the node reaches of it, by default
# (docs/configuration.md, "What a workload reaches"):
#   - a service of the node on the anycast gateway address (a UDP "DNS" and a TCP service bound
#     to 100.64.1.1): reachable, as is every local address of the node, its underlay address
#     too (the kernel's local table is looked up before the tenant's rules);
#   - the node to the workload (a health check): ping and TCP from the node's own namespace,
#     through main's connected route of the bridge;
#   - the underlay and other nodes: not reachable (the tenant's table ends in an unreachable
#     default), for a tenant with an L3 VNI and for a VRF routed at the node only.
#   h1 route reflector; h2 agent: blue (VNI 100, tenant1 with L3 VNI 5001), green (VNI 300,
#   undeclared VRF "office"); h3 a plain underlay host (198.18.0.3) with a TCP service.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 3

lab_isthmus_rr_start 1 2
lab_isthmusd_start 2 agent2 "$(lab_agent_conf 2 <<YAML
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, subnet6: "fd00:64:1::/64", vrf: tenant1 }
  - { name: green, vni: 300, subnet: 100.64.3.0/24, vrf: office }
vrfs: [{ name: tenant1, l3vni: 5001 }]
YAML
)"
lab_wait_for 60 "agent 2 Established with the route reflector" lab_isthmus_established agent2 198.18.0.1
lab_attach_workload 2 100 w2 100.64.1.12/24 fd00:64:1::12/64
lab_attach_workload 2 300 g2 100.64.3.12/24
w() { ip netns exec "$(lab_ns "$1")" "${@:2}"; }

# Services: on the node, bound to blue's gateway addresses; in w2; on the underlay host h3.
serve() { # serve HOST REPLY LISTEN-ADDRESS: a socat in HOST that answers REPLY. What the client
  # sends is read (a cat of its own) so that socat never writes into a pipe whose reader is gone
  # (EPIPE would end it before the answer goes out).
  lab_spawn "$1" "$2" socat "$3" "SYSTEM:cat >/dev/null & echo $2"
}
serve 2 node-dns "UDP4-RECVFROM:5353,bind=100.64.1.1,fork"
serve 2 node-tcp "TCP4-LISTEN:8080,bind=100.64.1.1,reuseaddr,fork"
serve 2 node-tcp6 "TCP6-LISTEN:8080,bind=[fd00:64:1::1],reuseaddr,fork"
serve w2 w2-health "TCP4-LISTEN:9090,reuseaddr,fork"
serve 3 underlay-host "TCP4-LISTEN:7070,bind=198.18.0.3,reuseaddr,fork"
listening() { # listening HOST SS-FLAGS PORT: a socket of HOST listens on PORT
  [[ -n $(ip netns exec "$(lab_ns "$1")" ss "-H$2" "sport = :$3") ]]
}
lab_wait_for 10 "the node's UDP service" listening 2 lun 5353
lab_wait_for 10 "the node's TCP services" listening 2 ltn 8080
lab_wait_for 10 "w2's TCP service" listening w2 ltn 9090
lab_wait_for 10 "the underlay host's TCP service" listening 3 ltn 7070
ask() { # ask NS SOCAT-ADDRESS: what the service answers (empty: nothing within 2 s). UDP sends a
  # datagram and waits for the answer after its end is closed (-t2: socat's 0.5 s default is
  # shorter than a forked answer on a loaded machine); TCP sends nothing, so the service closes
  # with nothing unread: a FIN, not a reset that could overtake its answer.
  if [[ $2 == UDP* ]]; then
    echo hello | ip netns exec "$1" timeout 3 socat -t2 -T2 - "$2" 2>/dev/null || true
  else
    ip netns exec "$1" timeout 3 socat -T2 -u "$2" STDOUT 2>/dev/null || true
  fi
}
answers() { # answers NS SOCAT-ADDRESS REPLY: the service there answers REPLY (polled: a busy
  # machine may be slow to fork the first answer)
  [[ $(ask "$1" "$2") == "$3" ]]
}

# The workload reaches its node's services on the gateway addresses.
lab_wait_for 15 "w2 gets an answer from the node's UDP service on its gateway 100.64.1.1" answers "$(lab_ns w2)" UDP4:100.64.1.1:5353 node-dns
lab_wait_for 15 "w2 reaches the node's TCP service on 100.64.1.1" answers "$(lab_ns w2)" TCP4:100.64.1.1:8080 node-tcp
lab_wait_for 15 "w2 reaches the node's TCP service on fd00:64:1::1" answers "$(lab_ns w2)" "TCP6:[fd00:64:1::1]:8080" node-tcp6
w w2 ping -c1 -W2 100.64.1.1 >/dev/null || lab_fail "w2 cannot ping its gateway"
w g2 ping -c1 -W2 100.64.3.1 >/dev/null || lab_fail "g2 cannot ping its gateway"
# Every local address of the node is: the kernel's local table comes before the tenant's rules.
w w2 ping -c1 -W2 198.18.0.2 >/dev/null || lab_fail "w2 cannot reach its node's underlay address (the local table)"
lab_log "w2 reaches the node's services on its gateway addresses (UDP, TCP, IPv6) and the node's own addresses"

# The node reaches the workload: a health check from the node's own namespace.
lab_exec 2 ping -c1 -W2 100.64.1.12 >/dev/null || lab_fail "the node cannot ping w2"
lab_exec 2 ping -c1 -W2 fd00:64:1::12 >/dev/null || lab_fail "the node cannot ping w2 (IPv6)"
lab_wait_for 15 "the node reaches w2's TCP service" answers "$(lab_ns 2)" TCP4:100.64.1.12:9090 w2-health
lab_exec 2 ping -c1 -W2 100.64.3.12 >/dev/null || lab_fail "the node cannot ping g2"
lab_log "the node reaches its workloads (ping, TCP, IPv6)"

# Not the underlay: another host's address is unreachable from both kinds of VRF, and the
# underlay host's service gets nothing.
unreachable() { # unreachable W DST: W's pings to DST get no reply (none crosses: the tenant's
  # table answers with its unreachable default)
  local out
  out=$(w "$1" ping -c2 -i 0.3 -W1 "$2" 2>&1) && return 1
  grep -q ' 0 received' <<<"${out}"
}
# The first refusal is answered by the gateway (later ones may not be: the kernel limits the ICMP
# errors it sends a host, icmp_ratelimit).
out=$(w w2 ping -c1 -W2 198.18.0.3 2>&1) && lab_fail "w2 reaches the underlay host 198.18.0.3"
grep -q 'From 100.64.1.1 .*Unreachable' <<<"${out}" || lab_fail "w2's gateway does not answer unreachable for 198.18.0.3: ${out}"
unreachable w2 198.18.0.3 || lab_fail "w2 (tenant1) is not refused the underlay host 198.18.0.3"
unreachable g2 198.18.0.3 || lab_fail "g2 (office) is not refused the underlay host 198.18.0.3"
unreachable w2 198.18.0.1 || lab_fail "w2 is not refused the route reflector 198.18.0.1"
[[ -z $(ask "$(lab_ns w2)" TCP4:198.18.0.3:7070) ]] || lab_fail "w2 reached a service on the underlay host"
lab_wait_for 15 "the underlay service itself answers (so the check above proves something)" answers "$(lab_ns 2)" TCP4:198.18.0.3:7070 underlay-host
# Nor the other VRF's network on the same node.
unreachable w2 100.64.3.12 || lab_fail "w2 (tenant1) is not refused g2 (office)"
lab_log "PASS: node services on the gateway and health checks reach; the underlay and other VRFs do not"
