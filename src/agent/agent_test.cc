// The agent between EVPN and the (fake) kernel: remote routes become FDB and neighbour entries,
// a workload the bridge learns becomes local type-2 routes, and leaves again.
#include "agent/agent.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <linux/neighbour.h>

#include <algorithm>
#include <memory>
#include <set>

#include "bgp/wire/ext_community.h"
#include "kernel/fake_kernel.h"
#include "kernel/firewall.h"

namespace isthmus::agent {
namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
MacAddress mac(const char* s) { return *MacAddress::parse(s); }
const IpAddress kVtep = ip("198.18.0.1");
const IpAddress kRemote = ip("198.18.0.2");

class AgentTest : public ::testing::Test {
 protected:
  AgentTest() {
    bgp::RibConfig rc;
    rc.local_as = 65000;
    rc.router_id = kVtep.v4_host_order();
    rc.best_evpn_changed = [this](std::span<const uint8_t> key, const bgp::Path* best) {
      evpn_->best_evpn_changed(key, best);
    };
    rib_ = std::make_unique<bgp::Rib>(rc);
    bgp::PeerInfo p;
    p.id = 1;
    p.address = kRemote;
    p.remote_as = 65000;
    p.router_id = kRemote.v4_host_order();
    p.ibgp = true;
    p.local_address = kVtep;
    p.families = {bgp::kL2vpnEvpn};
    rib_->peer_up(p);
    evpn::InstanceConfig ic;
    ic.mac_vrfs.push_back(evpn::resolve(100, std::nullopt, {}, {}, 65000, kVtep, 1));
    ic.vtep = kVtep;
    evpn_ = std::make_unique<evpn::Instance>(*rib_, std::move(ic), evpn::Hooks{});
    AgentConfig ac;
    ac.vtep = kVtep;
    ac.networks.push_back({"blue", 100, GatewayAddress{ip("100.64.1.1"), 24}, std::nullopt});
    agent_ = std::make_unique<Agent>(kernel_, *evpn_, ac);
    evpn_->set_observer(agent_->observer());
  }

  void settle() {
    for (int i = 0; i < 10 && (i == 0 || evpn_->has_pending()); ++i) {
      rib_->flush();
      evpn_->run_pending();
    }
    rib_->flush();
  }

  // The remote VTEP's routes: IMET and a MAC+IP of VNI 100.
  void remote_routes() {
    bgp::PathAttributes a;
    a.next_hop = kRemote;
    a.local_pref = 100;
    a.ext_communities.push_back(bgp::route_target_as2(65000, 100));
    bgp::EvpnImet imet;
    imet.rd = bgp::RouteDistinguisher::ipv4(kRemote, 1);
    imet.originator = kRemote;
    bgp::EvpnMacIp m;
    m.rd = imet.rd;
    m.mac = mac("02:00:00:00:02:01");
    m.ip = ip("100.64.1.21");
    m.label1 = 100;
    rib_->update_evpn(1, std::vector{bgp::EvpnRoute{imet}, bgp::EvpnRoute{m}}, a);
  }

  // A remote MAC route (no IP) of VNI 100 from the remote VTEP, or its withdrawal.
  void remote_mac(const char* m, bool withdraw = false) {
    bgp::PathAttributes a;
    a.next_hop = kRemote;
    a.local_pref = 100;
    a.ext_communities.push_back(bgp::route_target_as2(65000, 100));
    bgp::EvpnMacIp r;
    r.rd = bgp::RouteDistinguisher::ipv4(kRemote, 1);
    r.mac = mac(m);
    r.label1 = 100;
    if (withdraw)
      rib_->withdraw_evpn(1, std::vector{bgp::EvpnRoute{r}});
    else
      rib_->update_evpn(1, std::vector{bgp::EvpnRoute{r}}, a);
  }

  // The agent again, with another configuration.
  void remake(const AgentConfig& ac) {
    agent_ = std::make_unique<Agent>(kernel_, *evpn_, ac);
    evpn_->set_observer(agent_->observer());
  }

  int index(const char* name) {
    for (const auto& l : *kernel_.links())
      if (l.name == name) return l.index;
    return 0;
  }

  // The remote MACs vxlan100 tunnels to.
  std::set<std::string> remote_macs() {
    std::set<std::string> out;
    const int vx = index("vxlan100");
    for (const auto& e : *kernel_.device_fdb(vx))  // not a host dump: host_dumps() stays
      if (e.self && e.dst && e.mac != MacAddress{}) out.insert(e.mac.to_string());
    return out;
  }

  // Our own type-2 routes in the Loc-RIB, as "MAC[ IP]".
  std::set<std::string> ours() {
    std::set<std::string> out;
    rib_->for_each_evpn_route([&](std::span<const uint8_t> key, std::span<const bgp::PathView> ps) {
      for (const auto& p : ps) {
        if (p.peer != bgp::kLocalPeer || !p.attrs) continue;
        auto r = bgp::evpn_route(key, p.attrs->evpn_nlri.value_or(bgp::EvpnNlriData{}));
        if (const auto* m = r ? std::get_if<bgp::EvpnMacIp>(&r->route) : nullptr)
          out.insert(m->mac.to_string() + (m->ip ? " " + m->ip->to_string() : ""));
      }
    });
    return out;
  }

  kernel::FakeKernel kernel_{kernel::FakeKernel::RouteChecks::Kernel};
  std::unique_ptr<bgp::Rib> rib_;
  std::unique_ptr<evpn::Instance> evpn_;
  std::unique_ptr<Agent> agent_;
};

TEST_F(AgentTest, RemoteRoutesBecomeKernelState) {
  EXPECT_TRUE(agent_->dirty());
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_FALSE(agent_->dirty());
  remote_routes();
  settle();
  EXPECT_TRUE(agent_->dirty());  // the observer heard the flood list and the MAC
  ASSERT_TRUE(agent_->reconcile().ok());
  const auto links = *kernel_.links();
  int vx = 0, br = 0;
  for (const auto& l : links) {
    if (l.name == "vxlan100") vx = l.index;
    if (l.name == "br100") br = l.index;
  }
  ASSERT_NE(vx, 0);
  std::set<std::string> fdb;
  for (const auto& e : *kernel_.fdb())
    if (e.ifindex == vx)
      fdb.insert(e.mac.to_string() + (e.dst ? " " + e.dst->to_string() : " bridge"));
  EXPECT_EQ(fdb,
            (std::set<std::string>{"00:00:00:00:00:00 198.18.0.2", "02:00:00:00:02:01 198.18.0.2",
                                   "02:00:00:00:02:01 bridge"}));
  const auto ns = *kernel_.neighbours();
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(ns[0].ifindex, br);
  EXPECT_EQ(ns[0].ip, ip("100.64.1.21"));
  EXPECT_TRUE(ns[0].extern_learned);

  // isthmusd exits: its sessions go down, the kernel keeps everything.
  agent_->stop();
  rib_->peer_down(1);
  settle();
  EXPECT_EQ(agent_->reconcile().changes, 0u);
  EXPECT_EQ(kernel_.neighbours()->size(), 1u);
}

TEST_F(AgentTest, WithdrawnRoutesLeaveTheKernel) {
  ASSERT_TRUE(agent_->reconcile().ok());
  remote_routes();
  settle();
  ASSERT_TRUE(agent_->reconcile().ok());
  int vx = 0;
  for (const auto& l : *kernel_.links())
    if (l.name == "vxlan100") vx = l.index;
  ASSERT_NE(vx, 0);
  // The remote VTEP withdraws: the kernel forgets.
  rib_->peer_down(1);
  settle();
  ASSERT_TRUE(agent_->reconcile().ok());
  for (const auto& e : *kernel_.fdb()) EXPECT_NE(e.ifindex, vx);
  EXPECT_TRUE(kernel_.neighbours()->empty());
}

// After the first (full) reconcile, EVPN's changes are applied as they come, without reading
// the kernel; the kernel ends up as a full reconcile would make it.
TEST_F(AgentTest, ChangesAreAppliedIncrementallyAsAFullReconcileWould) {
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_FALSE(agent_->full_due());
  remote_routes();
  settle();
  kernel_.clear_changes();
  auto r = agent_->reconcile();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(agent_->full_due());
  // Exactly the entries, no read-modify of anything else.
  EXPECT_EQ(kernel_.changes(), (std::vector<std::string>{
                                   "add_fdb vxlan100 00:00:00:00:00:00 dst 198.18.0.2 append",
                                   "add_fdb vxlan100 02:00:00:00:02:01 dst 198.18.0.2",
                                   "add_fdb vxlan100 02:00:00:00:02:01 master",
                                   "replace_neighbour br100 100.64.1.21",
                               }));
  // A fresh kernel reconciled in full to the same desired state holds the same entries.
  kernel::FakeKernel fresh{kernel::FakeKernel::RouteChecks::Kernel};
  ASSERT_TRUE(reconcile(fresh, agent_->desired()).ok());
  auto text = [](kernel::FakeKernel& k) {
    std::multiset<std::string> out;
    for (const auto& e : *k.fdb())
      out.insert(e.mac.to_string() + (e.dst ? " " + e.dst->to_string() : " bridge") +
                 (e.extern_learned ? " ext" : ""));
    for (const auto& n : *k.neighbours())
      out.insert(n.ip.to_string() + " " + (n.mac ? n.mac->to_string() : "-"));
    return out;
  };
  EXPECT_EQ(text(kernel_), text(fresh));
  // And a full reconcile of the agent's kernel has nothing to do.
  kernel_.clear_changes();
  EXPECT_EQ(reconcile(kernel_, agent_->desired()).changes, 0u);
}

// The kernel loses one of our entries (someone deleted it): a full reconcile puts it back. The
// removals the agent made itself are no drift.
TEST_F(AgentTest, DriftMakesAFullReconcileOwnRemovalsDoNot) {
  ASSERT_TRUE(agent_->reconcile().ok());
  remote_routes();
  settle();
  ASSERT_TRUE(agent_->reconcile().ok());
  const auto neighbours = *kernel_.neighbours();
  ASSERT_EQ(neighbours.size(), 1u);
  ASSERT_TRUE(kernel_.delete_neighbour(neighbours[0]).has_value());
  agent_->on_event(kernel::NeighbourEvent{true, neighbours[0]});
  EXPECT_TRUE(agent_->dirty());
  EXPECT_TRUE(agent_->full_due());
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_EQ(kernel_.neighbours()->size(), 1u);

  // The remote VTEP withdraws: the agent removes the entries, and hears of the removals.
  const auto fdb = *kernel_.fdb();
  rib_->peer_down(1);
  settle();
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_FALSE(agent_->full_due());
  for (const auto& e : fdb) agent_->on_event(kernel::FdbEvent{true, e});
  agent_->on_event(kernel::NeighbourEvent{true, neighbours[0]});
  EXPECT_FALSE(agent_->full_due());
  EXPECT_TRUE(kernel_.neighbours()->empty());
}

// A change that fails makes the next round a full one, which finishes the job.
TEST_F(AgentTest, AFailedIncrementalChangeIsRetriedInFull) {
  ASSERT_TRUE(agent_->reconcile().ok());
  remote_routes();
  settle();
  kernel_.fail_next("replace_neighbour", "No buffer space available");
  auto r = agent_->reconcile();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(agent_->dirty());
  EXPECT_TRUE(agent_->full_due());
  kernel_.clear_changes();
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_EQ(kernel_.changes(), std::vector<std::string>{"replace_neighbour br100 100.64.1.21"});
}

TEST_F(AgentTest, ARestartKeepsTheKernelStateUntilTheRoutesAreComplete) {
  auto present = forwarding_state_present(kernel_, agent_->config());
  ASSERT_TRUE(present.has_value());
  EXPECT_FALSE(*present);
  ASSERT_TRUE(agent_->reconcile().ok());
  remote_routes();
  settle();
  ASSERT_TRUE(agent_->reconcile().ok());
  present = forwarding_state_present(kernel_, agent_->config());
  ASSERT_TRUE(present.has_value());
  EXPECT_TRUE(*present);
  const size_t fdb = kernel_.fdb()->size();

  // A new isthmusd on the same kernel: the old one's entries are there, the routes are not yet.
  bgp::RibConfig rc;
  rc.local_as = 65000;
  rc.router_id = kVtep.v4_host_order();
  bgp::Rib rib(rc);
  evpn::InstanceConfig ic;
  ic.mac_vrfs.push_back(evpn::resolve(100, std::nullopt, {}, {}, 65000, kVtep, 1));
  ic.vtep = kVtep;
  evpn::Instance evpn(rib, std::move(ic), evpn::Hooks{});
  Agent again(kernel_, evpn, agent_->config());
  again.begin_restart();
  kernel_.clear_changes();
  auto r = again.reconcile();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.changes, 0u);
  EXPECT_EQ(kernel_.fdb()->size(), fdb);
  EXPECT_EQ(kernel_.neighbours()->size(), 1u);
  EXPECT_FALSE(again.dirty());
  // The routes are complete and these did not come back: they go.
  again.end_restart("End-of-RIB from every peer");
  EXPECT_TRUE(again.dirty());
  r = again.reconcile();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.changes, 4u);  // flood entry, MAC in the VXLAN and the bridge FDB, neighbour
  EXPECT_TRUE(kernel_.neighbours()->empty());
}

// While restarting, the incremental path adds but does not remove either; the full reconcile
// at the end of the restart does.
TEST_F(AgentTest, DuringARestartIncrementalChangesOnlyAdd) {
  agent_->begin_restart();
  ASSERT_TRUE(agent_->reconcile().ok());
  remote_routes();
  settle();
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_FALSE(agent_->full_due());
  EXPECT_EQ(kernel_.neighbours()->size(), 1u);
  const size_t fdb = kernel_.fdb()->size();
  rib_->peer_down(1);
  settle();
  kernel_.clear_changes();
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_TRUE(kernel_.changes().empty());
  EXPECT_EQ(kernel_.fdb()->size(), fdb);
  agent_->end_restart("End-of-RIB from every peer");
  EXPECT_TRUE(agent_->full_due());
  auto r = agent_->reconcile();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.changes, 4u);
  EXPECT_TRUE(kernel_.neighbours()->empty());
}

TEST_F(AgentTest, LocalWorkloadsAreAdvertisedAndWithdrawn) {
  ASSERT_TRUE(agent_->reconcile().ok());
  int br = 0;
  for (const auto& l : *kernel_.links())
    if (l.name == "br100") br = l.index;
  // A workload's veth on br100; the bridge learns its MAC from its first frame.
  auto veth = kernel_.add_link({.name = "veth-w1", .kind = "veth", .veth_peer = "eth-w1"});
  ASSERT_TRUE(veth.has_value());
  ASSERT_TRUE(kernel_.set_link(veth->index, {.master = br}).has_value());
  const MacAddress w1 = mac("02:00:00:00:01:07");
  kernel_.learn(veth->index, w1);
  agent_->on_event(kernel::FdbEvent{false, kernel_.fdb()->back()});
  // Its ARP for the gateway: the bridge's neighbour table has its IP.
  const kernel::Neighbour n{br, ip("100.64.1.7"), w1, NUD_REACHABLE, false};
  agent_->on_event(kernel::NeighbourEvent{false, n});
  settle();
  EXPECT_EQ(ours(), (std::set<std::string>{"02:00:00:00:01:07", "02:00:00:00:01:07 100.64.1.7"}));
  // Gateway MAC, multicast and the VXLAN port's entries are not workloads.
  agent_->on_event(kernel::FdbEvent{false, {veth->index, mac("01:00:5e:00:00:01"), {}, br}});
  agent_->on_event(kernel::FdbEvent{false, {veth->index, agent_->config().gateway_mac, {}, br}});
  settle();
  EXPECT_EQ(ours().size(), 2u);

  // It leaves: the IP first (the neighbour fails), then the MAC ages out.
  agent_->on_event(kernel::NeighbourEvent{false, {br, ip("100.64.1.7"), w1, NUD_FAILED, false}});
  settle();
  EXPECT_EQ(ours(), std::set<std::string>{"02:00:00:00:01:07"});
  agent_->on_event(kernel::FdbEvent{true, {veth->index, w1, {}, br}});
  settle();
  EXPECT_TRUE(ours().empty());
}

TEST_F(AgentTest, AnIpIsAdvertisedOnlyWhileItsMacIsOnAPort) {
  ASSERT_TRUE(agent_->reconcile().ok());
  int br = 0;
  for (const auto& l : *kernel_.links())
    if (l.name == "br100") br = l.index;
  auto veth = kernel_.add_link({.name = "veth-w3", .kind = "veth", .veth_peer = "eth-w3"});
  ASSERT_TRUE(kernel_.set_link(veth->index, {.master = br}).has_value());
  const MacAddress w3 = mac("02:00:00:00:01:09");
  const MacAddress elsewhere = mac("02:00:00:00:09:09");
  // A neighbour whose MAC is on no local port (behind the VXLAN port, say) is not ours.
  agent_->on_event(kernel::NeighbourEvent{false, {br, ip("100.64.1.99"), elsewhere, NUD_STALE}});
  settle();
  EXPECT_TRUE(ours().empty());
  agent_->on_event(kernel::NeighbourEvent{false, {br, ip("100.64.1.9"), w3, NUD_REACHABLE}});
  settle();
  EXPECT_TRUE(ours().empty());  // the neighbour came first: nothing until the MAC is on a port
  agent_->on_event(kernel::FdbEvent{false, {veth->index, w3, {}, br}});
  settle();
  EXPECT_EQ(ours(), (std::set<std::string>{"02:00:00:00:01:09", "02:00:00:00:01:09 100.64.1.9"}));
  // The workload's veth goes: the bridge forgets the MAC, the neighbour entry lingers and
  // changes state; both routes are withdrawn and stay so.
  agent_->on_event(kernel::FdbEvent{true, {veth->index, w3, {}, br}});
  agent_->on_event(kernel::NeighbourEvent{false, {br, ip("100.64.1.9"), w3, NUD_STALE}});
  settle();
  EXPECT_TRUE(ours().empty());
  // It comes back with the same MAC: its IP comes back with it.
  agent_->on_event(kernel::FdbEvent{false, {veth->index, w3, {}, br}});
  settle();
  EXPECT_EQ(ours(), (std::set<std::string>{"02:00:00:00:01:09", "02:00:00:00:01:09 100.64.1.9"}));
  // Its IP moves to another local MAC: withdrawn from the first.
  const MacAddress w4 = mac("02:00:00:00:01:0a");
  agent_->on_event(kernel::FdbEvent{false, {veth->index, w4, {}, br}});
  agent_->on_event(kernel::NeighbourEvent{false, {br, ip("100.64.1.9"), w4, NUD_REACHABLE}});
  settle();
  EXPECT_EQ(ours(), (std::set<std::string>{"02:00:00:00:01:09", "02:00:00:00:01:0a",
                                           "02:00:00:00:01:0a 100.64.1.9"}));
}

TEST_F(AgentTest, LearnAllPicksUpWhatIsThereAtStart) {
  ASSERT_TRUE(agent_->reconcile().ok());
  int br = 0;
  for (const auto& l : *kernel_.links())
    if (l.name == "br100") br = l.index;
  auto veth = kernel_.add_link({.name = "veth-w2", .kind = "veth", .veth_peer = "eth-w2"});
  ASSERT_TRUE(kernel_.set_link(veth->index, {.master = br}).has_value());
  kernel_.learn(veth->index, mac("02:00:00:00:01:08"));
  ASSERT_TRUE(
      kernel_.replace_neighbour({br, ip("100.64.1.8"), mac("02:00:00:00:01:08"), NUD_REACHABLE})
          .has_value());
  ASSERT_TRUE(agent_->learn_all().has_value());
  settle();
  EXPECT_EQ(ours(), (std::set<std::string>{"02:00:00:00:01:08", "02:00:00:00:01:08 100.64.1.8"}));
}

// Our devices changed behind our back, as their events say: a full reconcile puts them back.
// Events of links and addresses that are not ours, and the echoes of what is right, change
// nothing.
TEST_F(AgentTest, LinkAndAddressDriftIsRepairedFromEvents) {
  ASSERT_TRUE(agent_->reconcile().ok());
  const int br = index("br100"), vx = index("vxlan100");
  ASSERT_NE(br, 0);
  ASSERT_NE(vx, 0);
  auto link = [&](int i) {
    for (const auto& l : *kernel_.links())
      if (l.index == i) return l;
    return kernel::Link{};
  };
  // The echoes of the agent's own work: nothing to do.
  agent_->on_event(kernel::LinkEvent{false, link(br)});
  agent_->on_event(kernel::LinkEvent{false, link(vx)});
  agent_->on_event(kernel::AddressEvent{false, {br, ip("100.64.1.1"), 24}});
  EXPECT_FALSE(agent_->dirty());
  // Someone else's bridge and address: none of ours.
  auto other = kernel_.add_link({.name = "br-other", .kind = "bridge"});
  ASSERT_TRUE(other.has_value());
  ASSERT_TRUE(kernel_.add_address({other->index, ip("100.64.9.1"), 24}).has_value());
  agent_->on_event(kernel::LinkEvent{false, *other});
  agent_->on_event(kernel::AddressEvent{false, {other->index, ip("100.64.9.1"), 24}});
  agent_->on_event(kernel::AddressEvent{true, {other->index, ip("100.64.9.1"), 24}});
  EXPECT_FALSE(agent_->dirty());

  // The gateway address deleted.
  const kernel::Address gw{br, ip("100.64.1.1"), 24};
  ASSERT_TRUE(kernel_.delete_address(gw).has_value());
  agent_->on_event(kernel::AddressEvent{true, gw});
  EXPECT_TRUE(agent_->full_due());
  ASSERT_TRUE(agent_->reconcile().ok());
  auto addresses = *kernel_.addresses();
  EXPECT_NE(std::find(addresses.begin(), addresses.end(), gw), addresses.end());
  // An address added to our bridge goes.
  const kernel::Address stray{br, ip("100.64.1.200"), 24};
  ASSERT_TRUE(kernel_.add_address(stray).has_value());
  agent_->on_event(kernel::AddressEvent{false, stray});
  EXPECT_TRUE(agent_->full_due());
  ASSERT_TRUE(agent_->reconcile().ok());
  addresses = *kernel_.addresses();
  EXPECT_EQ(std::find(addresses.begin(), addresses.end(), stray), addresses.end());

  // The VXLAN device set down, then taken off its bridge, then the bridge's MTU changed.
  ASSERT_TRUE(kernel_.set_link(vx, {.up = false}).has_value());
  agent_->on_event(kernel::LinkEvent{false, link(vx)});
  EXPECT_TRUE(agent_->full_due());
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_TRUE(link(vx).up);
  ASSERT_TRUE(kernel_.set_link(vx, {.master = 0}).has_value());
  agent_->on_event(kernel::LinkEvent{false, link(vx)});
  EXPECT_TRUE(agent_->full_due());
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_EQ(link(vx).master, br);
  ASSERT_TRUE(kernel_.set_link(br, {.mtu = 9000}).has_value());
  agent_->on_event(kernel::LinkEvent{false, link(br)});
  EXPECT_TRUE(agent_->full_due());
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_EQ(link(br).mtu, agent_->config().overlay_mtu);
  EXPECT_FALSE(agent_->dirty());
}

// The full reconcile and learn_all() read the agent's own devices, never the host's whole FDB
// or neighbour table; resync() puts back a route of ours that went (no event says so).
TEST_F(AgentTest, TheFullReconcileReadsOnlyItsDevicesAndRepairsRoutes) {
  ASSERT_TRUE(agent_->reconcile().ok());
  remote_routes();
  settle();
  ASSERT_TRUE(agent_->reconcile().ok());
  const size_t dumps = kernel_.host_dumps();
  agent_->resync();
  ASSERT_TRUE(agent_->full_due());
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_EQ(kernel_.host_dumps(), dumps);

  const uint32_t table = kTableBase + 100;
  auto routes = *kernel_.routes(table);
  ASSERT_FALSE(routes.empty());
  const kernel::Route gone = routes.front();
  ASSERT_TRUE(kernel_.delete_route(gone).has_value());
  agent_->resync();
  ASSERT_TRUE(agent_->reconcile().ok());
  routes = *kernel_.routes(table);
  EXPECT_NE(std::find(routes.begin(), routes.end(), gone), routes.end());
  EXPECT_EQ(kernel_.host_dumps(), dumps);
}

// The periodic resync (staged): the first turn repairs links, addresses and routes without the
// networks' entries, then each turn checks one network's FDB and neighbours.
TEST_F(AgentTest, APeriodicResyncChecksOneNetworksEntriesPerTurn) {
  AgentConfig ac = agent_->config();
  ac.networks.push_back({"red", 200, GatewayAddress{ip("100.64.2.1"), 24}, std::nullopt});
  remake(ac);
  ASSERT_TRUE(agent_->reconcile().ok());
  remote_routes();
  settle();
  ASSERT_TRUE(agent_->reconcile().ok());
  const size_t dumps = kernel_.host_dumps();
  const kernel::FdbEntry lost{
      .ifindex = index("vxlan100"), .mac = mac("02:00:00:00:02:01"), .dst = kRemote, .self = true};
  ASSERT_TRUE(kernel_.delete_fdb(lost).has_value());
  const uint32_t table = kTableBase + 100;
  const kernel::Route gone = kernel_.routes(table)->front();
  ASSERT_TRUE(kernel_.delete_route(gone).has_value());

  agent_->resync(/*staged=*/true);
  ASSERT_TRUE(agent_->full_due());
  ASSERT_TRUE(agent_->reconcile().ok());
  auto routes = *kernel_.routes(table);
  EXPECT_NE(std::find(routes.begin(), routes.end(), gone), routes.end());
  EXPECT_TRUE(remote_macs().empty()) << "the entries wait for their turn";
  EXPECT_EQ(agent_->entry_checks_left(), 2u);
  EXPECT_TRUE(agent_->dirty());
  ASSERT_TRUE(agent_->reconcile().ok());  // network 100
  EXPECT_EQ(remote_macs(), std::set<std::string>{"02:00:00:00:02:01"});
  EXPECT_EQ(agent_->entry_checks_left(), 1u);
  EXPECT_TRUE(agent_->dirty());
  kernel_.clear_changes();
  ASSERT_TRUE(agent_->reconcile().ok());  // network 200: nothing to do
  EXPECT_TRUE(kernel_.changes().empty());
  EXPECT_EQ(agent_->entry_checks_left(), 0u);
  EXPECT_FALSE(agent_->dirty());
  EXPECT_EQ(kernel_.host_dumps(), dumps);

  // Drift while a staged resync is due makes it whole: the entries are repaired at once.
  ASSERT_TRUE(kernel_.delete_fdb(lost).has_value());
  agent_->resync(/*staged=*/true);
  agent_->on_event(kernel::FdbEvent{true, lost});
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_EQ(remote_macs(), std::set<std::string>{"02:00:00:00:02:01"});
  EXPECT_EQ(agent_->entry_checks_left(), 0u);
}

// Events were lost: what went meanwhile is withdrawn (a local MAC and IP), what the kernel lost
// of ours is put back (a remote MAC), what came is learned.
TEST_F(AgentTest, AResyncRemovesWhatWentAndReinstallsWhatTheKernelLost) {
  ASSERT_TRUE(agent_->reconcile().ok());
  remote_routes();
  settle();
  ASSERT_TRUE(agent_->reconcile().ok());
  const int br = index("br100"), vx = index("vxlan100");
  auto veth = kernel_.add_link({.name = "veth-w5", .kind = "veth", .veth_peer = "eth-w5"});
  ASSERT_TRUE(kernel_.set_link(veth->index, {.master = br}).has_value());
  const MacAddress w5 = mac("02:00:00:00:01:05"), w6 = mac("02:00:00:00:01:06");
  kernel_.learn(veth->index, w5);
  const kernel::Neighbour n5{br, ip("100.64.1.5"), w5, NUD_REACHABLE, false};
  ASSERT_TRUE(kernel_.replace_neighbour(n5).has_value());
  ASSERT_TRUE(agent_->learn_all().has_value());
  settle();
  EXPECT_EQ(ours(), (std::set<std::string>{"02:00:00:00:01:05", "02:00:00:00:01:05 100.64.1.5"}));

  // While the events are lost: w5 leaves, w6 comes, the remote MAC's entry is deleted.
  ASSERT_TRUE(kernel_.delete_fdb({veth->index, w5, std::nullopt, br}).has_value());
  ASSERT_TRUE(kernel_.delete_neighbour(n5).has_value());
  kernel_.learn(veth->index, w6);
  const kernel::FdbEntry lost{
      .ifindex = vx, .mac = mac("02:00:00:00:02:01"), .dst = kRemote, .self = true};
  ASSERT_TRUE(kernel_.delete_fdb(lost).has_value());
  EXPECT_EQ(remote_macs(), std::set<std::string>{});
  agent_->resync();
  settle();
  EXPECT_EQ(ours(), std::set<std::string>{"02:00:00:00:01:06"});
  ASSERT_TRUE(agent_->full_due());
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_EQ(remote_macs(), std::set<std::string>{"02:00:00:00:02:01"});
}

// max_macs: remote MACs beyond it are not installed, and get in when others go; local MACs
// beyond it are not advertised, and are when others go.
TEST_F(AgentTest, MaxMacsHoldsRemoteAndLocalMacs) {
  AgentConfig ac = agent_->config();
  ac.networks[0].max_macs = 2;
  remake(ac);
  ASSERT_TRUE(agent_->reconcile().ok());
  // Three remote MACs: two installed (in full), one waits.
  remote_mac("02:00:00:00:02:01");
  remote_mac("02:00:00:00:02:02");
  remote_mac("02:00:00:00:02:03");
  settle();
  agent_->request_full();
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_EQ(remote_macs().size(), 2u);
  EXPECT_EQ(agent_->mac_limit(100).remote_waiting, 1u);
  EXPECT_EQ(agent_->desired().networks[0].macs.size(), 2u);
  // A fourth, incrementally: waits too.
  remote_mac("02:00:00:00:02:04");
  settle();
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_FALSE(agent_->full_due());
  EXPECT_EQ(remote_macs().size(), 2u);
  EXPECT_EQ(agent_->mac_limit(100).remote_waiting, 2u);
  // One installed goes: a waiting one takes its place, without a full run.
  const std::string first = *remote_macs().begin();
  remote_mac(first.c_str(), true);
  settle();
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_FALSE(agent_->full_due());
  auto now = remote_macs();
  EXPECT_EQ(now.size(), 2u);
  EXPECT_FALSE(now.contains(first));
  EXPECT_EQ(agent_->mac_limit(100).remote_waiting, 1u);
  // A full run keeps the installed ones.
  agent_->request_full();
  kernel_.clear_changes();
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_EQ(remote_macs(), now);
  EXPECT_TRUE(kernel_.changes().empty());

  // Three local workloads: two advertised, the third waits on its port.
  const int br = index("br100");
  auto veth = kernel_.add_link({.name = "veth-w7", .kind = "veth", .veth_peer = "eth-w7"});
  ASSERT_TRUE(kernel_.set_link(veth->index, {.master = br}).has_value());
  const MacAddress l1 = mac("02:00:00:00:01:01"), l2 = mac("02:00:00:00:01:02"),
                   l3 = mac("02:00:00:00:01:03");
  for (const MacAddress& m : {l1, l2, l3})
    agent_->on_event(kernel::FdbEvent{false, {veth->index, m, {}, br}});
  agent_->on_event(kernel::NeighbourEvent{false, {br, ip("100.64.1.3"), l3, NUD_REACHABLE}});
  settle();
  EXPECT_EQ(ours(), (std::set<std::string>{"02:00:00:00:01:01", "02:00:00:00:01:02"}));
  EXPECT_EQ(agent_->mac_limit(100).local_advertised, 2u);
  EXPECT_EQ(agent_->mac_limit(100).local_waiting, 1u);
  agent_->on_event(kernel::FdbEvent{true, {veth->index, l1, {}, br}});
  settle();
  EXPECT_EQ(ours(), (std::set<std::string>{"02:00:00:00:01:02", "02:00:00:00:01:03",
                                           "02:00:00:00:01:03 100.64.1.3"}));
  EXPECT_EQ(agent_->mac_limit(100).local_waiting, 0u);
}

// ---- Tenants: symmetric IRB over the L3 VNI ----

const IpAddress kRemote3 = ip("198.18.0.3");
const uint32_t kL3 = 5001;
const uint32_t kTenantTable = kTableBase + kL3;

// Blue (VNI 100) in tenant1 (L3 VNI 5001), two remote VTEPs: peer 1 (198.18.0.2) and peer 2
// (198.18.0.3).
class TenantTest : public ::testing::Test {
 protected:
  TenantTest() {
    bgp::RibConfig rc;
    rc.local_as = 65000;
    rc.router_id = kVtep.v4_host_order();
    rc.best_evpn_changed = [this](std::span<const uint8_t> key, const bgp::Path* best) {
      evpn_->best_evpn_changed(key, best);
    };
    rib_ = std::make_unique<bgp::Rib>(rc);
    for (bgp::PeerId id : {1, 2}) {
      bgp::PeerInfo p;
      p.id = id;
      p.address = vtep_of(id);
      p.remote_as = 65000;
      p.router_id = vtep_of(id).v4_host_order();
      p.ibgp = true;
      p.local_address = kVtep;
      p.families = {bgp::kL2vpnEvpn};
      rib_->peer_up(p);
    }
    evpn_ = std::make_unique<evpn::Instance>(*rib_, evpn_config(), evpn::Hooks{});
    agent_ = std::make_unique<Agent>(kernel_, *evpn_, agent_config());
    evpn_->set_observer(agent_->observer());
  }

  static IpAddress vtep_of(bgp::PeerId id) { return id == 1 ? kRemote : kRemote3; }
  static MacAddress rmac_of(bgp::PeerId id) {
    return id == 1 ? mac("02:bb:00:00:50:01") : mac("02:cc:00:00:50:01");
  }
  static evpn::InstanceConfig evpn_config() {
    evpn::InstanceConfig ic;
    ic.mac_vrfs.push_back(evpn::resolve(100, std::nullopt, {}, {}, 65000, kVtep, 1));
    ic.ip_vrfs.push_back(
        evpn::resolve_ip_vrf(kL3, std::nullopt, {}, {}, mac("02:aa:00:00:50:01"), 65000, kVtep, 2));
    ic.ip_vrfs.back().name = "tenant1";
    ic.vtep = kVtep;
    return ic;
  }
  static AgentConfig agent_config() {
    AgentConfig ac;
    ac.vtep = kVtep;
    ac.networks.push_back({"blue", 100, GatewayAddress{ip("100.64.1.1"), 24},
                           GatewayAddress{ip("fd00:64:1::1"), 64}, "tenant1"});
    ac.tenants.push_back({"tenant1", kL3, {}});  // the router MAC: the IP-VRF's
    return ac;
  }

  void settle() {
    for (int i = 0; i < 10 && (i == 0 || evpn_->has_pending()); ++i) {
      rib_->flush();
      evpn_->run_pending();
    }
    rib_->flush();
  }

  // A type-5 route of the tenant from a peer (RFC 9136 §3.1), with the Router's MAC unless
  // told otherwise.
  void type5(bgp::PeerId peer, const char* prefix, bool router_mac = true, bool withdraw = false) {
    bgp::EvpnIpPrefix r;
    r.rd = bgp::RouteDistinguisher::ipv4(vtep_of(peer), 1);
    r.prefix = *Prefix::parse(prefix);
    r.gateway = r.prefix.family() == IpFamily::V4 ? ip("0.0.0.0") : ip("::");
    r.label = kL3;
    if (withdraw) {
      rib_->withdraw_evpn(peer, std::vector{bgp::EvpnRoute{r}});
      return;
    }
    bgp::PathAttributes a;
    a.next_hop = vtep_of(peer);
    a.local_pref = 100;
    a.ext_communities = {bgp::route_target_as2(65000, kL3), bgp::Encapsulation{}.encode()};
    if (router_mac) a.ext_communities.push_back(bgp::RouterMac{rmac_of(peer)}.encode());
    rib_->update_evpn(peer, std::vector{bgp::EvpnRoute{r}}, a);
  }
  // A workload of VNI 100 at a peer, as a MAC/IP route with the L3 VNI as second label (RFC 9135
  // §5.1.2): its host route.
  void host(bgp::PeerId peer, const char* mac_text, const char* ip_text) {
    bgp::EvpnMacIp m;
    m.rd = bgp::RouteDistinguisher::ipv4(vtep_of(peer), 2);
    m.mac = mac(mac_text);
    m.ip = ip(ip_text);
    m.label1 = 100;
    m.label2 = kL3;
    bgp::PathAttributes a;
    a.next_hop = vtep_of(peer);
    a.local_pref = 100;
    a.ext_communities = {bgp::route_target_as2(65000, 100), bgp::route_target_as2(65000, kL3),
                         bgp::Encapsulation{}.encode(), bgp::RouterMac{rmac_of(peer)}.encode()};
    rib_->update_evpn(peer, std::vector{bgp::EvpnRoute{m}}, a);
  }

  int index(const std::string& name) {
    for (const auto& l : *kernel_.links())
      if (l.name == name) return l.index;
    return 0;
  }
  // The tenant's remote routes as "prefix via gateway".
  std::set<std::string> remote_routes() {
    std::set<std::string> out;
    for (const auto& r : *kernel_.routes(kTenantTable))
      if (r.gateway) {
        EXPECT_TRUE(r.onlink);
        EXPECT_EQ(r.oif, index("br5001"));
        out.insert(r.dst.to_string() + " via " + r.gateway->to_string());
      }
    return out;
  }
  // The L3 VNI's VTEP entries as "IP MAC" (neighbours) and "MAC VTEP" (FDB).
  std::set<std::string> vtep_entries() {
    std::set<std::string> out;
    for (const auto& n : *kernel_.neighbours())
      if (n.ifindex == index("br5001") && n.mac)
        out.insert(n.ip.to_string() + " " + n.mac->to_string());
    for (const auto& e : *kernel_.fdb())
      if (e.ifindex == index("vxlan5001") && e.dst)
        out.insert(e.mac.to_string() + " " + e.dst->to_string());
    return out;
  }

  kernel::FakeKernel kernel_{kernel::FakeKernel::RouteChecks::Kernel};
  std::unique_ptr<bgp::Rib> rib_;
  std::unique_ptr<evpn::Instance> evpn_;
  std::unique_ptr<Agent> agent_;
};

TEST_F(TenantTest, TheL3VniAndTheTenantsTable) {
  ASSERT_TRUE(agent_->reconcile().ok());
  const auto links = *kernel_.links();
  auto br =
      std::find_if(links.begin(), links.end(), [](const auto& l) { return l.name == "br5001"; });
  ASSERT_NE(br, links.end());
  EXPECT_EQ(br->mac, mac("02:aa:00:00:50:01"));  // the IP-VRF's router MAC
  EXPECT_NE(index("vxlan5001"), 0);
  // Blue's bridge and the L3 VNI's into the tenant's table (kTableBase + L3 VNI).
  auto rules = *kernel_.rules();
  std::set<std::string> r;
  for (const auto& x : rules) r.insert(x.iif + " " + std::to_string(x.table - kTableBase));
  EXPECT_EQ(r, (std::set<std::string>{"br100 5001", "br5001 5001"}));
  EXPECT_EQ(rules.size(), 4u);
  auto present = forwarding_state_present(kernel_, agent_->config());
  ASSERT_TRUE(present.has_value());
  EXPECT_TRUE(*present);
}

TEST_F(TenantTest, RemotePrefixesBecomeRoutesIncrementallyAsAFullReconcileWould) {
  ASSERT_TRUE(agent_->reconcile().ok());
  type5(1, "100.64.2.0/24");
  type5(1, "fd00:64:2::/64");
  host(1, "02:00:00:00:02:10", "100.64.1.30");
  type5(2, "0.0.0.0/0");
  type5(2, "100.64.3.0/24", /*router_mac=*/false);  // not installed: no router MAC
  type5(2, "100.64.1.0/24");                        // blue's subnet: the connected route wins
  settle();
  EXPECT_TRUE(agent_->dirty());
  EXPECT_FALSE(agent_->full_due());
  kernel_.clear_changes();
  auto r = agent_->reconcile();
  ASSERT_TRUE(r.ok()) << r.errors.front();
  EXPECT_FALSE(agent_->full_due());
  EXPECT_EQ(remote_routes(), (std::set<std::string>{
                                 "100.64.2.0/24 via 198.18.0.2",
                                 "100.64.1.30/32 via 198.18.0.2",
                                 "fd00:64:2::/64 via ::ffff:198.18.0.2",
                                 "0.0.0.0/0 via 198.18.0.3",
                             }));
  EXPECT_EQ(vtep_entries(), (std::set<std::string>{
                                "198.18.0.2 02:bb:00:00:50:01",
                                "::ffff:198.18.0.2 02:bb:00:00:50:01",
                                "02:bb:00:00:50:01 198.18.0.2",
                                "198.18.0.3 02:cc:00:00:50:01",
                                "::ffff:198.18.0.3 02:cc:00:00:50:01",
                                "02:cc:00:00:50:01 198.18.0.3",
                            }));
  // Nothing else was read or changed: the entries and the routes.
  for (const auto& c : kernel_.changes())
    EXPECT_TRUE(c.starts_with("replace_neighbour br5001") || c.starts_with("add_fdb vxlan5001") ||
                c.starts_with("replace_route") || c.starts_with("add_fdb vxlan100") ||
                c.starts_with("replace_neighbour br100"))
        << c;
  // A full reconcile of the same state has nothing to do.
  kernel_.clear_changes();
  auto full = reconcile(kernel_, agent_->desired());
  EXPECT_TRUE(full.ok());
  EXPECT_EQ(full.changes, 0u) << kernel_.changes().front();

  // The router MAC comes; the default route goes: one route each way.
  type5(2, "100.64.3.0/24");
  type5(2, "0.0.0.0/0", true, /*withdraw=*/true);
  settle();
  kernel_.clear_changes();
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_EQ(kernel_.changes(),
            (std::vector<std::string>{"replace_route 100.64.3.0/24", "delete_route 0.0.0.0/0"}));
  EXPECT_EQ(reconcile(kernel_, agent_->desired()).changes, 0u);
}

// A route of a gateway of the tenant (a BGP neighbor of its VRF) wins over a remote route of the
// same prefix, and gives way to it again when it goes; one with a next hop of the other family
// is not installed.
TEST_F(TenantTest, GatewayRoutesWinOverRemoteOnes) {
  auto uplink = kernel_.add_link({.name = "gw0", .kind = "veth", .veth_peer = "gw0-peer"});
  ASSERT_TRUE(uplink.has_value());
  ASSERT_TRUE(kernel_.set_link(uplink->index, {.up = true}).has_value());
  ASSERT_TRUE(agent_->reconcile().ok());
  type5(2, "0.0.0.0/0");
  settle();
  ASSERT_TRUE(agent_->reconcile().ok());
  auto routes = [&] {
    std::set<std::string> out;
    for (const auto& r : *kernel_.routes(kTenantTable))
      if (r.gateway)
        out.insert(fmt::format("{} via {} dev {}", r.dst.to_string(), r.gateway->to_string(),
                               r.oif == uplink->index ? "gw0" : std::to_string(r.oif)));
    return out;
  };
  const std::string br = std::to_string(index("br5001"));
  EXPECT_EQ(routes(), (std::set<std::string>{"0.0.0.0/0 via 198.18.0.3 dev " + br}));
  agent_->set_gateway_route(kL3, *Prefix::parse("0.0.0.0/0"),
                            GatewayRoute{{}, ip("198.19.1.1"), "gw0"});
  agent_->set_gateway_route(kL3, *Prefix::parse("::/0"), GatewayRoute{{}, ip("198.19.1.1"), "gw0"});
  EXPECT_TRUE(agent_->dirty());
  EXPECT_FALSE(agent_->full_due());
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_EQ(routes(), (std::set<std::string>{"0.0.0.0/0 via 198.19.1.1 dev gw0"}));
  EXPECT_EQ(reconcile(kernel_, agent_->desired()).changes, 0u);
  // The same again changes nothing; its removal brings the remote route back.
  agent_->reconcile();
  agent_->set_gateway_route(kL3, *Prefix::parse("0.0.0.0/0"),
                            GatewayRoute{{}, ip("198.19.1.1"), "gw0"});
  EXPECT_FALSE(agent_->dirty());
  agent_->set_gateway_route(kL3, *Prefix::parse("0.0.0.0/0"), std::nullopt);
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_EQ(routes(), (std::set<std::string>{"0.0.0.0/0 via 198.18.0.3 dev " + br}));
  // A tenant the agent does not have: ignored.
  agent_->set_gateway_route(kL3 + 1, *Prefix::parse("0.0.0.0/0"),
                            GatewayRoute{{}, ip("198.19.1.1"), "gw0"});
  EXPECT_FALSE(agent_->dirty());
}

TEST_F(TenantTest, WithdrawnPrefixesLeaveTheKernel) {
  ASSERT_TRUE(agent_->reconcile().ok());
  type5(1, "100.64.2.0/24");
  host(1, "02:00:00:00:02:10", "100.64.1.30");
  settle();
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_EQ(remote_routes().size(), 2u);
  rib_->peer_down(1);
  settle();
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_TRUE(remote_routes().empty());
  EXPECT_TRUE(vtep_entries().empty());
  // The unreachable defaults and blue's connected routes stay.
  EXPECT_EQ(kernel_.routes(kTenantTable)->size(), 4u);
}

// Someone deletes a VTEP entry of ours: a full reconcile puts it back. Removals the agent made
// itself are no drift.
TEST_F(TenantTest, DriftOfTheL3VnisEntries) {
  ASSERT_TRUE(agent_->reconcile().ok());
  type5(1, "100.64.2.0/24");
  settle();
  ASSERT_TRUE(agent_->reconcile().ok());
  kernel::Neighbour n;
  for (const auto& x : *kernel_.neighbours())
    if (x.ifindex == index("br5001") && x.ip == kRemote) n = x;
  ASSERT_EQ(n.ip, kRemote);
  ASSERT_TRUE(kernel_.delete_neighbour(n).has_value());
  agent_->on_event(kernel::NeighbourEvent{true, n});
  EXPECT_TRUE(agent_->full_due());
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_EQ(vtep_entries().size(), 3u);
  // An FDB entry too.
  kernel::FdbEntry e;
  for (const auto& x : *kernel_.fdb())
    if (x.ifindex == index("vxlan5001")) e = x;
  ASSERT_TRUE(kernel_.delete_fdb(e).has_value());
  agent_->on_event(kernel::FdbEvent{true, e});
  EXPECT_TRUE(agent_->full_due());
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_EQ(vtep_entries().size(), 3u);

  const auto entries = *kernel_.neighbours();
  const auto fdb = *kernel_.fdb();
  type5(1, "100.64.2.0/24", true, /*withdraw=*/true);
  settle();
  ASSERT_TRUE(agent_->reconcile().ok());
  EXPECT_TRUE(vtep_entries().empty());
  for (const auto& x : entries) agent_->on_event(kernel::NeighbourEvent{true, x});
  for (const auto& x : fdb) agent_->on_event(kernel::FdbEvent{true, x});
  EXPECT_FALSE(agent_->full_due());
  // The L3 VNI's bridge going is drift as well.
  agent_->on_event(kernel::LinkEvent{true, {.index = index("br5001"), .name = "br5001"}});
  EXPECT_TRUE(agent_->full_due());
}

// A restarted isthmusd (RFC 4724 §4.1): the tenant's remote routes and entries stay until the
// routes are complete.
TEST_F(TenantTest, ARestartKeepsTheTenantsRoutesUntilTheRoutesAreComplete) {
  ASSERT_TRUE(agent_->reconcile().ok());
  type5(1, "100.64.2.0/24");
  type5(2, "100.64.3.0/24");
  settle();
  ASSERT_TRUE(agent_->reconcile().ok());
  const auto routes = remote_routes();
  const auto entries = vtep_entries();
  ASSERT_EQ(routes.size(), 2u);

  bgp::RibConfig rc;
  rc.local_as = 65000;
  rc.router_id = kVtep.v4_host_order();
  bgp::Rib rib(rc);
  evpn::Instance evpn(rib, evpn_config(), evpn::Hooks{});
  Agent again(kernel_, evpn, agent_config());
  evpn.set_observer(again.observer());
  again.begin_restart();
  kernel_.clear_changes();
  auto r = again.reconcile();
  ASSERT_TRUE(r.ok()) << r.errors.front();
  EXPECT_EQ(r.changes, 0u) << kernel_.changes().front();
  EXPECT_EQ(remote_routes(), routes);
  EXPECT_EQ(vtep_entries(), entries);
  again.end_restart("End-of-RIB from every peer");
  r = again.reconcile();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(remote_routes().empty());
  EXPECT_TRUE(vtep_entries().empty());
}

// The tenant leaves the configuration: its L3 VNI goes with its rules, routes and entries; blue
// is routed in a table of its own again.
// Two tenants with the same subnets on this node (blue in tenant1, orange in tenant2): each
// tenant's table routes them through its own bridge, both bridges are the gateway, and the
// bridges that share an IPv4 subnet check the source loosely (rp_filter 2): strict mode would
// check a packet for the gateway against main's first connected route, which is one bridge's.
TEST_F(TenantTest, TheSameSubnetsInTwoTenants) {
  AgentConfig ac = agent_config();
  ac.networks.push_back({"orange", 400, GatewayAddress{ip("100.64.1.1"), 24},
                         GatewayAddress{ip("fd00:64:1::1"), 64}, "tenant2"});
  ac.networks.push_back(
      {"yellow", 600, GatewayAddress{ip("100.64.6.1"), 24}, std::nullopt, "tenant2"});
  ac.tenants.push_back({"tenant2", 5002, mac("02:aa:00:00:50:02")});
  Agent two(kernel_, *evpn_, ac);
  auto r = two.reconcile();
  ASSERT_TRUE(r.ok()) << r.errors.front();
  auto connected = [&](uint32_t table) {
    std::set<std::string> out;
    for (const auto& x : *kernel_.routes(table))
      if (!x.gateway && !x.unreachable)
        for (const auto& l : *kernel_.links())
          if (l.index == x.oif) out.insert(x.dst.to_string() + " " + l.name);
    return out;
  };
  EXPECT_EQ(connected(kTenantTable),
            (std::set<std::string>{"100.64.1.0/24 br100", "fd00:64:1::/64 br100"}));
  EXPECT_EQ(connected(kTableBase + 5002),
            (std::set<std::string>{"100.64.1.0/24 br400", "fd00:64:1::/64 br400",
                                   "100.64.6.0/24 br600"}));
  std::set<std::string> rules;
  for (const auto& x : *kernel_.rules()) rules.insert(x.iif + " " + std::to_string(x.table));
  EXPECT_EQ(rules, (std::set<std::string>{
                       "br100 " + std::to_string(kTableBase + 5001),
                       "br5001 " + std::to_string(kTableBase + 5001),
                       "br400 " + std::to_string(kTableBase + 5002),
                       "br600 " + std::to_string(kTableBase + 5002),
                       "br5002 " + std::to_string(kTableBase + 5002),
                   }));
  std::set<std::string> gateways;
  for (const auto& a : *kernel_.addresses())
    for (const auto& l : *kernel_.links())
      if (l.index == a.ifindex) gateways.insert(l.name + " " + a.ip.to_string());
  EXPECT_EQ(gateways,
            (std::set<std::string>{"br100 100.64.1.1", "br100 fd00:64:1::1", "br400 100.64.1.1",
                                   "br400 fd00:64:1::1", "br600 100.64.6.1"}));
  EXPECT_EQ(*kernel_.sysctl("net/ipv4/conf/br100/rp_filter"), "2");
  EXPECT_EQ(*kernel_.sysctl("net/ipv4/conf/br400/rp_filter"), "2");
  EXPECT_EQ(*kernel_.sysctl("net/ipv4/conf/br600/rp_filter"), "0");  // its subnet is its own
  EXPECT_EQ(*kernel_.sysctl("net/ipv4/conf/br5002/rp_filter"), "0");
  // Nothing to do the second time; a value changed under the agent is set again.
  kernel_.clear_changes();
  two.request_full();
  ASSERT_TRUE(two.reconcile().ok());
  EXPECT_TRUE(kernel_.changes().empty()) << kernel_.changes().front();
  ASSERT_TRUE(kernel_.set_sysctl("net/ipv4/conf/br400/rp_filter", "1").has_value());
  kernel_.clear_changes();
  two.request_full();
  ASSERT_TRUE(two.reconcile().ok());
  EXPECT_EQ(kernel_.changes(), std::vector<std::string>{"sysctl net/ipv4/conf/br400/rp_filter=2"});
}

TEST_F(TenantTest, ARemovedTenantLeavesNothing) {
  ASSERT_TRUE(agent_->reconcile().ok());
  type5(1, "100.64.2.0/24");
  settle();
  ASSERT_TRUE(agent_->reconcile().ok());
  AgentConfig ac = agent_config();
  ac.tenants.clear();
  Agent without(kernel_, *evpn_, ac);
  auto r = without.reconcile();
  ASSERT_TRUE(r.ok()) << r.errors.front();
  EXPECT_EQ(index("br5001"), 0);
  EXPECT_EQ(index("vxlan5001"), 0);
  EXPECT_TRUE(kernel_.routes(kTenantTable)->empty());
  for (const auto& x : *kernel_.rules()) EXPECT_EQ(x.table, kTableBase + 100) << x.iif;
  EXPECT_EQ(kernel_.rules()->size(), 2u);
  for (const auto& n : *kernel_.neighbours()) EXPECT_NE(n.ip, kRemote);
  EXPECT_EQ(kernel_.routes(kTableBase + 100)->size(), 4u);
}

// ---- The agent's nftables table (agent/firewall.h) ----

std::set<std::string> rule_texts(kernel::FakeKernel& k) {
  std::set<std::string> out;
  for (const auto& r : *k.rules())
    out.insert((r.family == IpFamily::V4 ? "4 " : "6 ") + std::to_string(r.priority) + " " +
               r.to_string());
  return out;
}

// Blue (tenant1) with egress NAT: its rule into the tenant's table passes over defaults and a
// second one looks up main; the tenant's table takes the marked packets; the table marks and
// masquerades. A restarted agent replaces the table with the same contents (no delete first),
// and the last NAT network and tenant gone take the table and the mark rules with them.
TEST_F(TenantTest, NatOutgoingAndConnectionMarks) {
  AgentConfig ac = agent_config();
  ac.networks[0].nat_outgoing = true;
  kernel::FakeFirewall fw;
  Agent nat(kernel_, *evpn_, ac, &fw);
  evpn_->set_observer(nat.observer());
  type5(1, "100.64.2.0/24");
  settle();
  auto r = nat.reconcile();
  ASSERT_TRUE(r.ok()) << r.errors.front();
  const std::string t = std::to_string(kTenantTable);
  const uint32_t nat_table = kNatTableBase + kL3;
  EXPECT_EQ(rule_texts(kernel_), (std::set<std::string>{
                                     "4 20000 iif br100 lookup " + std::to_string(nat_table),
                                     "6 20000 iif br100 lookup " + std::to_string(nat_table),
                                     "4 20001 iif br100 lookup 254",
                                     "6 20001 iif br100 lookup 254",
                                     "4 20000 iif br5001 lookup " + t,
                                     "6 20000 iif br5001 lookup " + t,
                                     "4 20002 fwmark 0x1389/0xffffff lookup " + t,
                                     "6 20002 fwmark 0x1389/0xffffff lookup " + t,
                                 }));
  // The NAT table: the tenant's routes without the unreachable defaults.
  auto routes_of = [&](uint32_t table) {
    std::set<std::string> out;
    for (const auto& x : *kernel_.routes(table))
      out.insert(x.dst.to_string() + (x.gateway ? " via " + x.gateway->to_string() : "") +
                 (x.unreachable ? " unreachable" : ""));
    return out;
  };
  EXPECT_EQ(routes_of(nat_table), (std::set<std::string>{"100.64.1.0/24", "fd00:64:1::/64",
                                                         "100.64.2.0/24 via "
                                                         "198.18.0.2"}));
  EXPECT_EQ(routes_of(kTenantTable).size(), 5u);  // and the two unreachable defaults
  // The replies come in on the underlay: IPv4 forwards on every interface.
  EXPECT_EQ(*kernel_.sysctl("net/ipv4/conf/all/forwarding"), "1");
  ASSERT_EQ(fw.tables().size(), 1u);
  const std::string& body = fw.tables().begin()->second;
  EXPECT_EQ(fw.tables().begin()->first.to_string(), "inet isthmus");
  EXPECT_NE(body.find("elements = { \"br100\" : 0x00001389, \"br5001\" : 0x00001389 }"),
            std::string::npos)
      << body;
  // The underlay: our VTEP (not an address of the fake) and the remote VTEP of the type-5 route.
  EXPECT_NE(body.find("elements = { 198.18.0.1/32, 198.18.0.2/32 }"), std::string::npos) << body;
  EXPECT_NE(body.find("iifname { \"br100\" } oifname != { \"br100\", \"br5001\" } jump "
                      "nat_outgoing"),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("ct direction original ct mark and 0x00ffffff == 0x00001389 oifname != "
                      "@vrf_interfaces oifname != @vrf_uplinks masquerade"),
            std::string::npos)
      << body;
  EXPECT_EQ(fw.log(), std::vector<std::string>{"replace inet isthmus"});

  // A new remote VTEP of the tenant: the underlay set follows, in an incremental run.
  fw.clear_log();
  type5(2, "100.64.3.0/24");
  settle();
  ASSERT_FALSE(nat.full_due());
  ASSERT_TRUE(nat.reconcile().ok());
  EXPECT_EQ(fw.log(), std::vector<std::string>{"replace inet isthmus"});
  EXPECT_NE(fw.tables().begin()->second.find("elements = { 198.18.0.1/32, 198.18.0.2/32, "
                                             "198.18.0.3/32 }"),
            std::string::npos);
  EXPECT_TRUE(routes_of(nat_table).contains("100.64.3.0/24 via 198.18.0.3"));
  // A gateway's default is the tenant's, not the NAT table's: NAT goes first for blue.
  type5(1, "0.0.0.0/0");
  settle();
  ASSERT_TRUE(nat.reconcile().ok());
  EXPECT_TRUE(routes_of(kTenantTable).contains("0.0.0.0/0 via 198.18.0.2"));
  EXPECT_EQ(routes_of(nat_table).size(), 4u);
  type5(1, "0.0.0.0/0", true, true);
  settle();
  ASSERT_TRUE(nat.reconcile().ok());
  const std::string before = fw.tables().begin()->second;

  // Restart: the same table again in one replace, nothing else changes.
  fw.clear_log();
  kernel_.clear_changes();
  Agent again(kernel_, *evpn_, ac, &fw);
  evpn_->set_observer(again.observer());
  r = again.reconcile();
  ASSERT_TRUE(r.ok()) << r.errors.front();
  EXPECT_EQ(fw.log(), std::vector<std::string>{"replace inet isthmus"});
  EXPECT_EQ(fw.tables().begin()->second, before);
  EXPECT_TRUE(kernel_.changes().empty()) << kernel_.changes().front();
  EXPECT_EQ(r.changes, 1u);  // the replace (a new agent does not know what the table holds)

  // A VTEP gone leaves the set; after a restart, before the routes are back, the VTEPs the kernel
  // still sends to stay in it.
  type5(2, "100.64.3.0/24", true, true);
  settle();
  ASSERT_TRUE(again.reconcile().ok());
  EXPECT_EQ(fw.tables().begin()->second.find("198.18.0.3/32"), std::string::npos);  // gone
  Agent restarted(kernel_, *evpn_, ac, &fw);
  evpn_->set_observer(restarted.observer());
  restarted.begin_restart();
  type5(1, "100.64.2.0/24", true, true);  // as if peer 1 had not sent it again yet
  settle();
  ASSERT_TRUE(restarted.reconcile().ok());
  EXPECT_TRUE(routes_of(kTenantTable).contains("100.64.2.0/24 via 198.18.0.2"));  // kept
  EXPECT_NE(fw.tables().begin()->second.find("elements = { 198.18.0.1/32, 198.18.0.2/32 }"),
            std::string::npos)
      << fw.tables().begin()->second;
  restarted.end_restart("End-of-RIB");
  ASSERT_TRUE(restarted.reconcile().ok());
  EXPECT_NE(fw.tables().begin()->second.find("elements = { 198.18.0.1/32 }"), std::string::npos)
      << fw.tables().begin()->second;
  type5(1, "100.64.2.0/24");
  settle();
  ASSERT_TRUE(restarted.reconcile().ok());

  // nft refusing is an error with nft's words, and the next run (a full one) tries again.
  fw.fail_next("Error: Could not process rule: No such file or directory");
  again.request_full();
  r = again.reconcile();
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0],
            "nft: replace table inet isthmus: Error: Could not process rule: No such file or "
            "directory");
  EXPECT_TRUE(again.full_due());
  ASSERT_TRUE(again.reconcile().ok());

  // Without NAT but still a tenant: marks stay, the NAT rules and chains go.
  ac.networks[0].nat_outgoing = false;
  Agent plain(kernel_, *evpn_, ac, &fw);
  evpn_->set_observer(plain.observer());
  ASSERT_TRUE(plain.reconcile().ok());
  EXPECT_FALSE(rule_texts(kernel_).contains("4 20001 iif br100 lookup 254"));
  EXPECT_TRUE(kernel_.routes(nat_table)->empty());
  EXPECT_TRUE(rule_texts(kernel_).contains("4 20000 iif br100 lookup " + t));
  EXPECT_TRUE(rule_texts(kernel_).contains("4 20002 fwmark 0x1389/0xffffff lookup " + t));
  ASSERT_EQ(fw.tables().size(), 1u);
  EXPECT_EQ(fw.tables().begin()->second.find("masquerade"), std::string::npos);
  EXPECT_NE(fw.tables().begin()->second.find("ct state new ct mark set iifname map @vrf_marks"),
            std::string::npos);

  // Neither a tenant nor NAT: no table, no mark rules.
  ac.tenants.clear();
  ac.networks[0].vrf = "blue";
  fw.clear_log();
  Agent none(kernel_, *evpn_, ac, &fw);
  evpn_->set_observer(none.observer());
  ASSERT_TRUE(none.reconcile().ok());
  EXPECT_TRUE(fw.tables().empty());
  EXPECT_EQ(fw.log(), std::vector<std::string>{"delete inet isthmus"});
  // A kernel without nftables: nothing needed, nothing made, noted once and not retried.
  fw.fail_next("Error: Could not process rule: Operation not supported");
  none.request_full();
  r = none.reconcile();
  EXPECT_TRUE(r.ok()) << r.errors.front();
  EXPECT_EQ(r.unsupported, std::vector<std::string>{
                               "nft: delete table inet isthmus: Error: Could not process rule: "
                               "Operation not supported (no connection marks or egress NAT)"});
  EXPECT_FALSE(none.dirty());
  for (const auto& x : *kernel_.rules()) EXPECT_EQ(x.fwmask, 0u) << x.to_string();
  EXPECT_EQ(
      rule_texts(kernel_),
      (std::set<std::string>{"4 20000 iif br100 lookup " + std::to_string(kTableBase + 100),
                             "6 20000 iif br100 lookup " + std::to_string(kTableBase + 100)}));
}

// The whole ruleset of one state: a tenant with a NAT network and one without and a gateway's
// link (whose traffic is neither NATed nor dropped as from outside), a VRF at the node without
// NAT, the underlay of both families.
TEST(FirewallRuleset, MarksNatAndIsolation) {
  DesiredState d;
  NetworkState blue{.vni = 100, .gateways = {{ip("100.64.1.1"), 24}, {ip("fd00:64:1::1"), 64}}};
  blue.table = kTableBase + 5001;
  blue.nat_outgoing = true;
  NetworkState green{.vni = 101, .gateways = {{ip("100.64.2.1"), 24}}};
  green.table = kTableBase + 5001;
  green.flood = {ip("198.18.0.3"), ip("198.18.1.9")};
  NetworkState red{.vni = 200, .gateways = {{ip("100.64.1.1"), 24}}};
  red.table = kTableBase + 200;
  d.networks = {blue, green, red};
  d.l3vnis.push_back({.vni = 5001, .table = kTableBase + 5001, .uplinks = {"gw0"}});
  EXPECT_TRUE(firewall_needed(d));
  const FirewallState s =
      firewall_state(d, {*Prefix::parse("198.18.0.0/24"), *Prefix::parse("fd00:18::/64")});
  ASSERT_EQ(s.vrfs.size(), 2u);
  EXPECT_EQ(s.vrfs[0], (FirewallVrf{200, {"br200"}, {}}));
  EXPECT_EQ(s.vrfs[1], (FirewallVrf{5001, {"br100", "br101", "br5001"}, {"br100"}, {"gw0"}}));
  // 198.18.0.3 is inside the VTEP's subnet: left out.
  EXPECT_EQ(s.underlay,
            (std::vector<Prefix>{*Prefix::parse("198.18.0.0/24"), *Prefix::parse("198.18.1.9/32"),
                                 *Prefix::parse("fd00:18::/64")}));
  EXPECT_EQ(firewall_ruleset(s), R"(	set vrf_interfaces {
		type ifname
		elements = { "br100", "br101", "br200", "br5001" }
	}
	set vrf_uplinks {
		type ifname
		elements = { "gw0" }
	}
	map vrf_marks {
		type ifname : mark
		elements = { "br200" : 0x000000c8, "br100" : 0x00001389, "br101" : 0x00001389, "br5001" : 0x00001389 }
	}
	set underlay4 {
		type ipv4_addr
		flags interval
		elements = { 198.18.0.0/24, 198.18.1.9/32 }
	}
	set underlay6 {
		type ipv6_addr
		flags interval
		elements = { fd00:18::/64 }
	}
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		ct state new ct mark set iifname map @vrf_marks
		iifname != @vrf_interfaces ct direction reply ct mark and 0x00ffffff != 0 meta mark set ct mark and 0x00ffffff
	}
	chain output {
		type route hook output priority mangle; policy accept;
		ct direction reply ct mark and 0x00ffffff != 0 meta mark set ct mark and 0x00ffffff
	}
	chain postrouting_mangle {
		type filter hook postrouting priority mangle; policy accept;
		ct direction reply ct mark and 0x00ffffff != 0 meta mark set meta mark and 0xff000000
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname { "br100" } oifname != { "br100", "br101", "br5001", "gw0" } jump nat_outgoing
		iifname != @vrf_interfaces iifname != @vrf_uplinks oifname @vrf_interfaces ct direction original ct status & dnat == 0 drop
	}
	chain nat_outgoing {
		oifname @vrf_interfaces reject with icmpx type admin-prohibited
		ip daddr @underlay4 reject with icmpx type admin-prohibited
		ip6 daddr @underlay6 reject with icmpx type admin-prohibited
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ct direction original ct mark and 0x00ffffff == 0x00001389 oifname != @vrf_interfaces oifname != @vrf_uplinks masquerade
	}
)");
  // Without the tenant and NAT, red and blue still share 100.64.1.0/24 in different VRFs.
  d.l3vnis.clear();
  d.networks[0].nat_outgoing = false;
  EXPECT_TRUE(firewall_needed(d));
  d.networks[2].gateways = {{ip("100.64.9.1"), 24}};
  EXPECT_FALSE(firewall_needed(d));
}

}  // namespace
}  // namespace isthmus::agent
