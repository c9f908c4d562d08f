// The isthmus-cni plugin: one CNI invocation (CNI spec 1.1.0 §2) turned into one agent request
// (docs/agent-api.md), and the agent's answer turned into the CNI result or error of the
// configuration's cniVersion. Everything but the agent call is pure; cmd/isthmus-cni only reads
// stdin and the environment and writes the output.
//
// Per command:
//   VERSION  the supported versions; no agent needed.
//   ADD      agent `add` with the static IP/MAC requests; the result converted to cniVersion and,
//            when chained after another plugin (a prevResult), appended to it.
//   DEL      agent `del` (CNI_NETNS may be empty); idempotent on the agent's side, and the agent's
//            "container unknown" (3) counts as done.
//   CHECK    (cniVersion >= 0.4.0) agent `check` with the prevResult in the 1.x shape.
//   GC       (>= 1.1.0) agent `gc` with cni.dev/valid-attachments.
//   STATUS   (>= 1.1.0) agent `status`; every failure is code 50.
// No agent running (no socket, or refused): code 11 "try again later" for ADD, DEL, CHECK and GC,
// code 50 for STATUS. DEL in particular fails while the agent is down: the veth's host end, the
// addresses and the advertised routes would otherwise stay behind while the runtime forgets the
// attachment (see docs/cni.md).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "cni/agent_client.h"
#include "cni/config.h"

namespace isthmus::cni {

struct Output {
  int exit_code = 0;
  std::string out = {};  // stdout: a result, the VERSION answer or an error result
  std::string err = {};  // stderr: log lines
};

using AgentFactory = std::function<std::unique_ptr<AgentClient>(const std::string& socket_path)>;

Output run(const Getenv& getenv, std::string_view stdin_text, const AgentFactory& agent_for);

// The agent's failure as the CNI error the runtime gets, for `command`.
CniError agent_error_to_cni(const AgentError& e, Command command, std::string_view network);

}  // namespace isthmus::cni
