// The reconciler against the fake kernel: a network appears, stays put when nothing changes
// (also after a restart), follows moves and withdrawals with one change each, goes away without
// touching anything else, survives a failed change, and repairs drift.
#include "agent/reconciler.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "kernel/fake_kernel.h"

namespace isthmus::agent {
namespace {

using kernel::FakeKernel;
IpAddress ip(const char* s) { return *IpAddress::parse(s); }
MacAddress mac(const char* s) { return *MacAddress::parse(s); }

DesiredState two_networks() {
  DesiredState d;
  d.vtep = ip("198.18.0.1");
  NetworkState blue;
  blue.vni = 100;
  blue.gateway_mac = mac("02:00:00:64:00:01");
  blue.gateways = {{ip("100.64.1.1"), 24}, {ip("fd00:64:1::1"), 64}};
  blue.flood = {ip("198.18.0.2"), ip("198.18.0.3")};
  blue.macs = {{mac("02:00:00:00:02:01"), ip("198.18.0.2")},
               {mac("02:00:00:00:03:01"), ip("198.18.0.3")}};
  blue.ips = {{ip("100.64.1.21"), mac("02:00:00:00:02:01")},
              {ip("fd00:64:1::21"), mac("02:00:00:00:02:01")}};
  NetworkState red;
  red.vni = 200;
  red.gateway_mac = mac("02:00:00:64:00:01");
  red.gateways = {{ip("100.64.2.1"), 24}};
  red.flood = {ip("198.18.0.2")};
  d.networks = {blue, red};
  return d;
}

const kernel::Link* find(const std::vector<kernel::Link>& links, const std::string& name) {
  auto it = std::find_if(links.begin(), links.end(), [&](const auto& l) { return l.name == name; });
  return it == links.end() ? nullptr : &*it;
}

TEST(Reconciler, BuildsTheNetworks) {
  FakeKernel k;
  auto r = reconcile(k, two_networks());
  ASSERT_TRUE(r.ok()) << r.errors.front();
  auto links = *k.links();
  const auto* br = find(links, "br100");
  const auto* vx = find(links, "vxlan100");
  ASSERT_TRUE(br && vx);
  EXPECT_EQ(br->kind, "bridge");
  EXPECT_EQ(br->mac, mac("02:00:00:64:00:01"));
  EXPECT_EQ(br->mtu, 1450u);
  EXPECT_TRUE(br->up);
  EXPECT_EQ(br->alias, "isthmus:100");
  EXPECT_EQ(vx->master, br->index);
  EXPECT_EQ(vx->vxlan, (kernel::VxlanInfo{100, ip("198.18.0.1"), 4789, false}));
  EXPECT_EQ(vx->port, (kernel::BridgePortInfo{false, true}));
  EXPECT_TRUE(vx->up);
  ASSERT_TRUE(find(links, "vxlan200"));
  size_t flood = 0, remote = 0, bridge = 0;
  for (const auto& e : *k.fdb()) {
    if (e.ifindex != vx->index) continue;
    if (!e.self) {
      // The bridge's entry for the remote MAC on the VXLAN port (ARP/ND suppression needs it).
      EXPECT_TRUE(e.extern_learned);
      EXPECT_EQ(e.master, br->index);
      ++bridge;
      continue;
    }
    ++(e.mac == MacAddress{} ? flood : remote);
  }
  EXPECT_EQ(flood, 2u);
  EXPECT_EQ(remote, 2u);
  EXPECT_EQ(bridge, 2u);
  EXPECT_EQ(k.neighbours()->size(), 2u);
  EXPECT_EQ(k.addresses()->size(), 3u);
  EXPECT_EQ(r.changes, k.changes().size());
}

TEST(Reconciler, NothingToDoWhenAllIsRightAlsoAfterARestart) {
  FakeKernel k;
  ASSERT_TRUE(reconcile(k, two_networks()).ok());
  k.clear_changes();
  auto again = reconcile(k, two_networks());
  EXPECT_TRUE(again.ok());
  EXPECT_EQ(again.changes, 0u);
  EXPECT_TRUE(k.changes().empty());
  // A restarted agent has only the kernel to go by: the same desired state adopts it as it is.
  auto restarted = reconcile(k, two_networks());
  EXPECT_EQ(restarted.changes, 0u);
}

TEST(Reconciler, MovesAndWithdrawalsAreOneChangeEach) {
  FakeKernel k;
  DesiredState d = two_networks();
  ASSERT_TRUE(reconcile(k, d).ok());
  k.clear_changes();
  d.networks[0].macs[0].vtep = ip("198.18.0.3");  // the MAC moved (RFC 7432 §15)
  d.networks[0].flood.pop_back();                 // VTEP 198.18.0.3 left the VNI
  d.networks[0].ips.pop_back();                   // an IPv6 binding withdrawn
  auto r = reconcile(k, d);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(k.changes(), (std::vector<std::string>{
                             "delete_fdb 3 00:00:00:00:00:00 dst 198.18.0.3",
                             "add_fdb vxlan100 02:00:00:00:02:01 dst 198.18.0.3",
                             "delete_neighbour 2 fd00:64:1::21",
                         }));
}

TEST(Reconciler, ARestartKeepsRemoteEntriesUntilTheRoutesAreBack) {
  FakeKernel k;
  DesiredState before = two_networks();
  ASSERT_TRUE(reconcile(k, before).ok());
  const size_t fdb = k.fdb()->size();
  const size_t neighbours = k.neighbours()->size();
  // isthmusd restarted: the routes have not come back yet, one already has and moved.
  DesiredState now = two_networks();
  for (NetworkState& n : now.networks) {
    n.flood.clear();
    n.macs.clear();
    n.ips.clear();
  }
  now.networks[0].macs = {{mac("02:00:00:00:02:01"), ip("198.18.0.3")}};
  k.clear_changes();
  auto r = reconcile(k, now, {.keep_remote_entries = true});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(k.changes(), (std::vector<std::string>{
                             "add_fdb vxlan100 02:00:00:00:02:01 dst 198.18.0.3",
                         }));
  EXPECT_EQ(k.fdb()->size(), fdb);
  EXPECT_EQ(k.neighbours()->size(), neighbours);
  // The routes are complete: what did not come back goes.
  k.clear_changes();
  r = reconcile(k, now);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.changes, 7u);  // 3 flood entries, 1 MAC twice (VXLAN and bridge FDB), 2 neighbours
  EXPECT_EQ(k.neighbours()->size(), 0u);
  // A network removed while restarting goes all the same.
  now.networks.pop_back();
  ASSERT_TRUE(reconcile(k, now, {.keep_remote_entries = true}).ok());
  EXPECT_FALSE(find(*k.links(), "br200"));
}

TEST(Reconciler, RoutesBetweenTheNetworksOfAVrf) {
  FakeKernel k;
  DesiredState d = two_networks();
  NetworkState green = d.networks[1];  // red's twin, in blue's VRF
  green.vni = 300;
  green.gateways = {{ip("100.64.3.1"), 24}};
  d.networks[0].table = kTableBase + 100;
  green.table = kTableBase + 100;
  d.networks[1].table = kTableBase + 200;  // red: a VRF of its own
  d.networks.push_back(green);
  ASSERT_TRUE(reconcile(k, d).ok());
  const auto links = *k.links();
  const int br100 = find(links, "br100")->index;
  const int br300 = find(links, "br300")->index;
  // One rule per bridge and family into its VRF's table.
  auto rules = *k.rules();
  std::sort(rules.begin(), rules.end(), [](const auto& a, const auto& b) {
    return std::tie(a.iif, a.family) < std::tie(b.iif, b.family);
  });
  EXPECT_EQ(rules, (std::vector<kernel::Rule>{
                       {IpFamily::V4, kRulePriority, "br100", kTableBase + 100},
                       {IpFamily::V6, kRulePriority, "br100", kTableBase + 100},
                       {IpFamily::V4, kRulePriority, "br200", kTableBase + 200},
                       {IpFamily::V4, kRulePriority, "br300", kTableBase + 100},
                   }));
  // Blue's table: blue's and green's subnets, unreachable defaults; red's: its own.
  auto table = *k.routes(kTableBase + 100);
  auto has = [&](const std::vector<kernel::Route>& t, const char* dst, int oif, bool unreachable) {
    return std::any_of(t.begin(), t.end(), [&](const auto& r) {
      return r.dst == *Prefix::parse(dst) && r.oif == oif && r.unreachable == unreachable;
    });
  };
  EXPECT_EQ(table.size(), 5u);
  EXPECT_TRUE(has(table, "100.64.1.0/24", br100, false));
  EXPECT_TRUE(has(table, "fd00:64:1::/64", br100, false));
  EXPECT_TRUE(has(table, "100.64.3.0/24", br300, false));
  EXPECT_TRUE(has(table, "0.0.0.0/0", 0, true));
  EXPECT_TRUE(has(table, "::/0", 0, true));
  table = *k.routes(kTableBase + 200);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_FALSE(has(table, "100.64.1.0/24", br100, false));
  // The bridges forward; IPv6 forwards globally.
  EXPECT_EQ(*k.sysctl("net/ipv4/conf/br100/forwarding"), "1");
  EXPECT_EQ(*k.sysctl("net/ipv4/conf/br300/forwarding"), "1");
  EXPECT_EQ(*k.sysctl("net/ipv6/conf/all/forwarding"), "1");
  // Nothing to do the second time.
  k.clear_changes();
  ASSERT_TRUE(reconcile(k, d).ok());
  EXPECT_TRUE(k.changes().empty()) << k.changes().front();
  // Green leaves the VRF (its own now): its rule moves, blue's table loses its subnet.
  d.networks[2].table = kTableBase + 300;
  ASSERT_TRUE(reconcile(k, d).ok());
  EXPECT_FALSE(has(*k.routes(kTableBase + 100), "100.64.3.0/24", br300, false));
  EXPECT_TRUE(has(*k.routes(kTableBase + 300), "100.64.3.0/24", br300, false));
  // No routing at all: no rule, no route of ours is left.
  for (auto& n : d.networks) n.table = 0;
  ASSERT_TRUE(reconcile(k, d).ok());
  EXPECT_TRUE(k.rules()->empty());
  for (uint32_t t : {kTableBase + 100, kTableBase + 200, kTableBase + 300})
    EXPECT_TRUE(k.routes(t)->empty()) << t;
}

TEST(Reconciler, ARemovedNetworkGoesAndNothingElse) {
  FakeKernel k;
  auto foreign = k.add_link({.name = "br999", .kind = "bridge"});  // not ours
  ASSERT_TRUE(foreign.has_value());
  DesiredState d = two_networks();
  ASSERT_TRUE(reconcile(k, d).ok());
  d.networks.pop_back();  // red goes
  k.clear_changes();
  auto r = reconcile(k, d);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(k.changes(), (std::vector<std::string>{"delete_link vxlan200", "delete_link br200"}));
  auto links = *k.links();
  EXPECT_TRUE(find(links, "br999"));
  EXPECT_TRUE(find(links, "br100"));
  EXPECT_FALSE(find(links, "vxlan200"));
  EXPECT_EQ(k.addresses()->size(), 2u);  // red's gateway address went with its bridge
  // Everything goes when nothing is wanted.
  d.networks.clear();
  ASSERT_TRUE(reconcile(k, d).ok());
  links = *k.links();
  EXPECT_EQ(links.size(), 2u);  // lo, br999
  EXPECT_TRUE(k.fdb()->empty());
  EXPECT_TRUE(k.neighbours()->empty());
}

TEST(Reconciler, AFailedChangeIsReportedTheRestIsDoneAndTheNextRunFinishes) {
  FakeKernel k;
  k.fail_next("add_fdb vxlan100 02:00:00:00:03:01", "No buffer space available");
  auto r = reconcile(k, two_networks());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0],
            "add_fdb vxlan100 02:00:00:00:03:01 dst 198.18.0.3: No buffer space available");
  EXPECT_EQ(k.neighbours()->size(), 2u);  // the rest went on
  k.clear_changes();
  auto next = reconcile(k, two_networks());
  EXPECT_TRUE(next.ok());
  EXPECT_EQ(k.changes(),
            std::vector<std::string>{"add_fdb vxlan100 02:00:00:00:03:01 dst 198.18.0.3"});
}

TEST(Reconciler, RepairsDriftAndLeavesForeignNamesAlone) {
  FakeKernel k;
  ASSERT_TRUE(reconcile(k, two_networks()).ok());
  auto links = *k.links();
  const int vx = find(links, "vxlan100")->index;
  // Someone turned learning back on and added an address to our bridge.
  ASSERT_TRUE(k.set_bridge_port(vx, {true, false}).has_value());
  ASSERT_TRUE(k.add_address({find(links, "br100")->index, ip("100.64.1.99"), 24}).has_value());
  k.clear_changes();
  auto r = reconcile(k, two_networks());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(k.changes(), (std::vector<std::string>{
                             "set_bridge_port vxlan100 learning false neigh_suppress true",
                             "delete_address 2 100.64.1.99/24",
                         }));
  // Our VTEP address changed: the VXLAN devices are made again.
  DesiredState moved = two_networks();
  moved.vtep = ip("198.18.0.11");
  k.clear_changes();
  ASSERT_TRUE(reconcile(k, moved).ok());
  links = *k.links();
  EXPECT_EQ(find(links, "vxlan100")->vxlan->local, ip("198.18.0.11"));
  EXPECT_EQ(find(links, "vxlan100")->master, find(links, "br100")->index);

  // br300 is taken by something that is not a bridge: reported, not touched.
  FakeKernel k2;
  ASSERT_TRUE(k2.add_link({.name = "br300", .kind = "veth", .veth_peer = "x300"}).has_value());
  DesiredState d;
  d.vtep = ip("198.18.0.1");
  d.networks.push_back(NetworkState{.vni = 300});
  auto bad = reconcile(k2, d);
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0],
            "network 300: br300 exists and is a veth link, not a bridge: left alone");
  EXPECT_EQ(k2.links()->size(), 3u);
}

// ---- Incremental changes (apply_changes) ----

// The kernel's FDB and neighbours as comparable text.
std::vector<std::string> entries(FakeKernel& k) {
  std::vector<std::string> out;
  for (const auto& e : *k.fdb())
    out.push_back(fmt::format("fdb {} {} {} self={} ext={}", e.ifindex, e.mac.to_string(),
                              e.dst ? e.dst->to_string() : "-", e.self, e.extern_learned));
  for (const auto& n : *k.neighbours())
    out.push_back(fmt::format("neigh {} {} {} ext={}", n.ifindex, n.ip.to_string(),
                              n.mac ? n.mac->to_string() : "-", n.extern_learned));
  std::sort(out.begin(), out.end());
  return out;
}

// What changed between two states of a network, as the agent hands it to apply_changes().
NetworkChanges changes_between(const NetworkState& a, const NetworkState& b, int bridge,
                               int vxlan) {
  auto targets = [](const NetworkState& n) {
    std::map<MacAddress, MacTarget> t;
    for (const auto& m : n.macs) t[m.mac].vtep = m.vtep;
    for (const auto& x : n.ips) t[x.mac].ips.push_back(x.ip);
    return t;
  };
  const auto ta = targets(a), tb = targets(b);
  NetworkChanges c{.vni = a.vni, .bridge = bridge, .vxlan = vxlan};
  std::set<MacAddress> all;
  for (const auto& [m, t] : ta) all.insert(m);
  for (const auto& [m, t] : tb) all.insert(m);
  for (const MacAddress& m : all) {
    MacChange mc{.mac = m};
    if (auto it = ta.find(m); it != ta.end()) mc.before = it->second;
    if (auto it = tb.find(m); it != tb.end()) mc.after = it->second;
    if (mc.before != mc.after) c.macs.push_back(mc);
  }
  if (a.flood != b.flood) c.flood = FloodChange{a.flood, b.flood};
  return c;
}

TEST(Reconciler, IncrementalChangesLeaveTheKernelAsAFullReconcileWould) {
  const DesiredState s1 = two_networks();
  DesiredState s2 = s1;
  NetworkState& blue = s2.networks[0];
  // 02:01 moves to VTEP 3 and loses its IPv6 binding; 03:01 is withdrawn; 04:01 appears at a new
  // VTEP and takes over 100.64.1.21 from 02:01 (in the same batch); the flood list follows.
  blue.macs = {{mac("02:00:00:00:02:01"), ip("198.18.0.3")},
               {mac("02:00:00:00:04:01"), ip("198.18.0.4")}};
  blue.ips = {{ip("100.64.1.21"), mac("02:00:00:00:04:01")},
              {ip("100.64.1.41"), mac("02:00:00:00:04:01")}};
  blue.flood = {ip("198.18.0.3"), ip("198.18.0.4")};
  // red gains a MAC.
  s2.networks[1].macs = {{mac("02:00:00:00:05:01"), ip("198.18.0.2")}};
  s2.networks[1].ips = {{ip("100.64.2.51"), mac("02:00:00:00:05:01")}};

  FakeKernel incremental;
  auto r1 = reconcile(incremental, s1);
  ASSERT_TRUE(r1.ok());
  std::vector<NetworkChanges> changes;
  for (size_t i = 0; i < s1.networks.size(); ++i)
    changes.push_back(
        changes_between(s1.networks[i], s2.networks[i], r1.devices[i].bridge, r1.devices[i].vxlan));
  incremental.clear_changes();
  auto r2 = apply_changes(incremental, changes);
  ASSERT_TRUE(r2.ok()) << r2.errors.front();
  EXPECT_EQ(r2.changes, incremental.changes().size());

  FakeKernel full;
  ASSERT_TRUE(reconcile(full, s2).ok());
  EXPECT_EQ(entries(incremental), entries(full));
  // And a full reconcile finds nothing left to do.
  incremental.clear_changes();
  auto again = reconcile(incremental, s2);
  EXPECT_TRUE(again.ok());
  EXPECT_EQ(again.changes, 0u) << fmt::format("{}", fmt::join(incremental.changes(), "; "));

  // Back again: everything withdrawn but the networks.
  DesiredState empty = s2;
  for (auto& n : empty.networks) n.macs.clear(), n.ips.clear(), n.flood.clear();
  changes.clear();
  for (size_t i = 0; i < s2.networks.size(); ++i)
    changes.push_back(changes_between(s2.networks[i], empty.networks[i], r1.devices[i].bridge,
                                      r1.devices[i].vxlan));
  ASSERT_TRUE(apply_changes(incremental, changes).ok());
  EXPECT_TRUE(incremental.fdb()->empty());
  EXPECT_TRUE(incremental.neighbours()->empty());
}

TEST(Reconciler, IncrementalChangesOnlyTouchWhatChanged) {
  const DesiredState s1 = two_networks();
  FakeKernel k;
  auto r = reconcile(k, s1);
  ASSERT_TRUE(r.ok());
  k.clear_changes();
  // One MAC moves: its VTEP entry is replaced, the bridge's entry and the neighbours stay.
  NetworkChanges c{.vni = 100, .bridge = r.devices[0].bridge, .vxlan = r.devices[0].vxlan};
  c.macs.push_back({mac("02:00:00:00:02:01"),
                    MacTarget{ip("198.18.0.2"), {ip("100.64.1.21"), ip("fd00:64:1::21")}},
                    MacTarget{ip("198.18.0.3"), {ip("100.64.1.21"), ip("fd00:64:1::21")}}});
  ASSERT_TRUE(apply_changes(k, std::vector{c}).ok());
  EXPECT_EQ(k.changes(),
            std::vector<std::string>{"add_fdb vxlan100 02:00:00:00:02:01 dst 198.18.0.3"});
}

TEST(Reconciler, AFailedIncrementalChangeIsReportedAndTheRestIsDone) {
  FakeKernel k;
  auto r = reconcile(k, two_networks());
  ASSERT_TRUE(r.ok());
  NetworkChanges c{.vni = 100, .bridge = r.devices[0].bridge, .vxlan = r.devices[0].vxlan};
  c.macs.push_back({mac("02:00:00:00:06:01"), std::nullopt, MacTarget{ip("198.18.0.2"), {}}});
  c.macs.push_back({mac("02:00:00:00:07:01"), std::nullopt, MacTarget{ip("198.18.0.3"), {}}});
  k.fail_next("add_fdb vxlan100 02:00:00:00:06:01 dst", "No buffer space available");
  auto failed = apply_changes(k, std::vector{c});
  ASSERT_EQ(failed.errors.size(), 1u);
  EXPECT_EQ(failed.errors[0],
            "add_fdb vxlan100 02:00:00:00:06:01 dst 198.18.0.2: No buffer space available");
  EXPECT_EQ(failed.changes, 3u);  // 06:01's bridge entry, 07:01's two
  // The full reconcile the agent falls back to finishes the job.
  DesiredState d = two_networks();
  d.networks[0].macs.push_back({mac("02:00:00:00:06:01"), ip("198.18.0.2")});
  d.networks[0].macs.push_back({mac("02:00:00:00:07:01"), ip("198.18.0.3")});
  k.clear_changes();
  ASSERT_TRUE(reconcile(k, d).ok());
  EXPECT_EQ(k.changes(),
            std::vector<std::string>{"add_fdb vxlan100 02:00:00:00:06:01 dst 198.18.0.2"});
}

TEST(Reconciler, OverlayMtu) {
  EXPECT_EQ(overlay_mtu(1500, false), 1450u);
  EXPECT_EQ(overlay_mtu(1500, true), 1430u);
  EXPECT_EQ(overlay_mtu(9000, false), 8950u);
  EXPECT_EQ(overlay_mtu(40, false), 0u);
}

}  // namespace
}  // namespace isthmus::agent
