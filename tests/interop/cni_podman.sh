#!/usr/bin/env bash
# Podman 4.3 (CNI backend, runc) attaches containers through isthmus-cni, chained with the
# reference portmap plugin, on two agent hosts of an EVPN fabric:
#   h1 isthmusd RR 198.18.0.1
#   h2 agent 198.18.0.2 + podman: b2 (blue), r2 (red)
#   h3 agent 198.18.0.3 + podman: b3 (blue, --ip 100.64.1.60), r3 (red, -p 8080:80)
# Each host's podman runs in that host's network namespace (nsenter --net, so that the plugins run
# there: the agent's veth host end and portmap's iptables rules are in that host) with a private
# containers.conf, storage (--root/--runroot), tmp_dir and CNI config dir. Podman creates each
# container's network namespace as /run/netns/netns-<uuid>; the agent opens it by that path.
# Proves: addresses from the host's pool, --ip honoured, same network across hosts pings, blue and
# green (one VRF) reach each other across hosts and networks, red (a VRF of its own) reaches neither, portmap ran after isthmus-cni (its DNAT to the
# container), `show endpoint` lists the containers, `podman network reload` keeps connectivity,
# `podman stop` + `podman rm` leave no veth, no record, no neighbour entry, no remote FDB entry,
# no iptables rule and no network namespace.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"
source "${HERE}/cni_lib.sh"
cni_private_mounts "$@"

for t in podman runc /usr/lib/cni/portmap /bin/busybox iptables nsenter; do
  command -v "${t}" >/dev/null || { echo "cni_podman: ${t} is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done

lab_init
lab_require_isthmus
ISTHMUS_CNI=${ISTHMUS_CNI:-$(dirname "${ISTHMUSD}")/isthmus-cni}
[[ -x ${ISTHMUS_CNI} ]] || lab_fail "isthmus-cni not found: set ISTHMUS_CNI, got '${ISTHMUS_CNI}'"

# Before lab_cleanup (which kills the agents and deletes the namespaces): podman removes its
# containers while the agents still answer, then whatever is left is killed and unmounted.
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
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, subnet6: "fd00:64:1::/64", pool: 100.64.1.$((16 * $1))/28, pool6: "fd00:64:1::$1:0/112", vrf: tenant1 }
  - { name: green, vni: 300, subnet: 100.64.3.0/24, pool: 100.64.3.$((16 * $1))/28, vrf: tenant1 }
  - { name: red, vni: 200, subnet: 100.64.2.0/24, pool: 100.64.2.$((16 * $1))/28 }
YAML
}
lab_isthmus_rr_start 1 2 3
lab_isthmusd_start 2 agent2 "$(agent_conf 2)"
lab_isthmusd_start 3 agent3 "$(agent_conf 3)"

# Podman on hosts 2 and 3: isthmus-cni chained with the reference portmap plugin.
cni_podman_hosts "${LAB_DIR}/cni-bin" "2 3" "blue red green" portmap
for peer in 198.18.0.2 198.18.0.3; do
  lab_wait_for 60 "rr: ${peer} Established" lab_isthmus_established rr "${peer}"
done
lab_log "podman ready on h2 and h3"

run() { # run I NAME ARGS...: a detached busybox container, prints its id
  local i=$1 name=$2 out
  shift 2
  out=$(P "${i}" run -d --name "${name}" "$@" localhost/isthmus-busybox:test sleep 600 2>&1) ||
    lab_fail "podman run ${name} on host ${i}: ${out}"
  tail -n1 <<<"${out}"
}
inspect() { P "$1" inspect --format "$3" "$2"; }
ip_of() { inspect "$1" "$2" "{{(index .NetworkSettings.Networks \"$3\").IPAddress}}"; }
api() { cni_api "${LAB_DIR}/agent$1.api" "$2"; }
record() { # record I ID: the agent's record of container ID (JSON), {} if none
  api "$1" '{"op": "list"}' | lab_json "([e for e in j['result']['endpoints'] if e['container_id'] == '$2'] or [{}])[0]"
}
shows() { local out; out=$("${@:2}" 2>&1) || true; grep -q -- "$1" <<<"${out}"; }

b2=$(run 2 b2 --network blue)
r2=$(run 2 r2 --network red)
b3=$(run 3 b3 --network blue --ip 100.64.1.60)
r3=$(run 3 r3 --network red -p 8080:80)
g3=$(run 3 g3 --network green)
ip_g3=$(ip_of 3 g3 green)
ip_b2=$(ip_of 2 b2 blue) ip_r2=$(ip_of 2 r2 red) ip_b3=$(ip_of 3 b3 blue) ip_r3=$(ip_of 3 r3 red)
lab_log "b2 ${ip_b2}, r2 ${ip_r2} on h2; b3 ${ip_b3}, r3 ${ip_r3} on h3"

in_net() { python3 -c 'import ipaddress,sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network(sys.argv[2]))' "$1" "$2"; }
in_net "${ip_b2}" 100.64.1.32/28 || lab_fail "b2's ${ip_b2} is not from host 2's blue pool 100.64.1.32/28"
in_net "${ip_r2}" 100.64.2.32/28 || lab_fail "r2's ${ip_r2} is not from host 2's red pool 100.64.2.32/28"
in_net "${ip_r3}" 100.64.2.48/28 || lab_fail "r3's ${ip_r3} is not from host 3's red pool 100.64.2.48/28"
lab_assert_eq "b3's address (podman run --ip)" "${ip_b3}" 100.64.1.60
# A static address outside the node's pool is refused (CNI error 7), and podman leaves nothing.
out=$(P 3 run -d --name bad --network blue --ip 100.64.1.200 localhost/isthmus-busybox:test sleep 600 2>&1) &&
  lab_fail "podman run --ip outside host 3's pool succeeded: ${out}"
grep -q "outside this node's pool" <<<"${out}" || lab_fail "podman run --ip 100.64.1.200: unexpected error: ${out}"
P 3 rm -f bad >/dev/null 2>&1 || true

# The agent made the veth: its host end on host 2's bridge, the other end eth0 in the namespace
# podman made (the record's netns is podman's SandboxKey).
rec_b2=$(record 2 "${b2}")
[[ ${rec_b2} != "{}" ]] || lab_fail "agent 2 has no record of b2 (${b2}): $(api 2 '{"op": "list"}')"
host_if=$(lab_json "j['host_ifname']" <<<"${rec_b2}")
mac_b2=$(lab_json "j['mac']" <<<"${rec_b2}")
lab_assert_eq "b2's netns" "$(lab_json "j['netns']" <<<"${rec_b2}")" "$(inspect 2 b2 '{{.NetworkSettings.SandboxKey}}')"
shows "master br100" lab_exec 2 ip link show "${host_if}" || lab_fail "b2's host end ${host_if} is not on host 2's br100"
shows "inet ${ip_b2}/24" P 2 exec b2 ip addr show eth0 || lab_fail "b2's eth0 lacks ${ip_b2}: $(P 2 exec b2 ip addr)"
lab_assert_eq "b2's MAC (podman)" "$(inspect 2 b2 '{{(index .NetworkSettings.Networks "blue").MacAddress}}')" "${mac_b2}"

# show endpoint lists the containers by their podman id.
lab_isthmusctl agent2 show endpoint -o json | lab_check_json "sorted(e['container_id'] for e in j) == sorted(['${b2}', '${r2}'])" ||
  lab_fail "show endpoint on host 2: $(lab_isthmusctl agent2 show endpoint -o json)"
lab_isthmusctl agent3 show endpoint -o json | lab_check_json "sorted(e['container_id'] for e in j) == sorted(['${b3}', '${r3}', '${g3}'])" ||
  lab_fail "show endpoint on host 3: $(lab_isthmusctl agent3 show endpoint -o json)"

pings() { P "$1" exec "$2" ping -c1 -W1 "$3" >/dev/null 2>&1; }
lab_wait_for 30 "b2 (h2) pings b3 (h3) on blue" pings 2 b2 "${ip_b3}"
lab_wait_for 30 "b3 (h3) pings b2 (h2) on blue" pings 3 b3 "${ip_b2}"
lab_wait_for 30 "r2 (h2) pings r3 (h3) on red" pings 2 r2 "${ip_r3}"
# blue and red are different VRFs: no route between them, in either direction, local or remote.
pings 2 b2 "${ip_r3}" && lab_fail "b2 (blue) reaches r3 (red)"
pings 2 b2 "${ip_r2}" && lab_fail "b2 (blue) reaches r2 (red) on the same host"
pings 3 r3 "${ip_b3}" && lab_fail "r3 (red) reaches b3 (blue)"
# blue and green are one VRF: containers on different hosts and networks reach each other (routed
# at the sender's node by the anycast gateway, then bridged over VXLAN).
lab_wait_for 30 "b2 (blue, h2) pings g3 (green, h3)" pings 2 b2 "${ip_g3}"
lab_wait_for 30 "g3 (green, h3) pings b2 (blue, h2)" pings 3 g3 "${ip_b2}"
pings 3 g3 "${ip_r2}" && lab_fail "g3 (green) reaches r2 (red)"
lab_log "blue pings across hosts, red pings across hosts, blue reaches green across hosts, red is apart"

# portmap ran after isthmus-cni, with its result: host 3 DNATs port 8080 to r3.
shows "to-destination ${ip_r3}:80" lab_exec 3 iptables -t nat -S ||
  lab_fail "no portmap DNAT to r3 on host 3: $(lab_exec 3 iptables -t nat -S)"

# podman network reload: DEL and ADD again in the same namespace; b2 keeps connectivity.
out=$(P 2 network reload b2 2>&1) || lab_fail "podman network reload b2: ${out}"
ip_b2=$(ip_of 2 b2 blue)
rec_b2=$(record 2 "${b2}")
[[ ${rec_b2} != "{}" ]] || lab_fail "agent 2 lost b2 in the reload"
mac_b2=$(lab_json "j['mac']" <<<"${rec_b2}")
host_if=$(lab_json "j['host_ifname']" <<<"${rec_b2}")
lab_wait_for 30 "b2 pings b3 after the reload" pings 2 b2 "${ip_b3}"
lab_wait_for 30 "b3 pings b2 (${ip_b2}) after the reload" pings 3 b3 "${ip_b2}"
lab_log "network reload: b2 ${ip_b2} still reachable"

# stop + rm b2: nothing of it is left, here or on host 3.
lab_wait_for 30 "host 3 has b2's MAC" lab_fdb_has 3 vxlan100 "${mac_b2}" 198.18.0.2
out=$(P 2 stop -t 0 b2 2>&1) || lab_fail "podman stop b2: ${out}"
out=$(P 2 rm b2 2>&1) || lab_fail "podman rm b2: ${out}"
! lab_exec 2 ip link show "${host_if}" >/dev/null 2>&1 || lab_fail "b2's veth ${host_if} is still on host 2"
lab_assert_eq "agent 2's record of b2" "$(record 2 "${b2}")" "{}"
shows "${ip_b2} " lab_exec 2 ip neigh show dev br100 && lab_fail "host 2 still has a neighbour entry for b2"
no_b2() { ! lab_fdb_has 3 vxlan100 "${mac_b2}" 198.18.0.2; }
lab_wait_for 30 "host 3 forgets b2's MAC" no_b2
no_b2_neigh() { ! shows "${ip_b2} " lab_exec 3 ip neigh show dev br100; }
lab_wait_for 30 "host 3 forgets b2's neighbour entry" no_b2_neigh
lab_log "b2 stopped and removed: nothing left"

# The rest: removing them leaves no record, no veth, no DNAT and no network namespace.
out=$(P 2 rm -f -t 0 r2 2>&1) || lab_fail "podman rm -f r2: ${out}"
for c in b3 r3 g3; do out=$(P 3 rm -f -t 0 "${c}" 2>&1) || lab_fail "podman rm -f ${c}: ${out}"; done
for i in 2 3; do
  lab_check_json "j['result']['endpoints'] == []" <<<"$(api "${i}" '{"op": "list"}')" ||
    lab_fail "agent ${i} has records left: $(api "${i}" '{"op": "list"}')"
  shows veth lab_exec "${i}" ip -o link show && lab_fail "host ${i} has a veth left: $(lab_exec "${i}" ip -o link show)"
done
shows "${ip_r3}" lab_exec 3 iptables -t nat -S && lab_fail "portmap's DNAT to r3 is left on host 3"
netns=$(ip netns list)
shows "^netns-" echo "${netns}" && lab_fail "podman left network namespaces: ${netns}"
lab_log "PASS"
