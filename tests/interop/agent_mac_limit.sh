#!/usr/bin/env bash
# networks[].max_macs on a real kernel: a node advertises at most that many local MACs of a
# network and installs at most that many remote ones; the others wait and get in when one goes.
#   h1 route reflector (isthmusd)
#   h2 agent 198.18.0.2, blue with max_macs 1: installs one remote MAC of the two host 3 advertises
#   h3 agent 198.18.0.3, blue with max_macs 2, workloads w3a, w3b, w3c: advertises two of them
# Then the workload host 2 installed leaves host 3: host 3 advertises its waiting one, and host 2
# installs the other advertised MAC in its place.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 3

agent_conf() { # agent_conf ID MAX_MACS
  lab_agent_conf "$1" <<YAML
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, gateway: 100.64.1.1, max_macs: $2 }
YAML
}
lab_isthmus_rr_start 1 2 3
lab_isthmusd_start 2 agent2 "$(agent_conf 2 1)"
lab_isthmusd_start 3 agent3 "$(agent_conf 3 2)"
established() { lab_isthmus_established "agent$1" 198.18.0.1; }
lab_wait_for 60 "agent 2 Established with the route reflector" established 2
lab_wait_for 60 "agent 3 Established with the route reflector" established 3

w() { ip netns exec "$(lab_ns "$1")" "${@:2}"; }
declare -A macs
host=21
for x in w3a w3b w3c; do
  lab_attach_workload 3 100 "${x}" "100.64.1.${host}/24"
  host=$((host + 1))
  w "${x}" ping -c1 -W2 100.64.1.1 >/dev/null || lab_fail "${x} cannot reach its gateway"
  macs[${x}]=$(w "${x}" cat /sys/class/net/eth0/address)
done

network() { lab_isthmusctl "$1" show network -o json; }
network_is() { network "$1" | lab_check_json "$2"; }
# The remote MACs host 2's vxlan100 tunnels to (not the flood entries).
remote_macs() {
  local out
  out=$(lab_exec 2 bridge fdb show dev vxlan100) || return 1
  grep ' dst 198\.18\.0\.3 ' <<<"${out}" | grep -v '^00:00:00:00:00:00 ' | awk '{print $1}' | sort
}
remote_count_is() { [[ $(remote_macs | grep -c .) -eq $1 ]]; }

lab_wait_for 30 "host 3 advertises 2 local MACs, 1 waits" \
  network_is agent3 "j[0]['local_macs'] == 2 and j[0]['local_macs_waiting'] == 1"
lab_wait_for 30 "host 2 installs 1 remote MAC, 1 waits" \
  network_is agent2 "j[0]['remote_macs'] == 1 and j[0]['remote_macs_waiting'] == 1 and j[0]['max_macs'] == 1"
lab_wait_for 10 "host 2's vxlan100 has exactly 1 remote MAC" remote_count_is 1
log_has() { grep -q -- "$2" "${LAB_DIR}/$1.log"; }
lab_wait_for 5 "agent 3 logged the local limit" log_has agent3 'local MACs over max_macs 2: not advertised'
lab_wait_for 5 "agent 2 logged the remote limit" log_has agent2 'remote MACs over max_macs 1: not installed'
# The limit holds: no second MAC gets in over a few seconds.
lab_always 3 "host 2 keeps exactly 1 remote MAC" remote_count_is 1

installed=$(remote_macs)
gone=""
for x in w3a w3b w3c; do [[ ${macs[${x}]} == "${installed}" ]] && gone=${x}; done
[[ -n ${gone} ]] || lab_fail "host 2's remote MAC ${installed} is none of host 3's workloads (${macs[*]})"
lab_log "host 2 installed ${gone}'s MAC ${installed}; ${gone} leaves host 3"
ip netns delete "$(lab_ns "${gone}")"
lab_exec 3 bridge fdb del "${installed}" dev "veth-${gone}" master 2>/dev/null || true

lab_wait_for 30 "host 3 advertises its waiting MAC: 2 local MACs, none waits" \
  network_is agent3 "j[0]['local_macs'] == 2 and j[0]['local_macs_waiting'] == 0"
other_installed() {
  local now
  now=$(remote_macs) || return 1
  [[ -n ${now} && ${now} != "${installed}" && $(grep -c . <<<"${now}") -eq 1 ]]
}
lab_wait_for 30 "host 2 installs another of host 3's MACs in its place" other_installed
lab_wait_for 30 "host 2: 1 installed, 1 waiting" \
  network_is agent2 "j[0]['remote_macs'] == 1 and j[0]['remote_macs_waiting'] == 1"
lab_log "PASS: max_macs holds local and remote MACs; waiting ones get in when one goes"
