// RT-constrained route distribution (RFC 4684 §3): the route targets a peer imports, learned
// from the route target membership routes it sent us, are the filter of the VPN routes (here:
// L2VPN EVPN) we send it. A route passes when a membership covers one of its route targets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bgp/wire/rtc.h"
#include "bgp/wire/types.h"

namespace isthmus::bgp {

class RtFilter {
 public:
  // A membership the peer advertises (counted: the same route target from several origin ASes
  // is one entry each).
  void add(const RtMembership& m);
  void remove(const RtMembership& m);
  bool allows(std::span<const ExtCommunity> communities) const;
  size_t size() const { return size_; }

 private:
  static uint64_t word(const std::array<uint8_t, 8>& rt);
  size_t size_ = 0;
  size_t everything_ = 0;                         // default, or origin AS only (length <= 32)
  std::unordered_map<uint64_t, uint32_t> exact_;  // 96 bits: by route target
  std::vector<std::pair<RtMembership, uint32_t>> partial_;  // 33..95 bits, origin AS cleared
};

}  // namespace isthmus::bgp
