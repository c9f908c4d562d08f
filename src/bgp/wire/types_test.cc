#include "bgp/wire/types.h"

#include <gtest/gtest.h>

#include "bgp/wire/test_util.h"

namespace isthmus::bgp {
namespace {

using Seg = AsPathSegment;

TEST(Family, NamesRoundTrip) {
  for (auto f : {kIpv4Unicast, kIpv6Unicast, kL2vpnEvpn, kIpv4RouteTarget})
    EXPECT_EQ(Family::from_name(f.name()), f) << f.name();
  EXPECT_EQ(kIpv4Unicast.name(), "ipv4-unicast");
  EXPECT_EQ(kL2vpnEvpn.name(), "l2vpn-evpn");
  EXPECT_EQ(kIpv4RouteTarget.name(), "ipv4-rtc");
  Family odd{static_cast<Afi>(1), static_cast<Safi>(128)};
  EXPECT_EQ(odd.name(), "afi-1/safi-128");
  EXPECT_EQ(Family::from_name("afi-1/safi-128"), odd);
  EXPECT_EQ(Family::from_name("ipv4"), std::nullopt);
  EXPECT_EQ(Family::from_name("afi-1/safi-256"), std::nullopt);
  EXPECT_EQ(Family::from_name("afi-/safi-1"), std::nullopt);
}

TEST(AsPath, LengthCountsSetsAsOneAndConfedsAsZero) {
  AsPath p{{Seg{Seg::Type::ConfedSequence, {64512, 64513}},
            Seg{Seg::Type::Sequence, {65001, 65002}}, Seg{Seg::Type::Set, {65003, 65004}}}};
  EXPECT_EQ(p.length(), 3u);
  EXPECT_TRUE(p.contains(64513));
  EXPECT_FALSE(p.contains(1));
  EXPECT_EQ(p.neighbor_as(), 65001u);
  EXPECT_EQ(p.origin_as(), std::nullopt);  // ends in an AS_SET
  EXPECT_EQ(p.to_string(), "(64512 64513) 65001 65002 {65003,65004}");
  AsPath q{{Seg{Seg::Type::Sequence, {65001, 65002}}}};
  EXPECT_EQ(q.origin_as(), 65002u);
  EXPECT_EQ(AsPath{}.neighbor_as(), std::nullopt);
  EXPECT_EQ(AsPath{}.to_string(), "");
}

TEST(AsPath, PrependOpensNewSegmentWhenNeeded) {
  AsPath p;
  p.prepend(1);
  p.prepend(2);
  ASSERT_EQ(p.segments.size(), 1u);
  EXPECT_EQ(p.segments[0].asns, (std::vector<uint32_t>{2, 1}));
  AsPath s{{Seg{Seg::Type::Set, {5, 6}}}};
  s.prepend(7);
  EXPECT_EQ(s.to_string(), "7 {5,6}");
  AsPath full{{Seg{Seg::Type::Sequence, std::vector<uint32_t>(255, 9)}}};
  full.prepend(1);
  ASSERT_EQ(full.segments.size(), 2u);
  EXPECT_EQ(full.segments[0].asns, std::vector<uint32_t>{1});
  EXPECT_EQ(full.length(), 256u);
}

TEST(Notification, Describe) {
  EXPECT_EQ((Notification{ErrorCode::UpdateMessage, update_error::kMalformedAsPath, {}}).describe(),
            "UPDATE Message Error/Malformed AS_PATH");
  EXPECT_EQ(Notification::shutdown(cease::kAdministrativeShutdown, "maintenance").describe(),
            "Cease/Administrative Shutdown (\"maintenance\")");
  EXPECT_EQ((Notification{ErrorCode::MessageHeader, 2, {0x00, 0x12}}).describe(),
            "Message Header Error/Bad Message Length (data 0012)");
  EXPECT_EQ((Notification{ErrorCode::HoldTimerExpired, 0, {}}).describe(),
            "Hold Timer Expired/Unspecific");
  EXPECT_EQ((Notification{static_cast<ErrorCode>(42), 7, {}}).describe(),
            "Error Code 42/Subcode 7");
  EXPECT_EQ((Notification{ErrorCode::Cease, cease::kHardReset, {}}).describe(), "Cease/Hard Reset");
  // A length octet longer than the data is shown as data, not read past the end.
  EXPECT_EQ((Notification{ErrorCode::Cease, 2, {5, 'a'}}).describe(),
            "Cease/Administrative Shutdown (data 0561)");
}

TEST(Notification, ShutdownIsCutAt255OctetsOnACharacterBoundary) {
  std::string reason(254, 'x');
  reason += "\xc3\xa9";  // é crosses the 255-octet limit
  auto n = Notification::shutdown(cease::kAdministrativeReset, reason);
  EXPECT_EQ(n.code, ErrorCode::Cease);
  EXPECT_EQ(n.subcode, cease::kAdministrativeReset);
  ASSERT_EQ(n.data.size(), 255u);
  EXPECT_EQ(n.data[0], 254);
  EXPECT_EQ(Notification::shutdown(2, "").data, std::vector<uint8_t>{0});
}

TEST(ExtCommunity, Names) {
  auto ec = [](std::string_view h) {
    ExtCommunity c;
    auto b = test::hex(h);
    std::copy(b.begin(), b.end(), c.bytes.begin());
    return c.to_string();
  };
  EXPECT_EQ(ec("0002 fde8 00000064"), "rt:65000:100");
  EXPECT_EQ(ec("0102 64400001 0005"), "rt:100.64.0.1:5");
  EXPECT_EQ(ec("0202 00011170 0064"), "rt:70000:100");
  EXPECT_EQ(ec("0103 c6120001 0005"), "soo:198.18.0.1:5");
  EXPECT_EQ(ec("0003 fde8 00000001"), "soo:65000:1");
  EXPECT_EQ(ec("030c 0000 0000 0008"), "encap:8");
  EXPECT_EQ(ec("0600 0000 0000 0001"), "mac-mobility:1");     // EVPN names: evpn_test.cc
  EXPECT_EQ(ec("4002 fde8 00000064"), "0x4002fde800000064");  // non-transitive RT: not named
}

TEST(EndOfRib, Families) {
  EXPECT_EQ(end_of_rib_family(Update{}), kIpv4Unicast);
  Update u;
  u.mp_unreach = MpUnreach{kL2vpnEvpn, {}};
  EXPECT_EQ(end_of_rib_family(u), kL2vpnEvpn);
  u.mp_unreach->withdrawn.push_back(test::pfx("100.64.0.0/10"));
  EXPECT_EQ(end_of_rib_family(u), std::nullopt);
  Update a;
  a.attrs = PathAttributes{};
  EXPECT_EQ(end_of_rib_family(a), std::nullopt);
}

}  // namespace
}  // namespace isthmus::bgp
