// The BGP decision process, phase 2 (RFC 4271 §9.1.2): which of the paths of one prefix is best.
// RFC 4456 §9 adds ORIGINATOR_ID and CLUSTER_LIST length. Gaps: next-hop reachability and IGP
// cost (§9.1.2.1, §9.1.2.2 f) are not modelled (every next hop counts as reachable at equal
// cost); no multipath; no confederation-specific rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "bgp/wire/types.h"
#include "core/ip.h"

namespace isthmus::bgp {

using PeerId = uint32_t;
inline constexpr PeerId kLocalPeer = 0;  // routes this speaker originates
// Routes imported from another table of this speaker (EVPN IP prefix routes into an IP-VRF's
// unicast table, RFC 9135 §5): compared like routes learned over iBGP, so that a route received
// from a neighbor of the VRF can win over them, and exported like local routes.
inline constexpr PeerId kImportedPeer = 0xffffffff;

// RFC 4271 §5.1.5 leaves the default to the operator; 100 is what every implementation uses.
inline constexpr uint32_t kDefaultLocalPref = 100;

// One path as the decision process sees it.
struct Candidate {
  const PathAttributes* attrs = nullptr;
  PeerId peer = kLocalPeer;
  bool ebgp = false;       // learned from an eBGP peer
  uint32_t router_id = 0;  // the peer's BGP identifier (host order)
  IpAddress peer_address;  // the peer's address
};

// The step that decided a comparison: for tests and `show` ("best: lower MED").
enum class DecisionStep : uint8_t {
  Equal,
  LlgrStale,     // RFC 9494: long-lived stale routes last
  LocalOrigin,   // locally originated routes first
  LocalPref,     // RFC 4271 §9.1.1, §9.1.2 (degree of preference)
  AsPathLength,  // §9.1.2.2 a
  Origin,        // §9.1.2.2 b
  Med,           // §9.1.2.2 c
  EbgpOverIbgp,  // §9.1.2.2 d   (e, IGP cost, is not modelled)
  RouterId,      // §9.1.2.2 f (ORIGINATOR_ID when present, RFC 4456 §9)
  ClusterList,   // RFC 4456 §9
  PeerAddress,   // §9.1.2.2 g
  PeerIndex,     // last resort, never reached between two real sessions
};
const char* to_string(DecisionStep s);

struct Comparison {
  int order = 0;  // < 0: a is better, > 0: b is better
  DecisionStep step = DecisionStep::Equal;
};

// RFC 4271 §5.1.5/§9.1.1: LOCAL_PREF, or the default when absent (eBGP routes have it removed
// on import, so an import policy is the only way for them to get one).
uint32_t effective_local_pref(const PathAttributes& a);
// The AS a path was learned from, for the MED rule: the first AS of the path after any leading
// confederation segments; ours when the path is empty or starts with an AS_SET (RFC 4271
// §9.1.2.2 c: originated or aggregated inside our AS).
uint32_t neighbor_as(const PathAttributes& a, uint32_t local_as);

// RFC 9494: the path carries LLGR_STALE (a route kept beyond a restart's Restart Time).
bool llgr_stale(const PathAttributes& a);

// One ordered comparison of two paths of the same prefix. MED (step d) only counts between
// paths from the same neighbouring AS.
Comparison compare_paths(const Candidate& a, const Candidate& b, uint32_t local_as);

// The index of the best candidate, or `candidates.size()` when there is none. Because step d
// makes `compare_paths` non-transitive, paths are first grouped by neighbouring AS and the best
// of each group is found (a total order inside a group), then the group winners are compared
// (where MED never applies). This is "deterministic MED": the result does not depend on the order
// in which paths arrived.
size_t select_best(std::span<const Candidate> candidates, uint32_t local_as);

}  // namespace isthmus::bgp
