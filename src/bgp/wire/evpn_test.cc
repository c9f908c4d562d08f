// EVPN NLRI byte/struct pairs for route types 1-5 (RFC 7432 §7.1-7.4, RFC 9136 §3.1), every decode
// error, Route Distinguishers (RFC 4364 §4.2), ESIs (RFC 7432 §5), the route key (RFC 7432
// §7.1-7.4, RFC 9136 §3.2), EVPN in MP_REACH/MP_UNREACH (RFC 4760, RFC 7606) and the EVPN UPDATE
// encoders.
#include "bgp/wire/evpn.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <functional>
#include <unordered_set>

#include "bgp/wire/attributes.h"
#include "bgp/wire/codec.h"
#include "bgp/wire/ext_community.h"
#include "bgp/wire/test_util.h"

namespace isthmus::bgp {
namespace {

using test::hex;
using test::ip;
using test::pfx;

MacAddress mac(std::string_view s) { return *MacAddress::parse(s); }
std::string to_hex(const std::vector<uint8_t>& b) {
  std::string s;
  for (uint8_t c : b) s += fmt::format("{:02x}", c);
  return s;
}
RouteDistinguisher rd(std::string_view s) { return *RouteDistinguisher::parse(s); }

// Decodes exactly one NLRI from `h`; fails the test on an error or leftover octets.
EvpnRoute decoded(const std::string& h) {
  auto bytes = hex(h);
  ByteReader r(bytes);
  auto route = decode_evpn_nlri(r);
  EXPECT_TRUE(route.has_value()) << (route ? "" : route.error());
  EXPECT_TRUE(r.empty()) << r.remaining() << " octets left";
  return route ? *route : EvpnRoute{};
}

std::string error_of(const std::string& h) {
  auto bytes = hex(h);
  ByteReader r(bytes);
  auto route = decode_evpn_nlri(r);
  EXPECT_FALSE(route.has_value()) << h;
  return route ? "" : route.error();
}

std::vector<uint8_t> encoded(const EvpnRoute& route) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_evpn_nlri(route, w);
  EXPECT_EQ(out.size(), evpn_nlri_wire_size(route));
  return out;
}

// The struct decodes from the bytes and encodes to them.
void both_ways(const std::string& h, const EvpnRoute& want) {
  EXPECT_EQ(decoded(h), want) << h;
  EXPECT_EQ(encoded(want), hex(h)) << want.describe();
}

// ---- Route Distinguisher
// -------------------------------------------------------------------------

TEST(RouteDistinguisher, ThreeTypes) {
  EXPECT_EQ(RouteDistinguisher::as2(65000, 100).bytes,
            (std::array<uint8_t, 8>{0, 0, 0xfd, 0xe8, 0, 0, 0, 100}));
  EXPECT_EQ(RouteDistinguisher::ipv4(ip("198.18.0.1"), 5).bytes,
            (std::array<uint8_t, 8>{0, 1, 198, 18, 0, 1, 0, 5}));
  EXPECT_EQ(RouteDistinguisher::as4(4200000000, 7).bytes,
            (std::array<uint8_t, 8>{0, 2, 0xfa, 0x56, 0xea, 0x00, 0, 7}));
  for (const char* text : {"65000:100", "198.18.0.1:5", "4200000000:7", "65000L:7", "0:0",
                           "65535:4294967295", "255.255.255.255:65535", "4294967295:65535"}) {
    auto r = RouteDistinguisher::parse(text);
    ASSERT_TRUE(r.has_value()) << text << ": " << r.error().message;
    EXPECT_EQ(r->to_string(), text);
  }
  EXPECT_EQ(rd("65000:100").type(), 0);
  EXPECT_EQ(rd("198.18.0.1:5").type(), 1);
  EXPECT_EQ(rd("4200000000:7").type(), 2);
  EXPECT_EQ(rd("65000L:7"), RouteDistinguisher::as4(65000, 7));
  EXPECT_EQ(rd("65000l:7"), RouteDistinguisher::as4(65000, 7));
  RouteDistinguisher other;
  other.bytes = {0, 9, 1, 2, 3, 4, 5, 6};
  EXPECT_EQ(other.to_string(), "type-9:010203040506");
}

TEST(RouteDistinguisher, ParseErrors) {
  auto msg = [](std::string_view t) {
    auto r = RouteDistinguisher::parse(t);
    EXPECT_FALSE(r.has_value()) << t;
    return r ? "" : r.error().message;
  };
  EXPECT_EQ(msg("65000"),
            "route distinguisher \"65000\": expected ASN:N, A.B.C.D:N or ASN4:N (like 65000:100, "
            "198.18.0.1:5, 4200000000:7)");
  EXPECT_NE(msg("1:2:3").find("expected ASN:N"), std::string::npos);
  EXPECT_EQ(msg("70000:70000"),
            "route distinguisher \"70000:70000\": with a 4-octet ASN the assigned number must be "
            "0..65535");
  EXPECT_EQ(msg("65000:4294967296"),
            "route distinguisher \"65000:4294967296\": with a 2-octet ASN the assigned number must "
            "be 0..4294967295");
  EXPECT_EQ(msg("198.18.0.1:65536"),
            "route distinguisher \"198.18.0.1:65536\": with an IPv4 address the assigned number "
            "must be 0..65535");
  EXPECT_EQ(msg("198.18.0:1"),
            "route distinguisher \"198.18.0:1\": the administrator is not an IPv4 address");
  EXPECT_EQ(msg("x:1"), "route distinguisher \"x:1\": the ASN must be a number 0..4294967295");
  EXPECT_NE(msg("4294967296:1").find("the ASN must be"), std::string::npos);
  EXPECT_NE(msg(":1").find("the ASN must be"), std::string::npos);
  EXPECT_NE(msg("1:").find("assigned number"), std::string::npos);
  EXPECT_NE(msg("-1:1").find("the ASN must be"), std::string::npos);
}

// ---- ESI
// -----------------------------------------------------------------------------------------

TEST(Esi, TypesAsRfc7432Section5) {
  // Bytes as GoBGP 3.10 encodes them (captures in evpn_capture_test.cc).
  EXPECT_EQ(Esi::lacp(mac("02:00:00:00:aa:01"), 7).to_string(), "01:02:00:00:00:aa:01:00:07:00");
  EXPECT_EQ(Esi::mstp(mac("02:00:00:00:aa:02"), 32768).to_string(),
            "02:02:00:00:00:aa:02:80:00:00");
  EXPECT_EQ(Esi::mac(mac("02:00:00:00:bb:01"), 9).to_string(), "03:02:00:00:00:bb:01:00:00:09");
  EXPECT_EQ(Esi::router_id(ip("198.18.0.2"), 5).to_string(), "04:c6:12:00:02:00:00:00:05:00");
  EXPECT_EQ(Esi::as(65001, 6).to_string(), "05:00:00:fd:e9:00:00:00:06:00");
  EXPECT_EQ(Esi::arbitrary({0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99}).to_string(),
            "00:11:22:33:44:55:66:77:88:99");

  EXPECT_EQ(Esi{}.describe(), "single-homed");
  EXPECT_TRUE(Esi{}.is_zero());
  EXPECT_EQ(Esi::lacp(mac("02:00:00:00:aa:01"), 7).describe(), "lacp 02:00:00:00:aa:01 key 7");
  EXPECT_EQ(Esi::mstp(mac("02:00:00:00:aa:02"), 32768).describe(),
            "mstp 02:00:00:00:aa:02 priority 32768");
  EXPECT_EQ(Esi::mac(mac("02:00:00:00:bb:01"), 0x123456).describe(),
            "mac 02:00:00:00:bb:01 discriminator 1193046");
  EXPECT_EQ(Esi::router_id(ip("198.18.0.2"), 5).describe(), "router-id 198.18.0.2 discriminator 5");
  EXPECT_EQ(Esi::as(65001, 6).describe(), "as 65001 discriminator 6");
  EXPECT_EQ(Esi::arbitrary({0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99}).describe(),
            "arbitrary 11:22:33:44:55:66:77:88:99");
  Esi max;
  max.bytes.fill(0xff);  // RFC 7432 §5 MAX-ESI
  EXPECT_EQ(max.describe(), "type-255 ff:ff:ff:ff:ff:ff:ff:ff:ff");
}

TEST(Esi, TextBothWays) {
  for (const char* text : {"00:11:22:33:44:55:66:77:88:99", "ff:ff:ff:ff:ff:ff:ff:ff:ff:ff",
                           "00:00:00:00:00:00:00:00:00:00"}) {
    auto e = Esi::parse(text);
    ASSERT_TRUE(e.has_value()) << text;
    EXPECT_EQ(e->to_string(), text);
  }
  EXPECT_EQ(*Esi::parse("01:02:00:00:00:AA:01:00:07:00"), Esi::lacp(mac("02:00:00:00:aa:01"), 7));
  EXPECT_EQ(*Esi::parse("single-homed"), Esi{});
  EXPECT_EQ(*Esi::parse("0"), Esi{});
  for (const char* bad : {"", "00:11", "00:11:22:33:44:55:66:77:88:9",
                          "00:11:22:33:44:55:66:77:88:99:", "00-11-22-33-44-55-66-77-88-99",
                          "00:11:22:33:44:55:66:77:88:9g"}) {
    auto e = Esi::parse(bad);
    ASSERT_FALSE(e.has_value()) << bad;
    EXPECT_EQ(e.error().message, fmt::format("\"{}\" is not a valid ESI (expected ten hex octets "
                                             "like 00:11:22:33:44:55:66:77:88:99, or single-homed)",
                                             bad));
  }
}

// ---- Labels
// --------------------------------------------------------------------------------------

TEST(EvpnLabel, VniAndMplsReadings) {
  // RFC 8365 §5.1.3: the whole 24-bit field is the VNI (FRR 8.4 and GoBGP 3.10: 00 00 64 = 100).
  EXPECT_EQ(vni_of_label_field(0x000064), 100u);
  EXPECT_EQ(vni_of_label_field(0xffffff), 0xffffffu);
  // RFC 7432 §7.2: with MPLS the high-order 20 bits are the label.
  EXPECT_EQ(mpls_label_of_label_field(0x003e81), 1000u);
  EXPECT_EQ(label_field_of_mpls_label(1000), 0x003e81u);
  EXPECT_EQ(mpls_label_of_label_field(label_field_of_mpls_label(0xfffff)), 0xfffffu);
}

// ---- Route types, both ways
// ----------------------------------------------------------------------

const char* kRd = "0001c6120002 0064";  // 198.18.0.2:100

TEST(EvpnRoute, Type1EthernetAd) {
  EvpnEthernetAd r{rd("198.18.0.2:100"), Esi::lacp(mac("02:00:00:00:aa:01"), 7), 0, 100};
  both_ways(std::string("01 19") + kRd + "0102000000aa01000700 00000000 000064", EvpnRoute{r});
  EXPECT_EQ(EvpnRoute{r}.to_string(), "[1]:[198.18.0.2:100]:[01:02:00:00:00:aa:01:00:07:00]:[0]");
  EXPECT_EQ(EvpnRoute{r}.describe(),
            "[1]:[198.18.0.2:100]:[01:02:00:00:00:aa:01:00:07:00]:[0] label 100");
  // Per-ES (RFC 7432 §8.2.1: MAX-ET, label 0).
  r.ethernet_tag = kMaxEthernetTag;
  r.label = 0;
  both_ways(std::string("01 19") + kRd + "0102000000aa01000700 ffffffff 000000", EvpnRoute{r});
  EXPECT_EQ(EvpnRoute{r}.type(), 1);
}

TEST(EvpnRoute, Type2MacIp) {
  EvpnMacIp m{rd("198.18.0.2:100"), Esi{}, 0, mac("02:00:00:00:00:01"), std::nullopt, 100, {}};
  both_ways(std::string("02 21") + kRd + "00000000000000000000 00000000 30 020000000001 00 000064",
            EvpnRoute{m});
  EXPECT_EQ(EvpnRoute{m}.to_string(), "[2]:[198.18.0.2:100]:[0]:[48]:[02:00:00:00:00:01]");
  // IPv4 and two labels (RFC 9135 §5.1: the L3 VNI in Label2).
  m.ip = ip("100.64.0.2");
  m.label2 = 5000;
  both_ways(std::string("02 28") + kRd +
                "00000000000000000000 00000000 30 020000000001 20 64400002 000064 001388",
            EvpnRoute{m});
  EXPECT_EQ(EvpnRoute{m}.describe(),
            "[2]:[198.18.0.2:100]:[0]:[48]:[02:00:00:00:00:01]:[32]:[100.64.0.2] esi "
            "single-homed label 100,5000");
  // IPv6, one label, an ESI and an Ethernet Tag.
  m.ip = ip("fd00:64::3");
  m.label2.reset();
  m.esi = Esi::mac(mac("02:00:00:00:bb:01"), 9);
  m.ethernet_tag = 10;
  both_ways(std::string("02 31") + kRd +
                "0302000000bb01000009 0000000a 30 020000000001 80 fd000064000000000000000000000003"
                " 000064",
            EvpnRoute{m});
  EXPECT_EQ(EvpnRoute{m}.to_string(),
            "[2]:[198.18.0.2:100]:[10]:[48]:[02:00:00:00:00:01]:[128]:[fd00:64::3]");
  // The longest: IPv6 and two labels, 52 octets.
  m.label2 = 5000;
  EXPECT_EQ(evpn_nlri_wire_size(EvpnRoute{m}), 54u);
  EXPECT_EQ(decoded(to_hex(encoded(EvpnRoute{m}))), EvpnRoute{m});
}

TEST(EvpnRoute, Type3Imet) {
  EvpnImet r{rd("198.18.0.2:100"), 0, ip("198.18.0.2")};
  both_ways(std::string("03 11") + kRd + "00000000 20 c6120002", EvpnRoute{r});
  EXPECT_EQ(EvpnRoute{r}.to_string(), "[3]:[198.18.0.2:100]:[0]:[32]:[198.18.0.2]");
  r.originator = ip("fd00:18::2");
  r.ethernet_tag = 7;
  both_ways(std::string("03 1d") + kRd + "00000007 80 fd000018000000000000000000000002",
            EvpnRoute{r});
  EXPECT_EQ(EvpnRoute{r}.to_string(), "[3]:[198.18.0.2:100]:[7]:[128]:[fd00:18::2]");
}

TEST(EvpnRoute, Type4EthernetSegment) {
  EvpnEthernetSegment r{rd("198.18.0.2:1"), Esi::router_id(ip("198.18.0.2"), 5), ip("198.18.0.2")};
  both_ways("04 17 0001c61200020001 04c61200020000000500 20 c6120002", EvpnRoute{r});
  EXPECT_EQ(EvpnRoute{r}.to_string(),
            "[4]:[198.18.0.2:1]:[04:c6:12:00:02:00:00:00:05:00]:[32]:[198.18.0.2]");
  EXPECT_EQ(EvpnRoute{r}.describe(),
            "[4]:[198.18.0.2:1]:[04:c6:12:00:02:00:00:00:05:00]:[32]:[198.18.0.2] esi router-id "
            "198.18.0.2 discriminator 5");
  r.originator = ip("fd00:18::2");
  both_ways("04 23 0001c61200020001 04c61200020000000500 80 fd000018000000000000000000000002",
            EvpnRoute{r});
}

TEST(EvpnRoute, Type5IpPrefix) {
  EvpnIpPrefix r{rd("198.18.0.2:5000"), Esi{}, 0, pfx("100.64.10.0/24"), ip("0.0.0.0"), 5000};
  both_ways("05 22 0001c61200021388 00000000000000000000 00000000 18 64400a00 00000000 001388",
            EvpnRoute{r});
  EXPECT_EQ(EvpnRoute{r}.to_string(), "[5]:[198.18.0.2:5000]:[0]:[24]:[100.64.10.0]");
  EXPECT_EQ(EvpnRoute{r}.describe(),
            "[5]:[198.18.0.2:5000]:[0]:[24]:[100.64.10.0] esi single-homed gateway 0.0.0.0 label "
            "5000");
  r.prefix = pfx("fd00:64:10::/64");
  r.gateway = ip("fd00:18::2");
  both_ways(
      "05 3a 0001c61200021388 00000000000000000000 00000000 40 fd000064001000000000000000000000"
      " fd000018000000000000000000000002 001388",
      EvpnRoute{r});
  // RFC 9136 §3.1: the family follows from the length; a prefix of 0 is IPv4 in 34 octets and IPv6
  // in 58.
  auto v4_default =
      decoded("05 22 0001c61200021388 00000000000000000000 00000000 00 00000000 00000000 000000");
  EXPECT_EQ(std::get<EvpnIpPrefix>(v4_default.route).prefix, pfx("0.0.0.0/0"));
  auto v6_default = decoded(
      "05 3a 0001c61200021388 00000000000000000000 00000000 00 00000000000000000000000000000000"
      " 00000000000000000000000000000000 000000");
  EXPECT_EQ(std::get<EvpnIpPrefix>(v6_default.route).prefix, pfx("::/0"));
  EXPECT_NE(evpn_key(v4_default), evpn_key(v6_default));
  // Bits past the prefix length are cleared, as for unicast prefixes (RFC 4271 §4.3).
  auto host_bits =
      decoded("05 22 0001c61200021388 00000000000000000000 00000000 18 64400a05 00000000 001388");
  EXPECT_EQ(std::get<EvpnIpPrefix>(host_bits.route).prefix, pfx("100.64.10.0/24"));
  // A gateway of the other family cannot be written: zero.
  r.gateway = ip("198.18.0.2");
  auto zero_gw = decoded(to_hex(encoded(EvpnRoute{r})));
  EXPECT_EQ(std::get<EvpnIpPrefix>(zero_gw.route).gateway, ip("::"));
}

TEST(EvpnRoute, UnknownTypesAreKeptOpaque) {
  // RFC 7606 §5.4: a route type this code does not know is no error; the RIB discards it.
  for (const char* h : {"00 03 010203", "06 00", "ff 02 abcd", "09 01 00"}) {
    auto r = decoded(h);
    EXPECT_FALSE(r.known());
    EXPECT_EQ(r.rd(), nullptr);
    EXPECT_EQ(evpn_key(r), std::nullopt);
    EXPECT_EQ(encoded(r), hex(h));
  }
  EXPECT_EQ(decoded("06 02 abcd").to_string(), "[6]:[abcd]");
  EXPECT_EQ(decoded("06 02 abcd").type(), 6);
}

TEST(EvpnRoute, SeveralInOneField) {
  auto bytes = hex(std::string("03 11") + kRd + "00000000 20 c6120002  06 01 ff  03 11" + kRd +
                   "00000001 20 c6120002");
  std::vector<EvpnRoute> routes;
  ASSERT_TRUE(decode_evpn_nlris(ByteReader(bytes), routes).has_value());
  ASSERT_EQ(routes.size(), 3u);
  EXPECT_EQ(routes[0].type(), 3);
  EXPECT_FALSE(routes[1].known());
  EXPECT_EQ(std::get<EvpnImet>(routes[2].route).ethernet_tag, 1u);
  // An error names the offset of the route within the field.
  auto bad =
      hex(std::string("03 11") + kRd + "00000000 20 c6120002  03 10" + kRd + "00000000 20 c61200");
  routes.clear();
  auto ok = decode_evpn_nlris(ByteReader(bad), routes);
  ASSERT_FALSE(ok.has_value());
  EXPECT_EQ(ok.error(),
            "EVPN Inclusive Multicast Ethernet Tag route at offset 19: Length 16 (must be 17 for "
            "IPv4 or 29 for IPv6)");
}

// ---- Every decode error
// ----------------------------------------------------------------------------

TEST(EvpnRoute, Errors) {
  EXPECT_EQ(error_of(""), "EVPN NLRI at offset 0: nothing left to read");
  EXPECT_EQ(error_of("02"),
            "EVPN MAC/IP Advertisement route (type 2) at offset 0: no Length octet");
  EXPECT_EQ(error_of("02 21 0001"),
            "EVPN MAC/IP Advertisement route (type 2) at offset 0: Length 33 runs past the NLRI (2 "
            "octets left)");
  EXPECT_EQ(error_of("07 05 00"),
            "EVPN unknown route (type 7) at offset 0: Length 5 runs past the NLRI (1 octets left)");
  // Type 1: exactly 25.
  EXPECT_EQ(error_of(std::string("01 18") + kRd + "0102000000aa01000700 00000000 0000"),
            "EVPN Ethernet A-D route at offset 0: Length 24 (must be 25)");
  // Type 2.
  const std::string head2 = std::string(kRd) + "00000000000000000000 00000000";
  EXPECT_EQ(error_of("02 20" + head2 + "30 020000000001 00 0000"),
            "EVPN MAC/IP Advertisement route at offset 0: Length 32 (must be 33 to 52)");
  EXPECT_EQ(error_of("02 35" + head2 + "30 020000000001 80 fd000064000000000000000000000003" +
                     "000064 000064 00"),
            "EVPN MAC/IP Advertisement route at offset 0: Length 53 (must be 33 to 52)");
  EXPECT_EQ(error_of("02 21" + head2 + "28 020000000001 00 000064"),
            "EVPN MAC/IP Advertisement route at offset 0: MAC Address Length 40 (must be 48)");
  EXPECT_EQ(error_of("02 24" + head2 + "30 020000000001 18 644000 000064"),
            "EVPN MAC/IP Advertisement route at offset 0: IP Address Length 24 (must be 0, 32 or "
            "128)");
  EXPECT_EQ(error_of("02 21" + head2 + "30 020000000001 20 000064"),
            "EVPN MAC/IP Advertisement route at offset 0: Length 33 does not fit IP Address Length "
            "32 (must be 37 or 40)");
  EXPECT_EQ(error_of("02 23" + head2 + "30 020000000001 00 000064 0000"),
            "EVPN MAC/IP Advertisement route at offset 0: Length 35 does not fit IP Address Length "
            "0 (must be 33 or 36)");
  // Type 3.
  EXPECT_EQ(error_of(std::string("03 12") + kRd + "00000000 20 c6120002 00"),
            "EVPN Inclusive Multicast Ethernet Tag route at offset 0: Length 18 (must be 17 for "
            "IPv4 or 29 for IPv6)");
  EXPECT_EQ(error_of(std::string("03 11") + kRd + "00000000 80 c6120002"),
            "EVPN Inclusive Multicast Ethernet Tag route at offset 0: IP Address Length 128 does "
            "not fit the route Length 17 (must be 32)");
  EXPECT_EQ(error_of(std::string("03 1d") + kRd + "00000000 20 fd000018000000000000000000000002"),
            "EVPN Inclusive Multicast Ethernet Tag route at offset 0: IP Address Length 32 does "
            "not fit the route Length 29 (must be 128)");
  // Type 4.
  EXPECT_EQ(error_of(std::string("04 16") + kRd + "00000000000000000000 20 c61200"),
            "EVPN Ethernet Segment route at offset 0: Length 22 (must be 23 for IPv4 or 35 for "
            "IPv6)");
  EXPECT_EQ(error_of(std::string("04 17") + kRd + "00000000000000000000 00 c6120002"),
            "EVPN Ethernet Segment route at offset 0: IP Address Length 0 does not fit the route "
            "Length 23 (must be 32)");
  // Type 5.
  EXPECT_EQ(error_of(std::string("05 23") + kRd +
                     "00000000000000000000 00000000 18 64400a00 00000000 001388 00"),
            "EVPN IP Prefix route at offset 0: Length 35 (must be 34 for IPv4 or 58 for IPv6)");
  EXPECT_EQ(error_of(std::string("05 22") + kRd +
                     "00000000000000000000 00000000 21 64400a00 00000000 001388"),
            "EVPN IP Prefix route at offset 0: IP Prefix Length 33 (must be 0..32 in a 34-octet "
            "route)");
  EXPECT_EQ(error_of(std::string("05 3a") + kRd +
                     "00000000000000000000 00000000 81 fd000064001000000000000000000000"
                     " fd000018000000000000000000000002 001388"),
            "EVPN IP Prefix route at offset 0: IP Prefix Length 129 (must be 0..128 in a 58-octet "
            "route)");
}

// ---- Keys
// ------------------------------------------------------------------------------------------

TEST(EvpnKey, FieldsOfTheRfcs) {
  EvpnMacIp a{rd("65000:100"), Esi{}, 0, mac("02:00:00:00:00:01"), ip("100.64.0.1"), 100, {}};
  EvpnMacIp b = a;
  // RFC 7432 §7.2: the ESI and the labels are not part of the key.
  b.esi = Esi::as(65000, 1);
  b.label1 = 200;
  b.label2 = 5000;
  EXPECT_EQ(evpn_key(EvpnRoute{a}), evpn_key(EvpnRoute{b}));
  // The Ethernet Tag, MAC, IP and RD are.
  for (auto change : std::vector<std::function<void(EvpnMacIp&)>>{
           [](EvpnMacIp& r) { r.ethernet_tag = 1; },
           [](EvpnMacIp& r) { r.mac = mac("02:00:00:00:00:02"); },
           [](EvpnMacIp& r) { r.ip = ip("100.64.0.2"); }, [](EvpnMacIp& r) { r.ip.reset(); },
           [](EvpnMacIp& r) { r.ip = ip("::ffff:100.64.0.1"); },
           [](EvpnMacIp& r) { r.rd = RouteDistinguisher::as2(65000, 101); }}) {
    EvpnMacIp c = a;
    change(c);
    EXPECT_NE(evpn_key(EvpnRoute{a}), evpn_key(EvpnRoute{c})) << EvpnRoute{c}.to_string();
  }
  // RFC 7432 §7.1: the label is not part of a type-1 key, ESI and tag are.
  EvpnEthernetAd ad{rd("65000:1"), Esi::as(65000, 1), 0, 100};
  EvpnEthernetAd ad2 = ad;
  ad2.label = 200;
  EXPECT_EQ(evpn_key(EvpnRoute{ad}), evpn_key(EvpnRoute{ad2}));
  ad2.esi = Esi::as(65000, 2);
  EXPECT_NE(evpn_key(EvpnRoute{ad}), evpn_key(EvpnRoute{ad2}));
  // RFC 9136 §3.2: ESI, gateway and label are not part of a type-5 key.
  EvpnIpPrefix p{rd("65000:5"), Esi{}, 0, pfx("100.64.10.0/24"), ip("0.0.0.0"), 5000};
  EvpnIpPrefix p2 = p;
  p2.esi = Esi::as(65000, 1);
  p2.gateway = ip("198.18.0.9");
  p2.label = 6000;
  EXPECT_EQ(evpn_key(EvpnRoute{p}), evpn_key(EvpnRoute{p2}));
  p2.prefix = pfx("100.64.10.0/25");
  EXPECT_NE(evpn_key(EvpnRoute{p}), evpn_key(EvpnRoute{p2}));
  // Types 3 and 4: the originator is.
  EvpnImet i{rd("65000:100"), 0, ip("198.18.0.1")};
  EvpnImet i2 = i;
  i2.originator = ip("198.18.0.2");
  EXPECT_NE(evpn_key(EvpnRoute{i}), evpn_key(EvpnRoute{i2}));
  EvpnEthernetSegment es{rd("65000:1"), Esi::as(65000, 1), ip("198.18.0.1")};
  EvpnEthernetSegment es2 = es;
  es2.originator = ip("fd00:18::1");
  EXPECT_NE(evpn_key(EvpnRoute{es}), evpn_key(EvpnRoute{es2}));
}

// The RIB stores a route as its key plus evpn_nlri_data(); the two give the route back.
TEST(EvpnKey, KeyAndDataGiveTheRouteBack) {
  const std::vector<EvpnRoute> routes{
      EvpnRoute{EvpnEthernetAd{rd("65000:1"), Esi::as(65000, 1), 7, 100}},
      EvpnRoute{EvpnEthernetAd{rd("198.18.0.1:3"), Esi::lacp(mac("02:00:00:00:aa:01"), 7),
                               kMaxEthernetTag, 0}},
      EvpnRoute{EvpnMacIp{rd("65000:100"), Esi{}, 0, mac("02:00:00:00:00:01"), {}, 100, {}}},
      EvpnRoute{EvpnMacIp{rd("4200000000:7"), Esi::as(65000, 1), 5, mac("02:00:00:00:00:02"),
                          ip("100.64.0.1"), 100, 5000}},
      EvpnRoute{EvpnMacIp{
          rd("65000:100"), Esi{}, 0, mac("02:00:00:00:00:03"), ip("fd00:64::3"), 100, {}}},
      EvpnRoute{EvpnImet{rd("198.18.0.1:2"), 0, ip("198.18.0.1")}},
      EvpnRoute{EvpnImet{rd("65000:2"), 9, ip("fd00:18::1")}},
      EvpnRoute{EvpnEthernetSegment{rd("65000:1"), Esi::as(65000, 1), ip("198.18.0.1")}},
      EvpnRoute{EvpnEthernetSegment{rd("65000:1"), Esi::as(65000, 2), ip("fd00:18::1")}},
      EvpnRoute{
          EvpnIpPrefix{rd("65000:5"), Esi{}, 0, pfx("100.64.10.0/24"), ip("198.18.0.9"), 5000}},
      EvpnRoute{
          EvpnIpPrefix{rd("65000:5"), Esi::as(65000, 1), 3, pfx("0.0.0.0/0"), ip("0.0.0.0"), 0}},
      EvpnRoute{
          EvpnIpPrefix{rd("65000:6"), Esi{}, 0, pfx("fd00:64:1::/48"), ip("fd00:18::9"), 5001}},
  };
  for (const EvpnRoute& r : routes) {
    auto key = evpn_key(r);
    ASSERT_TRUE(key.has_value()) << r.to_string();
    EXPECT_EQ(evpn_route(key->bytes(), evpn_nlri_data(r)), r) << r.describe();
  }
  // Not a key: empty, an unknown type, cut short, one octet too many.
  auto key = *evpn_key(routes[3]);
  std::vector<uint8_t> b(key.bytes().begin(), key.bytes().end());
  EXPECT_FALSE(evpn_route({}, {}).has_value());
  EXPECT_FALSE(evpn_route(std::vector<uint8_t>{9, 0, 0, 0, 0, 0, 0, 0, 0}, {}).has_value());
  EXPECT_FALSE(evpn_route(std::span(b).first(b.size() - 1), {}).has_value());
  b.push_back(0);
  EXPECT_FALSE(evpn_route(b, {}).has_value());
}

TEST(EvpnKey, OrderAndHash) {
  std::vector<EvpnRoute> routes = {
      EvpnRoute{EvpnEthernetAd{rd("65000:1"), Esi::as(65000, 1), kMaxEthernetTag, 0}},
      EvpnRoute{EvpnMacIp{rd("65000:100"), Esi{}, 0, mac("02:00:00:00:00:01"), {}, 100, {}}},
      EvpnRoute{EvpnMacIp{
          rd("65000:100"), Esi{}, 0, mac("02:00:00:00:00:01"), ip("100.64.0.1"), 100, {}}},
      EvpnRoute{EvpnMacIp{rd("65000:100"), Esi{}, 0, mac("02:00:00:00:00:02"), {}, 100, {}}},
      EvpnRoute{EvpnMacIp{rd("65000:101"), Esi{}, 0, mac("02:00:00:00:00:01"), {}, 100, {}}},
      EvpnRoute{EvpnImet{rd("65000:100"), 0, ip("198.18.0.1")}},
      EvpnRoute{EvpnImet{rd("65000:100"), 0, ip("fd00:18::1")}},
      EvpnRoute{EvpnEthernetSegment{rd("65000:1"), Esi::as(65000, 1), ip("fd00:18::1")}},
      EvpnRoute{EvpnIpPrefix{rd("65000:5"), Esi{}, 0, pfx("100.64.10.0/24"), {}, 5000}},
      EvpnRoute{EvpnIpPrefix{rd("65000:5"), Esi{}, 0, pfx("fd00:64::/64"), ip("::"), 5000}},
  };
  std::unordered_set<EvpnKey> seen;
  for (size_t i = 0; i < routes.size(); ++i) {
    auto k = evpn_key(routes[i]);
    ASSERT_TRUE(k.has_value());
    EXPECT_LE(k->bytes().size(), EvpnKey::kCapacity);
    EXPECT_EQ(k->route_type(), static_cast<EvpnRouteType>(routes[i].type()));
    EXPECT_TRUE(seen.insert(*k).second) << routes[i].to_string();
    // Route type first, then RD, then the fields: the list above is in key order.
    if (i > 0) {
      EXPECT_LT(*evpn_key(routes[i - 1]), *k) << routes[i].to_string();
    }
    EXPECT_EQ(std::hash<EvpnKey>{}(*k), std::hash<EvpnKey>{}(*evpn_key(routes[i])));
  }
  EXPECT_EQ(sizeof(EvpnKey), 40u);
}

// ---- MP_REACH / MP_UNREACH in UPDATEs
// ----------------------------------------------------------------

const std::string kImet = std::string("03 11") + kRd + "00000000 20 c6120002";  // 19 octets
const char* kOriginAsPath = "40 01 01 00 40 02 06 02 01 0000fde9";

std::vector<uint8_t> mp_reach(const std::string& next_hop, const std::string& nlri) {
  auto nh = hex(next_hop);
  auto value = test::cat({hex("0019 46"), {static_cast<uint8_t>(nh.size())}, nh, {0}, hex(nlri)});
  return test::cat({{0x80, 0x0e, static_cast<uint8_t>(value.size())}, value});
}

DecodedUpdate decoded_update(const std::vector<uint8_t>& attrs) {
  auto d = decode_update(test::update_body({}, attrs, {}), {});
  EXPECT_TRUE(d.has_value()) << (d ? "" : d.error().describe());
  return d ? *d : DecodedUpdate{};
}

TEST(EvpnUpdate, MpReachNextHops) {
  for (const char* nh : {"c6120002", "fd000018000000000000000000000002",
                         "fd000018000000000000000000000002 fe800000000000000000000000000002"}) {
    auto d = decoded_update(test::cat({mp_reach(nh, kImet), hex(kOriginAsPath)}));
    EXPECT_EQ(d.action, AttrAction::None);
    ASSERT_TRUE(d.update.mp_reach.has_value());
    EXPECT_EQ(d.update.mp_reach->family, kL2vpnEvpn);
    EXPECT_TRUE(d.update.mp_reach->nlri.empty());
    ASSERT_EQ(d.update.mp_reach->evpn.size(), 1u);
    EXPECT_EQ(d.update.mp_reach->evpn[0], decoded(kImet));
    ASSERT_TRUE(d.update.attrs.has_value());
    EXPECT_EQ(d.update.attrs->next_hop, d.update.mp_reach->next_hops[0]);
    // Encoded back byte for byte: MP_REACH first, no NEXT_HOP attribute (EVPN has its next hop
    // in MP_REACH only).
    std::vector<uint8_t> out;
    ASSERT_TRUE(encode_update(d.update, {}, out).has_value());
    EXPECT_EQ(out,
              test::message(
                  MessageType::Update,
                  test::update_body({}, test::cat({mp_reach(nh, kImet), hex(kOriginAsPath)}), {})));
  }
}

TEST(EvpnUpdate, MpReachErrorsResetTheSession) {
  // RFC 7606 §7.11 / §5.3: "session reset" (AFI/SAFI disable is not implemented), subcode
  // Optional Attribute Error (RFC 4760 §7), the attribute as data.
  for (auto [nh, nlri] : {std::pair<std::string, std::string>{"c61200", kImet},
                          {"c6120002", kImet.substr(0, kImet.size() - 2)},
                          {"c6120002", "02 05 0102"}}) {
    auto attr = mp_reach(nh, nlri);
    auto d = decode_update(test::update_body({}, test::cat({attr, hex(kOriginAsPath)}), {}), {});
    ASSERT_FALSE(d.has_value()) << nh << " " << nlri;
    EXPECT_EQ(d.error(), (Notification{ErrorCode::UpdateMessage,
                                       update_error::kOptionalAttributeError, attr}));
  }
  // The reason, as the attribute decoder gives it.
  auto attr = mp_reach("c61200", kImet);
  ParsedAttributes p;
  auto fault = find_attr(14)->decode(ByteReader({attr.data() + 3, attr.size() - 3}), {}, p);
  ASSERT_FALSE(fault.has_value());
  EXPECT_EQ(fault.error().error.reason,
            "MP_REACH_NLRI: next hop length 3 for l2vpn-evpn (must be 4, 16 or 32)");
  auto nlri_attr = mp_reach("c6120002", "02 05 0102");
  auto nlri_fault =
      find_attr(14)->decode(ByteReader({nlri_attr.data() + 3, nlri_attr.size() - 3}), {}, p);
  ASSERT_FALSE(nlri_fault.has_value());
  EXPECT_EQ(nlri_fault.error().error.reason,
            "MP_REACH_NLRI: EVPN MAC/IP Advertisement route (type 2) at offset 9: Length 5 runs "
            "past the NLRI (2 octets left)");
}

TEST(EvpnUpdate, MpUnreachAndEndOfRib) {
  auto nlri = hex(kImet);
  auto value = test::cat({hex("0019 46"), nlri});
  auto d = decoded_update(test::cat({{0x80, 0x0f, static_cast<uint8_t>(value.size())}, value}));
  ASSERT_TRUE(d.update.mp_unreach.has_value());
  EXPECT_EQ(d.update.mp_unreach->evpn, std::vector<EvpnRoute>{decoded(kImet)});
  EXPECT_EQ(end_of_rib_family(d.update), std::nullopt);  // a withdrawal, not End-of-RIB
  auto eor = decoded_update(hex("80 0f 03 0019 46"));
  EXPECT_EQ(end_of_rib_family(eor.update), kL2vpnEvpn);
  std::vector<uint8_t> out;
  encode_end_of_rib(kL2vpnEvpn, out);
  EXPECT_EQ(out,
            test::message(MessageType::Update, test::update_body({}, hex("800f030019 46"), {})));
  // A bad withdrawn route: session reset as for MP_REACH.
  auto bad = test::cat({hex("0019 46"), hex("01 18"), hex(std::string(kRd))});
  auto attr = test::cat({{0x80, 0x0f, static_cast<uint8_t>(bad.size())}, bad});
  auto r = decode_update(test::update_body({}, attr, {}), {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().subcode, update_error::kOptionalAttributeError);
}

TEST(EvpnUpdate, TreatAsWithdrawMovesRoutesToMpUnreach) {
  // RFC 7606 §7.1: a bad ORIGIN is treat-as-withdraw; the EVPN routes become withdrawals.
  auto d = decoded_update(
      test::cat({mp_reach("c6120002", kImet), hex("40 01 01 07 40 02 06 02 01 0000fde9")}));
  EXPECT_EQ(d.action, AttrAction::TreatAsWithdraw);
  EXPECT_FALSE(d.update.mp_reach.has_value());
  EXPECT_FALSE(d.update.attrs.has_value());
  ASSERT_TRUE(d.update.mp_unreach.has_value());
  EXPECT_EQ(d.update.mp_unreach->family, kL2vpnEvpn);
  EXPECT_EQ(d.update.mp_unreach->evpn, std::vector<EvpnRoute>{decoded(kImet)});
  // RFC 7606 §3 d: ORIGIN missing with EVPN NLRI.
  auto m = decoded_update(test::cat({mp_reach("c6120002", kImet), hex("40 02 00")}));
  EXPECT_EQ(m.action, AttrAction::TreatAsWithdraw);
  ASSERT_TRUE(m.update.mp_unreach.has_value());
  EXPECT_EQ(m.update.mp_unreach->evpn.size(), 1u);
  // Withdrawn IPv4 routes in MP_UNREACH go to the Withdrawn Routes field.
  auto v4 = decoded_update(test::cat(
      {hex("80 0f 07 0001 01 18 644001"), mp_reach("c6120002", kImet), hex("40 01 01 07")}));
  EXPECT_EQ(v4.update.withdrawn, std::vector<Prefix>{pfx("100.64.1.0/24")});
  EXPECT_EQ(v4.update.mp_unreach->evpn.size(), 1u);
  // EVPN MP_REACH with IPv6 withdrawals: one Update cannot hold both as withdrawals. Reset
  // rather than lose either (no implementation sends this).
  auto both = test::cat(
      {hex("80 0f 0a 0002 01 30 fd000db80001"), mp_reach("c6120002", kImet), hex("40 01 01 07")});
  auto r = decode_update(test::update_body({}, both, {}), {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().subcode, update_error::kMalformedAttributeList);
}

// ---- EVPN UPDATE encoders
// ----------------------------------------------------------------------------

PathAttributes evpn_attrs(const char* next_hop) {
  PathAttributes a;
  a.origin = Origin::Igp;
  a.as_path = AsPath{{AsPathSegment{AsPathSegment::Type::Sequence, {65001}}}};
  a.next_hop = ip(next_hop);
  a.ext_communities = {route_target_as2(65001, 100), Encapsulation{}.encode()};
  return a;
}

std::vector<EvpnRoute> many_mac_routes(size_t n) {
  std::vector<EvpnRoute> v;
  for (size_t i = 0; i < n; ++i) {
    MacAddress m{{0x02, 0, 0, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8),
                  static_cast<uint8_t>(i)}};
    std::optional<IpAddress> a;
    if (i % 2) a = IpAddress::v4(0x64400000u + static_cast<uint32_t>(i));
    v.push_back(EvpnRoute{EvpnMacIp{rd("198.18.0.2:100"), Esi{}, 0, m, a, 100, {}}});
  }
  return v;
}

// Splits a buffer of whole messages and decodes each UPDATE.
std::vector<DecodedUpdate> split(const std::vector<uint8_t>& out, const CodecOptions& opts) {
  std::vector<DecodedUpdate> v;
  size_t at = 0;
  while (at < out.size()) {
    size_t len = size_t{out[at + 16]} << 8 | out[at + 17];
    EXPECT_LE(len, opts.max_message_size());
    auto m = decode_message({out.data() + at, len}, opts);
    EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().describe());
    if (!m) break;
    v.push_back(std::get<DecodedUpdate>(*m));
    at += len;
  }
  return v;
}

TEST(EvpnEncode, ReachSplitsAtTheMessageSize) {
  auto routes = many_mac_routes(400);  // 35 or 39 octets each: about 15 kB
  PathAttributes attrs = evpn_attrs("198.18.0.2");
  attrs.pmsi_tunnel = PmsiTunnel::ingress_replication(100, ip("198.18.0.2"));
  for (bool extended : {false, true}) {
    CodecOptions opts;
    opts.extended_message = extended;
    std::vector<uint8_t> out;
    size_t n = encode_evpn_reach(attrs, routes, opts, out);
    auto updates = split(out, opts);
    ASSERT_EQ(updates.size(), n);
    EXPECT_EQ(n, extended ? 1u : 4u);
    std::vector<EvpnRoute> got;
    for (const auto& d : updates) {
      EXPECT_EQ(d.action, AttrAction::None);
      ASSERT_TRUE(d.update.attrs && d.update.mp_reach);
      EXPECT_EQ(*d.update.attrs, attrs);
      EXPECT_EQ(d.update.mp_reach->next_hops, std::vector<IpAddress>{ip("198.18.0.2")});
      got.insert(got.end(), d.update.mp_reach->evpn.begin(), d.update.mp_reach->evpn.end());
    }
    EXPECT_EQ(got, routes);
  }
  // An IPv6 VTEP: a 16-octet next hop.
  std::vector<uint8_t> out6;
  ASSERT_EQ(encode_evpn_reach(evpn_attrs("fd00:18::2"), routes, {}, out6), 4u);
  auto u6 = split(out6, {});
  EXPECT_EQ(u6[0].update.mp_reach->next_hops, std::vector<IpAddress>{ip("fd00:18::2")});
  EXPECT_EQ(encode_evpn_reach(evpn_attrs("198.18.0.2"), {}, {}, out6), 0u);
}

TEST(EvpnEncode, WithdrawSplitsAtTheMessageSize) {
  auto routes = many_mac_routes(300);
  std::vector<uint8_t> out;
  size_t n = encode_evpn_withdraw(routes, {}, out);
  auto updates = split(out, {});
  ASSERT_EQ(updates.size(), n);
  EXPECT_EQ(n, 3u);
  std::vector<EvpnRoute> got;
  for (const auto& d : updates) {
    EXPECT_FALSE(d.update.attrs.has_value());
    ASSERT_TRUE(d.update.mp_unreach.has_value());
    EXPECT_EQ(d.update.mp_unreach->family, kL2vpnEvpn);
    got.insert(got.end(), d.update.mp_unreach->evpn.begin(), d.update.mp_unreach->evpn.end());
  }
  EXPECT_EQ(got, routes);
  // One route, bytes exactly: header, no withdrawn routes, MP_UNREACH (AFI 25, SAFI 70) only.
  std::vector<uint8_t> one;
  ASSERT_EQ(encode_evpn_withdraw(std::span<const EvpnRoute>(routes.data(), 1), {}, one), 1u);
  EXPECT_EQ(one, test::message(MessageType::Update,
                               test::update_body({},
                                                 hex("80 0f 26 0019 46 02 21 0001c61200020064"
                                                     "00000000000000000000 00000000 30 020000000000"
                                                     "00 000064"),
                                                 {})));
}

TEST(EvpnEncode, UnknownRoutesPassThrough) {
  // An opaque route received from a peer is written back as it came.
  auto routes = std::vector<EvpnRoute>{decoded("09 03 010203"), decoded(kImet)};
  std::vector<uint8_t> out;
  ASSERT_EQ(encode_evpn_reach(evpn_attrs("198.18.0.2"), routes, {}, out), 1u);
  EXPECT_EQ(split(out, {})[0].update.mp_reach->evpn, routes);
}

}  // namespace
}  // namespace isthmus::bgp
