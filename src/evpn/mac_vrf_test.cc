#include "evpn/mac_vrf.h"

#include <gtest/gtest.h>

#include "bgp/wire/ext_community.h"

namespace isthmus::evpn {
namespace {

using bgp::ExtCommunity;
using bgp::PathAttributes;

IpAddress ip(std::string_view s) { return *IpAddress::parse(s); }
MacAddress mac(std::string_view s) { return *MacAddress::parse(s); }
bgp::RouteDistinguisher rd(std::string_view s) { return *bgp::RouteDistinguisher::parse(s); }

TEST(MacVrf, ResolveDerivesRdAndRouteTargets) {
  const MacVrf m = resolve(100, std::nullopt, {}, {}, 65000, ip("198.18.0.1"), 3);
  EXPECT_EQ(m.rd.to_string(), "198.18.0.1:3");
  ASSERT_EQ(m.import_rts.size(), 1u);
  EXPECT_EQ(m.import_rts[0], bgp::route_target_as2(65000, 100));
  EXPECT_EQ(m.export_rts, m.import_rts);

  const std::vector<ExtCommunity> imp{bgp::route_target_as2(65001, 7)};
  const MacVrf n = resolve(200, rd("65000:200"), imp, {}, 65000, ip("198.18.0.1"), 4);
  EXPECT_EQ(n.rd.to_string(), "65000:200");
  EXPECT_EQ(n.import_rts, imp);
  EXPECT_EQ(n.export_rts, std::vector{bgp::route_target_as2(65000, 200)});
}

TEST(MacVrf, WinsAsRfc7432Section15) {
  MacAdvertisement a;
  a.mac = mac("02:00:00:00:00:01");
  a.vtep = ip("198.18.0.2");
  MacAdvertisement b = a;
  b.vtep = ip("198.18.0.1");
  EXPECT_TRUE(wins(b, a));  // same sequence: the lower VTEP address
  EXPECT_FALSE(wins(a, b));
  a.sequence = 1;
  EXPECT_TRUE(wins(a, b));  // the higher sequence: the MAC moved
  b.sticky = true;
  EXPECT_TRUE(wins(b, a));  // a static MAC does not move
}

TEST(MacVrf, ImetRouteJoinsTheFloodList) {
  const MacVrf m = resolve(100, std::nullopt, {}, {}, 65000, ip("198.18.0.1"), 1);
  auto [route, attrs] = imet_route(m, ip("198.18.0.1"));
  const auto& i = std::get<bgp::EvpnImet>(route.route);
  EXPECT_EQ(i.rd.to_string(), "198.18.0.1:1");
  EXPECT_EQ(i.ethernet_tag, 0u);
  EXPECT_EQ(i.originator, ip("198.18.0.1"));
  EXPECT_EQ(attrs.next_hop, ip("198.18.0.1"));
  EXPECT_EQ(attrs.ext_communities,
            (std::vector{bgp::route_target_as2(65000, 100), bgp::Encapsulation{}.encode()}));
  ASSERT_TRUE(attrs.pmsi_tunnel.has_value());
  EXPECT_EQ(attrs.pmsi_tunnel->tunnel_type, bgp::PmsiTunnel::kIngressReplication);
  EXPECT_EQ(attrs.pmsi_tunnel->label, 100u);
  EXPECT_EQ(attrs.pmsi_tunnel->endpoint(), ip("198.18.0.1"));
}

}  // namespace
}  // namespace isthmus::evpn
