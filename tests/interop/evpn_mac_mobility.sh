#!/usr/bin/env bash
# Interop: MAC mobility (RFC 7432 §15.1) between isthmusd and an FRR 8.4 VTEP, up to duplicate
# MAC detection.
#   h1 isthmusd AS 65000 id 198.18.0.1, evpn: vtep 198.18.0.1, VNI 100 (RD and RT derived)
#   h2 FRR AS 65000 id 198.18.0.2: br100 + vxlan100 (local 198.18.0.2), advertise-all-vni, its
#      own duplicate detection off (so that only isthmusd freezes the MAC)
#   h3 a workload behind FRR's bridge (vm100p, MAC 02:00:00:00:03:01, 100.64.0.31)
# Moves of the MAC, each asserted on both sides:
#   1. h3 sends a frame: FRR learns the MAC and advertises it (sequence 0); isthmusd shows it at
#      198.18.0.2.
#   2. evpn mac add at isthmusd: advertised with sequence 1; FRR's kernel FDB points at
#      198.18.0.1 and FRR shows remote sequence 1.
#   3. h3 sends again: FRR learns it back (sequence 2); isthmusd shows 198.18.0.2 with sequence
#      2 and has withdrawn its own route (the MAC moved away).
#   4. Two more moves (isthmusd sequence 3, FRR 4), and the 5th move within 180 s (evpn mac add
#      again) makes isthmusd flag the MAC duplicate: not advertised, shown with flag D.
#   5. clear evpn dup-addr: isthmusd takes the MAC over with sequence 5, FRR follows.
# Sticky (static) MACs, RFC 7432 §15.2:
#   6. evpn mac add ... sticky: FRR has it remote and sticky, and does not move it to its
#      workload when the workload uses it.
#   7. A MAC static and sticky on FRR's bridge (FRR advertises it sticky) that isthmusd learns
#      too: a conflict, not advertised by isthmusd.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

MAC=02:00:00:00:03:01

lab_init
lab_require_isthmus
lab_underlay 2
lab_host 3

lab_vxlan_bridge 2 100 198.18.0.2
lab_workload 2 100 3 "${MAC}" 100.64.0.31/24
lab_frr_start 2 frr "$(lab_frr_evpn_vtep_conf 2 | sed 's/^  advertise-all-vni$/&\n  no dup-addr-detection/')"
lab_isthmusd_start 1 isthmusd "$(cat <<YAML
control_socket: $(lab_isthmus_sock isthmusd)
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: { address: 198.18.0.1, port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.2, remote_as: 65000, families: [l2vpn-evpn] }
evpn:
  vtep: 198.18.0.1
  vnis:
    - { vni: 100 }
  duplicate_detection: { max_moves: 5, window: 180 }
YAML
)"
lab_wait_for 60 "isthmusd: 198.18.0.2 Established" lab_isthmus_established isthmusd 198.18.0.2
lab_vtysh frr "show running-config" | grep -q "no dup-addr-detection" ||
  lab_fail "FRR did not take 'no dup-addr-detection'"

dump_mac() {
  echo "isthmusd:"
  lab_isthmusctl isthmusd show evpn mac vni 100 2>&1
  lab_isthmusctl isthmusd show bgp l2vpn evpn route-type 2 2>&1
  echo "FRR:"
  lab_vtysh frr "show evpn mac vni 100" "show bgp l2vpn evpn route type macip" 2>&1
  lab_exec 2 bridge fdb show br br100 2>&1 | grep -i "${MAC}" || true
}
lab_on_fail dump_mac

# isthmusd's view of the MAC: (vtep, sequence, local, duplicate).
isthmus_mac_is() {
  lab_isthmusctl isthmusd show evpn mac vni 100 -o json | lab_check_json "([
(m['vtep'], m['sequence'], m['local'], m['duplicate']) for m in j['macs'] if m['mac'] == '${MAC}']
== [('$1', $2, $3, $4)])"
}
# isthmusd's own type-2 route for the MAC in its Loc-RIB.
isthmus_advertises() {
  lab_isthmusctl isthmusd show bgp l2vpn evpn route-type 2 -o json | lab_check_json "
any('[${MAC}]' in r['route'] and p['from'] == 'local' for r in j['routes'] for p in r['paths'])"
}
# FRR's view: (type, VTEP, sequence) with VTEP and sequence of the remote or local entry.
frr_mac_is() {
  lab_vtysh frr "show evpn mac vni 100 mac ${MAC} json" | lab_check_json "
(lambda m: (m['type'], m.get('remoteVtep', ''), m['remoteSequence'] if m['type'] == 'remote'
            else m['localSequence']))(j['${MAC}']) == ('$1', '$2', $3)"
}
frr_fdb_at() { lab_fdb_has 2 vxlan100 "${MAC}" "$1"; }

# FRR's bridge forwards the MAC into the VXLAN device (the entry FRR installs for a remote MAC).
frr_bridge_remote() {
  lab_exec 2 bridge fdb show br br100 | grep -q "^${MAC} dev vxlan100 .*master br100"
}
# move_to_frr SEQ: once FRR has taken isthmusd's sequence SEQ (the MAC remote at 198.18.0.1 in
# FRR and in its kernel), a frame from the workload makes FRR's bridge learn it back on vm100:
# a move to FRR.
move_to_frr() {
  lab_wait_for 30 "FRR: ${MAC} remote at 198.18.0.1 with sequence $1" frr_mac_is remote 198.18.0.1 "$1"
  lab_wait_for 30 "FRR's kernel FDB: ${MAC} at 198.18.0.1" frr_fdb_at 198.18.0.1
  lab_wait_for 30 "FRR's bridge: ${MAC} on vxlan100" frr_bridge_remote
  lab_send_garp 3 vm100p
}

# 1. The MAC appears behind FRR.
lab_send_garp 3 vm100p
lab_wait_for 30 "FRR: ${MAC} local with sequence 0" frr_mac_is local "" 0
lab_wait_for 30 "isthmusd: ${MAC} at 198.18.0.2, sequence 0" isthmus_mac_is 198.18.0.2 0 False False
lab_log "1. ${MAC} learned by FRR, imported by isthmusd"

# 2. It moves to isthmusd: sequence 1.
lab_isthmusctl isthmusd evpn mac add 100 "${MAC}" | grep -qF "(sequence 1): taken over from 198.18.0.2" ||
  lab_fail "evpn mac add did not take ${MAC} over with sequence 1"
lab_wait_for 30 "FRR's kernel FDB: ${MAC} at 198.18.0.1" frr_fdb_at 198.18.0.1
lab_wait_for 30 "FRR: ${MAC} remote at 198.18.0.1 with sequence 1" frr_mac_is remote 198.18.0.1 1
isthmus_mac_is 198.18.0.1 1 True False || lab_fail "isthmusd does not show ${MAC} local with sequence 1"
lab_log "2. ${MAC} moved to isthmusd with sequence 1"

# 3. It moves back to FRR: FRR advertises sequence 2; isthmusd withdraws its route.
move_to_frr 1
lab_wait_for 30 "FRR: ${MAC} local with sequence 2" frr_mac_is local "" 2
lab_wait_for 30 "isthmusd: ${MAC} at 198.18.0.2, sequence 2" isthmus_mac_is 198.18.0.2 2 False False
no_route() { ! isthmus_advertises; }
lab_wait_for 30 "isthmusd withdrew its route for ${MAC}" no_route
lab_isthmusctl isthmusd show evpn mac vni 100 -o json | lab_check_json "
[m['local_mac']['state'] for m in j['macs'] if m['mac'] == '${MAC}'] == ['moved-away']" ||
  lab_fail "isthmusd does not say that ${MAC} moved away"
lab_log "3. ${MAC} moved back to FRR with sequence 2; isthmusd withdrew its route"

# 4. Moves 3 and 4, then the 5th within the window: a duplicate.
lab_isthmusctl isthmusd evpn mac add 100 "${MAC}" | grep -qF "(sequence 3)" ||
  lab_fail "the 3rd move did not advertise sequence 3"
move_to_frr 3
lab_wait_for 30 "isthmusd: ${MAC} at 198.18.0.2, sequence 4" isthmus_mac_is 198.18.0.2 4 False False
lab_wait_for 30 "isthmusd withdrew its route for ${MAC} again" no_route
lab_isthmusctl isthmusd evpn mac add 100 "${MAC}" >"${LAB_DIR}/dup.out"
grep -qF "is local but not advertised: duplicate MAC (moved 5 times within 180 s)" "${LAB_DIR}/dup.out" ||
  lab_fail "the 5th move did not make ${MAC} a duplicate: $(cat "${LAB_DIR}/dup.out")"
isthmus_mac_is 198.18.0.2 4 False True || lab_fail "isthmusd does not flag ${MAC} duplicate"
! isthmus_advertises || lab_fail "isthmusd advertises the duplicate ${MAC}"
lab_isthmusctl isthmusd show evpn mac vni 100 | grep -E "^${MAC} +198\.18\.0\.2 +4 +D " >/dev/null ||
  lab_fail "show evpn mac (text) does not flag ${MAC} D at 198.18.0.2"
lab_isthmusctl isthmusd show evpn vni -o json | lab_check_json "[v['duplicate_macs'] for v in j] == [1]" ||
  lab_fail "show evpn vni does not count the duplicate"
frr_mac_is local "" 4 || lab_fail "FRR lost ${MAC} although isthmusd froze it"
lab_log "4. 5 moves within 180 s: isthmusd flags ${MAC} duplicate and stops advertising it"

# 5. Cleared: the MAC is attached to isthmusd (last learned there): it takes over with 5.
lab_isthmusctl isthmusd clear evpn dup-addr vni 100 mac "${MAC}" | grep -qF "is no longer a duplicate" ||
  lab_fail "clear evpn dup-addr did not clear ${MAC}"
lab_wait_for 30 "FRR: ${MAC} remote at 198.18.0.1 with sequence 5" frr_mac_is remote 198.18.0.1 5
lab_wait_for 30 "FRR's kernel FDB: ${MAC} at 198.18.0.1" frr_fdb_at 198.18.0.1
isthmus_mac_is 198.18.0.1 5 True False || lab_fail "isthmusd does not show ${MAC} local with sequence 5"
lab_log "5. cleared: ${MAC} taken over by isthmusd with sequence 5"

# 6. Sticky (RFC 7432 §15.2): a static MAC of isthmusd does not move when the workload behind
# FRR uses it.
STICKY=02:00:00:00:01:09
lab_isthmusctl isthmusd evpn mac add 100 "${STICKY}" sticky | grep -qF "(sequence 0, sticky)" ||
  lab_fail "evpn mac add ... sticky did not answer sequence 0, sticky"
frr_sticky_remote() {
  lab_vtysh frr "show evpn mac vni 100 mac ${STICKY} json" | lab_check_json "
(j['${STICKY}']['type'], j['${STICKY}']['remoteVtep'], j['${STICKY}'].get('stickyMac')) == ('remote', '198.18.0.1', True)"
}
lab_wait_for 30 "FRR: ${STICKY} remote at 198.18.0.1, sticky" frr_sticky_remote
lab_wait_for 30 "FRR's kernel FDB: ${STICKY} at 198.18.0.1" lab_fdb_has 2 vxlan100 "${STICKY}" 198.18.0.1
lab_exec 3 ip link set vm100p address "${STICKY}"
lab_send_garp 3 vm100p
frr_sticky_local() {
  lab_vtysh frr "show evpn mac vni 100 mac ${STICKY} json" | lab_check_json "j['${STICKY}']['type'] == 'local'"
}
lab_never 3 "FRR moved the sticky ${STICKY} to its workload" frr_sticky_local
isthmus_sticky() {
  lab_isthmusctl isthmusd show evpn mac vni 100 -o json | lab_check_json "
[(m['local'], m['sticky'], m['flags']) for m in j['macs'] if m['mac'] == '${STICKY}'] == [(True, True, ['local', 'sticky'])]"
}
isthmus_sticky || lab_fail "isthmusd does not show ${STICKY} local and sticky"
lab_log "6. the sticky ${STICKY} stays at isthmusd"

# 7. A MAC FRR has as static is advertised sticky; learned at isthmusd too, it is a conflict
# and isthmusd does not advertise it.
STATIC=02:00:00:00:02:09
lab_exec 2 bridge fdb add "${STATIC}" dev vm100 master static sticky
isthmus_static_remote() {
  lab_isthmusctl isthmusd show evpn mac vni 100 -o json | lab_check_json "
[(m['vtep'], m['sticky'], m['local']) for m in j['macs'] if m['mac'] == '${STATIC}'] == [('198.18.0.2', True, False)]"
}
lab_wait_for 30 "isthmusd: ${STATIC} at 198.18.0.2, sticky" isthmus_static_remote
lab_isthmusctl isthmusd evpn mac add 100 "${STATIC}" >"${LAB_DIR}/conflict.out"
grep -qF "is local but not advertised: VTEP 198.18.0.2 advertises it as static" "${LAB_DIR}/conflict.out" ||
  lab_fail "evpn mac add of FRR's static MAC: $(cat "${LAB_DIR}/conflict.out")"
lab_isthmusctl isthmusd show evpn mac vni 100 -o json | lab_check_json "
[(m['flags'], m['local_mac']['state'], m['local_mac']['advertised']) for m in j['macs'] if m['mac'] == '${STATIC}'] == [(['sticky', 'conflict'], 'conflict', False)]" ||
  lab_fail "isthmusd does not show ${STATIC} as a conflict"
lab_log "7. FRR's static ${STATIC}: a conflict at isthmusd, not advertised"
lab_log "PASS"
