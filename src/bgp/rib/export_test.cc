// Export rules: route reflection matrix (RFC 4456 §6, §8), eBGP rewrite (RFC 4271 §5.1),
// well-known communities (RFC 1997).
#include "bgp/rib/export.h"

#include <gtest/gtest.h>

#include "bgp/rib/test_util.h"

namespace isthmus::bgp {
namespace {

using testing::attrs;
using testing::ip;

constexpr uint32_t kClusterId = 0xc61200fe;

ExportTarget ibgp(bool client) {
  ExportTarget t;
  t.ibgp = true;
  t.rr_client = client;
  t.local_address = ip("198.18.0.254");
  t.local_as = 65000;
  t.cluster_id = kClusterId;
  return t;
}

ExportTarget ebgp(uint32_t remote_as) {
  ExportTarget t;
  t.remote_as = remote_as;
  t.local_address = ip("198.19.0.1");
  t.local_as = 65000;
  t.cluster_id = kClusterId;
  return t;
}

ExportSource source(PeerId peer, bool ibgp, bool client, uint32_t router_id) {
  ExportSource s;
  s.peer = peer;
  s.ibgp = ibgp;
  s.rr_client = client;
  s.router_id = router_id;
  return s;
}
ExportSource from_ibgp(bool client) { return source(1, true, client, 0xc6120001); }
ExportSource from_ebgp() { return source(2, false, false, 0xc6130001); }
ExportSource from_local() { return source(kLocalPeer, false, false, 0xc61200fe); }

TEST(Export, ReflectionMatrix) {
  struct Case {
    bool from_client, to_client, sent;
  } cases[] = {
      {true, true, true},     // client -> clients
      {true, false, true},    // client -> non-clients
      {false, true, true},    // non-client -> clients
      {false, false, false},  // non-client -> non-clients: plain iBGP split horizon
  };
  for (const auto& c : cases) {
    PathAttributes a = attrs({65001});
    a.local_pref = 150;
    EXPECT_EQ(export_rewrite(from_ibgp(c.from_client), ibgp(c.to_client), kIpv4Unicast, a), c.sent)
        << c.from_client << c.to_client;
    if (!c.sent) continue;
    EXPECT_EQ(a.originator_id, 0xc6120001u);  // RFC 4456 §8: the source's router id
    EXPECT_EQ(a.cluster_list, std::vector<uint32_t>{kClusterId});
    EXPECT_EQ(a.next_hop, ip("198.18.1.1"));  // a reflector keeps the next hop
    EXPECT_EQ(a.local_pref, 150u);
    EXPECT_EQ(a.as_path, testing::seq({65001}));
  }
}

TEST(Export, ReflectionKeepsOriginatorAndPrependsCluster) {
  PathAttributes a = attrs({});
  a.originator_id = 0x01010101;
  a.cluster_list = {0x02020202};
  ASSERT_TRUE(export_rewrite(from_ibgp(true), ibgp(false), kIpv4Unicast, a));
  EXPECT_EQ(a.originator_id, 0x01010101u);
  EXPECT_EQ(a.cluster_list, (std::vector<uint32_t>{kClusterId, 0x02020202}));
}

TEST(Export, EbgpLearnedToIbgp) {
  PathAttributes a = attrs({65001});
  a.med = 5;
  ExportTarget to = ibgp(false);
  ASSERT_TRUE(export_rewrite(from_ebgp(), to, kIpv4Unicast, a));
  EXPECT_EQ(a.local_pref, kDefaultLocalPref);
  EXPECT_EQ(a.med, 5u);                       // MED stays inside the AS
  EXPECT_EQ(a.next_hop, ip("198.18.1.1"));    // no next-hop-self configured
  EXPECT_FALSE(a.originator_id.has_value());  // not reflected
  a = attrs({65001});
  to.next_hop_self = true;
  ASSERT_TRUE(export_rewrite(from_ebgp(), to, kIpv4Unicast, a));
  EXPECT_EQ(a.next_hop, ip("198.18.0.254"));
}

TEST(Export, LocalRouteGetsOurNextHop) {
  PathAttributes a = attrs({}, "0.0.0.0");
  ASSERT_TRUE(export_rewrite(from_local(), ibgp(false), kIpv4Unicast, a));
  EXPECT_EQ(a.next_hop, ip("198.18.0.254"));
  EXPECT_EQ(a.local_pref, kDefaultLocalPref);

  ExportTarget v6 = ibgp(false);
  v6.local_address_v6 = ip("fd00:db8::1");
  PathAttributes b = attrs({}, "::");
  ASSERT_TRUE(export_rewrite(from_local(), v6, kIpv6Unicast, b));
  EXPECT_EQ(b.next_hop, ip("fd00:db8::1"));
}

TEST(Export, ToEbgp) {
  PathAttributes a = attrs({65001});
  a.local_pref = 300;
  a.med = 7;
  a.originator_id = 1;
  a.cluster_list = {2};
  ASSERT_TRUE(export_rewrite(from_ibgp(false), ebgp(65100), kIpv4Unicast, a));
  EXPECT_EQ(a.as_path, testing::seq({65000, 65001}));  // RFC 4271 §5.1.2
  EXPECT_EQ(a.next_hop, ip("198.19.0.1"));
  EXPECT_FALSE(a.local_pref.has_value());
  EXPECT_FALSE(a.originator_id.has_value());
  EXPECT_TRUE(a.cluster_list.empty());
  EXPECT_EQ(a.med, 7u);  // set inside our AS: may go out
}

TEST(Export, EvpnKeepsItsVtepNextHopToEbgp) {
  PathAttributes a = attrs({65001}, "198.18.0.7");  // the VTEP
  ASSERT_TRUE(export_rewrite(from_ebgp(), ebgp(65002), kL2vpnEvpn, a));
  EXPECT_EQ(a.next_hop, ip("198.18.0.7"));
  EXPECT_EQ(a.as_path, testing::seq({65000, 65001}));
  // A local EVPN route without a next hop gets ours; unicast routes always do.
  PathAttributes local = attrs({}, "0.0.0.0");
  ASSERT_TRUE(export_rewrite(from_local(), ebgp(65002), kL2vpnEvpn, local));
  EXPECT_EQ(local.next_hop, ip("198.19.0.1"));
  PathAttributes unicast = attrs({65001}, "198.18.0.7");
  ASSERT_TRUE(export_rewrite(from_ebgp(), ebgp(65002), kIpv4Unicast, unicast));
  EXPECT_EQ(unicast.next_hop, ip("198.19.0.1"));
}

TEST(Export, RtMembershipToClientsIsOurs) {
  // RFC 4684 §3.2: ORIGINATOR_ID and next hop of the reflector, to clients only.
  ExportTarget client = ibgp(true);
  client.router_id = 0xc61200fe;
  PathAttributes a = attrs({}, "198.18.0.7");
  ASSERT_TRUE(export_rewrite(from_ibgp(true), client, kIpv4RouteTarget, a));
  EXPECT_EQ(a.originator_id, 0xc61200feu);
  EXPECT_EQ(a.next_hop, ip("198.18.0.254"));
  EXPECT_EQ(a.cluster_list, std::vector<uint32_t>{kClusterId});
  PathAttributes b = attrs({}, "198.18.0.7");
  ASSERT_TRUE(export_rewrite(from_ibgp(true), ibgp(false), kIpv4RouteTarget, b));
  EXPECT_EQ(b.originator_id, 0xc6120001u);  // reflected as any route
  EXPECT_EQ(b.next_hop, ip("198.18.0.7"));
}

TEST(Export, MedFromOneNeighbourAsNotPassedToAnother) {
  PathAttributes a = attrs({65001});
  a.med = 7;
  ASSERT_TRUE(export_rewrite(from_ebgp(), ebgp(65100), kIpv4Unicast, a));
  EXPECT_FALSE(a.med.has_value());
}

TEST(Export, NotToTheAsAlreadyInThePath) {
  PathAttributes a = attrs({65001, 65100});
  EXPECT_FALSE(export_rewrite(from_ebgp(), ebgp(65100), kIpv4Unicast, a));
}

TEST(Export, WellKnownCommunities) {
  PathAttributes no_export = attrs({65001});
  no_export.communities = {kNoExport};
  PathAttributes copy = no_export;
  EXPECT_FALSE(export_rewrite(from_ibgp(true), ebgp(65100), kIpv4Unicast, copy));
  copy = no_export;
  EXPECT_TRUE(export_rewrite(from_ibgp(true), ibgp(true), kIpv4Unicast, copy));

  PathAttributes subconfed = attrs({65001});
  subconfed.communities = {kNoExportSubconfed};
  EXPECT_FALSE(export_rewrite(from_local(), ebgp(65100), kIpv4Unicast, subconfed));

  PathAttributes no_adv = attrs({65001});
  no_adv.communities = {kNoAdvertise};
  copy = no_adv;
  EXPECT_FALSE(export_rewrite(from_ibgp(true), ibgp(true), kIpv4Unicast, copy));
  copy = no_adv;
  EXPECT_FALSE(export_rewrite(from_ebgp(), ibgp(false), kIpv4Unicast, copy));
}

// ---- RFC 2545 §3: link-local next hop --------------------------------------------------------

ExportTarget on_link(ExportTarget t) {
  t.local_address_v6 = ip("fd00:18::1");
  t.local_link_local = ip("fe80::1");
  return t;
}

TEST(ExportLinkLocal, EbgpIpv6RouteGetsOurLinkLocal) {
  ExportTarget to = on_link(ebgp(65100));
  to.local_address = ip("fd00:18::1");
  PathAttributes a = attrs({65001}, "fd00:19::7");
  a.link_local_next_hop = ip("fe80::7");  // the source's, meaningless on our link
  ASSERT_TRUE(export_rewrite(from_ebgp(), to, kIpv6Unicast, a));
  EXPECT_EQ(a.next_hop, ip("fd00:18::1"));
  EXPECT_EQ(a.link_local_next_hop, ip("fe80::1"));
}

TEST(ExportLinkLocal, NotWithoutOne) {
  // A multi-hop session (no local_link_local): only the global next hop, and the source's
  // link-local does not survive a next-hop change either.
  ExportTarget to = ebgp(65100);
  to.local_address = ip("fd00:18::1");
  PathAttributes a = attrs({65001}, "fd00:19::7");
  a.link_local_next_hop = ip("fe80::7");
  ASSERT_TRUE(export_rewrite(from_ebgp(), to, kIpv6Unicast, a));
  EXPECT_EQ(a.next_hop, ip("fd00:18::1"));
  EXPECT_FALSE(a.link_local_next_hop.has_value());
}

TEST(ExportLinkLocal, OnlyForIpv6Routes) {
  ExportTarget to = on_link(ebgp(65100));
  PathAttributes a = attrs({65001});
  ASSERT_TRUE(export_rewrite(from_ebgp(), to, kIpv4Unicast, a));
  EXPECT_EQ(a.next_hop, ip("198.19.0.1"));
  EXPECT_FALSE(a.link_local_next_hop.has_value());
}

TEST(ExportLinkLocal, Ipv6RouteOnIpv4Session) {
  // The IPv4 session's interface has a global IPv6 address and a link-local one: both go.
  ExportTarget to = on_link(ibgp(false));
  PathAttributes a = attrs({}, "::");
  ASSERT_TRUE(export_rewrite(from_local(), to, kIpv6Unicast, a));
  EXPECT_EQ(a.next_hop, ip("fd00:18::1"));
  EXPECT_EQ(a.link_local_next_hop, ip("fe80::1"));
}

TEST(ExportLinkLocal, NotTwiceWhenTheOnlyAddressIsLinkLocal) {
  // An interface with no global IPv6 address: the link-local one is the (only) next hop.
  ExportTarget to = ibgp(false);
  to.local_address_v6 = ip("fe80::1");
  to.local_link_local = ip("fe80::1");
  PathAttributes a = attrs({}, "::");
  ASSERT_TRUE(export_rewrite(from_local(), to, kIpv6Unicast, a));
  EXPECT_EQ(a.next_hop, ip("fe80::1"));
  EXPECT_FALSE(a.link_local_next_hop.has_value());
}

TEST(ExportLinkLocal, IbgpNextHopSelf) {
  ExportTarget to = on_link(ibgp(false));
  to.next_hop_self = true;
  PathAttributes a = attrs({65001}, "fd00:19::7");
  ASSERT_TRUE(export_rewrite(from_ebgp(), to, kIpv6Unicast, a));
  EXPECT_EQ(a.next_hop, ip("fd00:18::1"));
  EXPECT_EQ(a.link_local_next_hop, ip("fe80::1"));
}

TEST(ExportLinkLocal, UnchangedNextHopKeepsWhatItHas) {
  // Reflection and iBGP without next-hop-self leave the next hop, and with it the link-local
  // next hop the route arrived with (or its absence), alone.
  ExportTarget to = on_link(ibgp(true));
  PathAttributes a = attrs({65001}, "fd00:19::7");
  a.link_local_next_hop = ip("fe80::7");
  ASSERT_TRUE(export_rewrite(from_ibgp(true), to, kIpv6Unicast, a));
  EXPECT_EQ(a.next_hop, ip("fd00:19::7"));
  EXPECT_EQ(a.link_local_next_hop, ip("fe80::7"));

  PathAttributes b = attrs({65001}, "fd00:19::7");
  ASSERT_TRUE(export_rewrite(from_ebgp(), on_link(ibgp(false)), kIpv6Unicast, b));
  EXPECT_EQ(b.next_hop, ip("fd00:19::7"));
  EXPECT_FALSE(b.link_local_next_hop.has_value());
}

TEST(ExportLinkLocal, PolicyNextHopSelfIsResolvedWithIt) {
  // A policy's `next_hop: self` leaves ::, resolved after the policy.
  ExportTarget to = on_link(ibgp(false));
  PathAttributes a = attrs({65001}, "::");
  ASSERT_TRUE(resolve_self_next_hop(to, kIpv6Unicast, a));
  EXPECT_EQ(a.next_hop, ip("fd00:18::1"));
  EXPECT_EQ(a.link_local_next_hop, ip("fe80::1"));
  // Anything else is left as the policy made it.
  PathAttributes b = attrs({65001}, "fd00:19::7");
  b.link_local_next_hop = ip("fe80::7");
  ASSERT_TRUE(resolve_self_next_hop(to, kIpv6Unicast, b));
  EXPECT_EQ(b.next_hop, ip("fd00:19::7"));
  EXPECT_EQ(b.link_local_next_hop, ip("fe80::7"));
}

TEST(ExportNextHopSelfPolicy, ResolvedPerFamily) {
  // IPv4 route, 0.0.0.0 from the policy: our IPv4 address.
  PathAttributes a = attrs({65001}, "0.0.0.0");
  ASSERT_TRUE(resolve_self_next_hop(ibgp(false), kIpv4Unicast, a));
  EXPECT_EQ(a.next_hop, ip("198.18.0.254"));
  // IPv6 route on an IPv4 session whose interface has no IPv6 address: cannot be sent.
  PathAttributes b = attrs({65001}, "::");
  EXPECT_FALSE(resolve_self_next_hop(ibgp(false), kIpv6Unicast, b));
  // IPv6 route with an IPv4 next hop set to 0.0.0.0 by the policy: our IPv6 address.
  ExportTarget v6 = ibgp(false);
  v6.local_address_v6 = ip("fd00:18::1");
  PathAttributes c = attrs({65001}, "0.0.0.0");
  ASSERT_TRUE(resolve_self_next_hop(v6, kIpv6Unicast, c));
  EXPECT_EQ(c.next_hop, ip("fd00:18::1"));
  EXPECT_FALSE(c.link_local_next_hop.has_value());
}

}  // namespace
}  // namespace isthmus::bgp
