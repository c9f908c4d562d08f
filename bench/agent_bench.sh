#!/usr/bin/env bash
# Node agent benchmarks (docs/performance.md), isthmusd's agent against FRR 8.4 (zebra + bgpd as
# an EVPN VTEP with advertise-all-vni) in the same run.
#
#   bench/agent_bench.sh [--macs N[,N...]] [--workloads W] [--vteps isthmusd,frr]
#                        [--only program|reach] [--timeout SECONDS] [BUILD_DIR]
#
# Defaults: --macs 10000,100000 --workloads 100, both VTEPs, both benchmarks, 300 s per
# programming run. PERF_OUT=FILE: a `perf record -g` profile of the VTEP under test during each
# programming run (FILE.<vtep>.<N>). ISTHMUS_LOG_LEVEL=info: isthmusd's log (default warn).
#
# program: remote MACs into the kernel. bgp_blast (h1, 198.18.0.1) peers over iBGP (AS 65000)
#   with the VTEP under test (h2, 198.18.0.2) and sends, for VNI 100, one IMET route per remote
#   VTEP (198.18.0.11-14) and then N MAC/IP routes (type 2, MAC 02:00:<i>, IPv4 100.64.0.0+i)
#   dealt over those four next hops. Measured: from the sender's first route until the host's
#   kernel holds all N MACs on vxlan100 (FDB entries of the device with the remote VTEP) and all
#   N IPs in br100's neighbour table; and the CPU seconds (utime+stime) of isthmusd, or of zebra
#   and bgpd together. The kernel is watched by fdb_watch (netlink events, no polling).
# reach: "workload up -> known at the remote host". Two VTEPs of the same kind, h2 (host A) and
#   h3 (host B), peer with each other over iBGP. W times: a workload namespace with a veth on
#   host A's br100 and an address (100.64.1.x/24) is made; then (t0) it pings the anycast gateway
#   100.64.1.1 once, which teaches host A's bridge its MAC and host A's bridge its IP (ARP); t1 is
#   the moment host B's kernel holds both its MAC (on vxlan100, towards host A's VTEP) and its IP
#   (in br100's neighbours), from fdb_watch --trace on host B. Reported: p50, p99 and max of
#   t1 - t0. At the end a workload on host B pings the last workload once (reachability check).
#
# Runs as root; every namespace, link and process it makes goes at exit (lab/lib.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
macs="10000,100000"
workloads=100
vteps="isthmusd,frr"
only=""
timeout=300
build="${here}/../build"
while [[ $# -gt 0 ]]; do
  case $1 in
    --macs) macs=$2; shift 2 ;;
    --workloads) workloads=$2; shift 2 ;;
    --vteps) vteps=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    *) build=$1; shift ;;
  esac
done
ISTHMUSD="${build}/bin/isthmusd"
ISTHMUSCTL="${build}/bin/isthmusctl"
BLAST="${build}/bin/bgp_blast"
WATCH="${build}/bin/fdb_watch"
export ISTHMUSD ISTHMUSCTL
source "${here}/../lab/lib.sh"
lab_init
lab_underlay 3
[[ -x ${BLAST} && -x ${WATCH} ]] || lab_fail "bgp_blast or fdb_watch not built in ${build}"
results="${LAB_DIR}/results.txt"
: >"${results}"
remote_vteps="198.18.0.11,198.18.0.12,198.18.0.13,198.18.0.14"
anycast_mac=02:00:5e:00:00:01

proc_cpu() {  # utime+stime of PIDs, seconds
  local total=0 p
  for p in "$@"; do
    read -r -a f <"/proc/${p}/stat"
    total=$((total + f[13] + f[14]))
  done
  awk -v t="${total}" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}
json_field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
event_line() { grep -h "\"event\":\"$2\"" "${LAB_DIR}/$1.log" | tail -1; }
has_link() { lab_exec "$1" ip link show "$2" >/dev/null 2>&1; }

# start_vtep KIND HOST NAME PEER...: a VTEP of VNI 100 on host HOST (198.18.0.HOST) peering over
# iBGP with each PEER; sets VTEP_PIDS, the processes to measure.
start_vtep() {
  local kind=$1 i=$2 name=$3 p
  shift 3
  case ${kind} in
    isthmusd)
      local neighbors=""
      for p in "$@"; do
        neighbors+="
    - { address: ${p}, remote_as: 65000, families: [l2vpn-evpn] }"
      done
      lab_isthmusd_start "${i}" "${name}" "control_socket: $(lab_isthmus_sock "${name}")
log_level: ${ISTHMUS_LOG_LEVEL:-warn}
agent:
  vtep: { address: \"198.18.0.${i}\" }
  api_socket: ${LAB_DIR}/${name}.api
  state_dir: ${LAB_DIR}/${name}.state
networks:
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, gateway: 100.64.1.1 }
bgp:
  asn: 65000
  router_id: 198.18.0.${i}
  listen: { address: 198.18.0.${i}, port: 179 }
  connect_retry: 1
  neighbors:${neighbors}"
      VTEP_PIDS=$(lab_pid "${name}") ;;
    frr)
      # The plumbing FRR expects, made as isthmusd's agent makes its own (agent/reconciler.h),
      # with the same gateway address and MAC.
      local ns
      ns=$(lab_ns "${i}")
      ip -n "${ns}" link add br100 type bridge stp_state 0 mcast_snooping 0
      ip -n "${ns}" link set br100 address "${anycast_mac}"
      ip -n "${ns}" link add vxlan100 type vxlan id 100 dstport 4789 local "198.18.0.${i}" nolearning
      ip -n "${ns}" link set vxlan100 master br100
      ip -n "${ns}" link set dev vxlan100 type bridge_slave learning off neigh_suppress on
      ip -n "${ns}" link set br100 mtu 8950
      ip -n "${ns}" link set vxlan100 mtu 8950
      ip -n "${ns}" addr add 100.64.1.1/24 dev br100
      ip -n "${ns}" link set vxlan100 up
      ip -n "${ns}" link set br100 up
      local conf="frr defaults datacenter
hostname ${name}
router bgp 65000
 bgp router-id 198.18.0.${i}
 no bgp default ipv4-unicast"
      for p in "$@"; do conf+="
 neighbor ${p} remote-as 65000
 neighbor ${p} timers connect 1"; done
      conf+="
 address-family l2vpn evpn"
      for p in "$@"; do conf+="
  neighbor ${p} activate"; done
      conf+="
  advertise-all-vni
 exit-address-family"
      lab_frr_start "${i}" "${name}" "${conf}"
      VTEP_PIDS="$(lab_pid "${name}") $(lab_pid "${name}-zebra")" ;;
    *) lab_fail "--vteps: isthmusd or frr, not ${kind}" ;;
  esac
  lab_wait_for 30 "${name}: br100 and vxlan100" has_link "${i}" vxlan100
}

stop_all() {  # stops every process of the round and removes what FRR's plumbing left
  local name i
  for name in "$@"; do lab_alive "${name}" && lab_stop "${name}"; lab_uncritical "${name}"; lab_uncritical "${name}-zebra"; done
  for i in 1 2 3; do
    lab_exec "${i}" ip link del vxlan100 2>/dev/null || true
    lab_exec "${i}" ip link del br100 2>/dev/null || true
  done
  sleep 0.5
}

# ---- program: N remote MACs into the kernel -----------------------------------------------------
program_one() {  # KIND N
  local kind=$1 n=$2
  rm -f "${LAB_DIR}/go" "${LAB_DIR}/sender.log" "${LAB_DIR}/watch.log"
  lab_spawn 1 sender "${BLAST}" send --listen 198.18.0.1:179 --asn 65000 --prefixes "${n}" \
    --family evpn --vni 100 --next-hops "${remote_vteps}" --router-id 198.18.0.1 \
    --start-file "${LAB_DIR}/go"
  start_vtep "${kind}" 2 "dut-${kind}" 198.18.0.1
  local pids=${VTEP_PIDS}
  lab_wait_for 60 "${kind}: sender session" grep -q established "${LAB_DIR}/sender.log"
  sleep 1  # the VTEP's own start-up work (its IMET route, the kernel read) is done
  lab_spawn 2 watch "${WATCH}" --vxlan vxlan100 --bridge br100 --macs "${n}" --ips "${n}"
  lab_wait_for 10 "fdb_watch ready" grep -q ready "${LAB_DIR}/watch.log"
  local cpu0
  cpu0=$(proc_cpu ${pids})
  local perf_pid=""
  if [[ -n ${PERF_OUT:-} ]]; then  # profile the VTEP: PERF_OUT=file.data
    perf record -g -o "${PERF_OUT}.${kind}.${n}" -p "${pids// /,}" >/dev/null 2>&1 &
    perf_pid=$!
    sleep 0.5
  fi
  touch "${LAB_DIR}/go"
  local status=ok
  lab_poll "${timeout}" grep -q complete "${LAB_DIR}/watch.log" || status=timeout
  local secs cpu
  cpu=$(awk -v a="$(proc_cpu ${pids})" -v b="${cpu0}" 'BEGIN { printf "%.2f", a - b }')
  [[ -n ${perf_pid} ]] && { kill -INT "${perf_pid}"; wait "${perf_pid}" || true; }
  if [[ ${status} == ok ]]; then
    secs=$(awk -v a="$(json_field "$(event_line sender sent)" t_start)" \
      -v b="$(json_field "$(event_line watch complete)" t)" 'BEGIN { printf "%.2f", b - a }')
  else
    secs=">${timeout}"
    lab_log "${kind}: timed out; kernel holds $(lab_exec 2 bridge fdb show dev vxlan100 | grep -c ' dst ' || true) vxlan100 entries, $(lab_exec 2 ip neigh show dev br100 | wc -l) neighbours"
  fi
  echo "program ${kind} ${n} ${secs} ${cpu}" | tee -a "${results}"
  if ((n <= 10000)); then  # what the VTEP made of the routes (a dump: after the measurement)
    local fdb
    fdb=$(lab_exec 2 bridge fdb show dev vxlan100)
    lab_log "${kind}: vxlan100 holds $(grep -c ' dst ' <<<"${fdb}" || true) entries with a VTEP and $(grep -c ' master br100' <<<"${fdb}" || true) bridge entries; br100 $(lab_exec 2 ip neigh show dev br100 | wc -l) neighbours"
  fi
  stop_all "dut-${kind}" sender watch
}

# ---- reach: workload up -> known at the remote host ----------------------------------------------
reach_run() {  # KIND
  local kind=$1 w t0 t1 ip
  rm -f "${LAB_DIR}/trace.log"
  start_vtep "${kind}" 2 vtepa 198.18.0.3
  start_vtep "${kind}" 3 vtepb 198.18.0.2
  case ${kind} in
    isthmusd) lab_wait_for 60 "A-B session" lab_isthmus_established vtepa 198.18.0.3 ;;
    frr) lab_wait_for 60 "A-B session" lab_frr_established vtepa 198.18.0.3 ;;
  esac
  flood() { lab_fdb_has "$1" vxlan100 00:00:00:00:00:00 "$2"; }
  lab_wait_for 30 "host B floods to host A" flood 3 198.18.0.2
  lab_spawn 3 trace "${WATCH}" --vxlan vxlan100 --bridge br100 --trace
  lab_wait_for 10 "fdb_watch ready" grep -q ready "${LAB_DIR}/trace.log"
  local lat="${LAB_DIR}/reach-${kind}.txt"
  : >"${lat}"
  for w in $(seq 1 "${workloads}"); do
    ip="100.64.1.$((w + 10))"
    lab_attach_workload 2 100 "${kind:0:1}w${w}" "${ip}/24"
    local ns
    ns=$(lab_ns "${kind:0:1}w${w}")
    ip netns exec "${ns}" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    local mac
    mac=$(ip netns exec "${ns}" cat /sys/class/net/eth0/address)
    t0=$(date +%s.%N)
    ip netns exec "${ns}" ping -c1 -W1 100.64.1.1 >/dev/null 2>&1 || true
    known() { grep -q "\"ip\":\"$1\"" "${LAB_DIR}/trace.log" && grep -q "\"mac\":\"$2\",\"dst\"" "${LAB_DIR}/trace.log"; }
    local deadline=$((SECONDS + 10))
    until known "${ip}" "${mac}"; do
      ((SECONDS < deadline)) || lab_fail "${kind}: workload ${ip} (${mac}) not at host B after 10 s"
      sleep 0.005
    done
    t1=$(python3 - "${LAB_DIR}/trace.log" "${ip}" "${mac}" <<'PY'
import json, sys
t = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "ip" and e["ip"] == sys.argv[2]: t.setdefault("ip", e["t"])
    if e["event"] == "mac" and e["mac"] == sys.argv[3]: t.setdefault("mac", e["t"])
print(max(t["ip"], t["mac"]))
PY
)
    awk -v a="${t0}" -v b="${t1}" 'BEGIN { printf "%.2f\n", (b - a) * 1000 }' >>"${lat}"
  done
  # Reachability check: a workload on host B pings the last workload of host A.
  lab_attach_workload 3 100 "${kind:0:1}b" 100.64.1.250/24
  local reach=no
  ip netns exec "$(lab_ns "${kind:0:1}b")" ping -c1 -W2 "${ip}" >/dev/null 2>&1 && reach=yes
  python3 - "${lat}" "${kind}" "${reach}" <<'PY' | tee -a "${results}"
import math, sys
v = sorted(float(x) for x in open(sys.argv[1]))
pct = lambda p: v[max(0, math.ceil(p / 100 * len(v)) - 1)]  # nearest rank
print(f"reach {sys.argv[2]} {len(v)} {pct(50):.1f} {pct(99):.1f} {v[-1]:.1f} {sys.argv[3]}")
PY
  for w in $(seq 1 "${workloads}"); do ip netns delete "$(lab_ns "${kind:0:1}w${w}")" 2>/dev/null || true; done
  ip netns delete "$(lab_ns "${kind:0:1}b")" 2>/dev/null || true
  stop_all vtepa vtepb trace
}

IFS=, read -r -a ns <<<"${macs}"
IFS=, read -r -a ks <<<"${vteps}"
if [[ ${only} != reach ]]; then
  for n in "${ns[@]}"; do
    for k in "${ks[@]}"; do program_one "${k}" "${n}"; done
  done
fi
if [[ ${only} != program ]]; then
  for k in "${ks[@]}"; do reach_run "${k}"; done
fi

echo
python3 - "${results}" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
prog = [r[1:] for r in rows if r[0] == "program"]
reach = [r[1:] for r in rows if r[0] == "reach"]
if prog:
    ref = {n: float(s) for k, n, s, c in prog if k == "frr" and not s.startswith(">")}
    print(f"{'vtep':<10} {'MACs':>8} {'seconds':>8} {'CPU s':>7} {'vs FRR':>7}")
    for k, n, s, c in prog:
        ratio = f"{float(s) / ref[n]:.2f}x" if n in ref and ref[n] > 0 and not s.startswith(">") else "-"
        print(f"{k:<10} {n:>8} {s:>8} {c:>7} {ratio:>7}")
if reach:
    ref = {r[0]: float(r[2]) for r in reach}
    print(f"{'vtep':<10} {'workloads':>9} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'ping':>5} {'p50 vs FRR':>10}")
    for k, n, p50, p99, mx, ok in reach:
        ratio = f"{float(p50) / ref['frr']:.2f}x" if ref.get("frr") else "-"
        print(f"{k:<10} {n:>9} {p50:>7} {p99:>7} {mx:>7} {ok:>5} {ratio:>10}")
PY
