// prepare_agent on the real kernel (NetlinkKernel), in a network namespace of this process's own
// (unshare): the VTEP and the overlay MTU detected from the default route, IPv4 and IPv6, as
// isthmusd does at start when the YAML gives neither agent.vtep.address nor .interface.
// Needs root and the veth module (ctest label `kernel`).
#include <gtest/gtest.h>
#include <sched.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "daemon/agent_setup.h"
#include "kernel/netlink_kernel.h"

namespace isthmus::daemon {
namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

template <typename T>
::testing::AssertionResult Ok(const Expected<T>& e) {
  if (e) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << e.error().message;
}

class AgentVtepOnTheKernel : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0)
        << "unshare(CLONE_NEWNET): " << std::strerror(errno) << " (the kernel tests need root)";
    auto k = kernel::NetlinkKernel::open();
    ASSERT_TRUE(k.has_value()) << k.error().message;
    k_ = std::move(*k);
    auto lo = k_->link("lo");
    ASSERT_TRUE(lo.has_value()) << lo.error().message;
    ASSERT_TRUE(Ok(k_->set_link(lo->index, {.up = true})));
    // No IPv6 DAD in this namespace (/proc/sys/net is the calling process's namespace's): the
    // addresses are usable at once, as in the labs.
    for (const char* f :
         {"/proc/sys/net/ipv6/conf/all/accept_dad", "/proc/sys/net/ipv6/conf/default/accept_dad"}) {
      std::ofstream(f) << "0\n";
    }
    // The underlay interface: one end of a veth (the other end up too, so eth0 has a carrier
    // and its routes are usable), MTU 9000 as in the labs.
    auto eth0 = k_->add_link({.name = "eth0", .kind = "veth", .mtu = 9000, .veth_peer = "eth0p"});
    ASSERT_TRUE(eth0.has_value()) << eth0.error().message;
    eth0_ = eth0->index;
    auto peer = k_->link("eth0p");
    ASSERT_TRUE(peer.has_value()) << peer.error().message;
    ASSERT_TRUE(Ok(k_->set_link(peer->index, {.up = true})));
    ASSERT_TRUE(Ok(k_->set_link(eth0_, {.up = true})));
  }

  Expected<agent::AgentConfig> prepare() {
    auto cfg = config::parse_config(R"(agent: {}
networks:
  - { name: blue, vni: 100, subnet: 100.64.1.0/24 }
bgp: { asn: 65000, router_id: 198.18.0.2 }
)",
                                    "test.yaml");
    EXPECT_TRUE(cfg.has_value()) << cfg.error().message;
    if (!cfg) return fail("no config");
    cfg_ = *cfg;
    return prepare_agent(cfg_, *k_);
  }

  void default_route(const char* gateway) {
    kernel::Route r;
    r.dst = *Prefix::parse(ip(gateway).is_v4() ? "0.0.0.0/0" : "::/0");
    r.gateway = ip(gateway);
    r.oif = eth0_;
    ASSERT_TRUE(Ok(k_->replace_route(r)));
  }

  std::unique_ptr<kernel::NetlinkKernel> k_;
  int eth0_ = 0;
  config::Config cfg_;
};

TEST_F(AgentVtepOnTheKernel, FromTheIpv4DefaultRoute) {
  auto none = prepare();
  ASSERT_FALSE(none.has_value()) << "VTEP " << none->vtep.to_string() << " without a default route";
  EXPECT_NE(none.error().message.find("no default route"), std::string::npos)
      << none.error().message;

  ASSERT_TRUE(Ok(k_->add_address({eth0_, ip("198.18.0.2"), 24})));
  ASSERT_TRUE(Ok(k_->add_address({eth0_, ip("fd00:18::2"), 64})));
  default_route("198.18.0.254");
  auto ac = prepare();
  ASSERT_TRUE(Ok(ac));
  EXPECT_EQ(ac->vtep, ip("198.18.0.2"));
  EXPECT_EQ(ac->overlay_mtu, 8950u);
  EXPECT_EQ(cfg_.evpn.vtep, ip("198.18.0.2"));
}

TEST_F(AgentVtepOnTheKernel, FromTheIpv6DefaultRoute) {
  ASSERT_TRUE(Ok(k_->add_address({eth0_, ip("fd00:18::2"), 64})));
  default_route("fd00:18::fe");
  auto ac = prepare();
  ASSERT_TRUE(Ok(ac));
  EXPECT_EQ(ac->vtep, ip("fd00:18::2"));  // not eth0's link-local address
  EXPECT_EQ(ac->overlay_mtu, 8930u);
}

}  // namespace
}  // namespace isthmus::daemon
