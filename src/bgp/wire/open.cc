// OPEN (RFC 4271 §4.2, §6.2) with optional parameters (RFC 5492 capabilities, RFC 9072 extended
// optional parameters length) and the capabilities of types.h: multiprotocol (RFC 4760 §8), route
// refresh (RFC 2918), extended message (RFC 8654), graceful restart (RFC 4724 §3, RFC 8538 N
// bit), long-lived graceful restart (RFC 9494), 4-octet AS (RFC 6793 §3), enhanced route
// refresh (RFC 7313). A known capability with a malformed value is kept in `unknown`, unread,
// rather than failing the session. Peer AS checks and capability negotiation belong to the
// session.
#include <fmt/format.h>

#include "bgp/wire/codec.h"
#include "bgp/wire/header.h"

namespace isthmus::bgp {

namespace {

constexpr uint8_t kCapabilitiesParameter = 2;  // RFC 5492 §4
constexpr uint8_t kExtendedParameters = 255;   // RFC 9072 §2

Unexpected<Notification> open_fault(uint8_t subcode, std::vector<uint8_t> data = {}) {
  return unexpected(Notification{ErrorCode::OpenMessage, subcode, std::move(data)});
}

uint8_t cap_code(CapabilityCode c) { return static_cast<uint8_t>(c); }

// Reads one capability into `caps`. Returns false when the value does not have the layout of its
// code, so that the caller keeps it as a raw capability.
bool decode_capability(uint8_t code, ByteReader v, Capabilities& caps) {
  switch (static_cast<CapabilityCode>(code)) {
    case CapabilityCode::Multiprotocol: {
      // RFC 4760 §8: AFI (2), reserved (1), SAFI (1).
      if (v.remaining() != 4) return false;
      auto afi = *v.u16();
      v.skip(1);
      caps.multiprotocol.push_back(Family{static_cast<Afi>(afi), static_cast<Safi>(*v.u8())});
      return true;
    }
    case CapabilityCode::RouteRefresh:
      if (!v.empty()) return false;
      caps.route_refresh = true;
      return true;
    case CapabilityCode::ExtendedMessage:
      if (!v.empty()) return false;
      caps.extended_message = true;
      return true;
    case CapabilityCode::EnhancedRouteRefresh:
      if (!v.empty()) return false;
      caps.enhanced_route_refresh = true;
      return true;
    case CapabilityCode::FourOctetAs:
      if (v.remaining() != 4) return false;
      caps.four_octet_as = *v.u32();
      return true;
    case CapabilityCode::GracefulRestart: {
      // RFC 4724 §3: Restart Flags (4 bits: R, then RFC 8538's N) and Restart Time (12 bits),
      // then per family AFI (2), SAFI (1) and Flags for Address Family (bit 0: F).
      if (v.remaining() < 2 || (v.remaining() - 2) % 4 != 0) return false;
      GracefulRestartCapability gr;
      uint16_t head = *v.u16();
      gr.restarting = head & 0x8000;
      gr.notification = head & 0x4000;
      gr.restart_time = head & 0x0fff;
      while (!v.empty()) {
        auto afi = *v.u16();
        auto safi = *v.u8();
        auto flags = *v.u8();
        gr.families.push_back(
            {Family{static_cast<Afi>(afi), static_cast<Safi>(safi)}, (flags & 0x80) != 0});
      }
      caps.graceful_restart = std::move(gr);
      return true;
    }
    case CapabilityCode::LongLivedGracefulRestart: {
      // RFC 9494: per family AFI (2), SAFI (1), Flags (1, bit 0: F) and the Long-lived Stale
      // Time (3), seconds.
      if (v.remaining() % 7 != 0) return false;
      LongLivedGracefulRestartCapability llgr;
      while (!v.empty()) {
        auto afi = *v.u16();
        auto safi = *v.u8();
        auto flags = *v.u8();
        uint32_t time = static_cast<uint32_t>(*v.u8()) << 16;
        time |= *v.u16();
        llgr.families.push_back(
            {Family{static_cast<Afi>(afi), static_cast<Safi>(safi)}, (flags & 0x80) != 0, time});
      }
      caps.long_lived_graceful_restart = std::move(llgr);
      return true;
    }
  }
  return false;
}

// RFC 5492 §4: a Capabilities parameter holds one or more <code, length, value> triples.
Expected<void, Notification> decode_capabilities(ByteReader r, Capabilities& caps) {
  while (!r.empty()) {
    auto code = r.u8();
    auto len = r.u8();
    auto value = len ? r.take(*len) : std::nullopt;
    // RFC 4271 §6.2: "If one of the Optional Parameters in the OPEN message is recognized, but is
    // malformed, then the Error Subcode MUST be set to 0 (Unspecific)."
    if (!value) return open_fault(0);
    if (!decode_capability(*code, *value, caps)) {
      auto raw = value->rest();
      caps.unknown.push_back(RawCapability{*code, {raw.begin(), raw.end()}});
    }
  }
  return {};
}

}  // namespace

Expected<Open, Notification> decode_open(std::span<const uint8_t> body) {
  ByteReader r(body);
  auto version = r.u8();
  auto my_as = r.u16();
  auto hold_time = r.u16();
  auto bgp_id = r.u32();
  auto opt_len = r.u8();
  if (!version || !my_as || !hold_time || !bgp_id || !opt_len) {
    uint16_t len = static_cast<uint16_t>(kHeaderSize + body.size());
    return unexpected(Notification{ErrorCode::MessageHeader,
                                   header_error::kBadMessageLength,
                                   {static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)}});
  }
  // RFC 4271 §6.2: "If the version number in the Version field of the received OPEN message is
  // not supported, then the Error Subcode MUST be set to Unsupported Version Number. The Data
  // field is a 2-octet unsigned integer, which indicates the largest, locally-supported version
  // number less than the version the remote BGP peer bid". We only speak 4.
  if (*version != 4) return open_fault(open_error::kUnsupportedVersion, {0, 4});
  // "If the Hold Time field of the OPEN message is unacceptable, then the Error Subcode MUST be
  // set to Unacceptable Hold Time. An implementation MUST reject Hold Time values of one or two
  // seconds."
  if (*hold_time == 1 || *hold_time == 2) return open_fault(open_error::kUnacceptableHoldTime);
  // RFC 6286 §2.2: the BGP Identifier is "a non-zero 4-octet unsigned integer".
  if (*bgp_id == 0) return open_fault(open_error::kBadBgpIdentifier);

  Open m;
  m.version = *version;
  m.my_as = *my_as;
  m.hold_time = *hold_time;
  m.bgp_id = *bgp_id;

  // RFC 9072 §2: Non-Ext OP Len 255 followed by Non-Ext OP Type 255 announces a 2-octet
  // Extended Opt. Parm. Length, and 2-octet parameter lengths.
  bool extended = false;
  size_t params_len = *opt_len;
  if (*opt_len == kExtendedParameters && r.rest().size() >= 1 &&
      r.rest()[0] == kExtendedParameters) {
    r.skip(1);
    auto ext_len = r.u16();
    if (!ext_len) return open_fault(0);
    extended = true;
    params_len = *ext_len;
  }
  auto params = r.take(params_len);
  // The optional parameters must fill the rest of the message exactly.
  if (!params || !r.empty()) return open_fault(0);
  while (!params->empty()) {
    auto type = params->u8();
    auto len = extended ? params->u16() : std::optional<uint16_t>(params->u8());
    auto value = len ? params->take(*len) : std::nullopt;
    if (!value) return open_fault(0);
    // RFC 4271 §6.2: "If one of the Optional Parameters in the OPEN message is not recognized,
    // then the Error Subcode MUST be set to Unsupported Optional Parameters."
    if (*type != kCapabilitiesParameter)
      return open_fault(open_error::kUnsupportedOptionalParameter);
    if (auto ok = decode_capabilities(*value, m.caps); !ok)
      return unexpected(std::move(ok.error()));
  }
  return m;
}

namespace {

// One capability as its own <code, length, value> triple.
void write_capability(uint8_t code, std::span<const uint8_t> value, ByteWriter& w) {
  w.u8(code);
  w.u8(static_cast<uint8_t>(value.size()));
  w.bytes(value);
}

void write_capabilities(const Capabilities& c, ByteWriter& w) {
  uint8_t buf[4];
  for (const auto& f : c.multiprotocol) {
    auto afi = static_cast<uint16_t>(f.afi);
    buf[0] = static_cast<uint8_t>(afi >> 8), buf[1] = static_cast<uint8_t>(afi), buf[2] = 0;
    buf[3] = static_cast<uint8_t>(f.safi);
    write_capability(cap_code(CapabilityCode::Multiprotocol), buf, w);
  }
  if (c.route_refresh) write_capability(cap_code(CapabilityCode::RouteRefresh), {}, w);
  if (c.extended_message) write_capability(cap_code(CapabilityCode::ExtendedMessage), {}, w);
  if (c.graceful_restart) {
    const auto& gr = *c.graceful_restart;
    size_t n = std::min<size_t>(gr.families.size(), (255 - 2) / 4);
    w.u8(cap_code(CapabilityCode::GracefulRestart));
    w.u8(static_cast<uint8_t>(2 + 4 * n));
    w.u16(static_cast<uint16_t>((gr.restarting ? 0x8000 : 0) | (gr.notification ? 0x4000 : 0) |
                                (gr.restart_time & 0x0fff)));
    for (size_t i = 0; i < n; ++i) {
      w.u16(static_cast<uint16_t>(gr.families[i].family.afi));
      w.u8(static_cast<uint8_t>(gr.families[i].family.safi));
      w.u8(gr.families[i].forwarding_preserved ? 0x80 : 0);
    }
  }
  if (c.long_lived_graceful_restart) {
    const auto& llgr = *c.long_lived_graceful_restart;
    size_t n = std::min<size_t>(llgr.families.size(), 255 / 7);
    w.u8(cap_code(CapabilityCode::LongLivedGracefulRestart));
    w.u8(static_cast<uint8_t>(7 * n));
    for (size_t i = 0; i < n; ++i) {
      const auto& f = llgr.families[i];
      w.u16(static_cast<uint16_t>(f.family.afi));
      w.u8(static_cast<uint8_t>(f.family.safi));
      w.u8(f.forwarding_preserved ? 0x80 : 0);
      const uint32_t time = std::min<uint32_t>(f.stale_time, 0xffffff);
      w.u8(static_cast<uint8_t>(time >> 16));
      w.u16(static_cast<uint16_t>(time));
    }
  }
  if (c.four_octet_as) {
    uint32_t as = *c.four_octet_as;
    buf[0] = static_cast<uint8_t>(as >> 24), buf[1] = static_cast<uint8_t>(as >> 16);
    buf[2] = static_cast<uint8_t>(as >> 8), buf[3] = static_cast<uint8_t>(as);
    write_capability(cap_code(CapabilityCode::FourOctetAs), buf, w);
  }
  if (c.enhanced_route_refresh)
    write_capability(cap_code(CapabilityCode::EnhancedRouteRefresh), {}, w);
  for (const auto& raw : c.unknown)
    if (raw.value.size() <= 255) write_capability(raw.code, raw.value, w);
}

}  // namespace

void encode_open(const Open& m, std::vector<uint8_t>& out) {
  ByteWriter w(out);
  size_t mark = begin_message(MessageType::Open, w);
  w.u8(m.version);
  w.u16(m.my_as);
  w.u16(m.hold_time);
  w.u32(m.bgp_id);
  // All capabilities in one Capabilities parameter (RFC 5492 §4 allows one or many). When it
  // exceeds 255 octets, RFC 9072's extended lengths are used.
  std::vector<uint8_t> caps;
  ByteWriter cw(caps);
  write_capabilities(m.caps, cw);
  if (caps.empty()) {
    w.u8(0);
  } else if (caps.size() + 2 <= 255) {
    w.u8(static_cast<uint8_t>(caps.size() + 2));
    w.u8(kCapabilitiesParameter);
    w.u8(static_cast<uint8_t>(caps.size()));
    w.bytes(caps);
  } else {
    w.u8(kExtendedParameters);
    w.u8(kExtendedParameters);
    w.u16(static_cast<uint16_t>(caps.size() + 3));
    w.u8(kCapabilitiesParameter);
    w.u16(static_cast<uint16_t>(caps.size()));
    w.bytes(caps);
  }
  finish_message(mark, w);
}

}  // namespace isthmus::bgp
