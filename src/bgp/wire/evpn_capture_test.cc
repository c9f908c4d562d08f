// EVPN UPDATEs captured from real peers with tests/captures/evpn_capture.sh (the JSON lines it
// wrote are in tests/captures/data/), decoded into the expected structs and encoded back:
//   GoBGP 3.10.0, AS 65001 (198.18.0.2, fd00:18::2), routes of types 1-5 added with
//     `gobgp global rib -a evpn add ...` and two withdrawn, sent over IPv4 and IPv6 sessions;
//   FRR 8.4.4, AS 65003 (198.18.0.3) with zebra, VNI 100 on bridge br100 + vxlan100 and
//     advertise-all-vni: type 3 with PMSI_TUNNEL, type 2 for local MACs and MAC+IP (neighbour
//     entries), MAC Mobility sequence 1 for a MAC that moved to it, withdrawals;
//   FRR 8.4.4 again (`evpn_capture.sh frr-l3`) with L3 VNI 5000 in its default VRF (bridge
//     br5000, MAC 02:00:00:00:50:03) and L2 VNI 100: type-5 routes (RFC 9136) for `network`
//     prefixes with `advertise ipv4|ipv6 unicast`, symmetric-IRB type-2 routes (RFC 9135) with
//     the L3 VNI as second label, and a type-5 withdrawal. FRR 8.4 sends no types 1 and 4 here:
//     its Ethernet segments need a bond device, which the kernel of the capture machine lacks.
// Both put the VNI unshifted in the 3-octet label fields (VNI 100 = 00 00 64), in the NLRI and in
// PMSI_TUNNEL; FRR's auto-derived route target is ASN:VNI (65003:100).
#include <gtest/gtest.h>

#include "bgp/wire/codec.h"
#include "bgp/wire/evpn.h"
#include "bgp/wire/ext_community.h"
#include "bgp/wire/test_util.h"

namespace isthmus::bgp {
namespace {

using test::hex;
using test::ip;
using test::pfx;
using Seg = AsPathSegment;

constexpr const char* kMarker = "ffffffffffffffffffffffffffffffff";

MacAddress mac(std::string_view s) { return *MacAddress::parse(s); }
RouteDistinguisher rd(std::string_view s) { return *RouteDistinguisher::parse(s); }
ExtCommunity rt(std::string_view s) { return *parse_route_target(s); }
const ExtCommunity kVxlan = Encapsulation{kTunnelVxlan}.encode();

// `h`: a captured message from the length field on.
Update decode(const std::string& h) {
  auto m = decode_message(hex(std::string(kMarker) + h), {});
  EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().describe());
  if (!m) return {};
  const auto& d = std::get<DecodedUpdate>(*m);
  EXPECT_EQ(d.action, AttrAction::None);
  EXPECT_TRUE(d.errors.empty()) << d.errors[0].reason;
  return d.update;
}

// What we encode from the decoded value decodes to the same value.
void round_trips(const Update& u) {
  std::vector<uint8_t> out;
  ASSERT_TRUE(encode_update(u, {}, out).has_value());
  auto m = decode_message(out, {});
  ASSERT_TRUE(m.has_value()) << m.error().describe();
  EXPECT_EQ(std::get<DecodedUpdate>(*m).update, u);
}

// GoBGP's UPDATEs: ORIGIN INCOMPLETE, AS_PATH 65001, MP_REACH (next hop 198.18.0.2 on the IPv4
// session), EXTENDED_COMMUNITIES, PMSI_TUNNEL for type 3.
Update gobgp(std::vector<EvpnRoute> routes, std::vector<ExtCommunity> ext,
             std::optional<PmsiTunnel> pmsi = {}, const char* next_hop = "198.18.0.2") {
  Update u;
  u.attrs = PathAttributes{};
  u.attrs->origin = Origin::Incomplete;
  u.attrs->as_path = AsPath{{Seg{Seg::Type::Sequence, {65001}}}};
  u.attrs->next_hop = ip(next_hop);
  u.attrs->ext_communities = std::move(ext);
  u.attrs->pmsi_tunnel = std::move(pmsi);
  u.mp_reach = MpReach{kL2vpnEvpn, {ip(next_hop)}, {}, std::move(routes)};
  return u;
}

void check(const std::string& h, const Update& want) {
  auto got = decode(h);
  EXPECT_EQ(got, want);
  round_trips(got);
}

TEST(EvpnCaptureGobgp, Type1EthernetAd) {
  // a-d esi LACP 02:00:00:00:aa:01 7 etag 0 label 100 rd 198.18.0.2:100 rt 65001:100 encap vxlan
  const Esi esi = Esi::lacp(mac("02:00:00:00:aa:01"), 7);
  check(
      "005e02000000474001010240020602010000fde9800e2400194604c61200020001190001c612000200640102000"
      "000aa0100070000000000000064c010100002fde900000064030c000000000008",
      gobgp({EvpnRoute{EvpnEthernetAd{rd("198.18.0.2:100"), esi, 0, 100}}},
            {rt("65001:100"), kVxlan}));
  // Per-ES A-D (MAX-ET, label 0) with the ESI Label community: esi-label 200
  check(
      "005e02000000474001010240020602010000fde9800e2400194604c61200020001190001c612000200010102000"
      "000aa01000700ffffffff000000c010100002fde90000006406010000000000c8",
      gobgp({EvpnRoute{EvpnEthernetAd{rd("198.18.0.2:1"), esi, kMaxEthernetTag, 0}}},
            {rt("65001:100"), EsiLabel{false, 200}.encode()}));
}

TEST(EvpnCaptureGobgp, Type2MacIp) {
  // macadv 02:00:00:00:00:01 0.0.0.0 etag 0 label 100 rd 198.18.0.2:100 rt 65001:100 encap vxlan
  check(
      "0066020000004f4001010240020602010000fde9800e2c00194604c61200020002210001c612000200640000000"
      "0000000000000000000003002000000000100000064c010100002fde900000064030c000000000008",
      gobgp({EvpnRoute{
                EvpnMacIp{rd("198.18.0.2:100"), Esi{}, 0, mac("02:00:00:00:00:01"), {}, 100, {}}}},
            {rt("65001:100"), kVxlan}));
  // macadv 02:00:00:00:00:02 100.64.0.2 ... label 100,5000 ... rt 65001:5000 router-mac
  auto two_labels = decode(
      "0075020000005e4001010240020602010000fde9800e3300194604c61200020002280001c612000200640000000"
      "000000000000000000000300200000000022064400002000064001388c010180002fde900001388030c00000000"
      "000806030200000000fe");
  EXPECT_EQ(two_labels,
            gobgp({EvpnRoute{EvpnMacIp{rd("198.18.0.2:100"), Esi{}, 0, mac("02:00:00:00:00:02"),
                                       ip("100.64.0.2"), 100, 5000}}},
                  {rt("65001:5000"), kVxlan, RouterMac{mac("02:00:00:00:00:fe")}.encode()}));
  round_trips(two_labels);
  // GoBGP 3.10 sends only the last "rt" of the command line (65001:5000); the L3 VNI is Label2.
  EXPECT_EQ(std::get<EvpnMacIp>(two_labels.mp_reach->evpn[0].route).label2, 5000u);
  // macadv 02:00:00:00:00:03 fd00:64::3 esi MAC 02:00:00:00:bb:01 9 default-gateway etag 10
  //   label 200 rd 65001:200 rt 65001:200 encap vxlan
  check(
      "007e02000000674001010240020602010000fde9800e3c00194604c61200020002310000fde9000000c80302000"
      "000bb010000090000000a3002000000000380fd0000640000000000000000000000030000c8c010180002fde900"
      "0000c8030c000000000008030d000000000000",
      gobgp({EvpnRoute{EvpnMacIp{rd("65001:200"),
                                 Esi::mac(mac("02:00:00:00:bb:01"), 9),
                                 10,
                                 mac("02:00:00:00:00:03"),
                                 ip("fd00:64::3"),
                                 200,
                                 {}}}},
            {rt("65001:200"), kVxlan, default_gateway()}));
  // macadv 02:00:00:00:00:04 100.64.0.4 etag 0 label 300 rd 64086.59904:7 rt 64086.59904:7:
  // a type-2 RD and a 4-octet-AS route target (64086.59904 is asdot for 4200000000).
  auto as4 = decode(
      "006a02000000534001010240020602010000fde9800e3000194604c61200020002250002fa56ea000007000000"
      "000000000000000000000030020000000004206440000400012cc010100202fa56ea000007030c000000000008");
  EXPECT_EQ(as4, gobgp({EvpnRoute{EvpnMacIp{RouteDistinguisher::as4(4200000000, 7),
                                            Esi{},
                                            0,
                                            mac("02:00:00:00:00:04"),
                                            ip("100.64.0.4"),
                                            300,
                                            {}}}},
                       {route_target_as4(4200000000, 7), kVxlan}));
  round_trips(as4);
  EXPECT_EQ(as4.mp_reach->evpn[0].rd()->to_string(), "4200000000:7");
}

TEST(EvpnCaptureGobgp, Type3WithPmsiTunnel) {
  // multicast 198.18.0.2 etag 0 rd 198.18.0.2:100 rt 65001:100 encap vxlan
  //   pmsi ingress-repl 100 198.18.0.2
  auto v4 = decode(
      "0062020000004b4001010240020602010000fde9800e1c00194604c61200020003110001c612000200640000000"
      "020c6120002c010100002fde900000064030c000000000008c016090006000064c6120002");
  EXPECT_EQ(
      v4, gobgp({EvpnRoute{EvpnImet{rd("198.18.0.2:100"), 0, ip("198.18.0.2")}}},
                {rt("65001:100"), kVxlan}, PmsiTunnel::ingress_replication(100, ip("198.18.0.2"))));
  round_trips(v4);
  EXPECT_EQ(v4.attrs->pmsi_tunnel->endpoint(), ip("198.18.0.2"));
  EXPECT_EQ(vni_of_label_field(v4.attrs->pmsi_tunnel->label), 100u);
  // multicast fd00:18::2 ... pmsi ingress-repl 200 fd00:18::2
  check(
      "007a02000000634001010240020602010000fde9800e2800194604c612000200031d0001c612000200c80000000"
      "080fd000018000000000000000000000002c010100002fde9000000c8030c000000000008c0161500060000c8fd"
      "000018000000000000000000000002",
      gobgp({EvpnRoute{EvpnImet{rd("198.18.0.2:200"), 0, ip("fd00:18::2")}}},
            {rt("65001:200"), kVxlan}, PmsiTunnel::ingress_replication(200, ip("fd00:18::2"))));
}

TEST(EvpnCaptureGobgp, Type4EthernetSegment) {
  // esi 198.18.0.2 esi ROUTERID 198.18.0.2 5 rd 198.18.0.2:1 rt 65001:100
  check(
      "0054020000003d4001010240020602010000fde9800e2200194604c61200020004170001c6120002000104c6120"
      "002000000050020c6120002c010080002fde900000064",
      gobgp({EvpnRoute{EvpnEthernetSegment{rd("198.18.0.2:1"), Esi::router_id(ip("198.18.0.2"), 5),
                                           ip("198.18.0.2")}}},
            {rt("65001:100")}));
  // esi fd00:18::2 esi AS 65001 6 rd 198.18.0.2:2 rt 65001:100
  check(
      "006002000000494001010240020602010000fde9800e2e00194604c61200020004230001c61200020002050000f"
      "de9000000060080fd000018000000000000000000000002c010080002fde900000064",
      gobgp(
          {EvpnRoute{EvpnEthernetSegment{rd("198.18.0.2:2"), Esi::as(65001, 6), ip("fd00:18::2")}}},
          {rt("65001:100")}));
}

TEST(EvpnCaptureGobgp, Type5IpPrefix) {
  // prefix 100.64.10.0/24 gw 0.0.0.0 etag 0 label 5000 rd 198.18.0.2:5000 rt 65001:5000
  //   encap vxlan router-mac 02:00:00:00:00:fe (34 octets)
  check(
      "006f02000000584001010240020602010000fde9800e2d00194604c61200020005220001c612000213880000000"
      "0000000000000000000001864400a0000000000001388c010180002fde900001388030c00000000000806030200"
      "000000fe",
      gobgp({EvpnRoute{EvpnIpPrefix{rd("198.18.0.2:5000"), Esi{}, 0, pfx("100.64.10.0/24"),
                                    ip("0.0.0.0"), 5000}}},
            {rt("65001:5000"), kVxlan, RouterMac{mac("02:00:00:00:00:fe")}.encode()}));
  // prefix fd00:64:10::/64 gw fd00:18::2 esi ARBITRARY 11:22:33:44:55:66:77:88:99 etag 0
  //   label 5000 rd 198.18.0.2:5000 rt 65001:5000 encap vxlan (58 octets)
  check(
      "007f02000000684001010240020602010000fde9800e4500194604c612000200053a0001c612000213880011223"
      "34455667788990000000040fd000064001000000000000000000000fd0000180000000000000000000000020013"
      "88c010100002fde900001388030c000000000008",
      gobgp({EvpnRoute{
                EvpnIpPrefix{rd("198.18.0.2:5000"),
                             Esi::arbitrary({0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99}),
                             0, pfx("fd00:64:10::/64"), ip("fd00:18::2"), 5000}}},
            {rt("65001:5000"), kVxlan}));
}

TEST(EvpnCaptureGobgp, Withdrawals) {
  // del macadv 02:00:00:00:00:02 100.64.0.2 ...: MP_UNREACH_NLRI only, the route as announced.
  Update w4;
  w4.mp_unreach =
      MpUnreach{kL2vpnEvpn,
                {},
                {EvpnRoute{EvpnMacIp{rd("198.18.0.2:100"), Esi{}, 0, mac("02:00:00:00:00:02"),
                                     ip("100.64.0.2"), 100, 5000}}}};
  check(
      "00470200000030800f2d00194602280001c61200020064000000000000000000000000000030020000000002206"
      "4400002000064001388",
      w4);
  Update w6;
  w6.mp_unreach = MpUnreach{kL2vpnEvpn,
                            {},
                            {EvpnRoute{EvpnMacIp{rd("65001:200"),
                                                 Esi::mac(mac("02:00:00:00:bb:01"), 9),
                                                 10,
                                                 mac("02:00:00:00:00:03"),
                                                 ip("fd00:64::3"),
                                                 200,
                                                 {}}}}};
  check(
      "00500200000039800f3600194602310000fde9000000c80302000000bb010000090000000a30020000000003"
      "80fd0000640000000000000000000000030000c8",
      w6);
  EXPECT_EQ(end_of_rib_family(decode(
                "00470200000030800f2d00194602280001c612000200640000000000000000000000000000300200"
                "000000022064400002000064001388")),
            std::nullopt);
}

TEST(EvpnCaptureGobgp, Ipv6SessionNextHop) {
  // The same type-2 route over the IPv6 session: a 16-octet next hop, fd00:18::2.
  check(
      "0072020000005b4001010240020602010000fde9800e3800194610fd0000180000000000000000000000020002"
      "210001c6120002006400000000000000000000000000003002000000000100000064c010100002fde900000064"
      "030c000000000008",
      gobgp({EvpnRoute{
                EvpnMacIp{rd("198.18.0.2:100"), Esi{}, 0, mac("02:00:00:00:00:01"), {}, 100, {}}}},
            {rt("65001:100"), kVxlan}, {}, "fd00:18::2"));
}

// FRR's UPDATEs: MP_REACH first (with the extended length bit), ORIGIN IGP, AS_PATH 65003,
// EXTENDED_COMMUNITIES encapsulation first, next hop the VTEP 198.18.0.3.
Update frr(std::vector<EvpnRoute> routes, std::vector<ExtCommunity> ext,
           std::optional<PmsiTunnel> pmsi = {}) {
  Update u;
  u.attrs = PathAttributes{};
  u.attrs->origin = Origin::Igp;
  u.attrs->as_path = AsPath{{Seg{Seg::Type::Sequence, {65003}}}};
  u.attrs->next_hop = ip("198.18.0.3");
  u.attrs->ext_communities = std::move(ext);
  u.attrs->pmsi_tunnel = std::move(pmsi);
  u.mp_reach = MpReach{kL2vpnEvpn, {ip("198.18.0.3")}, {}, std::move(routes)};
  return u;
}

EvpnRoute frr_mac(const char* m, std::optional<IpAddress> a = {}, uint32_t label = 100) {
  // RD 198.18.0.3:2 (FRR's auto RD: router-id:index), label = VNI 100.
  return EvpnRoute{EvpnMacIp{rd("198.18.0.3:2"), Esi{}, 0, mac(m), a, label, {}}};
}

TEST(EvpnCaptureFrr, Type3ForTheVni) {
  auto u = decode(
      "0064020000004d900e001c00194604c61200030003110001c612000300020000000020c6120003400101005002"
      "000602010000fdebc01010030c0000000000080002fdeb00000064c016090006000064c6120003");
  EXPECT_EQ(u, frr({EvpnRoute{EvpnImet{rd("198.18.0.3:2"), 0, ip("198.18.0.3")}}},
                   {kVxlan, auto_route_target(65003, 100)},
                   PmsiTunnel::ingress_replication(100, ip("198.18.0.3"))));
  round_trips(u);
  EXPECT_EQ(u.mp_reach->evpn[0].to_string(), "[3]:[198.18.0.3:2]:[0]:[32]:[198.18.0.3]");
}

TEST(EvpnCaptureFrr, Type2LocalMacsAndMacIp) {
  // The bridge port's own MAC, learned by zebra.
  check(
      "00680200000051900e002c00194604c61200030002210001c61200030002000000000000000000000000000030"
      "3265d537a78d00000064400101005002000602010000fdebc01010030c0000000000080002fdeb00000064",
      frr({frr_mac("32:65:d5:37:a7:8d")}, {kVxlan, rt("65003:100")}));
  // Four routes in one UPDATE: a static MAC, MAC+IPv6 and MAC+IPv4 from neighbour entries on
  // br100, and the MAC alone.
  auto four = decode(
      "00e502000000ce900e00a900194604c61200030002210001c6120003000200000000000000000000000000003002"
      "00000003010000006402310001c6120003000200000000000000000000000000003002000000030280fd00006400"
      "000000000000000000003200006402250001c6120003000200000000000000000000000000003002000000030220"
      "6440002000006402210001c612000300020000000000000000000000000000300200000003020000006440010100"
      "5002000602010000fdebc01010030c0000000000080002fdeb00000064");
  EXPECT_EQ(four,
            frr({frr_mac("02:00:00:00:03:01"), frr_mac("02:00:00:00:03:02", ip("fd00:64::32")),
                 frr_mac("02:00:00:00:03:02", ip("100.64.0.32")), frr_mac("02:00:00:00:03:02")},
                {kVxlan, rt("65003:100")}));
  round_trips(four);
}

TEST(EvpnCaptureFrr, MacMobilityAndWithdrawals) {
  // Our capture speaker announced 02:00:00:00:01:09 from 198.18.0.1 (RD 198.18.0.1:100, label
  // 100); FRR reflected it back to us (eBGP, AS_PATH 65003 65000, next hop unchanged)...
  auto ours = decode(
      "006c0200000055900e002c00194604c61200010002210001c61200010064000000000000000000000000000030"
      "02000000010900000064400101005002000a02020000fdeb0000fde8c010100002fdeb00000064030c0000000000"
      "08");
  Update reflected = frr(
      {EvpnRoute{EvpnMacIp{rd("198.18.0.1:100"), Esi{}, 0, mac("02:00:00:00:01:09"), {}, 100, {}}}},
      {rt("65003:100"), kVxlan});
  reflected.attrs->as_path = AsPath{{Seg{Seg::Type::Sequence, {65003, 65000}}}};
  reflected.attrs->next_hop = ip("198.18.0.1");
  reflected.mp_reach->next_hops = {ip("198.18.0.1")};
  EXPECT_EQ(ours, reflected);
  round_trips(ours);
  // ...then the MAC appeared on FRR's bridge: FRR announced it with MAC Mobility sequence 1
  // (RFC 7432 §15: one more than the sequence of the route it takes over, 0 when absent).
  auto moved = decode(
      "00700200000059900e002c00194604c61200030002210001c61200030002000000000000000000000000000030"
      "02000000010900000064400101005002000602010000fdebc01018030c0000000000080002fdeb00000064060000"
      "0000000001");
  EXPECT_EQ(moved, frr({frr_mac("02:00:00:00:01:09")},
                       {kVxlan, rt("65003:100"), MacMobility{false, 1}.encode()}));
  round_trips(moved);
  EXPECT_EQ(MacMobility::decode(moved.attrs->ext_communities[2]), (MacMobility{false, 1}));
  // The same MAC from two VTEPs: same Ethernet Tag and MAC, different RDs, so different keys;
  // matching them up is the EVPN layer's work (RFC 7432 §15), not the RIB's.
  EXPECT_NE(evpn_key(ours.mp_reach->evpn[0]), evpn_key(moved.mp_reach->evpn[0]));
  // Withdrawals: FRR sends the routes with label 0; the keys are those of the announcements
  // (RFC 7432 §7.2: labels are not part of the key).
  auto gone = decode(
      "00680200000051900f004d00194602250001c612000300020000000000000000000000000000300200000003"
      "02206440002000000002210001c6120003000200000000000000000000000000003002000000030100000000");
  Update want;
  want.mp_unreach = MpUnreach{
      kL2vpnEvpn,
      {},
      {frr_mac("02:00:00:00:03:02", ip("100.64.0.32"), 0), frr_mac("02:00:00:00:03:01", {}, 0)}};
  EXPECT_EQ(gone, want);
  round_trips(gone);
  EXPECT_EQ(evpn_key(gone.mp_unreach->evpn[0]),
            evpn_key(frr_mac("02:00:00:00:03:02", ip("100.64.0.32"))));
}

// ---- FRR with an L3 VNI (evpn_capture.sh frr-l3, data/frr-l3.jsonl) -------------------------

const ExtCommunity kFrrRouterMac = RouterMac{mac("02:00:00:00:50:03")}.encode();

TEST(EvpnCaptureFrrL3, Type5IpPrefixes) {
  // Three type-5 routes in one UPDATE (RD 198.18.0.3:1: the default VRF's BGP instance, index
  // 1): 100.64.21.0/24 (34 octets), fd00:64:21::/64 (58 octets), 100.64.22.0/24. ESI 0,
  // Ethernet tag 0, gateway IP 0 (of the prefix's family), label = L3 VNI 5000 (00 13 88). The
  // attributes carry MULTI_EXIT_DISC 0 (the `network` route's metric), the L3 VNI's route target
  // 65003:5000 and the Router's MAC (RFC 9135 §8.1): br5000's MAC.
  const std::string h =
      "00d802000000c1900e008d00194604c61200030005220001c61200030001000000000000000000000000000018"
      "6440150000000000001388053a0001c61200030001000000000000000000000000000040fd0000640021000000"
      "000000000000000000000000000000000000000000000000138805220001c61200030001000000000000000000"
      "0000000000186440160000000000001388400101005002000602010000fdeb80040400000000c01018030c0000"
      "000000080002fdeb000013880603020000005003";
  auto u = decode(h);
  auto type5 = [](const char* prefix, const char* gateway) {
    return EvpnRoute{EvpnIpPrefix{rd("198.18.0.3:1"), Esi{}, 0, pfx(prefix), ip(gateway), 5000}};
  };
  Update want = frr({type5("100.64.21.0/24", "0.0.0.0"), type5("fd00:64:21::/64", "::"),
                     type5("100.64.22.0/24", "0.0.0.0")},
                    {kVxlan, rt("65003:5000"), kFrrRouterMac});
  want.attrs->med = 0;
  EXPECT_EQ(u, want);
  round_trips(u);
  // Field by field, as the policy and show code read them.
  ASSERT_TRUE(u.mp_reach.has_value());
  ASSERT_EQ(u.mp_reach->evpn.size(), 3u);
  const auto& v4 = std::get<EvpnIpPrefix>(u.mp_reach->evpn[0].route);
  EXPECT_EQ(v4.rd.to_string(), "198.18.0.3:1");
  EXPECT_TRUE(v4.esi.is_zero());
  EXPECT_EQ(v4.ethernet_tag, 0u);
  EXPECT_EQ(v4.prefix, pfx("100.64.21.0/24"));
  EXPECT_EQ(v4.gateway, ip("0.0.0.0"));
  EXPECT_EQ(vni_of_label_field(v4.label), 5000u);
  const auto& v6 = std::get<EvpnIpPrefix>(u.mp_reach->evpn[1].route);
  EXPECT_EQ(v6.prefix, pfx("fd00:64:21::/64"));
  EXPECT_TRUE(v6.gateway.is_v6());
  EXPECT_TRUE(v6.gateway.is_unspecified());
  EXPECT_EQ(evpn_vni(u.mp_reach->evpn[1], *u.attrs), 5000u);
  EXPECT_EQ(u.mp_reach->evpn[0].to_string(), "[5]:[198.18.0.3:1]:[0]:[24]:[100.64.21.0]");
  EXPECT_EQ(u.mp_reach->evpn[1].to_string(), "[5]:[198.18.0.3:1]:[0]:[64]:[fd00:64:21::]");
  EXPECT_EQ(RouterMac::decode(u.attrs->ext_communities[2]), RouterMac{mac("02:00:00:00:50:03")});
  EXPECT_EQ(Encapsulation::decode(u.attrs->ext_communities[0]), Encapsulation{kTunnelVxlan});
  // IPv4 and IPv6 prefixes of one RD are different keys, and so are the two IPv4 prefixes.
  EXPECT_NE(evpn_key(u.mp_reach->evpn[0]), evpn_key(u.mp_reach->evpn[1]));
  EXPECT_NE(evpn_key(u.mp_reach->evpn[0]), evpn_key(u.mp_reach->evpn[2]));
}

TEST(EvpnCaptureFrrL3, Type5Withdrawal) {
  // `no network 100.64.22.0/24`: MP_UNREACH with the route, label 0.
  auto u = decode(
      "0042020000002b900f002700194605220001c612000300010000000000000000000000000000186440160000000"
      "000000000");
  Update want;
  want.mp_unreach = MpUnreach{kL2vpnEvpn,
                              {},
                              {EvpnRoute{EvpnIpPrefix{rd("198.18.0.3:1"), Esi{}, 0,
                                                      pfx("100.64.22.0/24"), ip("0.0.0.0"), 0}}}};
  EXPECT_EQ(u, want);
  round_trips(u);
  EXPECT_EQ(evpn_key(u.mp_unreach->evpn[0]),
            evpn_key(EvpnRoute{EvpnIpPrefix{rd("198.18.0.3:1"), Esi{}, 0, pfx("100.64.22.0/24"),
                                            ip("0.0.0.0"), 5000}}));
}

TEST(EvpnCaptureFrrL3, SymmetricIrbMacIpWithTwoLabels) {
  // MAC+IPv4 and MAC+IPv6 of one host on L2 VNI 100 (RD 198.18.0.3:3): Label1 = L2 VNI 100,
  // Label2 = L3 VNI 5000 (RFC 9135 §5.1), both route targets and the Router's MAC.
  auto u = decode(
      "00b5020000009e900e006900194604c61200030002280001c61200030003000000000000000000000000000030"
      "020000000302206440002000006400138802340001c61200030003000000000000000000000000000030020000"
      "00030280fd000064000000000000000000000032000064001388400101005002000602010000fdebc0102003"
      "0c0000000000080002fdeb000000640002fdeb000013880603020000005003");
  auto irb = [](const char* a) {
    return EvpnRoute{
        EvpnMacIp{rd("198.18.0.3:3"), Esi{}, 0, mac("02:00:00:00:03:02"), ip(a), 100, 5000}};
  };
  EXPECT_EQ(u, frr({irb("100.64.0.32"), irb("fd00:64::32")},
                   {kVxlan, rt("65003:100"), rt("65003:5000"), kFrrRouterMac}));
  round_trips(u);
  const auto& m = std::get<EvpnMacIp>(u.mp_reach->evpn[0].route);
  EXPECT_EQ(vni_of_label_field(m.label1), 100u);
  ASSERT_TRUE(m.label2.has_value());
  EXPECT_EQ(vni_of_label_field(*m.label2), 5000u);
  // The route's VNI (policy `vni:`, show ... vni) is the L2 VNI.
  EXPECT_EQ(evpn_vni(u.mp_reach->evpn[0], *u.attrs), 100u);
  EXPECT_EQ(u.mp_reach->evpn[1].to_string(),
            "[2]:[198.18.0.3:3]:[0]:[48]:[02:00:00:00:03:02]:[128]:[fd00:64::32]");
  // The MAC alone (no IP, so no second label) in the same VNI: one label, no Router's MAC.
  check(
      "00680200000051900e002c00194604c61200030002210001c61200030003000000000000000000000000000030"
      "02000000030200000064400101005002000602010000fdebc01010030c0000000000080002fdeb00000064",
      frr({EvpnRoute{
              EvpnMacIp{rd("198.18.0.3:3"), Esi{}, 0, mac("02:00:00:00:03:02"), {}, 100, {}}}},
          {kVxlan, rt("65003:100")}));
}

}  // namespace
}  // namespace isthmus::bgp
