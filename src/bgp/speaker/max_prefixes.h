// RFC 4486 §4 (Maximum Number of Prefixes Reached): how many prefixes of each family a neighbor
// may leave in our Adj-RIB-In, and what happens near and past the limit. Plain values and a pure
// rule, shared by the configuration and the speaker.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "bgp/wire/types.h"

namespace isthmus::bgp {

struct MaxPrefixes {
  uint32_t all = 0;                     // every family without its own; 0 = no limit
  std::map<Family, uint32_t> families;  // per family, 1..4294967295
  uint8_t warning_percent = 75;         // a warning once this share of a limit is reached
  uint16_t restart = 60;  // seconds before the session may come back; 0: until cleared by hand
  bool operator==(const MaxPrefixes&) const = default;

  bool any() const { return all != 0 || !families.empty(); }
  uint32_t limit(Family f) const {
    auto it = families.find(f);
    return it == families.end() ? all : it->second;
  }
  // Where `count` prefixes of `f` stand.
  enum class Level : uint8_t { Fine, Warning, Exceeded };
  Level level(Family f, uint64_t count) const {
    const uint64_t max = limit(f);
    if (max == 0) return Level::Fine;
    if (count > max) return Level::Exceeded;
    return count * 100 >= max * warning_percent ? Level::Warning : Level::Fine;
  }
};

// RFC 4486 §4: the data of the Cease: AFI (2), SAFI (1), the upper bound (4).
inline std::vector<uint8_t> max_prefixes_data(Family f, uint32_t limit) {
  const auto afi = static_cast<uint16_t>(f.afi);
  return {static_cast<uint8_t>(afi >> 8),    static_cast<uint8_t>(afi),
          static_cast<uint8_t>(f.safi),      static_cast<uint8_t>(limit >> 24),
          static_cast<uint8_t>(limit >> 16), static_cast<uint8_t>(limit >> 8),
          static_cast<uint8_t>(limit)};
}

}  // namespace isthmus::bgp
