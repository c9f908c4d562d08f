#!/usr/bin/env bash
# A peer that sends KEEPALIVEs but never reads (RFC 9687, the send hold timer): isthmusd's memory
# stays bounded under churn and the peer is dropped once it has read nothing for send_hold_time.
#   h1 isthmusd 198.18.0.1 AS 65000
#   h2 raw_bgp.py 198.18.0.2 AS 65002: the source, 10,000 host routes (each with its own community)
#      announced and withdrawn three times, then announced (70,000 UPDATEs)
#   h3 raw_bgp.py 198.18.0.3 AS 65003: a 4 KB receive buffer, stops reading once Established
#      (`send_hold_time: 15`)
# Checks: isthmusd ends the stalled session with "send hold timer expired" (and tries to send
# NOTIFICATION code 8); its RSS never grows by more than 64 MB over its size before the churn
# (sampled every 100 ms); the source's session stays up, and after the drop the stalled peer
# comes back and gets the table.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 3

# Small TCP send buffers on isthmusd's host (at most 64 KB), so that what the slow peer does not
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
  neighbors:
    - { address: 198.18.0.2, remote_as: 65002, families: [ipv4-unicast], import: accept-all,
        export: accept-all, passive: true }
    - { address: 198.18.0.3, remote_as: 65003, families: [ipv4-unicast], import: accept-all,
        export: accept-all, passive: true, send_hold_time: 15 }
YAML
)"
lab_raw_start 2 source --peer 198.18.0.1 --local 198.18.0.2 --asn 65002 --router-id 198.18.0.2 --hold 9
lab_raw_start 3 slow --peer 198.18.0.1 --local 198.18.0.3 --asn 65003 --router-id 198.18.0.3 --hold 9 \
  --rcvbuf 4096
lab_wait_for 30 "isthmusd: the source Established" lab_isthmus_established isthmusd 198.18.0.2
lab_wait_for 30 "isthmusd: the slow peer Established" lab_isthmus_established isthmusd 198.18.0.3
lab_raw slow stall
lab_wait_for 10 "the slow peer stopped reading" lab_raw_has slow "e['event'] == 'stalled'"

pid=$(lab_pid isthmusd)
rss() { awk '/^VmRSS:/ {print $2}' "/proc/${pid}/status"; }
base=$(rss)
peak=${base}
sample() { local r; r=$(rss); ((r > peak)) && peak=${r}; true; }
dropped() { grep -q "neighbor 198.18.0.3: send hold timer expired" "${LAB_DIR}/isthmusd.log"; }

for round in 1 2 3; do
  lab_raw source blast 100.64.0.0/16 10000
  lab_raw source unblast 100.64.0.0/16 10000
done
lab_raw source blast 100.64.0.0/16 10000
sent() { lab_raw_count source "e['event'] == 'sent'"; }
deadline=$((SECONDS + 120))
until [[ $(sent) -ge 7 ]] && dropped; do
  sample
  ((SECONDS < deadline)) || lab_fail "after 120 s: $(sent) of 7 batches sent, slow peer dropped: $(dropped && echo yes || echo no)"
  sleep 0.1
done
sample
lab_log "isthmusd RSS: ${base} kB before the churn, at most ${peak} kB during it"
grep -E "neighbor 198.18.0.3: send hold timer expired: [0-9]+ bytes unread for 15s" "${LAB_DIR}/isthmusd.log" >/dev/null ||
  lab_fail "no send hold timer log line: $(grep 198.18.0.3 "${LAB_DIR}/isthmusd.log" | tail -5)"
((peak - base < 65536)) || lab_fail "isthmusd grew by $((peak - base)) kB (bound 65536 kB)"
lab_isthmus_established isthmusd 198.18.0.2 || lab_fail "the source's session ended"
lab_isthmusctl isthmusd show bgp neighbor 198.18.0.3 -o json |
  lab_check_json "j['last_notification_sent'] == 'Send Hold Timer Expired'" ||
  lab_fail "last notification sent: $(lab_isthmusctl isthmusd show bgp neighbor 198.18.0.3 -o json)"
lab_log "PASS"
