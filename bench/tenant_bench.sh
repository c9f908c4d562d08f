#!/usr/bin/env bash
# Tenant routing benchmarks (docs/performance.md, "Tenant routing"): routed against bridged
# throughput between isthmusd agents, and EVPN IP prefix routes (type 5) into a node's VRF table,
# isthmusd's agent against FRR 8.4 (zebra + bgpd) in the same run.
#
#   bench/tenant_bench.sh [--only throughput|prefixes] [--mtu M[,M...]] [--seconds S]
#                         [--runs R] [--prefixes N[,N...]] [--vteps isthmusd,frr]
#                         [--chunk C --gap-ms T] [--timeout SECONDS] [BUILD_DIR]
#
# Defaults: both benchmarks; --mtu 1500,8950 --seconds 10 --runs 3 --prefixes 10000,100000,
# both VTEPs, 300 s per prefix run. ISTHMUS_LOG_LEVEL=info: isthmusd's log (default warn).
# PERF_OUT=FILE: a `perf record -g` profile of the VTEP under test during each prefix run
# (FILE.<vtep>.<N>). --chunk C --gap-ms T: the sender writes the prefixes C at a time with a pause
# of T ms after each (routes that trickle in; default all at once).
#
# throughput: h1 an isthmusd route reflector, h2 and h3 isthmusd agents (iBGP EVPN clients) with
#   one tenant, tenant1 (L3 VNI 5001): blue (VNI 100, 100.64.1.0/24) on h2, red (VNI 200,
#   100.64.2.0/24) on h3, green (VNI 300, 100.64.3.0/24) on both. Workloads (a namespace each, a
#   veth on the network's bridge): wb 100.64.1.10 (h2, blue), wr 100.64.2.10 (h3, red), wg2
#   100.64.3.10 (h2, green), wg3 100.64.3.11 (h3, green). iperf3, one TCP stream for S seconds
#   (the first second, slow start, omitted), from h2's workload to h3's: "bridged" wg2 -> wg3
#   (the same network on both nodes: VXLAN VNI 300), "routed" wb -> wr (two networks of the
#   tenant: routed at h2 into br5001, VXLAN VNI 5001, routed at h3: symmetric IRB). R runs, each
#   one bridged and one routed test, their order alternating; per workload MTU M (both veth ends;
#   the overlay's bridges and VXLAN devices keep the agents' MTU, 8950 over the lab's 9000).
#   Reported per run: Gbit/s of each path (the receiver's count) and TCP retransmits, the ratio
#   routed/bridged; the MTUs of the devices on the path.
# prefixes: bgp_blast (h1, 198.18.0.1) peers over iBGP (AS 65000) with the VTEP under test (h2)
#   and sends N IP prefix routes (type 5, RFC 9136: /30s of 100.64.0.0/10) of L3 VNI 5001 with
#   next hop 198.18.0.3 (h3, a real host of the underlay), its Router's MAC 02:00:c6:12:00:03,
#   route target 65000:5001, VXLAN encapsulation, many per UPDATE (bgp_blast --l3vni). The VTEP
#   under test is an isthmusd agent with tenant1 (one network, 100.127.0.0/24, VNI 100), whose
#   table is 0x49000000 + 5001, or FRR 8.4 with L3 VNI 5001 in its default VRF (br5001 +
#   vxlan5001 made by the script as lab_l3vni_bridge makes them, zebra's `vni 5001`), whose
#   table is main. Measured: from the sender's first route until the kernel's table holds all N
#   (route_watch: netlink route events, no polling); the CPU seconds (utime+stime) of isthmusd,
#   or of zebra and bgpd together, over that interval, and their peak RSS (VmHWM) at the end.
#
# Runs as root; every namespace, link and process it makes goes at exit (lab/lib.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
only=""
mtus="1500,8950"
seconds=10
runs=3
prefixes="10000,100000"
vteps="isthmusd,frr"
timeout=300
pacing=()
build="${here}/../build"
while [[ $# -gt 0 ]]; do
  case $1 in
    --only) only=$2; shift 2 ;;
    --mtu) mtus=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --prefixes) prefixes=$2; shift 2 ;;
    --vteps) vteps=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --chunk) pacing+=(--chunk "$2"); shift 2 ;;
    --gap-ms) pacing+=(--gap-ms "$2"); shift 2 ;;
    *) build=$1; shift ;;
  esac
done
ISTHMUSD="${build}/bin/isthmusd"
ISTHMUSCTL="${build}/bin/isthmusctl"
BLAST="${build}/bin/bgp_blast"
WATCH="${build}/bin/route_watch"
export ISTHMUSD ISTHMUSCTL
source "${here}/../lab/lib.sh"
lab_init
lab_require_isthmus
lab_underlay 3
results="${LAB_DIR}/results.txt"
: >"${results}"
l3vni=5001
table=$((0x49000000 + l3vni))

proc_cpu() {  # utime+stime of PIDs, seconds
  local total=0 p
  for p in "$@"; do
    read -r -a f <"/proc/${p}/stat"
    total=$((total + f[13] + f[14]))
  done
  awk -v t="${total}" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}
proc_hwm_kb() {  # peak RSS of PIDs, summed, kB
  local total=0 p
  for p in "$@"; do
    total=$((total + $(awk '/VmHWM/ { print $2 }' "/proc/${p}/status")))
  done
  echo "${total}"
}
json_field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
event_line() { grep -h "\"event\":\"$2\"" "${LAB_DIR}/$1.log" | tail -1; }
has_link() { lab_exec "$1" ip link show "$2" >/dev/null 2>&1; }

# agent_conf I NETWORKS...: an isthmusd agent on host I (198.18.0.I), an iBGP EVPN client of
# 198.18.0.1 (default timers), with the NETWORKS (YAML flow maps) and tenant1.
agent_conf() {
  local i=$1 n nets=""
  shift
  for n in "$@"; do nets+="
  - ${n}"; done
  cat <<YAML
control_socket: $(lab_isthmus_sock "agent${i}")
log_level: ${ISTHMUS_LOG_LEVEL:-warn}
agent:
  vtep: { address: "198.18.0.${i}" }
  api_socket: ${LAB_DIR}/agent${i}.api
  state_dir: ${LAB_DIR}/agent${i}.state
networks:${nets}
vrfs: [{ name: tenant1, l3vni: ${l3vni} }]
bgp:
  asn: 65000
  router_id: 198.18.0.${i}
  listen: { address: 198.18.0.${i}, port: 179 }
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.1, remote_as: 65000, families: [l2vpn-evpn] }
YAML
}

# ---- throughput: routed (L3 VNI) against bridged (L2 VNI) -----------------------------------------
w() { ip netns exec "$(lab_ns "$1")" "${@:2}"; }

# iperf_one CLIENT SERVER_ADDR: Gbit/s received and retransmits of one TCP stream
iperf_one() {
  local out
  out=$(w "$1" iperf3 -c "$2" -t "${seconds}" -O 1 -J) || lab_fail "iperf3 from $1 to $2: ${out}"
  python3 -c '
import json, sys
e = json.loads(sys.argv[1])["end"]
print("%.2f %d" % (e["sum_received"]["bits_per_second"] / 1e9, e["sum_sent"].get("retransmits", 0)))
' "${out}"
}

set_mtu() {  # set_mtu M: the workloads' veths, both ends
  local x
  for x in "2 wb" "3 wr" "2 wg2" "3 wg3"; do
    read -r i wl <<<"${x}"
    lab_exec "${i}" ip link set "veth-${wl}" mtu "$1"
    w "${wl}" ip link set eth0 mtu "$1"
  done
}

throughput() {
  local n
  lab_isthmus_rr_start 1 2 3
  lab_isthmusd_start 2 agent2 "$(agent_conf 2 \
    "{ name: blue, vni: 100, subnet: 100.64.1.0/24, vrf: tenant1, pool: 100.64.1.64/26 }" \
    "{ name: green, vni: 300, subnet: 100.64.3.0/24, vrf: tenant1, pool: 100.64.3.64/26 }")"
  lab_isthmusd_start 3 agent3 "$(agent_conf 3 \
    "{ name: red, vni: 200, subnet: 100.64.2.0/24, vrf: tenant1, pool: 100.64.2.64/26 }" \
    "{ name: green, vni: 300, subnet: 100.64.3.0/24, vrf: tenant1, pool: 100.64.3.128/26 }")"
  for n in 2 3; do
    lab_wait_for 60 "rr: 198.18.0.${n} Established" lab_isthmus_established rr "198.18.0.${n}"
  done
  for n in "2 br100" "2 br300" "2 br${l3vni}" "3 br200" "3 br300" "3 br${l3vni}"; do
    lab_wait_for 30 "host ${n% *}: ${n#* }" has_link "${n% *}" "${n#* }"
  done
  lab_attach_workload 2 100 wb 100.64.1.10/24
  lab_attach_workload 3 200 wr 100.64.2.10/24
  lab_attach_workload 2 300 wg2 100.64.3.10/24
  lab_attach_workload 3 300 wg3 100.64.3.11/24
  local x
  for x in "wb 100.64.1.1" "wr 100.64.2.1" "wg2 100.64.3.1" "wg3 100.64.3.1"; do
    read -r wl gw <<<"${x}"
    w "${wl}" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    lab_wait_for 10 "${wl} reaches its gateway ${gw}" w "${wl}" ping -c1 -W1 "${gw}"
  done
  lab_wait_for 30 "routed: wb reaches wr" w wb ping -c1 -W1 100.64.2.10
  lab_wait_for 30 "bridged: wg2 reaches wg3" w wg2 ping -c1 -W1 100.64.3.11
  lab_spawn wr iperf-wr iperf3 -s --forceflush -B 100.64.2.10
  lab_spawn wg3 iperf-wg3 iperf3 -s --forceflush -B 100.64.3.11
  lab_wait_for 10 "iperf3 servers" grep -q "listening" "${LAB_DIR}/iperf-wr.log"
  lab_wait_for 10 "iperf3 servers" grep -q "listening" "${LAB_DIR}/iperf-wg3.log"
  local m r b rt devs d
  IFS=, read -r -a ms <<<"${mtus}"
  for m in "${ms[@]}"; do
    set_mtu "${m}"
    devs=""
    for d in veth-wb br100 veth-wg2 br300 vxlan300 "br${l3vni}" "vxlan${l3vni}" eth0; do
      devs+=" ${d}=$(lab_exec 2 cat "/sys/class/net/${d}/mtu")"
    done
    lab_log "workload MTU ${m}: h2's MTUs:${devs}"
    echo "mtus ${m}${devs}" >>"${results}"
    # the path's MTU as the workloads see it: a full-size packet with DF passes both ways
    w wb ping -c1 -W2 -M "do" -s $((m - 28)) 100.64.2.10 >/dev/null ||
      lab_fail "routed: a ${m}-byte packet with DF does not pass from wb to wr"
    w wg2 ping -c1 -W2 -M "do" -s $((m - 28)) 100.64.3.11 >/dev/null ||
      lab_fail "bridged: a ${m}-byte packet with DF does not pass from wg2 to wg3"
    for r in $(seq 1 "${runs}"); do
      if ((r % 2)); then
        b=$(iperf_one wg2 100.64.3.11)
        rt=$(iperf_one wb 100.64.2.10)
      else
        rt=$(iperf_one wb 100.64.2.10)
        b=$(iperf_one wg2 100.64.3.11)
      fi
      echo "throughput ${m} ${r} ${b} ${rt}" | tee -a "${results}"
    done
  done
  for x in wr wg3; do lab_stop "iperf-${x}"; done
  lab_stop agent2
  lab_stop agent3
  lab_stop rr
}

# ---- prefixes: N type-5 routes into the tenant's table --------------------------------------------
frr_rmac=02:00:00:00:50:02
frr_l3vni_up() {
  lab_vtysh dut-frr "show evpn vni ${l3vni} json" |
    lab_check_json "j['type'] == 'L3' and j['state'] == 'Up' and j['routerMac'] == '${frr_rmac}'"
}

start_dut() {  # KIND; sets DUT_PIDS and DUT_TABLE
  case $1 in
    isthmusd)
      lab_isthmusd_start 2 dut-isthmusd "$(agent_conf 2 \
        "{ name: blue, vni: 100, subnet: 100.127.0.0/24, vrf: tenant1, pool: 100.127.0.64/26 }" |
        sed "s/agent2/dut-isthmusd/g")"
      lab_wait_for 30 "isthmusd: br${l3vni}" has_link 2 "br${l3vni}"
      lab_wait_for 30 "isthmusd: rule into ${table}" \
        lab_shows "iif br${l3vni} lookup ${table}" lab_exec 2 ip -4 rule show
      DUT_PIDS=$(lab_pid dut-isthmusd)
      DUT_TABLE=${table} ;;
    frr)
      lab_vxlan_bridge 2 100 198.18.0.2
      lab_exec 2 ip addr add 100.127.0.1/24 dev br100
      lab_l3vni_bridge 2 "${l3vni}" 198.18.0.2 "${frr_rmac}"
      lab_frr_start 2 dut-frr "$(lab_frr_evpn_l3vni_conf 2)"
      lab_wait_for 20 "FRR: zebra takes vni ${l3vni}" lab_frr_zebra_vni dut-frr "${l3vni}"
      lab_wait_for 30 "FRR: L3 VNI ${l3vni} up" frr_l3vni_up
      lab_wait_for 30 "FRR: bgpd knows L3 VNI ${l3vni}" lab_frr_bgp_l3vni dut-frr "${l3vni}" "${frr_rmac}"
      DUT_PIDS="$(lab_pid dut-frr) $(lab_pid dut-frr-zebra)"
      DUT_TABLE=254 ;;
    *) lab_fail "--vteps: isthmusd or frr, not $1" ;;
  esac
}

stop_dut() {  # KIND: stops it and removes what it left in h2's kernel
  lab_stop "dut-$1"
  lab_uncritical "dut-$1-zebra"
  local l
  for l in "br${l3vni}" "vxlan${l3vni}" br100 vxlan100 vm100; do
    lab_exec 2 ip link del "${l}" 2>/dev/null || true
  done
  lab_exec 2 ip -4 route flush table "${table}" 2>/dev/null || true
  lab_exec 2 ip -6 route flush table "${table}" 2>/dev/null || true
  lab_exec 2 ip -4 route flush proto bgp 2>/dev/null || true
  while lab_exec 2 ip -4 rule del table "${table}" 2>/dev/null; do :; done
  while lab_exec 2 ip -6 rule del table "${table}" 2>/dev/null; do :; done
  sleep 0.5
}

prefixes_one() {  # KIND N
  local kind=$1 n=$2
  rm -f "${LAB_DIR}/go" "${LAB_DIR}/sender.log" "${LAB_DIR}/watch.log"
  lab_spawn 1 sender "${BLAST}" send --listen 198.18.0.1:179 --asn 65000 --prefixes "${n}" \
    --family evpn --l3vni "${l3vni}" --next-hops 198.18.0.3 --router-id 198.18.0.1 \
    --start-file "${LAB_DIR}/go" "${pacing[@]}"
  lab_critical sender
  start_dut "${kind}"
  local pids=${DUT_PIDS}
  lab_wait_for 60 "${kind}: sender session" grep -q established "${LAB_DIR}/sender.log"
  sleep 1  # the VTEP's own start-up work is done
  lab_spawn 2 watch "${WATCH}" --table "${DUT_TABLE}" --routes "${n}"
  lab_wait_for 10 "route_watch ready" grep -q ready "${LAB_DIR}/watch.log"
  local cpu0
  cpu0=$(proc_cpu ${pids})
  local perf_pid=""
  if [[ -n ${PERF_OUT:-} ]]; then
    perf record -g -o "${PERF_OUT}.${kind}.${n}" -p "${pids// /,}" >/dev/null 2>&1 &
    perf_pid=$!
    sleep 0.5
  fi
  touch "${LAB_DIR}/go"
  local status=ok
  lab_poll "${timeout}" grep -q complete "${LAB_DIR}/watch.log" || status=timeout
  local secs cpu rss
  cpu=$(awk -v a="$(proc_cpu ${pids})" -v b="${cpu0}" 'BEGIN { printf "%.2f", a - b }')
  rss=$(proc_hwm_kb ${pids})
  [[ -n ${perf_pid} ]] && { kill -INT "${perf_pid}"; wait "${perf_pid}" || true; }
  if [[ ${status} == ok ]]; then
    secs=$(awk -v a="$(json_field "$(event_line sender sent)" t_start)" \
      -v b="$(json_field "$(event_line watch complete)" t)" 'BEGIN { printf "%.2f", b - a }')
  else
    secs=">${timeout}"
    lab_log "${kind}: timed out; $(tail -1 "${LAB_DIR}/watch.log")"
  fi
  # What a route became (after the measurement): via the remote VTEP on the L3 VNI's bridge.
  local route
  route=$(lab_exec 2 ip -4 route show table "${DUT_TABLE}" 100.64.0.4/30) || route="(ip route failed)"
  lab_log "${kind}: ${route}"
  [[ ${status} != ok ]] || grep -q "via 198.18.0.3 dev br${l3vni} .*onlink" <<<"${route}" ||
    lab_fail "${kind}: 100.64.0.4/30 is not routed via 198.18.0.3 on br${l3vni}: ${route}"
  echo "prefixes ${kind} ${n} ${secs} ${cpu} ${rss}" | tee -a "${results}"
  lab_stop watch
  lab_stop sender
  stop_dut "${kind}"
}

IFS=, read -r -a ks <<<"${vteps}"
IFS=, read -r -a ns <<<"${prefixes}"
[[ ${only} == prefixes ]] || throughput
if [[ ${only} != throughput ]]; then
  for n in "${ns[@]}"; do
    for k in "${ks[@]}"; do prefixes_one "${k}" "${n}"; done
  done
fi

echo
python3 - "${results}" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
for r in rows:
    if r[0] == "mtus":
        print(f"workload MTU {r[1]}: h2's MTUs " + " ".join(r[2:]))
tp = [r[1:] for r in rows if r[0] == "throughput"]
if tp:
    print(f"{'MTU':>5} {'run':>4} {'bridged Gb/s':>13} {'retr':>6} {'routed Gb/s':>12} {'retr':>6} {'routed/bridged':>15}")
    for m, r, b, br, rt, rr in tp:
        print(f"{m:>5} {r:>4} {b:>13} {br:>6} {rt:>12} {rr:>6} {float(rt) / float(b):>14.2f}x")
    # The mean of each path, and the median of the pairs' ratios (one busy moment of the machine
    # moves a mean, hardly a median).
    for m in dict.fromkeys(t[0] for t in tp):
        ts = [t for t in tp if t[0] == m]
        b = sum(float(t[2]) for t in ts) / len(ts)
        rt = sum(float(t[4]) for t in ts) / len(ts)
        ratios = sorted(float(t[4]) / float(t[2]) for t in ts)
        med = (ratios[(len(ratios) - 1) // 2] + ratios[len(ratios) // 2]) / 2
        print(f"{m:>5} {'mean':>4} {b:>13.2f} {'':>6} {rt:>12.2f} {'':>6} {rt / b:>14.2f}x")
        print(f"{m:>5} {'med.':>4} {'':>13} {'':>6} {'':>12} {'':>6} {med:>14.2f}x")
pf = [r[1:] for r in rows if r[0] == "prefixes"]
if pf:
    ref = {n: float(s) for k, n, s, c, m in pf if k == "frr" and not s.startswith(">")}
    print(f"{'vtep':<10} {'prefixes':>9} {'seconds':>8} {'CPU s':>7} {'peak RSS MB':>12} {'vs FRR':>7}")
    for k, n, s, c, m in pf:
        ratio = f"{float(s) / ref[n]:.2f}x" if ref.get(n) and not s.startswith(">") else "-"
        print(f"{k:<10} {n:>9} {s:>8} {c:>7} {int(m) / 1024:>12.0f} {ratio:>7}")
PY
