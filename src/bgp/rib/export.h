// Export rules that do not depend on configuration (RFC 4271 §5.1, §9.1.3, §9.2; RFC 4456 §6, §8;
// RFC 1997 well-known communities). The peer's export policy runs afterwards (rib_out.cc).
// Gaps: no confederations (NO_EXPORT_SUBCONFED is treated as NO_EXPORT), no add-path.
#pragma once

#include <cstdint>
#include <optional>

#include "bgp/rib/decision.h"
#include "bgp/wire/types.h"
#include "core/ip.h"

namespace isthmus::bgp {

// Where the best path came from.
struct ExportSource {
  PeerId peer = kLocalPeer;
  bool ibgp = false;       // learned over iBGP (false for local routes)
  bool rr_client = false;  // learned from a route-reflector client
  uint32_t router_id = 0;  // BGP identifier of that peer
};

// The kind of session it goes to (one update group).
struct ExportTarget {
  bool ibgp = false;
  bool rr_client = false;
  bool next_hop_self = false;
  uint32_t remote_as = 0;
  IpAddress local_address;
  std::optional<IpAddress> local_address_v4;
  std::optional<IpAddress> local_address_v6;
  std::optional<IpAddress> local_link_local;  // RFC 2545 §3, see PeerInfo
  // Ours.
  uint32_t local_as = 0;
  uint32_t cluster_id = 0;
  uint32_t router_id = 0;
};

// Rewrites `attrs` (a copy of the best path's) for the target; false: do not send the route.
bool export_rewrite(const ExportSource& from, const ExportTarget& to, Family family,
                    PathAttributes& attrs);

// After the export policy: an unspecified next hop (0.0.0.0 or ::, what a policy's `next_hop:
// self` sets) becomes the target's own address. False: the target has no address of the
// family's kind and the route cannot be sent.
bool resolve_self_next_hop(const ExportTarget& to, Family family, PathAttributes& attrs);

}  // namespace isthmus::bgp
