// A fake of the agent's endpoint API (docs/agent-api.md) for the plugin's tests: an in-memory table
// of attachments, address pools per network, and knobs for the failures a real agent reports
// (starting, tampered interfaces). FakeAgentServer serves it on a unix socket; stopping and
// starting the server again keeps the table, as the real agent keeps its records across restarts.
#pragma once

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/expected.h"
#include "core/ip.h"

namespace isthmus::cni::testing {

class FakeAgent {
 public:
  struct Network {
    std::string name = {};
    Prefix v4 = {};       // the gateway is .1, addresses from .2
    Prefix v6 = {};       // length 0: no IPv6
    uint32_t pool = 200;  // addresses per family
    uint32_t mtu = 1450;
  };
  explicit FakeAgent(std::vector<Network> networks);

  // One request object -> one response object ({"ok": ...}).
  nlohmann::json handle(const nlohmann::json& request);

  void set_starting(bool starting);
  // CHECK of this attachment reports `what` differs.
  void tamper(const std::string& container_id, const std::string& ifname, std::string what);
  std::vector<nlohmann::json> requests() const;
  nlohmann::json last_request(const std::string& op) const;
  size_t attachments() const;

 private:
  using Key = std::tuple<std::string, std::string, std::string>;  // network, container, ifname
  struct Attachment {
    nlohmann::json request;  // without "op"
    nlohmann::json result;
    std::vector<IpAddress> ips;
    std::string mac;
    uint32_t index = 0;
  };
  nlohmann::json add(const nlohmann::json& r);
  nlohmann::json del(const nlohmann::json& r);
  nlohmann::json check(const nlohmann::json& r);
  nlohmann::json gc(const nlohmann::json& r);
  nlohmann::json status(const nlohmann::json& r);
  const Network* network(const nlohmann::json& r) const;
  bool ip_in_use(const IpAddress& a) const;

  mutable std::mutex mu_;
  std::vector<Network> networks_;
  std::map<Key, Attachment> table_;
  std::map<std::pair<std::string, std::string>, std::string> tampered_;
  std::vector<nlohmann::json> requests_;
  bool starting_ = false;
};

class FakeAgentServer {
 public:
  explicit FakeAgentServer(FakeAgent& agent) : agent_(agent) {}
  ~FakeAgentServer() { stop(); }
  // Listens on `path` (mode 0600) and serves one request per connection on a thread.
  Expected<void> start(const std::string& path);
  // Stops serving and removes the socket file: the agent is "down".
  void stop();

 private:
  void serve();
  FakeAgent& agent_;
  std::string path_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  std::thread thread_;
};

}  // namespace isthmus::cni::testing
