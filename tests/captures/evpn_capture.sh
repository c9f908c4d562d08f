#!/usr/bin/env bash
# Records the EVPN UPDATEs that GoBGP 3.10 and FRR 8.4 send, for the wire tests
# (src/bgp/wire/evpn_capture_test.cc) and the fuzz seed corpora. Not run by ctest: it needs root,
# network namespaces and both daemons; the bytes it printed are checked in as test data.
#
#   tests/captures/evpn_capture.sh gobgp|frr|frr-l3 OUTDIR
#
# gobgp: h2 gobgpd AS 65001 (198.18.0.2, fd00:18::2) -> bgp_capture.py AS 65000 on h1, over IPv4
#        and over IPv6; routes of all five types added and one withdrawn with the gobgp CLI.
# frr:   h3 zebra+bgpd AS 65003 with VNI 100 (bridge br100 + vxlan100, VTEP 198.18.0.3,
#        advertise-all-vni) -> bgp_capture.py AS 65000 on h1. Local MACs come from static and
#        dynamic bridge FDB entries, MAC+IP from neighbour entries on br100; the capture speaker
#        first sends a type-2 route for 02:00:00:00:01:09 so that FRR's own copy of that MAC,
#        added afterwards, carries MAC Mobility sequence 1.
# frr-l3: h3 zebra+bgpd AS 65003 with L3 VNI 5000 in the default VRF and L2 VNI 100: type-5
#        routes (advertise ipv4|ipv6 unicast) and symmetric-IRB type-2 routes (two labels,
#        Router's MAC) -> bgp_capture.py on h1.
# Every message received ends up in OUTDIR/<name>.jsonl (one JSON object per message, "hex" is
# the whole message).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

mode=${1:?gobgp or frr}
out=$(realpath "${2:?output directory}")
mkdir -p "${out}"
lab_init

capture_start() {  # capture_start HOST NAME ADDR [ARGS...]
  local i=$1 name=$2 addr=$3
  shift 3
  rm -f "${out}/${name}.jsonl"
  lab_spawn "${i}" "${name}" python3 -u "${HERE}/bgp_capture.py" --listen "${addr}" --asn 65000 \
    --router-id 198.18.0.1 --out "${out}/${name}.jsonl" "$@"
}

updates() { grep -c '"type": 2' "${out}/$1.jsonl" 2>/dev/null || true; }
has_updates() { [[ $(updates "$1") -ge $2 ]]; }

if [[ ${mode} == gobgp ]]; then
  lab_underlay 2
  capture_start 1 gobgp-v4 198.18.0.1
  capture_start 1 gobgp-v6 fd00:18::1
  lab_gobgp_start 2 gobgp "$(
    cat <<CONF
[global.config]
  as = 65001
  router-id = "198.18.0.2"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.0.1"
    peer-as = 65000
  [neighbors.timers.config]
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "l2vpn-evpn"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "fd00:18::1"
    peer-as = 65000
  [neighbors.timers.config]
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "l2vpn-evpn"
CONF
  )"
  lab_wait_for 60 "gobgp: 198.18.0.1 Established" lab_gobgp_established gobgp 198.18.0.1
  lab_wait_for 60 "gobgp: fd00:18::1 Established" lab_gobgp_established gobgp fd00:18::1
  sleep 1
  add() { lab_gobgp gobgp global rib -a evpn add "$@"; sleep 0.5; }
  # Type 1: per-EVI A-D with a LACP ESI, and per-ES A-D (MAX-ET) with the ESI Label community.
  add a-d esi LACP 02:00:00:00:aa:01 7 etag 0 label 100 rd 198.18.0.2:100 rt 65001:100 encap vxlan
  add a-d esi LACP 02:00:00:00:aa:01 7 etag 4294967295 label 0 rd 198.18.0.2:1 rt 65001:100 \
    esi-label 200
  # Type 2: MAC only; MAC+IPv4 with two labels and Router's MAC; MAC+IPv6 with a MAC-based ESI
  # and the Default Gateway community; a type-2 (4-octet AS) RD and route target.
  add macadv 02:00:00:00:00:01 0.0.0.0 etag 0 label 100 rd 198.18.0.2:100 rt 65001:100 encap vxlan
  add macadv 02:00:00:00:00:02 100.64.0.2 etag 0 label 100,5000 rd 198.18.0.2:100 rt 65001:100 \
    rt 65001:5000 encap vxlan router-mac 02:00:00:00:00:fe
  # (GoBGP 3.10's parser takes "default-gateway" anywhere but only after the ESI's own words
  # without breaking another keyword's argument count.)
  add macadv 02:00:00:00:00:03 fd00:64::3 esi MAC 02:00:00:00:bb:01 9 default-gateway etag 10 \
    label 200 rd 65001:200 rt 65001:200 encap vxlan
  # (GoBGP 3.10 reads a plain ASN as two octets, clamping 4200000000 to 65535: the 4-octet AS is
  # written in asdot, 64086.59904 = 4200000000.)
  add macadv 02:00:00:00:00:04 100.64.0.4 etag 0 label 300 rd 64086.59904:7 rt 64086.59904:7 \
    encap vxlan
  # Type 3 with PMSI Tunnel (ingress replication), IPv4 and IPv6 originators.
  add multicast 198.18.0.2 etag 0 rd 198.18.0.2:100 rt 65001:100 encap vxlan \
    pmsi ingress-repl 100 198.18.0.2
  add multicast fd00:18::2 etag 0 rd 198.18.0.2:200 rt 65001:200 encap vxlan \
    pmsi ingress-repl 200 fd00:18::2
  # Type 4, IPv4 and IPv6 originators; router-id and AS based ESIs.
  add esi 198.18.0.2 esi ROUTERID 198.18.0.2 5 rd 198.18.0.2:1 rt 65001:100
  add esi fd00:18::2 esi AS 65001 6 rd 198.18.0.2:2 rt 65001:100
  # Type 5, IPv4 (34 octets) and IPv6 (58 octets).
  add prefix 100.64.10.0/24 gw 0.0.0.0 etag 0 label 5000 rd 198.18.0.2:5000 rt 65001:5000 \
    encap vxlan router-mac 02:00:00:00:00:fe
  add prefix fd00:64:10::/64 gw fd00:18::2 esi ARBITRARY 11:22:33:44:55:66:77:88:99 etag 0 \
    label 5000 rd 198.18.0.2:5000 rt 65001:5000 encap vxlan
  # A withdrawal of each family of type 2.
  lab_gobgp gobgp global rib -a evpn del macadv 02:00:00:00:00:02 100.64.0.2 etag 0 label 100,5000 \
    rd 198.18.0.2:100
  lab_gobgp gobgp global rib -a evpn del macadv 02:00:00:00:00:03 fd00:64::3 etag 10 label 200 \
    rd 65001:200
  sleep 2
  lab_gobgp gobgp -j global rib -a evpn >"${out}/gobgp-rib.json"
  lab_log "gobgp-v4: $(updates gobgp-v4) UPDATEs, gobgp-v6: $(updates gobgp-v6) UPDATEs"
  exit 0
fi

if [[ ${mode} == frr ]]; then
  lab_underlay 3
  ns=$(lab_ns 3)
  ip -n "${ns}" link add br100 type bridge stp_state 0 mcast_snooping 0
  ip -n "${ns}" link add vxlan100 type vxlan id 100 dstport 4789 local 198.18.0.3 nolearning
  ip -n "${ns}" link set vxlan100 master br100
  ip -n "${ns}" link set dev vxlan100 type bridge_slave learning off neigh_suppress on
  ip -n "${ns}" link add vm1 type veth peer name vm1p
  ip -n "${ns}" link set vm1 master br100
  for l in br100 vxlan100 vm1 vm1p; do ip -n "${ns}" link set "${l}" up; done
  # The remote MAC that moves to FRR later (MAC Mobility): a type-2 from 198.18.0.1 with FRR's
  # auto-derived RT for VNI 100 (65003:100), VXLAN encapsulation, label = VNI 100.
  python3 - "${LAB_DIR}/send.hex" <<'PY'
import struct, sys
def attr(flags, code, value):
    return struct.pack("!BBB", flags, code, len(value)) + value
rd = bytes.fromhex("0001c61200010064")  # 198.18.0.1:100
nlri = rd + bytes(10) + struct.pack("!I", 0) + bytes([48]) + bytes.fromhex("020000000109") + bytes([0]) + bytes.fromhex("000064")
mp = struct.pack("!HBB", 25, 70, 4) + bytes([198, 18, 0, 1]) + b"\0" + bytes([2, len(nlri)]) + nlri
attrs = (attr(0x80, 14, mp) + attr(0x40, 1, b"\0") + attr(0x40, 2, bytes([2, 1]) + struct.pack("!I", 65000))
         + attr(0xC0, 16, bytes.fromhex("00 02 fdeb 00000064 030c 0000 0000 0008")))
body = struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs
msg = b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 2) + body
open(sys.argv[1], "w").write(msg.hex() + "\n")
PY
  capture_start 1 frr-v4 198.18.0.1 --send "${LAB_DIR}/send.hex"
  lab_frr_start 3 frr "$(
    cat <<CONF
frr defaults datacenter
hostname frr
router bgp 65003
 bgp router-id 198.18.0.3
 no bgp ebgp-requires-policy
 neighbor 198.18.0.1 remote-as 65000
 address-family l2vpn evpn
  neighbor 198.18.0.1 activate
  advertise-all-vni
 exit-address-family
CONF
  )"
  lab_wait_for 60 "frr: 198.18.0.1 Established" lab_frr_established frr 198.18.0.1
  lab_wait_for 30 "frr: type-3 sent" has_updates frr-v4 1
  sleep 2
  # A sticky (static) MAC, a dynamic MAC, MAC+IPv4 and MAC+IPv6 (neighbour entries on br100).
  lab_exec 3 bridge fdb add 02:00:00:00:03:01 dev vm1 master static
  lab_exec 3 bridge fdb add 02:00:00:00:03:02 dev vm1 master dynamic
  lab_exec 3 ip neigh replace 100.64.0.32 lladdr 02:00:00:00:03:02 dev br100 nud reachable
  lab_exec 3 ip -6 neigh replace fd00:64::32 lladdr 02:00:00:00:03:02 dev br100 nud reachable
  sleep 2
  # The MAC that 198.18.0.1 advertised appears locally: FRR takes it over with sequence 1.
  lab_exec 3 bridge fdb replace 02:00:00:00:01:09 dev vm1 master dynamic
  sleep 2
  # Withdrawals.
  lab_exec 3 ip neigh del 100.64.0.32 dev br100
  lab_exec 3 bridge fdb del 02:00:00:00:03:01 dev vm1 master
  sleep 3
  lab_vtysh frr "show bgp l2vpn evpn json" >"${out}/frr-rib.json"
  lab_vtysh frr "show bgp l2vpn evpn"
  lab_log "frr-v4: $(updates frr-v4) UPDATEs"
  exit 0
fi
if [[ ${mode} == frr-l3 ]]; then
  # RFC 9136 type-5 routes and RFC 9135 symmetric IRB type-2 routes: no VRF devices here, so the
  # L3 VNI 5000 belongs to FRR's default VRF (zebra: vrf default / vni 5000), with bridge br5000
  # (its MAC is the Router's MAC) + vxlan5000; L2 VNI 100 on br100 + vxlan100 as in `frr`, its
  # SVI br100 in the same (default) VRF. bgpd originates two prefixes (network) and advertises
  # them as type 5 (advertise ipv4|ipv6 unicast). Types 1 and 4 (EVPN multihoming) need an
  # Ethernet segment on a bond device, which this kernel lacks ("ESI cannot be associated with
  # this interface type" for a veth).
  lab_underlay 3
  ns=$(lab_ns 3)
  ip -n "${ns}" link add br5000 address 02:00:00:00:50:03 type bridge stp_state 0 mcast_snooping 0
  ip -n "${ns}" link add vxlan5000 type vxlan id 5000 dstport 4789 local 198.18.0.3 nolearning
  ip -n "${ns}" link set vxlan5000 master br5000
  ip -n "${ns}" link set dev vxlan5000 type bridge_slave learning off
  ip -n "${ns}" link add br100 address 02:00:00:00:01:03 type bridge stp_state 0 mcast_snooping 0
  ip -n "${ns}" link add vxlan100 type vxlan id 100 dstport 4789 local 198.18.0.3 nolearning
  ip -n "${ns}" link set vxlan100 master br100
  ip -n "${ns}" link set dev vxlan100 type bridge_slave learning off neigh_suppress on
  ip -n "${ns}" link add vm1 address 02:00:00:00:03:0f type veth peer name vm1p \
    address 02:00:00:00:03:0e
  ip -n "${ns}" link set vm1 master br100
  for l in br5000 vxlan5000 br100 vxlan100 vm1 vm1p; do ip -n "${ns}" link set "${l}" up; done
  ip -n "${ns}" addr add 100.64.0.1/24 dev br100
  capture_start 1 frr-l3 198.18.0.1
  lab_frr_start 3 frr "$(
    cat <<CONF
frr defaults datacenter
hostname frr
router bgp 65003
 bgp router-id 198.18.0.3
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 198.18.0.1 remote-as 65000
 address-family ipv4 unicast
  network 100.64.21.0/24
  network 100.64.22.0/24
  no neighbor 198.18.0.1 activate
 exit-address-family
 address-family ipv6 unicast
  network fd00:64:21::/64
 exit-address-family
 address-family l2vpn evpn
  neighbor 198.18.0.1 activate
  advertise-all-vni
  advertise ipv4 unicast
  advertise ipv6 unicast
 exit-address-family
CONF
  )"
  # The L3 VNI is zebra's configuration (bgpd.conf cannot hold it).
  lab_vtysh frr "configure terminal" "vrf default" "vni 5000"
  lab_wait_for 60 "frr: 198.18.0.1 Established" lab_frr_established frr 198.18.0.1
  lab_wait_for 30 "frr: type-5 sent" has_updates frr-l3 2
  sleep 2
  # MAC+IPv4 and MAC+IPv6 of a host on VNI 100: type 2 with label2 = L3 VNI 5000, the L3 VNI's
  # route target and the Router's MAC (RFC 9135 §5.1, symmetric IRB).
  lab_exec 3 bridge fdb add 02:00:00:00:03:02 dev vm1 master dynamic
  lab_exec 3 ip neigh replace 100.64.0.32 lladdr 02:00:00:00:03:02 dev br100 nud reachable
  lab_exec 3 ip -6 neigh replace fd00:64::32 lladdr 02:00:00:00:03:02 dev br100 nud reachable
  sleep 2
  # A type-5 withdrawal.
  lab_vtysh frr "configure terminal" "router bgp 65003" "address-family ipv4 unicast" \
    "no network 100.64.22.0/24"
  sleep 3
  lab_vtysh frr "show bgp l2vpn evpn json" >"${out}/frr-l3-rib.json"
  lab_vtysh frr "show bgp l2vpn evpn" "show vrf vni"
  lab_log "frr-l3: $(updates frr-l3) UPDATEs"
  exit 0
fi
echo "usage: $0 gobgp|frr|frr-l3 OUTDIR" >&2
exit 2
