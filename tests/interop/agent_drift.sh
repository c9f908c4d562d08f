#!/usr/bin/env bash
# Drift repair on a real kernel: what someone changes behind the node agent's back on its own
# devices is put back, by the kernel's event or by the periodic full reconcile
# (agent.reconcile_interval, 2 s here); a device that is not the agent's is left as it is.
#   h1 route reflector (isthmusd)
#   h2 agent 198.18.0.2 + workload w2 100.64.1.12 (the agent under test)
#   h3 agent 198.18.0.3 + workload w3 100.64.1.13 (its MAC is a remote FDB entry on host 2)
# On host 2, one after the other: the gateway address is deleted from br100, vxlan100 is set
# down, w3's FDB entry is deleted from vxlan100, the unreachable default of the network's routing
# table is deleted (no event reports a route: the periodic reconcile repairs it), a VM's tap the
# agent made is set down and taken off br100. Each is polled for until repaired; at the end w2
# and w3 still reach each other, and the foreign bridge with its address is untouched.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 3

agent_conf() { # agent_conf ID
  lab_agent_conf "$1" <<YAML | sed 's/^agent:$/agent:\n  reconcile_interval: 2/'
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, gateway: 100.64.1.1 }
YAML
}
lab_isthmus_rr_start 1 2 3
lab_isthmusd_start 2 agent2 "$(agent_conf 2)"
lab_isthmusd_start 3 agent3 "$(agent_conf 3)"
grep -q 'reconcile_interval: 2' "${LAB_DIR}/agent2.yaml" || lab_fail "no reconcile_interval in agent2.yaml"
established() { lab_isthmus_established "agent$1" 198.18.0.1; }
lab_wait_for 60 "agent 2 Established with the route reflector" established 2
lab_wait_for 60 "agent 3 Established with the route reflector" established 3

lab_attach_workload 2 100 w2 100.64.1.12/24
lab_attach_workload 3 100 w3 100.64.1.13/24
w() { ip netns exec "$(lab_ns "$1")" "${@:2}"; }
for x in w2 w3; do w "${x}" ping -c1 -W2 100.64.1.1 >/dev/null || lab_fail "${x} cannot reach its gateway"; done
mac_w3=$(w w3 cat /sys/class/net/eth0/address)
lab_wait_for 30 "host 2 has w3's MAC" lab_fdb_has 2 vxlan100 "${mac_w3}" 198.18.0.3
ping_ok() { w "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; }
lab_wait_for 30 "w2 pings w3" ping_ok w2 100.64.1.13

# A bridge of someone else's on host 2, down, with an address: never the agent's to change.
lab_exec 2 ip link add br-other type bridge
lab_exec 2 ip addr add 100.64.200.1/24 dev br-other

has_gateway() {
  local out
  out=$(lab_exec 2 ip -o -4 addr show dev br100) || return 1
  grep -q ' 100\.64\.1\.1/24 ' <<<"${out}"
}
is_up() { # is_up HOST DEV: administratively up
  local out
  out=$(lab_exec "$1" ip -o link show dev "$2") || return 1
  grep -Eq '<([A-Z_-]+,)*UP[,>]' <<<"${out}"
}
table=$((0x49000000 + 100)) # the network's VRF table (agent/reconciler.h, kTableBase + VNI)
has_unreachable() {
  local out
  out=$(lab_exec 2 ip -4 route show table "${table}") || return 1
  grep -q '^unreachable default proto 77 ' <<<"${out}"
}
has_gateway || lab_fail "br100 has no gateway address: $(lab_exec 2 ip -o addr show dev br100)"
is_up 2 vxlan100 || lab_fail "vxlan100 is not up"
has_unreachable || lab_fail "no unreachable default in table ${table}: $(lab_exec 2 ip route show table "${table}")"

# 1. The gateway address deleted from the bridge.
lab_exec 2 ip addr del 100.64.1.1/24 dev br100
lab_wait_for 15 "the gateway address is back on br100" has_gateway

# 2. The VXLAN device set down.
lab_exec 2 ip link set vxlan100 down
lab_wait_for 15 "vxlan100 is up again" is_up 2 vxlan100

# 3. A remote MAC's FDB entry deleted.
lab_exec 2 bridge fdb del "${mac_w3}" dev vxlan100 dst 198.18.0.3 self
lab_wait_for 15 "w3's FDB entry is back on vxlan100" lab_fdb_has 2 vxlan100 "${mac_w3}" 198.18.0.3

# 4. A route of the agent's deleted: no event, the periodic reconcile finds it.
lab_exec 2 ip -4 route del unreachable default table "${table}" metric 4278198272
lab_wait_for 15 "the unreachable default is back in table ${table}" has_unreachable

# 5. A workload port the agent made (a VM's tap) set down and taken off its bridge, then its
# learning turned on.
out=$(lab_isthmusctl agent2 endpoint add --network blue --tap tap-vm1 --ip 100.64.1.40 --mac 02:00:00:00:00:40 -o json) ||
  lab_fail "endpoint add --tap: ${out}"
on_br100() {
  local out
  out=$(lab_exec 2 ip -o link show dev tap-vm1) || return 1
  grep -q ' master br100 ' <<<"${out}"
}
tap_has_mac() {
  local out
  out=$(lab_exec 2 bridge fdb show dev tap-vm1) || return 1
  grep -q '^02:00:00:00:00:40 master br100' <<<"${out}"
}
lab_wait_for 10 "tap-vm1 is a port of br100" on_br100
lab_exec 2 ip link set tap-vm1 down
lab_exec 2 ip link set tap-vm1 nomaster
lab_wait_for 15 "tap-vm1 is back on br100" on_br100
lab_wait_for 15 "tap-vm1 is up again" is_up 2 tap-vm1
lab_wait_for 15 "the VM's MAC is back in br100's FDB on tap-vm1" tap_has_mac
# A workload port does not learn: taken back onto the bridge, and turned on by hand, it is off.
no_learning() { lab_shows 'learning off' lab_exec 2 bridge -d link show dev tap-vm1; }
lab_wait_for 15 "tap-vm1 learns nothing after its repair" no_learning
lab_exec 2 bridge link set dev tap-vm1 learning on
lab_wait_for 15 "tap-vm1's learning is off again" no_learning

log_has() { grep -q -- "$2" "${LAB_DIR}/$1.log"; }
lab_wait_for 5 "agent 2 logged a full reconcile that made changes" \
  log_has agent2 'agent: full reconcile: [1-9][0-9]* kernel changes'

# The foreign bridge: still down, its address still there, after the reconciles above.
is_up 2 br-other && lab_fail "the agent set br-other up"
lab_shows ' 100\.64\.200\.1/24 ' lab_exec 2 ip -o -4 addr show dev br-other ||
  lab_fail "br-other lost its address: $(lab_exec 2 ip -o addr show dev br-other)"

lab_wait_for 30 "w2 pings w3 after the repairs" ping_ok w2 100.64.1.13
lab_wait_for 30 "w3 pings w2 after the repairs" ping_ok w3 100.64.1.12
lab_log "PASS: gateway address, VXLAN device, remote FDB entry, route and a workload port repaired; br-other untouched"
