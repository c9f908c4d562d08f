#!/usr/bin/env bash
# CNI plugin benchmark (docs/performance.md): isthmus-cni + isthmusd's agent against the
# reference plugins `bridge` + `host-local` (containernetworking-plugins), same machine, same run,
# interleaved.
#
#   bench/cni_bench.sh [--containers N] [--churn PAIRS] [--parallel P] [--reference DIR]
#                      [BUILD_DIR]
#
# Defaults: 200 containers, 200 churn pairs, 4 parallel workers, reference plugins in /usr/lib/cni.
# ISTHMUS_LOG_LEVEL=info: the agents' logs (default warn). STATE_TMPFS=1: the agents' state
# directories (their IPAM state, written with fsync on every change) on tmpfs (/dev/shm) instead
# of the run's directory in /tmp, to see what the disk's fsync costs. PERF_OUT=FILE: `perf record -g` of the
# agent under test (host 2) during the whole driver run.
#
# Lab: h1 an isthmusd route reflector; h2 and h3 isthmusd agents (network blue, VNI 100, subnet
# 100.64.0.0/22, pools 100.64.1.0/24 and 100.64.2.0/24, IPv4 only) peering with it over iBGP
# EVPN; h4 a plain host namespace for the reference plugins (bridge cnibr0, isDefaultGateway,
# ipMasq false, host-local 100.64.1.1-254 of 100.64.0.0/22, gateway 100.64.0.1). N container
# namespaces per plugin are made before the run (lo up).
#
# bench/cni_driver.py is the runtime: it execs each plugin binary with the CNI_* variables and the
# configuration on stdin, from its own host namespace (h2 or h4), and times the exec with
# perf_counter_ns (spawn included, the same spawn path for both; "floor" is /bin/true through it).
#   ADD / DEL   latency of each of the N containers, plugins interleaved per container.
#   churn       sequential ADD+DEL pairs on one node, pairs per second of plugin time.
#   parallel    P workers doing ADD+DEL pairs at once: pairs per second of wall time.
#   remote      isthmus only: from the start of a container's ADD until host 3's kernel has the
#               container's MAC on vxlan100 towards host 2 (fdb_watch --trace on h3: netlink
#               events, wall clock on both sides). Then a workload attached on h3 pings the first
#               and the last container (the "ping" column).
#
# Runs as root; every namespace, link, file and process it makes goes at exit, also on failure or
# Ctrl-C (lab/lib.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
containers=200
churn=200
parallel=4
refdir=/usr/lib/cni
build="${here}/../build"
while [[ $# -gt 0 ]]; do
  case $1 in
    --containers) containers=$2; shift 2 ;;
    --churn) churn=$2; shift 2 ;;
    --parallel) parallel=$2; shift 2 ;;
    --reference) refdir=$2; shift 2 ;;
    *) build=$1; shift ;;
  esac
done
((containers >= 2 && containers <= 250)) || { echo "--containers: 2..250 (one /24 pool)" >&2; exit 2; }
build=$(realpath "${build}")
ISTHMUSD="${build}/bin/isthmusd"
ISTHMUSCTL="${build}/bin/isthmusctl"
CNI="${build}/bin/isthmus-cni"
WATCH="${build}/bin/fdb_watch"
export ISTHMUSD ISTHMUSCTL
source "${here}/../lab/lib.sh"
lab_init
for b in "${CNI}" "${WATCH}" "${refdir}/bridge" "${refdir}/host-local"; do
  [[ -x ${b} ]] || lab_fail "${b} is missing (build isthmus-cni and fdb_watch; apt-get install containernetworking-plugins)"
done
lab_underlay 3
lab_host 4
state_base=${LAB_DIR}
if [[ ${STATE_TMPFS:-0} == 1 ]]; then
  state_base=/dev/shm/${LAB_PREFIX}
  mkdir -m 700 "${state_base}"
  # lab_cleanup keeps the exit status it is called with.
  # shellcheck disable=SC2154  # rc is assigned in the trap itself
  trap 'rc=$?; rm -rf "${state_base}"; (exit "${rc}"); lab_cleanup' EXIT
fi

agent_conf() {  # agent_conf ID POOL
  cat <<YAML
control_socket: $(lab_isthmus_sock "agent$1")
log_level: ${ISTHMUS_LOG_LEVEL:-warn}
agent:
  vtep: { address: 198.18.0.$1 }
  api_socket: ${LAB_DIR}/agent$1.api
  state_dir: ${state_base}/agent$1.state
networks:
  - { name: blue, vni: 100, subnet: 100.64.0.0/22, gateway: 100.64.0.1, pool: $2 }
bgp:
  asn: 65000
  router_id: 198.18.0.$1
  listen: { address: 198.18.0.$1, port: 179 }
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.1, remote_as: 65000, families: [l2vpn-evpn] }
YAML
}
lab_isthmusd_start 1 rr "control_socket: $(lab_isthmus_sock rr)
log_level: ${ISTHMUS_LOG_LEVEL:-warn}
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: { address: 198.18.0.1, port: 179 }
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.2, remote_as: 65000, route_reflector_client: true, families: [l2vpn-evpn] }
    - { address: 198.18.0.3, remote_as: 65000, route_reflector_client: true, families: [l2vpn-evpn] }"
lab_isthmusd_start 2 agent2 "$(agent_conf 2 100.64.1.0/24)"
lab_isthmusd_start 3 agent3 "$(agent_conf 3 100.64.2.0/24)"
for peer in 198.18.0.2 198.18.0.3; do
  lab_wait_for 60 "rr: ${peer} Established" lab_isthmus_established rr "${peer}"
done
flood() { lab_fdb_has 3 vxlan100 00:00:00:00:00:00 198.18.0.2; }
lab_wait_for 30 "host 3 floods to host 2" flood

# The container namespaces: N per plugin plus one for the warm-up, lo up (as a runtime's pause
# container has it). Registered before creation, so that cleanup finds them whatever happens.
lab_log "making $((2 * (containers + 1))) container namespaces"
for kind in iso ref; do
  for i in $(seq 0 "${containers}"); do
    ns="${LAB_PREFIX}-${kind}${i}"
    echo "${ns}" >>"${LAB_DIR}/namespaces"
    ip netns add "${ns}"
    ip -n "${ns}" link set lo up
  done
done

lab_spawn 3 trace "${WATCH}" --vxlan vxlan100 --bridge br100 --trace
lab_wait_for 10 "fdb_watch ready" grep -q ready "${LAB_DIR}/trace.log"

python3 - "${LAB_DIR}" "${LAB_PREFIX}" "${containers}" "${churn}" "${parallel}" "${CNI}" "${refdir}" >"${LAB_DIR}/driver.json" <<'PY'
import json, sys
d, prefix, n, churn, par, cni, ref = sys.argv[1:8]
n, churn, par = int(n), int(churn), int(par)
nets = lambda k: [f"/var/run/netns/{prefix}-{k}{i}" for i in range(n + 1)]
json.dump({
    "containers": n, "churn": churn, "parallel": par, "parallel_pairs": max(1, n // max(par, 1)),
    "floor_binary": "/bin/true", "cni_path": f"{ref}:{cni.rsplit('/', 1)[0]}",
    "added_file": f"{d}/added.json", "go_file": f"{d}/go",
    "plugins": [
        {"name": "isthmus", "binary": cni, "host_ns": f"/var/run/netns/{prefix}-h2",
         "netns": nets("iso"), "mac_of_result": True,
         "conf": {"cniVersion": "1.0.0", "name": "blue", "type": "isthmus-cni",
                  "agent_socket": f"{d}/agent2.api"}},
        {"name": "reference", "binary": f"{ref}/bridge", "host_ns": f"/var/run/netns/{prefix}-h4",
         "netns": nets("ref"),
         "conf": {"cniVersion": "1.0.0", "name": "ref", "type": "bridge", "bridge": "cnibr0",
                  "isGateway": True, "isDefaultGateway": True, "ipMasq": False,
                  "ipam": {"type": "host-local", "dataDir": f"{d}/host-local",
                           "ranges": [[{"subnet": "100.64.0.0/22", "rangeStart": "100.64.1.1",
                                        "rangeEnd": "100.64.1.254", "gateway": "100.64.0.1"}]]}}},
    ]}, sys.stdout)
PY

perf_pid=""
if [[ -n ${PERF_OUT:-} ]]; then
  perf record -g -o "${PERF_OUT}" -p "$(lab_pid agent2)" >/dev/null 2>&1 &
  perf_pid=$!
  echo "${perf_pid} perf" >>"${LAB_DIR}/pids"
  sleep 0.5
fi
cpu0=$(awk '{ print $14 + $15 }' "/proc/$(lab_pid agent2)/stat")
lab_log "driver: ${containers} containers, ${churn} churn pairs, ${parallel} parallel workers"
python3 "${here}/cni_driver.py" "${LAB_DIR}/driver.json" >"${LAB_DIR}/samples.json" 2>"${LAB_DIR}/driver.log" &
driver=$!
echo "${driver} driver" >>"${LAB_DIR}/pids"
driver_running() { kill -0 "${driver}" 2>/dev/null; }
until [[ -f ${LAB_DIR}/added.json ]]; do
  driver_running || { cat "${LAB_DIR}/driver.log" >&2; lab_fail "the driver failed before its DELs"; }
  sleep 0.1
done

# Remote reachability: every container's MAC at host 3, then a ping from a workload on host 3.
all_remote() {
  python3 - "${LAB_DIR}/added.json" "${LAB_DIR}/trace.log" <<'PY'
import json, sys
want = set(json.load(open(sys.argv[1]))["isthmus"]["mac"])
have = {json.loads(l).get("mac") for l in open(sys.argv[2]) if '"event":"mac"' in l and '"dst":"198.18.0.2"' in l}
sys.exit(0 if want <= have else 1)
PY
}
lab_wait_for 30 "host 3 has every container's MAC" all_remote
rw="${LAB_PREFIX}-rw"
lab_new_ns "${rw}"
rw_add=$(ip netns exec "$(lab_ns 3)" env CNI_COMMAND=ADD CNI_CONTAINERID=remote CNI_NETNS="/var/run/netns/${rw}" \
  CNI_IFNAME=eth0 CNI_PATH="${build}/bin" "${CNI}" <<<"{\"cniVersion\":\"1.0.0\",\"name\":\"blue\",\"type\":\"isthmus-cni\",\"agent_socket\":\"${LAB_DIR}/agent3.api\"}") ||
  lab_fail "remote workload ADD: ${rw_add}"
ping_ok=yes
for i in 0 $((containers - 1)); do
  addr=$(ip -n "${LAB_PREFIX}-iso${i}" -4 -o addr show dev eth0 | awk '{ split($4, a, "/"); print a[1] }')
  ip netns exec "${rw}" ping -c1 -W2 "${addr}" >/dev/null 2>&1 || { ping_ok=no; lab_log "no ping from host 3 to container ${i} (${addr})"; }
done
touch "${LAB_DIR}/go"
wait "${driver}" || { cat "${LAB_DIR}/driver.log" >&2; lab_fail "the driver failed"; }
cpu=$(awk -v a="$(awk '{ print $14 + $15 }' "/proc/$(lab_pid agent2)/stat")" -v b="${cpu0}" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (a - b) / hz }')
[[ -n ${perf_pid} ]] && { kill -INT "${perf_pid}"; wait "${perf_pid}" || true; }
left=$(lab_exec 2 ip -o link show master br100 | grep -c veth || true)
((left == 0)) || lab_fail "${left} veths left on host 2's br100 after the DELs"

echo
python3 - "${LAB_DIR}/samples.json" "${LAB_DIR}/added.json" "${LAB_DIR}/trace.log" "${ping_ok}" "${cpu}" <<'PY'
import json, math, sys
s = json.load(open(sys.argv[1]))
added = json.load(open(sys.argv[2]))["isthmus"]
first = {}
for l in open(sys.argv[3]):
    e = json.loads(l)
    if e["event"] == "mac" and e.get("dst") == "198.18.0.2":
        first.setdefault(e["mac"], e["t"])
pct = lambda v, p: sorted(v)[max(0, math.ceil(p / 100 * len(v)) - 1)]  # nearest rank
ms = lambda ns: ns / 1e6
reach = [(first[m] - w) * 1000 for m, w in zip(added["mac"], added["add_wall"]) if m in first]
rows = {}
for name in ("isthmus", "reference"):
    r = s[name]
    par = r["parallel"]
    rows[name] = {
        "add50": ms(pct(r["add"], 50)), "add99": ms(pct(r["add"], 99)),
        "del50": ms(pct(r["del"], 50)), "del99": ms(pct(r["del"], 99)),
        "churn": len(r["churn"]) / (sum(r["churn"]) / 1e9),
        "par": sum(n for n, _ in par) / (sum(t for _, t in par) / 1e9) if par else float("nan"),
    }
fl = s["floor"]
print(f"spawn floor (/bin/true): p50 {ms(pct(fl, 50)):.2f} ms, p99 {ms(pct(fl, 99)):.2f} ms; "
      f"containers: {len(s['isthmus']['add'])}; agent CPU over the run: {sys.argv[5]} s")
print(f"{'plugin':<10} {'ADD p50':>8} {'ADD p99':>8} {'DEL p50':>8} {'DEL p99':>8} {'churn/s':>8} {'par/s':>7} {'remote p50':>10} {'remote p99':>10} {'ping':>5}")
for name, r in rows.items():
    rem = (f"{pct(reach, 50):10.1f} {pct(reach, 99):10.1f} {sys.argv[4]:>5}" if name == "isthmus"
           else f"{'-':>10} {'-':>10} {'-':>5}")
    print(f"{name:<10} {r['add50']:8.2f} {r['add99']:8.2f} {r['del50']:8.2f} {r['del99']:8.2f} {r['churn']:8.1f} {r['par']:7.1f} {rem}")
i, f = rows["isthmus"], rows["reference"]
print(f"{'ratio':<10} {i['add50'] / f['add50']:7.2f}x {i['add99'] / f['add99']:7.2f}x {i['del50'] / f['del50']:7.2f}x "
      f"{i['del99'] / f['del99']:7.2f}x {i['churn'] / f['churn']:7.2f}x {i['par'] / f['par']:6.2f}x   (isthmus / reference)")
if len(reach) != len(added["mac"]):
    print(f"remote: {len(added['mac']) - len(reach)} MACs never seen at host 3")
PY
