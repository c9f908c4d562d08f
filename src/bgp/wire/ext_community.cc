// Typed extended communities for EVPN (RFC 4360 §4, RFC 5668, RFC 7432 §7.5-7.8, RFC 8365
// §5.1.2.1, RFC 9012 §4.1, RFC 9135 §8.1). Names for show output: ExtCommunity::to_string().
#include "bgp/wire/ext_community.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "core/bug.h"

namespace isthmus::bgp {

namespace {

ExtCommunity make(uint8_t type, uint8_t subtype) {
  ExtCommunity c;
  c.bytes[0] = type;
  c.bytes[1] = subtype;
  return c;
}

void put16(ExtCommunity& c, size_t at, uint32_t v) {
  c.bytes[at] = static_cast<uint8_t>(v >> 8);
  c.bytes[at + 1] = static_cast<uint8_t>(v);
}
void put32(ExtCommunity& c, size_t at, uint32_t v) {
  put16(c, at, v >> 16);
  put16(c, at + 2, v);
}
uint32_t get16(const ExtCommunity& c, size_t at) {
  return uint32_t{c.bytes[at]} << 8 | c.bytes[at + 1];
}
uint32_t get32(const ExtCommunity& c, size_t at) { return get16(c, at) << 16 | get16(c, at + 2); }

bool is(const ExtCommunity& c, uint8_t type, uint8_t subtype) {
  return c.type() == type && c.subtype() == subtype;
}

std::optional<uint64_t> parse_uint(std::string_view s, uint64_t max) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

ExtCommunity with_mac(uint8_t subtype, const MacAddress& mac) {
  ExtCommunity c = make(ext_type::kEvpn, subtype);
  std::copy(mac.bytes.begin(), mac.bytes.end(), c.bytes.begin() + 2);
  return c;
}

MacAddress mac_of(const ExtCommunity& c) {
  MacAddress m;
  std::copy(c.bytes.begin() + 2, c.bytes.end(), m.bytes.begin());
  return m;
}

}  // namespace

// ---- Route Target -------------------------------------------------------------------------------

ExtCommunity route_target_as2(uint16_t asn, uint32_t value) {
  ExtCommunity c = make(ext_type::kTwoOctetAs, ext_subtype::kRouteTarget);
  put16(c, 2, asn);
  put32(c, 4, value);
  return c;
}

ExtCommunity route_target_ipv4(const IpAddress& address, uint16_t value) {
  BUG(!address.is_v4());
  ExtCommunity c = make(ext_type::kIpv4, ext_subtype::kRouteTarget);
  std::copy(address.bytes().begin(), address.bytes().begin() + 4, c.bytes.begin() + 2);
  put16(c, 6, value);
  return c;
}

ExtCommunity route_target_as4(uint32_t asn, uint16_t value) {
  ExtCommunity c = make(ext_type::kFourOctetAs, ext_subtype::kRouteTarget);
  put32(c, 2, asn);
  put16(c, 6, value);
  return c;
}

bool is_route_target(const ExtCommunity& c) {
  return c.subtype() == ext_subtype::kRouteTarget && c.type() <= ext_type::kFourOctetAs;
}

Expected<ExtCommunity> parse_route_target(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return fail(fmt::format("route target \"{}\": {}", text, why));
  };
  std::string_view s = text;
  if (s.starts_with("rt:") || s.starts_with("RT:")) s.remove_prefix(3);
  auto colon = s.find(':');
  if (colon == std::string_view::npos || s.find(':', colon + 1) != std::string_view::npos)
    return bad("expected ASN:N, A.B.C.D:N or ASN4:N (like 65000:100, 198.18.0.1:5, 4200000000:7)");
  std::string_view admin = s.substr(0, colon);
  std::string_view local = s.substr(colon + 1);
  if (admin.find('.') != std::string_view::npos) {
    auto a = IpAddress::parse(admin);
    if (!a || !a->is_v4()) return bad("the global administrator is not an IPv4 address");
    auto n = parse_uint(local, 0xffff);
    if (!n) return bad("with an IPv4 address the local administrator must be 0..65535");
    return route_target_ipv4(*a, static_cast<uint16_t>(*n));
  }
  bool four = !admin.empty() && (admin.back() == 'L' || admin.back() == 'l');
  if (four) admin.remove_suffix(1);
  auto asn = parse_uint(admin, 0xffffffff);
  if (!asn) return bad("the ASN must be a number 0..4294967295");
  if (four || *asn > 0xffff) {
    auto n = parse_uint(local, 0xffff);
    if (!n) return bad("with a 4-octet ASN the local administrator must be 0..65535");
    return route_target_as4(static_cast<uint32_t>(*asn), static_cast<uint16_t>(*n));
  }
  auto n = parse_uint(local, 0xffffffff);
  if (!n) return bad("with a 2-octet ASN the local administrator must be 0..4294967295");
  return route_target_as2(static_cast<uint16_t>(*asn), static_cast<uint32_t>(*n));
}

ExtCommunity auto_route_target(uint32_t asn, uint32_t vni, AutoRtStyle style) {
  uint32_t local = vni & 0xffffff;  // the 24-bit Service ID
  // RFC 8365 §5.1.2.1: A = 0 (auto-derived), Type = 1 (VXLAN), D-ID = 0.
  if (style == AutoRtStyle::Rfc8365) local |= 0x10000000;
  return route_target_as2(static_cast<uint16_t>(asn & 0xffff), local);
}

// ---- Encapsulation ------------------------------------------------------------------------------

ExtCommunity Encapsulation::encode() const {
  // RFC 9012 §4.1: 4 reserved octets, then the 2-octet Tunnel Type.
  ExtCommunity c = make(ext_type::kOpaque, ext_subtype::kEncapsulation);
  put16(c, 6, tunnel_type);
  return c;
}

std::optional<Encapsulation> Encapsulation::decode(const ExtCommunity& c) {
  if (!is(c, ext_type::kOpaque, ext_subtype::kEncapsulation)) return std::nullopt;
  return Encapsulation{static_cast<uint16_t>(get16(c, 6))};
}

// ---- EVPN ---------------------------------------------------------------------------------------

ExtCommunity MacMobility::encode() const {
  ExtCommunity c = make(ext_type::kEvpn, ext_subtype::kMacMobility);
  c.bytes[2] = sticky ? 0x01 : 0x00;  // RFC 7432 §7.7: "the low-order bit ... Sticky/static"
  put32(c, 4, sequence);
  return c;
}

std::optional<MacMobility> MacMobility::decode(const ExtCommunity& c) {
  if (!is(c, ext_type::kEvpn, ext_subtype::kMacMobility)) return std::nullopt;
  return MacMobility{(c.bytes[2] & 0x01) != 0, get32(c, 4)};
}

ExtCommunity EsiLabel::encode() const {
  ExtCommunity c = make(ext_type::kEvpn, ext_subtype::kEsiLabel);
  c.bytes[2] = single_active ? 0x01 : 0x00;  // RFC 7432 §7.5: the low-order bit
  c.bytes[5] = static_cast<uint8_t>(label >> 16);
  put16(c, 6, label);
  return c;
}

std::optional<EsiLabel> EsiLabel::decode(const ExtCommunity& c) {
  if (!is(c, ext_type::kEvpn, ext_subtype::kEsiLabel)) return std::nullopt;
  return EsiLabel{(c.bytes[2] & 0x01) != 0, uint32_t{c.bytes[5]} << 16 | get16(c, 6)};
}

ExtCommunity EsImportRouteTarget::encode() const {
  return with_mac(ext_subtype::kEsImport, es_import);
}

std::optional<EsImportRouteTarget> EsImportRouteTarget::decode(const ExtCommunity& c) {
  if (!is(c, ext_type::kEvpn, ext_subtype::kEsImport)) return std::nullopt;
  return EsImportRouteTarget{mac_of(c)};
}

ExtCommunity RouterMac::encode() const { return with_mac(ext_subtype::kRouterMac, mac); }

std::optional<RouterMac> RouterMac::decode(const ExtCommunity& c) {
  if (!is(c, ext_type::kEvpn, ext_subtype::kRouterMac)) return std::nullopt;
  return RouterMac{mac_of(c)};
}

ExtCommunity default_gateway() { return make(ext_type::kOpaque, ext_subtype::kDefaultGateway); }

bool is_default_gateway(const ExtCommunity& c) {
  return is(c, ext_type::kOpaque, ext_subtype::kDefaultGateway);
}

}  // namespace isthmus::bgp
