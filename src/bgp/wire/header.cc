// The message header (RFC 4271 §4.1, §6.1; RFC 8654 §4 extended messages) and whole-message
// dispatch to the per-message decoders.
#include "bgp/wire/header.h"

#include "bgp/wire/codec.h"

namespace isthmus::bgp {

namespace {

Notification header_fault(uint8_t subcode, std::vector<uint8_t> data = {}) {
  return Notification{ErrorCode::MessageHeader, subcode, std::move(data)};
}

std::vector<uint8_t> u16_bytes(uint16_t v) {
  return {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}

// RFC 4271 §4.2-4.5, RFC 2918 §3: the smallest valid message of each type.
size_t min_length(MessageType t) {
  switch (t) {
    case MessageType::Open:
      return 29;
    case MessageType::Update:
      return 23;
    case MessageType::Notification:
      return 21;
    case MessageType::Keepalive:
      return 19;
    case MessageType::RouteRefresh:
      return 23;
  }
  return kHeaderSize;
}

}  // namespace

Expected<Header, Notification> decode_header(std::span<const uint8_t> bytes,
                                             const CodecOptions& opts) {
  ByteReader r(bytes);
  auto marker = r.bytes(16);
  auto length = r.u16();
  auto type = r.u8();
  if (!marker || !length || !type) return unexpected(header_fault(header_error::kBadMessageLength));
  // RFC 4271 §6.1: "If the Marker field of the message header is not as expected, then a
  // synchronization error has occurred and the Error Subcode MUST be set to Connection Not
  // Synchronized."
  for (uint8_t b : *marker)
    if (b != 0xff) return unexpected(header_fault(header_error::kConnectionNotSynchronized));
  // "If the Type field of the message header is not recognized, then the Error Subcode MUST be
  // set to Bad Message Type. The Data field MUST contain the erroneous Type field."
  if (*type < 1 || *type > 5)
    return unexpected(header_fault(header_error::kBadMessageType, {*type}));
  auto t = static_cast<MessageType>(*type);
  // "If the Length field of the message header is less than 19 or greater than 4096, or if the
  // Length field of an OPEN message is less than the minimum length of the OPEN message, [...]
  // the Error Subcode MUST be set to Bad Message Length. The Data field MUST contain the
  // erroneous Length field." RFC 8654 §4: the extended size never applies to OPEN and KEEPALIVE.
  size_t max = (t == MessageType::Open || t == MessageType::Keepalive) ? kMaxMessageSize
                                                                       : opts.max_message_size();
  bool exact = t == MessageType::Keepalive;
  if (*length < min_length(t) || *length > max || (exact && *length != min_length(t)))
    return unexpected(header_fault(header_error::kBadMessageLength, u16_bytes(*length)));
  return Header{*length, t};
}

Expected<DecodedMessage, Notification> decode_message(std::span<const uint8_t> bytes,
                                                      const CodecOptions& opts) {
  auto h = decode_header(bytes, opts);
  if (!h) return unexpected(std::move(h.error()));
  if (bytes.size() != h->length)
    return unexpected(header_fault(header_error::kBadMessageLength, u16_bytes(h->length)));
  auto body = bytes.subspan(kHeaderSize);
  auto wrap = [](auto&& v) -> Expected<DecodedMessage, Notification> {
    if (!v) return unexpected(std::move(v.error()));
    return DecodedMessage(std::move(*v));
  };
  switch (h->type) {
    case MessageType::Open:
      return wrap(decode_open(body));
    case MessageType::Update:
      return wrap(decode_update(body, opts));
    case MessageType::Notification:
      return wrap(decode_notification(body));
    case MessageType::Keepalive:
      return DecodedMessage(Keepalive{});
    case MessageType::RouteRefresh:
      return wrap(decode_route_refresh(body));
  }
  return unexpected(header_fault(header_error::kBadMessageType, {static_cast<uint8_t>(h->type)}));
}

size_t begin_message(MessageType type, ByteWriter& w) {
  size_t mark = w.size();
  for (int i = 0; i < 16; ++i) w.u8(0xff);
  w.u16(0);
  w.u8(static_cast<uint8_t>(type));
  return mark;
}

void finish_message(size_t mark, ByteWriter& w) {
  w.patch_u16(mark + 16, static_cast<uint16_t>(w.size() - mark));
}

void encode_keepalive(std::vector<uint8_t>& out) {
  ByteWriter w(out);
  finish_message(begin_message(MessageType::Keepalive, w), w);
}

}  // namespace isthmus::bgp
