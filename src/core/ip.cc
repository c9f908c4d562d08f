#include "core/ip.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

namespace isthmus {

// "\"text\"" built by appending: `"\"" + std::string(text)` inserts at the front of a temporary,
// which GCC 12 at -O3 flags with a false -Werror=restrict.
static std::string quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  out.append(text);
  out += '"';
  return out;
}

IpAddress IpAddress::v4(uint32_t host_order) {
  IpAddress a;
  a.family_ = IpFamily::V4;
  a.bytes_[0] = static_cast<uint8_t>(host_order >> 24);
  a.bytes_[1] = static_cast<uint8_t>(host_order >> 16);
  a.bytes_[2] = static_cast<uint8_t>(host_order >> 8);
  a.bytes_[3] = static_cast<uint8_t>(host_order);
  return a;
}

IpAddress IpAddress::v4(std::array<uint8_t, 4> b) {
  IpAddress a;
  a.family_ = IpFamily::V4;
  std::memcpy(a.bytes_.data(), b.data(), 4);
  return a;
}

IpAddress IpAddress::v6(const std::array<uint8_t, 16>& b) {
  IpAddress a;
  a.family_ = IpFamily::V6;
  a.bytes_ = b;
  return a;
}

Expected<IpAddress> IpAddress::parse(std::string_view text) {
  std::string s(text);
  IpAddress a;
  // inet_pton stops at a NUL: "198.18.0.1\0junk" must not parse as 198.18.0.1.
  if (s.find('\0') != std::string::npos) return fail("\"" + s + "\" is not a valid IP address");
  if (s.find(':') != std::string::npos) {
    if (inet_pton(AF_INET6, s.c_str(), a.bytes_.data()) != 1)
      return fail("\"" + s + "\" is not a valid IPv6 address");
    a.family_ = IpFamily::V6;
    return a;
  }
  if (inet_pton(AF_INET, s.c_str(), a.bytes_.data()) != 1)
    return fail("\"" + s + "\" is not a valid IP address");
  a.family_ = IpFamily::V4;
  return a;
}

uint32_t IpAddress::v4_host_order() const {
  return uint32_t{bytes_[0]} << 24 | uint32_t{bytes_[1]} << 16 | uint32_t{bytes_[2]} << 8 |
         bytes_[3];
}

bool IpAddress::is_unspecified() const {
  for (size_t i = 0; i < size(); ++i)
    if (bytes_[i] != 0) return false;
  return true;
}

bool IpAddress::is_link_local() const {
  if (is_v4()) return bytes_[0] == 169 && bytes_[1] == 254;
  return bytes_[0] == 0xfe && (bytes_[1] & 0xc0) == 0x80;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof buf);
  return buf;
}

static void clear_host_bits(std::array<uint8_t, 16>& b, size_t size, uint8_t len) {
  for (size_t i = 0; i < size; ++i) {
    int bits = static_cast<int>(len) - static_cast<int>(i * 8);
    if (bits >= 8) continue;
    if (bits <= 0) {
      b[i] = 0;
    } else {
      b[i] &= static_cast<uint8_t>(0xff00 >> bits);
    }
  }
}

Prefix::Prefix(IpAddress addr, uint8_t length) : addr_(addr), len_(length) {
  if (len_ > max_length()) len_ = max_length();
  auto b = addr_.bytes();
  clear_host_bits(b, addr_.size(), len_);
  addr_ = addr_.is_v4() ? IpAddress::v4({b[0], b[1], b[2], b[3]}) : IpAddress::v6(b);
}

Expected<Prefix> Prefix::parse(std::string_view text) {
  auto slash = text.find('/');
  auto addr = IpAddress::parse(text.substr(0, slash));
  if (!addr) return fail(quoted(text) + " is not a valid prefix: " + addr.error().message);
  unsigned max = addr->is_v4() ? 32 : 128;
  unsigned len = max;
  if (slash != std::string_view::npos) {
    auto l = text.substr(slash + 1);
    if (l.empty() || l.size() > 3)
      return fail(quoted(text) + " is not a valid prefix (length missing or malformed)");
    len = 0;
    for (char c : l) {
      if (c < '0' || c > '9')
        return fail(quoted(text) + " is not a valid prefix (length must be a number)");
      len = len * 10 + static_cast<unsigned>(c - '0');
    }
    if (len > max)
      return fail(quoted(text) + " is not a valid prefix (length must be 0.." +
                  std::to_string(max) + ")");
  }
  Prefix p(*addr, static_cast<uint8_t>(len));
  if (p.address() != *addr)
    return fail(quoted(text) + " has host bits set (did you mean " + p.to_string() + "?)");
  return p;
}

bool Prefix::contains(const IpAddress& a) const {
  if (a.family() != family()) return false;
  return Prefix(a, len_).address() == addr_;
}

bool Prefix::contains(const Prefix& p) const {
  return p.family() == family() && p.length() >= len_ && contains(p.address());
}

std::string Prefix::to_string() const { return addr_.to_string() + "/" + std::to_string(len_); }

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Exactly six pairs of hex digits separated by ':' (sscanf's %x let through signs, spaces and
// single digits, so that "-1:bb:cc:dd:ee:ff" parsed as ff:bb:...).
Expected<MacAddress> MacAddress::parse(std::string_view text) {
  MacAddress m;
  bool ok = text.size() == 17;
  for (size_t i = 0; ok && i < 6; ++i) {
    int hi = hex_digit(text[i * 3]);
    int lo = hex_digit(text[i * 3 + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != ':')) {
      ok = false;
    } else {
      m.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
  }
  if (!ok) return fail(quoted(text) + " is not a valid MAC address (expected aa:bb:cc:dd:ee:ff)");
  return m;
}

std::string MacAddress::to_string() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2],
                bytes[3], bytes[4], bytes[5]);
  return buf;
}

size_t hash_bytes(const void* data, size_t n, size_t seed) {
  // FNV-1a folded with the seed; fast for the short keys hashed here.
  uint64_t h = 1469598103934665603ULL ^ (seed * 0x9e3779b97f4a7c15ULL);
  auto p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return static_cast<size_t>(h ^ (h >> 29));
}

}  // namespace isthmus
