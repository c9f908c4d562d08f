// BGP message codec: bytes <-> the types of types.h. Pure: no sockets, clocks or logging.
// RFC 4271 §4 and §6 (error handling), RFC 7606 (revised UPDATE error handling), RFC 4760
// (multiprotocol), RFC 6793 (4-octet AS incl. AS4_PATH/AS4_AGGREGATOR with 2-octet peers),
// RFC 5492 (capabilities), RFC 2918/7313 (route refresh), RFC 8654 (extended messages),
// RFC 9003 (shutdown communication), RFC 7432 §7 (EVPN NLRI in MP_REACH/MP_UNREACH, evpn.h),
// RFC 4684 §4 (route target membership NLRI, rtc.h).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "bgp/wire/types.h"
#include "core/expected.h"

namespace isthmus::bgp {

// What the session negotiated that changes how bytes are read and written.
struct CodecOptions {
  bool four_octet_as = true;      // both sides advertised the 4-octet AS capability
  bool extended_message = false;  // both sides advertised extended messages (RFC 8654)
  size_t max_message_size() const {
    return extended_message ? kMaxExtendedMessageSize : kMaxMessageSize;
  }
};

// RFC 7606 §2, weakest first. SessionReset is never returned inside a DecodedUpdate: the decoder
// returns the NOTIFICATION to send instead.
enum class AttrAction : uint8_t { None, AttributeDiscard, TreatAsWithdraw };

struct AttrError {
  uint8_t type = 0;  // attribute type code, 0 when not attribute-specific
  AttrAction action = AttrAction::None;
  std::string reason;  // "ORIGIN: undefined value 7"
};

struct DecodedUpdate {
  // With treat-as-withdraw, every NLRI (IPv4 field and MP_REACH) has been moved to the
  // withdrawn lists and attrs/mp_reach no longer carry routes.
  Update update;
  AttrAction action = AttrAction::None;  // the strongest action taken
  std::vector<AttrError> errors;
};

using DecodedMessage = std::variant<Open, DecodedUpdate, Notification, Keepalive, RouteRefresh>;

struct Header {
  uint16_t length = 0;  // whole message, header included
  MessageType type = MessageType::Keepalive;
};

// RFC 4271 §6.1: marker, length bounds (19..max, and the per-type minimum), known type.
// `bytes` must hold at least kHeaderSize bytes.
Expected<Header, Notification> decode_header(std::span<const uint8_t> bytes,
                                             const CodecOptions& opts);

// A whole message (header included, exactly `length` bytes).
Expected<DecodedMessage, Notification> decode_message(std::span<const uint8_t> bytes,
                                                      const CodecOptions& opts);

// Message bodies (the bytes after the 19-byte header).
Expected<Open, Notification> decode_open(std::span<const uint8_t> body);
Expected<DecodedUpdate, Notification> decode_update(std::span<const uint8_t> body,
                                                    const CodecOptions& opts);
Expected<Notification, Notification> decode_notification(std::span<const uint8_t> body);
Expected<RouteRefresh, Notification> decode_route_refresh(std::span<const uint8_t> body);

// Whole messages, header included, appended to `out`.
void encode_open(const Open& m, std::vector<uint8_t>& out);
void encode_keepalive(std::vector<uint8_t>& out);
void encode_notification(const Notification& m, std::vector<uint8_t>& out);
void encode_route_refresh(const RouteRefresh& m, std::vector<uint8_t>& out);
// One UPDATE exactly as given (tests and tools). Fails if it does not fit one message.
Expected<void> encode_update(const Update& m, const CodecOptions& opts, std::vector<uint8_t>& out);

// The Adj-RIB-Out path: the attributes are encoded once and the prefixes packed into as few
// UPDATEs as the message size allows, appended to `out`. IPv4 unicast uses NEXT_HOP and the
// NLRI field; every other family MP_REACH_NLRI. To a 2-octet peer (!opts.four_octet_as) ASNs
// above 65535 become AS_TRANS with AS4_PATH / AS4_AGGREGATOR added (RFC 6793 §4.2.2).
// Returns the number of messages written.
size_t encode_reach(const PathAttributes& attrs, Family family, std::span<const Prefix> nlri,
                    const CodecOptions& opts, std::vector<uint8_t>& out);
// The octets left for routes (NLRI) in an UPDATE of encode_reach that carries `attrs` (of
// encode_evpn_reach and encode_rtc_reach for those families): a route whose NLRI is longer does
// not fit any message with these attributes for this session. 0 when the attributes alone do
// not fit (RFC 8654 §4: a peer without extended messages then cannot be sent the route).
size_t reach_room(const PathAttributes& attrs, Family family, const CodecOptions& opts);
size_t encode_withdraw(Family family, std::span<const Prefix> withdrawn, const CodecOptions& opts,
                       std::vector<uint8_t>& out);
void encode_end_of_rib(Family family, std::vector<uint8_t>& out);

// The same for L2VPN EVPN (RFC 7432 §7): MP_REACH_NLRI with the next hop of `attrs` (4 octets for
// IPv4, 16 for IPv6: the VTEP, RFC 8365 §5.1.3) and as many routes as fit, then the other
// attributes (PMSI_TUNNEL and the extended communities included); MP_UNREACH_NLRI for
// withdrawals (the routes as given; RFC 7432 gives no special withdrawal encoding). Returns the
// number of messages written.
size_t encode_evpn_reach(const PathAttributes& attrs, std::span<const EvpnRoute> routes,
                         const CodecOptions& opts, std::vector<uint8_t>& out);
size_t encode_evpn_withdraw(std::span<const EvpnRoute> routes, const CodecOptions& opts,
                            std::vector<uint8_t>& out);
// The same for RT-constraint (RFC 4684 §4): MP_REACH_NLRI with the next hop of `attrs`.
size_t encode_rtc_reach(const PathAttributes& attrs, std::span<const RtMembership> routes,
                        const CodecOptions& opts, std::vector<uint8_t>& out);
size_t encode_rtc_withdraw(std::span<const RtMembership> routes, const CodecOptions& opts,
                           std::vector<uint8_t>& out);

}  // namespace isthmus::bgp
