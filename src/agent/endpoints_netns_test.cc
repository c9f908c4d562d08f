// The endpoint service on the real kernel, in network namespaces of this process's own (the
// "host" and a "container"): ADD makes the veth with everything on it and is idempotent, CHECK
// finds a tampered interface, DEL leaves nothing and can be repeated, a tap attaches a VM, GC
// removes what is not valid. Label `kernel`.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/neighbour.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "agent/endpoints.h"
#include "agent/reconciler.h"
#include "kernel/netlink_kernel.h"

namespace isthmus::agent {
namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
Prefix prefix(const char* s) { return *Prefix::parse(s); }

const kernel::Link* find(const std::vector<kernel::Link>& links, const std::string& name) {
  auto it = std::find_if(links.begin(), links.end(), [&](const auto& l) { return l.name == name; });
  return it == links.end() ? nullptr : &*it;
}

TEST(EndpointsOnTheKernel, AddCheckDelTapGc) {
  ASSERT_EQ(unshare(CLONE_NEWNET), 0) << std::strerror(errno) << " (needs root)";
  const int host_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  ASSERT_EQ(unshare(CLONE_NEWNET), 0);  // the container's
  const int container_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  ASSERT_EQ(setns(host_ns, CLONE_NEWNET), 0);
  const std::string netns = "/proc/self/fd/" + std::to_string(container_ns);

  auto opened = kernel::NetlinkKernel::open();
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  kernel::NetlinkKernel& k = **opened;
  AgentConfig config;
  config.vtep = ip("198.18.0.1");
  config.overlay_mtu = 1450;
  config.networks.push_back(
      {"blue", 100, GatewayAddress{ip("100.64.1.1"), 24}, GatewayAddress{ip("fd00:64:1::1"), 64}});
  auto lo = k.link("lo");
  ASSERT_TRUE(k.add_address({lo->index, ip("198.18.0.1"), 32}).has_value());
  DesiredState d;
  d.vtep = config.vtep;
  NetworkState blue;
  blue.vni = 100;
  blue.gateway_mac = config.gateway_mac;
  blue.gateways = {{ip("100.64.1.1"), 24}, {ip("fd00:64:1::1"), 64}};
  d.networks = {blue};
  auto r = reconcile(k, d);
  ASSERT_TRUE(r.ok()) << r.errors.front();
  const int br = find(*k.links(), "br100")->index;

  ipam::NetworkPools pools;
  pools.name = "blue";
  pools.v4 = ipam::SubnetPool{prefix("100.64.1.0/24"), ip("100.64.1.1"), {prefix("100.64.1.0/28")}};
  pools.v6 =
      ipam::SubnetPool{prefix("fd00:64:1::/64"), ip("fd00:64:1::1"), {prefix("fd00:64:1::/120")}};
  auto ipam = ipam::Ipam::open("", {pools});
  ASSERT_TRUE(ipam.has_value()) << ipam.error().message;
  Endpoints eps(k, *ipam, config, real_netns());

  EndpointRequest req;
  req.key = {"blue", "c0ffee", "eth0"};
  req.netns = netns;
  EXPECT_EQ(eps.add(req).error().code, 11) << "not ready before the first reconcile";
  eps.set_ready(true);
  auto added = eps.add(req);
  ASSERT_TRUE(added.has_value()) << added.error().message;
  const nlohmann::json& res = *added;
  ASSERT_EQ(res["ips"].size(), 2u) << res.dump();
  EXPECT_EQ(res["ips"][0]["address"], "100.64.1.2/24");
  EXPECT_EQ(res["ips"][0]["gateway"], "100.64.1.1");
  EXPECT_EQ(res["ips"][1]["address"], "fd00:64:1::2/64");
  EXPECT_EQ(res["interfaces"][1]["name"], "eth0");
  EXPECT_EQ(res["interfaces"][1]["sandbox"], netns);
  const std::string mac = res["interfaces"][1]["mac"];
  // The container's side: MTU, addresses, default routes via the gateways.
  auto inner_k = kernel::NetlinkKernel::open_in(container_ns);
  ASSERT_TRUE(inner_k.has_value());
  auto eth0 = (*inner_k)->link("eth0");
  ASSERT_TRUE(eth0.has_value());
  EXPECT_EQ(eth0->mtu, 1450u);
  EXPECT_TRUE(eth0->up);
  EXPECT_EQ(eth0->mac.to_string(), mac);
  // The agent chose the MAC (unicast, locally administered) and recorded it with the allocation.
  EXPECT_EQ(eth0->mac.bytes[0] & 0x03, 0x02) << mac;
  ASSERT_NE(ipam->find(req.key), nullptr);
  ASSERT_TRUE(ipam->find(req.key)->mac.has_value());
  EXPECT_EQ(ipam->find(req.key)->mac->to_string(), mac);
  auto addrs = *(*inner_k)->addresses();
  EXPECT_NE(
      std::find(addrs.begin(), addrs.end(), kernel::Address{eth0->index, ip("100.64.1.2"), 24}),
      addrs.end());
  auto routes = *(*inner_k)->routes(254);
  EXPECT_TRUE(std::any_of(routes.begin(), routes.end(), [](const auto& rt) {
    return rt.dst.length() == 0 && rt.gateway == ip("100.64.1.1");
  }));
  EXPECT_TRUE(std::any_of(routes.begin(), routes.end(), [](const auto& rt) {
    return rt.dst.length() == 0 && rt.gateway == ip("fd00:64:1::1");
  }));
  // The host's side: a port of br100, the MAC in its FDB, the IPs in br100's neighbours.
  const std::string host_end = Endpoints::host_ifname(req.key);
  const auto host_links = *k.links();
  const kernel::Link* veth = find(host_links, host_end);
  ASSERT_TRUE(veth);
  EXPECT_EQ(veth->master, br);
  auto fdb = *k.fdb();
  EXPECT_TRUE(std::any_of(fdb.begin(), fdb.end(), [&](const auto& e) {
    return e.ifindex == veth->index && e.mac.to_string() == mac;
  }));
  auto neighbours = *k.neighbours();
  EXPECT_EQ(std::count_if(neighbours.begin(), neighbours.end(),
                          [&](const auto& n) {
                            return n.ifindex == br && n.mac && n.mac->to_string() == mac;
                          }),
            2);
  // ADD again: the same answer, nothing new.
  auto again = eps.add(req);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(*again, res);
  // CHECK: fine; then someone changes the MTU in the container.
  EXPECT_TRUE(eps.check(req.key, netns).has_value());
  ASSERT_TRUE((*inner_k)->set_link(eth0->index, {.mtu = 1400}).has_value());
  auto bad = eps.check(req.key, netns);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("MTU 1400"), std::string::npos) << bad.error().message;
  EXPECT_EQ(eps.check({"blue", "nope", "eth0"}, netns).error().code, 3);
  // A runtime's result with fields of the wrong type is not an exception: what is not ours (a
  // number for a name, interfaces that are no array) is left out.
  ASSERT_TRUE((*inner_k)->set_link(eth0->index, {.mtu = 1450}).has_value());
  for (const char* prev : {R"({"interfaces": [{"name": 5}], "ips": [{"interface": 0,
                               "address": "100.64.9.9/24"}]})",
                           R"({"interfaces": "eth0", "ips": [{"interface": 0,
                               "address": "100.64.9.9/24"}]})"}) {
    auto odd = eps.check(req.key, netns, nlohmann::json::parse(prev));
    EXPECT_TRUE(odd.has_value()) << prev << ": " << odd.error().message;
  }
  // A second container gets the next address; an unknown network is code 7.
  EndpointRequest other = req;
  other.key.container_id = "beef";
  other.key.ifname = "eth1";
  auto second = eps.add(other);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ((*second)["ips"][0]["address"], "100.64.1.3/24");
  EndpointRequest green = req;
  green.key.network = "green";
  EXPECT_EQ(eps.add(green).error().code, 7);

  // DEL: nothing of it is left, twice is fine.
  ASSERT_TRUE(eps.del(req.key).has_value());
  EXPECT_FALSE(find(*k.links(), host_end));
  EXPECT_FALSE((*inner_k)->link("eth0").has_value());
  neighbours = *k.neighbours();
  EXPECT_FALSE(std::any_of(neighbours.begin(), neighbours.end(),
                           [&](const auto& n) { return n.ip == ip("100.64.1.2"); }));
  EXPECT_TRUE(eps.del(req.key).has_value());
  EXPECT_EQ(ipam->find(req.key), nullptr);

  // A VM's tap on the network.
  EndpointRequest vm;
  vm.key = {"blue", "vm1", "tap-vm1"};
  vm.kind = ipam::Kind::Tap;
  auto tap = eps.add(vm);
  ASSERT_TRUE(tap.has_value()) << tap.error().message;
  const auto with_tap = *k.links();
  const kernel::Link* t = find(with_tap, "tap-vm1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->master, br);
  EXPECT_EQ((*tap)["interfaces"][0]["name"], "tap-vm1");
  EXPECT_TRUE((*tap)["interfaces"][0].contains("mac"));

  // The tap set down, taken off br100, given another MTU behind the agent's back: its event
  // puts it back, with the VM's FDB entry; another link's event changes nothing.
  const std::string tap_mac = (*tap)["interfaces"][0]["mac"];
  auto tap_state = [&] { return *find(*k.links(), "tap-vm1"); };
  ASSERT_TRUE(k.set_link(t->index, {.up = false, .mtu = 1300, .master = 0}).has_value());
  auto other_link = k.add_link({.name = "dummy-x", .kind = "bridge"});
  ASSERT_TRUE(other_link.has_value());
  eps.on_event(kernel::LinkEvent{false, *other_link});
  EXPECT_FALSE(tap_state().up);
  eps.on_event(kernel::LinkEvent{false, tap_state()});
  EXPECT_TRUE(tap_state().up);
  EXPECT_EQ(tap_state().master, br);
  EXPECT_EQ(tap_state().mtu, 1450u);
  fdb = *k.device_fdb(t->index);
  EXPECT_TRUE(std::any_of(fdb.begin(), fdb.end(), [&](const auto& e) {
    return !e.self && e.mac.to_string() == tap_mac;
  })) << "the VM's FDB entry is back";
  // Put on another bridge: back on br100.
  ASSERT_TRUE(k.set_link(t->index, {.master = other_link->index}).has_value());
  eps.on_event(kernel::LinkEvent{false, tap_state()});
  EXPECT_EQ(tap_state().master, br);
  ASSERT_TRUE(k.delete_link(other_link->index).has_value());

  // A container whose namespace goes without a DEL (its veth with it): the agent forgets it.
  EndpointRequest third = req;
  third.key.container_id = "gone";
  third.key.ifname = "eth2";
  ASSERT_TRUE(eps.add(third).has_value());
  const std::string third_end = Endpoints::host_ifname(third.key);
  auto before = *k.links();
  const kernel::Link third_link = *find(before, third_end);
  eps.on_event(kernel::LinkEvent{true, third_link});
  EXPECT_NE(ipam->find(third.key), nullptr) << "its veth is still there: an event of another";
  ASSERT_TRUE(k.delete_link(third_link.index).has_value());
  eps.on_event(kernel::LinkEvent{true, third_link});
  EXPECT_EQ(ipam->find(third.key), nullptr);
  EXPECT_TRUE(eps.del(third.key).has_value());

  // GC keeps what is valid and removes the rest (the tap and the second container).
  auto removed = eps.gc("blue", {});
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->size(), 2u);
  EXPECT_FALSE(find(*k.links(), "tap-vm1"));
  EXPECT_FALSE(find(*k.links(), Endpoints::host_ifname(other.key)));
  EXPECT_TRUE(ipam->records().empty());
  close(container_ns);
  close(host_ns);
}

}  // namespace
}  // namespace isthmus::agent
