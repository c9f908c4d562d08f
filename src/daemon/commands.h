// The control socket's command table: words -> a JSON answer from the daemon's state.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bgp/speaker/speaker.h"
#include "core/expected.h"

namespace isthmus::daemon {

Expected<nlohmann::json> run_command(bgp::Speaker& speaker, const std::vector<std::string>& args);

}  // namespace isthmus::daemon
