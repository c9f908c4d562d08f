// What the RIB knows about an Established BGP session: enough to import, decide and export.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bgp/rib/decision.h"
#include "bgp/wire/types.h"
#include "core/ip.h"

namespace isthmus::bgp {

// The route a policy looks at: an IP prefix, or an EVPN route (`evpn` set, `prefix` then a
// placeholder). Converts both ways with `const Prefix&`, so that a policy written for prefixes
// only, `[](const Prefix&, PathAttributes&)`, is still a PolicyFn.
struct PolicyRoute {
  // Implicit on purpose, both ways.
  PolicyRoute(const Prefix& p, const EvpnRoute* e = nullptr) : prefix(p), evpn(e) {}
  operator const Prefix&() const { return prefix; }
  const Prefix& prefix;
  const EvpnRoute* evpn;  // the route with this path's non-key fields; nullptr: an IP route
};

// Import or export policy: false rejects the route; may change the attributes. Built by the
// config layer. RFC 8212: an EMPTY policy means accept everything on iBGP and NOTHING on eBGP
// (no routes in or out of an eBGP session without an explicit policy).
using PolicyFn = std::function<bool(const PolicyRoute&, PathAttributes&)>;

struct PeerInfo {
  PeerId id = 0;  // nonzero; 0 is the local speaker (kLocalPeer)
  IpAddress address;
  uint32_t remote_as = 0;
  uint32_t router_id = 0;  // the peer's BGP identifier, host order
  bool ibgp = false;
  bool rr_client = false;      // RFC 4456: we reflect to and from this iBGP peer as a client
  bool next_hop_self = false;  // iBGP: rewrite the next hop of routes we did not reflect
  // Our side of the session: the next hop we send (eBGP, next-hop-self, local routes).
  IpAddress local_address;
  // Our address of the other family, for next hops of IPv4 routes on an IPv6 session and of
  // IPv6 routes on an IPv4 session (RFC 2545 §3; RFC 8950 extended next hops are not used).
  std::optional<IpAddress> local_address_v4;
  std::optional<IpAddress> local_address_v6;
  // Our link-local IPv6 address on the session's interface when the peer is on that link: sent
  // as the second next hop of IPv6 routes whose next hop is ours (RFC 2545 §3).
  std::optional<IpAddress> local_link_local;
  bool four_octet_as = true;
  bool extended_message = false;
  // RFC 9494: the peer sent the LLGR capability, so long-lived stale routes may go to it.
  bool long_lived_graceful_restart = false;
  std::vector<Family> families;  // negotiated (RFC 4760)

  PolicyFn import_policy;
  PolicyFn export_policy;
  // False when a policy's outcome cannot depend on the prefix or EVPN route: it is then evaluated
  // once per attribute set (per UPDATE on import, per distinct best path on export), not per
  // route.
  bool import_policy_per_prefix = true;
  bool export_policy_per_prefix = true;
  // Peers whose export_policy_id is equal and non-empty must have export policies that behave
  // the same: they may share one update group. A non-empty policy without an id is never shared.
  std::string export_policy_id;
};

}  // namespace isthmus::bgp
