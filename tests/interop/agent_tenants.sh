#!/usr/bin/env bash
# Tenants on the node agent (IP-VRFs with L3 VNIs, symmetric IRB, RFC 9135; docs/architecture.md,
# "The kernel layer") with the same subnets in two tenants, proven by packets: each tenant's
# traffic is routed through its own L3 VNI (VNI 5001 or 5002 on the underlay) and reaches only
# its own workloads, although both tenants use the same addresses on the same nodes; a tenant
# does not reach a subnet only the other tenant has (no route in its table, on either node); each
# tenant's prefixes are its own in `show evpn prefix`. IPv4 and IPv6, strict rp_filter.
#   h1 isthmusd RR 198.18.0.1
#   h2 agent 198.18.0.2: blue   (t1, VNI 100, 100.64.1.0/24 fd00:64:1::/64)  w1 100.64.1.10 fd00:64:1::10
#                        orange (t2, VNI 400, the same subnets)               w2 100.64.1.10 fd00:64:1::10
#                        yellow (t2, VNI 600, 100.64.6.0/24 fd00:64:6::/64)   y2 100.64.6.10 fd00:64:6::10
#   h3 agent 198.18.0.3: red    (t1, VNI 200, 100.64.2.0/24 fd00:64:2::/64)  r1 100.64.2.10 fd00:64:2::10
#                        purple (t2, VNI 500, the same subnets)               r2 100.64.2.10 fd00:64:2::10
# Workloads are attached through the agents' endpoint API with static addresses
# (docs/agent-api.md). Pings carry a payload pattern per tenant (ping -p: "t1" or "t2"); captures
# in the workloads' namespaces and on h2's underlay count them. Not checked: what the nodes
# themselves send into a shared subnet (the gateway's ICMP errors), which follows the main
# table's first connected route (src/agent/reconciler.h).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 3
# Strict reverse-path filtering (RFC 3704) on the agents' hosts: the bridges that share a subnet
# still pass what their workloads send their gateway (ARP), the agent makes them loose.
for i in 2 3; do
  lab_exec "${i}" sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.default.rp_filter=1
done

vrfs='vrfs: [{ name: t1, l3vni: 5001 }, { name: t2, l3vni: 5002 }]'
h2_conf() {
  lab_agent_conf 2 <<YAML
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, subnet6: "fd00:64:1::/64", vrf: t1,
      pool: 100.64.1.0/26, pool6: "fd00:64:1::/112" }
  - { name: orange, vni: 400, subnet: 100.64.1.0/24, subnet6: "fd00:64:1::/64", vrf: t2,
      pool: 100.64.1.0/26, pool6: "fd00:64:1::/112" }
  - { name: yellow, vni: 600, subnet: 100.64.6.0/24, subnet6: "fd00:64:6::/64", vrf: t2,
      pool: 100.64.6.0/26, pool6: "fd00:64:6::/112" }
YAML
  echo "${vrfs}"
}
h3_conf() {
  lab_agent_conf 3 <<YAML
  - { name: red, vni: 200, subnet: 100.64.2.0/24, subnet6: "fd00:64:2::/64", vrf: t1,
      pool: 100.64.2.0/26, pool6: "fd00:64:2::/112" }
  - { name: purple, vni: 500, subnet: 100.64.2.0/24, subnet6: "fd00:64:2::/64", vrf: t2,
      pool: 100.64.2.0/26, pool6: "fd00:64:2::/112" }
YAML
  echo "${vrfs}"
}

# Subnets may overlap only between networks of different VRFs: orange moved into t1 is refused
# with the place and the reason.
bad="${LAB_DIR}/same-vrf.yaml"
h2_conf | sed '/name: orange/s/vrf: t2/vrf: t1/' >"${bad}"
if out=$("${ISTHMUSD}" --check-config "${bad}" 2>&1); then
  lab_fail "--check-config accepted two networks of t1 with the same subnets"
fi
for want in \
  "networks\\[1\\]\\.subnet: 100\\.64\\.1\\.0/24 overlaps network blue's 100\\.64\\.1\\.0/24 in the same VRF t1" \
  "networks\\[1\\]\\.subnet6: fd00:64:1::/64 overlaps network blue's fd00:64:1::/64 in the same VRF t1"; do
  grep -q -- "${want}" <<<"${out}" || lab_fail "--check-config of ${bad} does not say '${want}': ${out}"
done
lab_log "ok: the same subnets in one VRF are refused: ${out%%$'\n'*}"

# On failure: each agent's view of the tenants and its kernel's rules and tables.
dump_tenants() {
  local i vni
  for i in 2 3; do
    for vni in 5001 5002; do
      echo "--- h${i}: show evpn prefix vni ${vni}"
      lab_isthmusctl "agent${i}" show evpn prefix vni "${vni}" || true
      lab_isthmusctl "agent${i}" show evpn prefix vni "${vni}" -o json || true
      echo "--- h${i}: table $((0x49000000 + vni))"
      lab_exec "${i}" ip route show table $((0x49000000 + vni)) || true
      lab_exec "${i}" ip -6 route show table $((0x49000000 + vni)) || true
    done
    echo "--- h${i}: rules"
    lab_exec "${i}" ip rule show || true
    lab_exec "${i}" ip -6 rule show || true
  done
}
lab_on_fail dump_tenants

lab_isthmus_rr_start 1 2 3
lab_isthmusd_start 2 agent2 "$(h2_conf)"
lab_isthmusd_start 3 agent3 "$(h3_conf)"
for peer in 198.18.0.2 198.18.0.3; do
  lab_wait_for 60 "rr: ${peer} Established" lab_isthmus_established rr "${peer}"
done

# The kernel of h2: per tenant a table (0x49000000 + L3 VNI), the rules of its bridges and its L3
# VNI's bridge into it, both families; the same subnet in both tables, each through its own
# tenant's bridge.
t1=$((0x49000000 + 5001))
t2=$((0x49000000 + 5002))
shows() { # shows PATTERN CMD...: CMD's output has PATTERN (read whole: pipefail and grep -q)
  local out
  out=$("${@:2}")
  grep -q -- "$1" <<<"${out}"
}
for fam in -4 -6; do
  for rule in "iif br100 lookup ${t1}" "iif br5001 lookup ${t1}" "iif br400 lookup ${t2}" \
    "iif br600 lookup ${t2}" "iif br5002 lookup ${t2}"; do
    lab_wait_for 30 "h2: ip ${fam} rule ${rule}" shows "${rule}" lab_exec 2 ip "${fam}" rule show
  done
done
lab_wait_for 30 "h2: table t1 routes 100.64.1.0/24 to br100" shows "^100.64.1.0/24 dev br100 " lab_exec 2 ip route show table "${t1}"
lab_wait_for 30 "h2: table t2 routes 100.64.1.0/24 to br400" shows "^100.64.1.0/24 dev br400 " lab_exec 2 ip route show table "${t2}"
lab_wait_for 30 "h2: table t2 routes fd00:64:1::/64 to br400" shows "^fd00:64:1::/64 dev br400 " lab_exec 2 ip -6 route show table "${t2}"
for br in br100 br400; do
  shows "inet 100.64.1.1/24" lab_exec 2 ip addr show "${br}" || lab_fail "h2: ${br} lacks the gateway: $(lab_exec 2 ip addr show "${br}")"
  shows "inet6 fd00:64:1::1/64" lab_exec 2 ip addr show "${br}" || lab_fail "h2: ${br} lacks the IPv6 gateway: $(lab_exec 2 ip addr show "${br}")"
done
rp() { lab_exec "$1" sysctl -n "net.ipv4.conf.$2.rp_filter"; }
for x in "2 br100 2" "2 br400 2" "3 br200 2" "3 br500 2" "2 br600 1" "2 br5001 1"; do
  read -r i br want <<<"${x}"
  lab_assert_eq "h${i}: ${br}'s rp_filter" "$(rp "${i}" "${br}")" "${want}"
done
lab_log "h2: tables ${t1} (t1) and ${t2} (t2) hold the same subnets through br100 and br400"

# Workloads through the endpoint API, with the same static addresses in both tenants.
api() { # api HOST JSON: the agent's answer
  python3 - "${LAB_DIR}/agent$1.api" "$2" <<'PY'
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
attach() { # attach HOST NETWORK W ADDR4 ADDR6: namespace W on NETWORK with both addresses
  local ns resp
  ns=$(lab_ns "$3")
  lab_new_ns "${ns}"
  resp=$(api "$1" '{"op": "add", "network": "'"$2"'", "container_id": "'"$3"'", "ifname": "eth0", "netns": "/var/run/netns/'"${ns}"'", "ips": ["'"$4"'", "'"$5"'"]}')
  lab_check_json "j['ok'] and [str(ipaddress.ip_interface(a['address']).ip) for a in j['result']['ips']] == ['$4', '$5']" <<<"${resp}" ||
    lab_fail "attaching $3 to $2 on h$1 with $4 and $5: ${resp}"
  lab_log "$3 attached to $2 on h$1: $4, $5"
}
attach 2 blue w1 100.64.1.10 fd00:64:1::10
attach 2 orange w2 100.64.1.10 fd00:64:1::10
attach 2 yellow y2 100.64.6.10 fd00:64:6::10
attach 3 red r1 100.64.2.10 fd00:64:2::10
attach 3 purple r2 100.64.2.10 fd00:64:2::10
w() { ip netns exec "$(lab_ns "$1")" "${@:2}"; }

ping_ok() { w "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; }
for pair in "w1 100.64.2.10" "w1 fd00:64:2::10" "w2 100.64.2.10" "w2 fd00:64:2::10" \
  "r1 100.64.1.10" "r1 fd00:64:1::10" "r2 100.64.1.10" "r2 fd00:64:1::10" \
  "w2 100.64.6.10" "w2 fd00:64:6::10" "r2 100.64.6.10" "r2 fd00:64:6::10"; do
  read -r src dst <<<"${pair}"
  lab_wait_for 30 "${src} reaches ${dst}" ping_ok "${src}" "${dst}"
done
lab_log "each tenant's workloads reach each other (IPv4, IPv6), across nodes and, in t2, on h2"

# The control plane: each tenant's prefixes apart. At h2, t1 has blue's subnets (local) and red's
# subnets and r1's host routes from h3, all with L3 VNI 5001; t2 has orange's and yellow's
# subnets and purple's and r2's, with 5002. The subnets come as type-5 routes with the RD of h3's
# IP-VRF of the tenant, the host routes as MAC/IP routes with the RD of red's or purple's
# MAC-VRF: no route of one tenant is the other's.
prefixes() { lab_isthmusctl "agent$1" show evpn prefix vni "$2" -o json; }
has_prefixes() { # has_prefixes L3VNI "LOCAL..." "REMOTE...": exactly these at h2, remote from h3
  prefixes 2 "$1" | lab_check_json "(
sorted(p['prefix'] for p in j['prefixes'] if p['local']) == sorted('$2'.split()) and
sorted(p['prefix'] for p in j['prefixes'] if p['remote']) == sorted('$3'.split()) and
all(len(p['remote']) == 1 and r['vtep'] == '198.18.0.3' and r['vni'] == $1 and 'unusable' not in r
    for p in j['prefixes'] for r in p['remote']))"
}
remote="100.64.2.0/24 fd00:64:2::/64 100.64.2.10/32 fd00:64:2::10/128"
lab_wait_for 30 "h2: show evpn prefix vni 5001 holds t1's prefixes only" \
  has_prefixes 5001 "100.64.1.0/24 fd00:64:1::/64" "${remote}"
lab_wait_for 30 "h2: show evpn prefix vni 5002 holds t2's prefixes only" \
  has_prefixes 5002 "100.64.1.0/24 fd00:64:1::/64 100.64.6.0/24 fd00:64:6::/64" "${remote}"
rds() { # rds L3VNI: the RDs of h2's remote routes of the tenant, by prefix
  prefixes 2 "$1" | lab_json "{p['prefix']: p['remote'][0]['rd'] for p in j['prefixes'] if p['remote']}"
}
rds1=$(rds 5001)
rds2=$(rds 5002)
for x in "5001 ${rds1}" "5002 ${rds2}"; do
  read -r vni map <<<"${x}"
  ipvrf_rd=$(prefixes 3 "${vni}" | lab_json "j['rd']")
  lab_check_json "j['100.64.2.0/24'] == j['fd00:64:2::/64'] == '${ipvrf_rd}' and j['100.64.2.10/32'] == j['fd00:64:2::10/128'] != '${ipvrf_rd}'" <<<"${map}" ||
    lab_fail "h2: the RDs of L3 VNI ${vni}'s routes are not h3's IP-VRF's (${ipvrf_rd}) for the subnets and a MAC-VRF's for the hosts: ${map}"
done
python3 -c 'import json, sys; a, b = (set(json.loads(x).values()) for x in sys.argv[1:]); sys.exit(bool(a & b))' "${rds1}" "${rds2}" ||
  lab_fail "t1's and t2's routes from h3 share an RD: ${rds1} ${rds2}"
lab_log "h2: t1's prefixes (RDs ${rds1}) and t2's (RDs ${rds2}) apart; yellow's subnets only in t2"

# The capture of each workload (frames coming in) and of h2's underlay (VXLAN, both ways).
cat >"${LAB_DIR}/pcap_count.py" <<'PY'
# pcap_count.py FILE: the ICMP echo packets of a pcap file (Ethernet) as counts of
# "VNI/FAMILY/request|reply/TAG": VNI "-" outside VXLAN, TAG the ping -p pattern ("t1", "t2")
# or "-". VXLAN (RFC 7348) is UDP port 4789 over IPv4 or IPv6.
import json, struct, sys
from collections import Counter

def ether(b):
    t, p = struct.unpack("!H", b[12:14])[0], b[14:]
    while t == 0x8100 and len(p) >= 4:
        t, p = struct.unpack("!H", p[2:4])[0], p[4:]
    return t, p

def ip(t, p):
    if t == 0x0800 and len(p) >= 20:
        return 4, p[9], p[(p[0] & 15) * 4:]
    if t == 0x86DD and len(p) >= 40:
        return 6, p[6], p[40:]
    return None, None, b""

counts = Counter()
data = open(sys.argv[1], "rb").read()
end = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
off = 24
while off + 16 <= len(data):
    incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
    frame, off = data[off + 16:off + 16 + incl], off + 16 + incl
    vni = "-"
    fam, proto, l4 = ip(*ether(frame))
    if proto == 17 and len(l4) >= 16 and 4789 in struct.unpack("!HH", l4[:4]):
        vni = str(int.from_bytes(l4[12:15], "big"))
        fam, proto, l4 = ip(*ether(l4[16:]))
    kinds = {(4, 1): {8: "request", 0: "reply"}, (6, 58): {128: "request", 129: "reply"}}
    kind = kinds.get((fam, proto), {}).get(l4[0] if l4 else None)
    if not kind:
        continue
    tag = next((t for t in ("t1", "t2") if t.encode() * 8 in l4[8:]), "-")
    counts[f"{vni}/{fam}/{kind}/{tag}"] += 1
print(json.dumps(counts))
PY
capture() { # capture NAME WHERE DEV DIRECTION FILTER: tcpdump in host or workload WHERE
  lab_spawn "$2" "cap-$1" tcpdump -n -U -i "$3" -Q "$4" -w "${LAB_DIR}/$1.pcap" "$5"
  lab_wait_for 10 "capture $1 started" grep -q "listening on" "${LAB_DIR}/cap-$1.log"
}
counts() { python3 "${LAB_DIR}/pcap_count.py" "${LAB_DIR}/$1.pcap"; }
count() { # count NAME PYEXPR over `c`, the counts
  counts "$1" | lab_json "(lambda c: $2)(j)"
}
# How many packets of CAPTURE have the key "VNI/FAMILY/KIND/TAG" ("*" matches any field).
n_of() {
  count "$1" "sum(v for k, v in c.items() if all(w in ('*', x) for w, x in zip('$2'.split('/'), k.split('/'))))"
}

for x in w1 w2 y2 r1 r2; do capture "${x}" "${x}" eth0 in "icmp or icmp6"; done
capture underlay 2 eth0 inout "udp port 4789"

n=5
ping_tag() { # ping_tag W TAG DST: n pings with TAG's pattern, every one answered
  local hex
  hex=$(printf '%s' "$2" | od -An -tx1 | tr -d ' \n')
  w "$1" ping -q -c "${n}" -i 0.2 -w 10 -p "${hex}" "$3" >/dev/null ||
    lab_fail "$1 -> $3 (tenant $2): not every ping was answered: $(w "$1" ping -c 2 -W 1 "$3" 2>&1 || true)"
}
for dst in 100.64.2.10 fd00:64:2::10; do
  ping_tag w1 t1 "${dst}"
  ping_tag w2 t2 "${dst}"
done
for dst in 100.64.1.10 fd00:64:1::10; do
  ping_tag r1 t1 "${dst}"
  ping_tag r2 t2 "${dst}"
done
for dst in 100.64.6.10 fd00:64:6::10; do
  ping_tag w2 t2 "${dst}" # on the same node
  ping_tag r2 t2 "${dst}" # from h3
done
lab_log "pinged with the tenants' patterns: w1 <-> r1 (t1), w2 <-> r2 and w2, r2 -> y2 (t2)"

# A tenant does not reach what only the other tenant has: yellow's subnets (t2) are not in t1's
# table, whose unreachable default takes them, on the node that has yellow and on the other. The
# probes carry t1's pattern: the captures show that none reached y2 or crossed the underlay.
route_get() { lab_exec "$1" ip route get "$4" from "$2" iif "$3" 2>&1; } # HOST FROM IIF DST
no_route() { # no_route HOST FROM IIF DST: the kernel finds no route for a packet from FROM on IIF
  local out
  out=$(route_get "$@") && lab_fail "h$1: a packet from $2 on $3 to $4 is routed: ${out}"
  grep -q "No route to host" <<<"${out}" || lab_fail "h$1: $2 on $3 to $4: ${out}"
}
for fam in 4 6; do
  if [[ ${fam} == 6 ]]; then
    w1=fd00:64:1::10 r1=fd00:64:2::10 y2=fd00:64:6::10
  else
    w1=100.64.1.10 r1=100.64.2.10 y2=100.64.6.10
  fi
  # The same lookup finds t1's own remote addresses (through its L3 VNI), not yellow's.
  if ! out=$(route_get 2 "${w1}" br100 "${r1}") || ! grep -q "dev br5001 table ${t1}" <<<"${out}"; then
    lab_fail "h2: a packet from ${w1} on br100 to ${r1} is not routed through br5001 in t1: ${out}"
  fi
  no_route 2 "${w1}" br100 "${y2}"
  no_route 3 "${r1}" br200 "${y2}"
  for src in w1 r1; do
    if w "${src}" ping -c 2 -i 0.5 -W 1 -p 7431 "${y2}" >/dev/null 2>&1; then
      lab_fail "${src} (t1) reaches ${y2}, which only t2 has"
    fi
  done
done
lab_log "ok: w1 and r1 (t1) do not reach y2's addresses (t2 only): unreachable in t1's table, IPv4 and IPv6"

# Wait until every capture holds what was sent (requests in, the underlay both ways), then stop.
want() { lab_is "$3" n_of "$1" "$2"; }
for fam in 4 6; do
  lab_wait_for 10 "r1 got w1's t1 requests (IPv${fam})" want r1 "-/${fam}/request/t1" "${n}"
  lab_wait_for 10 "r2 got w2's t2 requests (IPv${fam})" want r2 "-/${fam}/request/t2" "${n}"
  lab_wait_for 10 "w1 got r1's t1 requests (IPv${fam})" want w1 "-/${fam}/request/t1" "${n}"
  lab_wait_for 10 "w2 got r2's t2 requests (IPv${fam})" want w2 "-/${fam}/request/t2" "${n}"
  lab_wait_for 10 "y2 got w2's and r2's t2 requests (IPv${fam})" want y2 "-/${fam}/request/t2" $((2 * n))
done
# On h2's underlay: t1's requests both ways between w1 and r1 (2 families), and t2's between w2
# and r2 and from r2 to y2; the same number of replies.
lab_wait_for 10 "underlay: t1's requests in VNI 5001" want underlay "5001/*/request/t1" $((4 * n))
lab_wait_for 10 "underlay: t1's replies in VNI 5001" want underlay "5001/*/reply/t1" $((4 * n))
lab_wait_for 10 "underlay: t2's requests in VNI 5002" want underlay "5002/*/request/t2" $((6 * n))
lab_wait_for 10 "underlay: t2's replies in VNI 5002" want underlay "5002/*/reply/t2" $((6 * n))
for x in w1 w2 y2 r1 r2; do lab_stop "cap-${x}" INT; done
lab_stop cap-underlay INT

# Each echo request arrived only at its own tenant's workload; nothing of a tenant crossed the
# underlay but in its L3 VNI (not in the other's, not in an L2 VNI: routed, symmetric IRB).
for x in w1 r1; do
  lab_assert_eq "t2's packets seen by ${x} (t1)" "$(n_of "${x}" '*/*/*/t2')" 0
done
for x in w2 r2 y2; do
  lab_assert_eq "t1's packets seen by ${x} (t2)" "$(n_of "${x}" '*/*/*/t1')" 0
done
for fam in 4 6; do
  lab_assert_eq "t1's requests at r1 (IPv${fam})" "$(n_of r1 "-/${fam}/request/t1")" "${n}"
  lab_assert_eq "t1's requests at w1 (IPv${fam})" "$(n_of w1 "-/${fam}/request/t1")" "${n}"
  lab_assert_eq "t2's requests at r2 (IPv${fam})" "$(n_of r2 "-/${fam}/request/t2")" "${n}"
  lab_assert_eq "t2's requests at w2 (IPv${fam})" "$(n_of w2 "-/${fam}/request/t2")" "${n}"
done
lab_assert_eq "t1's packets on the underlay" "$(n_of underlay '*/*/*/t1')" $((8 * n))
lab_assert_eq "t1's packets on the underlay in VNI 5001" "$(n_of underlay '5001/*/*/t1')" $((8 * n))
lab_assert_eq "t2's packets on the underlay" "$(n_of underlay '*/*/*/t2')" $((12 * n))
lab_assert_eq "t2's packets on the underlay in VNI 5002" "$(n_of underlay '5002/*/*/t2')" $((12 * n))
for x in w1 w2 y2 r1 r2 underlay; do lab_log "capture ${x}: $(counts "${x}")"; done
lab_log "each tenant's pings crossed in its own L3 VNI and reached only its own workloads"
lab_log "PASS"
