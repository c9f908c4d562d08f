// The decision process (see decision.h).
#include "bgp/rib/decision.h"

#include <algorithm>

namespace isthmus::bgp {
namespace {

// Lower wins.
template <class T>
Comparison lower(const T& a, const T& b, DecisionStep step) {
  if (a < b) return {-1, step};
  if (b < a) return {1, step};
  return {};
}

}  // namespace

const char* to_string(DecisionStep s) {
  switch (s) {
    case DecisionStep::Equal:
      return "equal";
    case DecisionStep::LlgrStale:
      return "not long-lived stale";
    case DecisionStep::LocalOrigin:
      return "locally originated";
    case DecisionStep::LocalPref:
      return "higher LOCAL_PREF";
    case DecisionStep::AsPathLength:
      return "shorter AS_PATH";
    case DecisionStep::Origin:
      return "lower ORIGIN";
    case DecisionStep::Med:
      return "lower MED";
    case DecisionStep::EbgpOverIbgp:
      return "eBGP over iBGP";
    case DecisionStep::RouterId:
      return "lower BGP identifier";
    case DecisionStep::ClusterList:
      return "shorter CLUSTER_LIST";
    case DecisionStep::PeerAddress:
      return "lower peer address";
    case DecisionStep::PeerIndex:
      return "lower peer id";
  }
  return "?";
}

uint32_t effective_local_pref(const PathAttributes& a) {
  return a.local_pref.value_or(kDefaultLocalPref);
}

uint32_t neighbor_as(const PathAttributes& a, uint32_t local_as) {
  using Type = AsPathSegment::Type;
  const auto& segs = a.as_path.segments;
  if (segs.empty()) return local_as;
  // RFC 5065 §5.3: leading confederation segments are skipped. RFC 4271 §9.1.2.2 c: the
  // neighbouring AS is the first AS of the AS_SEQUENCE that follows; a path that is empty or
  // begins with an AS_SET (an aggregate made inside our AS) counts as the local AS.
  auto first = std::find_if(segs.begin(), segs.end(), [](const AsPathSegment& s) {
    return s.type == Type::Sequence || s.type == Type::Set;
  });
  if (first == segs.end() || first->type != Type::Sequence || first->asns.empty()) return local_as;
  return first->asns.front();
}

bool llgr_stale(const PathAttributes& a) {
  return std::find(a.communities.begin(), a.communities.end(), kLlgrStale) != a.communities.end();
}

Comparison compare_paths(const Candidate& a, const Candidate& b, uint32_t local_as) {
  const PathAttributes& x = *a.attrs;
  const PathAttributes& y = *b.attrs;
  Comparison c;

  // RFC 9494: a route that carries LLGR_STALE is the least preferred, ahead of every other step.
  if (c = lower(llgr_stale(x), llgr_stale(y), DecisionStep::LlgrStale); c.order) return c;

  // 0) Locally originated routes win over learned ones, like a configured `network` statement in
  //    other implementations (a local decision, RFC 4271 §9.1.1 leaves the degree of preference
  //    to policy). There is at most one local path per prefix.
  if (c = lower(a.peer != kLocalPeer, b.peer != kLocalPeer, DecisionStep::LocalOrigin); c.order)
    return c;

  // 1) RFC 4271 §9.1.2: the highest degree of preference wins; for routes from iBGP it is
  //    LOCAL_PREF (§9.1.1), for others what the import policy set (§5.1.5), default 100.
  if (c = lower(effective_local_pref(y), effective_local_pref(x), DecisionStep::LocalPref); c.order)
    return c;

  // 2) §9.1.2.2 a: the smallest number of AS numbers in AS_PATH wins; an AS_SET counts 1.
  if (c = lower(x.as_path.length(), y.as_path.length(), DecisionStep::AsPathLength); c.order)
    return c;

  // 3) §9.1.2.2 b: the lowest ORIGIN wins (IGP < EGP < INCOMPLETE).
  if (c = lower(x.origin, y.origin, DecisionStep::Origin); c.order) return c;

  // 4) §9.1.2.2 c: the lowest MULTI_EXIT_DISC wins, only between routes learned from the same
  //    neighbouring AS. "A route with a missing MED is considered to have the lowest possible
  //    MED value" (0).
  if (neighbor_as(x, local_as) == neighbor_as(y, local_as)) {
    if (c = lower(x.med.value_or(0), y.med.value_or(0), DecisionStep::Med); c.order) return c;
  }

  // 5) §9.1.2.2 d: routes learned from eBGP win over routes learned from iBGP.
  if (c = lower(!a.ebgp, !b.ebgp, DecisionStep::EbgpOverIbgp); c.order) return c;

  // 6) §9.1.2.2 e: lowest interior cost to the NEXT_HOP. Not modelled: all equal.

  // 7) §9.1.2.2 f: the lowest BGP identifier wins. RFC 4456 §9: a reflected route's
  //    ORIGINATOR_ID stands in for the identifier of the peer that sent it.
  if (c = lower(x.originator_id.value_or(a.router_id), y.originator_id.value_or(b.router_id),
                DecisionStep::RouterId);
      c.order)
    return c;

  // 8) RFC 4456 §9: then the shorter CLUSTER_LIST wins.
  if (c = lower(x.cluster_list.size(), y.cluster_list.size(), DecisionStep::ClusterList); c.order)
    return c;

  // 9) §9.1.2.2 g: the lowest peer address wins.
  if (c = lower(a.peer_address, b.peer_address, DecisionStep::PeerAddress); c.order) return c;

  // Two sessions never share an address; the peer id keeps the order total anyway.
  return lower(a.peer, b.peer, DecisionStep::PeerIndex);
}

size_t select_best(std::span<const Candidate> candidates, uint32_t local_as) {
  const size_t n = candidates.size();
  if (n == 0) return 0;
  if (n == 1) return 0;
  // A candidate is a group winner when nothing from the same neighbouring AS beats it; within a
  // group compare_paths is a lexicographic (total) order, so each group has exactly one winner.
  size_t best = n;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t as_i = neighbor_as(*candidates[i].attrs, local_as);
    bool winner = true;
    for (size_t j = 0; j < n && winner; ++j) {
      if (j == i || neighbor_as(*candidates[j].attrs, local_as) != as_i) continue;
      if (compare_paths(candidates[j], candidates[i], local_as).order < 0) winner = false;
    }
    if (!winner) continue;
    // Between group winners of different ASes MED never applies: again a total order.
    if (best == n || compare_paths(candidates[i], candidates[best], local_as).order < 0) best = i;
  }
  return best;
}

}  // namespace isthmus::bgp
