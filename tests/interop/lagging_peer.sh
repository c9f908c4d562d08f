#!/usr/bin/env bash
# Members of one update group that read, but more slowly than the others: each is split out of
# the group once it lags more than update_group_max_lag octets behind, so what isthmusd holds for
# it stays bounded whatever the churn; it keeps its session, gets every route right, and goes
# back into the group once it has caught up.
#   h1 isthmusd 198.18.0.1 AS 65000, update_group_max_lag 131072 (128 KB)
#   h2 raw_bgp.py 198.18.0.2 AS 65002: the source, 10,000 host routes (each with its own
#      community) announced and withdrawn eight times, then announced (170,000 UPDATEs), each
#      time once the fast peer has them all
#   h3, h4 raw_bgp.py AS 65003: slow readers, a 4 KB receive buffer, 100,000 octets a second
#   h5 raw_bgp.py AS 65003: reads as fast as it can
# h3, h4 and h5 are one update group (same AS, policy and session options).
# Checks: both slow peers are split out ("lags ... split out"); the octets queued for each
# (show bgp neighbor: output_queued, sampled through the churn) stay under 1 MB, where the churn
# made it 1.7 to 2.2 MB without the split; no session ends; unthrottled, each slow peer ends with
# the same 10,000 routes (prefix, community, MED) as the fast one, and is back in its group.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 5

# Small TCP send buffers on isthmusd's host (at most 64 KB), so that what a slow peer has not
# read stays in isthmusd rather than in the kernel.
lab_exec 1 sysctl -qw net.ipv4.tcp_wmem="4096 16384 65536"
lab_isthmusd_start 1 isthmusd "$(cat <<YAML
control_socket: $(lab_isthmus_sock isthmusd)
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: { address: 198.18.0.1, port: 179 }
  hold_time: 9
  connect_retry: 1
  update_group_max_lag: 131072
  neighbors:
    - { address: 198.18.0.2, remote_as: 65002, families: [ipv4-unicast], import: accept-all,
        export: accept-all, passive: true }
    - { address: 198.18.0.3, remote_as: 65003, families: [ipv4-unicast], import: accept-all,
        export: accept-all, passive: true }
    - { address: 198.18.0.4, remote_as: 65003, families: [ipv4-unicast], import: accept-all,
        export: accept-all, passive: true }
    - { address: 198.18.0.5, remote_as: 65003, families: [ipv4-unicast], import: accept-all,
        export: accept-all, passive: true }
YAML
)"
lab_raw_start 2 source --peer 198.18.0.1 --local 198.18.0.2 --asn 65002 --router-id 198.18.0.2 --hold 9
for i in 3 4; do
  lab_raw_start "${i}" "slow${i}" --peer 198.18.0.1 --local "198.18.0.${i}" --asn 65003 \
    --router-id "198.18.0.${i}" --hold 9 --rcvbuf 4096 --quiet-updates
done
lab_raw_start 5 fast --peer 198.18.0.1 --local 198.18.0.5 --asn 65003 --router-id 198.18.0.5 \
  --hold 9 --quiet-updates
for i in 2 3 4 5; do
  lab_wait_for 30 "isthmusd: 198.18.0.${i} Established" lab_isthmus_established isthmusd "198.18.0.${i}"
done
neighbor() { lab_isthmusctl isthmusd show bgp neighbor "198.18.0.$1" -o json; }
field() { neighbor "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }
group=$(field 5 update_group)
for i in 3 4; do
  [[ $(field "${i}" update_group) == "${group}" ]] ||
    lab_fail "198.18.0.${i} is not in the fast peer's update group ${group}: $(neighbor "${i}")"
  lab_raw "slow${i}" throttle 100000
done

rib() {
  local before n
  before=$(lab_raw_count "$1" "e['event'] == 'rib'")
  lab_raw "$1" rib
  for _ in $(seq 1 100); do
    n=$(lab_raw_count "$1" "e['event'] == 'rib'")
    ((n > before)) && break
    sleep 0.1
  done
  grep '"event": "rib"' "${LAB_DIR}/$1.log" | tail -1
}
declare -A most=([3]=0 [4]=0)
sample() {
  local i q
  for i in 3 4; do
    q=$(field "${i}" output_queued)
    ((q > most[${i}])) && most[${i}]=${q}
  done
  true
}
# The fast peer has COUNT routes; what is queued for the slow ones is sampled meanwhile.
fast_has() {
  sample
  rib fast | lab_check_json "j['count'] == $1"
}

# The churn: each round goes out in full to the fast peer before the next, so that nothing
# coalesces for it while the slow peers fall behind.
for round in 1 2 3 4 5 6 7 8; do
  lab_raw source blast 100.64.0.0/16 10000
  lab_wait_for 60 "round ${round}: the fast peer has the 10,000 routes" fast_has 10000
  lab_raw source unblast 100.64.0.0/16 10000
  lab_wait_for 60 "round ${round}: the fast peer has none" fast_has 0
done
lab_raw source blast 100.64.0.0/16 10000
lab_wait_for 60 "the fast peer has the 10,000 routes" fast_has 10000
split() { grep -q "neighbor 198.18.0.$1 lags [0-9]* octets behind update group ${group} (limit 131072): split out" "${LAB_DIR}/isthmusd.log"; }
lab_log "octets queued at most: 198.18.0.3 ${most[3]}, 198.18.0.4 ${most[4]}"
for i in 3 4; do
  split "${i}" || lab_fail "198.18.0.${i} was not split out: $(neighbor "${i}")"
  ((most[${i}] < 1048576)) || lab_fail "isthmusd queued ${most[${i}]} octets for 198.18.0.${i} (bound 1048576)"
done

# Unthrottled, the slow peers catch up: the fast peer's routes, exactly, and back in its group.
for i in 3 4; do lab_raw "slow${i}" unthrottle; done
want=$(rib fast)
same() { [[ $(rib "slow$1" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["count"], j["digest"])') == \
  $(echo "${want}" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["count"], j["digest"])') ]]; }
back() { [[ $(field "$1" update_group) == "${group}" ]] && [[ $(field "$1" update_group_split) == False ]]; }
for i in 3 4; do
  lab_wait_for 60 "198.18.0.${i} has the fast peer's routes" same "${i}"
  lab_wait_for 30 "198.18.0.${i} is back in update group ${group}" back "${i}"
  grep -q "neighbor 198.18.0.${i} caught up: back from update group [0-9]* in group ${group}" \
    "${LAB_DIR}/isthmusd.log" || lab_fail "no log line of 198.18.0.${i} going back"
  neighbor "${i}" | lab_check_json "j['established_transitions'] == 1" ||
    lab_fail "198.18.0.${i}'s session was reset: $(neighbor "${i}")"
done
lab_log "PASS"
