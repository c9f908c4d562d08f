// Port security on the real kernel, by frames: a bridge with two ports in a network namespace of
// this process's own; frames are sent into one port (through the other end of its veth, an
// AF_PACKET socket) and looked for at the other port's far end. The guarded port passes what its
// workload may send and drops the rest, counted by reason; the unguarded one passes everything;
// removing and adding a port's elements takes effect at once. Label `kernel`.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <regex>

#include "agent/port_guard.h"
#include "kernel/netlink_kernel.h"

namespace isthmus::agent {
namespace {

using Bytes = std::vector<uint8_t>;

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
MacAddress mac(const char* s) { return *MacAddress::parse(s); }

void put(Bytes& b, std::initializer_list<uint8_t> v) { b.insert(b.end(), v); }
void put(Bytes& b, const MacAddress& m) { b.insert(b.end(), m.bytes.begin(), m.bytes.end()); }
void put(Bytes& b, const IpAddress& a) {
  b.insert(b.end(), a.bytes().begin(), a.bytes().begin() + static_cast<ptrdiff_t>(a.size()));
}
void put16(Bytes& b, uint16_t v) {
  put(b, {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)});
}

const MacAddress kBroadcast = mac("ff:ff:ff:ff:ff:ff");

Bytes ethernet(const MacAddress& src, uint16_t type) {
  Bytes b;
  put(b, kBroadcast);
  put(b, src);
  put16(b, type);
  return b;
}

// An IPv4 UDP packet (header checksum right, UDP checksum 0) carrying `marker`.
Bytes ipv4_udp(const MacAddress& src, const IpAddress& from, const IpAddress& to, uint16_t sport,
               uint16_t dport, uint32_t marker) {
  Bytes b = ethernet(src, ETH_P_IP);
  Bytes ip4;
  put(ip4, {0x45, 0});
  put16(ip4, 20 + 8 + 4);
  put(ip4, {0, 1, 0, 0, 64, 17, 0, 0});
  put(ip4, from);
  put(ip4, to);
  uint32_t sum = 0;
  for (size_t i = 0; i < 20; i += 2) sum += static_cast<uint32_t>(ip4[i] << 8 | ip4[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  ip4[10] = static_cast<uint8_t>(~sum >> 8);
  ip4[11] = static_cast<uint8_t>(~sum);
  put16(ip4, sport);
  put16(ip4, dport);
  put16(ip4, 8 + 4);
  put16(ip4, 0);
  put16(ip4, static_cast<uint16_t>(marker >> 16));
  put16(ip4, static_cast<uint16_t>(marker));
  b.insert(b.end(), ip4.begin(), ip4.end());
  return b;
}

// An ARP reply: sender hardware address `sha`, sender address `spa`; the marker as target.
Bytes arp(const MacAddress& src, const MacAddress& sha, const IpAddress& spa, uint32_t marker) {
  Bytes b = ethernet(src, ETH_P_ARP);
  put(b, {0, 1, 8, 0, 6, 4, 0, 2});
  put(b, sha);
  put(b, spa);
  put(b, {0, 0, 0, 0, 0, 0});
  put16(b, static_cast<uint16_t>(marker >> 16));
  put16(b, static_cast<uint16_t>(marker));
  return b;
}

// An IPv6 packet: UDP (next header 17) or ICMPv6 (58) of `type` with `target`, then the marker.
Bytes ipv6(const MacAddress& src, const IpAddress& from, uint8_t next, uint8_t icmp_type,
           const IpAddress& target, uint32_t marker) {
  Bytes b = ethernet(src, ETH_P_IPV6);
  Bytes body;
  if (next == 58) {
    put(body, {icmp_type, 0, 0, 0, 0, 0, 0, 0});
    put(body, target);
  } else {
    put(body, {0x30, 0x39, 0x30, 0x39, 0, 12, 0, 0});
  }
  put16(body, static_cast<uint16_t>(marker >> 16));
  put16(body, static_cast<uint16_t>(marker));
  put(b, {0x60, 0, 0, 0});
  put16(b, static_cast<uint16_t>(body.size()));
  put(b, {next, 255});
  put(b, from);
  put(b, ip("ff02::1"));
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

class PortGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << std::strerror(errno) << " (needs root)";
    auto k = kernel::NetlinkKernel::open();
    ASSERT_TRUE(k.has_value()) << k.error().message;
    k_ = std::move(*k);
    auto f = kernel::NftFirewall::open();
    ASSERT_TRUE(f.has_value()) << f.error().message;
    fw_ = std::move(*f);
    auto br = k_->add_link({.name = "br0", .kind = "bridge"});
    ASSERT_TRUE(br.has_value()) << br.error().message;
    for (const char* n : {"1", "2"}) {
      auto p = k_->add_link(
          {.name = std::string("p") + n, .kind = "veth", .veth_peer = std::string("c") + n});
      ASSERT_TRUE(p.has_value()) << p.error().message;
      ASSERT_TRUE(k_->set_link(p->index, {.up = true, .master = br->index}).has_value());
      // No IPv6 of their own on the ends the test sends from: nothing but its frames.
      std::ofstream(std::string("/proc/sys/net/ipv6/conf/c") + n + "/disable_ipv6") << "1\n";
      std::ofstream(std::string("/proc/sys/net/ipv6/conf/p") + n + "/disable_ipv6") << "1\n";
      ASSERT_TRUE(k_->set_link(k_->link(std::string("c") + n)->index, {.up = true}).has_value());
    }
    ASSERT_TRUE(k_->set_link(br->index, {.up = true}).has_value());
    c1_ = packet_socket("c1");
    c2_ = packet_socket("c2");
    auto body = port_guard_ruleset({port_});
    ASSERT_TRUE(body.has_value()) << body.error().message;
    auto ok = fw_->replace_table(kPortGuardTable, *body);
    ASSERT_TRUE(ok.has_value()) << ok.error().message;
  }
  void TearDown() override {
    for (int fd : {c1_, c2_})
      if (fd >= 0) ::close(fd);
  }

  int packet_socket(const std::string& name) {
    const int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    EXPECT_GE(fd, 0) << std::strerror(errno);
    sockaddr_ll a{};
    a.sll_family = AF_PACKET;
    a.sll_protocol = htons(ETH_P_ALL);
    a.sll_ifindex = k_->link(name)->index;
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    return fd;
  }

  // Sends `frame` in through port p1 (`from` 1) or p2 (2); whether it came out of the other port.
  bool passes(const Bytes& frame, int from = 1) {
    const int out = from == 1 ? c1_ : c2_;
    const int in = from == 1 ? c2_ : c1_;
    EXPECT_EQ(::send(out, frame.data(), frame.size(), 0), static_cast<ssize_t>(frame.size()))
        << std::strerror(errno);
    const Bytes tail(frame.end() - 4, frame.end());  // the marker
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{in, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      uint8_t buf[2048];
      sockaddr_ll from_addr{};
      socklen_t len = sizeof from_addr;
      const ssize_t n =
          ::recvfrom(in, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from_addr), &len);
      if (n < 4 || from_addr.sll_pkttype == PACKET_OUTGOING) continue;
      if (static_cast<size_t>(n) == frame.size() && std::equal(frame.begin(), frame.end(), buf))
        return true;
    }
    return false;
  }

  uint64_t counter(const std::string& name) {
    auto out = fw_->run("list counter bridge isthmus " + name, "list");
    if (!out) return ~uint64_t{0};
    std::smatch m;
    if (!std::regex_search(*out, m, std::regex("packets ([0-9]+)"))) return ~uint64_t{0};
    return std::stoull(m[1]);
  }

  std::unique_ptr<kernel::NetlinkKernel> k_;
  std::unique_ptr<kernel::NftFirewall> fw_;
  int c1_ = -1, c2_ = -1;
  const MacAddress m_ = mac("02:00:00:00:aa:01");
  const MacAddress other_ = mac("02:00:00:00:bb:02");
  const GuardedPort port_{"p1", m_, {ip("100.64.1.2"), ip("fd00:64:1::2")}};
  uint32_t marker_ = 0x15700000;
};

TEST_F(PortGuardTest, AGuardedPortPassesOnlyWhatItsWorkloadMaySend) {
  const IpAddress own4 = ip("100.64.1.2"), other4 = ip("100.64.1.3");
  const IpAddress own6 = ip("fd00:64:1::2"), other6 = ip("fd00:64:1::3");
  const IpAddress link_local = eui64_link_local(m_);
  EXPECT_EQ(link_local, ip("fe80::ff:fe00:aa01"));
  const IpAddress bcast = ip("255.255.255.255");
  // IPv4: its address from its MAC.
  EXPECT_TRUE(passes(ipv4_udp(m_, own4, bcast, 1000, 2000, ++marker_)));
  EXPECT_FALSE(passes(ipv4_udp(m_, other4, bcast, 1000, 2000, ++marker_)));
  EXPECT_FALSE(passes(ipv4_udp(other_, own4, bcast, 1000, 2000, ++marker_)));
  EXPECT_TRUE(passes(ipv4_udp(m_, ip("0.0.0.0"), bcast, 68, 67, ++marker_))) << "DHCP DISCOVER";
  EXPECT_FALSE(passes(ipv4_udp(m_, ip("0.0.0.0"), bcast, 1000, 2000, ++marker_)));
  // ARP: sender address and sender hardware address are its own; a probe is fine.
  EXPECT_TRUE(passes(arp(m_, m_, own4, ++marker_)));
  EXPECT_FALSE(passes(arp(m_, m_, other4, ++marker_)));
  EXPECT_FALSE(passes(arp(m_, other_, own4, ++marker_)));
  EXPECT_TRUE(passes(arp(m_, m_, ip("0.0.0.0"), ++marker_))) << "ARP probe";
  // IPv6: its address and its link-local one; duplicate address detection from ::.
  EXPECT_TRUE(passes(ipv6(m_, own6, 17, 0, own6, ++marker_)));
  EXPECT_TRUE(passes(ipv6(m_, link_local, 17, 0, own6, ++marker_)));
  EXPECT_FALSE(passes(ipv6(m_, other6, 17, 0, own6, ++marker_)));
  EXPECT_FALSE(passes(ipv6(other_, own6, 17, 0, own6, ++marker_)));
  EXPECT_TRUE(passes(ipv6(m_, ip("::"), 58, 135, own6, ++marker_))) << "DAD";
  EXPECT_FALSE(passes(ipv6(m_, ip("::"), 17, 0, own6, ++marker_)));
  // A Neighbor Advertisement announces only its own addresses.
  EXPECT_TRUE(passes(ipv6(m_, own6, 58, 136, own6, ++marker_)));
  EXPECT_TRUE(passes(ipv6(m_, link_local, 58, 136, link_local, ++marker_)));
  EXPECT_FALSE(passes(ipv6(m_, own6, 58, 136, other6, ++marker_)));
  // VLAN-tagged: dropped whatever it carries.
  Bytes tagged = ethernet(m_, ETH_P_8021Q);
  put(tagged, {0, 100, 0x08, 0x00});
  put16(tagged, 0x1234);
  put16(tagged, 0x5678);
  EXPECT_FALSE(passes(tagged));

  EXPECT_EQ(counter("drop_ipv4"), 2u);
  EXPECT_EQ(counter("drop_mac"), 2u);
  EXPECT_EQ(counter("drop_arp"), 2u);
  EXPECT_EQ(counter("drop_ipv6"), 2u);
  EXPECT_EQ(counter("drop_nd"), 1u);
  EXPECT_EQ(counter("drop_vlan"), 1u);

  // The other port is not guarded: anything goes.
  EXPECT_TRUE(passes(ipv4_udp(other_, other4, bcast, 1000, 2000, ++marker_), 2));
  EXPECT_TRUE(passes(arp(other_, other_, other4, ++marker_), 2));
}

TEST_F(PortGuardTest, PortsComeAndGoByTheirElements) {
  const Bytes spoofed = ipv4_udp(m_, ip("100.64.1.3"), ip("255.255.255.255"), 1, 2, ++marker_);
  EXPECT_FALSE(passes(spoofed));
  auto del = port_guard_delete(port_);
  ASSERT_TRUE(del.has_value()) << del.error().message;
  auto ok = fw_->apply(kPortGuardTable, *del, "detach p1");
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_TRUE(passes(spoofed)) << "not guarded any more";
  // Guarded again, with another address: the new one passes, the old one no more.
  GuardedPort again = port_;
  again.ips = {ip("100.64.1.3")};
  auto add = port_guard_add(again);
  ASSERT_TRUE(add.has_value()) << add.error().message;
  ok = fw_->apply(kPortGuardTable, *add, "attach p1");
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_TRUE(passes(spoofed));
  EXPECT_FALSE(passes(ipv4_udp(m_, ip("100.64.1.2"), ip("255.255.255.255"), 1, 2, ++marker_)));
  // Adding what is there fails as one transaction and changes nothing.
  auto twice = fw_->apply(kPortGuardTable,
                          *add +
                              "add element bridge isthmus ports { \"p2\" }\n"
                              "add element bridge isthmus nonsense { 1 }\n",
                          "attach p2");
  ASSERT_FALSE(twice.has_value());
  EXPECT_NE(twice.error().message.find("attach p2 (table bridge isthmus)"), std::string::npos)
      << twice.error().message;
  EXPECT_TRUE(passes(ipv4_udp(other_, ip("100.64.1.9"), ip("255.255.255.255"), 1, 2, ++marker_), 2))
      << "p2 is not guarded: the failed transaction added nothing";
  // A name nft cannot be given is refused before nft sees it.
  auto bad = port_guard_add({"tap\"x", m_, {}});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message,
            "port security: interface name \"tap\"x\" has characters other than letters, digits "
            "and _.@-");
}

}  // namespace
}  // namespace isthmus::agent
