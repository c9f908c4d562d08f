// IPv4/IPv6 addresses, prefixes and MAC addresses: parsing, printing, ordering, hashing.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
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

  auto operator<=>(const IpAddress&) const = default;
  bool operator==(const IpAddress&) const = default;

 private:
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

template <>
struct std::hash<isthmus::IpAddress> {
  size_t operator()(const isthmus::IpAddress& a) const {
    return isthmus::hash_bytes(a.bytes().data(), a.size(), static_cast<size_t>(a.family()));
  }
};
template <>
struct std::hash<isthmus::Prefix> {
  size_t operator()(const isthmus::Prefix& p) const {
    return isthmus::hash_bytes(p.address().bytes().data(), p.address().size(),
                               static_cast<size_t>(p.family()) << 8 | p.length());
  }
};
