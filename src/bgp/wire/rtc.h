// Route Target membership NLRI (RFC 4684 §4), AFI 1 / SAFI 132: a speaker says which route
// targets it imports, so that its peers send it only the VPN (here: EVPN) routes carrying one of
// them. Each NLRI is a prefix of up to 96 bits over <origin AS (4 octets), route target (8
// octets)>: length 0 is the default membership (every route target); 32 names only the origin
// AS and so again every route target; 33..96 cover route targets whose leading (length - 32)
// bits are equal. Lengths 1..31 and above 96 are malformed.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/expected.h"

namespace isthmus::bgp {

struct RtMembership {
  uint8_t length = 0;  // bits: 0, or 32..96
  uint32_t origin_as = 0;
  std::array<uint8_t, 8> route_target{};  // the bits past length - 32 are zero

  // The membership of one route target (an extended community's 8 octets): all 96 bits.
  static RtMembership of(uint32_t origin_as, const std::array<uint8_t, 8>& route_target);
  bool is_default() const { return length == 0; }
  // Whether an extended community that is a route target is covered: its leading
  // (length - 32) bits are those of this membership. Everything is covered below 33 bits.
  bool covers(const std::array<uint8_t, 8>& route_target) const;
  // "default", "65000:rt:65000:100", or for a shorter prefix "65000:rt:65000:0/80".
  std::string to_string() const;
  auto operator<=>(const RtMembership&) const = default;
  bool operator==(const RtMembership&) const = default;
};

// One NLRI; the reader is left after it. Errors name the length or the truncation.
Expected<RtMembership, std::string> decode_rtc_nlri(ByteReader& r);
// Every NLRI of an MP_REACH_NLRI / MP_UNREACH_NLRI field, appended to `out`.
Expected<void, std::string> decode_rtc_nlris(ByteReader r, std::vector<RtMembership>& out);
// Octets encode_rtc_nlri() writes (the length octet included): 1 + ceil(length / 8).
size_t rtc_nlri_wire_size(const RtMembership& m);
void encode_rtc_nlri(const RtMembership& m, ByteWriter& w);

// The RIB's key of a membership: the NLRI as encoded (length octet and the prefix's octets),
// at most 13 octets; and back.
std::vector<uint8_t> rtc_key(const RtMembership& m);
Expected<RtMembership, std::string> rtc_from_key(std::span<const uint8_t> key);

}  // namespace isthmus::bgp
