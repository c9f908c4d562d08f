// The reconciler on the real kernel (NetlinkKernel), in network namespaces of this process's
// own: it builds the networks, a second run changes nothing (what a restarted agent does), and a
// removed network leaves no link, FDB entry, neighbour or address behind. A tenant's L3 VNI
// (symmetric IRB, RFC 9135) as the kernel has it, and two nodes whose workloads ping each other
// through it, without BGP: each node runs the desired state of its side. Label `kernel`.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/neighbour.h>
#include <netinet/icmp6.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

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

// ---- Symmetric IRB ----

const uint32_t kTenantTable = kTableBase + 5001;

// A network of tenant 5001 and the tenant's L3 VNI with routes through `remote`.
DesiredState tenant_node(const char* vtep, uint32_t vni, const char* gw4, const char* gw6,
                         const char* router_mac, const char* remote, const char* remote_mac,
                         const char* remote4, const char* remote6) {
  DesiredState d;
  d.vtep = ip(vtep);
  NetworkState n;
  n.vni = vni;
  n.gateway_mac = mac("02:00:00:64:00:01");  // the anycast gateway's, the same everywhere
  n.gateways = {{ip(gw4), 24}, {ip(gw6), 64}};
  n.table = kTenantTable;
  d.networks = {n};
  L3VniState l3;
  l3.vni = 5001;
  l3.table = kTenantTable;
  l3.router_mac = mac(router_mac);
  l3.routes = {{*Prefix::parse(remote4), ip(remote), mac(remote_mac)},
               {*Prefix::parse(remote6), ip(remote), mac(remote_mac)}};
  d.l3vnis = {l3};
  return d;
}

TEST(ReconcilerOnTheKernel, L3VniRoutesRulesNeighboursAndFdb) {
  ASSERT_EQ(unshare(CLONE_NEWNET), 0) << std::strerror(errno) << " (needs root)";
  auto opened = kernel::NetlinkKernel::open();
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  kernel::NetlinkKernel& k = **opened;
  auto lo = k.link("lo");
  ASSERT_TRUE(lo.has_value());
  ASSERT_TRUE(k.add_address({lo->index, ip("198.18.0.1"), 32}).has_value());
  DesiredState d =
      tenant_node("198.18.0.1", 100, "100.64.1.1", "fd00:64:1::1", "02:aa:00:00:50:01",
                  "198.18.0.2", "02:bb:00:00:50:01", "100.64.2.0/24", "fd00:64:2::/64");
  auto& routes = d.l3vnis[0].routes;
  const MacAddress c = mac("02:cc:00:00:50:01");
  routes.push_back({*Prefix::parse("0.0.0.0/0"), ip("198.18.0.3"), c});       // a border's
  routes.push_back({*Prefix::parse("100.64.1.0/24"), ip("198.18.0.3"), c});   // stretched
  routes.push_back({*Prefix::parse("100.64.1.20/32"), ip("198.18.0.3"), c});  // its host

  auto first = reconcile(k, d);
  ASSERT_TRUE(first.ok()) << first.errors.front();
  auto again = reconcile(k, d);
  ASSERT_TRUE(again.ok()) << again.errors.front();
  EXPECT_EQ(again.changes, 0u) << "a second run (or a restarted agent) must change nothing";

  auto br = k.link("br5001");
  auto vx = k.link("vxlan5001");
  ASSERT_TRUE(br.has_value() && vx.has_value());
  EXPECT_EQ(br->kind, "bridge");
  EXPECT_EQ(br->mac, mac("02:aa:00:00:50:01"));
  EXPECT_EQ(br->alias, "isthmus:5001");
  EXPECT_TRUE(br->up);
  EXPECT_EQ(vx->vxlan, (kernel::VxlanInfo{5001, ip("198.18.0.1"), 4789, false}));
  EXPECT_EQ(vx->master, br->index);
  EXPECT_EQ(vx->port, (kernel::BridgePortInfo{false, false}));
  EXPECT_EQ(*k.sysctl("net/ipv4/conf/br5001/forwarding"), "1");
  auto rules = *k.rules();
  for (IpFamily f : {IpFamily::V4, IpFamily::V6})
    EXPECT_NE(std::find(rules.begin(), rules.end(),
                        kernel::Rule{f, kRulePriority, "br5001", kTenantTable}),
              rules.end());

  // The table as the kernel reports it.
  std::set<std::string> table;
  for (const auto& r : *k.routes(kTenantTable))
    table.insert(r.unreachable ? r.dst.to_string() + " unreachable " + std::to_string(r.metric)
                 : r.gateway   ? r.dst.to_string() + " via " + r.gateway->to_string() +
                                   (r.oif == br->index ? " dev br5001" : " dev ?") +
                                   (r.onlink ? " onlink " : " ") + std::to_string(r.metric)
                             : r.dst.to_string() + " connected " + std::to_string(r.metric));
  EXPECT_EQ(table, (std::set<std::string>{
                       "100.64.1.0/24 connected 0",
                       "fd00:64:1::/64 connected 1024",
                       "100.64.2.0/24 via 198.18.0.2 dev br5001 onlink 0",
                       "fd00:64:2::/64 via ::ffff:198.18.0.2 dev br5001 onlink 1024",
                       "0.0.0.0/0 via 198.18.0.3 dev br5001 onlink 0",
                       "100.64.1.20/32 via 198.18.0.3 dev br5001 onlink 0",
                       "0.0.0.0/0 unreachable 4278198272",
                       "::/0 unreachable 4278198272",
                   }));
  std::set<std::string> entries;
  // Not the kernel's own multicast entries (ff02::16, made when brL sends an MLD report as it
  // comes up, or not yet: a matter of timing).
  for (const auto& n : *k.neighbours())
    if (n.ifindex == br->index && n.mac && (n.mac->bytes[0] & 1) == 0)
      entries.insert("neigh " + n.ip.to_string() + " " + n.mac->to_string() +
                     (n.state == NUD_NOARP ? " noarp" : " ?") + (n.extern_learned ? " ext" : ""));
  for (const auto& e : *k.fdb())
    if (e.ifindex == vx->index && e.dst)
      entries.insert("fdb " + e.mac.to_string() + " dst " + e.dst->to_string() +
                     (e.self ? " self" : ""));
  EXPECT_EQ(entries, (std::set<std::string>{
                         "neigh 198.18.0.2 02:bb:00:00:50:01 noarp ext",
                         "neigh ::ffff:198.18.0.2 02:bb:00:00:50:01 noarp ext",
                         "neigh 198.18.0.3 02:cc:00:00:50:01 noarp ext",
                         "neigh ::ffff:198.18.0.3 02:cc:00:00:50:01 noarp ext",
                         "fdb 02:bb:00:00:50:01 dst 198.18.0.2 self",
                         "fdb 02:cc:00:00:50:01 dst 198.18.0.3 self",
                     }));

  // Incremental: VTEP 3 withdraws, and what is left is what a full run leaves.
  DesiredState d2 = d;
  std::erase_if(d2.l3vnis[0].routes, [](const L3Route& r) { return r.vtep == ip("198.18.0.3"); });
  const L3Changes change{.vni = 5001,
                         .bridge = br->index,
                         .vxlan = vx->index,
                         .before = l3_vteps(d, d.l3vnis[0]),
                         .before_routes = first.l3_routes.at(5001)};
  auto inc = apply_l3_changes(k, d2, std::vector{change});
  ASSERT_TRUE(inc.ok()) << inc.errors.front();
  EXPECT_EQ(inc.changes, 5u);  // 2 routes, 2 neighbours, 1 FDB entry
  auto full = reconcile(k, d2);
  ASSERT_TRUE(full.ok()) << full.errors.front();
  EXPECT_EQ(full.changes, 0u);

  // The tenant goes: nothing of its L3 VNI is left; the network stays in its table.
  d2.l3vnis.clear();
  auto removed = reconcile(k, d2);
  ASSERT_TRUE(removed.ok()) << removed.errors.front();
  EXPECT_FALSE(k.link("br5001").has_value());
  EXPECT_FALSE(k.link("vxlan5001").has_value());
  rules = *k.rules();
  EXPECT_TRUE(
      std::none_of(rules.begin(), rules.end(), [](const auto& r) { return r.iif == "br5001"; }));
  for (const auto& r : *k.routes(kTenantTable)) EXPECT_FALSE(r.gateway.has_value());
  for (const auto& n : *k.neighbours()) EXPECT_FALSE(n.extern_learned) << n.ip.to_string();
  EXPECT_EQ(k.routes(kTenantTable)->size(), 4u);
}

// This thread's network namespace, as an fd.
int current_netns() { return open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC); }

// While it lives, this thread is in another network namespace (sockets made now stay there).
class Inside {
 public:
  explicit Inside(int netns) : home_(current_netns()) { ok_ = setns(netns, CLONE_NEWNET) == 0; }
  ~Inside() {
    setns(home_, CLONE_NEWNET);
    close(home_);
  }
  bool ok() const { return ok_; }

 private:
  int home_;
  bool ok_ = false;
};

uint16_t checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n % 2) sum += static_cast<uint32_t>(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// ICMP (ICMPv6) echo from inside `netns` to `dst`: true when a reply comes within a few tries.
bool ping(int netns, const IpAddress& dst) {
  const bool v4 = dst.is_v4();
  int fd = -1;
  {
    Inside in(netns);
    if (!in.ok()) return false;
    fd = socket(v4 ? AF_INET : AF_INET6, SOCK_RAW | SOCK_CLOEXEC,
                v4 ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6});
  }
  if (fd < 0) return false;
  sockaddr_storage to{};
  socklen_t to_len = 0;
  if (v4) {
    auto* a = reinterpret_cast<sockaddr_in*>(&to);
    a->sin_family = AF_INET;
    std::memcpy(&a->sin_addr, dst.bytes().data(), 4);
    to_len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&to);
    a->sin6_family = AF_INET6;
    std::memcpy(&a->sin6_addr, dst.bytes().data(), 16);
    to_len = sizeof *a;
  }
  const uint16_t id = 0x4953;
  bool answered = false;
  for (uint16_t seq = 1; seq <= 6 && !answered; ++seq) {
    uint8_t req[64] = {};
    req[0] = v4 ? uint8_t{ICMP_ECHO} : uint8_t{ICMP6_ECHO_REQUEST};
    req[4] = id >> 8;
    req[5] = id & 0xff;
    req[6] = static_cast<uint8_t>(seq >> 8);
    req[7] = static_cast<uint8_t>(seq);
    if (v4) {  // the kernel fills in ICMPv6's checksum, not ICMP's
      const uint16_t sum = checksum(req, sizeof req);
      req[2] = static_cast<uint8_t>(sum >> 8);
      req[3] = static_cast<uint8_t>(sum);
    }
    if (sendto(fd, req, sizeof req, 0, reinterpret_cast<sockaddr*>(&to), to_len) < 0) break;
    for (int waited = 0; waited < 10 && !answered; ++waited) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      uint8_t buf[2048];
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) continue;
      size_t at = 0;
      if (v4) at = static_cast<size_t>(buf[0] & 0x0f) * 4;  // IPv4 raw sockets get the header
      if (static_cast<size_t>(n) < at + 8) continue;
      const uint8_t* icmp = buf + at;
      answered = icmp[0] == (v4 ? int{ICMP_ECHOREPLY} : int{ICMP6_ECHO_REPLY}) &&
                 (icmp[4] << 8 | icmp[5]) == id && (icmp[6] << 8 | icmp[7]) == seq;
    }
  }
  close(fd);
  return answered;
}

// Two nodes joined by a veth underlay, one network each (different subnets) in one tenant, a
// workload on each: the workloads ping each other, IPv4 and IPv6, routed over the L3 VNI. Strict
// reverse-path filtering (RFC 3704) is on everywhere: the rules carry it. No BGP: each node's
// desired state names the other's subnets and router MAC, as EVPN would.
TEST(ReconcilerOnTheKernel, SymmetricIrbPingsAcrossTheL3Vni) {
  ASSERT_EQ(unshare(CLONE_NEWNET), 0) << std::strerror(errno) << " (needs root)";
  const int home = current_netns();
  int ns[4];  // node A, node B, workload A, workload B
  for (int& n : ns) {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0);
    n = current_netns();
  }
  ASSERT_EQ(setns(home, CLONE_NEWNET), 0);
  const int node_a = ns[0], node_b = ns[1], work_a = ns[2], work_b = ns[3];
  auto sysctls = [](kernel::Kernel& k) {
    for (const char* key : {"net/ipv4/conf/all/rp_filter", "net/ipv4/conf/default/rp_filter"})
      EXPECT_TRUE(k.set_sysctl(key, "1").has_value()) << key;
    for (const char* key : {"net/ipv6/conf/all/accept_dad", "net/ipv6/conf/default/accept_dad"})
      EXPECT_TRUE(k.set_sysctl(key, "0").has_value()) << key;
  };
  // The underlay: a veth from A to B, 198.18.0.1/24 and 198.18.0.2/24.
  {
    Inside in(node_a);
    ASSERT_TRUE(in.ok());
    auto k = kernel::NetlinkKernel::open();
    ASSERT_TRUE(k.has_value()) << k.error().message;
    sysctls(**k);
    auto ul = (*k)->add_link(
        {.name = "ul-a", .kind = "veth", .veth_peer = "ul-b", .veth_peer_netns_fd = node_b});
    ASSERT_TRUE(ul.has_value()) << ul.error().message;
    ASSERT_TRUE((*k)->set_link(ul->index, {.up = true}).has_value());
    ASSERT_TRUE((*k)->add_address({ul->index, ip("198.18.0.1"), 24}).has_value());
  }
  {
    Inside in(node_b);
    auto k = kernel::NetlinkKernel::open();
    ASSERT_TRUE(k.has_value()) << k.error().message;
    sysctls(**k);
    auto ul = (*k)->link("ul-b");
    ASSERT_TRUE(ul.has_value()) << ul.error().message;
    ASSERT_TRUE((*k)->set_link(ul->index, {.up = true}).has_value());
    ASSERT_TRUE((*k)->add_address({ul->index, ip("198.18.0.2"), 24}).has_value());
  }
  struct Side {
    int node;
    int workload;
    DesiredState desired;
    const char* address4;
    const char* address6;
    const char* gateway4;
    const char* gateway6;
  };
  const Side sides[] = {
      {node_a, work_a,
       tenant_node("198.18.0.1", 100, "100.64.1.1", "fd00:64:1::1", "02:aa:00:00:50:01",
                   "198.18.0.2", "02:bb:00:00:50:01", "100.64.2.0/24", "fd00:64:2::/64"),
       "100.64.1.10", "fd00:64:1::10", "100.64.1.1", "fd00:64:1::1"},
      {node_b, work_b,
       tenant_node("198.18.0.2", 200, "100.64.2.1", "fd00:64:2::1", "02:bb:00:00:50:01",
                   "198.18.0.1", "02:aa:00:00:50:01", "100.64.1.0/24", "fd00:64:1::/64"),
       "100.64.2.10", "fd00:64:2::10", "100.64.2.1", "fd00:64:2::1"},
  };
  for (const Side& side : sides) {
    // The node: what the agent makes of its desired state (sysctls are the namespace's own).
    const uint32_t vni = side.desired.networks[0].vni;
    {
      Inside in(side.node);
      auto k = kernel::NetlinkKernel::open();
      ASSERT_TRUE(k.has_value()) << k.error().message;
      auto r = reconcile(**k, side.desired);
      ASSERT_TRUE(r.ok()) << r.errors.front();
      // The workload's veth on the network's bridge, its other end in the workload's namespace.
      auto br = (*k)->link(bridge_name(vni));
      ASSERT_TRUE(br.has_value());
      auto w = (*k)->add_link({.name = "w" + std::to_string(vni),
                               .kind = "veth",
                               .mtu = 1450,
                               .veth_peer = "eth0",
                               .veth_peer_netns_fd = side.workload});
      ASSERT_TRUE(w.has_value()) << w.error().message;
      ASSERT_TRUE((*k)->set_link(w->index, {.up = true, .master = br->index}).has_value());
    }
    Inside in(side.workload);
    auto k = kernel::NetlinkKernel::open();
    ASSERT_TRUE(k.has_value()) << k.error().message;
    sysctls(**k);
    auto eth0 = (*k)->link("eth0");
    ASSERT_TRUE(eth0.has_value()) << eth0.error().message;
    ASSERT_TRUE((*k)->set_link(eth0->index, {.up = true}).has_value());
    ASSERT_TRUE((*k)->add_address({eth0->index, ip(side.address4), 24}).has_value());
    ASSERT_TRUE((*k)->add_address({eth0->index, ip(side.address6), 64}).has_value());
    for (const char* gw : {side.gateway4, side.gateway6}) {
      const IpAddress g = ip(gw);
      const Prefix any(g.is_v4() ? IpAddress::v4(0u) : IpAddress::v6({}), 0);
      auto ok = (*k)->replace_route({.dst = any, .gateway = g, .oif = eth0->index});
      ASSERT_TRUE(ok.has_value()) << ok.error().message;
    }
  }
  EXPECT_TRUE(ping(work_a, ip("100.64.2.10")));
  EXPECT_TRUE(ping(work_b, ip("100.64.1.10")));
  EXPECT_TRUE(ping(work_a, ip("fd00:64:2::10")));
  EXPECT_TRUE(ping(work_b, ip("fd00:64:1::10")));
  // And the gateway itself answers (the packet to a local address is checked in main).
  EXPECT_TRUE(ping(work_a, ip("100.64.1.1")));
  for (int n : ns) close(n);
  close(home);
}

}  // namespace
}  // namespace isthmus::agent
