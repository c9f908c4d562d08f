// Typed extended communities (RFC 4360) for EVPN: Route Targets (RFC 4360 §4, RFC 5668) and
// their auto-derivation (RFC 8365 §5.1.2.1), the Encapsulation community (RFC 9012 §4.1, RFC 8365
// §5.1.3), MAC Mobility, ESI Label, ES-Import Route Target (RFC 7432 §7.5-7.7), Default Gateway
// (RFC 7432 §7.8) and Router's MAC (RFC 9135 §8.1). Each type builds an ExtCommunity and reads one
// back (nullopt when the type/subtype octets are not its own). Text forms are
// ExtCommunity::to_string()'s ("rt:65000:100", "mac-mobility:5:sticky", ...).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "bgp/wire/types.h"
#include "core/expected.h"
#include "core/ip.h"

namespace isthmus::bgp {

namespace ext_type {  // high-order type octet, transitive (RFC 4360 §3, RFC 7153)
inline constexpr uint8_t kTwoOctetAs = 0x00;
inline constexpr uint8_t kIpv4 = 0x01;
inline constexpr uint8_t kFourOctetAs = 0x02;  // RFC 5668
inline constexpr uint8_t kOpaque = 0x03;
inline constexpr uint8_t kEvpn = 0x06;  // RFC 7153 §5.2.4
}  // namespace ext_type

namespace ext_subtype {
inline constexpr uint8_t kRouteTarget = 0x02;     // with the AS and IPv4 types
inline constexpr uint8_t kEncapsulation = 0x0c;   // opaque, RFC 9012 §4.1
inline constexpr uint8_t kDefaultGateway = 0x0d;  // opaque, RFC 7432 §7.8
inline constexpr uint8_t kMacMobility = 0x00;     // EVPN
inline constexpr uint8_t kEsiLabel = 0x01;        // EVPN
inline constexpr uint8_t kEsImport = 0x02;        // EVPN
inline constexpr uint8_t kRouterMac = 0x03;       // EVPN, RFC 9135
}  // namespace ext_subtype

// ---- Route Target (RFC 4360 §4, RFC 5668 §2)
// -----------------------------------------------------

ExtCommunity route_target_as2(uint16_t asn, uint32_t value);
ExtCommunity route_target_ipv4(const IpAddress& address, uint16_t value);  // IPv4 address
ExtCommunity route_target_as4(uint32_t asn, uint16_t value);
bool is_route_target(const ExtCommunity& c);
// "65000:100" (2-octet AS), "198.18.0.1:5" (IPv4), "4200000000:7" or "65000L:7" (4-octet AS);
// an optional "rt:" / "RT:" in front.
Expected<ExtCommunity> parse_route_target(std::string_view text);

// RFC 8365 §5.1.2.1: a route target derived from the ASN and the VNI, of the 2-octet AS type. The
// Global Administrator is the ASN (its low two octets for a 4-octet ASN, as FRR 8.4 does:
// `bgp->as & 0xFFFF`); the 4-octet Local Administrator is A (1 bit, 0 = auto-derived), Type
// (3 bits, 1 = VXLAN), D-ID (4 bits, the domain, 0 here) and the 24-bit Service ID (the VNI).
//   Rfc8365: 65000:268435556 for VNI 100 (0x10000064), as FRR derives it with
//            "autort rfc8365-compatible" (EVPN_AUTORT_VXLAN = 0x10000000).
//   Frr:     65000:100 (ASN:VNI, the A/Type/D-ID bits all 0): FRR's default, and what FRR 8.4
//            sent in our capture (RT 65003:100 for VNI 100 in AS 65003).
enum class AutoRtStyle : uint8_t { Frr, Rfc8365 };
ExtCommunity auto_route_target(uint32_t asn, uint32_t vni, AutoRtStyle style = AutoRtStyle::Frr);

// ---- Encapsulation (RFC 9012 §4.1; RFC 8365 §5.1.3) --------------------------------------------

inline constexpr uint16_t kTunnelVxlan = 8;  // RFC 9012 §15.6 (IANA BGP Tunnel Encapsulation Types)

struct Encapsulation {
  uint16_t tunnel_type = kTunnelVxlan;
  ExtCommunity encode() const;
  static std::optional<Encapsulation> decode(const ExtCommunity& c);
  bool operator==(const Encapsulation&) const = default;
};

// ---- EVPN communities (RFC 7432 §7.5-7.8, RFC 9135) --------------------------------------------

// §7.7: Flags (low bit: sticky/static MAC), Reserved, Sequence Number (4 octets). RFC 7432 §15:
// a higher sequence number wins; a sticky MAC does not move.
struct MacMobility {
  bool sticky = false;
  uint32_t sequence = 0;
  ExtCommunity encode() const;
  static std::optional<MacMobility> decode(const ExtCommunity& c);
  bool operator==(const MacMobility&) const = default;
};

// §7.5: Flags (low bit: Single-Active), 2 reserved octets, ESI Label (3 octets, as sent).
struct EsiLabel {
  bool single_active = false;
  uint32_t label = 0;
  ExtCommunity encode() const;
  static std::optional<EsiLabel> decode(const ExtCommunity& c);
  bool operator==(const EsiLabel&) const = default;
};

// §7.6: the 6-octet ES-Import value (a MAC, derived from the ESI of types 1-3).
struct EsImportRouteTarget {
  MacAddress es_import;
  ExtCommunity encode() const;
  static std::optional<EsImportRouteTarget> decode(const ExtCommunity& c);
  bool operator==(const EsImportRouteTarget&) const = default;
};

// RFC 9135 §8.1: the router's MAC for symmetric IRB (inner Ethernet header of routed VXLAN).
struct RouterMac {
  MacAddress mac;
  ExtCommunity encode() const;
  static std::optional<RouterMac> decode(const ExtCommunity& c);
  bool operator==(const RouterMac&) const = default;
};

// §7.8: transitive opaque type, subtype 0x0d; the value is reserved: zero when sent, ignored when
// received.
ExtCommunity default_gateway();
bool is_default_gateway(const ExtCommunity& c);

}  // namespace isthmus::bgp
