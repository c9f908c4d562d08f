// BGP-4 message and path attribute types (RFC 4271 §4, §5) shared by the codec, the session and
// the RIB. Plain values: no I/O, no hidden state.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "bgp/wire/evpn.h"
#include "bgp/wire/rtc.h"
#include "core/ip.h"

namespace isthmus::bgp {

// ---- Address families (RFC 4760) -------------------------------------------------------------

enum class Afi : uint16_t { Ipv4 = 1, Ipv6 = 2, L2vpn = 25 };
enum class Safi : uint8_t { Unicast = 1, Evpn = 70, RouteTarget = 132 };

struct Family {
  Afi afi = Afi::Ipv4;
  Safi safi = Safi::Unicast;
  auto operator<=>(const Family&) const = default;
  bool operator==(const Family&) const = default;
  // "ipv4-unicast", "ipv6-unicast", "l2vpn-evpn", "ipv4-rtc", or "afi-N/safi-M".
  std::string name() const;
  static std::optional<Family> from_name(std::string_view name);
};

inline constexpr Family kIpv4Unicast{Afi::Ipv4, Safi::Unicast};
inline constexpr Family kIpv6Unicast{Afi::Ipv6, Safi::Unicast};
inline constexpr Family kL2vpnEvpn{Afi::L2vpn, Safi::Evpn};
inline constexpr Family kIpv4RouteTarget{Afi::Ipv4, Safi::RouteTarget};

// ---- Messages (RFC 4271 §4.1) ----------------------------------------------------------------

enum class MessageType : uint8_t {
  Open = 1,
  Update = 2,
  Notification = 3,
  Keepalive = 4,
  RouteRefresh = 5,  // RFC 2918
};

inline constexpr size_t kHeaderSize = 19;
inline constexpr size_t kMaxMessageSize = 4096;
inline constexpr size_t kMaxExtendedMessageSize = 65535;  // RFC 8654
inline constexpr uint16_t kAsTrans = 23456;               // RFC 6793 §9

// ---- NOTIFICATION (RFC 4271 §4.5, §6; RFC 4486; RFC 7313; RFC 9003) --------------------------

enum class ErrorCode : uint8_t {
  MessageHeader = 1,
  OpenMessage = 2,
  UpdateMessage = 3,
  HoldTimerExpired = 4,
  FsmError = 5,
  Cease = 6,
  RouteRefreshMessage = 7,
  SendHoldTimerExpired = 8,  // RFC 9687
};

namespace header_error {
inline constexpr uint8_t kConnectionNotSynchronized = 1;
inline constexpr uint8_t kBadMessageLength = 2;
inline constexpr uint8_t kBadMessageType = 3;
}  // namespace header_error

namespace open_error {
inline constexpr uint8_t kUnsupportedVersion = 1;
inline constexpr uint8_t kBadPeerAs = 2;
inline constexpr uint8_t kBadBgpIdentifier = 3;
inline constexpr uint8_t kUnsupportedOptionalParameter = 4;
inline constexpr uint8_t kUnacceptableHoldTime = 6;
inline constexpr uint8_t kUnsupportedCapability = 7;  // RFC 5492
inline constexpr uint8_t kRoleMismatch = 11;
}  // namespace open_error

namespace update_error {
inline constexpr uint8_t kMalformedAttributeList = 1;
inline constexpr uint8_t kUnrecognizedWellKnownAttribute = 2;
inline constexpr uint8_t kMissingWellKnownAttribute = 3;
inline constexpr uint8_t kAttributeFlagsError = 4;
inline constexpr uint8_t kAttributeLengthError = 5;
inline constexpr uint8_t kInvalidOriginAttribute = 6;
inline constexpr uint8_t kInvalidNextHopAttribute = 8;
inline constexpr uint8_t kOptionalAttributeError = 9;
inline constexpr uint8_t kInvalidNetworkField = 10;
inline constexpr uint8_t kMalformedAsPath = 11;
}  // namespace update_error

namespace fsm_error {
inline constexpr uint8_t kUnspecified = 0;
inline constexpr uint8_t kUnexpectedInOpenSent = 1;  // RFC 6608
inline constexpr uint8_t kUnexpectedInOpenConfirm = 2;
inline constexpr uint8_t kUnexpectedInEstablished = 3;
}  // namespace fsm_error

namespace cease {
inline constexpr uint8_t kMaxPrefixes = 1;  // RFC 4486
inline constexpr uint8_t kAdministrativeShutdown = 2;
inline constexpr uint8_t kPeerDeconfigured = 3;
inline constexpr uint8_t kAdministrativeReset = 4;
inline constexpr uint8_t kConnectionRejected = 5;
inline constexpr uint8_t kOtherConfigurationChange = 6;
inline constexpr uint8_t kConnectionCollisionResolution = 7;
inline constexpr uint8_t kOutOfResources = 8;
inline constexpr uint8_t kHardReset = 9;  // RFC 8538
}  // namespace cease

namespace route_refresh_error {
inline constexpr uint8_t kInvalidMessageLength = 1;  // RFC 7313
}

struct Notification {
  ErrorCode code = ErrorCode::Cease;
  uint8_t subcode = 0;
  std::vector<uint8_t> data;

  // "Cease/Administrative Shutdown (\"maintenance\")", "UPDATE Message Error/Malformed AS_PATH".
  // RFC 9003 shutdown communication is decoded from `data` for Cease subcodes 2 and 4.
  std::string describe() const;
  // RFC 9003: a Cease/Administrative Shutdown or Reset carrying a UTF-8 reason (at most 255 bytes).
  static Notification shutdown(uint8_t subcode, std::string_view reason);
  bool operator==(const Notification&) const = default;
};

// ---- OPEN and capabilities (RFC 4271 §4.2, RFC 5492) -----------------------------------------

enum class CapabilityCode : uint8_t {
  Multiprotocol = 1,              // RFC 4760
  RouteRefresh = 2,               // RFC 2918
  ExtendedMessage = 6,            // RFC 8654
  GracefulRestart = 64,           // RFC 4724
  FourOctetAs = 65,               // RFC 6793
  EnhancedRouteRefresh = 70,      // RFC 7313
  LongLivedGracefulRestart = 71,  // RFC 9494
};

struct GracefulRestartCapability {
  struct PerFamily {
    Family family;
    bool forwarding_preserved = false;
    bool operator==(const PerFamily&) const = default;
  };
  bool restarting = false;    // R bit
  bool notification = false;  // N bit (RFC 8538)
  uint16_t restart_time = 0;  // seconds, 12 bits
  std::vector<PerFamily> families;
  bool operator==(const GracefulRestartCapability&) const = default;
};

// RFC 9494 (LLGR): per family, how long the peer may keep our routes as stale after the Graceful
// Restart Capability's Restart Time (the Long-lived Stale Time, 24 bits, seconds), and whether
// our forwarding state for it was kept (F bit).
struct LongLivedGracefulRestartCapability {
  struct PerFamily {
    Family family;
    bool forwarding_preserved = false;
    uint32_t stale_time = 0;
    bool operator==(const PerFamily&) const = default;
  };
  std::vector<PerFamily> families;
  const PerFamily* find(Family f) const {
    for (const auto& p : families)
      if (p.family == f) return &p;
    return nullptr;
  }
  bool operator==(const LongLivedGracefulRestartCapability&) const = default;
};

struct RawCapability {
  uint8_t code = 0;
  std::vector<uint8_t> value;
  bool operator==(const RawCapability&) const = default;
};

struct Capabilities {
  std::vector<Family> multiprotocol;
  bool route_refresh = false;
  bool enhanced_route_refresh = false;
  bool extended_message = false;
  std::optional<uint32_t> four_octet_as;
  std::optional<GracefulRestartCapability> graceful_restart;
  std::optional<LongLivedGracefulRestartCapability> long_lived_graceful_restart;
  std::vector<RawCapability> unknown;  // kept for `show bgp neighbor`
  bool operator==(const Capabilities&) const = default;
};

struct Open {
  uint8_t version = 4;
  uint16_t my_as = 0;  // AS_TRANS when the real ASN needs four octets
  uint16_t hold_time = 0;
  uint32_t bgp_id = 0;  // host order
  Capabilities caps;
  // The speaker's ASN: the 4-octet AS capability when present, else My Autonomous System.
  uint32_t asn() const { return caps.four_octet_as.value_or(my_as); }
  bool operator==(const Open&) const = default;
};

// ---- ROUTE-REFRESH (RFC 2918, RFC 7313) -------------------------------------------------------

struct RouteRefresh {
  Family family;
  uint8_t subtype = 0;  // 0 normal, 1 BoRR, 2 EoRR (RFC 7313)
  bool operator==(const RouteRefresh&) const = default;
};

struct Keepalive {
  bool operator==(const Keepalive&) const = default;
};

// ---- Path attributes (RFC 4271 §5) ------------------------------------------------------------

namespace attr_flag {
inline constexpr uint8_t kOptional = 0x80;
inline constexpr uint8_t kTransitive = 0x40;
inline constexpr uint8_t kPartial = 0x20;
inline constexpr uint8_t kExtendedLength = 0x10;
}  // namespace attr_flag

enum class AttrType : uint8_t {
  Origin = 1,
  AsPath = 2,
  NextHop = 3,
  MultiExitDisc = 4,
  LocalPref = 5,
  AtomicAggregate = 6,
  Aggregator = 7,
  Communities = 8,        // RFC 1997
  OriginatorId = 9,       // RFC 4456
  ClusterList = 10,       // RFC 4456
  MpReachNlri = 14,       // RFC 4760
  MpUnreachNlri = 15,     // RFC 4760
  ExtCommunities = 16,    // RFC 4360
  As4Path = 17,           // RFC 6793
  As4Aggregator = 18,     // RFC 6793
  PmsiTunnel = 22,        // RFC 6514
  LargeCommunities = 32,  // RFC 8092
};

enum class Origin : uint8_t { Igp = 0, Egp = 1, Incomplete = 2 };

struct AsPathSegment {
  enum class Type : uint8_t { Set = 1, Sequence = 2, ConfedSequence = 3, ConfedSet = 4 };
  Type type = Type::Sequence;
  std::vector<uint32_t> asns;
  auto operator<=>(const AsPathSegment&) const = default;
  bool operator==(const AsPathSegment&) const = default;
};

struct AsPath {
  std::vector<AsPathSegment> segments;

  // RFC 4271 §9.1.2.2 a): an AS_SET counts 1, confederation segments count 0 (RFC 5065 §5.3).
  size_t length() const;
  bool contains(uint32_t asn) const;
  // The AS of the first AS_SEQUENCE segment's first element, if any (RFC 4271 §9.1.2.2 c).
  std::optional<uint32_t> neighbor_as() const;
  // The last AS of the path (the originating AS), if any.
  std::optional<uint32_t> origin_as() const;
  // RFC 4271 §5.1.2: prepend to the leading AS_SEQUENCE, opening a new one when needed (255 max).
  void prepend(uint32_t asn);
  // "65001 65002 {65003,65004}"
  std::string to_string() const;
  auto operator<=>(const AsPath&) const = default;
  bool operator==(const AsPath&) const = default;
};

struct Aggregator {
  uint32_t asn = 0;
  IpAddress address;  // IPv4
  auto operator<=>(const Aggregator&) const = default;
  bool operator==(const Aggregator&) const = default;
};

// RFC 1997 community as one 32-bit value (ASN:value).
using Community = uint32_t;
inline constexpr Community kNoExport = 0xFFFFFF01;
inline constexpr Community kNoAdvertise = 0xFFFFFF02;
inline constexpr Community kNoExportSubconfed = 0xFFFFFF03;
// RFC 9494: LLGR_STALE marks a route kept as stale beyond the Restart Time (least preferred,
// advertised only to peers that sent the LLGR capability); NO_LLGR, a route never to be kept so.
inline constexpr Community kLlgrStale = 0xFFFF0006;
inline constexpr Community kNoLlgr = 0xFFFF0007;

// RFC 4360 extended community: 8 raw octets (type, subtype, value).
struct ExtCommunity {
  std::array<uint8_t, 8> bytes{};
  uint8_t type() const { return bytes[0]; }
  uint8_t subtype() const { return bytes[1]; }
  // "rt:65000:100", "soo:198.18.0.1:5", "encap:8", the EVPN ones of RFC 7432 §7.5-7.8 and
  // RFC 9135 ("mac-mobility:5", "mac-mobility:0:sticky", "esi-label:100",
  // "esi-label:100:single-active", "es-import:02:00:00:00:aa:01", "default-gateway",
  // "router-mac:02:00:00:00:00:fe"), or hex for types this code does not name.
  std::string to_string() const;
  auto operator<=>(const ExtCommunity&) const = default;
  bool operator==(const ExtCommunity&) const = default;
};

struct LargeCommunity {
  uint32_t global = 0, local1 = 0, local2 = 0;
  auto operator<=>(const LargeCommunity&) const = default;
  bool operator==(const LargeCommunity&) const = default;
};

// An attribute this code does not interpret. Optional transitive ones are passed on with the
// Partial bit set (RFC 4271 §5); optional non-transitive ones are dropped on receipt.
struct UnknownAttribute {
  uint8_t flags = 0;
  uint8_t type = 0;
  std::vector<uint8_t> value;
  auto operator<=>(const UnknownAttribute&) const = default;
  bool operator==(const UnknownAttribute&) const = default;
};

// RFC 6514 §5 PMSI_TUNNEL (optional transitive, type 22): how BUM traffic reaches the originator
// of an EVPN type-3 route (RFC 7432 §11.2); with VXLAN ingress replication (RFC 8365 §5.1.3) the
// label is the VNI and the tunnel identifier the VTEP address.
struct PmsiTunnel {
  static constexpr uint8_t kLeafInfoRequired = 0x01;  // RFC 6514 §5 flag
  static constexpr uint8_t kIngressReplication = 6;   // RFC 6514 §5 tunnel type

  uint8_t flags = 0;
  uint8_t tunnel_type = kIngressReplication;
  uint32_t label = 0;              // the 3-octet MPLS Label field as sent (24 bits)
  std::vector<uint8_t> tunnel_id;  // as sent; 4 or 16 octets for ingress replication

  static PmsiTunnel ingress_replication(uint32_t vni, const IpAddress& endpoint);
  // The tunnel endpoint of ingress replication (tunnel type 6 with a 4- or 16-octet identifier).
  std::optional<IpAddress> endpoint() const;
  auto operator<=>(const PmsiTunnel&) const = default;
  bool operator==(const PmsiTunnel&) const = default;
};

// The attributes of a path, with MP_REACH/MP_UNREACH taken out: the next hop of any family is
// normalised into `next_hop` (+ `link_local_next_hop` for IPv6, RFC 2545 §3). This is what the
// RIB interns and compares.
struct PathAttributes {
  Origin origin = Origin::Incomplete;
  AsPath as_path;
  IpAddress next_hop;                            // NEXT_HOP or the MP_REACH next hop
  std::optional<IpAddress> link_local_next_hop;  // RFC 2545: second MP_REACH next hop
  std::optional<uint32_t> med;
  std::optional<uint32_t> local_pref;
  bool atomic_aggregate = false;
  std::optional<Aggregator> aggregator;
  std::vector<Community> communities;
  std::optional<uint32_t> originator_id;  // host order
  std::vector<uint32_t> cluster_list;     // host order
  std::vector<ExtCommunity> ext_communities;
  std::vector<LargeCommunity> large_communities;
  std::vector<UnknownAttribute> unknown;
  std::optional<PmsiTunnel> pmsi_tunnel = {};  // RFC 6514 §5 (EVPN type-3 routes)
  // Not an attribute, never encoded as one: the RIB keeps the non-key NLRI fields of an EVPN
  // path (labels, ESI, gateway) here so that they are interned with the attributes.
  std::optional<EvpnNlriData> evpn_nlri = {};

  auto operator<=>(const PathAttributes&) const = default;
  bool operator==(const PathAttributes&) const = default;
};

// The VNI an EVPN route is about, with VXLAN (RFC 8365 §5.1.3): the label field of types 1, 2
// and 5 (`route`'s Label1), the PMSI_TUNNEL label of type 3 (nullopt without PMSI_TUNNEL); type 4
// and unknown types have none. One rule for `show bgp l2vpn evpn vni` and policy `vni:` terms.
std::optional<uint32_t> evpn_vni(const EvpnRoute& route, const PathAttributes& attrs);

// ---- UPDATE (RFC 4271 §4.3, RFC 4760 §3-4) -----------------------------------------------------

struct MpReach {
  Family family;
  // The next hop(s) as sent: one address, or for IPv6 a global and a link-local (RFC 2545 §3).
  std::vector<IpAddress> next_hops;
  std::vector<Prefix> nlri;            // unicast families
  std::vector<EvpnRoute> evpn = {};    // L2VPN EVPN (RFC 7432 §7)
  std::vector<RtMembership> rtc = {};  // IPv4 RT-constraint (RFC 4684 §4)
  bool operator==(const MpReach&) const = default;
};

struct MpUnreach {
  Family family;
  std::vector<Prefix> withdrawn;       // unicast families
  std::vector<EvpnRoute> evpn = {};    // L2VPN EVPN (RFC 7432 §7)
  std::vector<RtMembership> rtc = {};  // IPv4 RT-constraint (RFC 4684 §4)
  bool operator==(const MpUnreach&) const = default;
};

struct Update {
  std::vector<Prefix> withdrawn;  // IPv4 unicast Withdrawn Routes field
  // Present when the UPDATE carries path attributes other than MP_UNREACH_NLRI (a withdraw-only
  // UPDATE has none). For IPv6, attrs.next_hop comes from MP_REACH and is also in
  // mp_reach->next_hops; with both the NLRI field and MP_REACH in use it is NEXT_HOP's.
  std::optional<PathAttributes> attrs;
  std::vector<Prefix> nlri;  // IPv4 unicast NLRI field
  std::optional<MpReach> mp_reach;
  std::optional<MpUnreach> mp_unreach;
  bool operator==(const Update&) const = default;
};

// RFC 4724 §2: End-of-RIB is an UPDATE with nothing in it (IPv4 unicast) or only an empty
// MP_UNREACH_NLRI (other families).
std::optional<Family> end_of_rib_family(const Update& u);

using Message = std::variant<Open, Update, Notification, Keepalive, RouteRefresh>;

}  // namespace isthmus::bgp
