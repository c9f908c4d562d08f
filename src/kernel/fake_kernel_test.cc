// The fake keeps the kernel's rules that the reconciler depends on.
#include "kernel/fake_kernel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

namespace isthmus::kernel {
namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
MacAddress mac(const char* s) { return *MacAddress::parse(s); }

TEST(FakeKernel, NetworkOfABridgeAndAVxlanDevice) {
  FakeKernel k{FakeKernel::RouteChecks::Kernel};
  auto br = k.add_link({.name = "br100", .kind = "bridge", .mtu = 1450});
  ASSERT_TRUE(br.has_value());
  auto vx =
      k.add_link({.name = "vxlan100", .kind = "vxlan", .vxlan = VxlanInfo{100, ip("198.18.0.1")}});
  ASSERT_TRUE(vx.has_value());
  EXPECT_EQ(
      k.add_link({.name = "vxlan100", .kind = "vxlan", .vxlan = VxlanInfo{101}}).error().message,
      "RTM_NEWLINK vxlan100 (vxlan): File exists");
  EXPECT_EQ(
      k.add_link({.name = "vx", .kind = "vxlan", .vxlan = VxlanInfo{100}}).error().message,
      "RTM_NEWLINK vx (vxlan): File exists (A VXLAN device with the specified VNI already exists)");
  // Port flags need a bridge port; a master must be a bridge.
  EXPECT_FALSE(k.set_bridge_port(vx->index, BridgePortInfo{false, true}).has_value());
  EXPECT_FALSE(k.set_link(vx->index, LinkChange{.master = vx->index}).has_value());
  ASSERT_TRUE(k.set_link(vx->index, LinkChange{.up = true, .master = br->index}).has_value());
  ASSERT_TRUE(k.set_bridge_port(vx->index, BridgePortInfo{false, true}).has_value());
  // Two flood destinations; the same one twice fails.
  FdbEntry flood{vx->index, MacAddress{}, ip("198.18.0.2"), 0, 0, true, false};
  ASSERT_TRUE(k.add_fdb(flood, true).has_value());
  flood.dst = ip("198.18.0.3");
  ASSERT_TRUE(k.add_fdb(flood, true).has_value());
  EXPECT_FALSE(k.add_fdb(flood, true).has_value());
  // A remote MAC moves from one VTEP to another: replace keeps one entry.
  FdbEntry remote{vx->index, mac("02:00:00:00:02:01"), ip("198.18.0.2"), 0, 0, true, true};
  ASSERT_TRUE(k.add_fdb(remote, false).has_value());
  remote.dst = ip("198.18.0.3");
  ASSERT_TRUE(k.add_fdb(remote, false).has_value());
  EXPECT_EQ(k.fdb()->size(), 3u);
  ASSERT_TRUE(
      k.replace_neighbour({br->index, ip("100.64.1.7"), mac("02:00:00:00:02:01")}).has_value());
  ASSERT_TRUE(k.add_address({br->index, ip("100.64.1.1"), 24}).has_value());
  // A route needs its device up.
  EXPECT_EQ(
      k.replace_route({*Prefix::parse("100.64.9.0/24"), std::nullopt, br->index}).error().message,
      "RTM_NEWROUTE 100.64.9.0/24: Network is down (Nexthop device is not up)");
  ASSERT_TRUE(k.set_link(br->index, {.up = true}).has_value());
  ASSERT_TRUE(
      k.replace_route({*Prefix::parse("100.64.9.0/24"), std::nullopt, br->index}).has_value());
  EXPECT_EQ(k.changes().size(), 12u);

  // Deleting the bridge takes what hangs off it; its port stays without a master.
  ASSERT_TRUE(k.delete_link(br->index).has_value());
  EXPECT_TRUE(k.neighbours()->empty());
  EXPECT_TRUE(k.addresses()->empty());
  EXPECT_TRUE(k.routes(254)->empty());
  auto links = *k.links();
  ASSERT_EQ(links.size(), 2u);  // lo, vxlan100
  EXPECT_EQ(links[1].master, 0);
  EXPECT_FALSE(links[1].port.has_value());
  EXPECT_EQ(k.fdb()->size(), 3u);  // the VXLAN device's own entries stay
  EXPECT_EQ(k.delete_fdb({vx->index, mac("02:00:00:00:09:09")}).error().message,
            "RTM_DELNEIGH fdb 02:00:00:00:09:09 on link 3: No such file or directory");
}

// add_route is exclusive: a route of the same key stays as it is and the add fails; another
// metric is another key.
TEST(FakeKernel, AddRouteNeverReplaces) {
  FakeKernel k;
  auto dummy = *k.add_link({.name = "br9", .kind = "bridge"});
  const Route theirs{
      .dst = *Prefix::parse("0.0.0.0/0"), .gateway = ip("100.64.0.1"), .oif = dummy.index};
  ASSERT_TRUE(k.add_route(theirs).has_value());
  Route ours = theirs;
  ours.gateway = ip("100.64.0.9");
  EXPECT_EQ(k.add_route(ours).error().message, "RTM_NEWROUTE 0.0.0.0/0: File exists");
  auto routes = *k.routes(254);
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].gateway, ip("100.64.0.1"));
  ours.metric = 100;
  ASSERT_TRUE(k.add_route(ours).has_value());
  EXPECT_EQ(k.routes(254)->size(), 2u);
  // IPv6: metric 0 is 1024, the same key as 1024.
  const Route v6{.dst = *Prefix::parse("::/0"), .gateway = ip("fd00::1"), .oif = dummy.index};
  ASSERT_TRUE(k.add_route(v6).has_value());
  Route v6_1024 = v6;
  v6_1024.metric = 1024;
  EXPECT_EQ(k.add_route(v6_1024).error().message, "RTM_NEWROUTE ::/0: File exists");
}

// Routes as the kernel takes them (Kernel::replace_route): keyed by table, destination and
// metric; a gateway reachable or onlink on an up device; IPv6 gets metric 1024.
TEST(FakeKernel, RoutesFollowTheKernelsRules) {
  FakeKernel k{FakeKernel::RouteChecks::Kernel};
  auto br = *k.add_link({.name = "br5001", .kind = "bridge"});
  const uint32_t t = 1000;
  const Prefix p4 = *Prefix::parse("100.64.2.0/24");
  const Prefix p6 = *Prefix::parse("fd00:64:2::/64");
  Route via{.dst = p4, .gateway = ip("198.18.0.2"), .oif = br.index, .table = t, .onlink = true};
  EXPECT_EQ(k.replace_route(via).error().message,
            "RTM_NEWROUTE 100.64.2.0/24: Network is down (Nexthop device is not up)");
  ASSERT_TRUE(k.set_link(br.index, {.up = true}).has_value());
  ASSERT_TRUE(k.replace_route(via).has_value());
  // Without onlink the gateway needs a route; onlink needs the device.
  Route plain = via;
  plain.onlink = false;
  plain.dst = *Prefix::parse("100.64.3.0/24");
  EXPECT_EQ(k.replace_route(plain).error().message,
            "RTM_NEWROUTE 100.64.3.0/24: Invalid argument (Nexthop has invalid gateway)");
  Route no_dev = via;
  no_dev.oif = 0;
  EXPECT_EQ(k.replace_route(no_dev).error().message,
            "RTM_NEWROUTE 100.64.2.0/24: No such device (Nexthop device required for onlink)");
  // A link route to the gateway (here an address's subnet) makes it reachable.
  ASSERT_TRUE(k.add_address({br.index, ip("198.18.0.1"), 24}).has_value());
  ASSERT_TRUE(k.replace_route(plain).has_value());
  // The device's own address is no gateway.
  Route self = via;
  self.gateway = ip("198.18.0.1");
  EXPECT_FALSE(k.replace_route(self).has_value());
  // IPv6 takes no IPv4 gateway; ::ffff:V onlink it takes, with metric 1024.
  Route v6{.dst = p6, .gateway = ip("198.18.0.2"), .oif = br.index, .table = t, .onlink = true};
  EXPECT_EQ(k.replace_route(v6).error().message,
            "RTM_NEWROUTE fd00:64:2::/64: Numerical result out of range (Attribute failed "
            "policy validation)");
  v6.gateway = ip("::ffff:198.18.0.2");
  ASSERT_TRUE(k.replace_route(v6).has_value());
  auto routes = *k.routes(t);
  ASSERT_EQ(routes.size(), 3u);
  EXPECT_EQ(routes[2].metric, 1024u);
  EXPECT_TRUE(routes[2].onlink);
  // Replace takes over the entry of the same key, whatever its kind; another metric is another
  // route.
  Route unreachable{.dst = p4, .table = t, .metric = 0, .unreachable = true};
  ASSERT_TRUE(k.replace_route(unreachable).has_value());
  unreachable.metric = 4278198272u;
  ASSERT_TRUE(k.replace_route(unreachable).has_value());
  routes = *k.routes(t);
  EXPECT_EQ(routes.size(), 4u);
  EXPECT_TRUE(routes[0].unreachable);
  // Delete: metric 0 takes the lowest of the kind; a given metric exactly that one.
  ASSERT_TRUE(k.delete_route({.dst = p4, .table = t, .unreachable = true}).has_value());
  routes = *k.routes(t);
  ASSERT_EQ(routes.size(), 3u);
  EXPECT_EQ(std::count_if(routes.begin(), routes.end(),
                          [&](const Route& r) { return r.dst == p4 && r.metric == 4278198272u; }),
            1);
  ASSERT_TRUE(k.delete_route(routes.back()).has_value());
  EXPECT_EQ(k.delete_route({.dst = p4, .table = t, .unreachable = true}).error().message,
            "RTM_DELROUTE 100.64.2.0/24: No such process");
  ASSERT_TRUE(k.delete_route({.dst = p6, .table = t}).has_value());  // any metric
  // Deleting the device takes its routes.
  ASSERT_TRUE(k.delete_link(br.index).has_value());
  EXPECT_TRUE(k.routes(t)->empty());

  // Loose checks let a route through a link that is down, to a gateway without a route.
  FakeKernel loose;
  auto down = *loose.add_link({.name = "eth0", .kind = "veth", .veth_peer = "eth0p"});
  EXPECT_TRUE(loose
                  .replace_route({.dst = *Prefix::parse("0.0.0.0/0"),
                                  .gateway = ip("198.18.0.254"),
                                  .oif = down.index})
                  .has_value());
  EXPECT_FALSE(loose.replace_route({.dst = p6, .gateway = ip("198.18.0.2"), .oif = down.index})
                   .has_value());  // the family is checked all the same
}

TEST(FakeKernel, FindLinkReadsEveryLink) {
  FakeKernel k{FakeKernel::RouteChecks::Kernel};
  auto br = k.add_link({.name = "br100", .kind = "bridge"});
  ASSERT_TRUE(br.has_value());
  auto found = k.find_link("br100");
  ASSERT_TRUE(found.has_value());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->index, br->index);
  auto none = k.find_link("br200");
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
}

TEST(FakeKernel, InjectedFailuresAndVethPairs) {
  FakeKernel k{FakeKernel::RouteChecks::Kernel};
  k.fail_next("add_link veth", "Cannot allocate memory");
  EXPECT_EQ(k.add_link({.name = "veth0", .kind = "veth", .veth_peer = "ceth0"}).error().message,
            "add_link veth0: Cannot allocate memory");
  auto v = k.add_link({.name = "veth0", .kind = "veth", .veth_peer = "ceth0"});
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(k.links()->size(), 3u);
  ASSERT_TRUE(k.delete_link(v->index).has_value());
  EXPECT_EQ(k.links()->size(), 1u);  // both ends
  EXPECT_EQ(k.changes(), (std::vector<std::string>{"add_link veth0", "delete_link veth0"}));
}

TEST(FakeKernel, LearnedMacsFollowThePort) {
  FakeKernel k{FakeKernel::RouteChecks::Kernel};
  auto br = *k.add_link({.name = "br1", .kind = "bridge"});
  auto v = *k.add_link({.name = "veth1", .kind = "veth", .veth_peer = "ceth1"});
  ASSERT_TRUE(k.set_link(v.index, {.master = br.index}).has_value());
  k.learn(v.index, mac("02:00:00:00:00:01"));
  ASSERT_EQ(k.fdb()->size(), 1u);
  EXPECT_EQ(k.fdb()->front().master, br.index);
  ASSERT_TRUE(k.set_link(v.index, {.master = 0}).has_value());
  EXPECT_TRUE(k.fdb()->empty());
}

// One device's entries, as the kernel's NDA_MASTER / NDA_IFINDEX dumps give them, without a read
// of the whole tables (host_dumps()).
TEST(FakeKernel, PerDeviceReads) {
  FakeKernel k;
  auto br1 = *k.add_link({.name = "br1", .kind = "bridge"});
  auto br2 = *k.add_link({.name = "br2", .kind = "bridge"});
  auto vx =
      *k.add_link({.name = "vxlan1", .kind = "vxlan", .vxlan = VxlanInfo{1, ip("198.18.0.1")}});
  auto p1 = *k.add_link({.name = "p1", .kind = "veth", .veth_peer = "q1"});
  auto p2 = *k.add_link({.name = "p2", .kind = "veth", .veth_peer = "q2"});
  ASSERT_TRUE(k.set_link(vx.index, {.master = br1.index}).has_value());
  ASSERT_TRUE(k.set_link(p1.index, {.master = br1.index}).has_value());
  ASSERT_TRUE(k.set_link(p2.index, {.master = br2.index}).has_value());
  k.learn(p1.index, mac("02:00:00:00:00:01"));
  k.learn(p2.index, mac("02:00:00:00:00:02"));
  ASSERT_TRUE(k.add_fdb({.ifindex = vx.index,
                         .mac = mac("02:00:00:00:00:03"),
                         .dst = ip("198.18.0.2"),
                         .self = true},
                        false)
                  .has_value());
  ASSERT_TRUE(k.replace_neighbour({br1.index, ip("100.64.1.3"), mac("02:00:00:00:00:03"), 0, true})
                  .has_value());
  ASSERT_TRUE(k.replace_neighbour({br2.index, ip("100.64.2.3"), mac("02:00:00:00:00:04"), 0, true})
                  .has_value());
  const size_t dumps = k.host_dumps();
  auto macs = [](const std::vector<FdbEntry>& v) {
    std::set<std::string> out;
    for (const auto& e : v) out.insert(e.mac.to_string());
    return out;
  };
  EXPECT_EQ(macs(*k.bridge_fdb(br1.index)),
            (std::set<std::string>{"02:00:00:00:00:01", "02:00:00:00:00:03"}));
  EXPECT_EQ(macs(*k.device_fdb(vx.index)), std::set<std::string>{"02:00:00:00:00:03"});
  EXPECT_EQ(macs(*k.device_fdb(p2.index)), std::set<std::string>{"02:00:00:00:00:02"});
  auto ns = *k.neighbours_of(br1.index);
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(ns[0].ip, ip("100.64.1.3"));
  EXPECT_EQ(k.host_dumps(), dumps);
  // The Kernel defaults (filters of the whole reads) agree.
  EXPECT_EQ(macs(*k.Kernel::bridge_fdb(br1.index)), macs(*k.bridge_fdb(br1.index)));
  EXPECT_EQ(*k.Kernel::neighbours_of(br1.index), ns);
  EXPECT_GT(k.host_dumps(), dumps);
}

}  // namespace
}  // namespace isthmus::kernel
