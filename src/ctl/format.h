// Router-style text for `isthmusctl show ...`, rendered from the daemon's JSON answers so that
// the text and `-o json` can never disagree.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace isthmus::ctl {

// Text for the command `args` whose JSON result is `result`.
std::string format_text(const std::vector<std::string>& args, const nlohmann::json& result);

std::string format_bgp_summary(const nlohmann::json& j);
std::string format_bgp_neighbor(const nlohmann::json& j);
std::string format_bgp_routes(const nlohmann::json& j);

}  // namespace isthmus::ctl
