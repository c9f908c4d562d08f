// EVPN NLRI (AFI 25, SAFI 70): RFC 7432 §7.1-7.4 (route types 1-4), RFC 9136 §3 (type 5), with
// the Route Distinguisher of RFC 4364 §4.2 and the Ethernet Segment Identifier of RFC 7432 §5.
// Pure values and a bounded codec; the route key that the RIB uses per RFC 7432 §7.1-7.4 and
// RFC 9136 §3.2. Route types other than 1-5 are kept opaque (RFC 7606 §5.4: the receiver discards
// them; that is the RIB's decision, the codec only carries them). Not covered: the route types of
// RFC 9251 (6-8) and RFC 9572 (9-11), which stay opaque.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/bytes.h"
#include "core/expected.h"
#include "core/ip.h"

namespace isthmus::bgp {

// ---- Route Distinguisher (RFC 4364 §4.2)
// ----------------------------------------------------------

struct RouteDistinguisher {
  std::array<uint8_t, 8> bytes{};

  uint16_t type() const { return static_cast<uint16_t>(bytes[0] << 8 | bytes[1]); }
  // Type 0: 2-octet ASN, 4-octet assigned number.
  static RouteDistinguisher as2(uint16_t asn, uint32_t assigned);
  // Type 1: IPv4 address, 2-octet assigned number (`address` must be IPv4).
  static RouteDistinguisher ipv4(const IpAddress& address, uint16_t assigned);
  // Type 2: 4-octet ASN, 2-octet assigned number.
  static RouteDistinguisher as4(uint32_t asn, uint16_t assigned);

  // "65000:100" (type 0), "198.18.0.1:5" (type 1), "4200000000:7" (type 2; an ASN that would fit
  // two octets gets an "L" suffix, "65000L:7", so that parse() gives the type back), other types
  // "type-N:" and the six value octets in hex.
  std::string to_string() const;
  // The forms to_string() prints for types 0-2: ASN <= 65535 gives type 0 (assigned up to
  // 4294967295), a larger ASN or an "L" suffix type 2 (assigned up to 65535), a dotted IPv4
  // address type 1 (assigned up to 65535).
  static Expected<RouteDistinguisher> parse(std::string_view text);

  auto operator<=>(const RouteDistinguisher&) const = default;
  bool operator==(const RouteDistinguisher&) const = default;
};

// ---- Ethernet Segment Identifier (RFC 7432 §5)
// ----------------------------------------------------

struct Esi {
  std::array<uint8_t, 10> bytes{};

  uint8_t type() const { return bytes[0]; }
  // RFC 7432 §5: all zero means a single-homed site.
  bool is_zero() const;
  // RFC 7432 §5 types 0-5; the value octets the RFC leaves over are zero.
  static Esi arbitrary(const std::array<uint8_t, 9>& value);                 // type 0
  static Esi lacp(const MacAddress& system_mac, uint16_t port_key);          // type 1
  static Esi mstp(const MacAddress& root_bridge, uint16_t priority);         // type 2
  static Esi mac(const MacAddress& system_mac, uint32_t discriminator);      // type 3, 24 bits
  static Esi router_id(const IpAddress& router_id, uint32_t discriminator);  // type 4 (IPv4)
  static Esi as(uint32_t asn, uint32_t discriminator);                       // type 5

  // "00:11:22:33:44:55:66:77:88:99": the ten octets, type first.
  std::string to_string() const;
  // Type-aware: "single-homed", "arbitrary 11:22:...:99", "lacp 02:00:00:00:aa:01 key 7",
  // "mstp <mac> priority N", "mac <mac> discriminator N", "router-id <ip> discriminator N",
  // "as <asn> discriminator N", "type-N <hex>" for types 6-255.
  std::string describe() const;
  // The to_string() form (ten hex octets separated by ':'), or "0" / "single-homed" for all zero.
  static Expected<Esi> parse(std::string_view text);

  auto operator<=>(const Esi&) const = default;
  bool operator==(const Esi&) const = default;
};

// ---- MPLS Label fields
// -----------------------------------------------------------------------------
//
// RFC 7432 §7 carries labels in 3-octet fields, "where the high-order 20 bits contain the label
// value". RFC 8365 §5.1.3: with VXLAN "the MPLS Label1 field ... is used to carry the VNI ... the
// entire 24-bit field". FRR 8.4 and GoBGP 3.10 both put the VNI there unshifted (captured: VNI 100
// is 00 00 64 in the NLRI and in PMSI_TUNNEL). The codec keeps the 24 bits as sent; these helpers
// read them either way.
inline constexpr uint32_t kMaxLabelField = 0xffffff;
inline uint32_t vni_of_label_field(uint32_t field) { return field & kMaxLabelField; }
inline uint32_t mpls_label_of_label_field(uint32_t field) { return (field & kMaxLabelField) >> 4; }
// A 20-bit MPLS label as a label field, bottom of stack set (RFC 3032 §2.1).
inline uint32_t label_field_of_mpls_label(uint32_t label) { return (label & 0xfffff) << 4 | 1; }

// RFC 7432 §8.2.1: the Ethernet Tag of a per-ES Ethernet A-D route (MAX-ET).
inline constexpr uint32_t kMaxEthernetTag = 0xffffffff;

// ---- Routes
// ----------------------------------------------------------------------------------------

enum class EvpnRouteType : uint8_t {
  EthernetAd = 1,       // RFC 7432 §7.1
  MacIp = 2,            // RFC 7432 §7.2
  Imet = 3,             // RFC 7432 §7.3 Inclusive Multicast Ethernet Tag
  EthernetSegment = 4,  // RFC 7432 §7.4
  IpPrefix = 5,         // RFC 9136 §3.1
};

// Type 1, 25 octets: RD, ESI, Ethernet Tag ID, MPLS Label.
struct EvpnEthernetAd {
  RouteDistinguisher rd;
  Esi esi;
  uint32_t ethernet_tag = 0;
  uint32_t label = 0;  // 24 bits as sent
  auto operator<=>(const EvpnEthernetAd&) const = default;
  bool operator==(const EvpnEthernetAd&) const = default;
};

// Type 2, 33-52 octets: RD, ESI, Ethernet Tag ID, MAC Address Length (48), MAC, IP Address Length
// (0, 32 or 128), IP, MPLS Label1, optional MPLS Label2.
struct EvpnMacIp {
  RouteDistinguisher rd;
  Esi esi;
  uint32_t ethernet_tag = 0;
  MacAddress mac;
  std::optional<IpAddress> ip;
  uint32_t label1 = 0;             // the L2 VNI with VXLAN
  std::optional<uint32_t> label2;  // the L3 VNI (RFC 9135 §5.1) when present
  auto operator<=>(const EvpnMacIp&) const = default;
  bool operator==(const EvpnMacIp&) const = default;
};

// Type 3, 17 or 29 octets: RD, Ethernet Tag ID, IP Address Length (32 or 128), Originating
// Router's IP Address. The tunnel (and the VNI) comes in PMSI_TUNNEL (RFC 7432 §11.2).
struct EvpnImet {
  RouteDistinguisher rd;
  uint32_t ethernet_tag = 0;
  IpAddress originator;
  auto operator<=>(const EvpnImet&) const = default;
  bool operator==(const EvpnImet&) const = default;
};

// Type 4, 23 or 35 octets: RD, ESI, IP Address Length (32 or 128), Originating Router's IP.
struct EvpnEthernetSegment {
  RouteDistinguisher rd;
  Esi esi;
  IpAddress originator;
  auto operator<=>(const EvpnEthernetSegment&) const = default;
  bool operator==(const EvpnEthernetSegment&) const = default;
};

// Type 5, 34 (IPv4) or 58 (IPv6) octets: RD, ESI, Ethernet Tag ID, IP Prefix Length, IP Prefix,
// GW IP Address (same family; zero when unused), MPLS Label. RFC 9136 §3.1: the family follows
// from the route length, not from the prefix length.
struct EvpnIpPrefix {
  RouteDistinguisher rd;
  Esi esi;
  uint32_t ethernet_tag = 0;
  Prefix prefix;
  IpAddress gateway;
  uint32_t label = 0;  // the L3 VNI with VXLAN
  auto operator<=>(const EvpnIpPrefix&) const = default;
  bool operator==(const EvpnIpPrefix&) const = default;
};

// Any other route type, value kept as sent (at most 255 octets).
struct EvpnUnknownRoute {
  uint8_t type = 0;
  std::vector<uint8_t> value;
  auto operator<=>(const EvpnUnknownRoute&) const = default;
  bool operator==(const EvpnUnknownRoute&) const = default;
};

struct EvpnRoute {
  std::variant<EvpnEthernetAd, EvpnMacIp, EvpnImet, EvpnEthernetSegment, EvpnIpPrefix,
               EvpnUnknownRoute>
      route;

  // The Route Type octet.
  uint8_t type() const;
  bool known() const { return !std::holds_alternative<EvpnUnknownRoute>(route); }
  // Every known type starts with an RD; nullptr for an unknown type.
  const RouteDistinguisher* rd() const;
  // The key fields in FRR's bracket style, RD first:
  // "[2]:[65000:100]:[0]:[48]:[02:00:00:00:00:01]:[32]:[100.64.0.1]",
  // "[3]:[198.18.0.1:2]:[0]:[32]:[198.18.0.1]", "[5]:[65000:5]:[0]:[24]:[100.64.10.0]",
  // "[1]:[rd]:[esi]:[tag]", "[4]:[rd]:[esi]:[32]:[ip]", "[9]:[<hex>]" for unknown types.
  std::string to_string() const;
  // to_string() plus the fields that are not part of the key: ESI, labels, gateway.
  std::string describe() const;

  auto operator<=>(const EvpnRoute&) const = default;
  bool operator==(const EvpnRoute&) const = default;
};

// ---- Codec
// -----------------------------------------------------------------------------------------

// Reads one EVPN NLRI (RFC 7432 §7: Route Type, Length, Route Type specific) from `r` and moves
// past it. Errors name the route type, the field and the octets: "EVPN MAC/IP Advertisement route
// at offset 0: IP Address Length 24 (must be 0, 32 or 128)". A length that does not fit its type
// or runs past `r`, a MAC Address Length other than 48, an IP length other than 32/128 (0 too for
// type 2), an IPv4 prefix longer than 32 (128 for IPv6) are errors: RFC 7606 §5.3 asks for
// session reset (or AFI/SAFI disable) when NLRI cannot be parsed. An unknown Route Type is no
// error: it comes back as EvpnUnknownRoute.
Expected<EvpnRoute, std::string> decode_evpn_nlri(ByteReader& r);
// Every NLRI of an MP_REACH_NLRI / MP_UNREACH_NLRI field, appended to `out`.
Expected<void, std::string> decode_evpn_nlris(ByteReader r, std::vector<EvpnRoute>& out);

// Octets encode_evpn_nlri() writes (type and length octets included).
size_t evpn_nlri_wire_size(const EvpnRoute& route);
// Writes one NLRI. A type 5 gateway of the other family is written as zero; an unknown route
// whose value exceeds 255 octets cannot be written (BUG, nothing written).
void encode_evpn_nlri(const EvpnRoute& route, ByteWriter& w);

// ---- Route key
// ---------------------------------------------------------------------------------------

// What identifies an EVPN route for BGP processing, as bytes: the Route Type, the RD and the
// fields each RFC names as "part of the prefix":
//   type 1 (RFC 7432 §7.1): ESI, Ethernet Tag ID (not the label);
//   type 2 (§7.2): Ethernet Tag ID, MAC, IP length and IP (not the ESI, not the labels);
//   type 3 (§7.3): Ethernet Tag ID, IP length, originating IP;
//   type 4 (§7.4): ESI, IP length, originating IP;
//   type 5 (RFC 9136 §3.2): Ethernet Tag ID, IP prefix length, IP prefix (not the ESI, gateway or
//   label), with the prefix's family (0.0.0.0/0 and ::/0 differ).
// Compact (40 octets, no heap), compared octet by octet (so routes of one type and RD sort
// together) and hashable.
class EvpnKey {
 public:
  static constexpr size_t kCapacity = 39;

  std::span<const uint8_t> bytes() const { return {bytes_.data(), size_}; }
  EvpnRouteType route_type() const { return static_cast<EvpnRouteType>(bytes_[0]); }

  // Unused octets stay zero, so comparing the arrays (then the sizes) orders like comparing the
  // byte strings.
  auto operator<=>(const EvpnKey&) const = default;
  bool operator==(const EvpnKey&) const = default;

 private:
  friend std::optional<EvpnKey> evpn_key(const EvpnRoute& route);
  std::array<uint8_t, kCapacity> bytes_{};
  uint8_t size_ = 0;
};

// The key of a route of types 1-5; nullopt for an unknown type (RFC 7606 §5.4: not a route to
// process).
std::optional<EvpnKey> evpn_key(const EvpnRoute& route);

// The NLRI fields of a route that are not part of its key: what one path of the key says that
// another path of the same key may say differently (another label, another ESI). The RIB keeps
// them with the path's attributes (PathAttributes::evpn_nlri), so that they are interned.
struct EvpnNlriData {
  Esi esi;                         // types 2 and 5 (types 1 and 4 have it in the key)
  uint32_t label1 = 0;             // types 1, 2 and 5: the label field (the VNI with VXLAN)
  std::optional<uint32_t> label2;  // type 2
  IpAddress gateway;               // type 5
  auto operator<=>(const EvpnNlriData&) const = default;
  bool operator==(const EvpnNlriData&) const = default;
};
EvpnNlriData evpn_nlri_data(const EvpnRoute& route);
// The route back from its key bytes (as evpn_key() made them) and the other fields. nullopt when
// the bytes are no such key.
std::optional<EvpnRoute> evpn_route(std::span<const uint8_t> key, const EvpnNlriData& data);

}  // namespace isthmus::bgp

template <>
struct std::hash<isthmus::bgp::EvpnKey> {
  size_t operator()(const isthmus::bgp::EvpnKey& k) const noexcept {
    auto b = k.bytes();
    return isthmus::hash_bytes(b.data(), b.size());
  }
};
