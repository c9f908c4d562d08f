#!/usr/bin/env bash
# Port security (agent/port_guard.h) against an impostor: a podman container that takes another
# container's IP address, then its MAC as well, on another host. Nothing of it is advertised, no
# MAC moves (RFC 7432 §15 mobility would send the victim's traffic to the impostor's host), and
# the victim keeps its traffic.
#   h1 isthmusd RR 198.18.0.1
#   h2 agent 198.18.0.2 + podman: v2, the victim (blue)
#   h3 agent 198.18.0.3 + podman: c3, a client (blue), and i3, the impostor (blue, NET_ADMIN and
#      NET_RAW: it may reconfigure its own eth0, as a workload's root may)
# Checks, after each of the impostor's moves (its eth0 given v2's address and gratuitous ARPs,
# then v2's MAC too, pinging all along): the route reflector has no EVPN route of v2's MAC or
# address from h3; h3's bridge has not learned v2's MAC on i3's port; c3 (on h3, i3's neighbour)
# still reaches v2 (only v2 can answer: what i3 sends is dropped); h3's guard counted drops.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"
source "${HERE}/cni_lib.sh"
cni_private_mounts "$@"

for t in podman runc /bin/busybox nsenter nft; do
  command -v "${t}" >/dev/null || { echo "port_security: ${t} is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done

lab_init
lab_require_isthmus
ISTHMUS_CNI=${ISTHMUS_CNI:-$(dirname "${ISTHMUSD}")/isthmus-cni}
[[ -x ${ISTHMUS_CNI} ]] || lab_fail "isthmus-cni not found: set ISTHMUS_CNI, got '${ISTHMUS_CNI}'"
on_exit() {
  local rc=$?
  cni_podman_cleanup "2 3"
  (exit "${rc}")
  lab_cleanup
  cni_cleanup
}
trap on_exit EXIT

lab_underlay 3
agent_conf() { # agent_conf ID
  lab_agent_conf "$1" <<YAML
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, pool: 100.64.1.$((16 * $1))/28 }
YAML
}
lab_isthmus_rr_start 1 2 3
lab_isthmusd_start 2 agent2 "$(agent_conf 2)"
lab_isthmusd_start 3 agent3 "$(agent_conf 3)"
cni_podman_hosts "${LAB_DIR}/cni-bin" "2 3" "blue"
for peer in 198.18.0.2 198.18.0.3; do
  lab_wait_for 60 "rr: ${peer} Established" lab_isthmus_established rr "${peer}"
done

run() { # run I NAME ARGS...: a detached busybox container
  local i=$1 name=$2 out
  shift 2
  out=$(P "${i}" run -d --name "${name}" "$@" localhost/isthmus-busybox:test sleep 600 2>&1) ||
    lab_fail "podman run ${name} on host ${i}: ${out}"
}
inspect() { P "$1" inspect --format "$3" "$2"; }
run 2 v2 --network blue
run 3 c3 --network blue
run 3 i3 --network blue --cap-add NET_ADMIN --cap-add NET_RAW
ip_v2=$(inspect 2 v2 '{{(index .NetworkSettings.Networks "blue").IPAddress}}')
mac_v2=$(inspect 2 v2 '{{(index .NetworkSettings.Networks "blue").MacAddress}}')
mac_i3=$(inspect 3 i3 '{{(index .NetworkSettings.Networks "blue").MacAddress}}')
lab_log "victim v2 ${ip_v2} ${mac_v2} on h2; impostor i3 ${mac_i3} on h3"
pings() { P "$1" exec "$2" ping -c1 -W1 "$3" >/dev/null 2>&1; }
lab_wait_for 30 "c3 (h3) pings v2 (h2)" pings 3 c3 "${ip_v2}"

# The route reflector's EVPN routes from h3 (next hop 198.18.0.3) that carry v2's MAC or address.
from_h3() {
  lab_isthmusctl rr show bgp l2vpn evpn -o json | python3 -c '
import json, sys
mac, ip = sys.argv[1].lower(), sys.argv[2]
bad = [r["route"] for r in json.load(sys.stdin)["routes"] for p in r["paths"]
       if "198.18.0.3" in (p.get("from"), p.get("next_hop"))
       and (mac in r["route"].lower() or ip in r["route"].split(":") or ip in r["route"])]
print(json.dumps(bad))
' "${mac_v2}" "${ip_v2}"
}
# The route reflector has v2's MAC from h2 (so that from_h3 looks at the right routes).
from_h2() { lab_isthmusctl rr show bgp l2vpn evpn -o json | grep -qi "${mac_v2}"; }
lab_wait_for 30 "the route reflector has v2's MAC" from_h2
i3_port=$(cni_api "${LAB_DIR}/agent3.api" '{"op": "list"}' | lab_json "[e['host_ifname'] for e in j['result']['endpoints'] if e['mac'] == '${mac_i3}'][0]")
learned_on_i3() { lab_exec 3 bridge fdb show br br100 | grep -i "${mac_v2}" | grep -q "dev ${i3_port} "; }
counter() { lab_exec 3 nft list counter bridge isthmus "$1" | sed -n 's/.*packets \([0-9]*\).*/\1/p'; }
nothing_taken() { # nothing_taken WHAT
  local routes
  routes=$(from_h3)
  [[ ${routes} == "[]" ]] || lab_fail "$1: the route reflector has routes of v2 from h3: ${routes}"
  ! learned_on_i3 || lab_fail "$1: h3's bridge learned v2's MAC on i3's port ${i3_port}"
  lab_wait_for 10 "$1: c3 still reaches v2" pings 3 c3 "${ip_v2}"
}
i3() { P 3 exec i3 "$@" >/dev/null 2>&1 || true; }

# 1. v2's address on i3's eth0 (its own MAC), announced by gratuitous ARP, used to ping (the
# gateway's MAC given, so that IPv4 goes out whatever becomes of ARP).
gateway_mac=02:00:5e:00:00:01
i3 ip addr add "${ip_v2}/24" dev eth0
i3 arp -i eth0 -s 100.64.1.1 "${gateway_mac}"
for _ in 1 2 3; do
  i3 arping -U -c 1 -I eth0 "${ip_v2}"
  i3 ping -c 1 -W 1 -I "${ip_v2}" 100.64.1.1
  sleep 0.5
done
nothing_taken "i3 with v2's address"
[[ $(counter drop_arp) -gt 0 ]] ||
  lab_fail "h3's guard dropped no ARP: $(lab_exec 3 nft list table bridge isthmus)"
[[ $(counter drop_ipv4) -gt 0 ]] || lab_fail "h3's guard dropped no IPv4: $(lab_exec 3 nft list table bridge isthmus)"

# 2. v2's MAC as well: eth0 is now v2 to the letter.
i3 ip link set eth0 down
i3 ip link set eth0 address "${mac_v2}"
i3 ip link set eth0 up
i3 arp -i eth0 -s 100.64.1.1 "${gateway_mac}"
for _ in 1 2 3; do
  i3 arping -U -c 1 -I eth0 "${ip_v2}"
  i3 ping -c 1 -W 1 100.64.1.1
  sleep 0.5
done
nothing_taken "i3 with v2's address and MAC"
[[ $(counter drop_mac) -gt 0 ]] || lab_fail "h3's guard dropped no frame for its MAC: $(lab_exec 3 nft list table bridge isthmus)"
lab_log "drops on h3: mac $(counter drop_mac), arp $(counter drop_arp), ipv4 $(counter drop_ipv4), ipv6 $(counter drop_ipv6)"

# i3's own port still works for i3 as it was given: its MAC and its address back, it reaches c3.
ip_i3=$(inspect 3 i3 '{{(index .NetworkSettings.Networks "blue").IPAddress}}')
ip_c3=$(inspect 3 c3 '{{(index .NetworkSettings.Networks "blue").IPAddress}}')
i3 ip link set eth0 down
i3 ip link set eth0 address "${mac_i3}"
i3 ip addr del "${ip_v2}/24" dev eth0
i3 ip link set eth0 up
i3 ip route add default via 100.64.1.1
lab_wait_for 10 "i3, itself again, pings c3" pings 3 i3 "${ip_c3}"
lab_log "PASS (i3 ${ip_i3})"
