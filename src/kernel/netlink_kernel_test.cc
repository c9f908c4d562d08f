// NetlinkKernel and Monitor against the real kernel. Each test first moves this process into a
// network namespace of its own (unshare), so nothing outside it is touched and everything goes
// with the process. Needs root and the bridge, vxlan and veth modules (ctest label `kernel`).
#include "kernel/netlink_kernel.h"

#include <gtest/gtest.h>
#include <linux/neighbour.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

namespace isthmus::kernel {
namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

template <typename T>
::testing::AssertionResult Ok(const Expected<T>& e) {
  if (e) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << e.error().message;
}
MacAddress mac(const char* s) { return *MacAddress::parse(s); }

class NetlinkKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0)
        << "unshare(CLONE_NEWNET): " << std::strerror(errno) << " (the kernel tests need root)";
    auto k = NetlinkKernel::open();
    ASSERT_TRUE(k.has_value()) << k.error().message;
    k_ = std::move(*k);
    auto lo = k_->link("lo");
    ASSERT_TRUE(lo.has_value()) << lo.error().message;
    lo_ = lo->index;
    ASSERT_TRUE(Ok(k_->set_link(lo_, {.up = true})));
    ASSERT_TRUE(Ok(k_->add_address({lo_, ip("198.18.0.1"), 32})));
  }

  Link get(const std::string& name) {
    auto l = k_->link(name);
    EXPECT_TRUE(l.has_value()) << (l ? "" : l.error().message);
    return l ? *l : Link{};
  }

  // An L2 VNI as the agent makes it (agent/reconciler.h): bridge, VXLAN device as its port,
  // learning off, suppression on.
  std::pair<Link, Link> network(uint32_t vni) {
    auto br = k_->add_link({.name = "br" + std::to_string(vni),
                            .kind = "bridge",
                            .mtu = 1450,
                            .alias = "isthmus:" + std::to_string(vni)});
    EXPECT_TRUE(br.has_value()) << br.error().message;
    auto vx = k_->add_link({.name = "vxlan" + std::to_string(vni),
                            .kind = "vxlan",
                            .mtu = 1450,
                            .vxlan = VxlanInfo{vni, ip("198.18.0.1"), 4789, false}});
    EXPECT_TRUE(vx.has_value()) << vx.error().message;
    EXPECT_TRUE(Ok(k_->set_link(vx->index, {.master = br->index})));
    auto ok = k_->set_bridge_port(vx->index, {false, true});
    EXPECT_TRUE(ok.has_value()) << (ok ? "" : ok.error().message);
    EXPECT_TRUE(Ok(k_->set_link(vx->index, {.up = true})));
    EXPECT_TRUE(Ok(k_->set_link(br->index, {.up = true})));
    return {*br, *vx};
  }

  std::unique_ptr<NetlinkKernel> k_;
  int lo_ = 0;
};

TEST_F(NetlinkKernelTest, BridgeVxlanFdbAndNeighbours) {
  auto [br, vx] = network(100);
  EXPECT_EQ(br.alias, "isthmus:100");
  EXPECT_EQ(get("br100").alias, "isthmus:100");
  Link v = get("vxlan100");
  EXPECT_EQ(v.kind, "vxlan");
  EXPECT_EQ(v.master, br.index);
  EXPECT_TRUE(v.up);
  EXPECT_EQ(v.mtu, 1450u);
  ASSERT_TRUE(v.vxlan.has_value());
  EXPECT_EQ(*v.vxlan, (VxlanInfo{100, ip("198.18.0.1"), 4789, false}));
  ASSERT_TRUE(v.port.has_value());
  EXPECT_EQ(*v.port, (BridgePortInfo{false, true}));
  auto all = *k_->links();
  EXPECT_TRUE(std::any_of(all.begin(), all.end(), [&](const Link& l) { return l == v; }));

  // Flood list (two VTEPs), a remote MAC that moves, and its ARP suppression entry.
  FdbEntry flood{vx.index, MacAddress{}, ip("198.18.0.2"), 0, NUD_PERMANENT, true, false};
  ASSERT_TRUE(Ok(k_->add_fdb(flood, true)));
  flood.dst = ip("198.18.0.3");
  ASSERT_TRUE(Ok(k_->add_fdb(flood, true)));
  FdbEntry remote{vx.index, mac("02:00:00:00:02:01"), ip("198.18.0.2"), 0, 0, true, true};
  ASSERT_TRUE(Ok(k_->add_fdb(remote, false)));
  remote.dst = ip("198.18.0.3");
  ASSERT_TRUE(Ok(k_->add_fdb(remote, false)));
  auto fdb = *k_->fdb();
  auto on_vx = [&](const MacAddress& m) {
    std::vector<IpAddress> dsts;
    for (const auto& e : fdb)
      if (e.ifindex == vx.index && e.self && e.mac == m && e.dst) dsts.push_back(*e.dst);
    std::sort(dsts.begin(), dsts.end());
    return dsts;
  };
  EXPECT_EQ(on_vx(MacAddress{}), (std::vector{ip("198.18.0.2"), ip("198.18.0.3")}));
  EXPECT_EQ(on_vx(remote.mac), std::vector{ip("198.18.0.3")});
  auto r = std::find_if(fdb.begin(), fdb.end(),
                        [&](const FdbEntry& e) { return e.mac == remote.mac && e.self; });
  ASSERT_NE(r, fdb.end());
  EXPECT_TRUE(r->extern_learned);
  ASSERT_TRUE(Ok(k_->delete_fdb(FdbEntry{vx.index, MacAddress{}, ip("198.18.0.2"), 0, 0, true})));
  fdb = *k_->fdb();
  EXPECT_EQ(on_vx(MacAddress{}), std::vector{ip("198.18.0.3")});

  Neighbour n{br.index, ip("100.64.1.7"), remote.mac, NUD_NOARP, true};
  ASSERT_TRUE(Ok(k_->replace_neighbour(n)));
  Neighbour n6{br.index, ip("fd00:64:1::7"), remote.mac, NUD_NOARP, true};
  ASSERT_TRUE(Ok(k_->replace_neighbour(n6)));
  auto ns = *k_->neighbours();
  EXPECT_NE(std::find(ns.begin(), ns.end(), n), ns.end());
  EXPECT_NE(std::find(ns.begin(), ns.end(), n6), ns.end());

  // The anycast gateway address and a route through the bridge.
  ASSERT_TRUE(Ok(k_->add_address({br.index, ip("100.64.1.1"), 24})));
  Route route{*Prefix::parse("100.64.9.0/24"), ip("100.64.1.254"), br.index, 254, 4, 0};
  ASSERT_TRUE(Ok(k_->replace_route(route)));
  auto rs = *k_->routes(254);
  EXPECT_NE(std::find(rs.begin(), rs.end(), route), rs.end());
  ASSERT_TRUE(Ok(k_->delete_route(route)));
  rs = *k_->routes(254);
  EXPECT_EQ(std::find(rs.begin(), rs.end(), route), rs.end());

  // Deleting the bridge and the VXLAN device leaves nothing of the network.
  ASSERT_TRUE(Ok(k_->delete_link(br.index)));
  ASSERT_TRUE(Ok(k_->delete_link(vx.index)));
  const auto fdb_after = *k_->fdb();
  for (const auto& e : fdb_after) EXPECT_NE(e.ifindex, vx.index);
  const auto neighbours_after = *k_->neighbours();
  for (const auto& x : neighbours_after) EXPECT_NE(x.ifindex, br.index);
  const auto addresses_after = *k_->addresses();
  for (const auto& a : addresses_after) EXPECT_NE(a.ifindex, br.index);
  EXPECT_FALSE(k_->link("br100").has_value());
}

// Symmetric IRB's kernel objects (RFC 9135, agent/reconciler.h): routes of a tenant's table
// through the L3 VNI's bridge to the remote VTEP, onlink; IPv6 via the VTEP's IPv4-mapped
// address; the neighbours and the VXLAN FDB entry that resolve them to the router MAC.
TEST_F(NetlinkKernelTest, OnlinkRoutesThroughTheL3VniBridge) {
  auto [br, vx] = network(5001);
  const uint32_t t = 0x49001389;
  const IpAddress vtep = ip("198.18.0.2");
  const MacAddress rmac = mac("02:bb:00:00:50:01");
  // Nothing in the table yet: none, not an error (the kernel has no such table).
  auto none = k_->routes(t);
  ASSERT_TRUE(Ok(none));
  EXPECT_TRUE(none->empty());

  Route v4{.dst = *Prefix::parse("100.64.2.0/24"),
           .gateway = vtep,
           .oif = br.index,
           .table = t,
           .protocol = 77,
           .onlink = true};
  ASSERT_TRUE(Ok(k_->replace_route(v4)));
  Route v6{.dst = *Prefix::parse("fd00:64:2::/64"),
           .gateway = ip("::ffff:198.18.0.2"),
           .oif = br.index,
           .table = t,
           .protocol = 77,
           .onlink = true};
  ASSERT_TRUE(Ok(k_->replace_route(v6)));
  // A learned default and the tenant's unreachable default, at a metric it loses to.
  Route def{.dst = *Prefix::parse("0.0.0.0/0"),
            .gateway = ip("198.18.0.3"),
            .oif = br.index,
            .table = t,
            .protocol = 77,
            .onlink = true};
  ASSERT_TRUE(Ok(k_->replace_route(def)));
  Route unreachable{.dst = *Prefix::parse("0.0.0.0/0"),
                    .table = t,
                    .protocol = 77,
                    .metric = 4278198272u,
                    .unreachable = true};
  ASSERT_TRUE(Ok(k_->replace_route(unreachable)));
  // What the kernel refuses: an IPv4 gateway on an IPv6 route; a gateway without a route to it
  // unless onlink.
  Route bad6 = v6;
  bad6.gateway = vtep;
  auto refused = k_->replace_route(bad6);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("RTM_NEWROUTE fd00:64:2::/64: "), std::string::npos);
  EXPECT_NE(refused.error().message.find("Attribute failed policy validation"), std::string::npos)
      << refused.error().message;
  Route unreachable_gw = v4;
  unreachable_gw.onlink = false;
  refused = k_->replace_route(unreachable_gw);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("Nexthop has invalid gateway"), std::string::npos)
      << refused.error().message;

  // A route's device must be up.
  auto down = k_->add_link({.name = "brdown", .kind = "bridge"});
  ASSERT_TRUE(Ok(down));
  Route through_down = v4;
  through_down.oif = down->index;
  refused = k_->replace_route(through_down);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("Network is down"), std::string::npos)
      << refused.error().message;

  auto rs = k_->routes(t);
  ASSERT_TRUE(Ok(rs));
  auto has = [&](const Route& r) { return std::find(rs->begin(), rs->end(), r) != rs->end(); };
  EXPECT_EQ(rs->size(), 4u);
  EXPECT_TRUE(has(v4));
  EXPECT_TRUE(has(def));
  EXPECT_TRUE(has(unreachable));
  Route v6_as_read = v6;
  v6_as_read.metric = 1024;  // IP6_RT_PRIO_USER
  EXPECT_TRUE(has(v6_as_read));
  // Only that table's routes: main's are not in it.
  ASSERT_TRUE(Ok(k_->replace_route({.dst = *Prefix::parse("100.64.9.0/24"), .oif = br.index})));
  EXPECT_EQ(k_->routes(t)->size(), 4u);

  // The next hops resolve without ARP/ND: neighbours on the bridge, the router MAC's entry on
  // the VXLAN device.
  ASSERT_TRUE(Ok(k_->replace_neighbour({br.index, vtep, rmac, 0, true})));
  ASSERT_TRUE(Ok(k_->replace_neighbour({br.index, ip("::ffff:198.18.0.2"), rmac, 0, true})));
  ASSERT_TRUE(Ok(k_->add_fdb(
      {.ifindex = vx.index, .mac = rmac, .dst = vtep, .self = true, .extern_learned = true},
      false)));
  auto ns = *k_->neighbours();
  for (const IpAddress& a : {vtep, ip("::ffff:198.18.0.2")})
    EXPECT_TRUE(std::any_of(ns.begin(), ns.end(), [&](const Neighbour& n) {
      return n.ifindex == br.index && n.ip == a && n.mac == rmac && n.state == NUD_NOARP &&
             n.extern_learned;
    })) << a.to_string();
  auto fdb = *k_->fdb();
  EXPECT_TRUE(std::any_of(fdb.begin(), fdb.end(), [&](const FdbEntry& e) {
    return e.ifindex == vx.index && e.self && e.mac == rmac && e.dst == vtep;
  }));

  // Deleting by what was read deletes exactly that route; the unreachable default stays.
  ASSERT_TRUE(Ok(k_->delete_route(def)));
  ASSERT_TRUE(Ok(k_->delete_route(v6_as_read)));
  rs = k_->routes(t);
  ASSERT_TRUE(Ok(rs));
  EXPECT_EQ(rs->size(), 2u);
  EXPECT_TRUE(has(unreachable));
  // The bridge going takes its routes; the unreachable one (no device) stays.
  ASSERT_TRUE(Ok(k_->delete_link(br.index)));
  EXPECT_EQ(*k_->routes(t), std::vector<Route>{unreachable});
}

// add_route (NLM_F_EXCL): a route of the same key stays as it is, the add fails with EEXIST.
TEST_F(NetlinkKernelTest, AddRouteNeverReplaces) {
  auto d = k_->add_link({.name = "eth9", .kind = "veth", .veth_peer = "eth9p"});
  ASSERT_TRUE(Ok(d));
  ASSERT_TRUE(Ok(k_->set_link(get("eth9p").index, {.up = true})));
  ASSERT_TRUE(Ok(k_->set_link(d->index, {.up = true})));
  ASSERT_TRUE(Ok(k_->add_address({d->index, ip("100.64.0.2"), 24})));
  ASSERT_TRUE(Ok(k_->add_address({d->index, ip("fd00:64::2"), 64})));
  const Route theirs{
      .dst = *Prefix::parse("0.0.0.0/0"), .gateway = ip("100.64.0.1"), .oif = d->index};
  ASSERT_TRUE(Ok(k_->add_route(theirs)));
  Route ours = theirs;
  ours.gateway = ip("100.64.0.9");
  auto refused = k_->add_route(ours);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().message, "RTM_NEWROUTE 0.0.0.0/0: File exists");
  auto routes = *k_->routes(254);
  auto defaults = std::count_if(routes.begin(), routes.end(), [](const Route& r) {
    return r.dst.length() == 0 && r.dst.family() == IpFamily::V4;
  });
  EXPECT_EQ(defaults, 1);
  EXPECT_TRUE(std::any_of(routes.begin(), routes.end(), [&](const Route& r) {
    return r.dst.length() == 0 && r.gateway == ip("100.64.0.1");
  }));
  const Route v6{.dst = *Prefix::parse("::/0"), .gateway = ip("fd00:64::1"), .oif = d->index};
  ASSERT_TRUE(Ok(k_->add_route(v6)));
  Route v6b = v6;
  v6b.gateway = ip("fd00:64::9");
  refused = k_->add_route(v6b);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().message, "RTM_NEWROUTE ::/0: File exists");
}

TEST_F(NetlinkKernelTest, FindLinkAsksForOneLink) {
  auto [br, vx] = network(100);
  auto found = k_->find_link("br100");
  ASSERT_TRUE(Ok(found));
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->index, br.index);
  EXPECT_EQ((*found)->kind, "bridge");
  // None by that name, or a name the kernel could never have: none, not an error.
  for (const char* name : {"veth00000000", "", "a-name-too-long-for-a-link"}) {
    auto none = k_->find_link(name);
    ASSERT_TRUE(Ok(none)) << name;
    EXPECT_FALSE(none->has_value()) << name;
  }
}

TEST_F(NetlinkKernelTest, ErrorsCarryTheOperationAndTheKernelsReason) {
  network(200);
  auto dup =
      k_->add_link({.name = "vx2", .kind = "vxlan", .vxlan = VxlanInfo{200, ip("198.18.0.1")}});
  ASSERT_FALSE(dup.has_value());
  EXPECT_NE(dup.error().message.find("RTM_NEWLINK vx2 (vxlan): File exists"), std::string::npos)
      << dup.error().message;
  auto gone = k_->delete_link(999);
  ASSERT_FALSE(gone.has_value());
  EXPECT_NE(gone.error().message.find("RTM_DELLINK link 999: No such device"), std::string::npos)
      << gone.error().message;
  auto missing = k_->delete_fdb(
      {get("vxlan200").index, mac("02:00:00:00:09:09"), ip("198.18.0.9"), 0, 0, true});
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("No such file or directory"), std::string::npos)
      << missing.error().message;
}

TEST_F(NetlinkKernelTest, MonitorReportsLearnedMacsAndLinksGoing) {
  auto mon = Monitor::open();
  ASSERT_TRUE(mon.has_value()) << mon.error().message;
  auto br = *k_->add_link({.name = "br300", .kind = "bridge"});
  auto veth = k_->add_link({.name = "veth300", .kind = "veth", .veth_peer = "ceth300"});
  ASSERT_TRUE(veth.has_value()) << veth.error().message;
  ASSERT_TRUE(Ok(k_->set_link(veth->index, {.up = true, .master = br.index})));
  // What the bridge learns from a workload's frame, as a master FDB entry on the port.
  FdbEntry learned{veth->index, mac("02:00:00:00:03:01"), std::nullopt, 0, 0, false};
  ASSERT_TRUE(Ok(k_->add_fdb(learned, false)));
  ASSERT_TRUE(Ok(k_->delete_link(veth->index)));

  std::vector<Event> events;
  std::vector<std::string> bad;
  auto ok = mon->read([&](const Event& e) { events.push_back(e); },
                      [&](const Error& e) { bad.push_back(e.message); });
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_TRUE(*ok);  // no overrun
  EXPECT_TRUE(bad.empty()) << bad.front();
  bool saw_fdb = false, saw_fdb_gone = false, saw_link_gone = false;
  for (const auto& e : events) {
    if (auto* f = std::get_if<FdbEvent>(&e); f && f->entry.mac == learned.mac) {
      (f->removed ? saw_fdb_gone : saw_fdb) = true;
      EXPECT_EQ(f->entry.ifindex, veth->index);
      if (!f->removed) {
        EXPECT_EQ(f->entry.master, br.index);
      }
    }
    if (auto* l = std::get_if<LinkEvent>(&e); l && l->removed && l->link.name == "veth300")
      saw_link_gone = true;
  }
  EXPECT_TRUE(saw_fdb);
  EXPECT_TRUE(saw_fdb_gone);
  EXPECT_TRUE(saw_link_gone);
}

// A port's flags changed through the bridge (`bridge link set`, notified as AF_BRIDGE with
// IFLA_PROTINFO) reach the monitor with the port's flags, as those set on the link do.
TEST_F(NetlinkKernelTest, MonitorReportsBridgePortFlags) {
  auto br = *k_->add_link({.name = "br700", .kind = "bridge"});
  auto veth = k_->add_link({.name = "veth700", .kind = "veth", .veth_peer = "ceth700"});
  ASSERT_TRUE(veth.has_value()) << veth.error().message;
  ASSERT_TRUE(Ok(k_->set_link(veth->index, {.up = true, .master = br.index})));
  ASSERT_TRUE(Ok(k_->set_bridge_port(veth->index, {.learning = false})));
  auto mon = Monitor::open();
  ASSERT_TRUE(mon.has_value()) << mon.error().message;
  ASSERT_EQ(std::system("bridge link set dev veth700 learning on"), 0);
  std::optional<bool> learning;
  auto ok = mon->read(
      [&](const Event& e) {
        if (auto* l = std::get_if<LinkEvent>(&e); l && l->link.index == veth->index && l->link.port)
          learning = l->link.port->learning;
      },
      [](const Error& e) { ADD_FAILURE() << e.message; });
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  ASSERT_TRUE(learning.has_value()) << "no event with the port's flags";
  EXPECT_TRUE(*learning);
}

// Events the monitor's socket has no room for are lost, and read() says so (ENOBUFS): the agent
// reads the kernel's state again then. After the overrun the socket goes on.
TEST_F(NetlinkKernelTest, MonitorReportsAnOverrun) {
  auto [br, vx] = network(600);
  auto mon = Monitor::open();
  ASSERT_TRUE(mon.has_value()) << mon.error().message;
  ASSERT_TRUE(Ok(mon->set_receive_buffer(4096)));
  std::vector<EntryChange> batch;
  for (uint32_t i = 0; i < 2000; ++i)
    batch.push_back(EntryChange::add_fdb(
        {.ifindex = vx.index,
         .mac = MacAddress{{0x02, 0x00, 0x00, 0x06, static_cast<uint8_t>(i >> 8),
                            static_cast<uint8_t>(i)}},
         .dst = ip("198.18.0.9"),
         .self = true},
        false));
  ASSERT_TRUE(k_->apply(batch).empty());
  size_t events = 0;
  auto ok = mon->read([&](const Event&) { ++events; }, [](const Error&) {});
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_FALSE(*ok) << events << " events read, none lost";
  EXPECT_LT(events, 2000u);
  // Afterwards events come again.
  ASSERT_TRUE(Ok(k_->set_link(br.index, {.mtu = 1400})));
  bool mtu = false;
  ok = mon->read(
      [&](const Event& e) {
        if (auto* l = std::get_if<LinkEvent>(&e); l && l->link.index == br.index)
          mtu |= l->link.mtu == 1400;
      },
      [](const Error&) {});
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_TRUE(*ok);
  EXPECT_TRUE(mtu);
}

// The reads of one device (strict checking: NDA_IFINDEX, NDA_MASTER): another network's entries
// and neighbours are not in them.
TEST_F(NetlinkKernelTest, PerDeviceDumpsHoldOnlyThatDevicesEntries) {
  auto [br1, vx1] = network(100);
  auto [br2, vx2] = network(200);
  auto veth = k_->add_link({.name = "veth100", .kind = "veth", .veth_peer = "ceth100"});
  ASSERT_TRUE(veth.has_value()) << veth.error().message;
  ASSERT_TRUE(Ok(k_->set_link(veth->index, {.up = true, .master = br1.index})));
  const MacAddress workload = mac("02:00:00:00:01:07");
  ASSERT_TRUE(Ok(k_->add_fdb({veth->index, workload, std::nullopt, 0, 0, false}, false)));
  for (const auto& [vx, m] :
       {std::pair{vx1, mac("02:00:00:00:02:01")}, std::pair{vx2, mac("02:00:00:00:02:02")}}) {
    ASSERT_TRUE(Ok(k_->add_fdb({vx.index, m, ip("198.18.0.2"), 0, 0, true, true}, false)));
    ASSERT_TRUE(Ok(k_->add_fdb({vx.index, m, std::nullopt, 0, 0, false, true}, false)));
  }
  ASSERT_TRUE(Ok(k_->replace_neighbour(
      {br1.index, ip("100.64.1.21"), mac("02:00:00:00:02:01"), NUD_NOARP, true})));
  ASSERT_TRUE(Ok(k_->replace_neighbour(
      {br2.index, ip("100.64.2.21"), mac("02:00:00:00:02:02"), NUD_NOARP, true})));
  ASSERT_TRUE(Ok(k_->replace_neighbour(
      {br1.index, ip("fd00:64:1::21"), mac("02:00:00:00:02:01"), NUD_NOARP, true})));

  auto device = k_->device_fdb(vx1.index);
  ASSERT_TRUE(Ok(device));
  std::set<std::string> seen;
  for (const auto& e : *device) {
    EXPECT_EQ(e.ifindex, vx1.index);
    seen.insert(e.mac.to_string() + (e.self ? " self" : " master"));
  }
  EXPECT_TRUE(seen.contains("02:00:00:00:02:01 self"));
  EXPECT_TRUE(seen.contains("02:00:00:00:02:01 master"));
  EXPECT_FALSE(seen.contains("02:00:00:00:02:02 self"));

  auto bridge = k_->bridge_fdb(br1.index);
  ASSERT_TRUE(Ok(bridge));
  bool workload_seen = false;
  for (const auto& e : *bridge) {
    EXPECT_NE(e.ifindex, vx2.index);
    EXPECT_NE(e.ifindex, br2.index);
    if (e.mac == workload && e.ifindex == veth->index) workload_seen = true;
  }
  EXPECT_TRUE(workload_seen);

  auto ns = k_->neighbours_of(br1.index);
  ASSERT_TRUE(Ok(ns));
  std::set<IpAddress> ips;
  for (const auto& n : *ns) {
    EXPECT_EQ(n.ifindex, br1.index);
    // Not the kernel's own multicast entries (ff02::16 of an MLD report, there or not yet).
    if (n.mac && (n.mac->bytes[0] & 1) == 0) ips.insert(n.ip);
  }
  EXPECT_EQ(ips, (std::set{ip("100.64.1.21"), ip("fd00:64:1::21")}));
  // The request socket is back to lax checking: the other requests work as before.
  EXPECT_TRUE(Ok(k_->fdb()));
  EXPECT_TRUE(Ok(k_->neighbours()));
  EXPECT_TRUE(Ok(k_->links()));
}

// What the agent repairs from events: an address that goes, a link set down or given another MTU.
TEST_F(NetlinkKernelTest, MonitorReportsAddressesAndLinkChanges) {
  auto [br, vx] = network(500);
  ASSERT_TRUE(Ok(k_->add_address({br.index, ip("100.64.5.1"), 24})));
  auto mon = Monitor::open();
  ASSERT_TRUE(mon.has_value()) << mon.error().message;
  ASSERT_TRUE(Ok(k_->delete_address({br.index, ip("100.64.5.1"), 24})));
  ASSERT_TRUE(Ok(k_->set_link(vx.index, {.up = false})));
  ASSERT_TRUE(Ok(k_->set_link(br.index, {.mtu = 1400})));
  std::vector<Event> events;
  auto ok = mon->read([&](const Event& e) { events.push_back(e); },
                      [&](const Error& e) { ADD_FAILURE() << e.message; });
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  bool address_gone = false, vxlan_down = false, bridge_mtu = false;
  for (const auto& e : events) {
    if (auto* a = std::get_if<AddressEvent>(&e);
        a && a->removed && a->address == Address{br.index, ip("100.64.5.1"), 24})
      address_gone = true;
    if (auto* l = std::get_if<LinkEvent>(&e); l && !l->removed) {
      if (l->link.index == vx.index && !l->link.up) vxlan_down = true;
      if (l->link.index == br.index && l->link.mtu == 1400) bridge_mtu = true;
    }
  }
  EXPECT_TRUE(address_gone);
  EXPECT_TRUE(vxlan_down);
  EXPECT_TRUE(bridge_mtu);
}

// Many changes in few datagrams: every one made, and the one that fails named (by its place in
// the batch) with the kernel's reason, the others made all the same. 3,000 changes span several
// datagrams.
TEST_F(NetlinkKernelTest, ApplyMakesABatchAndNamesItsFailures) {
  auto [br, vx] = network(400);
  std::vector<EntryChange> batch;
  for (uint32_t i = 0; i < 1000; ++i) {
    const MacAddress m{
        {0x02, 0x00, 0x00, 0x04, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)}};
    batch.push_back(EntryChange::add_fdb({.ifindex = vx.index,
                                          .mac = m,
                                          .dst = ip("198.18.0.9"),
                                          .self = true,
                                          .extern_learned = true},
                                         false));
    batch.push_back(
        EntryChange::add_fdb({.ifindex = vx.index, .mac = m, .extern_learned = true}, false));
    batch.push_back(
        EntryChange::replace_neighbour({br.index, IpAddress::v4(0x64400000u + i), m, 0, true}));
  }
  // Deleting what is not there fails; it is the 1,501st change.
  batch.insert(batch.begin() + 1500, EntryChange::delete_fdb({.ifindex = vx.index,
                                                              .mac = mac("02:00:00:00:09:09"),
                                                              .dst = ip("198.18.0.9"),
                                                              .self = true}));
  auto failed = k_->apply(batch);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].index, 1500u);
  EXPECT_NE(failed[0].error.message.find("RTM_DELNEIGH fdb 02:00:00:00:09:09 dst 198.18.0.9"),
            std::string::npos)
      << failed[0].error.message;
  EXPECT_NE(failed[0].error.message.find("No such file or directory"), std::string::npos)
      << failed[0].error.message;
  auto fdb = k_->fdb();
  ASSERT_TRUE(fdb.has_value());
  size_t self = 0, bridge = 0;
  for (const auto& e : *fdb) {
    // Only ours: the bridge's own entry for the port's random MAC may also have 0x04 there.
    if (e.ifindex != vx.index || !e.extern_learned || e.mac.bytes[3] != 0x04) continue;
    ++(e.self ? self : bridge);
  }
  EXPECT_EQ(self, 1000u);
  EXPECT_EQ(bridge, 1000u);
  auto ns = k_->neighbours();
  ASSERT_TRUE(ns.has_value());
  EXPECT_EQ(
      std::count_if(ns->begin(), ns->end(),
                    [&](const Neighbour& n) { return n.ifindex == br.index && n.extern_learned; }),
      1000);
  // The socket is in step: a plain request afterwards works.
  EXPECT_TRUE(Ok(k_->set_link(br.index, {.mtu = 1400})));
}

// The agent's monitor does not hear its own externally learned entries being added (a socket
// filter), but hears them go, and hears everything else.
TEST_F(NetlinkKernelTest, MonitorCanIgnoreExternAdds) {
  auto [br, vx] = network(500);
  auto mon = Monitor::open(/*ignore_extern_adds=*/true);
  ASSERT_TRUE(mon.has_value()) << mon.error().message;
  const FdbEntry remote{.ifindex = vx.index,
                        .mac = mac("02:00:00:00:05:01"),
                        .dst = ip("198.18.0.9"),
                        .self = true,
                        .extern_learned = true};
  ASSERT_TRUE(Ok(k_->add_fdb(remote, false)));
  ASSERT_TRUE(Ok(k_->replace_neighbour({br.index, ip("100.64.5.1"), remote.mac, 0, true})));
  ASSERT_TRUE(Ok(k_->replace_neighbour({br.index, ip("100.64.5.2"), remote.mac, NUD_REACHABLE})));
  ASSERT_TRUE(Ok(k_->delete_fdb(remote)));
  std::vector<Event> events;
  auto ok = mon->read([&](const Event& e) { events.push_back(e); }, [](const Error&) {});
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  bool fdb_added = false, fdb_removed = false, ext_neigh = false, plain_neigh = false;
  for (const auto& e : events) {
    if (auto* f = std::get_if<FdbEvent>(&e); f && f->entry.mac == remote.mac && f->entry.self)
      (f->removed ? fdb_removed : fdb_added) = true;
    if (auto* n = std::get_if<NeighbourEvent>(&e); n && !n->removed) {
      if (n->neighbour.ip == ip("100.64.5.1")) ext_neigh = true;
      if (n->neighbour.ip == ip("100.64.5.2")) plain_neigh = true;
    }
  }
  EXPECT_FALSE(fdb_added);
  EXPECT_TRUE(fdb_removed);
  EXPECT_FALSE(ext_neigh);
  EXPECT_TRUE(plain_neigh);
}

// Rules by mark and with suppress_prefixlength (the agent's connection marks and NAT networks)
// are read back as they were made, next to a plain iif rule, and deleted exactly.
TEST_F(NetlinkKernelTest, RulesWithMarksAndSuppressPrefixlength) {
  const Rule plain{IpFamily::V4, 20000, "br100", 1224736868};
  const Rule suppress{.family = IpFamily::V6,
                      .priority = 20000,
                      .iif = "br100",
                      .table = 1224736868,
                      .suppress_prefixlength = 0};
  const Rule mark{.family = IpFamily::V4,
                  .priority = 20002,
                  .table = 1224741769,
                  .fwmark = 0x1389,
                  .fwmask = 0xffffff};
  for (const Rule& r : {plain, suppress, mark}) ASSERT_TRUE(Ok(k_->add_rule(r))) << r.to_string();
  auto rules = k_->rules();
  ASSERT_TRUE(Ok(rules));
  EXPECT_EQ(rules->size(), 3u);
  for (const Rule& r : {plain, suppress, mark})
    EXPECT_NE(std::find(rules->begin(), rules->end(), r), rules->end()) << r.to_string();
  EXPECT_EQ(mark.to_string(), "fwmark 0x1389/0xffffff lookup 1224741769");
  EXPECT_EQ(suppress.to_string(), "iif br100 lookup 1224736868 suppress_prefixlength 0");
  auto again = k_->add_rule(mark);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().message,
            "RTM_NEWRULE fwmark 0x1389/0xffffff lookup 1224741769: File exists");
  for (const Rule& r : {mark, suppress, plain})
    ASSERT_TRUE(Ok(k_->delete_rule(r))) << r.to_string();
  rules = k_->rules();
  ASSERT_TRUE(Ok(rules));
  EXPECT_TRUE(rules->empty());
}

}  // namespace
}  // namespace isthmus::kernel
