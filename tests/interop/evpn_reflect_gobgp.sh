#!/usr/bin/env bash
# Interop: isthmusd as an iBGP route reflector for L2VPN EVPN (RFC 7432) between two GoBGP 3.10
# clients.
#   h1 isthmusd AS 65000 id 198.18.0.1, both neighbors route_reflector_client, l2vpn-evpn only
#   h2 GoBGP A id 198.18.0.2: injects one route of each type 1-5 (labels, ESIs, route targets,
#      the encapsulation community, PMSI_TUNNEL with ingress replication)
#   h3 GoBGP B id 198.18.0.3: receives
# Checks (GoBGP's own JSON): every route A originates reaches B with the same NLRI (labels and
# ESI included), the same communities and PMSI_TUNNEL, next hop A, ORIGINATOR_ID A and
# CLUSTER_LIST isthmusd; nothing is sent back to A; a withdrawal at A reaches B; isthmusd counts
# what it holds.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 3

client_conf() { # client_conf ID
  cat <<CONF
[global.config]
  as = 65000
  router-id = "198.18.0.$1"
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
}
lab_gobgp_start 2 a "$(client_conf 2)"
lab_gobgp_start 3 b "$(client_conf 3)"
lab_isthmusd_start 1 isthmusd "$(cat <<YAML
control_socket: $(lab_isthmus_sock isthmusd)
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: { address: 198.18.0.1, port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.2, remote_as: 65000, route_reflector_client: true, families: [l2vpn-evpn] }
    - { address: 198.18.0.3, remote_as: 65000, route_reflector_client: true, families: [l2vpn-evpn] }
evpn:
  vnis:
    - { vni: 100 }
    - { vni: 5000, rd: "198.18.0.1:5000" }
    - { vni: 7000, import_rts: ["65000:7"] }
YAML
)"
for peer in 198.18.0.2 198.18.0.3; do
  lab_wait_for 60 "isthmusd: ${peer} Established" lab_isthmus_established isthmusd "${peer}"
done

add() { lab_gobgp a global rib -a evpn add "$@"; }
add a-d esi LACP 02:00:00:00:aa:01 7 etag 0 label 100 rd 198.18.0.2:100 rt 65000:100 encap vxlan
add macadv 02:00:00:00:00:01 0.0.0.0 etag 0 label 100 rd 198.18.0.2:100 rt 65000:100 encap vxlan
add macadv 02:00:00:00:00:02 100.64.0.2 etag 0 label 100,5000 rd 198.18.0.2:100 rt 65000:100 \
  rt 65000:5000 encap vxlan router-mac 02:00:00:00:00:fe
add multicast 198.18.0.2 etag 0 rd 198.18.0.2:100 rt 65000:100 encap vxlan \
  pmsi ingress-repl 100 198.18.0.2
add esi 198.18.0.2 esi ROUTERID 198.18.0.2 5 rd 198.18.0.2:1 rt 65000:100
add prefix 100.64.10.0/24 gw 0.0.0.0 etag 0 label 5000 rd 198.18.0.2:5000 rt 65000:5000 \
  encap vxlan router-mac 02:00:00:00:00:fe

rib() { lab_gobgp "$1" -j global rib -a evpn; }
count() { rib "$1" | lab_json "len(j)"; }
lab_wait_for 30 "B holds A's 6 routes" lab_is 6 count b

# Compare every route of A (local, next hop 0.0.0.0) with B's copy.
rib a >"${LAB_DIR}/a.json"
rib b >"${LAB_DIR}/b.json"
python3 - "${LAB_DIR}/a.json" "${LAB_DIR}/b.json" <<'PY' || lab_fail "B's routes differ from A's"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
def attrs(path):
    return {x["type"]: x for x in path["attrs"]}
bad = 0
for key, paths in a.items():
    if key not in b:
        print(f"missing at B: {key}"); bad += 1; continue
    pa, pb = paths[0], b[key][0]
    if pa["nlri"] != pb["nlri"]:
        print(f"NLRI differs: {key}: {pa['nlri']} != {pb['nlri']}"); bad += 1
    aa, ab = attrs(pa), attrs(pb)
    for t in (16, 22):  # extended communities, PMSI_TUNNEL
        if aa.get(t) != ab.get(t):
            print(f"attribute {t} differs: {key}: {aa.get(t)} != {ab.get(t)}"); bad += 1
    checks = {
        "next hop A": ab.get(14, {}).get("nexthop") == "198.18.0.2",
        "ORIGINATOR_ID A": ab.get(9, {}).get("value") == "198.18.0.2",
        "CLUSTER_LIST isthmusd": ab.get(10, {}).get("value") == ["198.18.0.1"],
    }
    for what, ok in checks.items():
        if not ok:
            print(f"{what} wrong: {key}: {ab}"); bad += 1
print(f"{len(a)} routes compared, {bad} differences")
sys.exit(1 if bad else 0)
PY
lab_log "B's 6 routes match A's: NLRI (labels, ESI), communities, PMSI, next hop, ORIGINATOR_ID, CLUSTER_LIST"

# isthmusd's own view: show bgp l2vpn evpn, filtered by route type and VNI.
evpn_count() { lab_isthmusctl isthmusd show bgp l2vpn evpn "$@" -o json | lab_json "len(j['routes'])"; }
lab_assert_eq "show bgp l2vpn evpn: routes" "$(evpn_count)" 6
lab_assert_eq "show bgp l2vpn evpn route-type 2" "$(evpn_count route-type 2)" 2
# VNI 100: the A-D route and both MAC/IP routes by their label, the IMET route by its PMSI label.
lab_assert_eq "show bgp l2vpn evpn vni 100" "$(evpn_count vni 100)" 4
lab_assert_eq "show bgp l2vpn evpn route-type 5 vni 5000" "$(evpn_count route-type 5 vni 5000)" 1
lab_isthmusctl isthmusd show bgp l2vpn evpn route-type 3 | grep -qF '[3]:[198.18.0.2:100]:[0]:[32]:[198.18.0.2]' ||
  lab_fail "the text view lacks the IMET route"
if lab_isthmusctl isthmusd show bgp l2vpn evpn route-type 9 >"${LAB_DIR}/err" 2>&1; then
  lab_fail "route-type 9 was accepted"
fi
grep -qF "route-type: 9 is not an EVPN route type (1..5)" "${LAB_DIR}/err" ||
  lab_fail "route-type 9: unexpected message: $(cat "${LAB_DIR}/err")"
lab_log "show bgp l2vpn evpn: 6 routes, filters by route type and VNI, text view, bad input refused"

# MAC-VRFs: routes imported by route target (derived 65000:VNI), MACs at their VTEP.
lab_isthmusctl isthmusd show evpn vni -o json >"${LAB_DIR}/vni.json"
python3 - "${LAB_DIR}/vni.json" "${LAB_DIR}/a.json" <<'PY' || lab_fail "show evpn vni is wrong"
import json, sys
v = {x["vni"]: x for x in json.load(open(sys.argv[1]))}
a = json.load(open(sys.argv[2]))
# What A sent, by route target: the routes and MACs each VNI must import.
def rts(path):
    for at in path["attrs"]:
        if at["type"] == 16:
            return {f"{c['value']}" for c in at["value"] if c.get("type") == 0 and c.get("subtype") == 2}
    return set()
def expect(rt):
    routes = [p[0] for p in a.values() if rt in rts(p[0])]
    macs = {p["nlri"]["value"]["mac"] for p in routes if p["nlri"]["type"] == 2}
    vteps = sorted({"198.18.0.2" for p in routes if p["nlri"]["type"] == 3})
    return dict(routes=len(routes), macs=len(macs), remote_vteps=vteps)
want = {
    100: dict(rd="198.18.0.1:1", import_rts=["rt:65000:100"], **expect("65000:100")),
    5000: dict(rd="198.18.0.1:5000", import_rts=["rt:65000:5000"], **expect("65000:5000")),
    # VNI 7000 imports RT 65000:7, which nobody sends.
    7000: dict(rd="198.18.0.1:3", import_rts=["rt:65000:7"], export_rts=["rt:65000:7000"],
               macs=0, routes=0, remote_vteps=[]),
}
assert want[100]["routes"] >= 4 and want[100]["macs"] >= 1, want  # the test itself is sane
bad = [f"VNI {n} {k}: {v.get(n, {}).get(k)} != {x}" for n, w in want.items() for k, x in w.items()
       if v.get(n, {}).get(k) != x]
print("\n".join(bad) or f"show evpn vni as expected: {want}")
sys.exit(1 if bad else 0)
PY
lab_isthmusctl isthmusd show evpn mac vni 100 -o json | lab_check_json "
[(m['mac'], m['vtep'], m['sequence']) for m in j['macs']][0] == ('02:00:00:00:00:01', '198.18.0.2', 0)" ||
  lab_fail "show evpn mac vni 100: $(lab_isthmusctl isthmusd show evpn mac vni 100 -o json)"
lab_isthmusctl isthmusd show evpn mac vni 5000 -o json | lab_check_json "
[(m['mac'], m['vtep'], m['ips']) for m in j['macs']] == [('02:00:00:00:00:02', '198.18.0.2', ['100.64.0.2'])]" ||
  lab_fail "show evpn mac vni 5000: $(lab_isthmusctl isthmusd show evpn mac vni 5000 -o json)"
lab_isthmusctl isthmusd show evpn mac vni 5000 | grep -q '^02:00:00:00:00:02 *198.18.0.2 ' ||
  lab_fail "show evpn mac vni 5000: the text view lacks 02:00:00:00:00:02"
if lab_isthmusctl isthmusd show evpn mac vni 999 >"${LAB_DIR}/err" 2>&1; then
  lab_fail "show evpn mac vni 999 was accepted"
fi
grep -qF "no EVPN instance for VNI 999" "${LAB_DIR}/err" ||
  lab_fail "vni 999: unexpected message: $(cat "${LAB_DIR}/err")"
lab_log "show evpn vni / mac: routes imported by route target into VNIs 100 and 5000 as A tagged them, MACs at VTEP 198.18.0.2"

# Nothing reflected back to A (split horizon): A holds only its own 6.
lab_always 3 "A holds only its own routes" lab_is 6 count a

held=$(lab_isthmusctl isthmusd show bgp neighbor 198.18.0.2 -o json |
  lab_json "j['prefixes_accepted']['l2vpn-evpn']")
lab_assert_eq "isthmusd: routes accepted from A" "${held}" 6

# Withdrawal.
lab_gobgp a global rib -a evpn del macadv 02:00:00:00:00:02 100.64.0.2 etag 0 label 100,5000 \
  rd 198.18.0.2:100
lab_wait_for 30 "B lost the withdrawn MAC/IP route" lab_is 5 count b
rib b | lab_check_json "not any('02:00:00:00:00:02' in k for k in j)" ||
  lab_fail "the withdrawn route is still at B"
lab_log "PASS"
