#include "cni/config.h"

#include <gtest/gtest.h>

#include <map>

namespace isthmus::cni {
namespace {

Getenv env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::map<std::string, std::string> add_env() {
  return {{"CNI_COMMAND", "ADD"},
          {"CNI_CONTAINERID", "c0ffee"},
          {"CNI_NETNS", "/var/run/netns/x"},
          {"CNI_IFNAME", "eth0"},
          {"CNI_PATH", "/opt/cni/bin"}};
}

TEST(Invocation, Add) {
  auto inv = parse_invocation(env(add_env()));
  ASSERT_TRUE(inv) << inv.error().msg;
  EXPECT_EQ(inv->command, Command::Add);
  EXPECT_EQ(inv->container_id, "c0ffee");
  EXPECT_EQ(inv->netns, "/var/run/netns/x");
  EXPECT_EQ(inv->ifname, "eth0");
}

TEST(Invocation, MissingVariablesAreNamedTogether) {
  auto e = parse_invocation(env({{"CNI_COMMAND", "ADD"}, {"CNI_IFNAME", "eth0"}}));
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, 4);
  EXPECT_EQ(e.error().msg,
            "required environment variables missing for ADD: CNI_CONTAINERID, CNI_NETNS");
  auto vars = add_env();
  vars["CNI_IFNAME"] = "";  // empty counts as unset
  e = parse_invocation(env(vars));
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().msg.find("CNI_IFNAME"), std::string::npos);
}

TEST(Invocation, CommandRules) {
  auto e = parse_invocation(env({}));
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, 4);
  EXPECT_EQ(e.error().msg, "CNI_COMMAND is not set");
  e = parse_invocation(env({{"CNI_COMMAND", "add"}}));
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, 4);
  // DEL may come without CNI_NETNS; VERSION, GC and STATUS need no attachment.
  auto vars = add_env();
  vars["CNI_COMMAND"] = "DEL";
  vars.erase("CNI_NETNS");
  EXPECT_TRUE(parse_invocation(env(vars)));
  for (auto c : {"VERSION", "GC", "STATUS"})
    EXPECT_TRUE(parse_invocation(env({{"CNI_COMMAND", c}})));
  vars = add_env();
  vars["CNI_COMMAND"] = "CHECK";
  vars.erase("CNI_NETNS");
  EXPECT_FALSE(parse_invocation(env(vars)));
}

TEST(Invocation, ContainerIdAndIfname) {
  EXPECT_TRUE(valid_container_id("a"));
  EXPECT_TRUE(valid_container_id("0abc_def.g-h"));
  EXPECT_FALSE(valid_container_id(""));
  EXPECT_FALSE(valid_container_id("-abc"));
  EXPECT_FALSE(valid_container_id("_abc"));
  EXPECT_FALSE(valid_container_id("abc/def"));
  EXPECT_FALSE(valid_container_id("abc def"));

  EXPECT_TRUE(validate_ifname("eth0"));
  EXPECT_TRUE(validate_ifname("a23456789012345"));
  EXPECT_FALSE(validate_ifname("a234567890123456"));
  EXPECT_FALSE(validate_ifname("."));
  EXPECT_FALSE(validate_ifname(".."));
  EXPECT_FALSE(validate_ifname("eth/0"));
  EXPECT_FALSE(validate_ifname("eth:0"));
  EXPECT_FALSE(validate_ifname("eth 0"));
  EXPECT_FALSE(validate_ifname(""));

  auto vars = add_env();
  vars["CNI_IFNAME"] = "averyveryverylongname";
  auto e = parse_invocation(env(vars));
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, 4);
  EXPECT_NE(e.error().msg.find("at most 15"), std::string::npos) << e.error().msg;
  vars = add_env();
  vars["CNI_CONTAINERID"] = ".hidden";
  e = parse_invocation(env(vars));
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, 4);
}

TEST(CniArgs, IpMacAndUnknownKeys) {
  auto a = parse_cni_args(
      "IgnoreUnknown=1;K8S_POD_NAME=web;IP=100.64.1.7/24,fd00:64::7;MAC=02:AB:00:00:00:07;");
  ASSERT_TRUE(a) << a.error().msg;
  EXPECT_EQ(a->ips, (std::vector<std::string>{"100.64.1.7", "fd00:64::7"}));
  EXPECT_EQ(a->mac, "02:ab:00:00:00:07");
  EXPECT_TRUE(parse_cni_args(""));
  auto e = parse_cni_args("IP");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, 4);
  e = parse_cni_args("IP=100.64.1.300");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, 4);
  EXPECT_NE(e.error().msg.find("100.64.1.300"), std::string::npos);
  EXPECT_FALSE(parse_cni_args("MAC=01:00:5e:00:00:01"));  // multicast
  EXPECT_FALSE(parse_cni_args("MAC=00:00:00:00:00:00"));
  EXPECT_FALSE(parse_cni_args("IP=100.64.1.7/40"));
  EXPECT_FALSE(parse_cni_args("IP=0.0.0.0"));
}

TEST(NetConf, TheIssueExample) {
  auto c = parse_netconf(
      R"({"cniVersion": "1.0.0", "name": "blue", "type": "isthmus-cni",
          "agent_socket": "/run/isthmus/agent.sock"})");
  ASSERT_TRUE(c) << c.error().msg;
  EXPECT_EQ(c->cni_version, "1.0.0");
  EXPECT_EQ(c->name, "blue");
  EXPECT_EQ(c->type, "isthmus-cni");
  EXPECT_EQ(c->agent_socket, "/run/isthmus/agent.sock");
  EXPECT_EQ(c->kind, Kind::Veth);
  EXPECT_FALSE(c->prev_result);
  EXPECT_FALSE(c->ips);
}

TEST(NetConf, Defaults) {
  auto c = parse_netconf(R"({"name": "blue"})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->cni_version, "0.1.0");  // as libcni reads a config without cniVersion
  EXPECT_EQ(c->agent_socket, kDefaultAgentSocket);
}

TEST(NetConf, Errors) {
  auto code = [](std::string_view text) {
    auto c = parse_netconf(text);
    EXPECT_FALSE(c) << text;
    return c ? 0 : c.error().code;
  };
  EXPECT_EQ(code("{"), 6);
  EXPECT_EQ(code(""), 6);
  EXPECT_EQ(code("[1]"), 6);
  EXPECT_EQ(code(R"({"cniVersion": 1, "name": "blue"})"), 6);
  EXPECT_EQ(code(R"({"cniVersion": "1.0.0", "name": 5})"), 6);
  EXPECT_EQ(code(R"({"cniVersion": "1.0.0"})"), 7);
  EXPECT_EQ(code(R"({"cniVersion": "1.0.0", "name": ""})"), 7);
  EXPECT_EQ(code(R"({"cniVersion": "1.0.0", "name": "bl/ue"})"), 7);
  EXPECT_EQ(code(R"({"cniVersion": "1.0.0", "name": "blue", "agent_socket": "agent.sock"})"), 7);
  EXPECT_EQ(code(R"({"cniVersion": "1.0.0", "name": "blue", "agent_socket": 1})"), 6);
  EXPECT_EQ(code(R"({"cniVersion": "1.0.0", "name": "blue", "kind": "macvlan"})"), 7);
  EXPECT_EQ(code(R"({"cniVersion": "1.0.0", "name": "blue", "prevResult": []})"), 6);
  EXPECT_EQ(code(R"({"cniVersion": "1.0.0", "name": "blue", "runtimeConfig": {"ips": "x"}})"), 6);
  EXPECT_EQ(code(R"({"cniVersion": "1.0.0", "name": "blue", "runtimeConfig": {"ips": ["x"]}})"), 7);
  EXPECT_EQ(code(R"({"cniVersion": "1.0.0", "name": "blue",
                     "runtimeConfig": {"ips": ["100.64.1.2", "100.64.1.2/24"]}})"),
            7);
  EXPECT_EQ(code(R"({"cniVersion": "1.0.0", "name": "blue", "runtimeConfig": {"mac": "x"}})"), 7);
  EXPECT_EQ(code(R"({"cniVersion": "1.1.0", "name": "blue",
                     "cni.dev/valid-attachments": [{"containerID": "a"}]})"),
            7);

  auto c = parse_netconf(R"({"cniVersion": "2.0.0", "name": "blue"})");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, 1);
  EXPECT_EQ(c.error().msg, "cniVersion \"2.0.0\" is not supported by isthmus-cni");
  EXPECT_EQ(c.error().details,
            "supported versions: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0");
  c = parse_netconf(R"({"cniVersion": "1.0.0", "name": "blue",)");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().msg.find("not valid JSON: parse error at line 1"), std::string::npos)
      << c.error().msg;
  c = parse_netconf(R"({"cniVersion": "1.0.0", "name": 5})");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().msg, "name: expected a string, got a number");
}

TEST(NetConf, StaticRequestsRuntimeConfigBeforeArgs) {
  auto c = parse_netconf(R"({"cniVersion": "1.0.0", "name": "blue",
      "runtimeConfig": {"ips": ["100.64.1.9/24", "FD00:64::9"], "portMappings": []},
      "args": {"cni": {"ips": ["100.64.1.10"], "mac": "02:00:00:00:00:0A"}}})");
  ASSERT_TRUE(c) << c.error().msg;
  EXPECT_EQ(*c->ips, (std::vector<std::string>{"100.64.1.9", "fd00:64::9"}));
  EXPECT_EQ(*c->mac, "02:00:00:00:00:0a");  // from args.cni: runtimeConfig has none
}

TEST(NetConf, ValidAttachments) {
  auto c = parse_netconf(R"({"cniVersion": "1.1.0", "name": "blue",
      "cni.dev/valid-attachments": [{"containerID": "a", "ifname": "eth0"},
                                    {"containerID": "b", "ifname": "net1"}]})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->valid_attachments, (std::vector<ValidAttachment>{{"a", "eth0"}, {"b", "net1"}}));
}

TEST(NetConf, ValidAttachmentsUnderTheDraftName) {
  auto c = parse_netconf(R"({"cniVersion": "1.1.0", "name": "blue",
      "cni.dev/valid-attachments": null,
      "cni.dev/attachments": [{"containerID": "a", "ifname": "eth0"}]})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->valid_attachments, (std::vector<ValidAttachment>{{"a", "eth0"}}));
}

TEST(NetConf, ErrorVersion) {
  EXPECT_EQ(error_version_of(R"({"cniVersion": "0.4.0"})"), "0.4.0");
  EXPECT_EQ(error_version_of(R"({"cniVersion": "9.9.9"})"), "1.1.0");
  EXPECT_EQ(error_version_of("garbage"), "1.1.0");
}

}  // namespace
}  // namespace isthmus::cni
