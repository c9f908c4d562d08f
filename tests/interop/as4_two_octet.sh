#!/usr/bin/env bash
# Interop: isthmusd with a 4-octet AS (4200000001) and two peers that do not speak 4-octet AS
# (no capability 65), RFC 6793.
#   h1 isthmusd  AS 4200000001  originates 100.64.1.0/24
#   h2 raw_bgp.py AS 65010 --no-asn4: sees the wire (AS_PATH with AS_TRANS, AS4_PATH) and sends
#      a path that went through 4-octet AS 4200000099 (AS_PATH 65010 23456 + AS4_PATH)
#   h3 ExaBGP 4.2 AS 65011 with "capability { asn4 disable; }" announces 100.64.43.0/24
# Checks: isthmusd's OPEN carries My AS = 23456 and the real AS in the capability; to 2-octet
# peers AS_PATH holds 23456 where a 4-octet AS is, AS4_PATH the real path; from them isthmusd
# rebuilds the real path ("65010 4200000099"); ExaBGP's routes show as "65011".
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 3

lab_isthmusd_start 1 isthmusd "$(cat <<YAML
control_socket: $(lab_isthmus_sock isthmusd)
bgp:
  asn: 4200000001
  router_id: 198.18.0.1
  listen: { address: 198.18.0.1, port: 179 }
  hold_time: 30
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.2, remote_as: 65010, passive: true, families: [ipv4-unicast], import: accept-all, export: accept-all }
    - { address: 198.18.0.3, remote_as: 65011, passive: true, families: [ipv4-unicast], import: accept-all, export: accept-all }
  originate:
    - { prefix: 100.64.1.0/24 }
YAML
)"

lab_raw_start 2 raw --peer 198.18.0.1 --local 198.18.0.2 --asn 65010 --router-id 198.18.0.2 --no-asn4
# ExaBGP without asn4 checks the OPEN's My AS against peer-as: it must be AS_TRANS (23456),
# which is what a 2-octet speaker configures for a 4-octet neighbor (RFC 6793 §4.2.1).
lab_exabgp_start 3 exabgp "$(cat <<CONF
neighbor 198.18.0.1 {
  router-id 198.18.0.3;
  local-address 198.18.0.3;
  local-as 65011;
  peer-as 23456;
  hold-time 30;
  capability { asn4 disable; }
  family { ipv4 unicast; }
  static { route 100.64.43.0/24 next-hop 198.18.0.3; }
}
CONF
)"

lab_wait_for 60 "raw speaker Established" lab_raw_has raw "e['event'] == 'established'"
lab_wait_for 60 "isthmusd: 198.18.0.2 Established" lab_isthmus_established isthmusd 198.18.0.2
lab_wait_for 60 "isthmusd: 198.18.0.3 (ExaBGP) Established" lab_isthmus_established isthmusd 198.18.0.3

# --- isthmusd's OPEN as a 2-octet speaker sees it ----------------------------------------------
lab_raw_has raw "e['event'] == 'open' and e['asn'] == 23456 and e['asn4'] == 4200000001" ||
  lab_fail "isthmusd's OPEN should carry My AS 23456 and capability 65 with 4200000001: $(grep '"open"' "${LAB_DIR}/raw.log")"
lab_log "ok: OPEN My AS = AS_TRANS 23456, 4-octet capability = 4200000001"
nbr=$(lab_isthmusctl isthmusd show bgp neighbor 198.18.0.2 -o json)
lab_assert_eq "peer 198.18.0.2 advertised four_octet_as" "$(lab_json "j['capabilities']['four_octet_as']" <<<"${nbr}")" False
lab_assert_eq "peer 198.18.0.2 remote_as" "$(lab_json "j['remote_as']" <<<"${nbr}")" 65010
lab_assert_eq "local_as" "$(lab_json "j['local_as']" <<<"${nbr}")" 4200000001

# --- isthmusd -> 2-octet peer: AS_TRANS in AS_PATH, the real AS in AS4_PATH ----------------------
asseq() { echo "[{'type': 'sequence', 'asns': [$1]}]"; }
lab_wait_for 30 "raw speaker got 100.64.1.0/24 with AS_PATH 23456 and AS4_PATH 4200000001" \
  lab_raw_has raw "e['event'] == 'update' and '100.64.1.0/24' in e['nlri'] and e.get('as_path') == $(asseq 23456) and e.get('as4_path') == $(asseq 4200000001)"

# --- 2-octet peer -> isthmusd: the path is rebuilt from AS_PATH + AS4_PATH (RFC 6793 §4.2.3) -----
lab_raw raw send as4 100.64.41.0/24 4200000099
lab_raw raw send good 100.64.42.0/24
for p in 100.64.41.0/24 100.64.42.0/24 100.64.43.0/24; do
  lab_wait_for 30 "isthmusd has ${p}" lab_isthmus_has_route isthmusd ipv4 "${p}"
done
path_of() { lab_isthmus_route isthmusd ipv4 "$1" | lab_json "j['paths'][0]['as_path']"; }
lab_assert_eq "as_path of 100.64.41.0/24 (AS_PATH 65010 23456 + AS4_PATH 4200000099)" "$(path_of 100.64.41.0/24)" "65010 4200000099"
lab_assert_eq "as_path of 100.64.42.0/24 (2-octet only)" "$(path_of 100.64.42.0/24)" "65010"
lab_assert_eq "as_path of 100.64.43.0/24 (from ExaBGP, asn4 disabled)" "$(path_of 100.64.43.0/24)" "65011"

# --- a mixed path re-advertised to a 2-octet peer -------------------------------------------------
lab_wait_for 30 "raw speaker got 100.64.43.0/24 with AS_PATH 23456 65011 and AS4_PATH 4200000001 65011" \
  lab_raw_has raw "e['event'] == 'update' and '100.64.43.0/24' in e['nlri'] and e.get('as_path') == $(asseq '23456, 65011') and e.get('as4_path') == $(asseq '4200000001, 65011')"
lab_wait_for 30 "ExaBGP received 100.64.41.0/24 from isthmusd" \
  grep -q 'nlri.*100\.64\.41\.0/24' "${LAB_DIR}/exabgp.log"
lab_raw_has raw "e['event'] == 'notification'" && lab_fail "the raw speaker got a NOTIFICATION"
lab_isthmus_established isthmusd 198.18.0.2 || lab_fail "session to 198.18.0.2 went down"

echo "PASS: as4_two_octet"
