#!/usr/bin/env bash
# Silent hosts behind an anycast gateway: a workload that has never sent a packet (a static
# address, a VM that has not spoken yet) is reached by routed traffic from another node within one
# second, IPv4 and IPv6, in a stretched subnet (its network exists on both nodes).
#   h1 isthmusd RR 198.18.0.1
#   h2 agent 198.18.0.2, h3 agent 198.18.0.3, both with the same four networks:
#     blue   VNI 100 100.64.1.0/24 fd00:64:1::/64   VRF office (not declared: asymmetric IRB)
#     red    VNI 200 100.64.2.0/24 fd00:64:2::/64   VRF office
#     green  VNI 300 100.64.3.0/24 fd00:64:3::/64   VRF tenant1 (L3 VNI 5001: symmetric IRB)
#     yellow VNI 400 100.64.4.0/24 fd00:64:4::/64   VRF tenant1
#   probes on h2: w2 (red, .12) and y2 (yellow, .12); silent hosts on h3: b4, b6 (blue) and g4, g6
#   (green), each probed in one family (b4, g4: IPv4; b6, g6: IPv6) and silent until then.
# The ingress node (h2) resolves the silent host from its own bridge, whose address and MAC are
# the anycast gateway's; the request floods over VXLAN and the host answers to the gateway MAC,
# which is local at h3: h3's own stack takes the answer. The agents set arp_accept=2 and
# accept_untracked_na=2 on their gateway bridges (RFC 9131 for IPv6), so h3 learns the host from
# that answer, advertises it (MAC/IP route) and h2 installs it, which replaces h2's unresolved
# entry and sends the echo it held. Checked: the sysctls, that each silent host sent nothing before
# its probe (capture), the first echo reply within 1 s of the first echo (`ping -c 1 -w 1 -i 0.2`:
# an echo every 0.2 s, 1 s deadline), that h3 learned the host and h2 installed it (and, in the
# tenant, its host route through the L3 VNI); and, as a control, that without the sysctls at h3
# another silent host is not reached.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 3
dump_kernels() { # what the agents' kernels hold, for a failure's report
  local i
  for i in 2 3; do
    echo "===== host ${i}: neighbours, FDB, tables, sysctls"
    lab_exec "${i}" ip neigh show nud all
    lab_exec "${i}" bridge fdb show
    lab_exec "${i}" ip -4 route show table all
    lab_exec "${i}" ip -6 route show table all
    lab_exec "${i}" sysctl net.ipv4.conf.br100.arp_accept net.ipv6.conf.br100.accept_untracked_na \
      net.ipv6.conf.br100.forwarding net.ipv4.conf.br300.arp_accept net.ipv6.conf.br300.accept_untracked_na
    lab_isthmusctl "agent${i}" show evpn mac vni 100
    lab_isthmusctl "agent${i}" show evpn mac vni 300
  done
}
lab_on_fail dump_kernels

l3vni=5001
table=$((0x49000000 + l3vni)) # the tenant's routing table (kTableBase + L3 VNI)
agent_conf() {                # agent_conf ID
  lab_agent_conf "$1" <<YAML
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, subnet6: "fd00:64:1::/64", vrf: office }
  - { name: red, vni: 200, subnet: 100.64.2.0/24, subnet6: "fd00:64:2::/64", vrf: office }
  - { name: green, vni: 300, subnet: 100.64.3.0/24, subnet6: "fd00:64:3::/64", vrf: tenant1 }
  - { name: yellow, vni: 400, subnet: 100.64.4.0/24, subnet6: "fd00:64:4::/64", vrf: tenant1 }
YAML
  printf 'vrfs:\n  - { name: tenant1, l3vni: %s }\n' "${l3vni}"
}
lab_isthmus_rr_start 1 2 3
lab_isthmusd_start 2 agent2 "$(agent_conf 2)"
lab_isthmusd_start 3 agent3 "$(agent_conf 3)"
for peer in 198.18.0.2 198.18.0.3; do
  lab_wait_for 60 "rr: ${peer} Established" lab_isthmus_established rr "${peer}"
done

shows() { # shows PATTERN CMD...: CMD's output has PATTERN (read whole: pipefail and grep -q)
  local out
  out=$("${@:2}")
  grep -Eq -- "$1" <<<"${out}"
}
# The gateway bridges learn hosts from answers to the gateway (arp_accept, accept_untracked_na:
# 2, only from their own subnets); accept_untracked_na needs IPv6 forwarding on the bridge.
for i in 2 3; do
  for br in br100 br200 br300 br400; do
    lab_wait_for 30 "host ${i}: ${br} is there" lab_exec "${i}" ip link show "${br}"
    for s in "ipv4.conf.${br}.arp_accept 2" "ipv6.conf.${br}.accept_untracked_na 2" "ipv6.conf.${br}.forwarding 1"; do
      read -r key want <<<"${s}"
      lab_wait_for 10 "host ${i}: net.${key} = ${want}" lab_is "${want}" lab_exec "${i}" sysctl -n "net.${key}"
    done
  done
  lab_assert_eq "host ${i}: net.ipv4.conf.br${l3vni}.arp_accept (no gateway there)" \
    "$(lab_exec "${i}" sysctl -n "net.ipv4.conf.br${l3vni}.arp_accept")" 0
done
lab_log "agents: arp_accept=2 and accept_untracked_na=2 (forwarding 1) on every gateway bridge, not on br${l3vni}"

# The probes on h2 are known everywhere before the silent hosts are tried: each speaks to its
# gateway, and h3 installs its addresses (so h3's answers are not a resolution of their own).
lab_attach_workload 2 200 w2 100.64.2.12/24 fd00:64:2::12/64
lab_attach_workload 2 400 y2 100.64.4.12/24 fd00:64:4::12/64
w() { ip netns exec "$(lab_ns "$1")" "${@:2}"; }
for p in "w2 2 br200" "y2 4 br400"; do
  read -r name n br <<<"${p}"
  w "${name}" ping -c1 -W2 "100.64.${n}.1" >/dev/null || lab_fail "${name} cannot reach its gateway 100.64.${n}.1"
  lab_wait_for 10 "${name} reaches its gateway fd00:64:${n}::1" w "${name}" ping -6 -c1 -W1 "fd00:64:${n}::1"
  for a in "100.64.${n}.12" "fd00:64:${n}::12"; do
    lab_wait_for 30 "host 3 has ${name}'s ${a} on ${br}" shows "^${a} lladdr .*extern_learn" lab_exec 3 ip neigh show dev "${br}"
  done
done
lab_wait_for 30 "host 3 routes y2 (100.64.4.12) through br${l3vni}" \
  shows "^100.64.4.12 via 198.18.0.2 dev br${l3vni}" lab_exec 3 ip -4 route show table "${table}"

# The silent hosts on h3.
lab_silent_workload 3 100 b4 02:00:00:01:00:04 100.64.1.40/24 fd00:64:1::40/64
lab_silent_workload 3 100 b6 02:00:00:01:00:06 100.64.1.60/24 fd00:64:1::60/64
lab_silent_workload 3 300 g4 02:00:00:03:00:04 100.64.3.40/24 fd00:64:3::40/64
lab_silent_workload 3 300 g6 02:00:00:03:00:06 100.64.3.60/24 fd00:64:3::60/64

# first_reply FROM TARGET: FROM pings TARGET, an echo every 0.2 s until the first reply or 1 s
# after the first echo; prints the time to that reply (s), its icmp_seq and round-trip time (ms).
first_reply() {
  local out t0 t1 seq rtt
  t0=$(date +%s.%N)
  out=$(w "$1" ping -n -c 1 -w 1 -i 0.2 "$2" 2>&1) || {
    echo "no reply within 1 s: ${out}"
    return 1
  }
  t1=$(date +%s.%N)
  seq=$(sed -n 's/.*icmp_seq=\([0-9]*\).*/\1/p' <<<"${out}")
  rtt=$(sed -n 's/.* time=\([0-9.]*\) ms.*/\1/p' <<<"${out}")
  awk -v t0="${t0}" -v t1="${t1}" -v seq="${seq}" -v rtt="${rtt}" 'BEGIN { printf "%.3f %s %s\n", t1 - t0, seq, rtt }'
}

# probe SILENT FROM TARGET NET BR: SILENT has sent nothing; FROM (routed, in another network of
# the VRF) reaches it at TARGET within 1 s; h3 learned it from its answer and h2 installed it.
probe() {
  local silent=$1 from=$2 target=$3 net=$4 br=$5 mac sent result secs seq rtt
  mac=$(w "${silent}" cat /sys/class/net/eth0/address)
  sent=$(lab_silent_sent "${silent}")
  [[ -z ${sent} ]] || lab_fail "${silent} sent frames before it was probed:"$'\n'"${sent}"
  shows "^${mac} " lab_exec 3 bridge fdb show br "br${net}" && lab_fail "host 3's bridge knows ${silent}'s MAC before the probe"
  shows "^${target} " lab_exec 2 ip neigh show nud all && lab_fail "host 2 has an entry for ${target} before the probe"
  shows "\"${mac}\"" lab_isthmusctl agent3 show evpn mac vni "${net}" -o json &&
    lab_fail "agent 3 advertises ${silent}'s MAC before the probe"
  result=$(first_reply "${from}" "${target}") ||
    lab_fail "${from} -> ${silent} ${target}: ${result}"$'\n'"$(lab_silent_sent "${silent}")"
  read -r secs seq rtt <<<"${result}"
  lab_log "${from} -> silent ${silent} ${target}: first reply after ${secs} s (icmp_seq ${seq}, rtt ${rtt} ms)"
  echo "${from} ${target} ${secs} ${seq} ${rtt}" >>"${LAB_DIR}/times"
  # The answers h3's stack took: the entry arp_accept / accept_untracked_na made, advertised.
  shows "^${target} lladdr ${mac} " lab_exec 3 ip neigh show dev "${br}" ||
    lab_fail "host 3 did not learn ${target}: $(lab_exec 3 ip neigh show dev "${br}")"
  shows "^${target} lladdr ${mac} .*extern_learn" lab_exec 2 ip neigh show dev "${br}" ||
    lab_fail "host 2 did not install ${target} from agent 3's route: $(lab_exec 2 ip neigh show dev "${br}")"
  sent=$(lab_silent_sent "${silent}")
  lab_log "${silent}'s first frames: "$'\n'"$(head -3 <<<"${sent}")"
}

# Asymmetric IRB (VRF office): w2 on red routes into blue at h2; the reply is routed at h3.
probe b4 w2 100.64.1.40 100 br100
probe b6 w2 fd00:64:1::60 100 br100
lab_log "VRF office (asymmetric IRB): silent blue hosts on h3 answer red's w2 on h2 within 1 s, IPv4 and IPv6"

# Symmetric IRB (tenant1, L3 VNI 5001), green stretched over h2 and h3: y2 on yellow reaches them;
# once advertised, h2 routes them by their host routes through br5001.
probe g4 y2 100.64.3.40 300 br300
probe g6 y2 fd00:64:3::60 300 br300
lab_wait_for 10 "host 2 routes g4 (100.64.3.40) through br${l3vni}" \
  shows "^100.64.3.40 via 198.18.0.3 dev br${l3vni}" lab_exec 2 ip -4 route show table "${table}"
lab_wait_for 10 "host 2 routes g6 (fd00:64:3::60) through br${l3vni}" \
  shows "^fd00:64:3::60 via ::ffff:198.18.0.3 dev br${l3vni}" lab_exec 2 ip -6 route show table "${table}"
ping_ok() { w "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; }
ping_ok y2 100.64.3.40 || lab_fail "y2 no longer reaches g4 through its host route"
ping_ok y2 fd00:64:3::60 || lab_fail "y2 no longer reaches g6 through its host route"
lab_log "tenant1 (symmetric IRB): silent green hosts on h3 answer yellow's y2 on h2 within 1 s, IPv4 and IPv6"

# Without the agent's sysctls (set back to the kernel's default at h3's br100), a silent host is
# not reached: h3's stack drops its answers and nobody learns it (so the probes above passed by
# the sysctls, not by anything the hosts sent).
lab_exec 3 sysctl -qw net.ipv4.conf.br100.arp_accept=0 net.ipv6.conf.br100.accept_untracked_na=0
lab_silent_workload 3 100 b0 02:00:00:01:00:00 100.64.1.30/24 fd00:64:1::30/64
for t in 100.64.1.30 fd00:64:1::30; do
  if result=$(first_reply w2 "${t}"); then
    lab_fail "w2 reaches the silent b0 at ${t} with h3's br100 at arp_accept=0, accept_untracked_na=0 (${result})"
  fi
  shows "^${t} " lab_exec 3 ip neigh show dev br100 && lab_fail "host 3 learned ${t} with the sysctls at 0"
done
lab_log "control: with h3's br100 at arp_accept=0 and accept_untracked_na=0, w2 does not reach b0 (IPv4, IPv6)"

lab_log "times to the first reply (from, target, seconds, icmp_seq, rtt ms):"
cat "${LAB_DIR}/times" >&2
lab_log "PASS"
