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
// `rib`: a VRF's (Speaker::vrf_rib); nullptr: the global one.
nlohmann::json show_routes(const Speaker& s, Family family, const std::optional<Prefix>& prefix,
                           const Rib* rib = nullptr);
nlohmann::json path_attributes_json(const PathAttributes& a);
// Where a path came from: the neighbor's address, "local" for our own routes.
std::string peer_name(const Speaker& s, PeerId id);
// `show bgp l2vpn evpn [route-type N] [vni V]`: EVPN routes sorted by route type, then RD; a
// path matches a VNI by its label field (types 1, 2, 5) or its PMSI_TUNNEL label (type 3).
nlohmann::json show_evpn_routes(const Speaker& s, std::optional<uint8_t> route_type,
                                std::optional<uint32_t> vni);
// `show bgp ipv4 rtc`: the route target memberships (RFC 4684), sorted.
nlohmann::json show_rtc_routes(const Speaker& s);

}  // namespace isthmus::bgp
