// Helpers for the wire tests: hex byte strings, addresses and prefixes from text.
#pragma once

#include <gtest/gtest.h>

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
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline IpAddress ip(std::string_view s) { return *IpAddress::parse(s); }
inline Prefix pfx(std::string_view s) { return *Prefix::parse(s); }

// The 19-octet header followed by `body`.
inline std::vector<uint8_t> message(MessageType type, const std::vector<uint8_t>& body) {
  std::vector<uint8_t> out(16, 0xff);
  size_t len = 19 + body.size();
  out.push_back(static_cast<uint8_t>(len >> 8));
  out.push_back(static_cast<uint8_t>(len));
  out.push_back(static_cast<uint8_t>(type));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// An UPDATE body from its three fields.
inline std::vector<uint8_t> update_body(const std::vector<uint8_t>& withdrawn,
                                        const std::vector<uint8_t>& attrs,
                                        const std::vector<uint8_t>& nlri) {
  std::vector<uint8_t> out;
  out.push_back(static_cast<uint8_t>(withdrawn.size() >> 8));
  out.push_back(static_cast<uint8_t>(withdrawn.size()));
  out.insert(out.end(), withdrawn.begin(), withdrawn.end());
  out.push_back(static_cast<uint8_t>(attrs.size() >> 8));
  out.push_back(static_cast<uint8_t>(attrs.size()));
  out.insert(out.end(), attrs.begin(), attrs.end());
  out.insert(out.end(), nlri.begin(), nlri.end());
  return out;
}

}  // namespace isthmus::bgp::test
