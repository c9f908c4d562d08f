#include "bgp/wire/rtc.h"

#include <fmt/format.h>

#include "bgp/wire/types.h"

namespace isthmus::bgp {

RtMembership RtMembership::of(uint32_t origin_as, const std::array<uint8_t, 8>& route_target) {
  return RtMembership{96, origin_as, route_target};
}

bool RtMembership::covers(const std::array<uint8_t, 8>& rt) const {
  if (length <= 32) return true;
  const unsigned bits = length - 32u;
  const unsigned whole = bits / 8;
  for (unsigned i = 0; i < whole; ++i)
    if (route_target[i] != rt[i]) return false;
  if (bits % 8 == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - bits % 8));
  return (route_target[whole] & mask) == (rt[whole] & mask);
}

std::string RtMembership::to_string() const {
  if (is_default()) return "default";
  if (length == 32) return fmt::format("{}:any", origin_as);
  const std::string rt = ExtCommunity{route_target}.to_string();
  return length == 96 ? fmt::format("{}:{}", origin_as, rt)
                      : fmt::format("{}:{}/{}", origin_as, rt, length);
}

Expected<RtMembership, std::string> decode_rtc_nlri(ByteReader& r) {
  auto len = r.u8();
  if (!len) return unexpected(std::string("route target membership: missing length"));
  RtMembership m;
  m.length = *len;
  if (m.length == 0) return m;
  if (m.length < 32 || m.length > 96)
    return unexpected(fmt::format(
        "route target membership: length {} bits (must be 0 or 32..96, RFC 4684 §4)", m.length));
  const size_t octets = (m.length + 7u) / 8;
  auto bytes = r.take(octets);
  if (!bytes)
    return unexpected(fmt::format("route target membership of {} bits: {} octets, {} left",
                                  m.length, octets, r.remaining()));
  m.origin_as = *bytes->u32();
  auto rest = bytes->rest();
  std::copy(rest.begin(), rest.end(), m.route_target.begin());
  // Bits past the prefix are not part of it: clear them, so that equal prefixes compare equal.
  const unsigned bits = m.length - 32u;
  if (bits % 8 != 0) m.route_target[bits / 8] &= static_cast<uint8_t>(0xff << (8 - bits % 8));
  return m;
}

Expected<void, std::string> decode_rtc_nlris(ByteReader r, std::vector<RtMembership>& out) {
  while (!r.empty()) {
    auto m = decode_rtc_nlri(r);
    if (!m) return unexpected(std::move(m.error()));
    out.push_back(*m);
  }
  return {};
}

size_t rtc_nlri_wire_size(const RtMembership& m) { return 1 + (m.length + 7u) / 8; }

void encode_rtc_nlri(const RtMembership& m, ByteWriter& w) {
  w.u8(m.length);
  if (m.length == 0) return;
  std::array<uint8_t, 12> prefix{};
  for (int i = 0; i < 4; ++i)
    prefix[static_cast<size_t>(i)] = static_cast<uint8_t>(m.origin_as >> (24 - 8 * i));
  std::copy(m.route_target.begin(), m.route_target.end(), prefix.begin() + 4);
  w.bytes(std::span<const uint8_t>(prefix.data(), (m.length + 7u) / 8));
}

std::vector<uint8_t> rtc_key(const RtMembership& m) {
  std::vector<uint8_t> key;
  ByteWriter w(key);
  encode_rtc_nlri(m, w);
  return key;
}

Expected<RtMembership, std::string> rtc_from_key(std::span<const uint8_t> key) {
  ByteReader r(key);
  auto m = decode_rtc_nlri(r);
  if (m && !r.empty())
    return unexpected(std::string("route target membership key: trailing octets"));
  return m;
}

}  // namespace isthmus::bgp
