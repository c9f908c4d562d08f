// Names and small helpers of the wire types: family names, AS_PATH arithmetic (RFC 4271 §9.1.2.2,
// RFC 5065 §5.3), NOTIFICATION descriptions (RFC 4271 §4.5, RFC 4486, RFC 8538, RFC 9003),
// extended community names (RFC 4360 §3, RFC 9012 §4.1 encapsulation, RFC 7432 §7.5-7.8 and
// RFC 9135 for EVPN) and the PMSI_TUNNEL helpers (RFC 6514 §5).
#include "bgp/wire/types.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <span>

namespace isthmus::bgp {

// ---- Family ----------------------------------------------------------------------------------

std::string Family::name() const {
  if (*this == kIpv4Unicast) return "ipv4-unicast";
  if (*this == kIpv6Unicast) return "ipv6-unicast";
  if (*this == kL2vpnEvpn) return "l2vpn-evpn";
  if (*this == kIpv4RouteTarget) return "ipv4-rtc";
  return fmt::format("afi-{}/safi-{}", static_cast<unsigned>(afi), static_cast<unsigned>(safi));
}

static std::optional<unsigned> parse_number(std::string_view s, unsigned max) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty() || v > max) return std::nullopt;
  return v;
}

std::optional<Family> Family::from_name(std::string_view name) {
  if (name == "ipv4-unicast") return kIpv4Unicast;
  if (name == "ipv6-unicast") return kIpv6Unicast;
  if (name == "l2vpn-evpn") return kL2vpnEvpn;
  if (name == "ipv4-rtc") return kIpv4RouteTarget;
  // The generic form name() prints for families without a name: "afi-N/safi-M".
  if (name.starts_with("afi-")) {
    auto slash = name.find("/safi-");
    if (slash == std::string_view::npos) return std::nullopt;
    auto afi = parse_number(name.substr(4, slash - 4), 0xffff);
    auto safi = parse_number(name.substr(slash + 6), 0xff);
    if (!afi || !safi) return std::nullopt;
    return Family{static_cast<Afi>(*afi), static_cast<Safi>(*safi)};
  }
  return std::nullopt;
}

// ---- AS_PATH ---------------------------------------------------------------------------------

size_t AsPath::length() const {
  size_t n = 0;
  for (const auto& s : segments) {
    switch (s.type) {
      case AsPathSegment::Type::Sequence:
        n += s.asns.size();
        break;
      case AsPathSegment::Type::Set:
        n += 1;  // RFC 4271 §9.1.2.2 a): an AS_SET counts 1, however many ASNs it holds.
        break;
      case AsPathSegment::Type::ConfedSequence:
      case AsPathSegment::Type::ConfedSet:
        break;  // RFC 5065 §5.3: confederation segments are not counted.
    }
  }
  return n;
}

bool AsPath::contains(uint32_t asn) const {
  for (const auto& s : segments)
    for (uint32_t a : s.asns)
      if (a == asn) return true;
  return false;
}

std::optional<uint32_t> AsPath::neighbor_as() const {
  for (const auto& s : segments)
    if (s.type == AsPathSegment::Type::Sequence && !s.asns.empty()) return s.asns.front();
  return std::nullopt;
}

std::optional<uint32_t> AsPath::origin_as() const {
  for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
    if (it->type == AsPathSegment::Type::ConfedSequence ||
        it->type == AsPathSegment::Type::ConfedSet)
      continue;
    // RFC 6811 §2: a path ending in an AS_SET has no single origin AS.
    if (it->type == AsPathSegment::Type::Set || it->asns.empty()) return std::nullopt;
    return it->asns.back();
  }
  return std::nullopt;
}

void AsPath::prepend(uint32_t asn) {
  // RFC 4271 §5.1.2: "if the first path segment of the AS_PATH is of type AS_SEQUENCE, the local
  // system prepends its own AS number as the last element of the sequence"; a full segment (255
  // ASNs, the limit of the one-octet segment length) or any other type opens a new segment.
  if (segments.empty() || segments.front().type != AsPathSegment::Type::Sequence ||
      segments.front().asns.size() >= 255) {
    segments.insert(segments.begin(), AsPathSegment{AsPathSegment::Type::Sequence, {asn}});
    return;
  }
  auto& asns = segments.front().asns;
  asns.insert(asns.begin(), asn);
}

std::string AsPath::to_string() const {
  std::string out;
  for (const auto& s : segments) {
    if (!out.empty()) out += ' ';
    const char* sep = " ";
    const char* open = "";
    const char* close = "";
    switch (s.type) {
      case AsPathSegment::Type::Sequence:
        break;
      case AsPathSegment::Type::Set:
        open = "{", close = "}", sep = ",";
        break;
      case AsPathSegment::Type::ConfedSequence:
        open = "(", close = ")";
        break;
      case AsPathSegment::Type::ConfedSet:
        open = "[", close = "]", sep = ",";
        break;
    }
    out += open;
    for (size_t i = 0; i < s.asns.size(); ++i) {
      if (i) out += sep;
      out += std::to_string(s.asns[i]);
    }
    out += close;
  }
  return out;
}

// ---- NOTIFICATION ----------------------------------------------------------------------------

static const char* code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::MessageHeader:
      return "Message Header Error";
    case ErrorCode::OpenMessage:
      return "OPEN Message Error";
    case ErrorCode::UpdateMessage:
      return "UPDATE Message Error";
    case ErrorCode::HoldTimerExpired:
      return "Hold Timer Expired";
    case ErrorCode::FsmError:
      return "Finite State Machine Error";
    case ErrorCode::Cease:
      return "Cease";
    case ErrorCode::RouteRefreshMessage:
      return "ROUTE-REFRESH Message Error";
    case ErrorCode::SendHoldTimerExpired:
      return "Send Hold Timer Expired";
  }
  return nullptr;
}

// IANA "BGP Error Subcodes" registries.
static const char* subcode_name(ErrorCode code, uint8_t sub) {
  if (sub == 0) return code == ErrorCode::FsmError ? "Unspecified Error" : "Unspecific";
  switch (code) {
    case ErrorCode::MessageHeader:
      switch (sub) {
        case 1:
          return "Connection Not Synchronized";
        case 2:
          return "Bad Message Length";
        case 3:
          return "Bad Message Type";
      }
      break;
    case ErrorCode::OpenMessage:
      switch (sub) {
        case 1:
          return "Unsupported Version Number";
        case 2:
          return "Bad Peer AS";
        case 3:
          return "Bad BGP Identifier";
        case 4:
          return "Unsupported Optional Parameter";
        case 5:
          return "Authentication Failure (deprecated)";
        case 6:
          return "Unacceptable Hold Time";
        case 7:
          return "Unsupported Capability";
        case 8:
        case 9:
        case 10:
          return "Deprecated";
        case 11:
          return "Role Mismatch";
      }
      break;
    case ErrorCode::UpdateMessage:
      switch (sub) {
        case 1:
          return "Malformed Attribute List";
        case 2:
          return "Unrecognized Well-known Attribute";
        case 3:
          return "Missing Well-known Attribute";
        case 4:
          return "Attribute Flags Error";
        case 5:
          return "Attribute Length Error";
        case 6:
          return "Invalid ORIGIN Attribute";
        case 7:
          return "AS Routing Loop (deprecated)";
        case 8:
          return "Invalid NEXT_HOP Attribute";
        case 9:
          return "Optional Attribute Error";
        case 10:
          return "Invalid Network Field";
        case 11:
          return "Malformed AS_PATH";
      }
      break;
    case ErrorCode::HoldTimerExpired:
    case ErrorCode::SendHoldTimerExpired:
      break;
    case ErrorCode::FsmError:
      switch (sub) {
        case 1:
          return "Receive Unexpected Message in OpenSent State";
        case 2:
          return "Receive Unexpected Message in OpenConfirm State";
        case 3:
          return "Receive Unexpected Message in Established State";
      }
      break;
    case ErrorCode::Cease:
      switch (sub) {
        case 1:
          return "Maximum Number of Prefixes Reached";
        case 2:
          return "Administrative Shutdown";
        case 3:
          return "Peer De-configured";
        case 4:
          return "Administrative Reset";
        case 5:
          return "Connection Rejected";
        case 6:
          return "Other Configuration Change";
        case 7:
          return "Connection Collision Resolution";
        case 8:
          return "Out of Resources";
        case 9:
          return "Hard Reset";
        case 10:
          return "BFD Down";
      }
      break;
    case ErrorCode::RouteRefreshMessage:
      if (sub == 1) return "Invalid Message Length";
      break;
  }
  return nullptr;
}

static std::string hex(std::span<const uint8_t> b) {
  std::string s;
  s.reserve(b.size() * 2);
  for (uint8_t c : b) s += fmt::format("{:02x}", c);
  return s;
}

std::string Notification::describe() const {
  std::string out;
  if (const char* c = code_name(code))
    out = c;
  else
    out = fmt::format("Error Code {}", static_cast<unsigned>(code));
  out += '/';
  if (const char* s = subcode_name(code, subcode))
    out += s;
  else
    out += fmt::format("Subcode {}", subcode);
  if (data.empty()) return out;
  // RFC 9003 §2: Cease subcodes 2 and 4 may carry a length octet and a UTF-8 message.
  if (code == ErrorCode::Cease &&
      (subcode == cease::kAdministrativeShutdown || subcode == cease::kAdministrativeReset) &&
      data[0] + 1u <= data.size()) {
    std::string reason;
    for (size_t i = 1; i <= data[0]; ++i) {
      char c = static_cast<char>(data[i]);
      reason += (data[i] < 0x20 || data[i] == 0x7f) ? '?' : c;  // keep logs one line
    }
    return out + " (\"" + reason + "\")";
  }
  return out + " (data " + hex(data) + ")";
}

Notification Notification::shutdown(uint8_t subcode, std::string_view reason) {
  // RFC 9003 §2: "Length: ... The maximum value of the Length field is 255". Cut at a character
  // boundary so that a truncated message is still valid UTF-8.
  size_t n = std::min<size_t>(reason.size(), 255);
  if (n < reason.size())
    while (n > 0 && (static_cast<uint8_t>(reason[n]) & 0xc0) == 0x80) --n;
  Notification m{ErrorCode::Cease, subcode, {}};
  m.data.reserve(n + 1);
  m.data.push_back(static_cast<uint8_t>(n));
  m.data.insert(m.data.end(), reason.begin(), reason.begin() + static_cast<ptrdiff_t>(n));
  return m;
}

// ---- Extended communities (RFC 4360) ---------------------------------------------------------

std::string ExtCommunity::to_string() const {
  const auto& b = bytes;
  auto u16 = [&](size_t i) { return unsigned{b[i]} << 8 | b[i + 1]; };
  auto u32 = [&](size_t i) {
    return uint32_t{b[i]} << 24 | uint32_t{b[i + 1]} << 16 | uint32_t{b[i + 2]} << 8 | b[i + 3];
  };
  // RFC 4360 §4-5: subtype 0x02 route target, 0x03 route origin, for the two-octet AS (0x00),
  // IPv4 address (0x01) and four-octet AS (0x02, RFC 5668) specific types.
  if ((b[1] == 0x02 || b[1] == 0x03) && b[0] <= 0x02) {
    const char* kind = b[1] == 0x02 ? "rt" : "soo";
    switch (b[0]) {
      case 0x00:
        return fmt::format("{}:{}:{}", kind, u16(2), u32(4));
      case 0x01:
        return fmt::format("{}:{}.{}.{}.{}:{}", kind, b[2], b[3], b[4], b[5], u16(6));
      case 0x02:
        return fmt::format("{}:{}:{}", kind, u32(2), u16(6));
    }
  }
  // RFC 9012 §4.1: Encapsulation extended community, transitive opaque subtype 0x0c; the tunnel
  // type is in the last two octets (8 = VXLAN).
  if (b[0] == 0x03 && b[1] == 0x0c) return fmt::format("encap:{}", u16(6));
  // RFC 7432 §7.8: Default Gateway, transitive opaque subtype 0x0d, value reserved.
  if (b[0] == 0x03 && b[1] == 0x0d) return "default-gateway";
  // RFC 7432 §7.5-7.7 and RFC 9135 §8.1: the EVPN type 0x06.
  if (b[0] == 0x06) {
    auto mac = [&] { return MacAddress{{b[2], b[3], b[4], b[5], b[6], b[7]}}.to_string(); };
    switch (b[1]) {
      case 0x00:  // MAC Mobility: flags (low bit sticky), reserved, sequence number
        return fmt::format("mac-mobility:{}{}", u32(4), b[2] & 0x01 ? ":sticky" : "");
      case 0x01:  // ESI Label: flags (low bit single-active), 2 reserved, label
        return fmt::format("esi-label:{}{}", uint32_t{b[5]} << 16 | u16(6),
                           b[2] & 0x01 ? ":single-active" : "");
      case 0x02:
        return "es-import:" + mac();
      case 0x03:
        return "router-mac:" + mac();
    }
  }
  return "0x" + hex(b);
}

// ---- PMSI_TUNNEL (RFC 6514 §5) ----------------------------------------------------------------

PmsiTunnel PmsiTunnel::ingress_replication(uint32_t vni, const IpAddress& endpoint) {
  PmsiTunnel t;
  t.tunnel_type = kIngressReplication;
  t.label = vni & 0xffffff;  // RFC 8365 §5.1.3: the VNI in the whole 24-bit field
  t.tunnel_id.assign(endpoint.bytes().begin(),
                     endpoint.bytes().begin() + static_cast<ptrdiff_t>(endpoint.size()));
  return t;
}

std::optional<IpAddress> PmsiTunnel::endpoint() const {
  if (tunnel_type != kIngressReplication) return std::nullopt;
  if (tunnel_id.size() == 4)
    return IpAddress::v4({tunnel_id[0], tunnel_id[1], tunnel_id[2], tunnel_id[3]});
  if (tunnel_id.size() == 16) {
    std::array<uint8_t, 16> a;
    std::copy(tunnel_id.begin(), tunnel_id.end(), a.begin());
    return IpAddress::v6(a);
  }
  return std::nullopt;
}

// ---- End-of-RIB ------------------------------------------------------------------------------

std::optional<uint32_t> evpn_vni(const EvpnRoute& route, const PathAttributes& attrs) {
  if (const auto* r = std::get_if<EvpnMacIp>(&route.route)) return vni_of_label_field(r->label1);
  if (const auto* r = std::get_if<EvpnIpPrefix>(&route.route)) return vni_of_label_field(r->label);
  if (const auto* r = std::get_if<EvpnEthernetAd>(&route.route))
    return vni_of_label_field(r->label);
  if (std::holds_alternative<EvpnImet>(route.route) && attrs.pmsi_tunnel)
    return vni_of_label_field(attrs.pmsi_tunnel->label);
  return std::nullopt;
}

std::optional<Family> end_of_rib_family(const Update& u) {
  // RFC 4724 §2: "An UPDATE message with no reachable NLRI and empty withdrawn NLRI" (IPv4
  // unicast); "an UPDATE message that contains only the MP_UNREACH_NLRI attribute with no
  // withdrawn routes for that <AFI, SAFI>" (other families).
  if (u.attrs || !u.withdrawn.empty() || !u.nlri.empty() || u.mp_reach) return std::nullopt;
  if (!u.mp_unreach) return kIpv4Unicast;
  if (!u.mp_unreach->withdrawn.empty() || !u.mp_unreach->evpn.empty() || !u.mp_unreach->rtc.empty())
    return std::nullopt;
  return u.mp_unreach->family;
}

}  // namespace isthmus::bgp
