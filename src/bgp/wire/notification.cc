// NOTIFICATION (RFC 4271 §4.5): error code, subcode and data, decoded and encoded as they are.
// The meaning of the data (RFC 9003 shutdown communication) is for Notification::describe().
#include "bgp/wire/codec.h"
#include "bgp/wire/header.h"

namespace isthmus::bgp {

Expected<Notification, Notification> decode_notification(std::span<const uint8_t> body) {
  ByteReader r(body);
  auto code = r.u8();
  auto subcode = r.u8();
  if (!subcode) {
    // RFC 4271 §6.1: shorter than the minimum NOTIFICATION is a Bad Message Length.
    uint16_t len = static_cast<uint16_t>(kHeaderSize + body.size());
    return unexpected(Notification{ErrorCode::MessageHeader,
                                   header_error::kBadMessageLength,
                                   {static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)}});
  }
  // Unknown codes are kept as received: a NOTIFICATION is never answered (RFC 4271 §6.4).
  auto rest = r.rest();
  return Notification{static_cast<ErrorCode>(*code), *subcode, {rest.begin(), rest.end()}};
}

void encode_notification(const Notification& m, std::vector<uint8_t>& out) {
  ByteWriter w(out);
  size_t mark = begin_message(MessageType::Notification, w);
  w.u8(static_cast<uint8_t>(m.code));
  w.u8(m.subcode);
  // The data is cut so that the message fits 4096 octets (a NOTIFICATION may be sent before
  // extended messages are negotiated).
  size_t room = kMaxMessageSize - kHeaderSize - 2;
  w.bytes(std::span<const uint8_t>(m.data).first(std::min(room, m.data.size())));
  finish_message(mark, w);
}

}  // namespace isthmus::bgp
