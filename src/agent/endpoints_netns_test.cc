// The endpoint service on the real kernel, in network namespaces of this process's own (the
// "host" and a "container"): ADD makes the veth with everything on it and is idempotent, CHECK
// finds a tampered interface, DEL leaves nothing and can be repeated, a tap attaches a VM, GC
// removes what is not valid. Label `kernel`.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/neighbour.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/endpoints.h"
#include "agent/port_guard.h"
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
  ASSERT_EQ(unshare(CLONE_NEWNET), 0);  // another container's
  const int container2_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
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
  ASSERT_TRUE(veth->port.has_value());
  EXPECT_FALSE(veth->port->learning) << "a workload's port does not learn";
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
  other.netns = "/proc/self/fd/" + std::to_string(container2_ns);
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
  ASSERT_TRUE(t->port.has_value());
  EXPECT_FALSE(t->port->learning);
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
  close(container2_ns);
  close(host_ns);
}

// A host namespace with network blue (br100) and a container's namespace, both this process's
// own; the endpoint service on them, ready.
class EndpointsLab : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << std::strerror(errno) << " (needs root)";
    host_ns_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    ASSERT_EQ(unshare(CLONE_NEWNET), 0);
    container_ns_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    ASSERT_EQ(setns(host_ns_, CLONE_NEWNET), 0);
    netns_ = "/proc/self/fd/" + std::to_string(container_ns_);
    auto opened = kernel::NetlinkKernel::open();
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    k_ = std::move(*opened);
    auto inner = kernel::NetlinkKernel::open_in(container_ns_);
    ASSERT_TRUE(inner.has_value()) << inner.error().message;
    inner_ = std::move(*inner);
    config_.vtep = ip("198.18.0.1");
    config_.overlay_mtu = 1450;
    config_.networks.push_back({"blue", 100, GatewayAddress{ip("100.64.1.1"), 24},
                                GatewayAddress{ip("fd00:64:1::1"), 64}});
    auto lo = k_->link("lo");
    ASSERT_TRUE(k_->add_address({lo->index, ip("198.18.0.1"), 32}).has_value());
    DesiredState d;
    d.vtep = config_.vtep;
    NetworkState blue;
    blue.vni = 100;
    blue.gateway_mac = config_.gateway_mac;
    blue.gateways = {{ip("100.64.1.1"), 24}, {ip("fd00:64:1::1"), 64}};
    d.networks = {blue};
    auto r = reconcile(*k_, d);
    ASSERT_TRUE(r.ok()) << r.errors.front();
    ipam::NetworkPools pools;
    pools.name = "blue";
    pools.v4 =
        ipam::SubnetPool{prefix("100.64.1.0/24"), ip("100.64.1.1"), {prefix("100.64.1.0/28")}};
    pools.v6 =
        ipam::SubnetPool{prefix("fd00:64:1::/64"), ip("fd00:64:1::1"), {prefix("fd00:64:1::/120")}};
    auto ipam = ipam::Ipam::open("", {pools});
    ASSERT_TRUE(ipam.has_value()) << ipam.error().message;
    ipam_.emplace(std::move(*ipam));
    eps_.emplace(*k_, *ipam_, config_, real_netns());
    eps_->set_ready(true);
    req_.key = {"blue", "c0ffee", "eth0"};
    req_.netns = netns_;
  }
  void TearDown() override {
    eps_.reset();
    if (container_ns_ >= 0) close(container_ns_);
    if (host_ns_ >= 0) close(host_ns_);
  }

  // Nothing of the request is left: no record, no host end, no neighbour entry, no eth0.
  void expect_nothing_left() {
    EXPECT_EQ(ipam_->find(req_.key), nullptr);
    EXPECT_TRUE(ipam_->records().empty());
    EXPECT_FALSE(find(*k_->links(), Endpoints::host_ifname(req_.key)));
    auto neighbours = *k_->neighbours();
    EXPECT_FALSE(std::any_of(neighbours.begin(), neighbours.end(), [](const auto& n) {
      return n.ip == ip("100.64.1.2") || n.ip == ip("fd00:64:1::2");
    }));
    EXPECT_FALSE(find(*inner_->links(), "eth0"));
  }

  // A default route in `k` of `family` via `gateway`, described ("" when there is none).
  static std::string default_route(kernel::Kernel& k, IpFamily family) {
    std::string out;
    for (const auto& rt : *k.routes(254))
      if (rt.dst.length() == 0 && rt.dst.family() == family)
        out += (out.empty() ? "" : " ") + (rt.gateway ? rt.gateway->to_string() : "-");
    return out;
  }

  int host_ns_ = -1;
  int container_ns_ = -1;
  std::string netns_;
  std::unique_ptr<kernel::NetlinkKernel> k_;
  std::unique_ptr<kernel::NetlinkKernel> inner_;
  AgentConfig config_;
  std::optional<ipam::Ipam> ipam_;
  std::optional<Endpoints> eps_;
  EndpointRequest req_;
};

// A netns path that is not another network namespace is refused, with what it is, before it is
// used; nothing is left of the request. A FIFO does not block (the daemon's one thread would wait
// for a writer forever); the agent's own namespace would get the workload's default routes.
TEST_F(EndpointsLab, TheNetnsMustBeAnotherNetworkNamespace) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("isthmus-netns-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string fifo = (dir / "fifo").string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  const std::string plain = (dir / "plain").string();
  std::ofstream(plain) << "";
  // The host has a default route the agent's own namespace must keep.
  auto d = k_->add_link({.name = "uplink0", .kind = "veth", .veth_peer = "uplink0p"});
  ASSERT_TRUE(d.has_value()) << d.error().message;
  ASSERT_TRUE(k_->set_link(k_->link("uplink0p")->index, {.up = true}).has_value());
  ASSERT_TRUE(k_->set_link(d->index, {.up = true}).has_value());
  ASSERT_TRUE(k_->add_address({d->index, ip("198.18.9.2"), 24}).has_value());
  ASSERT_TRUE(
      k_->replace_route({.dst = prefix("0.0.0.0/0"), .gateway = ip("198.18.9.1"), .oif = d->index})
          .has_value());

  // The FIFO first, watched: if the ADD blocks, a writer releases it and the test fails.
  std::atomic<bool> done{false};
  std::atomic<bool> released{false};
  std::thread watchdog([&] {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done && std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (done) return;
    released = true;
    int w = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (w >= 0) close(w);
  });
  EndpointRequest r = req_;
  r.netns = fifo;
  auto refused = eps_->add(r);
  done = true;
  watchdog.join();
  EXPECT_FALSE(released) << "the ADD blocked on the FIFO";
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, 5);
  EXPECT_EQ(refused.error().message,
            "network namespace " + fifo + " is a FIFO, not a network namespace");
  expect_nothing_left();

  const std::vector<std::pair<std::string, std::string>> cases = {
      {(dir / "missing").string(), "does not exist"},
      {dir.string(), "is a directory, not a network namespace"},
      {"/dev/null", "is a character device, not a network namespace"},
      {plain,
       "is not a network namespace: a file outside nsfs (a namespace is /proc/PID/ns/net, or a "
       "file a namespace is bind-mounted on)"},
      {"/proc/self/ns/mnt", "is a mount namespace, not a network namespace"},
      {"/proc/self/ns/net", "is the agent's own network namespace (the host's), not a workload's"},
      {"/proc/thread-self/ns/net",
       "is the agent's own network namespace (the host's), not a workload's"},
      {"/proc/self/fd/" + std::to_string(host_ns_),
       "is the agent's own network namespace (the host's), not a workload's"},
  };
  for (const auto& [path, why] : cases) {
    r.netns = path;
    auto e = eps_->add(r);
    ASSERT_FALSE(e.has_value()) << path;
    EXPECT_EQ(e.error().code, 5) << path;
    EXPECT_EQ(e.error().message, "network namespace " + path + " " + why);
    expect_nothing_left();
  }
  EXPECT_EQ(default_route(*k_, IpFamily::V4), "198.18.9.1");
  EXPECT_EQ(default_route(*k_, IpFamily::V6), "");
  // The container's namespace is fine.
  auto ok = eps_->add(req_);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(default_route(*inner_, IpFamily::V4), "100.64.1.1");
  std::filesystem::remove_all(dir);
}

// A route the workload's namespace has is never replaced: the ADD fails, saying which route, and
// nothing of it is left (the other family's default route it had added goes too).
TEST_F(EndpointsLab, AnExistingRouteInTheWorkloadIsNeverReplaced) {
  auto d = inner_->add_link({.name = "ext0", .kind = "veth", .veth_peer = "ext0p"});
  ASSERT_TRUE(d.has_value()) << d.error().message;
  ASSERT_TRUE(inner_->set_link(inner_->link("ext0p")->index, {.up = true}).has_value());
  ASSERT_TRUE(inner_->set_link(d->index, {.up = true}).has_value());
  ASSERT_TRUE(inner_->add_address({d->index, ip("fd00:9::2"), 64}).has_value());
  ASSERT_TRUE(
      inner_->replace_route({.dst = prefix("::/0"), .gateway = ip("fd00:9::1"), .oif = d->index})
          .has_value());
  // IPv4's default route is added first, IPv6's is refused.
  auto refused = eps_->add(req_);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, 5);
  EXPECT_EQ(refused.error().message,
            "in " + netns_ +
                ": a default route ::/0 via fd00:9::1 is there already; the agent does not "
                "replace a workload's routes (RTM_NEWROUTE ::/0: File exists)");
  expect_nothing_left();
  EXPECT_EQ(default_route(*inner_, IpFamily::V6), "fd00:9::1");
  EXPECT_EQ(default_route(*inner_, IpFamily::V4), "");
  // An IPv4 default route likewise; without one in the way the ADD succeeds.
  ASSERT_TRUE(
      inner_->delete_route({.dst = prefix("::/0"), .gateway = ip("fd00:9::1")}).has_value());
  ASSERT_TRUE(inner_->add_address({d->index, ip("100.64.9.2"), 24}).has_value());
  ASSERT_TRUE(inner_
                  ->replace_route(
                      {.dst = prefix("0.0.0.0/0"), .gateway = ip("100.64.9.1"), .oif = d->index})
                  .has_value());
  refused = eps_->add(req_);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().message,
            "in " + netns_ +
                ": a default route 0.0.0.0/0 via 100.64.9.1 is there already; the agent does not "
                "replace a workload's routes (RTM_NEWROUTE 0.0.0.0/0: File exists)");
  expect_nothing_left();
  EXPECT_EQ(default_route(*inner_, IpFamily::V4), "100.64.9.1");
  ASSERT_TRUE(
      inner_->delete_route({.dst = prefix("0.0.0.0/0"), .gateway = ip("100.64.9.1")}).has_value());
  auto ok = eps_->add(req_);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(default_route(*inner_, IpFamily::V4), "100.64.1.1");
  EXPECT_EQ(default_route(*inner_, IpFamily::V6), "fd00:64:1::1");
}

// Port security follows the attachments: an add guards its port (agent/port_guard.h), a del
// takes it out; a restarted service adopts the table with every attachment; a name nft cannot be
// given fails the add, and nothing of it is left.
TEST_F(EndpointsLab, PortSecurityFollowsTheAttachments) {
  auto fw = kernel::NftFirewall::open();
  ASSERT_TRUE(fw.has_value()) << fw.error().message;
  eps_->set_port_guard(fw->get());
  ASSERT_TRUE(eps_->guard_all().has_value());
  auto table = [&] {
    auto out = (*fw)->run("list table bridge isthmus", "list");
    return out ? *out : "error: " + out.error().message;
  };
  EXPECT_EQ(table().find("veth"), std::string::npos) << table();
  auto added = eps_->add(req_);
  ASSERT_TRUE(added.has_value()) << added.error().message;
  const ipam::Record rec = *ipam_->find(req_.key);
  const std::string port = "\"" + rec.host_ifname + "\" . " + rec.mac->to_string();
  EXPECT_NE(table().find(port + " . 100.64.1.2"), std::string::npos) << table();
  EXPECT_NE(table().find(port + " . fd00:64:1::2"), std::string::npos) << table();

  // A restart: the table made again from the records, the same ports in it.
  ASSERT_TRUE((*fw)->delete_table(kPortGuardTable).has_value());
  Endpoints again(*k_, *ipam_, config_, real_netns());
  again.set_port_guard(fw->get());
  ASSERT_TRUE(again.guard_all().has_value());
  EXPECT_NE(table().find(port + " . 100.64.1.2"), std::string::npos) << table();

  EndpointRequest tap;
  tap.key = {"blue", "vm9", "tap\"9"};
  tap.kind = ipam::Kind::Tap;
  auto refused = eps_->add(tap);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, 4);
  EXPECT_EQ(refused.error().message,
            "port security: interface name \"tap\"9\" has characters other than letters, digits "
            "and _.@-");
  EXPECT_EQ(ipam_->find(tap.key), nullptr);
  EXPECT_FALSE(find(*k_->links(), "tap\"9"));

  ASSERT_TRUE(eps_->del(req_.key).has_value());
  EXPECT_EQ(table().find(rec.host_ifname), std::string::npos) << table();
  expect_nothing_left();
  eps_->set_port_guard(nullptr);
}

// Holds the kernel work it is given until the test runs it (on the test's thread, with the host's
// kernel), so that what is at work at once is seen.
class GatedPool final : public KernelPool {
 public:
  explicit GatedPool(kernel::Kernel& host) : host_(host) {}
  void run(std::function<void(kernel::Kernel&)> work, std::function<void()> done) override {
    jobs.push_back({std::move(work), std::move(done)});
  }
  void finish(size_t i) {
    Job j = std::move(jobs.at(i));
    jobs.erase(jobs.begin() + static_cast<ptrdiff_t>(i));
    j.work(host_);
    j.done();
  }
  struct Job {
    std::function<void(kernel::Kernel&)> work;
    std::function<void()> done;
  };
  std::vector<Job> jobs;

 private:
  kernel::Kernel& host_;
};

// Served through the pool: requests of different attachments are at work at once and answered as
// their work ends; one of the same attachment waits for the one before; a request served at once
// (the control socket's) for an attachment at work is told to try again; gc leaves it alone.
TEST_F(EndpointsLab, RequestsOfOneAttachmentWaitTheOthersOverlap) {
  GatedPool pool(*k_);
  eps_->set_pool(&pool);
  std::vector<std::string> replies;
  auto reply = [&](std::string name) {
    return [&replies, name](nlohmann::json r) {
      replies.push_back(name + ": " +
                        (r.value("ok", false) ? "ok" : std::to_string(r.value("code", 0))));
    };
  };
  const nlohmann::json add = {{"op", "add"},
                              {"network", "blue"},
                              {"container_id", "c0ffee"},
                              {"ifname", "eth0"},
                              {"netns", netns_}};
  const nlohmann::json tap = {{"op", "add"},
                              {"network", "blue"},
                              {"container_id", "vm1"},
                              {"ifname", "tapvm1"},
                              {"kind", "tap"}};
  const nlohmann::json del = {
      {"op", "del"}, {"network", "blue"}, {"container_id", "c0ffee"}, {"ifname", "eth0"}};
  eps_->handle(add, reply("add c0ffee"));
  eps_->handle(tap, reply("add vm1"));
  eps_->handle(del, reply("del c0ffee"));
  EXPECT_EQ(pool.jobs.size(), 2u) << "both adds at work at once; the del waits";
  EXPECT_EQ(eps_->busy(), 2u);
  EXPECT_TRUE(replies.empty());
  EXPECT_EQ(eps_->handle(add)["code"], 11);
  auto gc = eps_->handle({{"op", "gc"}, {"network", "blue"}, {"valid", nlohmann::json::array()}});
  EXPECT_TRUE(gc["ok"]) << gc.dump();
  EXPECT_TRUE(gc["result"]["removed"].empty()) << gc.dump();
  EXPECT_EQ(ipam_->records().size(), 2u);

  pool.finish(1);  // the tap's work ends first, and its answer goes first
  EXPECT_EQ(replies, (std::vector<std::string>{"add vm1: ok"}));
  EXPECT_TRUE(find(*k_->links(), "tapvm1"));
  pool.finish(0);
  EXPECT_EQ(replies, (std::vector<std::string>{"add vm1: ok", "add c0ffee: ok"}));
  EXPECT_TRUE(find(*inner_->links(), "eth0"));
  ASSERT_EQ(pool.jobs.size(), 1u) << "now the del's turn";
  pool.finish(0);
  EXPECT_EQ(replies.back(), "del c0ffee: ok");
  EXPECT_EQ(eps_->busy(), 0u);
  EXPECT_EQ(ipam_->find(req_.key), nullptr);
  EXPECT_FALSE(find(*k_->links(), Endpoints::host_ifname(req_.key)));
  EXPECT_FALSE(find(*inner_->links(), "eth0"));
  EXPECT_NE(ipam_->find({"blue", "vm1", "tapvm1"}), nullptr);
  eps_->set_pool(nullptr);
}

// The real pool: its threads make and remove the ports while the loop's thread waits in its loop.
TEST_F(EndpointsLab, ThePoolsThreadsDoTheKernelWork) {
  EventLoop loop;
  auto pool = thread_pool(loop, 2);
  ASSERT_TRUE(pool.has_value()) << pool.error().message;
  eps_->set_pool(pool->get());
  std::vector<nlohmann::json> replies;
  auto keep = [&](nlohmann::json r) { replies.push_back(std::move(r)); };
  auto await = [&](size_t n) {
    const auto end = Clock::now() + std::chrono::seconds(10);
    while (replies.size() < n && Clock::now() < end) loop.run_once(std::chrono::milliseconds(10));
    return replies.size() == n;
  };
  eps_->handle({{"op", "add"},
                {"network", "blue"},
                {"container_id", "c0ffee"},
                {"ifname", "eth0"},
                {"netns", netns_}},
               keep);
  eps_->handle({{"op", "add"},
                {"network", "blue"},
                {"container_id", "vm1"},
                {"ifname", "tapvm1"},
                {"kind", "tap"}},
               keep);
  EXPECT_TRUE(replies.empty()) << "answered before the work was done";
  ASSERT_TRUE(await(2));
  for (const auto& r : replies) EXPECT_TRUE(r.value("ok", false)) << r.dump();
  EXPECT_TRUE(find(*inner_->links(), "eth0"));
  EXPECT_TRUE(find(*k_->links(), "tapvm1"));
  eps_->handle({{"op", "del"}, {"network", "blue"}, {"container_id", "c0ffee"}, {"ifname", "eth0"}},
               keep);
  eps_->handle({{"op", "del"}, {"network", "blue"}, {"container_id", "vm1"}, {"ifname", "tapvm1"}},
               keep);
  ASSERT_TRUE(await(4));
  for (const auto& r : replies) EXPECT_TRUE(r.value("ok", false)) << r.dump();
  expect_nothing_left();
  EXPECT_FALSE(find(*k_->links(), "tapvm1"));
  eps_->set_pool(nullptr);
}

}  // namespace
}  // namespace isthmus::agent
