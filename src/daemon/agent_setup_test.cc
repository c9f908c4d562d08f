// prepare_agent against a FakeKernel: the VTEP from agent.vtep.address, agent.vtep.interface or
// the default route, the errors a user sees when it cannot be found, and the overlay MTU derived
// from the underlay link's (RFC 7348 §4: 50 octets over IPv4, 70 over IPv6). And agent_command:
// it answers the agent's commands of ctl/commands.h and leaves every other request alone.
#include "daemon/agent_setup.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "ctl/commands.h"
#include "daemon/build.h"
#include "kernel/fake_kernel.h"

namespace isthmus::daemon {
namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
Prefix prefix(const char* s) { return *Prefix::parse(s); }

class AgentVtepTest : public ::testing::Test {
 protected:
  // An underlay interface as a host has it (a veth here: the fake makes bridges, VXLAN devices
  // and veths).
  int add_nic(const std::string& name, uint32_t mtu) {
    auto l = k_.add_link({.name = name, .kind = "veth", .mtu = mtu, .veth_peer = name + "p"});
    EXPECT_TRUE(l.has_value()) << l.error().message;
    return l ? l->index : 0;
  }
  void add_address(int ifindex, const char* a, uint8_t length) {
    auto ok = k_.add_address({ifindex, ip(a), length});
    EXPECT_TRUE(ok.has_value()) << ok.error().message;
  }
  void add_default_route(int oif, const char* gateway, uint32_t metric = 0) {
    kernel::Route r;
    r.dst = prefix(ip(gateway).is_v4() ? "0.0.0.0/0" : "::/0");
    r.gateway = ip(gateway);
    r.oif = oif;
    r.metric = metric;
    auto ok = k_.replace_route(r);
    EXPECT_TRUE(ok.has_value()) << ok.error().message;
  }

  // The configuration with this `vtep:` mapping under agent: (empty: none) and network blue.
  config::Config config(const std::string& vtep) {
    auto cfg = config::parse_config("agent: {" + (vtep.empty() ? "" : " vtep: " + vtep) + R"( }
networks:
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, subnet6: "fd00:64:1::/64" }
bgp: { asn: 65000, router_id: 198.18.0.2 }
)",
                                    "test.yaml");
    EXPECT_TRUE(cfg.has_value()) << cfg.error().message;
    return cfg ? *cfg : config::Config{};
  }
  Expected<agent::AgentConfig> prepare(const std::string& vtep) {
    cfg_ = config(vtep);
    return prepare_agent(cfg_, k_);
  }
  std::string error(const std::string& vtep) {
    auto ac = prepare(vtep);
    EXPECT_FALSE(ac.has_value()) << "VTEP " << ac->vtep.to_string();
    return ac ? "" : ac.error().message;
  }

  kernel::FakeKernel k_;
  config::Config cfg_;
};

TEST_F(AgentVtepTest, AddressGivenAndPresent) {
  const int eth0 = add_nic("eth0", 9000);
  const int eth1 = add_nic("eth1", 1500);
  add_address(eth1, "198.18.1.2", 24);
  add_address(eth0, "198.18.0.2", 24);
  auto ac = prepare("{ address: 198.18.0.2 }");
  ASSERT_TRUE(ac.has_value()) << ac.error().message;
  EXPECT_EQ(ac->vtep, ip("198.18.0.2"));
  EXPECT_EQ(ac->overlay_mtu, 8950u);  // eth0's, not the first interface's
  EXPECT_EQ(cfg_.evpn.vtep, ip("198.18.0.2"));
  ASSERT_EQ(ac->networks.size(), 1u);
  EXPECT_EQ(ac->networks[0].vni, 100u);
  ASSERT_EQ(cfg_.evpn.vnis.size(), 1u);  // the network's MAC-VRF
  EXPECT_EQ(cfg_.evpn.vnis[0].vni, 100u);
}

TEST_F(AgentVtepTest, AddressGivenIpv6) {
  const int eth0 = add_nic("eth0", 9000);
  add_address(eth0, "198.18.0.2", 24);
  add_address(eth0, "fd00:18::2", 64);
  auto ac = prepare("{ address: \"fd00:18::2\" }");
  ASSERT_TRUE(ac.has_value()) << ac.error().message;
  EXPECT_EQ(ac->vtep, ip("fd00:18::2"));
  EXPECT_EQ(ac->overlay_mtu, 8930u);
}

TEST_F(AgentVtepTest, AddressNotOnThisHost) {
  const int eth0 = add_nic("eth0", 9000);
  add_address(eth0, "198.18.0.2", 24);
  add_address(eth0, "fe80::1", 64);  // link-local: not offered
  add_address(1, "127.0.0.1", 8);    // loopback: not offered
  EXPECT_EQ(error("{ address: 198.18.0.9 }"),
            "agent.vtep.address 198.18.0.9 is not an address of this host's interfaces (it has "
            "198.18.0.2 on eth0): add it to the underlay interface, or set agent.vtep.address to "
            "one of them");
  EXPECT_FALSE(cfg_.evpn.vtep.has_value());
}

TEST_F(AgentVtepTest, AddressNotOnAHostWithoutAddresses) {
  EXPECT_EQ(error("{ address: 198.18.0.9 }"),
            "agent.vtep.address 198.18.0.9 is not an address of this host's interfaces (it has "
            "none but loopback and link-local ones): add it to the underlay interface, or set "
            "agent.vtep.address to one of them");
}

TEST_F(AgentVtepTest, InterfaceGivenTakesItsFirstIpv4Address) {
  const int eth0 = add_nic("eth0", 9000);
  const int eth1 = add_nic("eth1", 4000);
  add_address(eth0, "198.18.0.2", 24);
  add_address(eth1, "fe80::2", 64);
  add_address(eth1, "fd00:18:1::2", 64);
  add_address(eth1, "198.18.1.2", 24);
  add_address(eth1, "198.18.1.3", 24);
  add_default_route(eth0, "198.18.0.254");  // not asked: the interface is given
  auto ac = prepare("{ interface: eth1 }");
  ASSERT_TRUE(ac.has_value()) << ac.error().message;
  EXPECT_EQ(ac->vtep, ip("198.18.1.2"));  // IPv4 before IPv6, the first of them
  EXPECT_EQ(ac->overlay_mtu, 3950u);
}

TEST_F(AgentVtepTest, InterfaceGivenWithOnlyIpv6) {
  const int eth1 = add_nic("eth1", 9000);
  add_address(eth1, "fe80::2", 64);
  add_address(eth1, "fd00:18:1::2", 64);
  auto ac = prepare("{ interface: eth1 }");
  ASSERT_TRUE(ac.has_value()) << ac.error().message;
  EXPECT_EQ(ac->vtep, ip("fd00:18:1::2"));  // not the link-local one
  EXPECT_EQ(ac->overlay_mtu, 8930u);
}

TEST_F(AgentVtepTest, InterfaceMissing) {
  add_nic("eth0", 9000);
  EXPECT_EQ(error("{ interface: eth9 }"),
            "agent.vtep.interface: this host has no interface \"eth9\" (it has lo, eth0, eth0p)");
}

TEST_F(AgentVtepTest, InterfaceWithoutAddress) {
  const int eth1 = add_nic("eth1", 9000);
  add_address(eth1, "fe80::2", 64);
  EXPECT_EQ(error("{ interface: eth1 }"),
            "agent.vtep.interface eth1 has no IPv4 or IPv6 address to use as VTEP (loopback and "
            "link-local ones do not count): add one, or set agent.vtep.address");
}

TEST_F(AgentVtepTest, DefaultRouteIpv4) {
  const int eth0 = add_nic("eth0", 9000);
  const int eth1 = add_nic("eth1", 1500);
  add_address(eth0, "198.18.0.2", 24);
  add_address(eth0, "fd00:18::2", 64);
  add_address(eth1, "198.18.1.2", 24);
  add_default_route(eth0, "198.18.0.254", 100);  // the lower metric wins, not the last one
  add_default_route(eth1, "198.18.1.254", 200);
  add_default_route(eth1, "fd00:18:1::fe");
  auto ac = prepare("");
  ASSERT_TRUE(ac.has_value()) << ac.error().message;
  EXPECT_EQ(ac->vtep, ip("198.18.0.2"));
  EXPECT_EQ(ac->overlay_mtu, 8950u);
  EXPECT_EQ(cfg_.evpn.vtep, ip("198.18.0.2"));
}

TEST_F(AgentVtepTest, DefaultRouteIpv6) {
  const int eth0 = add_nic("eth0", 9000);
  add_address(eth0, "198.18.0.2", 24);  // an IPv4 address, but only an IPv6 default route
  add_address(eth0, "fe80::2", 64);
  add_address(eth0, "fd00:18::2", 64);
  add_default_route(eth0, "fd00:18::fe");
  auto ac = prepare("");
  ASSERT_TRUE(ac.has_value()) << ac.error().message;
  EXPECT_EQ(ac->vtep, ip("fd00:18::2"));  // of the route's family
  EXPECT_EQ(ac->overlay_mtu, 8930u);
}

TEST_F(AgentVtepTest, DefaultRouteInterfaceWithoutAddressOfItsFamily) {
  const int eth0 = add_nic("eth0", 9000);
  add_address(eth0, "fd00:18::2", 64);
  add_default_route(eth0, "198.18.0.254");
  EXPECT_EQ(error(""),
            "agent.vtep: the IPv4 default route's interface eth0 has no IPv4 address to use as "
            "VTEP: add one, or set agent.vtep.address or agent.vtep.interface");
}

TEST_F(AgentVtepTest, NoDefaultRoute) {
  const int eth0 = add_nic("eth0", 9000);
  add_address(eth0, "198.18.0.2", 24);
  kernel::Route subnet;  // a route, but not a default one
  subnet.dst = prefix("198.18.0.0/24");
  subnet.oif = eth0;
  ASSERT_TRUE(k_.replace_route(subnet).has_value());
  EXPECT_EQ(error(""),
            "agent.vtep: no address or interface given, and no default route (IPv4 or IPv6) in "
            "the main table to find the underlay interface from: set agent.vtep.address or "
            "agent.vtep.interface");
}

TEST_F(AgentVtepTest, DefaultRouteInAnotherTableDoesNotCount) {
  const int eth0 = add_nic("eth0", 9000);
  add_address(eth0, "198.18.0.2", 24);
  kernel::Route r;
  r.dst = prefix("0.0.0.0/0");
  r.gateway = ip("198.18.0.254");
  r.oif = eth0;
  r.table = 100;
  ASSERT_TRUE(k_.replace_route(r).has_value());
  EXPECT_FALSE(prepare("").has_value());
}

// A VTEP on the loopback (as routed fabrics have it): its tunnels leave through the default
// route's interface, whose MTU counts, not the loopback's 65536.
TEST_F(AgentVtepTest, LoopbackVtepTakesTheDefaultRoutesMtu) {
  const int eth0 = add_nic("eth0", 9000);
  add_address(eth0, "198.18.0.2", 24);
  add_address(1, "198.18.2.2", 32);
  add_default_route(eth0, "198.18.0.254");
  auto ac = prepare("{ address: 198.18.2.2 }");
  ASSERT_TRUE(ac.has_value()) << ac.error().message;
  EXPECT_EQ(ac->vtep, ip("198.18.2.2"));
  EXPECT_EQ(ac->overlay_mtu, 8950u);
}

TEST_F(AgentVtepTest, LoopbackVtepWithoutDefaultRouteAssumes1500) {
  add_address(1, "198.18.2.2", 32);
  auto ac = prepare("{ interface: lo }");
  ASSERT_TRUE(ac.has_value()) << ac.error().message;
  EXPECT_EQ(ac->vtep, ip("198.18.2.2"));  // not 127.0.0.1 (the fake has none; the kernel does)
  EXPECT_EQ(ac->overlay_mtu, 1450u);
}

TEST_F(AgentVtepTest, OverlayMtuFollowsTheUnderlay) {
  struct Case {
    uint32_t underlay;
    const char* vtep;
    uint32_t overlay;
  };
  for (const Case& c : {Case{1500, "198.18.0.2", 1450}, Case{1500, "fd00:18::2", 1430},
                        Case{9000, "198.18.0.2", 8950}, Case{9000, "fd00:18::2", 8930}}) {
    const int eth0 = add_nic("eth0", c.underlay);
    add_address(eth0, c.vtep, ip(c.vtep).is_v4() ? 24 : 64);
    auto ac = prepare(std::string("{ address: \"") + c.vtep + "\" }");
    ASSERT_TRUE(ac.has_value()) << ac.error().message;
    EXPECT_EQ(ac->overlay_mtu, c.overlay) << c.underlay << " " << c.vtep;
    ASSERT_TRUE(k_.delete_link(eth0).has_value());  // with its addresses and its peer
  }
}

// Networks of a declared tenant: their MAC-VRFs carry its L3 VNI (symmetric IRB) and its IP-VRF
// advertises their subnets; a network of an undeclared VRF has neither.
TEST_F(AgentVtepTest, TenantsOfTheConfiguration) {
  add_address(add_nic("eth0", 9000), "198.18.0.2", 24);
  auto cfg = config::parse_config(R"(agent: { vtep: { address: 198.18.0.2 } }
vrfs: [{ name: tenant1, l3vni: 5001 }, { name: elsewhere, l3vni: 5002 }]
networks:
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, subnet6: "fd00:64:1::/64", vrf: tenant1 }
  - { name: red, vni: 200, subnet: 100.64.2.0/24, vrf: tenant1 }
  - { name: green, vni: 300, subnet: 100.64.3.0/24 }
bgp: { asn: 65000, router_id: 198.18.0.2 }
)",
                                  "test.yaml");
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  auto ac = prepare_agent(*cfg, k_);
  ASSERT_TRUE(ac.has_value()) << ac.error().message;
  ASSERT_EQ(ac->tenants.size(), 1u);
  EXPECT_EQ(ac->tenants[0].name, "tenant1");
  EXPECT_EQ(ac->tenants[0].l3vni, 5001u);
  const evpn::InstanceConfig ec = build_evpn_config(*cfg);
  std::map<uint32_t, uint32_t> l3;
  for (const auto& m : ec.mac_vrfs) l3[m.vni] = m.l3_vni;
  EXPECT_EQ(l3, (std::map<uint32_t, uint32_t>{{100, 5001}, {200, 5001}, {300, 0}}));
  ASSERT_EQ(ec.ip_vrfs.size(), 2u);  // EVPN imports for both; only tenant1 is on this node
  EXPECT_EQ(ec.ip_vrfs[0].name, "tenant1");
  EXPECT_EQ(ec.ip_vrfs[0].vni, 5001u);
  EXPECT_EQ(ec.ip_vrfs[0].subnets,
            (std::vector<Prefix>{prefix("100.64.1.0/24"), prefix("fd00:64:1::/64"),
                                 prefix("100.64.2.0/24")}));
}

// An agent of network blue (VNI 100) on the fake kernel, its devices made.
class AgentCommandsTest : public ::testing::Test {
 protected:
  AgentCommandsTest() {
    const IpAddress vtep = ip("198.18.0.2");
    bgp::RibConfig rc;
    rc.local_as = 65000;
    rc.router_id = vtep.v4_host_order();
    rib_ = std::make_unique<bgp::Rib>(rc);
    evpn::InstanceConfig ic;
    ic.mac_vrfs.push_back(evpn::resolve(100, std::nullopt, {}, {}, 65000, vtep, 1));
    ic.vtep = vtep;
    evpn_ = std::make_unique<evpn::Instance>(*rib_, std::move(ic), evpn::Hooks{});
    agent::AgentConfig ac;
    ac.vtep = vtep;
    ac.networks.push_back({"blue", 100, agent::GatewayAddress{ip("100.64.1.1"), 24}});
    agent_ = std::make_unique<agent::Agent>(k_, *evpn_, ac);
    evpn_->set_observer(agent_->observer());
    EXPECT_TRUE(agent_->reconcile().ok());
  }

  std::optional<Expected<nlohmann::json>> run(const std::vector<std::string>& args) {
    return agent_command(*agent_, k_, nullptr, args);
  }
  std::string error(const std::vector<std::string>& args) {
    auto r = run(args);
    EXPECT_TRUE(r.has_value());
    EXPECT_TRUE(r && !r->has_value());
    return r && !*r ? r->error().message : "";
  }

  kernel::FakeKernel k_;
  std::unique_ptr<bgp::Rib> rib_;
  std::unique_ptr<evpn::Instance> evpn_;
  std::unique_ptr<agent::Agent> agent_;
};

// Every agent command of the table, sent as its example, is answered; every other command is
// left to run_command (nullopt).
TEST_F(AgentCommandsTest, EveryAgentCommandOfTheTableReachesItsHandler) {
  for (const ctl::Command& c : ctl::commands()) {
    auto r = run(ctl::example_args(c));
    if (!c.needs_agent) {
      EXPECT_FALSE(r.has_value()) << c.example;
      continue;
    }
    ASSERT_TRUE(r.has_value()) << c.example;
    if (c.id == ctl::CommandId::EndpointAdd || c.id == ctl::CommandId::EndpointDel)
      EXPECT_EQ(r->has_value() ? "" : r->error().message, "this daemon has no endpoint service");
    else
      EXPECT_TRUE(r->has_value()) << c.example << ": " << r->error().message;
  }
  auto networks = run({"show", "network"});
  ASSERT_TRUE(networks && *networks);
  EXPECT_EQ((**networks)[0]["name"], "blue");
  EXPECT_EQ((**networks)[0]["bridge"], "br100");
}

// The show commands read the network's devices, not the host's whole FDB; show network has the
// MAC limit's counts.
TEST_F(AgentCommandsTest, ShowCommandsReadTheNetworksDevicesOnly) {
  int vx = 0;
  for (const auto& l : *k_.links())
    if (l.name == "vxlan100") vx = l.index;
  ASSERT_TRUE(k_.add_fdb({.ifindex = vx,
                          .mac = *MacAddress::parse("02:00:00:00:02:01"),
                          .dst = ip("198.18.0.3"),
                          .self = true},
                         false)
                  .has_value());
  auto other = k_.add_link({.name = "br-other", .kind = "bridge"});
  auto port = k_.add_link({.name = "veth-o", .kind = "veth", .veth_peer = "veth-p"});
  ASSERT_TRUE(k_.set_link(port->index, {.master = other->index}).has_value());
  k_.learn(port->index, *MacAddress::parse("02:00:00:00:09:09"));
  const size_t dumps = k_.host_dumps();
  auto fdb = run({"show", "kernel", "fdb", "vni", "100"});
  ASSERT_TRUE(fdb && *fdb);
  EXPECT_EQ(k_.host_dumps(), dumps);
  const std::string text = (**fdb).dump();
  EXPECT_NE(text.find("02:00:00:00:02:01"), std::string::npos) << text;
  EXPECT_EQ(text.find("02:00:00:00:09:09"), std::string::npos) << text;
  ASSERT_TRUE(run({"show", "endpoint"}).value().has_value());
  EXPECT_EQ(k_.host_dumps(), dumps);
  auto networks = run({"show", "network"});
  ASSERT_TRUE(networks && *networks);
  EXPECT_EQ((**networks)[0]["max_macs"], agent::kDefaultMaxMacs);
  EXPECT_EQ((**networks)[0]["remote_macs_waiting"], 0);
  EXPECT_EQ((**networks)[0]["local_macs_waiting"], 0);
}

TEST_F(AgentCommandsTest, OtherWordsAreLeftToRunCommand) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{},
                                             {"show"},
                                             {"show", "networks"},
                                             {"show", "kernel"},
                                             {"show", "kernel", "routes"},
                                             {"endpoint"},
                                             {"endpoint", "list"},
                                             {"show", "bgp", "summary"},
                                             {"evpn", "mac", "add", "100", "02:00:00:00:01:01"}})
    EXPECT_FALSE(run(args).has_value()) << ::testing::PrintToString(args);
  EXPECT_EQ(error({"show", "network", "blue"}), "expected: show network");
  EXPECT_EQ(error({"show", "endpoint", "all"}), "expected: show endpoint");
  EXPECT_EQ(error({"show", "kernel", "fdb", "100"}), "expected: show kernel fdb vni VNI");
  EXPECT_EQ(error({"show", "kernel", "fdb", "vni", "0"}), "vni: \"0\" is not a VNI (1..16777215)");
  EXPECT_EQ(error({"show", "kernel", "fdb", "vni", "200"}), "no br200 or vxlan200 in the kernel");
}

}  // namespace
}  // namespace isthmus::daemon
