// Text forms of communities (RFC 1997, RFC 8092, RFC 4360 §4 and §5, RFC 5668 §2).
#include "bgp/policy/community.h"

#include <charconv>
#include <cstdio>
#include <vector>

namespace isthmus::bgp::policy {

namespace {

struct WellKnown {
  std::string_view name;
  Community value;
};

// RFC 1997 §4 (no-export, no-advertise, no-export-subconfed), RFC 7999 §5 (blackhole),
// RFC 8326 §5 (graceful-shutdown).
constexpr WellKnown kWellKnown[] = {
    {"no-export", kNoExport},
    {"no-advertise", kNoAdvertise},
    {"no-export-subconfed", kNoExportSubconfed},
    {"blackhole", 0xFFFF029A},
    {"graceful-shutdown", 0xFFFF0000},
};

// RFC 4360 §5 / RFC 5668: subtype 0x02 is Route Target, 0x03 Route Origin.
constexpr uint8_t kTwoOctetAsType = 0x00;
constexpr uint8_t kIpv4Type = 0x01;
constexpr uint8_t kFourOctetAsType = 0x02;
constexpr uint8_t kRouteTarget = 0x02;
constexpr uint8_t kRouteOrigin = 0x03;

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

// A decimal number no larger than `max`; no sign, no spaces.
std::optional<uint64_t> number(std::string_view s, uint64_t max) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

Unexpected<Error> bad(std::string_view text, std::string_view why) {
  // Appended piece by piece: `"\"" + std::string(text)` trips GCC 12's false -Werror=restrict
  // at -O3.
  std::string msg = "\"";
  msg.append(text);
  msg += "\" is not a community (";
  msg.append(why);
  msg += ')';
  return fail(std::move(msg));
}

void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
uint32_t get32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

Expected<CommunityValue> parse_extended(std::string_view text, uint8_t subtype,
                                        std::string_view admin, std::string_view assigned) {
  ExtCommunity e;
  e.bytes[1] = subtype;
  if (admin.find('.') != std::string_view::npos) {
    // RFC 4360 §4 IPv4-address-specific: 4-octet address, 2-octet local administrator.
    auto ip = IpAddress::parse(admin);
    if (!ip || !ip->is_v4()) return bad(text, "expected an IPv4 address before the value");
    auto v = number(assigned, 0xFFFF);
    if (!v) return bad(text, "after an IPv4 address the value must be 0..65535");
    e.bytes[0] = kIpv4Type;
    std::copy_n(ip->bytes().begin(), 4, e.bytes.begin() + 2);
    put16(&e.bytes[6], static_cast<uint16_t>(*v));
    return CommunityValue{e};
  }
  auto asn = number(admin, 0xFFFFFFFF);
  if (!asn) return bad(text, "expected an AS number 0..4294967295 or an IPv4 address");
  if (*asn <= 0xFFFF) {
    // RFC 4360 §3.1 two-octet AS specific: 2-octet AS, 4-octet local administrator.
    auto v = number(assigned, 0xFFFFFFFF);
    if (!v) return bad(text, "the value must be 0..4294967295");
    e.bytes[0] = kTwoOctetAsType;
    put16(&e.bytes[2], static_cast<uint16_t>(*asn));
    put32(&e.bytes[4], static_cast<uint32_t>(*v));
    return CommunityValue{e};
  }
  // RFC 5668 §2 four-octet AS specific: 4-octet AS, 2-octet local administrator.
  auto v = number(assigned, 0xFFFF);
  if (!v) return bad(text, "after a 4-octet AS number the value must be 0..65535");
  e.bytes[0] = kFourOctetAsType;
  put32(&e.bytes[2], static_cast<uint32_t>(*asn));
  put16(&e.bytes[6], static_cast<uint16_t>(*v));
  return CommunityValue{e};
}

}  // namespace

Expected<CommunityValue> parse_community(std::string_view text) {
  for (const auto& w : kWellKnown)
    if (text == w.name) return CommunityValue{w.value};
  auto parts = split(text, ':');
  if (parts.size() == 3 && (parts[0] == "rt" || parts[0] == "soo"))
    return parse_extended(text, parts[0] == "rt" ? kRouteTarget : kRouteOrigin, parts[1], parts[2]);
  if (parts.size() == 2) {
    auto hi = number(parts[0], 0xFFFF), lo = number(parts[1], 0xFFFF);
    if (!hi || !lo) return bad(text, "expected ASN:VALUE with both parts 0..65535, RFC 1997");
    return CommunityValue{Community{static_cast<uint32_t>(*hi << 16 | *lo)}};
  }
  if (parts.size() == 3) {
    auto g = number(parts[0], 0xFFFFFFFF), l1 = number(parts[1], 0xFFFFFFFF),
         l2 = number(parts[2], 0xFFFFFFFF);
    if (!g || !l1 || !l2)
      return bad(text, "a large community is three numbers 0..4294967295, RFC 8092");
    return CommunityValue{LargeCommunity{static_cast<uint32_t>(*g), static_cast<uint32_t>(*l1),
                                         static_cast<uint32_t>(*l2)}};
  }
  return bad(text,
             "expected ASN:VALUE, GLOBAL:LOCAL1:LOCAL2, rt:ASN:VALUE, soo:ASN:VALUE or one of "
             "no-export, no-advertise, no-export-subconfed, blackhole, graceful-shutdown");
}

std::string to_string(const CommunityValue& c) {
  if (auto* s = std::get_if<Community>(&c)) {
    for (const auto& w : kWellKnown)
      if (*s == w.value) return std::string(w.name);
    return std::to_string(*s >> 16) + ":" + std::to_string(*s & 0xFFFF);
  }
  if (auto* l = std::get_if<LargeCommunity>(&c))
    return std::to_string(l->global) + ":" + std::to_string(l->local1) + ":" +
           std::to_string(l->local2);
  const auto& b = std::get<ExtCommunity>(c).bytes;
  const char* kind = b[1] == kRouteTarget ? "rt" : b[1] == kRouteOrigin ? "soo" : nullptr;
  if (kind && b[0] == kTwoOctetAsType)
    return std::string(kind) + ":" + std::to_string(get16(&b[2])) + ":" +
           std::to_string(get32(&b[4]));
  if (kind && b[0] == kFourOctetAsType)
    return std::string(kind) + ":" + std::to_string(get32(&b[2])) + ":" +
           std::to_string(get16(&b[6]));
  if (kind && b[0] == kIpv4Type)
    return std::string(kind) + ":" + IpAddress::v4({b[2], b[3], b[4], b[5]}).to_string() + ":" +
           std::to_string(get16(&b[6]));
  char hex[24];
  std::snprintf(hex, sizeof hex, "ext:0x%02x%02x%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
                b[4], b[5], b[6], b[7]);
  return hex;
}

}  // namespace isthmus::bgp::policy
