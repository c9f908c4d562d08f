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

class MacVrfRibTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (bgp::PeerId id : {1u, 2u}) {
      bgp::PeerInfo p;
      p.id = id;
      p.address = IpAddress::v4(0xc6120000 + id);
      p.remote_as = 65000;
      p.router_id = 0xc6120000 + id;
      p.ibgp = true;
      p.rr_client = true;
      p.local_address = ip("198.18.0.254");
      p.families = {bgp::kL2vpnEvpn};
      rib_.peer_up(p);
    }
  }
  void advertise(bgp::PeerId peer, std::string_view rd_text, std::string_view m,
                 std::optional<IpAddress> addr, uint32_t rt_vni,
                 std::optional<bgp::MacMobility> mobility = std::nullopt) {
    bgp::EvpnMacIp r;
    r.rd = rd(rd_text);
    r.mac = mac(m);
    r.ip = addr;
    r.label1 = rt_vni;
    PathAttributes a;
    a.next_hop = IpAddress::v4(0xc6120000 + peer);  // the VTEP: 198.18.0.<peer>
    a.local_pref = 100;
    a.ext_communities.push_back(bgp::route_target_as2(65000, rt_vni));
    if (mobility) a.ext_communities.push_back(mobility->encode());
    rib_.update_evpn(peer, std::vector{bgp::EvpnRoute{r}}, a);
  }
  void imet(bgp::PeerId peer, std::string_view rd_text, uint32_t rt_vni) {
    bgp::EvpnImet r;
    r.rd = rd(rd_text);
    r.originator = IpAddress::v4(0xc6120000 + peer);
    PathAttributes a;
    a.next_hop = r.originator;
    a.ext_communities.push_back(bgp::route_target_as2(65000, rt_vni));
    rib_.update_evpn(peer, std::vector{bgp::EvpnRoute{r}}, a);
  }

  bgp::RibConfig config() {
    bgp::RibConfig c;
    c.local_as = 65000;
    c.router_id = 0xc61200fe;
    return c;
  }
  bgp::Rib rib_{config()};
  const MacVrf vrf100_ = resolve(100, std::nullopt, {}, {}, 65000, ip("198.18.0.254"), 1);
};

TEST_F(MacVrfRibTest, ImportByRouteTargetAndMobility) {
  advertise(1, "198.18.0.1:1", "02:00:00:00:00:01", ip("100.64.1.1"), 100);
  advertise(1, "198.18.0.1:1", "02:00:00:00:00:01", std::nullopt, 100);
  advertise(1, "198.18.0.1:1", "02:00:00:00:00:02", std::nullopt, 100);
  advertise(2, "198.18.0.2:1", "02:00:00:00:00:03", std::nullopt, 200);  // another VNI's RT
  imet(1, "198.18.0.1:1", 100);
  imet(2, "198.18.0.2:1", 100);
  imet(2, "198.18.0.2:2", 200);
  rib_.flush();

  VrfView v = view(rib_, vrf100_);
  ASSERT_EQ(v.macs.size(), 2u);
  EXPECT_EQ(v.macs[0].best.mac, mac("02:00:00:00:00:01"));
  EXPECT_EQ(v.macs[0].best.vtep, ip("198.18.0.1"));
  EXPECT_EQ(v.macs[0].ips, std::vector{ip("100.64.1.1")});
  EXPECT_EQ(v.macs[0].advertisements, 2u);  // MAC-only and MAC/IP route of one VTEP
  EXPECT_EQ(v.flood_vteps, (std::vector{ip("198.18.0.1"), ip("198.18.0.2")}));
  EXPECT_EQ(v.routes, 5u);

  // The MAC moves to VTEP 2 with a higher sequence number (RFC 7432 §15.1).
  advertise(2, "198.18.0.2:1", "02:00:00:00:00:01", ip("100.64.1.1"), 100,
            bgp::MacMobility{.sticky = false, .sequence = 1});
  rib_.flush();
  v = view(rib_, vrf100_);
  EXPECT_EQ(v.macs[0].best.vtep, ip("198.18.0.2"));
  EXPECT_EQ(v.macs[0].best.sequence, 1u);
  EXPECT_EQ(v.macs[0].ips, std::vector{ip("100.64.1.1")});
  EXPECT_EQ(v.macs[0].advertisements, 3u);
}

// RFC 7432 §15.1: a MAC that appears locally while another VTEP advertises it goes out with a
// higher sequence number, and then wins everywhere.
TEST_F(MacVrfRibTest, LocalMacTakesOverWithTheNextSequence) {
  const MacAddress m = mac("02:00:00:00:00:09");
  EXPECT_EQ(local_sequence(rib_, vrf100_, m), 0u);  // nobody else has it
  advertise(1, "198.18.0.1:1", "02:00:00:00:00:09", std::nullopt, 100,
            bgp::MacMobility{.sticky = false, .sequence = 4});
  rib_.flush();
  const uint32_t seq = local_sequence(rib_, vrf100_, m);
  EXPECT_EQ(seq, 5u);
  auto [route, attrs] = mac_route(vrf100_, ip("198.18.0.254"), m, ip("100.64.1.9"), seq);
  EXPECT_EQ(std::get<bgp::EvpnMacIp>(route.route).label1, 100u);
  rib_.originate_evpn(route, attrs);
  rib_.flush();
  const VrfView v = view(rib_, vrf100_);
  ASSERT_EQ(v.macs.size(), 1u);
  EXPECT_EQ(v.macs[0].best.vtep, ip("198.18.0.254"));
  EXPECT_EQ(v.macs[0].best.peer, bgp::kLocalPeer);
  EXPECT_EQ(v.macs[0].best.sequence, 5u);
  EXPECT_EQ(local_sequence(rib_, vrf100_, m), 5u);  // our own route does not count
}

// Our own type-3 route is in the Loc-RIB (and goes to peers) but is not a remote VTEP.
TEST_F(MacVrfRibTest, OwnImetIsNotARemoteVtep) {
  auto [route, attrs] = imet_route(vrf100_, ip("198.18.0.254"));
  rib_.originate_evpn(route, attrs);
  imet(1, "198.18.0.1:1", 100);
  rib_.flush();
  const VrfView v = view(rib_, vrf100_);
  EXPECT_EQ(v.flood_vteps, std::vector{ip("198.18.0.1")});
  EXPECT_EQ(v.routes, 2u);
  rib_.withdraw_originated_evpn(route);
  rib_.flush();
  EXPECT_EQ(view(rib_, vrf100_).routes, 1u);
}

TEST(RtMemberships, OnePerDistinctImportRouteTarget) {
  MacVrf a = resolve(100, std::nullopt, {}, {}, 65000, *IpAddress::parse("198.18.0.1"), 1);
  MacVrf b = resolve(200, std::nullopt, {}, {}, 65000, *IpAddress::parse("198.18.0.1"), 2);
  b.import_rts.push_back(a.import_rts[0]);  // shared: listed once
  const std::vector<MacVrf> vrfs{a, b};
  auto m = rt_memberships(vrfs, 65000);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0], bgp::RtMembership::of(65000, bgp::route_target_as2(65000, 100).bytes));
  EXPECT_EQ(m[1], bgp::RtMembership::of(65000, bgp::route_target_as2(65000, 200).bytes));
  EXPECT_EQ(rt_membership_attributes().next_hop, IpAddress::v4(0));
}

}  // namespace
}  // namespace isthmus::evpn
