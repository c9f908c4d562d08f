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
// Routes checked as the kernel checks them (a gateway reachable or onlink, the device up).
constexpr auto kChecked = FakeKernel::RouteChecks::Kernel;
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
  FakeKernel k{kChecked};
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
  FakeKernel k{kChecked};
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
  FakeKernel k{kChecked};
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
  FakeKernel k{kChecked};
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
  FakeKernel k{kChecked};
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

// A silent host of a stretched network is resolved by other nodes from their own bridges, and
// answers to the gateway MAC: each gateway bridge's kernel learns from such answers (arp_accept,
// accept_untracked_na with forwarding on the device), from its own subnets only (2).
TEST(Reconciler, GatewayBridgesLearnFromAnswersToTheGateway) {
  FakeKernel k{kChecked};
  DesiredState d = two_networks();  // blue: IPv4 and IPv6 gateways; red: IPv4 only
  d.networks[0].table = kTableBase + 100;
  d.networks[1].table = kTableBase + 100;
  ASSERT_TRUE(reconcile(k, d).ok());
  EXPECT_EQ(*k.sysctl("net/ipv4/conf/br100/arp_accept"), "2");
  EXPECT_EQ(*k.sysctl("net/ipv6/conf/br100/accept_untracked_na"), "2");
  EXPECT_EQ(*k.sysctl("net/ipv6/conf/br100/forwarding"), "1");
  EXPECT_EQ(*k.sysctl("net/ipv4/conf/br200/arp_accept"), "2");
  EXPECT_EQ(*k.sysctl("net/ipv6/conf/br200/accept_untracked_na"), "0");  // no IPv6 gateway
  EXPECT_EQ(*k.sysctl("net/ipv6/conf/br200/forwarding"), "0");
  // Nothing to do the second time; a value changed under the agent is set again.
  k.clear_changes();
  ASSERT_TRUE(reconcile(k, d).ok());
  EXPECT_TRUE(k.changes().empty()) << k.changes().front();
  ASSERT_TRUE(k.set_sysctl("net/ipv4/conf/br100/arp_accept", "0").has_value());
  ASSERT_TRUE(k.set_sysctl("net/ipv6/conf/br100/accept_untracked_na", "1").has_value());
  k.clear_changes();
  ASSERT_TRUE(reconcile(k, d).ok());
  EXPECT_EQ(k.changes(), (std::vector<std::string>{
                             "sysctl net/ipv4/conf/br100/arp_accept=2",
                             "sysctl net/ipv6/conf/br100/accept_untracked_na=2",
                         }));
}

// A kernel older than accept_untracked_na (Linux 5.19): the networks work, the missing key is
// reported as unsupported, not as an error that would make every run a retry.
TEST(Reconciler, AMissingLearningSysctlIsUnsupportedNotAnError) {
  FakeKernel k{kChecked};
  k.lack_sysctl("/accept_untracked_na");
  DesiredState d = two_networks();
  d.networks[0].table = kTableBase + 100;
  auto r = reconcile(k, d);
  EXPECT_TRUE(r.ok()) << r.errors.front();
  EXPECT_EQ(r.unsupported,
            (std::vector<std::string>{"sysctl net/ipv6/conf/br100/accept_untracked_na: No such "
                                      "file or directory (silent hosts are learned only once "
                                      "they speak)"}));
  EXPECT_EQ(*k.sysctl("net/ipv4/conf/br100/arp_accept"), "2");
  EXPECT_TRUE(reconcile(k, d).ok());
}

TEST(Reconciler, ARemovedNetworkGoesAndNothingElse) {
  FakeKernel k{kChecked};
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
  FakeKernel k{kChecked};
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
  FakeKernel k{kChecked};
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
  FakeKernel k2{kChecked};
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

  FakeKernel incremental{kChecked};
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

  FakeKernel full{kChecked};
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
  FakeKernel k{kChecked};
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
  FakeKernel k{kChecked};
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

// ---- Symmetric IRB: the tenants' L3 VNIs ----

const uint32_t kTenantTable = kTableBase + 5001;

// Blue (VNI 100) in tenant 5001 with remote routes: VTEP 2's subnet, one of its hosts and its
// IPv6 subnet, VTEP 3's default route, and VTEP 3's share of blue's subnet (stretched: blue's
// connected route wins) with one of its hosts.
DesiredState tenant() {
  DesiredState d = two_networks();
  d.networks[0].table = kTenantTable;
  d.networks[1].table = kTableBase + 200;  // red: a VRF of its own, untouched by the tenant
  L3VniState l3;
  l3.vni = 5001;
  l3.table = kTenantTable;
  l3.router_mac = mac("02:aa:00:00:50:01");
  const MacAddress b = mac("02:bb:00:00:50:01"), c = mac("02:cc:00:00:50:01");
  l3.routes = {
      {*Prefix::parse("100.64.2.0/24"), ip("198.18.0.2"), b},
      {*Prefix::parse("100.64.2.10/32"), ip("198.18.0.2"), b},
      {*Prefix::parse("fd00:64:2::/64"), ip("198.18.0.2"), b},
      {*Prefix::parse("0.0.0.0/0"), ip("198.18.0.3"), c},
      {*Prefix::parse("100.64.1.0/24"), ip("198.18.0.3"), c},
      {*Prefix::parse("100.64.1.20/32"), ip("198.18.0.3"), c},
  };
  d.l3vnis = {l3};
  return d;
}

// A table as comparable text: "dst via gateway dev oif onlink metric" / "dst unreachable".
std::set<std::string> table_text(kernel::Kernel& k, uint32_t table) {
  std::set<std::string> out;
  for (const auto& r : *k.routes(table))
    out.insert(r.unreachable ? fmt::format("{} unreachable metric {}", r.dst.to_string(), r.metric)
                             : fmt::format("{}{} dev {}{} metric {}", r.dst.to_string(),
                                           r.gateway ? " via " + r.gateway->to_string() : "", r.oif,
                                           r.onlink ? " onlink" : "", r.metric));
  return out;
}

// The L3 VNI's VTEP entries as text: "neigh IP MAC", "fdb MAC VTEP".
std::set<std::string> l3_entries_text(kernel::Kernel& k, int bridge, int vxlan) {
  std::set<std::string> out;
  for (const auto& n : *k.neighbours())
    if (n.ifindex == bridge)
      out.insert(fmt::format("neigh {} {}{}", n.ip.to_string(), n.mac ? n.mac->to_string() : "-",
                             n.extern_learned ? "" : " (not ext)"));
  for (const auto& e : *k.fdb())
    if (e.ifindex == vxlan)
      out.insert(fmt::format("fdb {} {}{}", e.mac.to_string(), e.dst ? e.dst->to_string() : "-",
                             e.self ? "" : " master"));
  return out;
}

TEST(Reconciler, BuildsATenantsL3Vni) {
  FakeKernel k{kChecked};
  auto r = reconcile(k, tenant());
  ASSERT_TRUE(r.ok()) << r.errors.front();
  const auto links = *k.links();
  const auto* br = find(links, "br5001");
  const auto* vx = find(links, "vxlan5001");
  ASSERT_TRUE(br && vx);
  EXPECT_EQ(br->mac, mac("02:aa:00:00:50:01"));  // the router MAC
  EXPECT_EQ(br->alias, "isthmus:5001");
  EXPECT_EQ(br->mtu, 1450u);
  EXPECT_TRUE(br->up);
  EXPECT_EQ(vx->vxlan, (kernel::VxlanInfo{5001, ip("198.18.0.1"), 4789, false}));
  EXPECT_EQ(vx->master, br->index);
  EXPECT_EQ(vx->port, (kernel::BridgePortInfo{false, false}));
  ASSERT_EQ(r.l3_devices.size(), 1u);
  EXPECT_EQ(r.l3_devices[0].vni, 5001u);
  EXPECT_EQ(r.l3_devices[0].bridge, br->index);
  EXPECT_EQ(r.l3_devices[0].vxlan, vx->index);
  EXPECT_TRUE(k.addresses()->size() == 3u);  // blue's and red's gateways; none on br5001
  // Rules: the L3 VNI's bridge into the tenant's table, both families, beside blue's.
  auto rules = *k.rules();
  for (IpFamily f : {IpFamily::V4, IpFamily::V6})
    EXPECT_NE(std::find(rules.begin(), rules.end(),
                        kernel::Rule{f, kRulePriority, "br5001", kTenantTable}),
              rules.end());
  EXPECT_EQ(rules.size(), 5u);  // br100 v4+v6, br200 v4, br5001 v4+v6
  // The tenant's table: blue's connected routes (the remote share of its subnet is not
  // installed), the remote routes onlink through br5001, the unreachable defaults behind them.
  const int br100 = find(links, "br100")->index;
  const int b = br->index;
  EXPECT_EQ(table_text(k, kTenantTable),
            (std::set<std::string>{
                fmt::format("100.64.1.0/24 dev {} metric 0", br100),
                fmt::format("fd00:64:1::/64 dev {} metric 1024", br100),
                fmt::format("100.64.2.0/24 via 198.18.0.2 dev {} onlink metric 0", b),
                fmt::format("100.64.2.10/32 via 198.18.0.2 dev {} onlink metric 0", b),
                fmt::format("fd00:64:2::/64 via ::ffff:198.18.0.2 dev {} onlink metric 1024", b),
                fmt::format("0.0.0.0/0 via 198.18.0.3 dev {} onlink metric 0", b),
                fmt::format("100.64.1.20/32 via 198.18.0.3 dev {} onlink metric 0", b),
                "0.0.0.0/0 unreachable metric 4278198272",
                "::/0 unreachable metric 4278198272",
            }));
  // Red's table knows nothing of the tenant.
  EXPECT_EQ(k.routes(kTableBase + 200)->size(), 2u);
  // Per remote VTEP: neighbours on br5001 (IPv4 and IPv4-mapped), its router MAC on vxlan5001.
  EXPECT_EQ(l3_entries_text(k, b, vx->index), (std::set<std::string>{
                                                  "neigh 198.18.0.2 02:bb:00:00:50:01",
                                                  "neigh ::ffff:198.18.0.2 02:bb:00:00:50:01",
                                                  "neigh 198.18.0.3 02:cc:00:00:50:01",
                                                  "neigh ::ffff:198.18.0.3 02:cc:00:00:50:01",
                                                  "fdb 02:bb:00:00:50:01 198.18.0.2",
                                                  "fdb 02:cc:00:00:50:01 198.18.0.3",
                                              }));
  EXPECT_EQ(*k.sysctl("net/ipv4/conf/br5001/forwarding"), "1");
  EXPECT_EQ(*k.sysctl("net/ipv4/conf/br5001/arp_accept"), "0");  // no gateway, no host there
  EXPECT_EQ(*k.sysctl("net/ipv6/conf/br5001/accept_untracked_na"), "0");
  EXPECT_EQ(r.changes, k.changes().size());
  // A second run, or a restarted agent, changes nothing.
  k.clear_changes();
  auto again = reconcile(k, tenant());
  EXPECT_TRUE(again.ok());
  EXPECT_EQ(again.changes, 0u) << fmt::format("{}", fmt::join(k.changes(), "; "));
}

TEST(Reconciler, TenantRoutesAddedAndRemovedAreMinimal) {
  FakeKernel k{kChecked};
  DesiredState d = tenant();
  ASSERT_TRUE(reconcile(k, d).ok());
  // VTEP 2's host route goes, VTEP 4 brings a subnet: its entries come before its route.
  auto& routes = d.l3vnis[0].routes;
  routes.erase(routes.begin() + 1);
  routes.push_back({*Prefix::parse("100.64.4.0/24"), ip("198.18.0.4"), mac("02:dd:00:00:50:01")});
  k.clear_changes();
  auto r = reconcile(k, d);
  ASSERT_TRUE(r.ok()) << r.errors.front();
  EXPECT_EQ(k.changes(), (std::vector<std::string>{
                             "replace_neighbour br5001 ::ffff:198.18.0.4",
                             "replace_neighbour br5001 198.18.0.4",
                             "add_fdb vxlan5001 02:dd:00:00:50:01 dst 198.18.0.4",
                             "replace_route 100.64.4.0/24",
                             "delete_route 100.64.2.10/32",
                         }));
  // VTEP 3 withdraws everything: its routes go first, then its entries.
  std::erase_if(routes, [](const L3Route& x) { return x.vtep == ip("198.18.0.3"); });
  k.clear_changes();
  r = reconcile(k, d);
  ASSERT_TRUE(r.ok()) << r.errors.front();
  EXPECT_EQ(k.changes(), (std::vector<std::string>{
                             "delete_route 0.0.0.0/0",
                             "delete_route 100.64.1.20/32",
                             "delete_neighbour 6 ::ffff:198.18.0.3",
                             "delete_neighbour 6 198.18.0.3",
                             "delete_fdb 7 02:cc:00:00:50:01 dst 198.18.0.3",
                         }));
  // A VTEP's router MAC changes: its entries are replaced, its routes stay.
  for (auto& x : routes)
    if (x.vtep == ip("198.18.0.4")) x.router_mac = mac("02:dd:00:00:50:02");
  k.clear_changes();
  ASSERT_TRUE(reconcile(k, d).ok());
  EXPECT_EQ(k.changes(), (std::vector<std::string>{
                             "replace_neighbour br5001 ::ffff:198.18.0.4",
                             "replace_neighbour br5001 198.18.0.4",
                             "add_fdb vxlan5001 02:dd:00:00:50:02 dst 198.18.0.4",
                             "delete_fdb 7 02:dd:00:00:50:01 dst 198.18.0.4",
                         }));
}

// The unreachable default of an earlier version (metric 0) gives way to a remote default and
// the high-metric unreachable one, without an error on the way.
TEST(Reconciler, ALearnedDefaultWinsOverTheUnreachableOne) {
  FakeKernel k{kChecked};
  DesiredState d = tenant();
  ASSERT_TRUE(reconcile(k, d).ok());
  const Prefix any4 = *Prefix::parse("0.0.0.0/0");
  // The kernel as an earlier agent left it: only the metric-0 unreachable default.
  for (const auto& r : *k.routes(kTenantTable))
    if (r.dst == any4) {
      ASSERT_TRUE(k.delete_route(r).has_value());
    }
  ASSERT_TRUE(
      k.replace_route(
           {.dst = any4, .table = kTenantTable, .protocol = kRouteProtocol, .unreachable = true})
          .has_value());
  k.clear_changes();
  auto r = reconcile(k, d);
  ASSERT_TRUE(r.ok()) << r.errors.front();
  EXPECT_EQ(k.changes(),
            (std::vector<std::string>{"replace_route 0.0.0.0/0", "replace_route 0.0.0.0/0"}));
  std::set<std::string> defaults;
  for (const auto& x : table_text(k, kTenantTable))
    if (x.starts_with("0.0.0.0/0")) defaults.insert(x);
  EXPECT_EQ(defaults.size(), 2u);
  EXPECT_TRUE(defaults.contains("0.0.0.0/0 unreachable metric 4278198272"));
  // Withdrawn: only the unreachable one is left.
  std::erase_if(d.l3vnis[0].routes, [&](const L3Route& x) { return x.prefix == any4; });
  ASSERT_TRUE(reconcile(k, d).ok());
  defaults.clear();
  for (const auto& x : table_text(k, kTenantTable))
    if (x.starts_with("0.0.0.0/0")) defaults.insert(x);
  EXPECT_EQ(defaults, std::set<std::string>{"0.0.0.0/0 unreachable metric 4278198272"});
}

TEST(Reconciler, ARemovedL3VniLeavesNothingAndTouchesNothingElse) {
  FakeKernel k{kChecked};
  auto foreign = k.add_link({.name = "br999", .kind = "bridge"});  // not ours
  ASSERT_TRUE(foreign.has_value());
  ASSERT_TRUE(k.set_link(foreign->index, {.up = true}).has_value());
  const kernel::Rule foreign_rule{IpFamily::V4, 100, "br999", 999};
  ASSERT_TRUE(k.add_rule(foreign_rule).has_value());
  const kernel::Route foreign_route{.dst = *Prefix::parse("100.64.9.0/24"),
                                    .gateway = ip("198.18.0.9"),
                                    .oif = foreign->index,
                                    .table = kTenantTable,
                                    .protocol = 4,
                                    .onlink = true};
  ASSERT_TRUE(k.replace_route(foreign_route).has_value());
  DesiredState d = tenant();
  ASSERT_TRUE(reconcile(k, d).ok());
  const auto before = *k.links();
  const int br = find(before, "br5001")->index, vx = find(before, "vxlan5001")->index;
  d.l3vnis.clear();
  auto r = reconcile(k, d);
  ASSERT_TRUE(r.ok()) << r.errors.front();
  const auto links = *k.links();
  EXPECT_FALSE(find(links, "br5001"));
  EXPECT_FALSE(find(links, "vxlan5001"));
  EXPECT_TRUE(find(links, "br999"));
  EXPECT_TRUE(l3_entries_text(k, br, vx).empty());
  auto rules = *k.rules();
  EXPECT_TRUE(
      std::none_of(rules.begin(), rules.end(), [](const auto& x) { return x.iif == "br5001"; }));
  EXPECT_NE(std::find(rules.begin(), rules.end(), foreign_rule), rules.end());
  // Blue's part of the table stays, and the foreign route.
  EXPECT_EQ(table_text(k, kTenantTable),
            (std::set<std::string>{
                fmt::format("100.64.1.0/24 dev {} metric 0", find(links, "br100")->index),
                fmt::format("fd00:64:1::/64 dev {} metric 1024", find(links, "br100")->index),
                fmt::format("100.64.9.0/24 via 198.18.0.9 dev {} onlink metric 0", foreign->index),
                "0.0.0.0/0 unreachable metric 4278198272",
                "::/0 unreachable metric 4278198272",
            }));
  // Nothing at all wanted: the table keeps only what is not ours.
  d.networks.clear();
  ASSERT_TRUE(reconcile(k, d).ok());
  EXPECT_EQ(table_text(k, kTenantTable),
            (std::set<std::string>{fmt::format(
                "100.64.9.0/24 via 198.18.0.9 dev {} onlink metric 0", foreign->index)}));
  EXPECT_EQ(*k.rules(), std::vector<kernel::Rule>{foreign_rule});
}

TEST(Reconciler, ARestartKeepsTheTenantsRemoteRoutesAndEntries) {
  FakeKernel k{kChecked};
  ASSERT_TRUE(reconcile(k, tenant()).ok());
  const auto links = *k.links();
  const int br = find(links, "br5001")->index, vx = find(links, "vxlan5001")->index;
  const auto table = table_text(k, kTenantTable);
  const auto entries = l3_entries_text(k, br, vx);
  // isthmusd restarted: no routes yet, but one that came back with another router MAC.
  DesiredState now = tenant();
  now.l3vnis[0].routes = {
      {*Prefix::parse("100.64.2.0/24"), ip("198.18.0.2"), mac("02:bb:00:00:50:02")}};
  k.clear_changes();
  auto r = reconcile(k, now, {.keep_remote_entries = true});
  ASSERT_TRUE(r.ok()) << r.errors.front();
  EXPECT_EQ(k.changes(), (std::vector<std::string>{
                             "replace_neighbour br5001 ::ffff:198.18.0.2",
                             "replace_neighbour br5001 198.18.0.2",
                             "add_fdb vxlan5001 02:bb:00:00:50:02 dst 198.18.0.2",
                         }));
  EXPECT_EQ(table_text(k, kTenantTable), table);
  EXPECT_EQ(l3_entries_text(k, br, vx).size(), entries.size() + 1);  // the old RMAC's FDB entry
  // The routes are complete: what did not come back goes.
  ASSERT_TRUE(reconcile(k, now).ok());
  EXPECT_EQ(l3_entries_text(k, br, vx), (std::set<std::string>{
                                            "neigh 198.18.0.2 02:bb:00:00:50:02",
                                            "neigh ::ffff:198.18.0.2 02:bb:00:00:50:02",
                                            "fdb 02:bb:00:00:50:02 198.18.0.2",
                                        }));
  EXPECT_EQ(table_text(k, kTenantTable).size(), 5u);  // 2 connected, 2 unreachable, 1 remote
}

// The incremental path for L3 changes: the kernel ends as the full reconcile leaves it, with
// reads of the tenant's table only.
class Counting final : public kernel::Kernel {
 public:
  explicit Counting(FakeKernel& k) : k_(k) {}
  std::map<std::string, int> reads;
  Expected<std::vector<kernel::Link>> links() override { return ++reads["links"], k_.links(); }
  Expected<kernel::Link> add_link(const kernel::LinkSpec& s) override { return k_.add_link(s); }
  Expected<void> set_link(int i, const kernel::LinkChange& c) override { return k_.set_link(i, c); }
  Expected<void> set_bridge_port(int i, const kernel::BridgePortInfo& p) override {
    return k_.set_bridge_port(i, p);
  }
  Expected<void> delete_link(int i) override { return k_.delete_link(i); }
  Expected<std::vector<kernel::Address>> addresses() override {
    return ++reads["addresses"], k_.addresses();
  }
  Expected<void> add_address(const kernel::Address& a) override { return k_.add_address(a); }
  Expected<void> delete_address(const kernel::Address& a) override { return k_.delete_address(a); }
  Expected<std::vector<kernel::Route>> routes(uint32_t t) override {
    return ++reads[fmt::format("routes {}", t)], k_.routes(t);
  }
  Expected<void> replace_route(const kernel::Route& r) override { return k_.replace_route(r); }
  Expected<void> add_route(const kernel::Route& r) override { return k_.add_route(r); }
  Expected<void> delete_route(const kernel::Route& r) override { return k_.delete_route(r); }
  Expected<std::vector<kernel::Rule>> rules() override { return ++reads["rules"], k_.rules(); }
  Expected<void> add_rule(const kernel::Rule& r) override { return k_.add_rule(r); }
  Expected<void> delete_rule(const kernel::Rule& r) override { return k_.delete_rule(r); }
  Expected<std::string> sysctl(const std::string& key) override { return k_.sysctl(key); }
  Expected<void> set_sysctl(const std::string& key, const std::string& v) override {
    return k_.set_sysctl(key, v);
  }
  Expected<std::vector<kernel::Neighbour>> neighbours() override {
    return ++reads["neighbours"], k_.neighbours();
  }
  Expected<void> replace_neighbour(const kernel::Neighbour& n) override {
    return k_.replace_neighbour(n);
  }
  Expected<void> delete_neighbour(const kernel::Neighbour& n) override {
    return k_.delete_neighbour(n);
  }
  Expected<std::vector<kernel::FdbEntry>> fdb() override { return ++reads["fdb"], k_.fdb(); }
  Expected<void> add_fdb(const kernel::FdbEntry& e, bool append) override {
    return k_.add_fdb(e, append);
  }
  Expected<void> delete_fdb(const kernel::FdbEntry& e) override { return k_.delete_fdb(e); }

 private:
  FakeKernel& k_;
};

TEST(Reconciler, IncrementalL3ChangesLeaveTheKernelAsAFullReconcileWould) {
  const DesiredState s1 = tenant();
  DesiredState s2 = s1;
  auto& routes = s2.l3vnis[0].routes;
  routes.erase(routes.begin() + 1);  // a host route goes
  std::erase_if(routes, [](const L3Route& x) { return x.vtep == ip("198.18.0.3"); });  // VTEP 3
  routes.push_back({*Prefix::parse("100.64.4.0/24"), ip("198.18.0.4"), mac("02:dd:00:00:50:01")});
  routes.push_back({*Prefix::parse("fd00:64:4::/64"), ip("198.18.0.4"), mac("02:dd:00:00:50:01")});

  FakeKernel incremental{kChecked};
  auto r1 = reconcile(incremental, s1);
  ASSERT_TRUE(r1.ok());
  const NetworkDevices dv = r1.l3_devices.at(0);
  Counting counting(incremental);
  const L3Changes c{.vni = 5001,
                    .bridge = dv.bridge,
                    .vxlan = dv.vxlan,
                    .before = l3_vteps(s1, s1.l3vnis[0]),
                    .before_routes = r1.l3_routes.at(5001)};
  EXPECT_EQ(c.before.size(), 2u);
  EXPECT_EQ(c.before_routes.size(), 5u);  // the remote routes (not blue's share of its subnet)
  incremental.clear_changes();
  auto r2 = apply_l3_changes(counting, s2, std::vector{c});
  ASSERT_TRUE(r2.ok()) << r2.errors.front();
  EXPECT_EQ(r2.changes, incremental.changes().size());
  EXPECT_TRUE(counting.reads.empty());  // nothing read: the changes are made by difference

  FakeKernel full{kChecked};
  auto rf = reconcile(full, s2);
  ASSERT_TRUE(rf.ok());
  ASSERT_EQ(rf.l3_devices.at(0).bridge, dv.bridge);  // same indexes: comparable as text
  EXPECT_EQ(table_text(incremental, kTenantTable), table_text(full, kTenantTable));
  EXPECT_EQ(l3_entries_text(incremental, dv.bridge, dv.vxlan),
            l3_entries_text(full, dv.bridge, dv.vxlan));
  incremental.clear_changes();
  auto again = reconcile(incremental, s2);
  EXPECT_TRUE(again.ok());
  EXPECT_EQ(again.changes, 0u) << fmt::format("{}", fmt::join(incremental.changes(), "; "));

  // During a restart it only adds.
  DesiredState s3 = s2;
  s3.l3vnis[0].routes = {
      {*Prefix::parse("100.64.5.0/24"), ip("198.18.0.5"), mac("02:ee:00:00:50:01")}};
  const L3Changes c3{.vni = 5001,
                     .bridge = dv.bridge,
                     .vxlan = dv.vxlan,
                     .before = l3_vteps(s2, s2.l3vnis[0]),
                     .before_routes = r2.l3_routes.at(5001)};
  incremental.clear_changes();
  ASSERT_TRUE(
      apply_l3_changes(incremental, s3, std::vector{c3}, {.keep_remote_entries = true}).ok());
  EXPECT_EQ(incremental.changes(), (std::vector<std::string>{
                                       "replace_neighbour br5001 ::ffff:198.18.0.5",
                                       "replace_neighbour br5001 198.18.0.5",
                                       "add_fdb vxlan5001 02:ee:00:00:50:01 dst 198.18.0.5",
                                       "replace_route 100.64.5.0/24",
                                   }));
}

// A tenant's gateway on a link of its own (VRF-lite): its routes via the gateway on that link,
// over a remote route of the same prefix; a rule routes what arrives on the link in the
// tenant's table; all of it goes with the tenant. The incremental path does the same. A missing
// link is a precise error.
TEST(Reconciler, GatewayRoutesOfATenant) {
  FakeKernel k{kChecked};
  auto uplink = k.add_link({.name = "gw0", .kind = "veth", .veth_peer = "gw0-peer"});
  ASSERT_TRUE(uplink.has_value());
  ASSERT_TRUE(k.set_link(uplink->index, {.up = true}).has_value());
  DesiredState d = tenant();
  d.l3vnis[0].uplinks = {"gw0"};
  d.l3vnis[0].gateway_routes = {
      {*Prefix::parse("0.0.0.0/0"), ip("198.19.1.1"), "gw0"},
      {*Prefix::parse("::/0"), ip("fd00:19:1::1"), "gw0"},
      {*Prefix::parse("100.64.1.0/24"), ip("198.19.1.1"), "gw0"},  // blue's: connected wins
  };
  auto r = reconcile(k, d);
  ASSERT_TRUE(r.ok()) << r.errors.front();
  const auto links = *k.links();
  const int b = find(links, "br5001")->index, gw = uplink->index;
  const auto table = table_text(k, kTenantTable);
  EXPECT_TRUE(table.contains(fmt::format("0.0.0.0/0 via 198.19.1.1 dev {} onlink metric 0", gw)));
  EXPECT_TRUE(table.contains(fmt::format("::/0 via fd00:19:1::1 dev {} onlink metric 1024", gw)));
  // VTEP 3's default is passed over (the gateway's wins), its host route is not.
  EXPECT_FALSE(table.contains(fmt::format("0.0.0.0/0 via 198.18.0.3 dev {} onlink metric 0", b)));
  EXPECT_TRUE(
      table.contains(fmt::format("100.64.1.20/32 via 198.18.0.3 dev {} onlink metric 0", b)));
  EXPECT_TRUE(
      table.contains(fmt::format("100.64.1.0/24 dev {} metric 0", find(links, "br100")->index)));
  auto rules = *k.rules();
  for (IpFamily f : {IpFamily::V4, IpFamily::V6})
    EXPECT_NE(
        std::find(rules.begin(), rules.end(), kernel::Rule{f, kRulePriority, "gw0", kTenantTable}),
        rules.end());
  EXPECT_EQ(*k.sysctl("net/ipv4/conf/gw0/forwarding"), "1");
  EXPECT_EQ(*k.sysctl("net/ipv6/conf/all/forwarding"), "1");
  k.clear_changes();
  EXPECT_EQ(reconcile(k, d).changes, 0u) << fmt::format("{}", fmt::join(k.changes(), "; "));

  // Incrementally: the IPv4 default goes (VTEP 3's takes its place), another prefix comes.
  DesiredState d2 = d;
  d2.l3vnis[0].gateway_routes = {{*Prefix::parse("::/0"), ip("fd00:19:1::1"), "gw0"},
                                 {*Prefix::parse("100.127.0.0/24"), ip("198.19.1.1"), "gw0"}};
  const L3Changes c{.vni = 5001,
                    .bridge = b,
                    .vxlan = find(links, "vxlan5001")->index,
                    .before = l3_vteps(d, d.l3vnis[0]),
                    .before_routes = r.l3_routes.at(5001)};
  auto inc = apply_l3_changes(k, d2, std::vector{c});
  ASSERT_TRUE(inc.ok()) << inc.errors.front();
  FakeKernel full{kChecked};
  auto full_uplink = full.add_link({.name = "gw0", .kind = "veth", .veth_peer = "gw0-peer"});
  ASSERT_TRUE(full_uplink.has_value());
  ASSERT_TRUE(full.set_link(full_uplink->index, {.up = true}).has_value());
  ASSERT_TRUE(reconcile(full, d2).ok());
  EXPECT_EQ(table_text(k, kTenantTable), table_text(full, kTenantTable));
  EXPECT_TRUE(table_text(k, kTenantTable)
                  .contains(fmt::format("0.0.0.0/0 via 198.18.0.3 dev {} onlink metric 0", b)));

  // The link is gone: a precise error, the rest is done.
  ASSERT_TRUE(k.delete_link(gw).has_value());
  r = reconcile(k, d2);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::find(r.errors.begin(), r.errors.end(),
                      "L3 VNI 5001: 100.127.0.0/24 via 198.19.1.1: no interface gw0"),
            r.errors.end())
      << fmt::format("{}", fmt::join(r.errors, "; "));

  // The tenant goes: its rules for the link and its routes with it.
  d2.l3vnis.clear();
  ASSERT_TRUE(reconcile(k, d2).ok());
  rules = *k.rules();
  EXPECT_TRUE(
      std::none_of(rules.begin(), rules.end(), [](const auto& x) { return x.iif == "gw0"; }));
  for (const auto& x : table_text(k, kTenantTable))
    EXPECT_EQ(x.find("198.19.1.1"), std::string::npos) << x;
}

// Over an IPv6 underlay an IPv6 route goes via the VTEP itself; IPv4 routes would need an IPv6
// gateway (RTA_VIA) and are not installed. Routes through our own VTEP never are.
TEST(Reconciler, L3RoutesOverAnIpv6UnderlayAndOurOwnVtep) {
  DesiredState d;
  d.vtep = ip("fd00:18::1");
  d.l3vnis.push_back({.vni = 5001, .table = kTenantTable, .router_mac = mac("02:aa:00:00:50:01")});
  const MacAddress b = mac("02:bb:00:00:50:01");
  d.l3vnis[0].routes = {{*Prefix::parse("fd00:64:2::/64"), ip("fd00:18::2"), b},
                        {*Prefix::parse("100.64.2.0/24"), ip("fd00:18::2"), b},
                        {*Prefix::parse("fd00:64:1::/64"), ip("fd00:18::1"), b}};
  FakeKernel k{kChecked};
  auto r = reconcile(k, d);
  ASSERT_TRUE(r.ok()) << r.errors.front();
  const int br = r.l3_devices.at(0).bridge, vx = r.l3_devices.at(0).vxlan;
  EXPECT_EQ(table_text(k, kTenantTable),
            (std::set<std::string>{
                fmt::format("fd00:64:2::/64 via fd00:18::2 dev {} onlink metric 1024", br),
                "0.0.0.0/0 unreachable metric 4278198272",
                "::/0 unreachable metric 4278198272",
            }));
  EXPECT_EQ(l3_entries_text(k, br, vx), (std::set<std::string>{
                                            "neigh fd00:18::2 02:bb:00:00:50:01",
                                            "fdb 02:bb:00:00:50:01 fd00:18::2",
                                        }));
  EXPECT_EQ(ipv4_mapped(ip("198.18.0.2")), ip("::ffff:198.18.0.2"));
  EXPECT_EQ(ipv4_mapped(ip("fd00:18::2")), ip("fd00:18::2"));
}

TEST(Reconciler, OverlayMtu) {
  EXPECT_EQ(overlay_mtu(1500, false), 1450u);
  EXPECT_EQ(overlay_mtu(1500, true), 1430u);
  EXPECT_EQ(overlay_mtu(9000, false), 8950u);
  EXPECT_EQ(overlay_mtu(40, false), 0u);
}

}  // namespace
}  // namespace isthmus::agent
