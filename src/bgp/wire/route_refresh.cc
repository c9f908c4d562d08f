// ROUTE-REFRESH (RFC 2918 §3) and its subtypes (RFC 7313 §3-5: 0 normal, 1 BoRR, 2 EoRR).
// ORF entries (RFC 5291) after the fixed part of a normal request are not supported and ignored.
#include "bgp/wire/codec.h"
#include "bgp/wire/header.h"

namespace isthmus::bgp {

Expected<RouteRefresh, Notification> decode_route_refresh(std::span<const uint8_t> body) {
  ByteReader r(body);
  auto afi = r.u16();
  auto subtype = r.u8();
  auto safi = r.u8();
  // RFC 7313 §5: "If the length, excluding the fixed-size message header, of the received
  // ROUTE-REFRESH message with Message Subtype 1 and 2 is not 4, then the BGP speaker MUST send a
  // NOTIFICATION message with the Error Code of 'ROUTE-REFRESH Message Error' and the subcode of
  // 'Invalid Message Length'. The Data field of the NOTIFICATION message MUST contain the
  // complete ROUTE-REFRESH message."
  if (!afi || !subtype || !safi || ((*subtype == 1 || *subtype == 2) && body.size() != 4)) {
    Notification n{ErrorCode::RouteRefreshMessage, route_refresh_error::kInvalidMessageLength, {}};
    ByteWriter w(n.data);
    size_t mark = begin_message(MessageType::RouteRefresh, w);
    w.bytes(body.first(std::min(body.size(), kMaxExtendedMessageSize - kHeaderSize)));
    finish_message(mark, w);
    return unexpected(std::move(n));
  }
  // RFC 7313 §5: a subtype other than 0, 1 or 2 "MUST" be ignored: returned as is, the session
  // ignores it.
  return RouteRefresh{Family{static_cast<Afi>(*afi), static_cast<Safi>(*safi)}, *subtype};
}

void encode_route_refresh(const RouteRefresh& m, std::vector<uint8_t>& out) {
  ByteWriter w(out);
  size_t mark = begin_message(MessageType::RouteRefresh, w);
  w.u16(static_cast<uint16_t>(m.family.afi));
  w.u8(m.subtype);
  w.u8(static_cast<uint8_t>(m.family.safi));
  finish_message(mark, w);
}

}  // namespace isthmus::bgp
