#!/usr/bin/env bash
# BGP route-propagation benchmark: a sender injects N IPv4 prefixes (2,000 distinct AS paths,
# many prefixes per UPDATE) into the speaker under test, which passes them to a receiver over
# eBGP. Measured per speaker, in the same run: time from the sender's first byte until the
# receiver holds all N prefixes, the speaker's peak RSS and its CPU seconds. "direct" is the
# sender talking to the receiver with no speaker between: the harness's own floor.
#
#   bench/bgp_convergence.sh [--prefixes N[,N...]] [--speakers isthmusd,bird,frr,gobgp]
#                            [--family ipv4|evpn] [BUILD_DIR]
#
# --family evpn: N EVPN MAC/IP routes (type 2, MAC+IPv4) over 2,000 VNIs, every speaker
# an iBGP route reflector (AS 65000) with sender and receiver as its clients. BIRD has no EVPN.
#
# PERF_OUT=FILE records a `perf record -g` profile of the speaker during each run into FILE.
#
# Hosts (network namespaces): h1 sender 198.18.0.1 AS65001, h2 speaker 198.18.0.2 AS65000,
# h3 receiver 198.18.0.3 AS65002. Runs as root; cleans up after itself.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefixes="100000,1000000"
speakers="direct,isthmusd,bird,frr,gobgp"
family=ipv4
build="${here}/../build"
while [[ $# -gt 0 ]]; do
  case $1 in
    --prefixes) prefixes=$2; shift 2 ;;
    --speakers) speakers=$2; shift 2 ;;
    --family) family=$2; shift 2 ;;
    *) build=$1; shift ;;
  esac
done
ISTHMUSD="${build}/bin/isthmusd"
ISTHMUSCTL="${build}/bin/isthmusctl"
BLAST="${build}/bin/bgp_blast"
export ISTHMUSD ISTHMUSCTL
source "${here}/../lab/lib.sh"
lab_init
lab_underlay 3
[[ -x ${BLAST} ]] || lab_fail "bgp_blast not built: ${BLAST}"

paths=2000
case ${family} in
  ipv4) sender_as=65001 receiver_as=65002 ;;
  evpn) sender_as=65000 receiver_as=65000 ;;
  *) lab_fail "--family: ipv4 or evpn, not ${family}" ;;
esac
results="${LAB_DIR}/results.txt"
: >"${results}"

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

start_speaker() {  # kind; sets DUT_PIDS, the processes to measure
  [[ ${family} == evpn ]] && { start_evpn_speaker "$1"; return; }
  case $1 in
    isthmusd)
      lab_isthmusd_start 2 dut "control_socket: $(lab_isthmus_sock dut)
log_level: warn
bgp:
  asn: 65000
  router_id: 198.18.0.2
  listen: false
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.1, remote_as: 65001, import: accept-all, export: reject-all }
    - { address: 198.18.0.3, remote_as: 65002, import: reject-all, export: accept-all }"
      DUT_PIDS=$(lab_pid dut) ;;
    bird)
      lab_bird_start 2 dut "router id 198.18.0.2;
protocol device {}
protocol bgp sender { local 198.18.0.2 as 65000; neighbor 198.18.0.1 as 65001; ipv4 { import all; export none; }; }
protocol bgp receiver { local 198.18.0.2 as 65000; neighbor 198.18.0.3 as 65002; ipv4 { import none; export all; }; }"
      DUT_PIDS=$(lab_pid dut) ;;
    frr)
      lab_frr_start 2 dut "frr defaults traditional
bgp no-rib
router bgp 65000
 bgp router-id 198.18.0.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 198.18.0.1 remote-as 65001
 neighbor 198.18.0.3 remote-as 65002
 address-family ipv4 unicast
  neighbor 198.18.0.1 activate
  neighbor 198.18.0.3 activate
 exit-address-family"
      DUT_PIDS="$(lab_pid dut) $(lab_pid dut-zebra)" ;;
    gobgp)
      lab_gobgp_start 2 dut '[global.config]
  as = 65000
  router-id = "198.18.0.2"
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.0.1"
    peer-as = 65001
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.0.3"
    peer-as = 65002'
      DUT_PIDS=$(lab_pid dut) ;;
  esac
}

# EVPN: every speaker a route reflector for the sender and the receiver (iBGP, AS 65000).
start_evpn_speaker() {
  case $1 in
    isthmusd)
      lab_isthmusd_start 2 dut "control_socket: $(lab_isthmus_sock dut)
log_level: warn
bgp:
  asn: 65000
  router_id: 198.18.0.2
  listen: false
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.1, remote_as: 65000, route_reflector_client: true, families: [l2vpn-evpn] }
    - { address: 198.18.0.3, remote_as: 65000, route_reflector_client: true, families: [l2vpn-evpn] }"
      DUT_PIDS=$(lab_pid dut) ;;
    frr)
      lab_frr_start 2 dut "frr defaults traditional
bgp no-rib
router bgp 65000
 bgp router-id 198.18.0.2
 no bgp default ipv4-unicast
 neighbor 198.18.0.1 remote-as 65000
 neighbor 198.18.0.3 remote-as 65000
 address-family l2vpn evpn
  neighbor 198.18.0.1 activate
  neighbor 198.18.0.1 route-reflector-client
  neighbor 198.18.0.3 activate
  neighbor 198.18.0.3 route-reflector-client
 exit-address-family"
      DUT_PIDS="$(lab_pid dut) $(lab_pid dut-zebra)" ;;
    gobgp)
      local n conf='[global.config]
  as = 65000
  router-id = "198.18.0.2"
  port = -1'
      for n in 198.18.0.1 198.18.0.3; do
        conf+="
[[neighbors]]
  [neighbors.config]
    neighbor-address = \"${n}\"
    peer-as = 65000
  [neighbors.route-reflector.config]
    route-reflector-client = true
    route-reflector-cluster-id = \"198.18.0.2\"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = \"l2vpn-evpn\""
      done
      lab_gobgp_start 2 dut "${conf}"
      DUT_PIDS=$(lab_pid dut) ;;
    *) lab_fail "${1}: no EVPN in this benchmark (BIRD 2 has none)" ;;
  esac
}

run_one() {  # speaker N
  local kind=$1 n=$2 pids=""
  rm -f "${LAB_DIR}/go" "${LAB_DIR}/sender.log" "${LAB_DIR}/receiver.log"
  lab_spawn 1 sender "${BLAST}" send --listen 198.18.0.1:179 --asn "${sender_as}" \
    --prefixes "${n}" --family "${family}" --paths "${paths}" --next-hop 198.18.0.1 \
    --router-id 198.18.0.1 --start-file "${LAB_DIR}/go"
  local sender_pid=${LAB_LAST_PID}
  if [[ ${kind} == direct ]]; then
    lab_spawn 3 receiver "${BLAST}" recv --connect 198.18.0.1:179 --asn "${receiver_as}" \
      --prefixes "${n}" --family "${family}" --router-id 198.18.0.3
    local receiver_pid=${LAB_LAST_PID}
  else
    lab_spawn 3 receiver "${BLAST}" recv --listen 198.18.0.3:179 --asn "${receiver_as}" \
      --prefixes "${n}" --family "${family}" --router-id 198.18.0.3
    local receiver_pid=${LAB_LAST_PID}
    start_speaker "${kind}"
    pids=${DUT_PIDS}
  fi
  lab_wait_for 60 "${kind}: sender session" grep -q established "${LAB_DIR}/sender.log"
  lab_wait_for 60 "${kind}: receiver session" grep -q established "${LAB_DIR}/receiver.log"
  sleep 1
  local cpu0=0
  [[ -n ${pids} ]] && cpu0=$(proc_cpu ${pids})
  local perf_pid=""
  if [[ -n ${PERF_OUT:-} && -n ${pids} ]]; then  # profile the speaker: PERF_OUT=file.data
    perf record -g -o "${PERF_OUT}" -p "${pids// /,}" >/dev/null 2>&1 &
    perf_pid=$!
    sleep 0.5
  fi
  touch "${LAB_DIR}/go"
  lab_wait_for 900 "${kind}: receiver holds ${n} prefixes" grep -q complete "${LAB_DIR}/receiver.log"
  local t0 t1
  t0=$(json_field "$(event_line sender sent)" t_start)
  t1=$(json_field "$(event_line receiver complete)" t)
  local secs cpu="-" rss="-"
  secs=$(awk -v a="${t0}" -v b="${t1}" 'BEGIN { printf "%.2f", b - a }')
  if [[ -n ${pids} ]]; then
    cpu=$(awk -v a="$(proc_cpu ${pids})" -v b="${cpu0}" 'BEGIN { printf "%.2f", a - b }')
    rss=$(proc_hwm_kb ${pids})
  fi
  [[ -n ${perf_pid} ]] && { kill -INT "${perf_pid}"; wait "${perf_pid}" || true; }
  echo "${kind} ${n} ${secs} ${cpu} ${rss}" | tee -a "${results}"
  # Stop everything of this round.
  for name in dut dut-zebra sender receiver; do lab_alive "${name}" && lab_stop "${name}"; done
  lab_uncritical dut; lab_uncritical dut-zebra
  kill "${sender_pid}" "${receiver_pid}" 2>/dev/null || true
  sleep 1
}

IFS=, read -r -a ns <<<"${prefixes}"
IFS=, read -r -a ks <<<"${speakers}"
for n in "${ns[@]}"; do
  for k in "${ks[@]}"; do run_one "${k}" "${n}"; done
done

echo
# Ratios against BIRD for IPv4; for EVPN (no BIRD) against the faster of FRR and GoBGP.
printf '%-10s %9s %9s %9s %12s %10s %10s\n' speaker prefixes seconds cpu_s peak_rss_MB "B/route" "vs ref"
python3 - "${results}" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
ref = {}
for kind, n, secs, *_ in rows:
    if kind == "bird":
        ref[n] = ("bird", float(secs))
for kind, n, secs, *_ in rows:
    if kind in ("frr", "gobgp") and (n not in ref or (ref[n][0] != "bird" and float(secs) < ref[n][1])):
        ref[n] = (kind, float(secs))
for kind, n, secs, cpu, rss in rows:
    mb = "-" if rss == "-" else f"{int(rss) / 1024:.0f}"
    per = "-" if rss == "-" else f"{int(rss) * 1024 / int(n):.0f}"
    ratio = f"{float(secs) / ref[n][1]:.2f}x" if n in ref and ref[n][1] > 0 else "-"
    print(f"{kind:<10} {n:>9} {secs:>9} {cpu:>9} {mb:>12} {per:>10} {ratio:>10}")
for n, (kind, secs) in sorted(ref.items(), key=lambda x: int(x[0])):
    print(f"reference for {n}: {kind}")
PY
