#include "bgp/rib/rt_filter.h"

#include <algorithm>

#include "bgp/wire/ext_community.h"
#include "core/bug.h"

namespace isthmus::bgp {

uint64_t RtFilter::word(const std::array<uint8_t, 8>& rt) {
  uint64_t v = 0;
  for (uint8_t b : rt) v = v << 8 | b;
  return v;
}

void RtFilter::add(const RtMembership& m) {
  ++size_;
  if (m.length <= 32) {
    ++everything_;
  } else if (m.length == 96) {
    ++exact_[word(m.route_target)];
  } else {
    // Matching looks at the route target bits only (RFC 4684 §4): the origin AS is not part of
    // the filter.
    RtMembership key = m;
    key.origin_as = 0;
    auto it = std::find_if(partial_.begin(), partial_.end(),
                           [&](const auto& e) { return e.first == key; });
    if (it == partial_.end())
      partial_.emplace_back(key, 1);
    else
      ++it->second;
  }
}

void RtFilter::remove(const RtMembership& m) {
  if (BUG(size_ == 0)) return;
  --size_;
  if (m.length <= 32) {
    if (!BUG(everything_ == 0)) --everything_;
  } else if (m.length == 96) {
    auto it = exact_.find(word(m.route_target));
    if (BUG(it == exact_.end())) return;
    if (--it->second == 0) exact_.erase(it);
  } else {
    RtMembership key = m;
    key.origin_as = 0;
    auto it = std::find_if(partial_.begin(), partial_.end(),
                           [&](const auto& e) { return e.first == key; });
    if (BUG(it == partial_.end())) return;
    if (--it->second == 0) partial_.erase(it);
  }
}

bool RtFilter::allows(std::span<const ExtCommunity> communities) const {
  if (everything_ > 0) return true;
  for (const ExtCommunity& c : communities) {
    if (!is_route_target(c)) continue;
    if (exact_.contains(word(c.bytes))) return true;
    for (const auto& [m, n] : partial_)
      if (m.covers(c.bytes)) return true;
  }
  return false;
}

}  // namespace isthmus::bgp
