# shellcheck shell=bash
# lab/lib.sh: network-namespace labs with real BGP peers (FRR, GoBGP, BIRD 2, ExaBGP) for the
# interop tests, the demo and the benchmarks. Source it from a bash script that runs as root:
#
#   source "$(dirname "$0")/../../lab/lib.sh"
#   lab_init                       # run prefix, temp dir, EXIT trap, reap crashed earlier runs
#   lab_underlay 3                 # hosts 1..3 on one switch: 198.18.0.N/24, fd00:18::N/64
#   lab_frr_start 2 frr "$conf"    # bgpd (+ zebra) in host 2, config given as text
#   lab_wait_for 60 "frr session up" lab_frr_established frr 198.18.0.1
#
# lab/selftest.sh proves the library: FRR, GoBGP, BIRD and ExaBGP peer with each other.
# lab_init turns on `set -E` and an ERR trap: an unchecked failing command ends the test through
# lab_fail, with the call chain, the daemons' state and their logs.
#
# Naming: every namespace is "$LAB_PREFIX-<name>", LAB_PREFIX = "il<pid>x<random>"; every file
# lives under $LAB_DIR (/tmp/$LAB_PREFIX.XXXXXX). Links are created inside the lab's namespaces
# only (never in the caller's namespace), so nothing with the prefix leaks outside them.
#
# Functions
#   lab_init                      start a run; installs the EXIT/INT/TERM trap that calls lab_cleanup
#   lab_cleanup                   kill what the run started, delete its namespaces and dir (LAB_KEEP=1 keeps the dir)
#   lab_reap_stale                delete namespaces/dirs left by runs whose shell is gone (lab_init calls it)
#   lab_underlay N                switch namespace with bridge br0 (MTU 9000) + hosts h1..hN, each with
#                                 eth0 198.18.0.<i>/24 and fd00:18::<i>/64 (no DAD), lo up
#   lab_ns I                      print the namespace name of host I
#   lab_ip4 I / lab_ip6 I         print host I's underlay addresses
#   lab_host I                    an empty host namespace I (lo up, no DAD) for a routed topology
#   lab_link I DEV_I J DEV_J      veth between hosts I and J (MTU 9000, up, no addresses)
#   lab_tcp_stat I COUNTER        print a TcpExt counter of host I's namespace (TCPMD5Failure, ...)
#   lab_exec I CMD...             run CMD in host I's namespace
#   lab_spawn I NAME CMD...       start CMD in the background in host I, output to $LAB_DIR/NAME.log,
#                                 remember its PID for cleanup; prints nothing, sets LAB_LAST_PID
#   lab_pid NAME / lab_alive NAME / lab_stop NAME [SIGNAL]
#   lab_wait_for SECS MSG CMD...  poll CMD every 0.2 s until it succeeds; on timeout lab_fail MSG
#   lab_poll SECS CMD...          same, but only returns 1 on timeout
#   lab_never SECS MSG CMD...     poll CMD for SECS seconds; lab_fail MSG as soon as it succeeds
#   lab_always SECS MSG CMD...    poll CMD for SECS seconds; lab_fail MSG as soon as it fails
#   lab_fail MSG                  print MSG, dump every daemon's state and log tail, exit 1
#   lab_on_fail FUNC              register FUNC to be called by lab_fail (extra state dumps)
#   lab_json EXPR                 read JSON on stdin, print the python expression EXPR over it (`j`)
#   lab_check_json EXPR           read JSON on stdin, succeed iff EXPR over it (`j`) is truthy
#   lab_shows PATTERN CMD...      CMD's output has a line matching PATTERN (grep -E; the output is
#                                 read whole first: grep -q's early exit fails nothing under pipefail)
#   lab_assert_eq WHAT GOT WANT   lab_fail unless GOT == WANT
#   lab_log MSG                   timestamped progress line on stderr
#
#   FRR     lab_frr_start I NAME CONF [--no-zebra]   bgpd (and zebra) with bgpd.conf text CONF
#           lab_vtysh NAME CMD...                     each CMD one -c (use "show ... json" for JSON)
#           lab_frr_established NAME PEER             session to PEER is Established
#   GoBGP   lab_gobgp_start I NAME CONF               gobgpd with a TOML config text, API on a unix socket
#           lab_gobgp NAME ARGS...                    the gobgp CLI against it
#   BIRD 2  lab_bird_start I NAME CONF                bird -f with the config text, own control socket
#           lab_birdc NAME CMD...                     birdc -s against it
#   ExaBGP  lab_exabgp_start I NAME CONF              exabgp 4.2 as root, no CLI pipes, log to NAME.log
#   raw     lab_raw_start I NAME ARGS...              tests/interop/raw_bgp.py (crafted UPDATEs); stdin
#                                                     is a FIFO fed by lab_raw NAME "CMD", events (JSON
#                                                     lines) in NAME.log; lab_raw_has NAME PYEXPR
#   isthmus lab_isthmusd_start I NAME YAML            $ISTHMUSD --check-config, then --config in host I
#                                                     ($ISTHMUSD/$ISTHMUSCTL default to build/bin/)
#           lab_isthmus_sock NAME                     control socket path to put in the YAML
#           lab_isthmusctl NAME ARGS...               $ISTHMUSCTL --socket ... ARGS
#           lab_isthmus_established NAME PEER         PEER is Established in show bgp summary
#   EVPN    lab_vxlan_bridge I VNI LOCAL              br<VNI> + vxlan<VNI> (local LOCAL) + port vm<VNI>
#           lab_fdb_has I DEV MAC DST                 host I's bridge FDB: MAC on DEV towards DST
#           lab_frr_evpn_vtep_conf ID                 bgpd.conf of an iBGP EVPN VTEP 198.18.0.ID
#           lab_l3vni_bridge I L3VNI LOCAL RMAC       br<L3VNI> (MAC RMAC) + vxlan<L3VNI>: a tenant's
#                                                     L3 VNI for FRR's default VRF; forwarding on
#           lab_frr_zebra_vni NAME L3VNI              zebra's `vni L3VNI` (through vtysh)
#           lab_frr_evpn_l3vni_conf ID PREFIX...      bgpd.conf of a VTEP that also advertises
#                                                     PREFIXes as type-5 routes (symmetric IRB)
#           lab_frr_evpn_default_originate NAME L3VNI RMAC [no]
#                                                     FRR's type-5 default (0.0.0.0/0, ::/0) into
#                                                     EVPN on (or off), through vtysh once bgpd knows
#                                                     the L3 VNI (lab_frr_bgp_l3vni NAME L3VNI RMAC)
#           lab_frr_has_type5 NAME L3VNI PREFIX VTEP RMAC
#                                                     FRR NAME holds PREFIX as a type-5 route from
#                                                     VTEP (RT 65000:L3VNI, VXLAN, router MAC RMAC)
#           lab_outside_host N DEV O GW4 GW6 A4 A6    namespace O behind host N on a plain veth,
#                                                     default routes via N (a border's outside)
#           lab_workload N VNI M MAC ADDR/LEN         move host N's vm<VNI>p into host M (lab_host)
#                                                     as a workload with MAC and ADDR
#           lab_send_garp I DEV                       one gratuitous ARP from DEV in host I (the
#                                                     bridge behind DEV learns DEV's MAC)
#           lab_isthmus_route NAME AFI PREFIX         print the route's JSON ({} if absent)
#           lab_silent_workload N VNI W MAC A4 [A6]   workload W on host N's br<VNI> that has sent
#                                                     nothing (static addresses, no DAD/RS/GARP)
#           lab_silent_sent W                         the frames W sent since it was attached
#           lab_tenant_workload N VNI W NET HOST      workload W on host N's br<VNI>, 100.64.NET.HOST
#                                                     and fd00:64:NET::HOST, that pinged its gateways
#
# A process registered with lab_critical NAME (every daemon started here is) is checked on every
# poll of lab_wait_for: if it exits, the test fails at once with its log instead of timing out.
# lab_stop NAME unregisters it.
#
# Quirks handled here (checked on Debian 12):
#   - FRR 8.4 daemons run as user frr: their directory must be owned by frr. vtysh finds them
#     with --vty_socket DIR. bgpd without zebra (-Z) works for plain BGP; zebra is started by
#     default so next hops resolve and IPv6 next hops come from the interface.
#   - FRR: define route-maps BEFORE "router bgp" in bgpd.conf. A neighbor route-map that is not
#     yet defined denies everything until the route-map delay timer (5 s) re-evaluates it, and
#     the re-evaluation needs ROUTE-REFRESH, which ExaBGP (and a 2-octet test peer) lack.
#   - gobgpd's gRPC API goes to unix://$LAB_DIR/NAME.sock (--api-hosts), pprof disabled, so
#     nothing listens on a fixed TCP port.
#   - ExaBGP 4.2 refuses to run as root unless exabgp.daemon.user=root, and wants named pipes for
#     its CLI unless exabgp.api.cli=false; settings go in the environment.

LAB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_HOSTS=()
LAB_DUMP_HOOKS=()
LAB_CLEANED=0
LAB_CRITICAL=()
declare -A LAB_RAW_FD=()
declare -A LAB_PINGS=() # lab_ping_start: name -> "pid count"
ISTHMUSD=${ISTHMUSD:-}
ISTHMUSCTL=${ISTHMUSCTL:-}
LAB_RAW_BGP=${LAB_RAW_BGP:-${LAB_LIB_DIR}/../tests/interop/raw_bgp.py}

lab_log() { printf '%s [lab] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }

lab_init() {
  if [[ ${EUID} -ne 0 ]]; then
    echo "lab: must run as root (network namespaces)" >&2
    exit 1
  fi
  lab_reap_stale
  LAB_PREFIX="il$$x${RANDOM}"
  LAB_DIR=$(mktemp -d "/tmp/${LAB_PREFIX}.XXXXXX")
  chmod 755 "${LAB_DIR}"
  : >"${LAB_DIR}/pids"
  : >"${LAB_DIR}/namespaces"
  trap lab_cleanup EXIT
  # set -e alone would end the test silently on an unchecked failure: report it and dump state.
  set -E
  trap 'lab_on_err $? "${BASH_COMMAND}"' ERR
  trap 'exit 130' INT
  trap 'exit 143' TERM
  lab_log "run ${LAB_PREFIX}, files in ${LAB_DIR}"
}

# Namespaces and dirs are named il<pid>x<n>: if <pid> is not a live process, that run crashed
# (or was kill -9ed) before its trap ran. A live pid (even a reused one) is left alone.
lab_reap_stale() {
  local ns pid p d
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ ${ns} =~ ^il([0-9]+)x[0-9]+- ]] || continue
    pid=${BASH_REMATCH[1]}
    [[ -d /proc/${pid} ]] && continue
    for p in $(ip netns pids "${ns}" 2>/dev/null); do kill -9 "${p}" 2>/dev/null || true; done
    ip netns delete "${ns}" 2>/dev/null || true
    echo "lab: removed stale namespace ${ns}" >&2
  done
  for d in /tmp/il*x*.*; do
    [[ -d ${d} && $(basename "${d}") =~ ^il([0-9]+)x[0-9]+\. ]] || continue
    pid=${BASH_REMATCH[1]}
    [[ -d /proc/${pid} ]] && continue
    # Processes of that run that outlived their namespace would still hold files here: kill
    # only those whose pid file lists them and whose cwd or cmdline points into the dir.
    if [[ -f ${d}/pids ]]; then
      while read -r p _; do
        [[ -n ${p} && -d /proc/${p} ]] || continue
        if tr '\0' ' ' <"/proc/${p}/cmdline" 2>/dev/null | grep -qF "${d}"; then
          kill -9 "${p}" 2>/dev/null || true
        fi
      done <"${d}/pids"
    fi
    rm -rf "${d}"
    echo "lab: removed stale dir ${d}" >&2
  done
}

lab_cleanup() {
  local rc=$?
  [[ ${LAB_CLEANED} == 1 || -z ${LAB_DIR:-} ]] && return 0
  LAB_CLEANED=1
  trap - EXIT INT TERM ERR
  set +e
  local pid name ns i
  if [[ -f ${LAB_DIR}/pids ]]; then
    while read -r pid name; do
      kill -TERM "${pid}" 2>/dev/null || true
    done <"${LAB_DIR}/pids"
    for i in $(seq 1 30); do
      local any=0
      while read -r pid name; do
        kill -0 "${pid}" 2>/dev/null && any=1
      done <"${LAB_DIR}/pids"
      [[ ${any} == 0 ]] && break
      sleep 0.1
    done
    while read -r pid name; do
      kill -KILL "${pid}" 2>/dev/null || true
    done <"${LAB_DIR}/pids"
  fi
  if [[ -f ${LAB_DIR}/namespaces ]]; then
    while read -r ns; do
      # Anything still running in a namespace this run created was started by this run.
      for pid in $(ip netns pids "${ns}" 2>/dev/null); do kill -KILL "${pid}" 2>/dev/null || true; done
      ip netns delete "${ns}" 2>/dev/null || true
    done <"${LAB_DIR}/namespaces"
  fi
  if [[ ${LAB_KEEP:-0} == 1 ]]; then
    # Rename so that lab_reap_stale of a later run does not delete it.
    mv "${LAB_DIR}" "${LAB_DIR/\/tmp\/il/\/tmp\/kept-il}" 2>/dev/null &&
      echo "lab: kept files in ${LAB_DIR/\/tmp\/il/\/tmp\/kept-il}" >&2
  else
    rm -rf "${LAB_DIR}"
  fi
  return "${rc}"
}

# ---------------------------------------------------------------------------------------------
# Topology

lab_ns() { echo "${LAB_PREFIX}-h$1"; }
lab_ip4() { echo "198.18.0.$1"; }
lab_ip6() { printf 'fd00:18::%x\n' "$1"; }

lab_new_ns() {
  local ns=$1
  ip netns add "${ns}"
  echo "${ns}" >>"${LAB_DIR}/namespaces"
  # No IPv6 DAD: a tentative link-local address makes FRR refuse IPv6 sessions for seconds
  # ("eth0 does not have a v6 LL address"). Set before any interface exists in the namespace.
  ip netns exec "${ns}" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  ip -n "${ns}" link set lo up
}

lab_underlay() {
  local n=$1 i sw="${LAB_PREFIX}-sw"
  lab_new_ns "${sw}"
  ip -n "${sw}" link add br0 type bridge stp_state 0 mcast_snooping 0
  ip -n "${sw}" link set br0 mtu 9000 up
  for i in $(seq 1 "${n}"); do
    local ns
    ns=$(lab_ns "${i}")
    lab_new_ns "${ns}"
    # Both ends are created inside lab namespaces: no name ever exists in the caller's namespace.
    ip -n "${sw}" link add "p${i}" mtu 9000 type veth peer name eth0 netns "${ns}"
    ip -n "${sw}" link set "p${i}" master br0 up
    ip -n "${ns}" link set eth0 mtu 9000 up
    ip -n "${ns}" addr add "$(lab_ip4 "${i}")/24" dev eth0
    ip -n "${ns}" addr add "$(lab_ip6 "${i}")/64" dev eth0 nodad
    LAB_HOSTS+=("${i}")
  done
  lab_log "underlay: ${n} hosts on ${sw}/br0 (198.18.0.0/24, fd00:18::/64, MTU 9000)"
}

# Routed topologies: hosts made with lab_host and joined with lab_link, addressed and routed
# with plain `ip -n "$(lab_ns I)" ...` (or lab_addr_add).
lab_host() {
  lab_new_ns "$(lab_ns "$1")"
  LAB_HOSTS+=("$1")
}

lab_link() {
  local i=$1 dev_i=$2 j=$3 dev_j=$4
  # Created inside host I's namespace, the peer end moved straight into host J's.
  ip -n "$(lab_ns "${i}")" link add "${dev_i}" mtu 9000 type veth peer name "${dev_j}" netns "$(lab_ns "${j}")"
  ip -n "$(lab_ns "${i}")" link set "${dev_i}" up
  ip -n "$(lab_ns "${j}")" link set "${dev_j}" mtu 9000 up
}

# lab_tcp_stat I COUNTER: the kernel's TcpExt COUNTER (as named in /proc/net/netstat, e.g.
# TCPMD5Failure, TCPMD5NotFound, TCPMD5Unexpected) in host I's namespace; counters are per netns.
lab_tcp_stat() {
  lab_exec "$1" cat /proc/net/netstat | awk -v want="$2" '
    $1 == "TcpExt:" && !names { for (i = 2; i <= NF; i++) idx[$i] = i; names = 1; next }
    $1 == "TcpExt:" && names { print (want in idx) ? $idx[want] : "missing"; exit }'
}

# lab_addr_add I ADDR [DEV]: add an address to host I (default on lo), IPv6 without DAD.
lab_addr_add() {
  local extra=()
  [[ $2 == *:* ]] && extra=(nodad)
  ip -n "$(lab_ns "$1")" addr add "$2" dev "${3:-lo}" "${extra[@]}"
}

lab_exec() {
  local i=$1
  shift
  ip netns exec "$(lab_ns "${i}")" "$@"
}

# ---------------------------------------------------------------------------------------------
# Processes

lab_spawn() {
  local i=$1 name=$2
  shift 2
  ip netns exec "$(lab_ns "${i}")" "$@" >>"${LAB_DIR}/${name}.log" 2>&1 </dev/null &
  LAB_LAST_PID=$!
  echo "${LAB_LAST_PID} ${name}" >>"${LAB_DIR}/pids"
  echo "${LAB_LAST_PID}" >"${LAB_DIR}/${name}.pid.lab"
}

lab_pid() { cat "${LAB_DIR}/$1.pid.lab" 2>/dev/null; }

lab_alive() {
  local pid
  pid=$(lab_pid "$1") || return 1
  [[ -n ${pid} ]] && kill -0 "${pid}" 2>/dev/null
}

# Stop a process this run started and wait (up to 10 s) until it is gone.
lab_stop() {
  local name=$1 sig=${2:-TERM} pid i
  lab_uncritical "${name}"
  pid=$(lab_pid "${name}") || pid=""
  if [[ -n ${pid} ]] && kill "-${sig}" "${pid}" 2>/dev/null; then
    for i in $(seq 1 100); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "${pid}" 2>/dev/null; then
      kill -KILL "${pid}" 2>/dev/null || true
    fi
    wait "${pid}" 2>/dev/null || true
  fi
  # FRR runs zebra next to bgpd; stop it too.
  if [[ -f ${LAB_DIR}/${name}-zebra.pid.lab && ${name} != *-zebra ]]; then
    lab_stop "${name}-zebra" "${sig}"
  fi
  return 0
}

lab_critical() { LAB_CRITICAL+=("$1"); }

lab_uncritical() {
  local keep=() n
  for n in "${LAB_CRITICAL[@]}"; do [[ ${n} == "$1" ]] || keep+=("${n}"); done
  LAB_CRITICAL=("${keep[@]}")
}

lab_check_critical() {
  local n
  for n in "${LAB_CRITICAL[@]}"; do
    if ! lab_alive "${n}"; then
      local rc=0
      wait "$(lab_pid "${n}")" 2>/dev/null || rc=$?
      lab_uncritical "${n}"
      lab_fail "${n} (pid $(lab_pid "${n}")) exited unexpectedly (exit status ${rc})"
    fi
  done
}

lab_poll() {
  local secs=$1 deadline
  shift
  deadline=$((SECONDS + secs))
  while true; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    ((SECONDS >= deadline)) && return 1
    lab_check_critical
    sleep 0.2
  done
}

lab_wait_for() {
  local secs=$1 msg=$2
  shift 2
  if ! lab_poll "${secs}" "$@"; then
    lab_fail "timed out after ${secs}s waiting for: ${msg} (check: $*)"
  fi
  lab_log "ok: ${msg}"
}

# lab_never SECS MSG CMD...: CMD must keep failing for SECS seconds (a session that must not come
# up, a route that must not appear). Polls like lab_wait_for; the first success fails the test.
lab_never() {
  local secs=$1 msg=$2 deadline
  shift 2
  deadline=$((SECONDS + secs))
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then
      lab_fail "${msg} (check succeeded: $*)"
    fi
    lab_check_critical
    sleep 0.2
  done
  lab_log "ok (for ${secs}s): ${msg}"
}

# lab_always SECS MSG CMD...: CMD must keep succeeding for SECS seconds (no flap).
lab_always() {
  local secs=$1 msg=$2 deadline
  shift 2
  deadline=$((SECONDS + secs))
  while ((SECONDS < deadline)); do
    if ! "$@" >/dev/null 2>&1; then
      lab_fail "${msg} (check failed: $*)"
    fi
    lab_check_critical
    sleep 0.2
  done
  lab_log "ok (for ${secs}s): ${msg}"
}

lab_on_fail() { LAB_DUMP_HOOKS+=("$1"); }

# ERR trap: name the failed command and where it was called from (test script line first).
lab_on_err() {
  local rc=$1 cmd=$2 i where=""
  for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
    where+="$(basename "${BASH_SOURCE[i]}"):${BASH_LINENO[i - 1]} ${FUNCNAME[i]} <- "
  done
  lab_fail "command failed (exit ${rc}): ${cmd}"$'\n'"  at ${where% <- }"
}

lab_fail() {
  trap - ERR
  if [[ ${BASHPID} != "$$" ]]; then
    # In a subshell (a $(...) or a pipeline): report and end it; the caller then fails too.
    echo "FAIL (in subshell): $*" >&2
    exit 1
  fi
  echo "FAIL: $*" >&2
  local hook
  for hook in "${LAB_DUMP_HOOKS[@]}"; do
    echo "===== ${hook}" >&2
    "${hook}" >&2 2>&1 || true
  done
  lab_dump_daemons >&2 2>&1 || true
  echo "FAIL: $*" >&2
  exit 1
}

lab_assert_eq() {
  if [[ "$2" != "$3" ]]; then
    lab_fail "$1: got '$2', want '$3'"
  fi
  lab_log "ok: $1 = '$3'"
}

# lab_is VALUE CMD...: true when CMD prints VALUE. For polling with lab_wait_for/lab_always:
# `lab_wait_for 30 "B holds 6" lab_is 6 count b` runs `count b` on every try, where
# `test "$(count b)" = 6` would have counted once, before the first.
lab_is() {
  local want=$1
  shift
  test "$("$@")" = "${want}"
}

lab_json() {
  python3 -c '
import json, sys
j = json.load(sys.stdin)
import ipaddress
v = eval(sys.argv[1], {"j": j, "ipaddress": ipaddress})
print(json.dumps(v) if isinstance(v, (dict, list)) else ("" if v is None else v))
' "$1"
}

lab_shows() {
  local out
  out=$("${@:2}")
  grep -Eq -- "$1" <<<"${out}"
}

lab_check_json() {
  python3 -c '
import json, sys
try:
    j = json.load(sys.stdin)
    import ipaddress
    ok = bool(eval(sys.argv[1], {"j": j, "ipaddress": ipaddress}))
except Exception:
    ok = False
sys.exit(0 if ok else 1)
' "$1"
}

# Dump every started daemon's state and the tail of every log: called by lab_fail.
lab_dump_daemons() {
  local f name kind
  for f in "${LAB_DIR}"/*.kind; do
    [[ -f ${f} ]] || continue
    name=$(basename "${f}" .kind)
    kind=$(cat "${f}")
    echo "===== ${kind} ${name}: state"
    case ${kind} in
      frr)
        lab_vtysh "${name}" "show bgp summary" "show bgp ipv4 unicast" "show bgp ipv6 unicast" \
          "show bgp neighbors" 2>&1 | head -200
        ;;
      gobgp)
        lab_gobgp "${name}" neighbor 2>&1
        lab_gobgp "${name}" global rib -a ipv4 2>&1
        lab_gobgp "${name}" global rib -a ipv6 2>&1
        ;;
      isthmus)
        lab_isthmusctl "${name}" show bgp summary -o json 2>&1
        lab_isthmusctl "${name}" show bgp ipv4 unicast -o json 2>&1 | head -c 6000
        echo
        lab_isthmusctl "${name}" show bgp ipv6 unicast -o json 2>&1 | head -c 6000
        echo
        lab_alive "${name}" && echo "(${name} is running)" || echo "(${name} is NOT running)"
        ;;
      bird)
        lab_birdc "${name}" show protocols all 2>&1 | head -120
        lab_birdc "${name}" show route all 2>&1 | head -80
        ;;
    esac
  done
  for f in "${LAB_DIR}"/*.log; do
    [[ -f ${f} ]] || continue
    echo "===== $(basename "${f}") (last 60 lines)"
    tail -n 60 "${f}"
  done
}

# ---------------------------------------------------------------------------------------------
# FRR 8.4

lab_frr_start() {
  local i=$1 name=$2 conf=$3 zebra=1
  [[ ${4:-} == --no-zebra ]] && zebra=0
  local dir="${LAB_DIR}/${name}"
  echo "${zebra}" >"${LAB_DIR}/${name}.zebra"
  mkdir -p "${dir}"
  printf '%s\n' "${conf}" >"${dir}/bgpd.conf"
  printf 'hostname %s\n' "${name}" >"${dir}/zebra.conf"
  chown -R frr:frr "${dir}"
  echo frr >"${LAB_DIR}/${name}.kind"
  echo "${i}" >"${LAB_DIR}/${name}.host"
  if [[ ${zebra} == 1 ]]; then
    lab_spawn "${i}" "${name}-zebra" /usr/lib/frr/zebra -P 0 -f "${dir}/zebra.conf" \
      -i "${dir}/zebra.pid" -z "${dir}/zserv.api" --vty_socket "${dir}" --log stdout
    lab_critical "${name}-zebra"
    lab_wait_for 20 "${name}: zebra socket" test -S "${dir}/zserv.api"
    lab_spawn "${i}" "${name}" /usr/lib/frr/bgpd -P 0 -f "${dir}/bgpd.conf" \
      -i "${dir}/bgpd.pid" -z "${dir}/zserv.api" --vty_socket "${dir}" --log stdout
  else
    lab_spawn "${i}" "${name}" /usr/lib/frr/bgpd -Z -P 0 -f "${dir}/bgpd.conf" \
      -i "${dir}/bgpd.pid" --vty_socket "${dir}" --log stdout
  fi
  lab_critical "${name}"
  lab_wait_for 20 "${name}: bgpd vty" test -S "${dir}/bgpd.vty"
}

# Restart an FRR instance started by lab_frr_start (same host, same config); also starts one
# that lab_stop stopped.
lab_frr_restart() {
  local name=$1 i conf zebra_flag=""
  i=$(cat "${LAB_DIR}/${name}.host")
  conf=$(cat "${LAB_DIR}/${name}/bgpd.conf")
  [[ $(cat "${LAB_DIR}/${name}.zebra") == 1 ]] || zebra_flag=--no-zebra
  lab_stop "${name}"
  rm -f "${LAB_DIR}/${name}"/*.vty "${LAB_DIR}/${name}/zserv.api"
  lab_frr_start "${i}" "${name}" "${conf}" ${zebra_flag}
}

lab_vtysh() {
  local name=$1 i args=()
  shift
  i=$(cat "${LAB_DIR}/${name}.host")
  for c in "$@"; do args+=(-c "${c}"); done
  lab_exec "${i}" vtysh --vty_socket "${LAB_DIR}/${name}" "${args[@]}"
}

lab_frr_established() {
  lab_vtysh "$1" "show bgp neighbors $2 json" |
    lab_check_json "j['$2']['bgpState'] == 'Established'"
}

# ---------------------------------------------------------------------------------------------
# GoBGP 3.10

lab_gobgp_start() {
  local i=$1 name=$2 conf=$3
  printf '%s\n' "${conf}" >"${LAB_DIR}/${name}.toml"
  echo gobgp >"${LAB_DIR}/${name}.kind"
  echo "${i}" >"${LAB_DIR}/${name}.host"
  lab_spawn "${i}" "${name}" gobgpd -f "${LAB_DIR}/${name}.toml" -t toml -p \
    --api-hosts "unix://${LAB_DIR}/${name}.sock" --pprof-disable
  lab_critical "${name}"
  lab_wait_for 20 "${name}: gobgpd API" lab_gobgp "${name}" global
}

lab_gobgp() {
  local name=$1 i
  shift
  i=$(cat "${LAB_DIR}/${name}.host")
  lab_exec "${i}" gobgp --target "unix://${LAB_DIR}/${name}.sock" "$@"
}

lab_gobgp_established() {
  lab_gobgp "$1" -j neighbor "$2" |
    lab_check_json "j['state']['session_state'] == 6"
}

# ---------------------------------------------------------------------------------------------
# BIRD 2.0

lab_bird_start() {
  local i=$1 name=$2 conf=$3
  printf '%s\n' "${conf}" >"${LAB_DIR}/${name}.conf"
  echo bird >"${LAB_DIR}/${name}.kind"
  echo "${i}" >"${LAB_DIR}/${name}.host"
  lab_spawn "${i}" "${name}" bird -f -c "${LAB_DIR}/${name}.conf" -s "${LAB_DIR}/${name}.ctl" \
    -P "${LAB_DIR}/${name}.pid"
  lab_critical "${name}"
  lab_wait_for 20 "${name}: bird control socket" lab_birdc "${name}" show status
}

lab_birdc() {
  local name=$1 i
  shift
  i=$(cat "${LAB_DIR}/${name}.host")
  lab_exec "${i}" birdc -s "${LAB_DIR}/${name}.ctl" "$@"
}

# Protocol NAME in BIRD instance is up and Established.
lab_bird_established() {
  lab_birdc "$1" show protocols "$2" | grep -Eq "^$2 +BGP .* up .*Established"
}

# ---------------------------------------------------------------------------------------------
# ExaBGP 4.2

lab_exabgp_start() {
  local i=$1 name=$2 conf=$3
  printf '%s\n' "${conf}" >"${LAB_DIR}/${name}.conf"
  echo exabgp >"${LAB_DIR}/${name}.kind"
  echo "${i}" >"${LAB_DIR}/${name}.host"
  lab_spawn "${i}" "${name}" env \
    exabgp.daemon.user=root \
    exabgp.daemon.daemonize=false \
    exabgp.daemon.pid="" \
    exabgp.api.cli=false \
    exabgp.log.destination=stdout \
    exabgp.log.level=DEBUG \
    exabgp.log.packets=true \
    exabgp.log.message=true \
    exabgp.log.routes=true \
    exabgp.tcp.bind="" \
    exabgp "${LAB_DIR}/${name}.conf"
  lab_critical "${name}"
}

# ---------------------------------------------------------------------------------------------
# raw_bgp.py: a scripted BGP speaker for crafted UPDATEs

lab_raw_start() {
  local i=$1 name=$2
  shift 2
  mkfifo "${LAB_DIR}/${name}.in"
  echo raw >"${LAB_DIR}/${name}.kind"
  echo "${i}" >"${LAB_DIR}/${name}.host"
  ip netns exec "$(lab_ns "${i}")" python3 -u "${LAB_RAW_BGP}" "$@" \
    <"${LAB_DIR}/${name}.in" >>"${LAB_DIR}/${name}.log" 2>&1 &
  LAB_LAST_PID=$!
  echo "${LAB_LAST_PID} ${name}" >>"${LAB_DIR}/pids"
  echo "${LAB_LAST_PID}" >"${LAB_DIR}/${name}.pid.lab"
  local fd
  exec {fd}>"${LAB_DIR}/${name}.in"
  LAB_RAW_FD[${name}]=${fd}
  lab_critical "${name}"
}

lab_raw() {
  local name=$1
  shift
  echo "$*" >&"${LAB_RAW_FD[${name}]}"
}

# lab_raw_has NAME PYEXPR: some event e (a dict) in NAME's log makes PYEXPR true.
lab_raw_has() {
  python3 -c '
import json, sys, ipaddress
expr = sys.argv[2]
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    try:
        if eval(expr, {"e": e, "ipaddress": ipaddress}):
            sys.exit(0)
    except Exception:
        pass
sys.exit(1)
' "${LAB_DIR}/$1.log" "$2"
}

# lab_raw_count NAME PYEXPR: how many events match.
lab_raw_count() {
  python3 -c '
import json, sys, ipaddress
n = 0
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
        n += bool(eval(sys.argv[2], {"e": e, "ipaddress": ipaddress}))
    except Exception:
        pass
print(n)
' "${LAB_DIR}/$1.log" "$2"
}

# ---------------------------------------------------------------------------------------------
# isthmusd / isthmusctl (binaries from $ISTHMUSD and $ISTHMUSCTL, set by ctest)

lab_isthmus_sock() { echo "${LAB_DIR}/$1.ctl"; }

lab_require_isthmus() {
  # By hand from a checkout: default to the build/ directory next to lab/.
  [[ -n ${ISTHMUSD} ]] || ISTHMUSD=$(realpath -m "${LAB_LIB_DIR}/../build/bin/isthmusd")
  [[ -n ${ISTHMUSCTL} ]] || ISTHMUSCTL=$(realpath -m "${LAB_LIB_DIR}/../build/bin/isthmusctl")
  [[ -n ${ISTHMUSD} && -x ${ISTHMUSD} ]] ||
    lab_fail "isthmusd binary not found: set ISTHMUSD (ctest sets it to \${CMAKE_BINARY_DIR}/bin/isthmusd), got '${ISTHMUSD}'"
  [[ -n ${ISTHMUSCTL} && -x ${ISTHMUSCTL} ]] ||
    lab_fail "isthmusctl binary not found: set ISTHMUSCTL, got '${ISTHMUSCTL}'"
}

lab_isthmusd_start() {
  local i=$1 name=$2 yaml=$3
  lab_require_isthmus
  printf '%s\n' "${yaml}" >"${LAB_DIR}/${name}.yaml"
  echo isthmus >"${LAB_DIR}/${name}.kind"
  echo "${i}" >"${LAB_DIR}/${name}.host"
  local out
  if ! out=$("${ISTHMUSD}" --check-config "${LAB_DIR}/${name}.yaml" 2>&1); then
    lab_fail "isthmusd --check-config rejected ${LAB_DIR}/${name}.yaml: ${out}"$'\n'"$(cat "${LAB_DIR}/${name}.yaml")"
  fi
  rm -f "$(lab_isthmus_sock "${name}")"
  lab_spawn "${i}" "${name}" "${ISTHMUSD}" --config "${LAB_DIR}/${name}.yaml"
  lab_critical "${name}"
  lab_wait_for 20 "${name}: isthmusd control socket" test -S "$(lab_isthmus_sock "${name}")"
}

# lab_agent_conf I [VTEP] <<< NETWORKS: the configuration of an isthmusd node agent on host I
# (router id 198.18.0.I; VTEP address VTEP, default 198.18.0.I; API socket and state directory in
# the run's directory), an iBGP EVPN client of the route reflector 198.18.0.1. Stdin holds its
# `networks:` entries ("  - { name: blue, vni: 100, ... }").
lab_agent_conf() {
  local i=$1 vtep=${2:-198.18.0.$1}
  cat <<YAML
control_socket: $(lab_isthmus_sock "agent${i}")
agent:
  vtep: { address: "${vtep}" }
  api_socket: ${LAB_DIR}/agent${i}.api
  state_dir: ${LAB_DIR}/agent${i}.state
networks:
$(cat)
bgp:
  asn: 65000
  router_id: 198.18.0.${i}
  listen: { address: 198.18.0.${i}, port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.1, remote_as: 65000, families: [l2vpn-evpn] }
YAML
}

# lab_tenant_agent_conf I NETWORK VNI N [L3VNI]: lab_agent_conf of host I with one network,
# NETWORK (VNI, 100.64.N.0/24 and fd00:64:N::/64, pools .64/26 and ::1:0/112), in tenant1 with
# L3 VNI L3VNI (default 5001).
lab_tenant_agent_conf() {
  lab_agent_conf "$1" <<YAML
  - { name: $2, vni: $3, subnet: 100.64.$4.0/24, subnet6: "fd00:64:$4::/64", vrf: tenant1,
      pool: 100.64.$4.64/26, pool6: "fd00:64:$4::1:0/112" }
vrfs: [{ name: tenant1, l3vni: ${5:-5001} }]
YAML
}

# lab_isthmus_rr_start I CLIENT...: isthmusd "rr" on host I (198.18.0.I, AS 65000), route
# reflector for the iBGP EVPN clients 198.18.0.CLIENT.
lab_isthmus_rr_start() {
  local i=$1 c clients=""
  shift
  for c in "$@"; do
    clients+="    - { address: 198.18.0.${c}, remote_as: 65000, route_reflector_client: true, families: [l2vpn-evpn] }"$'\n'
  done
  lab_isthmusd_start "${i}" rr "control_socket: $(lab_isthmus_sock rr)
bgp:
  asn: 65000
  router_id: 198.18.0.${i}
  listen: { address: 198.18.0.${i}, port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
${clients}"
}

lab_isthmusd_restart() {
  local name=$1 i
  i=$(cat "${LAB_DIR}/${name}.host")
  lab_stop "${name}"
  lab_isthmusd_start "${i}" "${name}" "$(cat "${LAB_DIR}/${name}.yaml")"
}

lab_isthmusctl() {
  local name=$1
  shift
  "${ISTHMUSCTL}" --socket "$(lab_isthmus_sock "${name}")" "$@"
}

lab_isthmus_established() {
  lab_isthmusctl "$1" show bgp summary -o json | lab_check_json "any(ipaddress.ip_address(n['address']) == ipaddress.ip_address('$2') and n['state'] == 'Established' for n in j['neighbors'])"
}

lab_isthmus_neighbor_state() {
  lab_isthmusctl "$1" show bgp summary -o json | lab_json "[n['state'] for n in j['neighbors'] if ipaddress.ip_address(n['address']) == ipaddress.ip_address('$2')][0]"
}

# lab_isthmus_route NAME ipv4|ipv6 PREFIX: the route object from the full table, {} if absent.
lab_isthmus_route() {
  lab_isthmusctl "$1" show bgp "$2" unicast -o json |
    lab_json "([r for r in (j.get('routes') or []) if ipaddress.ip_network(r['prefix']) == ipaddress.ip_network('$3') and r.get('paths')] or [{}])[0]"
}

lab_isthmus_has_route() {
  lab_isthmus_route "$1" "$2" "$3" | lab_check_json "j.get('paths')"
}

lab_isthmus_lacks_route() {
  local r
  r=$(lab_isthmus_route "$1" "$2" "$3") || return 1
  [[ ${r} == "{}" ]]
}

# ---- EVPN / VXLAN ------------------------------------------------------------------------------

# lab_vxlan_bridge N VNI LOCAL: on host N, the Linux bridge br<VNI> with the VXLAN device
# vxlan<VNI> (local address LOCAL, UDP 4789, no data-plane learning, ARP/ND suppression) and a
# workload port vm<VNI> (a veth whose other end vm<VNI>p stays unattached), as an EVPN VTEP such
# as FRR with `advertise-all-vni` expects them.
lab_vxlan_bridge() {
  local n=$1 vni=$2 local=$3 ns l
  ns=$(lab_ns "${n}")
  ip -n "${ns}" link add "br${vni}" type bridge stp_state 0 mcast_snooping 0
  ip -n "${ns}" link add "vxlan${vni}" type vxlan id "${vni}" dstport 4789 local "${local}" nolearning
  ip -n "${ns}" link set "vxlan${vni}" master "br${vni}"
  ip -n "${ns}" link set dev "vxlan${vni}" type bridge_slave learning off neigh_suppress on
  ip -n "${ns}" link add "vm${vni}" type veth peer name "vm${vni}p"
  ip -n "${ns}" link set "vm${vni}" master "br${vni}"
  for l in "br${vni}" "vxlan${vni}" "vm${vni}" "vm${vni}p"; do ip -n "${ns}" link set "${l}" up; done
}

# lab_fdb_has N DEV MAC DST: host N's bridge FDB has MAC on DEV towards VTEP DST.
lab_fdb_has() {
  local out # read whole: with pipefail, `bridge ... | grep -q` fails when grep exits first
  out=$(lab_exec "$1" bridge fdb show dev "$2") || return 1
  grep -q "^$3 dst $4 " <<<"${out}"
}

# lab_frr_evpn_vtep_conf ID: FRR config of an iBGP (AS 65000) EVPN VTEP 198.18.0.ID that peers
# with 198.18.0.1 and advertises every VNI of its VXLAN devices.
lab_frr_evpn_vtep_conf() {
  cat <<CONF
frr defaults datacenter
hostname vtep$1
router bgp 65000
 bgp router-id 198.18.0.$1
 neighbor 198.18.0.1 remote-as 65000
 neighbor 198.18.0.1 timers connect 1
 address-family l2vpn evpn
  neighbor 198.18.0.1 activate
  advertise-all-vni
 exit-address-family
CONF
}

# lab_l3vni_bridge N L3VNI LOCAL RMAC: on host N, the L3 VNI of a tenant (symmetric IRB, RFC
# 9135) in the default VRF, as FRR 8.4 wants it: bridge br<L3VNI> whose MAC RMAC is the router
# MAC, no address, with vxlan<L3VNI> (local LOCAL, UDP 4789, no learning) as its port; IPv4 and
# IPv6 forwarding on. FRR also needs `vni L3VNI` in zebra (lab_frr_zebra_vni).
lab_l3vni_bridge() {
  local n=$1 vni=$2 local=$3 rmac=$4 ns
  ns=$(lab_ns "${n}")
  lab_exec "${n}" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  ip -n "${ns}" link add "br${vni}" address "${rmac}" type bridge stp_state 0 mcast_snooping 0
  ip -n "${ns}" link add "vxlan${vni}" type vxlan id "${vni}" dstport 4789 local "${local}" nolearning
  ip -n "${ns}" link set "vxlan${vni}" master "br${vni}"
  ip -n "${ns}" link set dev "vxlan${vni}" type bridge_slave learning off
  ip -n "${ns}" link set "vxlan${vni}" up
  ip -n "${ns}" link set "br${vni}" up
}

# lab_frr_zebra_vni NAME L3VNI: zebra of FRR instance NAME maps L3VNI to the default VRF (its
# top-level `vni L3VNI`), configured through vtysh once zebra runs (lab_frr_restart does not
# repeat it).
lab_frr_zebra_vni() {
  lab_vtysh "$1" "configure terminal" "vni $2" >/dev/null
}

# lab_frr_evpn_l3vni_conf ID PREFIX...: bgpd.conf of an iBGP (AS 65000) EVPN VTEP 198.18.0.ID as
# lab_frr_evpn_vtep_conf, that also routes its tenant (the L3 VNI of zebra's `vni`, default VRF):
# the PREFIXes (its networks' subnets, IPv4 or IPv6) go out as type-5 routes (RFC 9136), and only
# overlay prefixes (100.64.0.0/10, fd00:64::/32) ever do: the underlay stays out of the tenant.
lab_frr_evpn_l3vni_conf() {
  local id=$1 p v4="" v6=""
  shift
  for p in "$@"; do
    if [[ ${p} == *:* ]]; then v6+="  network ${p}"$'\n'; else v4+="  network ${p}"$'\n'; fi
  done
  cat <<CONF
frr defaults datacenter
hostname vtep${id}
ip prefix-list overlay4 seq 5 permit 100.64.0.0/10 le 32
ipv6 prefix-list overlay6 seq 5 permit fd00:64::/32 le 128
route-map overlay4 permit 10
 match ip address prefix-list overlay4
route-map overlay6 permit 10
 match ipv6 address prefix-list overlay6
router bgp 65000
 bgp router-id 198.18.0.${id}
 no bgp default ipv4-unicast
 neighbor 198.18.0.1 remote-as 65000
 neighbor 198.18.0.1 timers connect 1
 address-family ipv4 unicast
${v4} exit-address-family
 address-family ipv6 unicast
${v6} exit-address-family
 address-family l2vpn evpn
  neighbor 198.18.0.1 activate
  advertise-all-vni
  advertise ipv4 unicast route-map overlay4
  advertise ipv6 unicast route-map overlay6
 exit-address-family
CONF
}

# lab_frr_has_type5 NAME L3VNI PREFIX VTEP RMAC: FRR "NAME" holds PREFIX as a type-5 route from
# VTEP (its RD 198.18.0.x:n) with the route target 65000:L3VNI, the VXLAN encapsulation and RMAC as
# the Router's MAC.
lab_frr_has_type5() {
  local name=$1 l3vni=$2 addr=${3%/*} len=${3#*/} vtep=$4 rmac=$5
  lab_vtysh "${name}" "show bgp l2vpn evpn route type prefix json" | lab_check_json "
any(path['nexthops'][0]['ip'] == '${vtep}' and
    set(path['extendedCommunity']['string'].split()) >= {'RT:65000:${l3vni}', 'ET:8', 'Rmac:${rmac}'}
    for rd, routes in j.items() if rd.startswith('${vtep}:')
    for key, route in routes.items() if key == '[5]:[0]:[${len}]:[${addr}]'
    for paths in route['paths'] for path in paths)"
}

# lab_workload N VNI M MAC ADDR/LEN: the workload end vm<VNI>p of host N's lab_vxlan_bridge moves
# into host M (made with lab_host M), with MAC and ADDR, up: a host behind N's bridge. IPv6 is
# off on it, so that it sends nothing by itself (router solicitations, MLD reports) and the
# bridge learns its MAC only from what the test sends (lab_send_garp).
lab_workload() {
  local n=$1 vni=$2 m=$3 mac=$4 addr=$5 ns
  ns=$(lab_ns "${m}")
  ip -n "$(lab_ns "${n}")" link set "vm${vni}p" netns "${ns}"
  ip netns exec "${ns}" sysctl -qw "net.ipv6.conf.vm${vni}p.disable_ipv6=1"
  ip -n "${ns}" link set "vm${vni}p" address "${mac}"
  ip -n "${ns}" addr add "${addr}" dev "vm${vni}p"
  ip -n "${ns}" link set "vm${vni}p" up
}

# lab_attach_workload N VNI W ADDR4/LEN [ADDR6/LEN]: a workload namespace W ("w1", ...) with eth0 on
# host N's bridge br<VNI> (a veth, as a CNI plugin makes it), its addresses, default routes via
# the network's first address (the anycast gateway).
lab_attach_workload() {
  local n=$1 vni=$2 w=$3 a4=$4 a6=${5:-} ns host
  ns=$(lab_ns "${w}")
  host=$(lab_ns "${n}")
  lab_new_ns "${ns}"
  ip -n "${host}" link add "veth-${w}" type veth peer name eth0 netns "${ns}"
  ip -n "${host}" link set "veth-${w}" master "br${vni}" up
  ip -n "${ns}" link set eth0 up
  ip -n "${ns}" addr add "${a4}" dev eth0
  ip -n "${ns}" route add default via "$(python3 -c "import ipaddress,sys; print(next(ipaddress.ip_network(sys.argv[1], strict=False).hosts()))" "${a4}")"
  if [[ -n ${a6} ]]; then
    ip -n "${ns}" addr add "${a6}" dev eth0 nodad
    ip -n "${ns}" -6 route add default via "$(python3 -c "import ipaddress,sys; print(next(ipaddress.ip_network(sys.argv[1], strict=False).hosts()))" "${a6}")"
  fi
}

# lab_tenant_workload N VNI W NET HOST: once host N has br<VNI>, workload W on it with
# 100.64.NET.HOST/24 and fd00:64:NET::HOST/64 (lab_attach_workload), which then pings its gateways
# (.1, ::1): its agent learns it from the bridge and advertises it.
lab_tenant_workload() {
  local n=$1 vni=$2 w=$3 net=$4 host=$5
  lab_wait_for 30 "host ${n}: br${vni} is there" lab_exec "${n}" ip link show "br${vni}"
  lab_attach_workload "${n}" "${vni}" "${w}" "100.64.${net}.${host}/24" "fd00:64:${net}::${host}/64"
  lab_wait_for 10 "${w} reaches its gateway 100.64.${net}.1" \
    ip netns exec "$(lab_ns "${w}")" ping -c1 -W1 "100.64.${net}.1"
  lab_wait_for 10 "${w} reaches its gateway fd00:64:${net}::1" \
    ip netns exec "$(lab_ns "${w}")" ping -6 -c1 -W1 "fd00:64:${net}::1"
}

# lab_send_garp I DEV: one gratuitous ARP (RFC 5227 §3 announcement: broadcast, sender and target
# the first IPv4 address of DEV) from DEV in host I, sent at once through a packet socket. The
# bridge at the other end learns DEV's MAC on its port, as it would from any traffic.
lab_send_garp() {
  local i=$1 dev=$2 addr
  addr=$(ip -n "$(lab_ns "${i}")" -4 -o addr show dev "${dev}" | awk '{ split($4, a, "/"); print a[1]; exit }')
  [[ -n ${addr} ]] || lab_fail "lab_send_garp: ${dev} in host ${i} has no IPv4 address"
  lab_exec "${i}" python3 - "${dev}" "${addr}" <<'PY' || lab_fail "lab_send_garp: could not send from ${dev} in host ${i}"
import socket, sys
dev, addr = sys.argv[1], sys.argv[2]
with open(f"/sys/class/net/{dev}/address") as f:
    mac = bytes.fromhex(f.read().strip().replace(":", ""))
ip = socket.inet_aton(addr)
arp = b"\x00\x01\x08\x00\x06\x04\x00\x01" + mac + ip + b"\x00" * 6 + ip
frame = b"\xff" * 6 + mac + b"\x08\x06" + arp
with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
    s.bind((dev, 0))
    s.send(frame)
PY
}

# lab_silent_workload N VNI W MAC ADDR4/LEN [ADDR6/LEN]: a workload namespace W with eth0 on host
# N's bridge br<VNI> (a veth whose host end is veth-W) that has sent nothing on the bridge when
# this returns: a static address, a VM that has not spoken yet. Its default routes go via the
# network's first address (the anycast gateway). No DAD (nodad, accept_dad=0), no router
# solicitation, no gratuitous ARP; the MLD reports the kernel sends when the link comes up (RFC
# 3810 §6.1) go to the host end while it is off the bridge, which is attached once W has been
# quiet for 2 s. From the attachment on, a capture on the host end records every frame W sends
# (lab_silent_sent).
lab_silent_workload() {
  local n=$1 vni=$2 w=$3 mac=$4 a4=$5 a6=${6:-} ns host pcap gw count last=-1 quiet=0 i
  ns=$(lab_ns "${w}")
  host=$(lab_ns "${n}")
  pcap="${LAB_DIR}/${w}-sent.pcap"
  lab_new_ns "${ns}"
  ip netns exec "${ns}" sysctl -qw net.ipv6.conf.all.router_solicitations=0 \
    net.ipv6.conf.default.router_solicitations=0 net.ipv4.conf.all.arp_notify=0 \
    net.ipv4.conf.default.arp_notify=0 net.ipv6.conf.all.ndisc_notify=0 net.ipv6.conf.default.ndisc_notify=0
  ip -n "${host}" link add "veth-${w}" type veth peer name eth0 netns "${ns}"
  # The host end says nothing to W either (no IPv6 on it): W's only input is the bridge's.
  ip netns exec "${host}" sysctl -qw "net.ipv6.conf.veth-${w}.disable_ipv6=1"
  ip -n "${host}" link set "veth-${w}" up
  lab_spawn "${n}" "${w}-sent" tcpdump -n -U --immediate-mode -Q in -i "veth-${w}" -w "${pcap}"
  lab_wait_for 10 "${w}: capture on veth-${w} (host ${n})" grep -q "listening on" "${LAB_DIR}/${w}-sent.log"
  ip -n "${ns}" link set eth0 address "${mac}"
  ip -n "${ns}" addr add "${a4}" dev eth0
  [[ -z ${a6} ]] || ip -n "${ns}" addr add "${a6}" dev eth0 nodad
  ip -n "${ns}" link set eth0 up
  gw=$(python3 -c "import ipaddress,sys; print(next(ipaddress.ip_network(sys.argv[1], strict=False).hosts()))" "${a4}")
  ip -n "${ns}" route add default via "${gw}"
  if [[ -n ${a6} ]]; then
    gw=$(python3 -c "import ipaddress,sys; print(next(ipaddress.ip_network(sys.argv[1], strict=False).hosts()))" "${a6}")
    ip -n "${ns}" -6 route add default via "${gw}" dev eth0
  fi
  for i in $(seq 1 100); do # 2 s (10 polls) without a new frame, at most 20 s
    count=$({ tcpdump -n -r "${pcap}" 2>/dev/null || true; } | wc -l)
    if [[ ${count} == "${last}" ]]; then quiet=$((quiet + 1)); else quiet=0; fi
    last=${count}
    ((quiet >= 10)) && break
    sleep 0.2
  done
  ((quiet >= 10)) || lab_fail "${w} did not go quiet after its link came up: $(tcpdump -n -e -r "${pcap}" 2>&1 | tail -5)"
  date +%s.%N >"${LAB_DIR}/${w}-attached"
  ip -n "${host}" link set "veth-${w}" master "br${vni}"
  lab_log "${w}: silent workload ${a4}${a6:+ ${a6}} (MAC ${mac}) on host ${n}'s br${vni} (${count} frames before it was attached)"
}

# lab_silent_sent W: the frames (tcpdump lines, -e -tt) that the workload W of lab_silent_workload
# has sent since it was attached to its bridge; nothing while it is silent.
lab_silent_sent() {
  local since
  since=$(cat "${LAB_DIR}/$1-attached")
  { tcpdump -n -e -tt -r "${LAB_DIR}/$1-sent.pcap" 2>/dev/null || true; } | awk -v t="${since}" '$1 >= t'
}

# lab_frr_evpn_default_originate NAME L3VNI RMAC [no]: FRR instance NAME (a VTEP with L3VNI in its
# default VRF, lab_frr_evpn_l3vni_conf) advertises a default route into EVPN, type-5 0.0.0.0/0
# and ::/0 of L3VNI (`default-originate ipv4` / `ipv6` under `address-family l2vpn evpn`); with
# `no`, withdraws them. Configured through vtysh once bgpd knows the L3 VNI with router MAC RMAC:
# FRR 8.4 with `default-originate` in its startup config also originates a type-5 default with
# RD 0:0, label 0, no route target and no router MAC, that it never withdraws.
lab_frr_evpn_default_originate() {
  local name=$1 vni=$2 rmac=$3 no=${4:+no }
  lab_wait_for 30 "${name}: bgpd knows L3 VNI ${vni} with router MAC ${rmac}" \
    lab_frr_bgp_l3vni "${name}" "${vni}" "${rmac}"
  lab_vtysh "${name}" "configure terminal" "router bgp" "address-family l2vpn evpn" \
    "${no}default-originate ipv4" "${no}default-originate ipv6" >/dev/null
}

# lab_frr_bgp_l3vni NAME L3VNI RMAC: bgpd of FRR instance NAME knows L3VNI (from zebra) with
# router MAC RMAC (`show bgp l2vpn evpn vni L3VNI json`).
lab_frr_bgp_l3vni() {
  lab_vtysh "$1" "show bgp l2vpn evpn vni $2 json" |
    lab_check_json "j.get('type') == 'L3' and j.get('rmac') == '$3'"
}

# lab_outside_host N DEV O GW4/LEN GW6/LEN ADDR4/LEN ADDR6/LEN: a host namespace O (lab_ns O,
# e.g. "out") behind host N on a plain veth, in no overlay: N's end DEV has GW4 and GW6, O's end
# eth0 has ADDR4 and ADDR6 and O's default routes point at N (GW4, GW6). N routes for it
# (forwarding is N's business, lab_l3vni_bridge turns it on).
lab_outside_host() {
  local n=$1 dev=$2 o=$3 gw4=$4 gw6=$5 a4=$6 a6=$7
  lab_host "${o}"
  lab_link "${n}" "${dev}" "${o}" eth0
  lab_addr_add "${n}" "${gw4}" "${dev}"
  lab_addr_add "${n}" "${gw6}" "${dev}"
  lab_addr_add "${o}" "${a4}" eth0
  lab_addr_add "${o}" "${a6}" eth0
  ip -n "$(lab_ns "${o}")" route add default via "${gw4%/*}"
  ip -n "$(lab_ns "${o}")" -6 route add default via "${gw6%/*}"
}

# Continuous pings across a disruption: lab_ping_start NAME NS COUNT TARGET starts COUNT echo
# requests, one per 50 ms, from namespace NS to TARGET in the background; lab_pings_check waits
# for every ping started so far and fails unless each got all its answers (the figures are
# logged either way), then forgets them.
lab_ping_start() {
  local name=$1 ns=$2 count=$3 target=$4
  ip netns exec "${ns}" ping -q -c "${count}" -i 0.05 -W 1 "${target}" \
    >"${LAB_DIR}/ping-${name}.txt" 2>&1 &
  LAB_PINGS[${name}]="$! ${count}"
}

lab_pings_check() {
  local name pid count sent got failed=0
  for name in "${!LAB_PINGS[@]}"; do
    read -r pid count <<<"${LAB_PINGS[${name}]}"
    wait "${pid}" || true
    read -r sent got < <(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p' \
      "${LAB_DIR}/ping-${name}.txt")
    lab_log "ping ${name}: ${got:-?}/${sent:-?} answered"
    if [[ ${sent:-0} -ne ${count} || ${got:-0} -ne ${count} ]]; then
      lab_log "ping ${name} lost packets: $(cat "${LAB_DIR}/ping-${name}.txt")"
      failed=1
    fi
  done
  LAB_PINGS=()
  [[ ${failed} -eq 0 ]] || lab_fail "packets were lost"
}
