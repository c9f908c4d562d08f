// EVPN policy terms through the RIB: a compiled Policy bound as the daemon binds it (PolicyFn),
// filtering EVPN routes on import and on export, per route where the outcome depends on the route.
#include <gtest/gtest.h>

#include <map>

#include "bgp/policy/policy.h"
#include "bgp/rib/rib.h"
#include "bgp/rib/test_encoder.h"
#include "bgp/rib/test_util.h"
#include "bgp/wire/ext_community.h"

// The tests build definitions with designated initializers and leave the rest defaulted.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace isthmus::bgp::policy {
namespace {

using testing::FakeEncoder;
using testing::FakeMessage;
using testing::ip;

constexpr uint32_t kLocalAs = 65000;

// As src/daemon/build.cc binds it.
PolicyFn bind(std::shared_ptr<const Policy> p) {
  return [p](const PolicyRoute& r, PathAttributes& a) { return p->apply(r.prefix, a, r.evpn); };
}

std::shared_ptr<const Policy> compile_one(std::vector<Term> terms) {
  Definitions d;
  d.policies.push_back({"p", std::move(terms)});
  auto set = compile(d, kLocalAs);
  EXPECT_TRUE(set) << (set ? "" : set.error().message);
  return set ? set->find("p") : nullptr;
}

EvpnRoute mac_route(std::string_view mac, uint32_t vni) {
  EvpnMacIp m;
  m.rd = *RouteDistinguisher::parse("198.18.0.1:" + std::to_string(vni));
  m.mac = *MacAddress::parse(mac);
  m.label1 = vni;
  return EvpnRoute{m};
}
EvpnRoute ethernet_ad(uint32_t vni) {
  EvpnEthernetAd r;
  r.rd = *RouteDistinguisher::parse("198.18.0.1:" + std::to_string(vni));
  r.ethernet_tag = 0;
  r.label = vni;
  return EvpnRoute{r};
}
EvpnRoute imet(uint32_t vni) {
  EvpnImet i;
  i.rd = *RouteDistinguisher::parse("198.18.0.1:" + std::to_string(vni));
  i.originator = ip("198.18.0.1");
  return EvpnRoute{i};
}
PathAttributes vtep_attrs(std::optional<uint32_t> pmsi_vni = std::nullopt) {
  PathAttributes a = testing::attrs({}, "198.18.0.1");
  a.ext_communities = {Encapsulation{}.encode()};
  if (pmsi_vni) a.pmsi_tunnel = PmsiTunnel::ingress_replication(*pmsi_vni, ip("198.18.0.1"));
  return a;
}

class EvpnPolicyRibTest : public ::testing::Test {
 protected:
  RibConfig config() {
    RibConfig c;
    c.local_as = kLocalAs;
    c.router_id = 0xc61200fe;  // 198.18.0.254
    c.encoder = &enc_;
    return c;
  }
  // An iBGP route-reflector client speaking L2VPN EVPN.
  PeerInfo client(PeerId id) {
    PeerInfo p;
    p.id = id;
    p.address = IpAddress::v4(0xc6120000 + id);  // 198.18.0.<id>
    p.remote_as = kLocalAs;
    p.router_id = 0xc6120000 + id;
    p.ibgp = true;
    p.rr_client = true;
    p.local_address = ip("198.18.0.254");
    p.families = {kL2vpnEvpn};
    return p;
  }
  void up(const PeerInfo& p) {
    rib_.peer_up(p);
    received(p.id);
  }
  // What the peer was told, as route text -> VNI of the route (label or PMSI_TUNNEL label).
  std::map<std::string, std::optional<uint32_t>> received(PeerId peer) {
    std::map<std::string, std::optional<uint32_t>> v;
    std::vector<uint8_t> out;
    while (rib_.has_output(peer))
      if (rib_.take_output(peer, out, 1 << 20) == 0) break;
    for (const auto& m : enc_.decode(out)) {
      for (const auto& r : m.evpn) {
        if (m.kind == FakeMessage::Kind::Reach)
          v[r.to_string()] = evpn_vni(r, m.attrs);
        else
          v.erase(r.to_string());
      }
    }
    return v;
  }
  // Routes of peer `from` that are in the Loc-RIB (accepted by import policy).
  size_t accepted_from(PeerId from) {
    size_t n = 0;
    rib_.for_each_evpn_route([&](std::span<const uint8_t>, std::span<const PathView> paths) {
      for (const auto& p : paths)
        if (p.peer == from && p.attrs) ++n;
    });
    return n;
  }

  FakeEncoder enc_;
  Rib rib_{config()};
};

TEST_F(EvpnPolicyRibTest, ImportPolicyKeepsOnlyTypes2And3OfVni100) {
  auto p =
      compile_one({Term{"", {.evpn_route_types = {2, 3}, .vnis = {100}}, {}, Verdict::Accept}});
  ASSERT_TRUE(p);
  PeerInfo in = client(1);
  in.import_policy = bind(p);
  in.import_policy_per_prefix = p->uses_prefix();
  up(in);
  up(client(2));

  // One UPDATE whose type-1 and type-2 routes carry the same label and ESI (the same non-key
  // NLRI data): the policy must still decide per route.
  rib_.update_evpn(1,
                   std::vector{mac_route("02:00:00:00:00:01", 100), ethernet_ad(100),
                               mac_route("02:00:00:00:00:02", 200)},
                   vtep_attrs());
  rib_.update_evpn(1, std::vector{imet(100)}, vtep_attrs(100));
  rib_.update_evpn(1, std::vector{imet(200)}, vtep_attrs(200));
  rib_.flush();

  EXPECT_EQ(received(2), (std::map<std::string, std::optional<uint32_t>>{
                             {mac_route("02:00:00:00:00:01", 100).to_string(), 100},
                             {imet(100).to_string(), 100},
                         }));
  EXPECT_EQ(accepted_from(1), 2u);
  const auto c = rib_.counters(1)->families[kL2vpnEvpn];
  EXPECT_EQ(c.received, 5u);  // rejected routes are still counted as received
  EXPECT_EQ(c.accepted, 2u);
}

TEST_F(EvpnPolicyRibTest, ImportPolicyRejectsARouteTarget) {
  auto p =
      compile_one({Term{"", {.route_targets = {route_target_as2(65000, 200)}}, {}, Verdict::Reject},
                   Term{"", {}, {}, Verdict::Accept}});
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->uses_prefix());
  PeerInfo in = client(1);
  in.import_policy = bind(p);
  in.import_policy_per_prefix = p->uses_prefix();
  up(in);
  up(client(2));
  PathAttributes rt100 = vtep_attrs(), rt200 = vtep_attrs();
  rt100.ext_communities.push_back(route_target_as2(65000, 100));
  rt200.ext_communities.push_back(route_target_as2(65000, 200));
  rib_.update_evpn(1, std::vector{mac_route("02:00:00:00:00:01", 100)}, rt100);
  rib_.update_evpn(1, std::vector{mac_route("02:00:00:00:00:02", 200)}, rt200);
  rib_.flush();
  auto v = received(2);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_TRUE(v.contains(mac_route("02:00:00:00:00:01", 100).to_string()));
}

TEST_F(EvpnPolicyRibTest, ExportPolicyPerRouteAndPerPeer) {
  auto p = compile_one({Term{"", {.vnis = {200}}, {}, Verdict::Accept}});
  ASSERT_TRUE(p);
  up(client(1));
  PeerInfo out = client(2);
  out.export_policy = bind(p);
  out.export_policy_per_prefix = p->uses_prefix();
  out.export_policy_id = "p";
  up(out);
  up(client(3));  // no policy: everything
  // The same attributes for all three: export decides per route, not once per attribute set.
  rib_.update_evpn(
      1,
      std::vector{mac_route("02:00:00:00:00:01", 100), mac_route("02:00:00:00:00:02", 200),
                  mac_route("02:00:00:00:00:03", 300)},
      vtep_attrs());
  rib_.flush();
  EXPECT_EQ(received(2), (std::map<std::string, std::optional<uint32_t>>{
                             {mac_route("02:00:00:00:00:02", 200).to_string(), 200}}));
  EXPECT_EQ(received(3).size(), 3u);
}

}  // namespace
}  // namespace isthmus::bgp::policy
