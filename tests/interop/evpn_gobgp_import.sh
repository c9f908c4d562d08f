#!/usr/bin/env bash
# Interop: GoBGP 3.10 imports the EVPN routes isthmusd originates as a VTEP (RFC 7432, RFC 8365).
#   h1 isthmusd AS 65000 id 198.18.0.1, evpn: vtep 198.18.0.1, VNIs 100 (RD and RT derived) and
#      200 (RD 65000:200, export RT 65000:2000)
#   h2 GoBGP AS 65000 id 198.18.0.2, iBGP, l2vpn-evpn only
# isthmusd originates a type-3 route per VNI and, through `isthmusctl evpn mac add`, type-2 MAC
# and MAC+IP (IPv4 and IPv6) routes; one MAC first advertised by GoBGP is taken over by isthmusd
# with MAC Mobility sequence 1. Checks with GoBGP's own JSON (`gobgp -j global rib -a evpn`) that
# every route decodes field by field: route type, RD, Ethernet tag, MAC, IP, label (the VNI),
# ESI 0, next hop (the VTEP), route targets, the VXLAN encapsulation community, PMSI_TUNNEL
# (ingress replication, label = VNI, tunnel = VTEP), MAC Mobility; and that `evpn mac del`
# withdraws the route at GoBGP.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 2

lab_gobgp_start 2 gobgp "$(cat <<'CONF'
[global.config]
  as = 65000
  router-id = "198.18.0.2"
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.0.1"
    peer-as = 65000
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "l2vpn-evpn"
CONF
)"
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
    - { vni: 200, rd: "65000:200", export_rts: ["65000:2000"] }
YAML
)"
lab_wait_for 60 "isthmusd: 198.18.0.2 Established" lab_isthmus_established isthmusd 198.18.0.2

# A MAC that GoBGP's VTEP advertises in VNI 100 (RT 65000:100, imported by isthmusd's VNI 100):
# when isthmusd takes it over it must advertise sequence 1 (RFC 7432 §15.1).
lab_gobgp gobgp global rib -a evpn add macadv 02:00:00:00:02:02 0.0.0.0 etag 0 label 100 \
  rd 198.18.0.2:100 rt 65000:100 encap vxlan
moved_in() {
  lab_isthmusctl isthmusd show evpn mac vni 100 -o json |
    lab_check_json "[(m['mac'], m['vtep']) for m in j['macs']] == [('02:00:00:00:02:02', '198.18.0.2')]"
}
lab_wait_for 30 "isthmusd: 02:00:00:00:02:02 at VTEP 198.18.0.2" moved_in

mac() { lab_isthmusctl isthmusd evpn mac "$@"; }
mac add 100 02:00:00:00:01:01 | grep -qF "sequence 0" || lab_fail "evpn mac add: not sequence 0"
mac add 100 02:00:00:00:01:02 100.64.0.12 >/dev/null
mac add 200 02:00:00:00:01:03 fd00:64::13 >/dev/null
mac add 100 02:00:00:00:02:02 | grep -qF "sequence 1" || lab_fail "evpn mac add of a remote MAC: not sequence 1"

# isthmusd's routes at GoBGP: every route whose RD is not GoBGP's own.
ours() {
  lab_gobgp gobgp -j global rib -a evpn |
    lab_json "{k: v for k, v in j.items() if v[0]['nlri']['value']['rd']['admin'] != '198.18.0.2'}"
}
count() { ours | lab_json "len(j)"; }
count_is() { [[ $(count) == "$1" ]]; }  # polled: counts again on every call
lab_wait_for 30 "GoBGP holds isthmusd's 6 routes" count_is 6
ours >"${LAB_DIR}/ours.json"

python3 - "${LAB_DIR}/ours.json" <<'PY' || lab_fail "GoBGP decoded isthmusd's routes differently"
import json, sys
got = json.load(open(sys.argv[1]))
VTEP = "198.18.0.1"
ENCAP = {"type": 3, "subtype": 12, "tunnel_type": 8}  # RFC 9012 §4.1: VXLAN
def rt(v):
    return {"type": 0, "subtype": 2, "value": v}
def rd(admin, assigned, typ):
    return {"type": typ, "admin": admin, "assigned": assigned}
RD100 = rd(VTEP, 1, 1)         # derived: router id : index
RD200 = rd(65000, 200, 0)      # configured (GoBGP prints a type-0 admin as a number)
def mac_route(rd_, mac, ip, vni, rts, seq=None):
    ext = [rt(r) for r in rts] + [ENCAP]
    if seq is not None:
        ext.append({"type": 6, "subtype": 0, "sequence": seq, "is_sticky": False})
    nlri = {"type": 2, "value": {"rd": rd_, "esi": "single-homed", "etag": 0, "mac": mac,
                                 "ip": ip, "labels": [vni]}}
    return nlri, ext, None
def imet(rd_, vni, rts):
    nlri = {"type": 3, "value": {"rd": rd_, "etag": 0, "ip": VTEP}}
    pmsi = {"type": 22, "is-leaf-info-required": False, "tunnel-type": 6, "label": vni,
            "tunnel-id": VTEP}
    return nlri, [rt(r) for r in rts] + [ENCAP], pmsi
# A MAC-only route has IP Address Length 0 (RFC 7432 §7.2), which GoBGP prints as "<nil>".
want = [
    imet(RD100, 100, ["65000:100"]),
    imet(RD200, 200, ["65000:2000"]),
    mac_route(RD100, "02:00:00:00:01:01", "<nil>", 100, ["65000:100"]),
    mac_route(RD100, "02:00:00:00:01:02", "100.64.0.12", 100, ["65000:100"]),
    mac_route(RD200, "02:00:00:00:01:03", "fd00:64::13", 200, ["65000:2000"]),
    mac_route(RD100, "02:00:00:00:02:02", "<nil>", 100, ["65000:100"], seq=1),
]
bad = []
paths = [p[0] for p in got.values()]
assert len(want) == 6  # the test itself is sane
for nlri, ext, pmsi in want:
    match = [p for p in paths if p["nlri"] == nlri]
    if len(match) != 1:
        bad.append(f"no route (or several) with NLRI {nlri}; GoBGP has: "
                   + "; ".join(json.dumps(p["nlri"]) for p in paths))
        continue
    attrs = {a["type"]: a for a in match[0]["attrs"]}
    if attrs.get(1, {}).get("value") != 0:
        bad.append(f"{nlri}: ORIGIN not IGP: {attrs.get(1)}")
    mp = attrs.get(14, {})
    if (mp.get("nexthop"), mp.get("afi"), mp.get("safi")) != (VTEP, 25, 70):
        bad.append(f"{nlri}: MP_REACH next hop/AFI/SAFI {mp.get('nexthop')}/{mp.get('afi')}/{mp.get('safi')}")
    if attrs.get(5, {}).get("value") != 100:
        bad.append(f"{nlri}: LOCAL_PREF {attrs.get(5)}")
    got_ext = attrs.get(16, {}).get("value", [])
    if sorted(map(json.dumps, got_ext)) != sorted(map(json.dumps, ext)):
        bad.append(f"{nlri}: extended communities {got_ext} != {ext}")
    if attrs.get(22) != pmsi:
        bad.append(f"{nlri}: PMSI_TUNNEL {attrs.get(22)} != {pmsi}")
print("\n".join(bad) or f"all {len(want)} routes decode as expected")
sys.exit(1 if bad else 0)
PY
lab_log "GoBGP decodes isthmusd's 2 IMET and 4 MAC/IP routes field by field (RD, tag, MAC, IP, label, ESI, next hop, RTs, encapsulation, PMSI_TUNNEL, MAC Mobility)"

# Withdrawal: evpn mac del takes the route away at GoBGP, and only that route.
mac del 100 02:00:00:00:01:02 100.64.0.12 >/dev/null
lab_wait_for 30 "GoBGP lost the withdrawn MAC+IP route" count_is 5
ours | lab_check_json "not any('100.64.0.12' in k for k in j)" ||
  lab_fail "the withdrawn route is still at GoBGP"
mac del 200 02:00:00:00:01:03 fd00:64::13 >/dev/null
lab_wait_for 30 "GoBGP lost the withdrawn IPv6 MAC+IP route" count_is 4
lab_always 3 "GoBGP keeps the other 4 routes" count_is 4
lab_log "PASS"
