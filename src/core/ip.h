// IPv4/IPv6 addresses, prefixes and MAC addresses: parsing, printing, ordering, hashing.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include "core/expected.h"

namespace isthmus {

enum class IpFamily : uint8_t { V4 = 4, V6 = 6 };

class IpAddress {
 public:
  IpAddress() = default;
  static IpAddress v4(uint32_t host_order);
  static IpAddress v4(std::array<uint8_t, 4> b);
  static IpAddress v6(const std::array<uint8_t, 16>& b);
  static Expected<IpAddress> parse(std::string_view text);

  IpFamily family() const { return family_; }
  bool is_v4() const { return family_ == IpFamily::V4; }
  bool is_v6() const { return family_ == IpFamily::V6; }
  // Address length in bytes: 4 or 16.
  size_t size() const { return is_v4() ? 4 : 16; }
  // Address bytes in network order; the first size() are meaningful.
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  uint32_t v4_host_order() const;
  bool is_unspecified() const;
  bool is_link_local() const;  // fe80::/10 or 169.254.0.0/16
  std::string to_string() const;

  // Byte order, then family: the same order as comparing the bytes lexicographically, done as two
  // big-endian word compares (RIB tables sort and compare prefixes by the million).
  std::strong_ordering operator<=>(const IpAddress& o) const {
    uint64_t a = word(0), b = o.word(0);
    if (a != b) return a <=> b;
    a = word(1);
    b = o.word(1);
    if (a != b) return a <=> b;
    return family_ <=> o.family_;
  }
  bool operator==(const IpAddress& o) const {
    return word(0) == o.word(0) && word(1) == o.word(1) && family_ == o.family_;
  }

 private:
  // Bytes 8i..8i+7 as a big-endian number.
  uint64_t word(size_t i) const {
    uint64_t w;
    std::memcpy(&w, bytes_.data() + 8 * i, 8);
    return __builtin_bswap64(w);
  }

  std::array<uint8_t, 16> bytes_{};
  IpFamily family_ = IpFamily::V4;
};

class Prefix {
 public:
  Prefix() = default;
  // Bits past `length` are cleared.
  Prefix(IpAddress addr, uint8_t length);
  // "100.64.0.0/16", "fd00::/8"; a bare address is a host prefix. Host bits set is an error.
  static Expected<Prefix> parse(std::string_view text);

  const IpAddress& address() const { return addr_; }
  uint8_t length() const { return len_; }
  IpFamily family() const { return addr_.family(); }
  uint8_t max_length() const { return addr_.is_v4() ? 32 : 128; }
  bool contains(const IpAddress& a) const;
  bool contains(const Prefix& p) const;  // p is equal to or more specific than this
  std::string to_string() const;

  auto operator<=>(const Prefix&) const = default;
  bool operator==(const Prefix&) const = default;

 private:
  IpAddress addr_;
  uint8_t len_ = 0;
};

struct MacAddress {
  std::array<uint8_t, 6> bytes{};
  static Expected<MacAddress> parse(std::string_view text);
  std::string to_string() const;
  auto operator<=>(const MacAddress&) const = default;
  bool operator==(const MacAddress&) const = default;
};

size_t hash_bytes(const void* data, size_t n, size_t seed = 0);

}  // namespace isthmus

namespace isthmus {
// Hashes the 16 address bytes (zero past an IPv4 address) as two words with one multiply each:
// Prefix is the key of every RIB table, hashed on each lookup and, in node-based tables, again
// for every node a lookup walks past, so this must be cheap and still mix every bit.
inline size_t hash_address(const IpAddress& a, uint64_t extra) {
  uint64_t w0, w1;
  std::memcpy(&w0, a.bytes().data(), 8);
  std::memcpy(&w1, a.bytes().data() + 8, 8);
  uint64_t h = (w0 ^ extra) * 0x9e3779b97f4a7c15ULL;
  h = (h ^ (h >> 32) ^ w1) * 0xd6e8feb86659fd93ULL;
  return static_cast<size_t>(h ^ (h >> 32));
}
}  // namespace isthmus

template <>
struct std::hash<isthmus::IpAddress> {
  size_t operator()(const isthmus::IpAddress& a) const noexcept {
    return isthmus::hash_address(a, static_cast<uint64_t>(a.family()) << 56);
  }
};
template <>
struct std::hash<isthmus::Prefix> {
  size_t operator()(const isthmus::Prefix& p) const noexcept {
    return isthmus::hash_address(p.address(), static_cast<uint64_t>(p.family()) << 56 |
                                                  static_cast<uint64_t>(p.length()) << 48);
  }
};
