// The control socket's command table: words -> a JSON answer from the daemon's state.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bgp/speaker/speaker.h"
#include "core/expected.h"
#include "evpn/mac_vrf.h"

namespace isthmus::daemon {

// The configured EVPN instances (build_mac_vrfs()) and this speaker's VTEP address, if it is one.
struct EvpnContext {
  std::vector<evpn::MacVrf> mac_vrfs;
  std::optional<IpAddress> vtep;
};

Expected<nlohmann::json> run_command(bgp::Speaker& speaker, const EvpnContext& evpn,
                                     const std::vector<std::string>& args);

}  // namespace isthmus::daemon
