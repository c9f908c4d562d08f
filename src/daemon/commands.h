// The control socket's command table: words -> a JSON answer from the daemon's state.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bgp/speaker/speaker.h"
#include "core/expected.h"
#include "evpn/instance.h"

namespace isthmus::daemon {

// `evpn`: the EVPN service (its MAC-VRFs, tables and origination).
Expected<nlohmann::json> run_command(bgp::Speaker& speaker, evpn::Instance& evpn,
                                     const std::vector<std::string>& args);

}  // namespace isthmus::daemon
