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

  auto first = reconcile(k, d);
  ASSERT_TRUE(first.ok()) << first.errors.front();
  EXPECT_GT(first.changes, 10u);
  auto again = reconcile(k, d);
  ASSERT_TRUE(again.ok()) << again.errors.front();
  EXPECT_EQ(again.changes, 0u) << "a second run (or a restarted agent) must change nothing";

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
}

}  // namespace
}  // namespace isthmus::agent
