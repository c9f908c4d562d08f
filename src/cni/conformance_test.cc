// CNI spec conformance of the isthmus-cni binary: each test runs the plugin as a runtime does
// (CNI_* environment, the configuration on stdin, the result or error on stdout, the exit code)
// against a fake agent on a unix socket in a private temporary directory.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>

#include "cni/fake_agent.h"

extern char** environ;

namespace isthmus::cni {
namespace {

using nlohmann::json;
using testing::FakeAgent;
using testing::FakeAgentServer;

struct Run {
  int exit_code = -1;
  std::string out;
  std::string err;
  json out_json() const {
    auto j = json::parse(out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "stdout is not JSON: " << out;
    return j;
  }
};

// Runs the plugin binary with exactly `env` (plus the sanitizers' options) and `input` on stdin.
Run run_plugin(const std::map<std::string, std::string>& env, const std::string& input) {
  std::vector<std::string> env_strings;
  for (auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  for (auto name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"})
    if (const char* v = std::getenv(name)) env_strings.push_back(std::string(name) + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string binary = ISTHMUS_CNI_BINARY;
  char* argv[] = {binary.data(), nullptr};

  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC)) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execve(argv[0], argv, envp.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  // The input fits the pipe buffer; the plugin reads all of it before writing anything.
  EXPECT_EQ(::write(in[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
  ::close(in[1]);
  Run r;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open = 2;
  while (open > 0) {
    if (::poll(fds, 2, 30000) <= 0) {
      ::kill(pid, SIGKILL);
      ADD_FAILURE() << "isthmus-cni did not finish within 30 s";
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

class Conformance : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/isthmus-cni-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/agent.sock";
    ASSERT_TRUE(server_.start(socket_));
  }
  void TearDown() override {
    server_.stop();
    std::filesystem::remove_all(dir_);
  }

  static FakeAgent::Network blue() {
    return {.name = "blue",
            .v4 = *Prefix::parse("100.64.1.0/24"),
            .v6 = *Prefix::parse("fd00:64:1::/64"),
            .pool = 200,
            .mtu = 1450};
  }
  static FakeAgent::Network tiny() {
    return {
        .name = "tiny", .v4 = *Prefix::parse("100.64.9.0/24"), .v6 = {}, .pool = 1, .mtu = 1450};
  }

  std::map<std::string, std::string> env(const std::string& command,
                                         const std::string& container = "c0ffee") const {
    return {{"CNI_COMMAND", command},
            {"CNI_CONTAINERID", container},
            {"CNI_NETNS", "/var/run/netns/" + container},
            {"CNI_IFNAME", "eth0"},
            {"CNI_PATH", "/opt/cni/bin"}};
  }
  std::string conf(const std::string& version, const std::string& network = "blue",
                   const std::string& extra = "") const {
    return R"({"cniVersion": ")" + version + R"(", "name": ")" + network +
           R"(", "type": "isthmus-cni", "agent_socket": ")" + socket_ + "\"" + extra + "}";
  }
  std::string conf_with_prev(const std::string& version, const json& prev) const {
    return conf(version, "blue", ", \"prevResult\": " + prev.dump());
  }

  FakeAgent agent_{{blue(), tiny()}};
  FakeAgentServer server_{agent_};
  std::string dir_;
  std::string socket_;
};

void expect_error(const Run& r, int code, const std::string& msg_part = "") {
  EXPECT_NE(r.exit_code, 0);
  auto j = r.out_json();
  EXPECT_EQ(j["code"], code) << r.out;
  EXPECT_TRUE(j["msg"].is_string());
  EXPECT_TRUE(j["cniVersion"].is_string());
  if (!msg_part.empty()) {
    EXPECT_NE(j.dump().find(msg_part), std::string::npos)
        << "\"" << msg_part << "\" not in " << r.out;
  }
}

TEST_F(Conformance, Version) {
  auto r = run_plugin({{"CNI_COMMAND", "VERSION"}}, R"({"cniVersion": "1.0.0"})");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out_json(), json::parse(R"({"cniVersion": "1.0.0", "supportedVersions":
      ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]})"));
  r = run_plugin({{"CNI_COMMAND", "VERSION"}}, "");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out_json()["cniVersion"], "1.1.0");
  EXPECT_TRUE(agent_.requests().empty());
}

TEST_F(Conformance, TheIssueConfigWorks) {
  auto r = run_plugin(env("ADD"), R"({"cniVersion": "1.0.0", "name": "blue",
      "type": "isthmus-cni", "agent_socket": ")" +
                                      socket_ + "\"}");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(agent_.last_request("add"), json::parse(R"({"op": "add", "network": "blue",
      "container_id": "c0ffee", "ifname": "eth0", "netns": "/var/run/netns/c0ffee",
      "kind": "veth"})"));
  EXPECT_EQ(r.out_json(), json::parse(R"({"cniVersion": "1.0.0",
      "interfaces": [{"name": "veth10002", "mac": "02:01:00:00:00:01"},
                     {"name": "eth0", "mac": "02:00:00:00:00:02",
                      "sandbox": "/var/run/netns/c0ffee"}],
      "ips": [{"address": "100.64.1.2/24", "gateway": "100.64.1.1", "interface": 1},
              {"address": "fd00:64:1::2/64", "gateway": "fd00:64:1::1", "interface": 1}],
      "routes": [{"dst": "0.0.0.0/0", "gw": "100.64.1.1"}, {"dst": "::/0", "gw": "fd00:64:1::1"}],
      "dns": {}})"));
}

TEST_F(Conformance, AddResultPerVersion) {
  int n = 0;
  for (std::string v : {"0.2.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}) {
    auto r = run_plugin(env("ADD", "c" + std::to_string(n++)), conf(v));
    ASSERT_EQ(r.exit_code, 0) << v << ": " << r.out << r.err;
    auto j = r.out_json();
    EXPECT_EQ(j["cniVersion"], v);
    if (v == "0.2.0") {
      EXPECT_TRUE(j["ip4"]["ip"].is_string()) << r.out;
      EXPECT_TRUE(j["ip6"]["ip"].is_string()) << r.out;
      EXPECT_FALSE(j.contains("interfaces"));
      continue;
    }
    ASSERT_EQ(j["ips"].size(), 2u) << r.out;
    bool v04 = v == "0.3.1" || v == "0.4.0";
    EXPECT_EQ(j["ips"][0].contains("version"), v04) << r.out;
    if (v04) {
      EXPECT_EQ(j["ips"][1]["version"], "6");
    }
    EXPECT_EQ(j["interfaces"][1].contains("mtu"), v == "1.1.0") << r.out;
    EXPECT_EQ(j["interfaces"][1]["sandbox"], "/var/run/netns/c" + std::to_string(n - 1));
  }
  EXPECT_EQ(agent_.attachments(), 5u);
}

TEST_F(Conformance, DelTwiceAndWithoutNetns) {
  ASSERT_EQ(run_plugin(env("ADD"), conf("1.0.0")).exit_code, 0);
  auto del = env("DEL");
  auto r = run_plugin(del, conf("1.0.0"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(agent_.attachments(), 0u);
  r = run_plugin(del, conf("1.0.0"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  // The namespace is gone: the runtime leaves CNI_NETNS empty or out.
  ASSERT_EQ(run_plugin(env("ADD", "gone"), conf("1.0.0")).exit_code, 0);
  del = env("DEL", "gone");
  del["CNI_NETNS"] = "";
  r = run_plugin(del, conf("1.0.0"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(agent_.last_request("del")["netns"], "");
  EXPECT_EQ(agent_.attachments(), 0u);
  del.erase("CNI_NETNS");
  EXPECT_EQ(run_plugin(del, conf("1.0.0")).exit_code, 0);
}

TEST_F(Conformance, CheckOkAndTampered) {
  auto add = run_plugin(env("ADD"), conf("1.0.0"));
  ASSERT_EQ(add.exit_code, 0);
  auto prev = add.out_json();
  auto r = run_plugin(env("CHECK"), conf_with_prev("1.0.0", prev));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  auto sent = agent_.last_request("check");
  EXPECT_EQ(sent["prev_result"]["ips"], prev["ips"]);
  EXPECT_FALSE(sent["prev_result"].contains("cniVersion"));

  // A prevResult the attachment does not match.
  auto wrong = prev;
  wrong["ips"][0]["address"] = "100.64.1.99/24";
  expect_error(run_plugin(env("CHECK"), conf_with_prev("1.0.0", wrong)), 102, "100.64.1.99");

  // The interface was changed behind the agent's back.
  agent_.tamper("c0ffee", "eth0", "MTU is 9000, expected 1450");
  expect_error(run_plugin(env("CHECK"), conf_with_prev("1.0.0", prev)), 102, "MTU is 9000");

  // CHECK of an attachment the agent does not know; without prevResult; before 0.4.0.
  expect_error(run_plugin(env("CHECK", "other"), conf_with_prev("1.0.0", prev)), 3);
  expect_error(run_plugin(env("CHECK"), conf("1.0.0")), 7, "prevResult");
  expect_error(run_plugin(env("CHECK"), conf_with_prev("0.3.1", json::object())), 1, "0.4.0");
}

TEST_F(Conformance, GcAndStatus) {
  for (auto id : {"keep", "stale1", "stale2"})
    ASSERT_EQ(run_plugin(env("ADD", id), conf("1.1.0")).exit_code, 0);
  std::map<std::string, std::string> gc_env = {{"CNI_COMMAND", "GC"}, {"CNI_PATH", "/opt/cni/bin"}};
  auto r = run_plugin(gc_env, conf("1.1.0", "blue",
                                   R"(, "cni.dev/valid-attachments": [
                                        {"containerID": "keep", "ifname": "eth0"}])"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(agent_.attachments(), 1u);
  EXPECT_EQ(agent_.last_request("gc")["valid"],
            json::parse(R"([{"container_id": "keep", "ifname": "eth0"}])"));
  expect_error(run_plugin(gc_env, conf("1.0.0")), 1, "GC needs cniVersion 1.1.0");

  std::map<std::string, std::string> status_env = {{"CNI_COMMAND", "STATUS"}};
  r = run_plugin(status_env, conf("1.1.0"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  expect_error(run_plugin(status_env, conf("1.1.0", "green")), 50, "green");
  expect_error(run_plugin(status_env, conf("1.0.0")), 1);
  server_.stop();
  expect_error(run_plugin(status_env, conf("1.1.0")), 50, "cannot connect");
}

TEST_F(Conformance, AgentDownAndRestart) {
  auto first = run_plugin(env("ADD"), conf("1.0.0"));
  ASSERT_EQ(first.exit_code, 0);
  server_.stop();
  expect_error(run_plugin(env("ADD", "other"), conf("1.0.0")), 11, "no Isthmus agent is running");
  expect_error(run_plugin(env("DEL"), conf("1.0.0")), 11);
  expect_error(run_plugin(env("CHECK"), conf_with_prev("1.0.0", first.out_json())), 11);

  // The agent comes back with its records: the runtime's retried ADD gets the same result.
  ASSERT_TRUE(server_.start(socket_));
  auto again = run_plugin(env("ADD"), conf("1.0.0"));
  ASSERT_EQ(again.exit_code, 0) << again.out;
  EXPECT_EQ(again.out_json(), first.out_json());
  EXPECT_EQ(agent_.attachments(), 1u);

  // Starting, not yet reconciled: try again later, passed through.
  agent_.set_starting(true);
  expect_error(run_plugin(env("ADD", "third"), conf("1.0.0")), 11, "starting");
  agent_.set_starting(false);
  EXPECT_EQ(run_plugin(env("DEL"), conf("1.0.0")).exit_code, 0);
  EXPECT_EQ(agent_.attachments(), 0u);
}

TEST_F(Conformance, StaticRequestsReachTheAgent) {
  auto e = env("ADD", "static1");
  e["CNI_ARGS"] = "IgnoreUnknown=1;K8S_POD_NAME=web;IP=100.64.1.77;MAC=02:00:00:00:01:77";
  auto r = run_plugin(e, conf("1.0.0"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto sent = agent_.last_request("add");
  EXPECT_EQ(sent["ips"], json::parse(R"(["100.64.1.77"])"));
  EXPECT_EQ(sent["mac"], "02:00:00:00:01:77");
  EXPECT_EQ(r.out_json()["ips"][0]["address"], "100.64.1.77/24");
  EXPECT_EQ(r.out_json()["interfaces"][1]["mac"], "02:00:00:00:01:77");

  r = run_plugin(env("ADD", "static2"),
                 conf("1.0.0", "blue",
                      R"(, "runtimeConfig": {"ips": ["100.64.1.78/24", "fd00:64:1::78"],
                                             "mac": "02:00:00:00:01:78"})"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  sent = agent_.last_request("add");
  EXPECT_EQ(sent["ips"], json::parse(R"(["100.64.1.78", "fd00:64:1::78"])"));
  EXPECT_EQ(sent["mac"], "02:00:00:00:01:78");

  // In use by another attachment; outside the network.
  expect_error(run_plugin(env("ADD", "static3"),
                          conf("1.0.0", "blue", R"(, "runtimeConfig": {"ips": ["100.64.1.78"]})")),
               101, "in use");
  expect_error(run_plugin(env("ADD", "static4"),
                          conf("1.0.0", "blue", R"(, "runtimeConfig": {"ips": ["198.18.0.5"]})")),
               7, "outside");
  e = env("ADD", "static5");
  e["CNI_ARGS"] = "IP=100.64.1.300";
  expect_error(run_plugin(e, conf("1.0.0")), 4, "CNI_ARGS IP");
}

TEST_F(Conformance, UnknownNetworkAndExhaustedPool) {
  expect_error(run_plugin(env("ADD"), conf("1.0.0", "green")), 7, "green");
  ASSERT_EQ(run_plugin(env("ADD", "t1"), conf("1.0.0", "tiny")).exit_code, 0);
  expect_error(run_plugin(env("ADD", "t2"), conf("1.0.0", "tiny")), 100, "exhausted");
}

TEST_F(Conformance, MalformedInput) {
  auto r = run_plugin(env("ADD"), R"({"cniVersion": "1.0.0", "name": )");
  expect_error(r, 6, "not valid JSON");
  expect_error(run_plugin(env("ADD"), "[]"), 6);
  expect_error(run_plugin(env("ADD"), R"({"cniVersion": "1.0.0", "name": ["blue"]})"), 6,
               "name: expected a string");
  expect_error(run_plugin(env("ADD"), R"({"cniVersion": "1.0.0", "type": "isthmus-cni"})"), 7,
               "no \\\"name\\\"");
  r = run_plugin(env("ADD"), conf("2.0.0"));
  expect_error(r, 1, "2.0.0");
  EXPECT_EQ(r.out_json()["details"],
            "supported versions: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0");
  expect_error(run_plugin(env("ADD"), conf("1.0.0", "blue", R"(, "prevResult": {"ips": 1})")), 6,
               "prevResult.ips");
  EXPECT_TRUE(agent_.requests().empty());
}

TEST_F(Conformance, MissingOrInvalidEnvironment) {
  auto e = env("ADD");
  e.erase("CNI_COMMAND");
  expect_error(run_plugin(e, conf("1.0.0")), 4, "CNI_COMMAND");
  e = env("ADD");
  e.erase("CNI_CONTAINERID");
  e.erase("CNI_NETNS");
  expect_error(run_plugin(e, conf("1.0.0")), 4, "CNI_CONTAINERID, CNI_NETNS");
  e = env("DEL");
  e.erase("CNI_IFNAME");
  expect_error(run_plugin(e, conf("1.0.0")), 4, "CNI_IFNAME");
  e = env("ADD");
  e["CNI_IFNAME"] = "eth0/1";
  expect_error(run_plugin(e, conf("1.0.0")), 4, "CNI_IFNAME");
  e["CNI_IFNAME"] = "this-is-too-long0";
  expect_error(run_plugin(e, conf("1.0.0")), 4, "at most 15");
  e = env("ADD", "-bad");
  expect_error(run_plugin(e, conf("1.0.0")), 4, "CNI_CONTAINERID");
  e = env("FROB");
  expect_error(run_plugin(e, conf("1.0.0")), 4, "FROB");
  auto r = run_plugin(e, conf("0.4.0"));
  EXPECT_EQ(r.out_json()["cniVersion"], "0.4.0");  // errors speak the config's version
  EXPECT_TRUE(agent_.requests().empty());
}

TEST_F(Conformance, ChainedBeforePortmap) {
  // What a later plugin (portmap, bandwidth) gets as prevResult is our result; given back to us on
  // CHECK and DEL it is read in every version.
  for (std::string v : {"0.3.1", "0.4.0", "1.0.0", "1.1.0"}) {
    auto add = run_plugin(env("ADD", "chain"), conf(v));
    ASSERT_EQ(add.exit_code, 0) << add.out;
    if (v != "0.3.1") {
      auto check = run_plugin(env("CHECK", "chain"), conf_with_prev(v, add.out_json()));
      EXPECT_EQ(check.exit_code, 0) << v << ": " << check.out;
    }
    auto del = run_plugin(env("DEL", "chain"), conf_with_prev(v, add.out_json()));
    EXPECT_EQ(del.exit_code, 0) << v << ": " << del.out;
  }
  EXPECT_EQ(agent_.attachments(), 0u);
}

}  // namespace
}  // namespace isthmus::cni
