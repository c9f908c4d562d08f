// AS_PATH helpers (see as_path.h).
#include "bgp/rib/as_path.h"

#include <algorithm>

namespace isthmus::bgp {

using SegType = AsPathSegment::Type;

size_t as_path_length(const AsPath& p) {
  size_t n = 0;
  for (const auto& s : p.segments) {
    if (s.type == SegType::Sequence) n += s.asns.size();
    if (s.type == SegType::Set) n += 1;
  }
  return n;
}

bool as_path_contains(const AsPath& p, uint32_t asn) {
  return std::any_of(p.segments.begin(), p.segments.end(), [asn](const AsPathSegment& s) {
    return std::find(s.asns.begin(), s.asns.end(), asn) != s.asns.end();
  });
}

std::optional<uint32_t> as_path_neighbor(const AsPath& p) {
  for (const auto& s : p.segments) {
    if (s.type == SegType::ConfedSequence || s.type == SegType::ConfedSet) continue;
    if (s.type == SegType::Sequence && !s.asns.empty()) return s.asns.front();
    return std::nullopt;
  }
  return std::nullopt;
}

void as_path_prepend(AsPath& p, uint32_t asn) {
  if (!p.segments.empty() && p.segments.front().type == SegType::Sequence &&
      p.segments.front().asns.size() < 255) {
    auto& asns = p.segments.front().asns;
    asns.insert(asns.begin(), asn);
    return;
  }
  p.segments.insert(p.segments.begin(), AsPathSegment{SegType::Sequence, {asn}});
}

}  // namespace isthmus::bgp
