// EVPN NLRI codec (RFC 7432 §7.1-7.4, RFC 9136 §3.1), Route Distinguishers (RFC 4364 §4.2),
// ESIs (RFC 7432 §5) and the route key (RFC 7432 §7.1-7.4, RFC 9136 §3.2).
#include "bgp/wire/evpn.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "core/bug.h"

namespace isthmus::bgp {

namespace {

uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
void put16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, v >> 16);
  put16(p + 2, v);
}

std::string hex_octets(std::span<const uint8_t> b, std::string_view sep) {
  std::string s;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i) s += sep;
    s += fmt::format("{:02x}", b[i]);
  }
  return s;
}

std::optional<uint64_t> parse_uint(std::string_view s, uint64_t max) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

MacAddress mac_at(const uint8_t* p) {
  MacAddress m;
  std::copy(p, p + 6, m.bytes.begin());
  return m;
}

IpAddress address_of(std::span<const uint8_t> b) {
  if (b.size() == 4) return IpAddress::v4({b[0], b[1], b[2], b[3]});
  std::array<uint8_t, 16> a{};
  std::copy(b.begin(), b.end(), a.begin());
  return IpAddress::v6(a);
}

void write_address(const IpAddress& a, ByteWriter& w) {
  w.bytes(std::span<const uint8_t>(a.bytes().data(), a.size()));
}

}  // namespace

// ---- Route Distinguisher ------------------------------------------------------------------------

RouteDistinguisher RouteDistinguisher::as2(uint16_t asn, uint32_t assigned) {
  RouteDistinguisher rd;
  put16(&rd.bytes[2], asn);
  put32(&rd.bytes[4], assigned);
  return rd;
}

RouteDistinguisher RouteDistinguisher::ipv4(const IpAddress& address, uint16_t assigned) {
  BUG(!address.is_v4());
  RouteDistinguisher rd;
  rd.bytes[1] = 1;
  std::copy(address.bytes().begin(), address.bytes().begin() + 4, rd.bytes.begin() + 2);
  put16(&rd.bytes[6], assigned);
  return rd;
}

RouteDistinguisher RouteDistinguisher::as4(uint32_t asn, uint16_t assigned) {
  RouteDistinguisher rd;
  rd.bytes[1] = 2;
  put32(&rd.bytes[2], asn);
  put16(&rd.bytes[6], assigned);
  return rd;
}

std::string RouteDistinguisher::to_string() const {
  const uint8_t* b = bytes.data();
  switch (type()) {
    case 0:
      return fmt::format("{}:{}", be16(b + 2), be32(b + 4));
    case 1:
      return fmt::format("{}.{}.{}.{}:{}", b[2], b[3], b[4], b[5], be16(b + 6));
    case 2: {
      uint32_t asn = be32(b + 2);
      return fmt::format("{}{}:{}", asn, asn <= 0xffff ? "L" : "", be16(b + 6));
    }
  }
  return fmt::format("type-{}:{}", type(), hex_octets({b + 2, 6}, ""));
}

Expected<RouteDistinguisher> RouteDistinguisher::parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return fail(fmt::format("route distinguisher \"{}\": {}", text, why));
  };
  auto colon = text.find(':');
  if (colon == std::string_view::npos || text.find(':', colon + 1) != std::string_view::npos)
    return bad("expected ASN:N, A.B.C.D:N or ASN4:N (like 65000:100, 198.18.0.1:5, 4200000000:7)");
  std::string_view admin = text.substr(0, colon);
  std::string_view assigned = text.substr(colon + 1);
  if (admin.find('.') != std::string_view::npos) {
    auto a = IpAddress::parse(admin);
    if (!a || !a->is_v4()) return bad("the administrator is not an IPv4 address");
    auto n = parse_uint(assigned, 0xffff);
    if (!n) return bad("with an IPv4 address the assigned number must be 0..65535");
    return ipv4(*a, static_cast<uint16_t>(*n));
  }
  bool four = !admin.empty() && (admin.back() == 'L' || admin.back() == 'l');
  if (four) admin.remove_suffix(1);
  auto asn = parse_uint(admin, 0xffffffff);
  if (!asn) return bad("the ASN must be a number 0..4294967295");
  if (four || *asn > 0xffff) {
    auto n = parse_uint(assigned, 0xffff);
    if (!n) return bad("with a 4-octet ASN the assigned number must be 0..65535");
    return as4(static_cast<uint32_t>(*asn), static_cast<uint16_t>(*n));
  }
  auto n = parse_uint(assigned, 0xffffffff);
  if (!n) return bad("with a 2-octet ASN the assigned number must be 0..4294967295");
  return as2(static_cast<uint16_t>(*asn), static_cast<uint32_t>(*n));
}

// ---- ESI ----------------------------------------------------------------------------------------

bool Esi::is_zero() const {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

Esi Esi::arbitrary(const std::array<uint8_t, 9>& value) {
  Esi e;
  std::copy(value.begin(), value.end(), e.bytes.begin() + 1);
  return e;
}

Esi Esi::lacp(const MacAddress& system_mac, uint16_t port_key) {
  // RFC 7432 §5 type 1: CE LACP System MAC (6), CE LACP Port Key (2), then 0x00.
  Esi e;
  e.bytes[0] = 1;
  std::copy(system_mac.bytes.begin(), system_mac.bytes.end(), e.bytes.begin() + 1);
  put16(&e.bytes[7], port_key);
  return e;
}

Esi Esi::mstp(const MacAddress& root_bridge, uint16_t priority) {
  // Type 2: Root Bridge MAC (6), Root Bridge Priority (2), then 0x00.
  Esi e = lacp(root_bridge, priority);
  e.bytes[0] = 2;
  return e;
}

Esi Esi::mac(const MacAddress& system_mac, uint32_t discriminator) {
  // Type 3: System MAC (6), Local Discriminator (3).
  Esi e;
  e.bytes[0] = 3;
  std::copy(system_mac.bytes.begin(), system_mac.bytes.end(), e.bytes.begin() + 1);
  e.bytes[7] = static_cast<uint8_t>(discriminator >> 16);
  put16(&e.bytes[8], discriminator);
  return e;
}

Esi Esi::router_id(const IpAddress& router_id, uint32_t discriminator) {
  // Type 4: Router ID (4), Local Discriminator (4), then 0x00.
  BUG(!router_id.is_v4());
  Esi e;
  e.bytes[0] = 4;
  std::copy(router_id.bytes().begin(), router_id.bytes().begin() + 4, e.bytes.begin() + 1);
  put32(&e.bytes[5], discriminator);
  return e;
}

Esi Esi::as(uint32_t asn, uint32_t discriminator) {
  // Type 5: AS number (4), Local Discriminator (4), then 0x00.
  Esi e;
  e.bytes[0] = 5;
  put32(&e.bytes[1], asn);
  put32(&e.bytes[5], discriminator);
  return e;
}

std::string Esi::to_string() const { return hex_octets(bytes, ":"); }

std::string Esi::describe() const {
  const uint8_t* b = bytes.data();
  if (is_zero()) return "single-homed";
  switch (type()) {
    case 0:
      return "arbitrary " + hex_octets({b + 1, 9}, ":");
    case 1:
      return fmt::format("lacp {} key {}", mac_at(b + 1).to_string(), be16(b + 7));
    case 2:
      return fmt::format("mstp {} priority {}", mac_at(b + 1).to_string(), be16(b + 7));
    case 3:
      return fmt::format("mac {} discriminator {}", mac_at(b + 1).to_string(),
                         uint32_t{b[7]} << 16 | be16(b + 8));
    case 4:
      return fmt::format("router-id {}.{}.{}.{} discriminator {}", b[1], b[2], b[3], b[4],
                         be32(b + 5));
    case 5:
      return fmt::format("as {} discriminator {}", be32(b + 1), be32(b + 5));
  }
  return fmt::format("type-{} {}", type(), hex_octets({b + 1, 9}, ":"));
}

Expected<Esi> Esi::parse(std::string_view text) {
  if (text == "0" || text == "single-homed") return Esi{};
  Esi e;
  bool ok = text.size() == 29;
  for (size_t i = 0; ok && i < 10; ++i) {
    int hi = hex_digit(text[i * 3]);
    int lo = hex_digit(text[i * 3 + 1]);
    if (hi < 0 || lo < 0 || (i < 9 && text[i * 3 + 2] != ':'))
      ok = false;
    else
      e.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  if (!ok)
    return fail(
        fmt::format("\"{}\" is not a valid ESI (expected ten hex octets like "
                    "00:11:22:33:44:55:66:77:88:99, or single-homed)",
                    text));
  return e;
}

// ---- Routes -------------------------------------------------------------------------------------

namespace {

const char* route_name(uint8_t type) {
  switch (type) {
    case 1:
      return "Ethernet A-D";
    case 2:
      return "MAC/IP Advertisement";
    case 3:
      return "Inclusive Multicast Ethernet Tag";
    case 4:
      return "Ethernet Segment";
    case 5:
      return "IP Prefix";
  }
  return "unknown";
}

unsigned ip_bits(const IpAddress& a) { return a.is_v4() ? 32 : 128; }

}  // namespace

uint8_t EvpnRoute::type() const {
  if (auto* u = std::get_if<EvpnUnknownRoute>(&route)) return u->type;
  return static_cast<uint8_t>(route.index() + 1);
}

const RouteDistinguisher* EvpnRoute::rd() const {
  return std::visit(
      [](const auto& r) -> const RouteDistinguisher* {
        if constexpr (std::is_same_v<std::decay_t<decltype(r)>, EvpnUnknownRoute>)
          return nullptr;
        else
          return &r.rd;
      },
      route);
}

std::string EvpnRoute::to_string() const {
  if (auto* r = std::get_if<EvpnEthernetAd>(&route))
    return fmt::format("[1]:[{}]:[{}]:[{}]", r->rd.to_string(), r->esi.to_string(),
                       r->ethernet_tag);
  if (auto* r = std::get_if<EvpnMacIp>(&route)) {
    auto s = fmt::format("[2]:[{}]:[{}]:[48]:[{}]", r->rd.to_string(), r->ethernet_tag,
                         r->mac.to_string());
    if (r->ip) s += fmt::format(":[{}]:[{}]", ip_bits(*r->ip), r->ip->to_string());
    return s;
  }
  if (auto* r = std::get_if<EvpnImet>(&route))
    return fmt::format("[3]:[{}]:[{}]:[{}]:[{}]", r->rd.to_string(), r->ethernet_tag,
                       ip_bits(r->originator), r->originator.to_string());
  if (auto* r = std::get_if<EvpnEthernetSegment>(&route))
    return fmt::format("[4]:[{}]:[{}]:[{}]:[{}]", r->rd.to_string(), r->esi.to_string(),
                       ip_bits(r->originator), r->originator.to_string());
  if (auto* r = std::get_if<EvpnIpPrefix>(&route))
    return fmt::format("[5]:[{}]:[{}]:[{}]:[{}]", r->rd.to_string(), r->ethernet_tag,
                       r->prefix.length(), r->prefix.address().to_string());
  const auto& u = std::get<EvpnUnknownRoute>(route);
  return fmt::format("[{}]:[{}]", u.type, hex_octets(u.value, ""));
}

std::string EvpnRoute::describe() const {
  std::string s = to_string();
  if (auto* ad = std::get_if<EvpnEthernetAd>(&route)) s += fmt::format(" label {}", ad->label);
  if (auto* m = std::get_if<EvpnMacIp>(&route))
    s += fmt::format(" esi {} label {}{}", m->esi.describe(), m->label1,
                     m->label2 ? fmt::format(",{}", *m->label2) : std::string());
  if (auto* es = std::get_if<EvpnEthernetSegment>(&route))
    s += fmt::format(" esi {}", es->esi.describe());
  if (auto* p = std::get_if<EvpnIpPrefix>(&route))
    s += fmt::format(" esi {} gateway {} label {}", p->esi.describe(), p->gateway.to_string(),
                     p->label);
  return s;
}

// ---- Decoder ------------------------------------------------------------------------------------

namespace {

// The fields shared by several types, read from a value whose length was checked beforehand (so
// the reads cannot fail; *opt is safe).
RouteDistinguisher read_rd(ByteReader& v) { return RouteDistinguisher{*v.array<8>()}; }
Esi read_esi(ByteReader& v) { return Esi{*v.array<10>()}; }

class RouteDecoder {
 public:
  RouteDecoder(uint8_t type, size_t offset, ByteReader value)
      : type_(type), offset_(offset), v_(value), len_(value.remaining()) {}

  Expected<EvpnRoute, std::string> decode() {
    switch (type_) {
      case 1:
        return ethernet_ad();
      case 2:
        return mac_ip();
      case 3:
        return imet();
      case 4:
        return ethernet_segment();
      case 5:
        return ip_prefix();
    }
    // RFC 7606 §5.4: an unrecognized type within EVPN is discarded by the receiver, not an error.
    auto rest = v_.rest();
    return EvpnRoute{EvpnUnknownRoute{type_, {rest.begin(), rest.end()}}};
  }

 private:
  Unexpected<std::string> error(const std::string& what) const {
    return unexpected(
        fmt::format("EVPN {} route at offset {}: {}", route_name(type_), offset_, what));
  }

  Expected<EvpnRoute, std::string> ethernet_ad() {
    // RFC 7432 §7.1: RD (8), ESI (10), Ethernet Tag ID (4), MPLS Label (3).
    if (len_ != 25) return error(fmt::format("Length {} (must be 25)", len_));
    EvpnEthernetAd r;
    r.rd = read_rd(v_);
    r.esi = read_esi(v_);
    r.ethernet_tag = *v_.u32();
    r.label = *v_.u24();
    return EvpnRoute{r};
  }

  Expected<EvpnRoute, std::string> mac_ip() {
    // RFC 7432 §7.2: RD (8), ESI (10), Ethernet Tag ID (4), MAC Address Length (1), MAC (6), IP
    // Address Length (1), IP (0, 4 or 16), MPLS Label1 (3), MPLS Label2 (0 or 3).
    if (len_ < 33 || len_ > 52) return error(fmt::format("Length {} (must be 33 to 52)", len_));
    EvpnMacIp r;
    r.rd = read_rd(v_);
    r.esi = read_esi(v_);
    r.ethernet_tag = *v_.u32();
    uint8_t mac_len = *v_.u8();
    // "The MAC Address Length field is in bits, and it is set to 48. MAC address length values
    // other than 48 bits are outside the scope of this document."
    if (mac_len != 48) return error(fmt::format("MAC Address Length {} (must be 48)", mac_len));
    r.mac = MacAddress{*v_.array<6>()};
    uint8_t ip_len = *v_.u8();
    if (ip_len != 0 && ip_len != 32 && ip_len != 128)
      return error(fmt::format("IP Address Length {} (must be 0, 32 or 128)", ip_len));
    const size_t ip_octets = ip_len / 8u;
    const size_t rest = v_.remaining();
    if (rest != ip_octets + 3 && rest != ip_octets + 6)
      return error(fmt::format("Length {} does not fit IP Address Length {} (must be {} or {})",
                               len_, ip_len, 33 + ip_octets, 36 + ip_octets));
    if (ip_octets) r.ip = address_of(*v_.bytes(ip_octets));
    r.label1 = *v_.u24();
    if (!v_.empty()) r.label2 = *v_.u24();
    return EvpnRoute{r};
  }

  // The IP Address Length octet and the address of types 3 and 4, whose route Length (checked to
  // be one of the two) says which family: "must be `bits`".
  Expected<IpAddress, std::string> originator(unsigned bits) {
    uint8_t ip_len = *v_.u8();
    if (ip_len != bits)
      return error(fmt::format("IP Address Length {} does not fit the route Length {} (must be {})",
                               ip_len, len_, bits));
    return address_of(*v_.bytes(bits / 8));
  }

  Expected<EvpnRoute, std::string> imet() {
    // RFC 7432 §7.3: RD (8), Ethernet Tag ID (4), IP Address Length (1), Originating Router's IP
    // Address (4 or 16).
    if (len_ != 17 && len_ != 29)
      return error(fmt::format("Length {} (must be 17 for IPv4 or 29 for IPv6)", len_));
    EvpnImet r;
    r.rd = read_rd(v_);
    r.ethernet_tag = *v_.u32();
    auto ip = originator(len_ == 17 ? 32 : 128);
    if (!ip) return unexpected(std::move(ip.error()));
    r.originator = *ip;
    return EvpnRoute{r};
  }

  Expected<EvpnRoute, std::string> ethernet_segment() {
    // RFC 7432 §7.4: RD (8), ESI (10), IP Address Length (1), Originating Router's IP (4 or 16).
    if (len_ != 23 && len_ != 35)
      return error(fmt::format("Length {} (must be 23 for IPv4 or 35 for IPv6)", len_));
    EvpnEthernetSegment r;
    r.rd = read_rd(v_);
    r.esi = read_esi(v_);
    auto ip = originator(len_ == 23 ? 32 : 128);
    if (!ip) return unexpected(std::move(ip.error()));
    r.originator = *ip;
    return EvpnRoute{r};
  }

  Expected<EvpnRoute, std::string> ip_prefix() {
    // RFC 9136 §3.1: RD (8), ESI (10), Ethernet Tag ID (4), IP Prefix Length (1), IP Prefix (4 or
    // 16), GW IP Address (4 or 16), MPLS Label (3); the Length is 34 with IPv4 and 58 with IPv6
    // addresses, so the length, not the prefix length, gives the family.
    if (len_ != 34 && len_ != 58)
      return error(fmt::format("Length {} (must be 34 for IPv4 or 58 for IPv6)", len_));
    const bool v4 = len_ == 34;
    EvpnIpPrefix r;
    r.rd = read_rd(v_);
    r.esi = read_esi(v_);
    r.ethernet_tag = *v_.u32();
    uint8_t plen = *v_.u8();
    if (plen > (v4 ? 32 : 128))
      return error(fmt::format("IP Prefix Length {} (must be 0..{} in a {}-octet route)", plen,
                               v4 ? 32 : 128, len_));
    const size_t n = v4 ? 4 : 16;
    r.prefix = Prefix(address_of(*v_.bytes(n)), plen);  // trailing bits cleared
    r.gateway = address_of(*v_.bytes(n));
    r.label = *v_.u24();
    return EvpnRoute{r};
  }

  uint8_t type_;
  size_t offset_;
  ByteReader v_;
  size_t len_;
};

}  // namespace

Expected<EvpnRoute, std::string> decode_evpn_nlri(ByteReader& r) {
  const size_t at = r.position();
  auto type = r.u8();
  if (!type) return unexpected(fmt::format("EVPN NLRI at offset {}: nothing left to read", at));
  auto len = r.u8();
  if (!len)
    return unexpected(fmt::format("EVPN {} route (type {}) at offset {}: no Length octet",
                                  route_name(*type), *type, at));
  auto value = r.take(*len);
  if (!value)
    return unexpected(fmt::format(
        "EVPN {} route (type {}) at offset {}: Length {} runs past the NLRI ({} octets left)",
        route_name(*type), *type, at, *len, r.remaining()));
  return RouteDecoder(*type, at, *value).decode();
}

Expected<void, std::string> decode_evpn_nlris(ByteReader r, std::vector<EvpnRoute>& out) {
  while (!r.empty()) {
    auto route = decode_evpn_nlri(r);
    if (!route) return unexpected(std::move(route.error()));
    out.push_back(std::move(*route));
  }
  return {};
}

// ---- Encoder ------------------------------------------------------------------------------------

namespace {

size_t value_size(const EvpnRoute& route) {
  if (std::holds_alternative<EvpnEthernetAd>(route.route)) return 25;
  if (auto* r = std::get_if<EvpnMacIp>(&route.route))
    return 33 + (r->ip ? r->ip->size() : 0) + (r->label2 ? 3 : 0);
  if (auto* r = std::get_if<EvpnImet>(&route.route)) return 13 + r->originator.size();
  if (auto* r = std::get_if<EvpnEthernetSegment>(&route.route)) return 19 + r->originator.size();
  if (auto* r = std::get_if<EvpnIpPrefix>(&route.route))
    return r->prefix.family() == IpFamily::V4 ? 34 : 58;
  return std::get<EvpnUnknownRoute>(route.route).value.size();
}

}  // namespace

size_t evpn_nlri_wire_size(const EvpnRoute& route) { return 2 + value_size(route); }

void encode_evpn_nlri(const EvpnRoute& route, ByteWriter& w) {
  const size_t len = value_size(route);
  if (BUG(len > 255)) return;  // only a hand-built unknown route can be this long
  w.u8(route.type());
  w.u8(static_cast<uint8_t>(len));
  if (auto* ad = std::get_if<EvpnEthernetAd>(&route.route)) {
    w.bytes(ad->rd.bytes);
    w.bytes(ad->esi.bytes);
    w.u32(ad->ethernet_tag);
    w.u24(ad->label & kMaxLabelField);
  } else if (auto* m = std::get_if<EvpnMacIp>(&route.route)) {
    w.bytes(m->rd.bytes);
    w.bytes(m->esi.bytes);
    w.u32(m->ethernet_tag);
    w.u8(48);
    w.bytes(m->mac.bytes);
    w.u8(static_cast<uint8_t>(m->ip ? ip_bits(*m->ip) : 0));
    if (m->ip) write_address(*m->ip, w);
    w.u24(m->label1 & kMaxLabelField);
    if (m->label2) w.u24(*m->label2 & kMaxLabelField);
  } else if (auto* i = std::get_if<EvpnImet>(&route.route)) {
    w.bytes(i->rd.bytes);
    w.u32(i->ethernet_tag);
    w.u8(static_cast<uint8_t>(ip_bits(i->originator)));
    write_address(i->originator, w);
  } else if (auto* es = std::get_if<EvpnEthernetSegment>(&route.route)) {
    w.bytes(es->rd.bytes);
    w.bytes(es->esi.bytes);
    w.u8(static_cast<uint8_t>(ip_bits(es->originator)));
    write_address(es->originator, w);
  } else if (auto* p = std::get_if<EvpnIpPrefix>(&route.route)) {
    w.bytes(p->rd.bytes);
    w.bytes(p->esi.bytes);
    w.u32(p->ethernet_tag);
    w.u8(p->prefix.length());
    write_address(p->prefix.address(), w);
    // RFC 9136 §3.1: the GW IP Address is of the prefix's family, zero when there is none.
    if (p->gateway.family() == p->prefix.family())
      write_address(p->gateway, w);
    else
      w.zeros(p->prefix.address().size());
    w.u24(p->label & kMaxLabelField);
  } else {
    w.bytes(std::get<EvpnUnknownRoute>(route.route).value);
  }
}

// ---- Key ----------------------------------------------------------------------------------------

std::optional<EvpnKey> evpn_key(const EvpnRoute& route) {
  if (!route.known()) return std::nullopt;
  EvpnKey k;
  size_t n = 0;
  auto put = [&](std::span<const uint8_t> b) {
    std::copy(b.begin(), b.end(), k.bytes_.begin() + static_cast<ptrdiff_t>(n));
    n += b.size();
  };
  auto put8 = [&](uint8_t v) { k.bytes_[n++] = v; };
  auto put32v = [&](uint32_t v) {
    put32(&k.bytes_[n], v);
    n += 4;
  };
  auto put_ip = [&](const IpAddress& a) {
    put8(static_cast<uint8_t>(ip_bits(a)));
    put({a.bytes().data(), a.size()});
  };
  put8(route.type());
  put(route.rd()->bytes);
  if (auto* ad = std::get_if<EvpnEthernetAd>(&route.route)) {
    put(ad->esi.bytes);  // 1 + 8 + 10 + 4 = 23
    put32v(ad->ethernet_tag);
  } else if (auto* m = std::get_if<EvpnMacIp>(&route.route)) {
    put32v(m->ethernet_tag);  // 1 + 8 + 4 + 6 + 1 + 16 = 36 at most
    put(m->mac.bytes);
    if (m->ip)
      put_ip(*m->ip);
    else
      put8(0);
  } else if (auto* i = std::get_if<EvpnImet>(&route.route)) {
    put32v(i->ethernet_tag);  // 1 + 8 + 4 + 1 + 16 = 30 at most
    put_ip(i->originator);
  } else if (auto* es = std::get_if<EvpnEthernetSegment>(&route.route)) {
    put(es->esi.bytes);  // 1 + 8 + 10 + 1 + 16 = 36 at most
    put_ip(es->originator);
  } else if (auto* p = std::get_if<EvpnIpPrefix>(&route.route)) {
    put32v(p->ethernet_tag);  // 1 + 8 + 4 + 1 + 1 + 16 = 31 at most
    // The family goes in too: 0.0.0.0/0 and ::/0 are different routes.
    put8(p->prefix.family() == IpFamily::V4 ? 4 : 6);
    put8(p->prefix.length());
    put({p->prefix.address().bytes().data(), p->prefix.address().size()});
  }
  k.size_ = static_cast<uint8_t>(n);
  return k;
}

EvpnNlriData evpn_nlri_data(const EvpnRoute& route) {
  EvpnNlriData d;
  if (auto* ad = std::get_if<EvpnEthernetAd>(&route.route)) {
    d.label1 = ad->label;
  } else if (auto* m = std::get_if<EvpnMacIp>(&route.route)) {
    d.esi = m->esi;
    d.label1 = m->label1;
    d.label2 = m->label2;
  } else if (auto* p = std::get_if<EvpnIpPrefix>(&route.route)) {
    d.esi = p->esi;
    d.label1 = p->label;
    d.gateway = p->gateway;
  }
  return d;
}

std::optional<EvpnRoute> evpn_route(std::span<const uint8_t> key, const EvpnNlriData& data) {
  ByteReader r(key);
  auto bytes = [&](auto& out) {
    auto b = r.bytes(out.size());
    if (!b) return false;
    std::copy(b->begin(), b->end(), out.begin());
    return true;
  };
  // An address with its length in bits first (0 for none), as evpn_key() writes it.
  auto ip = [&](std::optional<IpAddress>& out) {
    auto bits = r.u8();
    if (!bits) return false;
    if (*bits == 0) return true;
    if (*bits != 32 && *bits != 128) return false;
    std::array<uint8_t, 16> a{};
    auto b = r.bytes(*bits / 8);
    if (!b) return false;
    std::copy(b->begin(), b->end(), a.begin());
    out = *bits == 32 ? IpAddress::v4({a[0], a[1], a[2], a[3]}) : IpAddress::v6(a);
    return true;
  };
  auto type = r.u8();
  RouteDistinguisher rd;
  if (!type || !bytes(rd.bytes)) return std::nullopt;
  EvpnRoute route;
  std::optional<IpAddress> addr;
  switch (static_cast<EvpnRouteType>(*type)) {
    case EvpnRouteType::EthernetAd: {
      EvpnEthernetAd ad;
      ad.rd = rd;
      ad.label = data.label1;
      auto tag = bytes(ad.esi.bytes) ? r.u32() : std::nullopt;
      if (!tag) return std::nullopt;
      ad.ethernet_tag = *tag;
      route.route = ad;
      break;
    }
    case EvpnRouteType::MacIp: {
      EvpnMacIp m;
      m.rd = rd;
      m.esi = data.esi;
      m.label1 = data.label1;
      m.label2 = data.label2;
      auto tag = r.u32();
      if (!tag || !bytes(m.mac.bytes) || !ip(m.ip)) return std::nullopt;
      m.ethernet_tag = *tag;
      route.route = m;
      break;
    }
    case EvpnRouteType::Imet: {
      EvpnImet i;
      i.rd = rd;
      auto tag = r.u32();
      if (!tag || !ip(addr) || !addr) return std::nullopt;
      i.ethernet_tag = *tag;
      i.originator = *addr;
      route.route = i;
      break;
    }
    case EvpnRouteType::EthernetSegment: {
      EvpnEthernetSegment es;
      es.rd = rd;
      if (!bytes(es.esi.bytes) || !ip(addr) || !addr) return std::nullopt;
      es.originator = *addr;
      route.route = es;
      break;
    }
    case EvpnRouteType::IpPrefix: {
      EvpnIpPrefix p;
      p.rd = rd;
      p.esi = data.esi;
      p.gateway = data.gateway;
      p.label = data.label1;
      auto tag = r.u32();
      auto family = r.u8();
      auto length = r.u8();
      if (!tag || !family || !length || (*family != 4 && *family != 6)) return std::nullopt;
      std::array<uint8_t, 16> a{};
      auto b = r.bytes(*family == 4 ? 4 : 16);
      if (!b || *length > (*family == 4 ? 32 : 128)) return std::nullopt;
      std::copy(b->begin(), b->end(), a.begin());
      p.ethernet_tag = *tag;
      p.prefix = Prefix(*family == 4 ? IpAddress::v4({a[0], a[1], a[2], a[3]}) : IpAddress::v6(a),
                        *length);
      // A gateway of the other family is not sent (encode_evpn_nlri writes zero).
      if (p.gateway.family() != p.prefix.family())
        p.gateway = *family == 4 ? IpAddress::v4(0u) : IpAddress::v6({});
      route.route = p;
      break;
    }
    default:
      return std::nullopt;
  }
  if (!r.empty()) return std::nullopt;
  return route;
}

}  // namespace isthmus::bgp
