// The reconciler on the real kernel (NetlinkKernel), in a network namespace of this process's
// own: it builds the networks, a second run changes nothing (what a restarted agent does), and a
// removed network leaves no link, FDB entry, neighbour or address behind. Label `kernel`.
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "agent/reconciler.h"
#include "kernel/netlink_kernel.h"

namespace isthmus::agent {
namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
MacAddress mac(const char* s) { return *MacAddress::parse(s); }

TEST(ReconcilerOnTheKernel, BuildAdoptRemove) {
  ASSERT_EQ(unshare(CLONE_NEWNET), 0) << std::strerror(errno) << " (needs root)";
  auto opened = kernel::NetlinkKernel::open();
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  kernel::NetlinkKernel& k = **opened;
  auto lo = k.link("lo");
  ASSERT_TRUE(lo.has_value());
  ASSERT_TRUE(k.add_address({lo->index, ip("198.18.0.1"), 32}).has_value());

  DesiredState d;
  d.vtep = ip("198.18.0.1");
  NetworkState blue;
  blue.vni = 100;
  blue.gateway_mac = mac("02:00:00:64:00:01");
  blue.gateways = {{ip("100.64.1.1"), 24}, {ip("fd00:64:1::1"), 64}};
  blue.flood = {ip("198.18.0.2"), ip("198.18.0.3")};
  blue.macs = {{mac("02:00:00:00:02:01"), ip("198.18.0.2")}};
  blue.ips = {{ip("100.64.1.21"), mac("02:00:00:00:02:01")},
              {ip("fd00:64:1::21"), mac("02:00:00:00:02:01")}};
  NetworkState red = blue;
  red.vni = 200;
  red.gateways = {{ip("100.64.2.1"), 24}};
  red.ips = {};
  d.networks = {blue, red};
  d.networks[0].table = d.networks[1].table = kTableBase + 100;  // one VRF

  auto first = reconcile(k, d);
  ASSERT_TRUE(first.ok()) << first.errors.front();
  EXPECT_GT(first.changes, 10u);
  auto again = reconcile(k, d);
  ASSERT_TRUE(again.ok()) << again.errors.front();
  EXPECT_EQ(again.changes, 0u) << "a second run (or a restarted agent) must change nothing";
  // The VRF's routing as the kernel has it: rules, table, forwarding.
  auto rules = *k.rules();
  EXPECT_EQ(std::count_if(rules.begin(), rules.end(),
                          [](const auto& r) { return r.table == kTableBase + 100; }),
            3);
  auto table = *k.routes(kTableBase + 100);
  auto has = [&](const char* dst, bool unreachable) {
    return std::any_of(table.begin(), table.end(), [&](const auto& r) {
      return r.dst == *Prefix::parse(dst) && r.unreachable == unreachable;
    });
  };
  EXPECT_TRUE(has("100.64.1.0/24", false));
  EXPECT_TRUE(has("100.64.2.0/24", false));
  EXPECT_TRUE(has("fd00:64:1::/64", false));
  EXPECT_TRUE(has("0.0.0.0/0", true));
  EXPECT_TRUE(has("::/0", true));
  EXPECT_EQ(*k.sysctl("net/ipv4/conf/br100/forwarding"), "1");

  // A move is one change here too.
  d.networks[0].macs[0].vtep = ip("198.18.0.3");
  auto moved = reconcile(k, d);
  ASSERT_TRUE(moved.ok()) << moved.errors.front();
  EXPECT_EQ(moved.changes, 1u);

  d.networks.clear();
  auto removed = reconcile(k, d);
  ASSERT_TRUE(removed.ok()) << removed.errors.front();
  const auto links = *k.links();
  EXPECT_EQ(links.size(), 1u) << "only lo is left";
  const auto fdb = *k.fdb();
  for (const auto& e : fdb) EXPECT_FALSE(e.dst.has_value()) << e.mac.to_string();
  const auto neighbours = *k.neighbours();
  EXPECT_TRUE(std::none_of(neighbours.begin(), neighbours.end(),
                           [](const auto& n) { return n.extern_learned; }));
  const auto addresses = *k.addresses();
  for (const auto& a : addresses) EXPECT_EQ(a.ifindex, lo->index) << a.to_string();
  const auto rules_left = *k.rules();
  EXPECT_TRUE(std::none_of(rules_left.begin(), rules_left.end(),
                           [](const auto& r) { return r.table >= kTableBase; }));
  EXPECT_TRUE(k.routes(kTableBase + 100)->empty());
}

}  // namespace
}  // namespace isthmus::agent
