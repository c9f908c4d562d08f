// JSON views of the speaker for the control socket (`isthmusctl show bgp ...`). Kept apart from
// the protocol code: these functions only read.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>

#include "bgp/speaker/speaker.h"

namespace isthmus::bgp {

nlohmann::json show_summary(const Speaker& s);
// nullopt when no such neighbor.
std::optional<nlohmann::json> show_neighbor(const Speaker& s, const IpAddress& address);
// Every route of the family, or those of one prefix (exact, or the longest match for an address).
nlohmann::json show_routes(const Speaker& s, Family family, const std::optional<Prefix>& prefix);
nlohmann::json path_attributes_json(const PathAttributes& a);

}  // namespace isthmus::bgp
