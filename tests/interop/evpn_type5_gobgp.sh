#!/usr/bin/env bash
# Interop: EVPN IP prefix routes (type 5, RFC 9136 §4.4.1 interface-less model) between isthmusd
# and GoBGP 3.10 (FRR 8.4 needs VRF devices for L3 VNIs, which the kernels here lack).
#   h1 isthmusd AS 65000 id 198.18.0.1, evpn: vtep 198.18.0.1, the tenant tenant1 (vrfs:) with L3
#      VNI 1000 (RD 198.18.0.1:2 after the MAC-VRF of VNI 100, RT 65000:1000, Router's MAC
#      02:00:c6:12:00:01)
#   h2 GoBGP id 198.18.0.2, l2vpn-evpn
# Checks: evpn prefix add (IPv4 and IPv6) reaches GoBGP as type-5 routes with the L3 VNI as label,
# gateway 0, the IP-VRF's RD and route target, the VXLAN encapsulation and Router's MAC
# communities and next hop 198.18.0.1; GoBGP's type-5 route with RT 65000:1000 is imported into
# the IP-VRF (show evpn prefix vni 1000), one with another RT is not; evpn prefix del withdraws.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 2

lab_gobgp_start 2 gobgp "$(cat <<CONF
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
vrfs:
  - { name: tenant1, l3vni: 1000 }
YAML
)"
lab_wait_for 60 "isthmusd: 198.18.0.2 Established" lab_isthmus_established isthmusd 198.18.0.2

lab_isthmusctl isthmusd show evpn ip-vrf -o json | lab_check_json "
[(v['name'], v['vni'], v['rd'], v['router_mac'], v['import_rts']) for v in j] == [('tenant1', 1000, '198.18.0.1:2', '02:00:c6:12:00:01', ['rt:65000:1000'])]" ||
  lab_fail "show evpn ip-vrf: $(lab_isthmusctl isthmusd show evpn ip-vrf -o json)"
lab_isthmusctl isthmusd show evpn ip-vrf | grep -E "^tenant1 +1000 +198\.18\.0\.1:2 " >/dev/null ||
  lab_fail "show evpn ip-vrf (text) lacks the row of tenant1: $(lab_isthmusctl isthmusd show evpn ip-vrf)"

# 1. Our prefixes at GoBGP.
lab_isthmusctl isthmusd evpn prefix add 1000 100.64.10.0/24 | grep -qF "advertised from 198.18.0.1" ||
  lab_fail "evpn prefix add did not advertise 100.64.10.0/24"
lab_isthmusctl isthmusd evpn prefix add 1000 fd00:10::/64 >/dev/null
rib() { lab_gobgp gobgp -j global rib -a evpn; }
dump() {
  rib | python3 -m json.tool | head -c 3000
  lab_isthmusctl isthmusd show evpn prefix vni 1000 -o json
  lab_isthmusctl isthmusd show bgp l2vpn evpn route-type 5
}
lab_on_fail dump
type5_at_gobgp() { # type5_at_gobgp PREFIX: GoBGP holds our type-5 route for PREFIX
  rib | python3 -c '
import json, sys
want = sys.argv[1]
for key, paths in json.load(sys.stdin).items():
    for p in paths:
        n = p["nlri"]
        if n.get("type") != 5 or n.get("value", {}).get("prefix") != want:
            continue
        v = n["value"]
        attrs = {a["type"]: a for a in p["attrs"]}
        ext = attrs.get(16, {}).get("value", [])
        ok = ((v["rd"]["admin"], v["rd"]["assigned"]) == ("198.18.0.1", 2) and
              v["label"] == 1000 and v["esi"] == "single-homed" and v["etag"] == 0 and
              v["gateway"] in ("0.0.0.0", "::") and
              attrs.get(14, {}).get("nexthop") == "198.18.0.1" and
              {"type": 0, "subtype": 2, "value": "65000:1000"} in ext and
              {"type": 3, "subtype": 12, "tunnel_type": 8} in ext and
              {"type": 6, "subtype": 3, "mac": "02:00:c6:12:00:01"} in ext)
        sys.exit(0 if ok else 1)
sys.exit(1)
' "$1"
}
lab_wait_for 30 "GoBGP: type-5 100.64.10.0/24 from 198.18.0.1, label 1000, Router's MAC" type5_at_gobgp 100.64.10.0/24
lab_wait_for 30 "GoBGP: type-5 fd00:10::/64 from 198.18.0.1" type5_at_gobgp fd00:10::/64
lab_log "1. isthmusd's type-5 routes at GoBGP: RD, label = L3 VNI, RT, encapsulation, Router's MAC"

# 2. GoBGP's prefixes in the IP-VRF, by route target.
lab_gobgp gobgp global rib -a evpn add prefix 100.64.20.0/24 gw 0.0.0.0 etag 0 label 1000 \
  rd 198.18.0.2:1000 rt 65000:1000 encap vxlan router-mac 02:00:00:00:00:fe
lab_gobgp gobgp global rib -a evpn add prefix 100.64.30.0/24 gw 0.0.0.0 etag 0 label 2000 \
  rd 198.18.0.2:2000 rt 65000:2000 encap vxlan router-mac 02:00:00:00:00:fe
remote_prefix() {
  lab_isthmusctl isthmusd show evpn prefix vni 1000 -o json | lab_check_json "([
(p['prefix'], p['local'], [(r['vtep'], r['router_mac'], r['vni']) for r in p['remote']]) for p in j['prefixes']] ==
[('100.64.10.0/24', True, []), ('100.64.20.0/24', False, [('198.18.0.2', '02:00:00:00:00:fe', 1000)]), ('fd00:10::/64', True, [])])"
}
lab_wait_for 30 "isthmusd: 100.64.20.0/24 at 198.18.0.2 in L3 VNI 1000 (and not 100.64.30.0/24)" remote_prefix
lab_isthmusctl isthmusd show evpn prefix vni 1000 | grep -E "^100\.64\.20\.0/24 +198\.18\.0\.2 +02:00:00:00:00:fe" >/dev/null ||
  lab_fail "show evpn prefix (text) lacks GoBGP's prefix"
lab_log "2. GoBGP's type-5 route imported into the IP-VRF by route target"

# 3. Withdrawals both ways.
lab_isthmusctl isthmusd evpn prefix del 1000 100.64.10.0/24 | grep -qF "no longer advertised" ||
  lab_fail "evpn prefix del did not withdraw"
gone() { ! type5_at_gobgp 100.64.10.0/24; }
lab_wait_for 30 "GoBGP: 100.64.10.0/24 withdrawn" gone
lab_gobgp gobgp global rib -a evpn del prefix 100.64.20.0/24 gw 0.0.0.0 etag 0 label 1000 \
  rd 198.18.0.2:1000
remote_gone() {
  lab_isthmusctl isthmusd show evpn prefix vni 1000 -o json | lab_check_json "
[p['prefix'] for p in j['prefixes']] == ['fd00:10::/64']"
}
lab_wait_for 30 "isthmusd: GoBGP's 100.64.20.0/24 withdrawn" remote_gone
if lab_isthmusctl isthmusd evpn prefix add 100 100.64.40.0/24 >"${LAB_DIR}/err" 2>&1; then
  lab_fail "evpn prefix add into an L2 VNI was accepted"
fi
grep -qF "no IP-VRF for L3 VNI 100 (see show evpn ip-vrf)" "${LAB_DIR}/err" || lab_fail "unexpected: $(cat "${LAB_DIR}/err")"
lab_log "3. withdrawals both ways; an L2 VNI is refused"
lab_log "PASS"
