// Typed EVPN extended communities: bytes both ways (RFC 4360 §4, RFC 5668, RFC 7432 §7.5-7.8,
// RFC 9012 §4.1, RFC 9135), route target text, RFC 8365 §5.1.2.1 auto-derivation, show names.
#include "bgp/wire/ext_community.h"

#include <gtest/gtest.h>

#include "bgp/wire/test_util.h"

namespace isthmus::bgp {
namespace {

using test::ip;

ExtCommunity ec(std::string_view h) {
  ExtCommunity c;
  auto b = test::hex(h);
  EXPECT_EQ(b.size(), 8u) << h;
  std::copy(b.begin(), b.end(), c.bytes.begin());
  return c;
}

MacAddress mac(std::string_view s) { return *MacAddress::parse(s); }

TEST(RouteTarget, ThreeForms) {
  EXPECT_EQ(route_target_as2(65000, 100), ec("0002 fde8 00000064"));
  EXPECT_EQ(route_target_ipv4(ip("198.18.0.1"), 5), ec("0102 c6120001 0005"));
  EXPECT_EQ(route_target_as4(4200000000, 7), ec("0202 fa56ea00 0007"));
  for (auto c : {route_target_as2(65000, 100), route_target_ipv4(ip("198.18.0.1"), 5),
                 route_target_as4(4200000000, 7)})
    EXPECT_TRUE(is_route_target(c)) << c.to_string();
  EXPECT_FALSE(is_route_target(ec("0003 fde8 00000064")));  // route origin
  EXPECT_FALSE(is_route_target(ec("4002 fde8 00000064")));  // non-transitive
  EXPECT_FALSE(is_route_target(ec("0602 020000000001")));   // ES-Import (EVPN type)
  EXPECT_EQ(route_target_as2(65000, 100).to_string(), "rt:65000:100");
  EXPECT_EQ(route_target_ipv4(ip("198.18.0.1"), 5).to_string(), "rt:198.18.0.1:5");
  EXPECT_EQ(route_target_as4(4200000000, 7).to_string(), "rt:4200000000:7");
}

TEST(RouteTarget, Parse) {
  EXPECT_EQ(*parse_route_target("65000:100"), route_target_as2(65000, 100));
  EXPECT_EQ(*parse_route_target("RT:65000:100"), route_target_as2(65000, 100));
  EXPECT_EQ(*parse_route_target("rt:65000:4294967295"), route_target_as2(65000, 4294967295));
  EXPECT_EQ(*parse_route_target("198.18.0.1:5"), route_target_ipv4(ip("198.18.0.1"), 5));
  EXPECT_EQ(*parse_route_target("4200000000:7"), route_target_as4(4200000000, 7));
  EXPECT_EQ(*parse_route_target("65000L:7"), route_target_as4(65000, 7));
  // What to_string() prints parses back.
  for (auto c : {route_target_as2(1, 2), route_target_ipv4(ip("100.64.0.1"), 65535),
                 route_target_as4(70000, 100)})
    EXPECT_EQ(*parse_route_target(c.to_string()), c);
  auto msg = [](std::string_view t) {
    auto r = parse_route_target(t);
    EXPECT_FALSE(r.has_value()) << t;
    return r ? "" : r.error().message;
  };
  EXPECT_EQ(msg("65000"),
            "route target \"65000\": expected ASN:N, A.B.C.D:N or ASN4:N (like 65000:100, "
            "198.18.0.1:5, 4200000000:7)");
  EXPECT_EQ(msg("70000:65536"),
            "route target \"70000:65536\": with a 4-octet ASN the local administrator must be "
            "0..65535");
  EXPECT_EQ(msg("65000:4294967296"),
            "route target \"65000:4294967296\": with a 2-octet ASN the local administrator must be "
            "0..4294967295");
  EXPECT_EQ(msg("198.18.0.1:65536"),
            "route target \"198.18.0.1:65536\": with an IPv4 address the local administrator must "
            "be 0..65535");
  EXPECT_EQ(msg("198.18.0.300:1"),
            "route target \"198.18.0.300:1\": the global administrator is not an IPv4 address");
  EXPECT_NE(msg("soo:65000:1").find("expected ASN:N"), std::string::npos);
  EXPECT_NE(msg("abc:1").find("the ASN must be"), std::string::npos);
}

TEST(RouteTarget, AutoDerivedFromAsnAndVni) {
  // FRR 8.4's default, as captured from it: AS 65003, VNI 100 -> RT 65003:100 (00 02 fdeb
  // 00000064).
  EXPECT_EQ(auto_route_target(65003, 100), ec("0002 fdeb 00000064"));
  EXPECT_EQ(auto_route_target(65003, 100, AutoRtStyle::Frr).to_string(), "rt:65003:100");
  // RFC 8365 §5.1.2.1: A = 0, Type = 1 (VXLAN), D-ID = 0, Service ID = VNI.
  EXPECT_EQ(auto_route_target(65000, 100, AutoRtStyle::Rfc8365), ec("0002 fde8 10000064"));
  EXPECT_EQ(auto_route_target(65000, 0xabcdef, AutoRtStyle::Rfc8365), ec("0002 fde8 10abcdef"));
  // A 4-octet ASN: its low two octets (FRR: bgp->as & 0xFFFF).
  EXPECT_EQ(auto_route_target(4200000000, 100), ec("0002 ea00 00000064"));
  // Only 24 bits of VNI.
  EXPECT_EQ(auto_route_target(65000, 0x1000064), ec("0002 fde8 00000064"));
}

TEST(EvpnCommunities, Encapsulation) {
  // RFC 9012 §4.1 / RFC 8365 §5.1.3, as GoBGP and FRR send it.
  EXPECT_EQ(Encapsulation{}.encode(), ec("030c 0000 0000 0008"));
  EXPECT_EQ(Encapsulation::decode(ec("030c 0000 0000 0008")), Encapsulation{kTunnelVxlan});
  EXPECT_EQ(Encapsulation::decode(ec("030c 0000 0000 000a")), Encapsulation{10});
  EXPECT_EQ(Encapsulation::decode(ec("030d 0000 0000 0008")), std::nullopt);
  EXPECT_EQ(Encapsulation{}.encode().to_string(), "encap:8");
}

TEST(EvpnCommunities, MacMobility) {
  // RFC 7432 §7.7; FRR 8.4 sent 06 00 00 00 00000001 for a MAC that moved to it.
  EXPECT_EQ((MacMobility{false, 1}).encode(), ec("0600 00 00 00000001"));
  EXPECT_EQ((MacMobility{true, 0}).encode(), ec("0600 01 00 00000000"));
  EXPECT_EQ(MacMobility::decode(ec("0600 00 00 00000001")), (MacMobility{false, 1}));
  EXPECT_EQ(MacMobility::decode(ec("0600 01 00 ffffffff")), (MacMobility{true, 0xffffffff}));
  // Other flag bits and the reserved octet are ignored on receipt.
  EXPECT_EQ(MacMobility::decode(ec("0600 fe ff 00000005")), (MacMobility{false, 5}));
  EXPECT_EQ(MacMobility::decode(ec("0601 00 00 00000001")), std::nullopt);
  EXPECT_EQ((MacMobility{false, 5}).encode().to_string(), "mac-mobility:5");
  EXPECT_EQ((MacMobility{true, 0}).encode().to_string(), "mac-mobility:0:sticky");
}

TEST(EvpnCommunities, EsiLabel) {
  // RFC 7432 §7.5, as GoBGP 3.10 sent it for "esi-label 200".
  EXPECT_EQ((EsiLabel{false, 200}).encode(), ec("0601 00 0000 0000c8"));
  EXPECT_EQ((EsiLabel{true, 0xabcdef}).encode(), ec("0601 01 0000 abcdef"));
  EXPECT_EQ(EsiLabel::decode(ec("0601 00 0000 0000c8")), (EsiLabel{false, 200}));
  EXPECT_EQ(EsiLabel::decode(ec("0601 01 ffff 000064")), (EsiLabel{true, 100}));
  EXPECT_EQ(EsiLabel::decode(ec("0600 00 0000 0000c8")), std::nullopt);
  EXPECT_EQ((EsiLabel{false, 200}).encode().to_string(), "esi-label:200");
  EXPECT_EQ((EsiLabel{true, 200}).encode().to_string(), "esi-label:200:single-active");
}

TEST(EvpnCommunities, EsImportRouterMacDefaultGateway) {
  EsImportRouteTarget es{mac("02:00:00:00:aa:01")};
  EXPECT_EQ(es.encode(), ec("0602 02000000aa01"));
  EXPECT_EQ(EsImportRouteTarget::decode(ec("0602 02000000aa01")), es);
  EXPECT_EQ(es.encode().to_string(), "es-import:02:00:00:00:aa:01");
  // RFC 9135 §8.1, as GoBGP sent it for "router-mac 02:00:00:00:00:fe".
  RouterMac rm{mac("02:00:00:00:00:fe")};
  EXPECT_EQ(rm.encode(), ec("0603 0200000000fe"));
  EXPECT_EQ(RouterMac::decode(ec("0603 0200000000fe")), rm);
  EXPECT_EQ(RouterMac::decode(ec("0602 0200000000fe")), std::nullopt);
  EXPECT_EQ(rm.encode().to_string(), "router-mac:02:00:00:00:00:fe");
  // RFC 7432 §7.8, as GoBGP sent it for "default-gateway".
  EXPECT_EQ(default_gateway(), ec("030d 0000 0000 0000"));
  EXPECT_TRUE(is_default_gateway(ec("030d 0000 0000 0000")));
  EXPECT_TRUE(is_default_gateway(ec("030d 1234 5678 9abc")));  // value ignored on receipt
  EXPECT_FALSE(is_default_gateway(ec("030c 0000 0000 0008")));
  EXPECT_EQ(default_gateway().to_string(), "default-gateway");
  // EVPN subtypes this code does not name stay hex.
  EXPECT_EQ(ec("0604 0000 0000 0001").to_string(), "0x0604000000000001");
}

}  // namespace
}  // namespace isthmus::bgp
