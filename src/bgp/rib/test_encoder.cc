// FakeEncoder (see test_encoder.h).
#include "bgp/rib/test_encoder.h"

#include "core/bug.h"
#include "core/bytes.h"

namespace isthmus::bgp::testing {
namespace {

constexpr size_t kFixed = kHeaderSize + 1 + 3 + 4 + 2;  // header, kind, family, attrs, count

size_t prefix_size(const Prefix& p) { return 2 + p.address().size(); }

size_t begin_message(ByteWriter& w, FakeMessage::Kind kind, Family family, uint32_t attrs) {
  const size_t start = w.size();
  for (int i = 0; i < 16; ++i) w.u8(0xff);
  w.u16(0);  // length, patched
  w.u8(static_cast<uint8_t>(MessageType::Update));
  w.u8(static_cast<uint8_t>(kind));
  w.u16(static_cast<uint16_t>(family.afi));
  w.u8(static_cast<uint8_t>(family.safi));
  w.u32(attrs);
  w.u16(0);  // count, patched
  return start;
}

void end_message(ByteWriter& w, size_t start, size_t count) {
  w.patch_u16(start + 16, static_cast<uint16_t>(w.size() - start));
  w.patch_u16(start + kFixed - 2, static_cast<uint16_t>(count));
}

}  // namespace

size_t FakeEncoder::pack(FakeMessage::Kind kind, uint32_t attrs_index, Family family,
                         std::span<const Prefix> nlri, const CodecOptions& opts,
                         std::vector<uint8_t>& out) {
  ByteWriter w(out);
  size_t n = 0;
  size_t i = 0;
  do {
    const size_t start = begin_message(w, kind, family, attrs_index);
    size_t count = 0;
    while (i < nlri.size() && w.size() - start + prefix_size(nlri[i]) <= opts.max_message_size()) {
      w.u8(static_cast<uint8_t>(nlri[i].family()));
      w.u8(nlri[i].length());
      w.bytes(std::span(nlri[i].address().bytes().data(), nlri[i].address().size()));
      ++count;
      ++i;
    }
    end_message(w, start, count);
    ++n;
  } while (i < nlri.size());
  messages += n;
  return n;
}

size_t FakeEncoder::reach(const PathAttributes& attrs, Family family, std::span<const Prefix> nlri,
                          const CodecOptions& opts, std::vector<uint8_t>& out) {
  ++reach_calls;
  attrs_.push_back(attrs);
  return pack(FakeMessage::Kind::Reach, static_cast<uint32_t>(attrs_.size() - 1), family, nlri,
              opts, out);
}

size_t FakeEncoder::withdraw(Family family, std::span<const Prefix> withdrawn,
                             const CodecOptions& opts, std::vector<uint8_t>& out) {
  ++withdraw_calls;
  return pack(FakeMessage::Kind::Withdraw, 0, family, withdrawn, opts, out);
}

// One message per call: an EVPN or RT-constraint message holds no NLRI of its own, only an index
// into routes_ (in the prefix count field's place, with the family telling them apart).
size_t FakeEncoder::pack_routes(FakeMessage::Kind kind, Family family, uint32_t attrs_index,
                                FakeMessage routes, std::vector<uint8_t>& out) {
  ByteWriter w(out);
  routes_.push_back(std::move(routes));
  const size_t start = begin_message(w, kind, family, attrs_index);
  end_message(w, start, 0);
  w.u32(static_cast<uint32_t>(routes_.size() - 1));
  w.patch_u16(start + 16, static_cast<uint16_t>(w.size() - start));
  ++messages;
  return 1;
}

size_t FakeEncoder::reach_evpn(const PathAttributes& attrs, std::span<const EvpnRoute> routes,
                               const CodecOptions&, std::vector<uint8_t>& out) {
  ++reach_calls;
  attrs_.push_back(attrs);
  FakeMessage m;
  m.evpn.assign(routes.begin(), routes.end());
  return pack_routes(FakeMessage::Kind::Reach, kL2vpnEvpn, static_cast<uint32_t>(attrs_.size() - 1),
                     std::move(m), out);
}

size_t FakeEncoder::withdraw_evpn(std::span<const EvpnRoute> routes, const CodecOptions&,
                                  std::vector<uint8_t>& out) {
  ++withdraw_calls;
  FakeMessage m;
  m.evpn.assign(routes.begin(), routes.end());
  return pack_routes(FakeMessage::Kind::Withdraw, kL2vpnEvpn, 0, std::move(m), out);
}

size_t FakeEncoder::reach_rtc(const PathAttributes& attrs, std::span<const RtMembership> routes,
                              const CodecOptions&, std::vector<uint8_t>& out) {
  ++reach_calls;
  attrs_.push_back(attrs);
  FakeMessage m;
  m.rtc.assign(routes.begin(), routes.end());
  return pack_routes(FakeMessage::Kind::Reach, kIpv4RouteTarget,
                     static_cast<uint32_t>(attrs_.size() - 1), std::move(m), out);
}

size_t FakeEncoder::withdraw_rtc(std::span<const RtMembership> routes, const CodecOptions&,
                                 std::vector<uint8_t>& out) {
  ++withdraw_calls;
  FakeMessage m;
  m.rtc.assign(routes.begin(), routes.end());
  return pack_routes(FakeMessage::Kind::Withdraw, kIpv4RouteTarget, 0, std::move(m), out);
}

void FakeEncoder::end_of_rib(Family family, std::vector<uint8_t>& out) {
  pack(FakeMessage::Kind::EndOfRib, 0, family, {}, CodecOptions{}, out);
}

std::vector<FakeMessage> FakeEncoder::decode(std::span<const uint8_t> bytes) const {
  std::vector<FakeMessage> msgs;
  ByteReader r(bytes);
  while (!r.empty()) {
    auto head = r.bytes(kHeaderSize);
    if (!head) PANIC("truncated header");
    const size_t len = size_t{(*head)[16]} << 8 | (*head)[17];
    auto body = r.take(len - kHeaderSize);
    if (!body) PANIC("truncated message");
    FakeMessage m;
    m.kind = static_cast<FakeMessage::Kind>(*body->u8());
    m.family.afi = static_cast<Afi>(*body->u16());
    m.family.safi = static_cast<Safi>(*body->u8());
    const uint32_t index = *body->u32();
    if (m.kind == FakeMessage::Kind::Reach) m.attrs = attrs_.at(index);
    const uint16_t count = *body->u16();
    if ((m.family == kL2vpnEvpn || m.family == kIpv4RouteTarget) &&
        m.kind != FakeMessage::Kind::EndOfRib) {
      const FakeMessage& held = routes_.at(*body->u32());
      m.evpn = held.evpn;
      m.rtc = held.rtc;
      msgs.push_back(std::move(m));
      continue;
    }
    for (uint16_t i = 0; i < count; ++i) {
      const auto fam = *body->u8();
      const uint8_t plen = *body->u8();
      IpAddress a;
      if (fam == 4) {
        a = IpAddress::v4(*body->array<4>());
      } else {
        a = IpAddress::v6(*body->array<16>());
      }
      m.prefixes.emplace_back(a, plen);
    }
    msgs.push_back(std::move(m));
  }
  return msgs;
}

}  // namespace isthmus::bgp::testing
