// Helpers for the wire tests: hex byte strings, addresses and prefixes from text.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <span>
#include <string_view>
#include <vector>

#include "bgp/wire/codec.h"
#include "core/ip.h"

namespace isthmus::bgp::test {

// "ff ff 00 13" -> {0xff, 0xff, 0x00, 0x13}; spaces and newlines are ignored.
inline std::vector<uint8_t> hex(std::string_view s) {
  std::vector<uint8_t> out;
  int hi = -1;
  for (char c : s) {
    int v;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v = c - 'A' + 10;
    else
      continue;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  EXPECT_EQ(hi, -1) << "odd number of hex digits in " << s;
  return out;
}

inline std::vector<uint8_t> cat(std::initializer_list<std::vector<uint8_t>> parts) {
  size_t n = 0;
  for (const auto& p : parts) n += p.size();
  std::vector<uint8_t> out(n);
  auto at = out.begin();
  for (const auto& p : parts) at = std::copy(p.begin(), p.end(), at);
  return out;
}

inline IpAddress ip(std::string_view s) { return *IpAddress::parse(s); }
inline Prefix pfx(std::string_view s) { return *Prefix::parse(s); }

// Copies `parts` into one buffer sized up front (no vector::insert: GCC 12 at -O3 reports
// false -Warray-bounds on small inserts).
inline std::vector<uint8_t> join(std::initializer_list<std::span<const uint8_t>> parts) {
  size_t n = 0;
  for (auto p : parts) n += p.size();
  std::vector<uint8_t> out(n);
  auto at = out.begin();
  for (auto p : parts) at = std::copy(p.begin(), p.end(), at);
  return out;
}

inline std::array<uint8_t, 2> u16(size_t v) {
  return {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}

// The 19-octet header followed by `body`.
inline std::vector<uint8_t> message(MessageType type, const std::vector<uint8_t>& body) {
  std::array<uint8_t, 16> marker;
  marker.fill(0xff);
  std::array<uint8_t, 1> t{static_cast<uint8_t>(type)};
  return join({marker, u16(19 + body.size()), t, body});
}

// An UPDATE body from its three fields.
inline std::vector<uint8_t> update_body(const std::vector<uint8_t>& withdrawn,
                                        const std::vector<uint8_t>& attrs,
                                        const std::vector<uint8_t>& nlri) {
  return join({u16(withdrawn.size()), withdrawn, u16(attrs.size()), attrs, nlri});
}

}  // namespace isthmus::bgp::test
