#include "cni/plugin.h"

#include <gtest/gtest.h>

#include <map>

namespace isthmus::cni {
namespace {

using nlohmann::json;

// Answers every request with `answer` and records the requests.
class ScriptedAgent final : public AgentClient {
 public:
  ScriptedAgent(std::vector<json>& log, Expected<json, AgentError> answer)
      : log_(log), answer_(std::move(answer)) {}
  Expected<json, AgentError> call(const json& request) override {
    log_.push_back(request);
    return answer_;
  }

 private:
  std::vector<json>& log_;
  Expected<json, AgentError> answer_;
};

struct Harness {
  std::map<std::string, std::string> env = {{"CNI_COMMAND", "ADD"},
                                            {"CNI_CONTAINERID", "c0ffee"},
                                            {"CNI_NETNS", "/var/run/netns/x"},
                                            {"CNI_IFNAME", "eth0"},
                                            {"CNI_PATH", "/opt/cni/bin"}};
  Expected<json, AgentError> answer = json::object();
  std::vector<json> requests;
  std::string socket;

  Output run(const std::string& command, const std::string& stdin_text) {
    env["CNI_COMMAND"] = command;
    auto getenv = [this](const char* name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    return cni::run(getenv, stdin_text, [this](const std::string& path) {
      socket = path;
      return std::make_unique<ScriptedAgent>(requests, answer);
    });
  }
};

json agent_result() {
  return json::parse(R"({
    "interfaces": [{"name": "veth1", "mac": "02:01:00:00:00:01"},
                   {"name": "eth0", "mac": "02:00:00:00:00:40", "sandbox": "/var/run/netns/x",
                    "mtu": 1450}],
    "ips": [{"address": "100.64.1.40/24", "gateway": "100.64.1.1", "interface": 1}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "100.64.1.1"}],
    "dns": {}})");
}

AgentError agent_said(int code, std::string message) {
  return AgentError{.kind = AgentError::Kind::Agent, .code = code, .message = std::move(message)};
}

TEST(Plugin, AddBuildsTheRequestAndConvertsTheResult) {
  Harness h;
  h.answer = agent_result();
  h.env["CNI_ARGS"] = "IgnoreUnknown=1;IP=100.64.1.40;MAC=02:00:00:00:00:40";
  auto o = h.run("ADD", R"({"cniVersion": "0.4.0", "name": "blue", "type": "isthmus-cni"})");
  ASSERT_EQ(o.exit_code, 0) << o.out;
  EXPECT_EQ(h.socket, "/run/isthmus/agent.sock");
  ASSERT_EQ(h.requests.size(), 1u);
  EXPECT_EQ(h.requests[0], json::parse(R"({"op": "add", "network": "blue",
      "container_id": "c0ffee", "ifname": "eth0", "netns": "/var/run/netns/x", "kind": "veth",
      "ips": ["100.64.1.40"], "mac": "02:00:00:00:00:40"})"));
  auto out = json::parse(o.out);
  EXPECT_EQ(out["cniVersion"], "0.4.0");
  EXPECT_EQ(out["ips"][0]["version"], "4");
  EXPECT_FALSE(out["interfaces"][1].contains("mtu"));
}

TEST(Plugin, RuntimeConfigWinsOverCniArgs) {
  Harness h;
  h.answer = agent_result();
  h.env["CNI_ARGS"] = "IP=100.64.1.41;MAC=02:00:00:00:00:41";
  auto o = h.run("ADD", R"({"cniVersion": "1.0.0", "name": "blue",
      "runtimeConfig": {"ips": ["100.64.1.40/24"]}})");
  ASSERT_EQ(o.exit_code, 0) << o.out;
  EXPECT_EQ(h.requests[0]["ips"], json::parse(R"(["100.64.1.40"])"));
  EXPECT_EQ(h.requests[0]["mac"], "02:00:00:00:00:41");  // runtimeConfig has no mac
}

TEST(Plugin, TapLeavesNetnsOut) {
  Harness h;
  h.answer = agent_result();
  auto o = h.run("ADD", R"({"cniVersion": "1.0.0", "name": "blue", "kind": "tap"})");
  ASSERT_EQ(o.exit_code, 0) << o.out;
  EXPECT_FALSE(h.requests[0].contains("netns"));
  EXPECT_EQ(h.requests[0]["kind"], "tap");
}

TEST(Plugin, AddChainedAfterAnotherPlugin) {
  Harness h;
  h.answer = agent_result();
  auto o = h.run("ADD", R"({"cniVersion": "1.0.0", "name": "blue", "prevResult": {
      "cniVersion": "1.0.0", "interfaces": [{"name": "net1", "sandbox": "/var/run/netns/x"}],
      "ips": [{"address": "198.18.0.2/24", "interface": 0}], "dns": {}}})");
  ASSERT_EQ(o.exit_code, 0) << o.out;
  auto out = json::parse(o.out);
  ASSERT_EQ(out["interfaces"].size(), 3u);
  EXPECT_EQ(out["interfaces"][0]["name"], "net1");
  EXPECT_EQ(out["ips"][1]["interface"], 2);

  // An interface of our name in the container already: an error, before asking the agent.
  Harness dup;
  o = dup.run("ADD", R"({"cniVersion": "1.0.0", "name": "blue", "prevResult": {
      "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/x"}]}})");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(json::parse(o.out)["code"], 4);
  EXPECT_TRUE(dup.requests.empty());
}

TEST(Plugin, MalformedAgentResultIsAnIoError) {
  Harness h;
  h.answer = json::parse(R"({"ips": [{"address": "nonsense"}]})");
  auto o = h.run("ADD", R"({"cniVersion": "1.0.0", "name": "blue"})");
  EXPECT_EQ(o.exit_code, 1);
  auto out = json::parse(o.out);
  EXPECT_EQ(out["code"], 5);
  EXPECT_NE(out["msg"].get<std::string>().find("malformed"), std::string::npos);
}

TEST(Plugin, AgentErrorsPassThrough) {
  for (int code : {4, 5, 7, 11, 100, 101}) {
    Harness h;
    h.answer = unexpected(agent_said(code, "the agent's words"));
    auto o = h.run("ADD", R"({"cniVersion": "1.0.0", "name": "blue"})");
    EXPECT_EQ(o.exit_code, 1);
    EXPECT_EQ(json::parse(o.out),
              json::parse(R"({"cniVersion": "1.0.0", "code": )" + std::to_string(code) +
                          R"(, "msg": "the agent's words"})"));
  }
}

TEST(Plugin, AgentDown) {
  AgentError down{.kind = AgentError::Kind::NotRunning,
                  .code = 0,
                  .message = "cannot connect to the Isthmus agent at /x: No such file"};
  for (auto cmd : {"ADD", "DEL", "CHECK", "GC"}) {
    Harness h;
    h.answer = unexpected(down);
    auto o = h.run(cmd, R"({"cniVersion": "1.1.0", "name": "blue", "prevResult": {}})");
    EXPECT_EQ(o.exit_code, 1) << cmd;
    auto out = json::parse(o.out);
    EXPECT_EQ(out["code"], 11) << cmd;
    EXPECT_NE(out["msg"].get<std::string>().find("no Isthmus agent is running"), std::string::npos);
    EXPECT_TRUE(out.contains("details"));
  }
  Harness h;
  h.answer = unexpected(down);
  auto o = h.run("STATUS", R"({"cniVersion": "1.1.0", "name": "blue"})");
  EXPECT_EQ(json::parse(o.out)["code"], 50);
}

TEST(Plugin, DelIsBestEffort) {
  Harness h;
  h.env.erase("CNI_NETNS");
  h.env["CNI_ARGS"] = "IP=not-an-address";  // not read on DEL
  auto o = h.run("DEL", R"({"cniVersion": "1.0.0", "name": "blue", "prevResult": {"ips": 5}})");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(h.requests[0], json::parse(R"({"op": "del", "network": "blue",
      "container_id": "c0ffee", "ifname": "eth0", "netns": ""})"));
  Harness unknown;
  unknown.answer = unexpected(agent_said(3, "no such attachment"));
  EXPECT_EQ(unknown.run("DEL", R"({"cniVersion": "1.0.0", "name": "blue"})").exit_code, 0);
}

TEST(Plugin, CheckSendsThePrevResultIn1xShape) {
  Harness h;
  auto o = h.run("CHECK", R"({"cniVersion": "0.4.0", "name": "blue", "prevResult": {
      "cniVersion": "0.4.0", "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/x"}],
      "ips": [{"version": "4", "address": "100.64.1.40/24", "interface": 0}]}})");
  ASSERT_EQ(o.exit_code, 0) << o.out;
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(h.requests[0]["op"], "check");
  EXPECT_EQ(h.requests[0]["prev_result"], json::parse(R"({
      "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/x"}],
      "ips": [{"address": "100.64.1.40/24", "interface": 0}], "dns": {}})"));

  Harness tampered;
  tampered.answer = unexpected(agent_said(102, "eth0 in /var/run/netns/x: MTU 9000, want 1450"));
  o = tampered.run("CHECK", R"({"cniVersion": "1.0.0", "name": "blue", "prevResult": {}})");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(json::parse(o.out)["code"], 102);
}

TEST(Plugin, VersionGates) {
  auto code_of = [](const char* cmd, const char* version, const char* extra = "") {
    Harness h;
    auto o = h.run(
        cmd, std::string(R"({"name": "blue", "cniVersion": ")") + version + "\"" + extra + "}");
    EXPECT_TRUE(h.requests.empty() || o.exit_code == 0);
    return o.exit_code == 0 ? 0 : json::parse(o.out)["code"].get<int>();
  };
  EXPECT_EQ(code_of("CHECK", "0.3.1", R"(, "prevResult": {})"), 1);
  EXPECT_EQ(code_of("CHECK", "0.4.0", R"(, "prevResult": {})"), 0);
  EXPECT_EQ(code_of("CHECK", "1.0.0"), 7);  // no prevResult
  EXPECT_EQ(code_of("GC", "1.0.0"), 1);
  EXPECT_EQ(code_of("GC", "1.1.0"), 0);
  EXPECT_EQ(code_of("STATUS", "1.0.0"), 1);
  EXPECT_EQ(code_of("STATUS", "1.1.0"), 0);
}

TEST(Plugin, GcSendsTheValidAttachments) {
  Harness h;
  h.answer = json::parse(R"({"removed": [{"container_id": "old", "ifname": "eth0"}]})");
  auto o = h.run("GC", R"({"cniVersion": "1.1.0", "name": "blue",
      "cni.dev/valid-attachments": [{"containerID": "c0ffee", "ifname": "eth0"}]})");
  ASSERT_EQ(o.exit_code, 0) << o.out;
  EXPECT_EQ(o.out, "");
  EXPECT_NE(o.err.find("removed 1"), std::string::npos);
  EXPECT_EQ(h.requests[0], json::parse(R"({"op": "gc", "network": "blue",
      "valid": [{"container_id": "c0ffee", "ifname": "eth0"}]})"));
}

TEST(Plugin, StatusMapsEverythingTo50) {
  Harness h;
  h.answer = unexpected(agent_said(11, "the agent is starting"));
  auto o = h.run("STATUS", R"({"cniVersion": "1.1.0", "name": "blue"})");
  auto out = json::parse(o.out);
  EXPECT_EQ(out["code"], 50);
  EXPECT_EQ(out["msg"], "network \"blue\" is not ready: the agent is starting");
  Harness limited;
  limited.answer = unexpected(agent_said(51, "degraded"));
  EXPECT_EQ(
      json::parse(limited.run("STATUS", R"({"cniVersion": "1.1.0", "name": "b"})").out)["code"],
      51);
}

TEST(Plugin, VersionNeedsNoConfig) {
  Harness h;
  auto o = h.run("VERSION", "");
  ASSERT_EQ(o.exit_code, 0);
  auto out = json::parse(o.out);
  EXPECT_EQ(out["cniVersion"], "1.1.0");
  EXPECT_EQ(out["supportedVersions"].size(), 7u);
  o = h.run("VERSION", R"({"cniVersion": "0.3.1"})");
  EXPECT_EQ(json::parse(o.out)["cniVersion"], "0.3.1");
}

TEST(Plugin, ErrorsUseTheConfigsVersion) {
  Harness h;
  h.env.erase("CNI_CONTAINERID");
  auto o = h.run("ADD", R"({"cniVersion": "0.3.1", "name": "blue"})");
  EXPECT_EQ(o.exit_code, 1);
  auto out = json::parse(o.out);
  EXPECT_EQ(out["cniVersion"], "0.3.1");
  EXPECT_EQ(out["code"], 4);
  h.env["CNI_CONTAINERID"] = "c0ffee";
  h.env["CNI_COMMAND"] = "\xff\xfe";  // not UTF-8: still valid JSON out
  auto getenv = [&](const char* name) -> std::optional<std::string> {
    auto it = h.env.find(name);
    return it == h.env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  o = cni::run(getenv, "{}",
               [](const std::string&) -> std::unique_ptr<AgentClient> { return nullptr; });
  EXPECT_EQ(json::parse(o.out)["code"], 4);
}

TEST(AgentResponse, Parse) {
  auto ok = parse_agent_response(R"({"ok": true, "result": {"a": 1}})");
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)["a"], 1);
  auto e = parse_agent_response(R"({"ok": false, "code": 100, "error": "exhausted"})");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().kind, AgentError::Kind::Agent);
  EXPECT_EQ(e.error().code, 100);
  EXPECT_EQ(e.error().message, "exhausted");
  e = parse_agent_response(R"({"ok": false})");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, 5);
  e = parse_agent_response("garbage");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().kind, AgentError::Kind::Transport);
}

}  // namespace
}  // namespace isthmus::cni
