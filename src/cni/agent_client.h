// The plugin's side of the agent's endpoint API (docs/agent-api.md): one JSON request and one JSON
// response per connection on a unix stream socket.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "core/expected.h"

namespace isthmus::cni {

struct AgentError {
  enum class Kind : uint8_t {
    NotRunning,  // no socket file, or nobody listening on it (ENOENT, ECONNREFUSED)
    Transport,   // any other failure to talk to it: permissions, timeout, a malformed response
    Agent,       // the agent answered {"ok": false, "code": ..., "error": ...}
  };
  Kind kind = Kind::Transport;
  int code = 0;  // Agent: the CNI error code the agent chose
  std::string message = {};
};

class AgentClient {
 public:
  virtual ~AgentClient() = default;
  // The "result" of a successful answer.
  virtual Expected<nlohmann::json, AgentError> call(const nlohmann::json& request) = 0;
};

class UnixAgentClient final : public AgentClient {
 public:
  // `timeout` bounds connecting, sending and waiting for the answer, each.
  explicit UnixAgentClient(std::string socket_path,
                           std::chrono::milliseconds timeout = std::chrono::seconds(60))
      : path_(std::move(socket_path)), timeout_(timeout) {}
  Expected<nlohmann::json, AgentError> call(const nlohmann::json& request) override;

 private:
  std::string path_;
  std::chrono::milliseconds timeout_;
};

// Reads one answer line: {"ok": true, "result": ...} or {"ok": false, "code": N, "error": "..."}.
Expected<nlohmann::json, AgentError> parse_agent_response(std::string_view line);

}  // namespace isthmus::cni
