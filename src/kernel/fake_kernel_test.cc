// The fake keeps the kernel's rules that the reconciler depends on.
#include "kernel/fake_kernel.h"

#include <gtest/gtest.h>

namespace isthmus::kernel {
namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
MacAddress mac(const char* s) { return *MacAddress::parse(s); }

TEST(FakeKernel, NetworkOfABridgeAndAVxlanDevice) {
  FakeKernel k;
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
  ASSERT_TRUE(
      k.replace_route({*Prefix::parse("100.64.9.0/24"), std::nullopt, br->index}).has_value());
  EXPECT_EQ(k.changes().size(), 11u);

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

TEST(FakeKernel, FindLinkReadsEveryLink) {
  FakeKernel k;
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
  FakeKernel k;
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
  FakeKernel k;
  auto br = *k.add_link({.name = "br1", .kind = "bridge"});
  auto v = *k.add_link({.name = "veth1", .kind = "veth", .veth_peer = "ceth1"});
  ASSERT_TRUE(k.set_link(v.index, {.master = br.index}).has_value());
  k.learn(v.index, mac("02:00:00:00:00:01"));
  ASSERT_EQ(k.fdb()->size(), 1u);
  EXPECT_EQ(k.fdb()->front().master, br.index);
  ASSERT_TRUE(k.set_link(v.index, {.master = 0}).has_value());
  EXPECT_TRUE(k.fdb()->empty());
}

}  // namespace
}  // namespace isthmus::kernel
