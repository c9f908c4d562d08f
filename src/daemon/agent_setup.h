// The node agent's side of the daemon: its configuration resolved against the host (the VTEP
// address and the underlay MTU, detected where the YAML leaves them out), the networks' MAC-VRFs,
// and its show commands.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "agent/endpoints.h"
#include "agent/ipam.h"
#include "config/config.h"
#include "core/expected.h"
#include "kernel/kernel.h"

namespace isthmus::daemon {

// Resolves `cfg.agent` on this host and makes the EVPN configuration follow it: the VTEP
// becomes evpn.vtep (unless set), each network's VNI gets a MAC-VRF (derived RD and route
// targets) unless evpn.vnis has one. Fails with a precise reason (no such interface, the VTEP
// address is not on this host, no default route to detect it from).
//
// The VTEP: agent.vtep.address if this host has it; else the first address of
// agent.vtep.interface (IPv4 first, then IPv6; never loopback or link-local); else the first
// address of the default route's interface, of the route's family (the IPv4 default route
// first, the lowest metric). The overlay MTU is the underlay link's MTU less the VXLAN overhead
// (50 octets over IPv4, 70 over IPv6); the underlay link is the VTEP's, or for a VTEP on `lo`
// or a dummy device the default route's (of the VTEP's family); 1500 when unknown.
Expected<agent::AgentConfig> prepare_agent(config::Config& cfg, kernel::Kernel& kernel);

// IPAM's view of the configured networks: subnets, gateways and this node's pools.
std::vector<agent::ipam::NetworkPools> ipam_networks(const config::Config& cfg);

// The node agent's commands of ctl/commands.h (needs_agent: `show network`, `show endpoint`,
// `show kernel fdb vni V`, `endpoint add|del ...`); nullopt: not an agent command.
std::optional<Expected<nlohmann::json>> agent_command(agent::Agent& agent, kernel::Kernel& kernel,
                                                      agent::Endpoints* endpoints,
                                                      const std::vector<std::string>& args);

}  // namespace isthmus::daemon
