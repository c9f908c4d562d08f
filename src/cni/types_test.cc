#include "cni/types.h"

#include <gtest/gtest.h>

namespace isthmus::cni {
namespace {

using nlohmann::json;

// The agent's result of docs/agent-api.md.
json agent_result() {
  return json::parse(R"({
    "interfaces": [{"name": "veth1a2b3c4d", "mac": "02:01:00:00:00:01"},
                   {"name": "eth0", "mac": "02:00:00:00:00:40", "sandbox": "/var/run/netns/x",
                    "mtu": 1450}],
    "ips": [{"address": "100.64.1.40/24", "gateway": "100.64.1.1", "interface": 1},
            {"address": "fd00:64:1::28/64", "gateway": "fd00:64:1::1", "interface": 1}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "100.64.1.1"}, {"dst": "::/0", "gw": "fd00:64:1::1"}],
    "dns": {}})");
}

Result parsed_agent_result() {
  auto r = parse_result(agent_result(), "1.1.0", "result");
  EXPECT_TRUE(r);
  return *r;
}

TEST(Versions, SupportedListAndOrder) {
  std::vector<std::string> v(supported_versions().begin(), supported_versions().end());
  EXPECT_EQ(
      v, (std::vector<std::string>{"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}));
  EXPECT_EQ(latest_version(), "1.1.0");
  EXPECT_FALSE(version_index("1.0.1"));
  EXPECT_FALSE(version_index("v1.0.0"));
  EXPECT_TRUE(version_at_least("0.4.0", "0.4.0"));
  EXPECT_TRUE(version_at_least("1.0.0", "0.4.0"));
  EXPECT_FALSE(version_at_least("0.3.1", "0.4.0"));
  EXPECT_EQ(supported_versions_text(), "0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0");
}

TEST(ErrorJson, SpecShape) {
  EXPECT_EQ(error_json(cni_error(Code::kInvalidNetworkConfig, "bad"), "1.0.0"),
            json::parse(R"({"cniVersion": "1.0.0", "code": 7, "msg": "bad"})"));
  EXPECT_EQ(error_json(cni_error(Code::kTryAgainLater, "down", "start it"), "0.4.0"),
            json::parse(R"({"cniVersion": "0.4.0", "code": 11, "msg": "down",
                            "details": "start it"})"));
}

TEST(Result, Render110KeepsEverything) {
  auto j = render_result(parsed_agent_result(), "1.1.0");
  ASSERT_TRUE(j);
  json want = agent_result();
  want["cniVersion"] = "1.1.0";
  EXPECT_EQ(*j, want);
}

TEST(Result, Render100DropsThe110Fields) {
  Result r = parsed_agent_result();
  r.routes[0].priority = 5;
  r.routes[0].table = 100;
  r.interfaces[0].pci_id = "0000:00:01.0";
  auto j = render_result(r, "1.0.0");
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)["cniVersion"], "1.0.0");
  EXPECT_FALSE((*j)["interfaces"][1].contains("mtu"));
  EXPECT_FALSE((*j)["interfaces"][0].contains("pciID"));
  EXPECT_EQ((*j)["routes"][0], json::parse(R"({"dst": "0.0.0.0/0", "gw": "100.64.1.1"})"));
  EXPECT_FALSE((*j)["ips"][0].contains("version"));
  EXPECT_EQ((*j)["ips"][1]["interface"], 1);
}

TEST(Result, Render04xAddsIpVersion) {
  for (auto v : {"0.3.0", "0.3.1", "0.4.0"}) {
    auto j = render_result(parsed_agent_result(), v);
    ASSERT_TRUE(j);
    EXPECT_EQ((*j)["cniVersion"], v);
    EXPECT_EQ((*j)["ips"][0]["version"], "4");
    EXPECT_EQ((*j)["ips"][1]["version"], "6");
    EXPECT_EQ((*j)["ips"][1]["address"], "fd00:64:1::28/64");
    EXPECT_FALSE((*j)["interfaces"][1].contains("mtu"));
    // ... and reads back as the same result, minus the 1.1.0 MTU.
    auto back = parse_result(*j, v, "r");
    ASSERT_TRUE(back) << back.error().msg;
    Result want = parsed_agent_result();
    want.interfaces[1].mtu.reset();
    EXPECT_EQ(*back, want);
  }
}

TEST(Result, Render02xFirstAddressPerFamily) {
  Result r = parsed_agent_result();
  r.ips.push_back(IpConfig{.address = "100.64.1.41/24"});
  for (auto v : {"0.1.0", "0.2.0"}) {
    auto j = render_result(r, v);
    ASSERT_TRUE(j);
    EXPECT_EQ(*j, json::parse(std::string(R"({"cniVersion": ")") + v + R"(",
      "ip4": {"ip": "100.64.1.40/24", "gateway": "100.64.1.1",
              "routes": [{"dst": "0.0.0.0/0", "gw": "100.64.1.1"}]},
      "ip6": {"ip": "fd00:64:1::28/64", "gateway": "fd00:64:1::1",
              "routes": [{"dst": "::/0", "gw": "fd00:64:1::1"}]},
      "dns": {}})"));
    auto back = parse_result(*j, v, "r");
    ASSERT_TRUE(back);
    EXPECT_EQ(back->ips.size(), 2u);
    EXPECT_EQ(back->routes.size(), 2u);
  }
  auto none = render_result(Result{}, "0.2.0");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, 7);
}

TEST(Result, ParseErrorsNameTheField) {
  auto bad = [](const char* text, std::string_view version = "1.0.0") {
    auto r = parse_result(json::parse(text), version, "prevResult");
    EXPECT_FALSE(r) << text;
    return r ? CniError{} : r.error();
  };
  auto e = bad(R"({"ips": [{"address": "100.64.1.40"}]})");
  EXPECT_EQ(e.code, 7);
  EXPECT_NE(e.msg.find("prevResult.ips[0].address"), std::string::npos) << e.msg;
  e = bad(R"({"ips": [{"address": 5}]})");
  EXPECT_EQ(e.code, 6);
  EXPECT_EQ(e.msg, "prevResult.ips[0].address: expected a string, got a number");
  e = bad(R"({"ips": [{"address": "100.64.1.40/33"}]})");
  EXPECT_NE(e.msg.find("prefix length"), std::string::npos);
  e = bad(R"({"interfaces": [{"name": "eth0"}], "ips": [{"address": "100.64.1.4/24",
              "interface": 1}]})");
  EXPECT_NE(e.msg.find("not an index"), std::string::npos) << e.msg;
  e = bad(R"({"ips": [{"version": "6", "address": "100.64.1.4/24"}]})", "0.4.0");
  EXPECT_NE(e.msg.find("does not match"), std::string::npos) << e.msg;
  e = bad(R"({"interfaces": [{"mac": "x"}]})");
  EXPECT_NE(e.msg.find("prevResult.interfaces[0].name"), std::string::npos) << e.msg;
  e = bad(R"({"routes": [{"gw": "100.64.1.1"}]})");
  EXPECT_NE(e.msg.find("prevResult.routes[0].dst"), std::string::npos) << e.msg;
  e = bad(R"({"routes": [{"dst": "0.0.0.0/0", "gw": "nope"}]})");
  EXPECT_NE(e.msg.find("prevResult.routes[0].gw"), std::string::npos) << e.msg;
  e = bad(R"({"dns": {"nameservers": "100.64.1.1"}})");
  EXPECT_EQ(e.code, 6);
  e = bad(R"({"ip4": {"gateway": "100.64.1.1"}})", "0.2.0");
  EXPECT_NE(e.msg.find("prevResult.ip4.ip"), std::string::npos) << e.msg;
  e = bad(R"({"routes": [{"dst": "0.0.0.0/0", "mtu": -1}]})", "1.1.0");
  EXPECT_EQ(e.code, 6);
  e = bad("[]");
  EXPECT_EQ(e.code, 6);
}

TEST(Result, MergeAppendsAfterAnEarlierPlugin) {
  Result prev;
  prev.interfaces.push_back(Interface{.name = "net1", .sandbox = "/var/run/netns/x"});
  prev.ips.push_back(IpConfig{.address = "198.18.0.2/24", .interface = 0});
  prev.dns.nameservers = {"198.18.0.53"};
  Result ours = parsed_agent_result();
  ours.dns.nameservers = {"198.18.0.53", "100.64.1.1"};
  ours.dns.domain = "blue.example";
  Result m = merge_results(prev, ours);
  ASSERT_EQ(m.interfaces.size(), 3u);
  EXPECT_EQ(m.interfaces[0].name, "net1");
  EXPECT_EQ(m.interfaces[2].name, "eth0");
  ASSERT_EQ(m.ips.size(), 3u);
  EXPECT_EQ(m.ips[0].interface, 0u);
  EXPECT_EQ(m.ips[1].interface, 2u);  // our eth0, shifted past net1
  EXPECT_EQ(m.routes.size(), 2u);
  EXPECT_EQ(m.dns.nameservers, (std::vector<std::string>{"198.18.0.53", "100.64.1.1"}));
  EXPECT_EQ(m.dns.domain, "blue.example");
}

}  // namespace
}  // namespace isthmus::cni
