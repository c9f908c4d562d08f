#!/usr/bin/env bash
# Interop: isthmusd as an EVPN VTEP peer of an FRR 8.4 VTEP (zebra + bgpd, VXLAN on the kernel).
#   h1 isthmusd AS 65000 id 198.18.0.1, evpn: vtep 198.18.0.1, VNI 100 (RD and RT derived)
#   h2 FRR AS 65000 id 198.18.0.2: br100 + vxlan100 (local 198.18.0.2), advertise-all-vni, a
#      workload port vm100 with a static MAC and a MAC+IP neighbour entry
# Checks: FRR installs isthmusd's type-3 route (ingress replication) as the flood entry
# 00:00:00:00:00:00 dst 198.18.0.1 in its kernel FDB and lists 198.18.0.1 as remote VTEP of VNI
# 100; isthmusd imports FRR's type-2/3 routes into VNI 100 by route target (show evpn vni / mac);
# a MAC+IP originated by isthmusd (evpn mac add) lands in FRR's kernel FDB and neighbour table
# and goes with evpn mac del; when isthmusd stops, FRR's kernel forgets the flood entry.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 2

lab_vxlan_bridge 2 100 198.18.0.2
lab_frr_start 2 frr "$(lab_frr_evpn_vtep_conf 2)"
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
YAML
)"
lab_wait_for 60 "isthmusd: 198.18.0.2 Established" lab_isthmus_established isthmusd 198.18.0.2

# FRR's workload: a static MAC and a MAC+IP.
lab_exec 2 bridge fdb add 02:00:00:00:02:01 dev vm100 master static
lab_exec 2 ip neigh replace 100.64.0.21 lladdr 02:00:00:00:02:01 dev br100 nud reachable

# 1. FRR installs our flood entry: type-3 route -> kernel FDB (ingress replication).
flood_entry() { lab_shows '^00:00:00:00:00:00 dst 198\.18\.0\.1 ' lab_exec 2 bridge fdb show dev vxlan100; }
lab_wait_for 30 "FRR's kernel FDB floods VNI 100 to 198.18.0.1" flood_entry
# (FRR 8.4 names the list of remote VTEPs "numRemoteVteps".)
lab_vtysh frr "show evpn vni 100 json" | lab_check_json "j.get('numRemoteVteps') == ['198.18.0.1']" ||
  lab_fail "FRR does not list 198.18.0.1 as a remote VTEP of VNI 100"
lab_log "FRR: 198.18.0.1 is a remote VTEP of VNI 100 and in the kernel's flood list"

# 2. isthmusd imports FRR's routes into VNI 100 (RT 65000:100 on both sides).
remote_vtep() {
  lab_isthmusctl isthmusd show evpn vni -o json |
    lab_check_json "[v['remote_vteps'] for v in j if v['vni'] == 100] == [['198.18.0.2']]"
}
lab_wait_for 30 "isthmusd: VNI 100 floods to 198.18.0.2" remote_vtep
frr_mac() {
  lab_isthmusctl isthmusd show evpn mac vni 100 -o json | lab_check_json "
('02:00:00:00:02:01', '198.18.0.2', ['100.64.0.21']) in [(m['mac'], m['vtep'], m['ips']) for m in j['macs']]"
}
lab_wait_for 30 "isthmusd: FRR's MAC and IP in VNI 100" frr_mac
lab_log "isthmusd: FRR's VTEP and its MAC+IP imported into VNI 100"

# 3. A MAC+IP local to isthmusd (evpn mac add): FRR installs the MAC in its kernel FDB towards us
# and the IP in its neighbour table (ARP suppression); evpn mac del takes them away.
lab_isthmusctl isthmusd evpn mac add 100 02:00:00:00:01:01 100.64.0.11 | grep -qF "sequence 0" ||
  lab_fail "evpn mac add did not answer with sequence 0"
our_mac() { lab_exec 2 bridge fdb show dev vxlan100 | grep -q '^02:00:00:00:01:01 dst 198.18.0.1 '; }
our_ip() { lab_exec 2 ip neigh show dev br100 | grep -q '^100.64.0.11 lladdr 02:00:00:00:01:01'; }
lab_wait_for 30 "FRR's kernel FDB: 02:00:00:00:01:01 at 198.18.0.1" our_mac
lab_wait_for 30 "FRR's neighbour table: 100.64.0.11 is 02:00:00:00:01:01" our_ip
lab_isthmusctl isthmusd evpn mac del 100 02:00:00:00:01:01 100.64.0.11 >/dev/null
lab_isthmusctl isthmusd evpn mac del 100 02:00:00:00:01:01 >/dev/null
no_our_mac() { ! our_mac; }
lab_wait_for 30 "FRR's kernel FDB forgot 02:00:00:00:01:01" no_our_mac
if lab_isthmusctl isthmusd evpn mac add 999 02:00:00:00:01:01 >"${LAB_DIR}/err" 2>&1; then
  lab_fail "evpn mac add for an unknown VNI was accepted"
fi
grep -qF "no EVPN instance for VNI 999" "${LAB_DIR}/err" || lab_fail "unexpected: $(cat "${LAB_DIR}/err")"
lab_log "isthmusd's MAC+IP installed by FRR in its FDB and neighbour table, and removed"

# 4. MAC mobility (RFC 7432 §15): a MAC learned at FRR moves to isthmusd. isthmusd advertises it
# with sequence 1; FRR moves it in its kernel FDB to 198.18.0.1; both sides see sequence 1.
lab_exec 2 bridge fdb add 02:00:00:00:02:02 dev vm100 master dynamic
frr_has_mac2() {
  lab_isthmusctl isthmusd show evpn mac vni 100 -o json |
    lab_check_json "any(m['mac'] == '02:00:00:00:02:02' and m['vtep'] == '198.18.0.2' for m in j['macs'])"
}
lab_wait_for 30 "isthmusd: 02:00:00:00:02:02 at FRR" frr_has_mac2
lab_isthmusctl isthmusd evpn mac add 100 02:00:00:00:02:02 | grep -qF "sequence 1" ||
  lab_fail "the moved MAC was not advertised with sequence 1"
moved() { lab_exec 2 bridge fdb show dev vxlan100 | grep -q '^02:00:00:00:02:02 dst 198.18.0.1 '; }
lab_wait_for 30 "FRR's kernel FDB: 02:00:00:00:02:02 moved to 198.18.0.1" moved
ours() {
  lab_isthmusctl isthmusd show evpn mac vni 100 -o json |
    lab_check_json "[(m['vtep'], m['sequence'], m['from']) for m in j['macs'] if m['mac'] == '02:00:00:00:02:02'] == [('198.18.0.1', 1, 'local')]"
}
lab_wait_for 30 "isthmusd: 02:00:00:00:02:02 is local with sequence 1" ours
lab_vtysh frr "show evpn mac vni 100 mac 02:00:00:00:02:02 json" | lab_check_json "
(j['02:00:00:00:02:02']['type'], j['02:00:00:00:02:02']['remoteVtep'],
 j['02:00:00:00:02:02']['remoteSequence']) == ('remote', '198.18.0.1', 1)" ||
  lab_fail "FRR does not see 02:00:00:00:02:02 at 198.18.0.1 with sequence 1"
lab_log "MAC mobility: 02:00:00:00:02:02 moved from FRR to isthmusd with sequence 1"

# 4. isthmusd gone: FRR withdraws our route from its kernel.
lab_stop isthmusd
no_flood_entry() { ! flood_entry; }
lab_wait_for 30 "FRR's kernel forgot the flood entry to 198.18.0.1" no_flood_entry
lab_log "PASS"
