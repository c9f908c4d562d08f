#!/usr/bin/env bash
# The agent's endpoint API (docs/agent-api.md) end to end: a container namespace attached to
# network blue through the API socket on host 2 gets its veth, addresses from IPAM and default
# routes, is advertised at once and reaches a workload on host 3; a repeated ADD is idempotent;
# CHECK notices a tampered interface; DEL leaves nothing, also twice; a VM's tap attaches with
# `isthmusctl endpoint add` and reaches a workload on host 3; the attachments survive an agent
# restart (state file).
#   h1 isthmusd RR 198.18.0.1     h2 agent 198.18.0.2, container c1 (API)    h3 agent 198.18.0.3 + w3
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 3

agent_conf() { # agent_conf ID POOL
  lab_agent_conf "$1" <<YAML
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, subnet6: "fd00:64:1::/64", pool: $2, pool6: "fd00:64:1::$1:0/112" }
YAML
}
lab_isthmus_rr_start 1 2 3
lab_isthmusd_start 2 agent2 "$(agent_conf 2 100.64.1.32/28)"
lab_isthmusd_start 3 agent3 "$(agent_conf 3 100.64.1.48/28)"
for peer in 198.18.0.2 198.18.0.3; do
  lab_wait_for 60 "rr: ${peer} Established" lab_isthmus_established rr "${peer}"
done
[[ $(stat -c %a "${LAB_DIR}/agent2.api") == 600 ]] || lab_fail "the API socket is not root-only: $(stat -c %a "${LAB_DIR}/agent2.api")"

api() { # api JSON: the agent 2 API's response
  python3 - "${LAB_DIR}/agent2.api" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
print(out.decode().strip())
PY
}
ok() { lab_check_json "j['ok'] is True" <<<"$1"; }

lab_attach_workload 3 100 w3 100.64.1.53/24
w() { ip netns exec "$(lab_ns "$1")" "${@:2}"; }
w w3 ping -c1 -W2 100.64.1.1 >/dev/null || lab_fail "w3 cannot reach its gateway"

# A container namespace, attached through the API.
c1=$(lab_ns c1)
lab_new_ns "${c1}"
add='{"op": "add", "network": "blue", "container_id": "c1", "ifname": "eth0", "netns": "/var/run/netns/'"${c1}"'"}'
resp=$(api "${add}")
ok "${resp}" || lab_fail "add: ${resp}"
lab_check_json "ipaddress.ip_interface(j['result']['ips'][0]['address']).network == ipaddress.ip_network('100.64.1.0/24') and ipaddress.ip_interface(j['result']['ips'][0]['address']).ip in ipaddress.ip_network('100.64.1.32/28') and ipaddress.ip_interface(j['result']['ips'][1]['address']).ip in ipaddress.ip_network('fd00:64:1::2:0/112')" <<<"${resp}" ||
  lab_fail "add did not allocate from host 2's pool 100.64.1.32/28: ${resp}"
addr=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["result"]["ips"][0]["address"].split("/")[0])' "${resp}")
mac=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["result"]["interfaces"][1]["mac"])' "${resp}")
lab_log "c1 attached through the API: ${addr}, ${mac}"
shows() { local out; out=$("${@:2}"); grep -q -- "$1" <<<"${out}"; }
shows "inet ${addr}/24" ip -n "${c1}" addr show eth0 || lab_fail "c1's eth0 lacks ${addr}: $(ip -n "${c1}" addr)"
shows "mtu 8950" ip -n "${c1}" link show eth0 || lab_fail "c1's eth0 MTU is not the overlay's"
shows "default via 100.64.1.1" ip -n "${c1}" route || lab_fail "c1 has no default route via the gateway"
shows "default via fd00:64:1::1" ip -n "${c1}" -6 route || lab_fail "c1 has no IPv6 default route"
# Advertised before c1 sent a frame: host 3 has its MAC and IP.
lab_wait_for 30 "host 3 has c1's MAC" lab_fdb_has 3 vxlan100 "${mac}" 198.18.0.2
ip -n "${c1}" link set lo up
lab_wait_for 30 "c1 pings w3 on host 3" ip netns exec "${c1}" ping -c1 -W1 100.64.1.53
# The same ADD again: the same result.
again=$(api "${add}")
[[ $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["result"] == json.loads(sys.argv[2])["result"])' "${resp}" "${again}") == True ]] ||
  lab_fail "a repeated add differs: ${again}"
check='{"op": "check", "network": "blue", "container_id": "c1", "ifname": "eth0", "netns": "/var/run/netns/'"${c1}"'"}'
ok "$(api "${check}")" || lab_fail "check: $(api "${check}")"
ip -n "${c1}" link set eth0 mtu 1400
lab_check_json "j['ok'] is False and 'MTU 1400' in j['error']" <<<"$(api "${check}")" || lab_fail "check missed a tampered MTU: $(api "${check}")"
ip -n "${c1}" link set eth0 mtu 8950
lab_check_json "j['ok'] is False and j['code'] == 7" <<<"$(api '{"op": "add", "network": "green", "container_id": "c9", "ifname": "eth0", "netns": "/var/run/netns/'"${c1}"'"}')" ||
  lab_fail "an unknown network is not code 7"
lab_check_json "j['ok'] is False and j['code'] == 6" <<<"$(api 'not json')" || lab_fail "malformed JSON is not code 6"

# A VM's tap through isthmusctl.
out=$(lab_isthmusctl agent2 endpoint add --network blue --tap tap-vm1 --ip 100.64.1.40 --mac 02:00:00:00:00:40 -o json) ||
  lab_fail "endpoint add --tap: ${out}"
shows "master br100" lab_exec 2 ip link show tap-vm1 || lab_fail "tap-vm1 is not on br100"
lab_wait_for 30 "host 3 has the VM's MAC" lab_fdb_has 3 vxlan100 02:00:00:00:00:40 198.18.0.2
# The "VM": a process that holds tap-vm1 (as QEMU would) and relays its frames to a tap eth0 in a
# namespace of its own, which has the VM's MAC and address; it reaches w3 on host 3.
vm=$(lab_ns vm1)
lab_new_ns "${vm}"
lab_exec 2 python3 -u - "/var/run/netns/${vm}" >"${LAB_DIR}/vm1.log" 2>&1 <<'RELAY' &
import ctypes, fcntl, os, select, struct, sys
TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454CA, 0x0002, 0x1000
def tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd
host = tap("tap-vm1")  # the agent's tap, in host 2's namespace
ns = os.open(sys.argv[1], os.O_RDONLY)
if ctypes.CDLL(None, use_errno=True).setns(ns, 0x40000000) != 0:  # CLONE_NEWNET
    sys.exit("setns failed")
guest = tap("eth0")  # the VM's NIC
print("ready", flush=True)
while True:
    for fd in select.select([host, guest], [], [])[0]:
        frame = os.read(fd, 65536)
        try:
            os.write(guest if fd == host else host, frame)
        except OSError:  # the other side is down: the frame is lost, as on a wire
            pass
RELAY
relay=$!
echo "${relay} vm1-relay" >>"${LAB_DIR}/pids"
lab_wait_for 10 "the VM's relay holds its taps" grep -q ready "${LAB_DIR}/vm1.log"
ip -n "${vm}" link set eth0 address 02:00:00:00:00:40 mtu 8950 up
ip -n "${vm}" addr add 100.64.1.40/24 dev eth0
ip -n "${vm}" route add default via 100.64.1.1
lab_wait_for 30 "the VM pings w3 on host 3" ip netns exec "${vm}" ping -c1 -W1 100.64.1.53
lab_wait_for 30 "w3 pings the VM" w w3 ping -c1 -W1 100.64.1.40
kill "${relay}" 2>/dev/null || true
wait "${relay}" 2>/dev/null || true
lab_log "a VM-style tap endpoint (tap-vm1, relayed to a namespace) and w3 on host 3 reach each other"
lab_isthmusctl agent2 show endpoint -o json | lab_check_json "
sorted((e.get('container_id'), e.get('kind')) for e in j if 'container_id' in e) == [('c1', 'veth'), ('tap-vm1', 'tap')]" ||
  lab_fail "show endpoint: $(lab_isthmusctl agent2 show endpoint -o json)"

# The attachments survive a restart of the agent (the state file), and a DEL after it works.
lab_isthmusd_restart agent2
lab_wait_for 60 "rr: 198.18.0.2 Established again" lab_isthmus_established rr 198.18.0.2
lab_check_json "len(j['result']['endpoints']) == 2" <<<"$(api '{"op": "list"}')" || lab_fail "list after restart: $(api '{"op": "list"}')"
lab_isthmusctl agent2 endpoint del --network blue --tap tap-vm1 >/dev/null || lab_fail "endpoint del --tap"
! lab_exec 2 ip link show tap-vm1 >/dev/null 2>&1 || lab_fail "tap-vm1 is still there"

del='{"op": "del", "network": "blue", "container_id": "c1", "ifname": "eth0", "netns": "/var/run/netns/'"${c1}"'"}'
ok "$(api "${del}")" || lab_fail "del: $(api "${del}")"
ok "$(api "${del}")" || lab_fail "a second del failed"
! ip -n "${c1}" link show eth0 >/dev/null 2>&1 || lab_fail "c1's eth0 is still there"
shows "veth" lab_exec 2 ip -o link show master br100 && lab_fail "a veth is left on br100: $(lab_exec 2 ip -o link show master br100)"
shows "${addr} " lab_exec 2 ip neigh show dev br100 && lab_fail "a neighbour entry of c1 is left"
no_c1() { ! lab_fdb_has 3 vxlan100 "${mac}" 198.18.0.2; }
lab_wait_for 30 "host 3 forgets c1" no_c1
lab_check_json "j['result']['endpoints'] == []" <<<"$(api '{"op": "list"}')" || lab_fail "records left: $(api '{"op": "list"}')"
lab_log "PASS"
