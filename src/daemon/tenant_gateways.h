// The gateways of tenants: BGP neighbors of a VRF (VRF-lite handoff, plain IPv4/IPv6 unicast)
// tied to the VRF's IP-VRF (EVPN type-5, RFC 9136) and to the node agent. Per VRF with neighbors
// the speaker keeps a BGP table of its own (Speaker::vrf_rib), which holds
//   - the routes its gateways send (import policy of the neighbor);
//   - the VRF's subnets here, originated (so that they win over anything learned);
//   - the remote type-5 prefixes of the IP-VRF, imported (bgp::kImportedPeer) with the AS_PATH
//     they carry: compared like iBGP routes, so a gateway's route of the same prefix wins;
//     host routes of symmetric IRB (type-2) are not imported, the subnets cover them.
// The table's best routes go out to the gateways (export policy of the neighbor). A best route
// that is a gateway's goes into the tenant's kernel table (Agent::set_gateway_route) and to the
// other VTEPs as a type-5 route with its AS_PATH (Instance::add_prefix), so that they route
// through this node; when it stops being the best, both go.
//
// Threading: the speaker's. The tables' best_changed hooks run inside Rib::flush() and only
// queue; the queue is applied on the loop afterwards.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/agent.h"
#include "bgp/speaker/speaker.h"
#include "config/config.h"
#include "evpn/instance.h"

namespace isthmus::daemon {

class TenantGateways {
 public:
  // Attaches to the VRFs' tables of `speaker` (before it starts) and originates each VRF's
  // subnets (the IP-VRF's, EVPN's configuration) into its table.
  TenantGateways(bgp::Speaker& speaker, evpn::Instance& evpn, const config::Config& cfg);
  ~TenantGateways();
  TenantGateways(const TenantGateways&) = delete;
  TenantGateways& operator=(const TenantGateways&) = delete;

  // The node agent, once it exists (the routes so far are handed over).
  void set_agent(agent::Agent* agent);
  // EVPN's Observer::remote_prefix, chained after the agent's.
  void remote_prefix(uint32_t l3vni, const Prefix& prefix,
                     const std::vector<evpn::RemotePrefix>& remote);
  bool empty() const { return vrfs_.empty(); }

 private:
  struct Vrf {
    std::string name;
    uint32_t l3vni = 0;
    bgp::Rib* rib = nullptr;
    std::set<Prefix> subnets;  // originated, never re-advertised as type 5 from here
    std::set<Prefix> gateway;  // the prefixes whose best route is a gateway's (as applied)
  };
  void changed(size_t vrf, const Prefix& prefix);
  void run();
  void apply(Vrf& v, const Prefix& prefix);

  bgp::Speaker& speaker_;
  evpn::Instance& evpn_;
  agent::Agent* agent_ = nullptr;
  std::vector<Vrf> vrfs_;
  std::map<IpAddress, std::string> interface_;  // neighbor address -> its link
  std::set<std::pair<size_t, Prefix>> pending_;
  bool posted_ = false;
};

}  // namespace isthmus::daemon
