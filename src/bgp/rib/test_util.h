// Small builders shared by the RIB tests.
#pragma once

#include <initializer_list>
#include <string_view>

#include "bgp/wire/types.h"
#include "core/bug.h"
#include "core/ip.h"

namespace isthmus::bgp::testing {

inline IpAddress ip(std::string_view s) {
  auto a = IpAddress::parse(s);
  if (!a) PANIC("bad address in test");
  return *a;
}

inline Prefix pfx(std::string_view s) {
  auto p = Prefix::parse(s);
  if (!p) PANIC("bad prefix in test");
  return *p;
}

inline AsPath seq(std::initializer_list<uint32_t> asns) {
  AsPath p;
  if (asns.size() > 0) p.segments.push_back({AsPathSegment::Type::Sequence, asns});
  return p;
}

inline PathAttributes attrs(std::initializer_list<uint32_t> as_path = {},
                            std::string_view next_hop = "198.18.1.1") {
  PathAttributes a;
  a.origin = Origin::Igp;
  a.as_path = seq(as_path);
  a.next_hop = ip(next_hop);
  return a;
}

}  // namespace isthmus::bgp::testing
