// The control socket's commands of the BGP speaker and EVPN: a handler for each of ctl/commands.h,
// a JSON answer from the daemon's state.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bgp/speaker/speaker.h"
#include "core/expected.h"
#include "evpn/instance.h"

namespace isthmus::daemon {

// `evpn`: the EVPN service (its MAC-VRFs, tables and origination). The node agent's commands
// (agent_command) are answered here only as missing: this daemon does not run the agent role.
Expected<nlohmann::json> run_command(bgp::Speaker& speaker, evpn::Instance& evpn,
                                     const std::vector<std::string>& args);

}  // namespace isthmus::daemon
