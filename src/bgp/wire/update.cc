// UPDATE (RFC 4271 §4.3, §6.3) with the revised error handling of RFC 7606 (§3-5), multiprotocol
// reachability (RFC 4760), 2-octet peers (RFC 6793 §4.2) and the Adj-RIB-Out packing encoders.
// L2VPN EVPN (RFC 7432 §7) in MP_REACH/MP_UNREACH and its packing encoders.
// Not covered yet: ADD-PATH, RTC NLRI (their MP_REACH/MP_UNREACH are discarded), the
// "AFI/SAFI disable" approach (we reset instead), RFC 8950 IPv6 next hops for IPv4 NLRI.
#include <fmt/format.h>

#include <algorithm>
#include <bitset>

#include "bgp/wire/attributes.h"
#include "bgp/wire/codec.h"
#include "bgp/wire/evpn.h"
#include "bgp/wire/header.h"
#include "bgp/wire/nlri.h"
#include "core/bug.h"

namespace isthmus::bgp {

namespace {

Unexpected<Notification> update_fault(uint8_t subcode, std::span<const uint8_t> data = {}) {
  return unexpected(Notification{ErrorCode::UpdateMessage, subcode, {data.begin(), data.end()}});
}

void note(DecodedUpdate& d, AttrError e) {
  d.action = std::max(d.action, e.action);
  d.errors.push_back(std::move(e));
}

// RFC 6793 §4.2.3: reconcile AS_PATH/AGGREGATOR from a 2-octet peer with AS4_PATH/AS4_AGGREGATOR.
void merge_as4(ParsedAttributes& p, DecodedUpdate& d) {
  if (p.as4_aggregator) {
    // "If the AGGREGATOR attribute does not contain AS_TRANS as its AS number, then the
    // AS4_AGGREGATOR attribute and the AS4_PATH attribute ... SHALL be ignored".
    if (!p.attrs.aggregator || p.attrs.aggregator->asn != kAsTrans) {
      note(d, AttrError{static_cast<uint8_t>(AttrType::As4Aggregator), AttrAction::AttributeDiscard,
                        "AS4_AGGREGATOR: AGGREGATOR is not AS_TRANS, AS4_AGGREGATOR and AS4_PATH "
                        "ignored"});
      return;
    }
    // "Otherwise, the AS4_AGGREGATOR attribute SHALL be taken as the information about the
    // aggregating node".
    p.attrs.aggregator = *p.as4_aggregator;
  }
  if (p.as4_path) p.attrs.as_path = merge_as4_path(p.attrs.as_path, *p.as4_path);
}

// Moves every reachable prefix to the withdrawn lists (RFC 7606 §2 "treat-as-withdraw"). Returns
// false when one Update cannot say it: MP_REACH of one family and MP_UNREACH with routes of
// another, neither IPv4 unicast (an Update has one MP_UNREACH; IPv4 unicast can always go to the
// Withdrawn Routes field).
bool withdraw_all(Update& u) {
  u.withdrawn.insert(u.withdrawn.end(), u.nlri.begin(), u.nlri.end());
  u.nlri.clear();
  if (u.mp_reach) {
    auto& reach = *u.mp_reach;
    if (reach.family == kIpv4Unicast) {
      u.withdrawn.insert(u.withdrawn.end(), reach.nlri.begin(), reach.nlri.end());
    } else {
      if (u.mp_unreach && u.mp_unreach->family != reach.family) {
        if (u.mp_unreach->family == kIpv4Unicast)
          u.withdrawn.insert(u.withdrawn.end(), u.mp_unreach->withdrawn.begin(),
                             u.mp_unreach->withdrawn.end());
        else if (!u.mp_unreach->withdrawn.empty() || !u.mp_unreach->evpn.empty() ||
                 !u.mp_unreach->rtc.empty())
          return false;
        u.mp_unreach.reset();
      }
      if (!u.mp_unreach) u.mp_unreach = MpUnreach{reach.family, {}};
      u.mp_unreach->withdrawn.insert(u.mp_unreach->withdrawn.end(), reach.nlri.begin(),
                                     reach.nlri.end());
      u.mp_unreach->evpn.insert(u.mp_unreach->evpn.end(), reach.evpn.begin(), reach.evpn.end());
      u.mp_unreach->rtc.insert(u.mp_unreach->rtc.end(), reach.rtc.begin(), reach.rtc.end());
    }
    u.mp_reach.reset();
  }
  u.attrs.reset();
  return true;
}

// The Path Attributes field, attribute by attribute (RFC 4271 §4.3, RFC 7606 §3-4).
struct AttributeScan {
  ParsedAttributes p;
  std::bitset<256> seen;
  bool any_attribute = false;  // other than MP_UNREACH_NLRI
};

Expected<void, Notification> decode_attributes(const ByteReader& attrs, const CodecOptions& opts,
                                               AttributeScan& scan, DecodedUpdate& d) {
  ParsedAttributes& p = scan.p;
  std::bitset<256>& seen = scan.seen;
  bool& any_attribute = scan.any_attribute;
  ByteReader ar = attrs;
  while (!ar.empty()) {
    size_t start = ar.position();
    auto flags = ar.u8();
    auto type = ar.u8();
    auto len = !type                                   ? std::nullopt
               : (*flags & attr_flag::kExtendedLength) ? ar.u16()
                                                       : std::optional<uint16_t>(ar.u8());
    auto value = len ? ar.take(*len) : std::nullopt;
    if (!value) {
      // RFC 7606 §4: the last attribute overruns the Total Attribute Length, or fewer octets
      // than an attribute header remain: "treat-as-withdraw", relying on the Total Attribute
      // Length to locate the NLRI field.
      note(d, AttrError{type.value_or(0), AttrAction::TreatAsWithdraw,
                        fmt::format("path attribute at offset {} runs past the Total Path "
                                    "Attribute Length ({} octets)",
                                    start, attrs.remaining())});
      break;
    }
    auto raw = attrs.rest().subspan(start, ar.position() - start);
    const AttrRow* row = find_attr(*type);
    const char* name = row ? row->name : "unknown attribute";
    if (seen[*type]) {
      // RFC 7606 §3 g: "If the MP_REACH_NLRI attribute or the MP_UNREACH_NLRI attribute appears
      // more than once in the UPDATE message, then a NOTIFICATION message MUST be sent with the
      // Error Subcode 'Malformed Attribute List'. If any other attribute (whether recognized or
      // unrecognized) appears more than once in an UPDATE message, then all the occurrences of
      // the attribute other than the first one SHALL be discarded".
      if (*type == static_cast<uint8_t>(AttrType::MpReachNlri) ||
          *type == static_cast<uint8_t>(AttrType::MpUnreachNlri))
        return update_fault(update_error::kMalformedAttributeList);
      note(d, AttrError{*type, AttrAction::AttributeDiscard,
                        fmt::format("{} (type {}) repeated, later copy discarded", name, *type)});
      continue;
    }
    seen[*type] = true;
    if (*type != static_cast<uint8_t>(AttrType::MpUnreachNlri)) any_attribute = true;

    if (!row) {
      // RFC 4271 §6.3: "If any of the well-known attributes are not recognized, then the Error
      // Subcode MUST be set to Unrecognized Well-known Attribute. The Data field MUST contain the
      // unrecognized attribute (type, length, and value)." RFC 7606 leaves this unchanged.
      if (!(*flags & attr_flag::kOptional))
        return update_fault(update_error::kUnrecognizedWellKnownAttribute, raw);
      // RFC 4271 §5: optional transitive attributes are passed on; "If an optional
      // non-transitive attribute is unrecognized, it is quietly ignored."
      if (*flags & attr_flag::kTransitive) {
        auto v = value->rest();
        p.attrs.unknown.push_back(
            UnknownAttribute{static_cast<uint8_t>(*flags & ~attr_flag::kExtendedLength),
                             *type,
                             {v.begin(), v.end()}});
      }
      continue;
    }

    // RFC 4271 §5: the Optional and Transitive bits of a known attribute are fixed, and "for
    // well-known attributes and for optional non-transitive attributes, the Partial bit MUST be
    // set to 0". RFC 7606 §3 c: a conflict is handled like a malformed attribute ("treat-as-
    // withdraw" unless the attribute's own rules say otherwise).
    const uint8_t kind = *flags & (attr_flag::kOptional | attr_flag::kTransitive);
    const bool partial_ok = row->flags == (attr_flag::kOptional | attr_flag::kTransitive);
    if (kind != row->flags || (!partial_ok && (*flags & attr_flag::kPartial))) {
      if (row->on_error == AttrAction::None)
        return update_fault(update_error::kAttributeFlagsError, raw);
      note(d, AttrError{*type, row->on_error,
                        fmt::format("{}: attribute flags 0x{:02x} (expected 0x{:02x})", name,
                                    *flags, row->flags)});
      continue;
    }

    auto ok = row->decode(*value, opts, p);
    if (!ok) {
      if (ok.error().reset_subcode != 0) return update_fault(ok.error().reset_subcode, raw);
      note(d, std::move(ok.error().error));
    }
  }

  return {};
}

}  // namespace

Expected<DecodedUpdate, Notification> decode_update(std::span<const uint8_t> body,
                                                    const CodecOptions& opts) {
  DecodedUpdate d;
  Update& u = d.update;
  ByteReader r(body);
  // RFC 4271 §6.3: "If the Withdrawn Routes Length or Total Attribute Length is too large (i.e.,
  // if Withdrawn Routes Length + Total Attribute Length + 23 exceeds the message Length), then
  // the Error Subcode MUST be set to Malformed Attribute List." (RFC 7606 §4 keeps this a reset.)
  auto withdrawn_len = r.u16();
  auto withdrawn = withdrawn_len ? r.take(*withdrawn_len) : std::nullopt;
  auto attrs_len = withdrawn ? r.u16() : std::nullopt;
  auto attrs = attrs_len ? r.take(*attrs_len) : std::nullopt;
  if (!attrs) return update_fault(update_error::kMalformedAttributeList);
  ByteReader nlri = r;

  // RFC 7606 §5.3: a syntax error in the Withdrawn Routes or NLRI field needs "session reset";
  // RFC 4271 §6.3 names the subcode Invalid Network Field.
  if (auto ok = decode_prefixes(*withdrawn, IpFamily::V4, u.withdrawn); !ok)
    return update_fault(update_error::kInvalidNetworkField);

  AttributeScan scan;
  if (auto ok = decode_attributes(*attrs, opts, scan, d); !ok)
    return unexpected(std::move(ok.error()));
  ParsedAttributes& p = scan.p;
  const auto& seen = scan.seen;

  // RFC 6793 §4.1: a NEW speaker receiving AS4_PATH or AS4_AGGREGATOR from a NEW speaker
  // discards them. With a 2-octet peer they are merged (§4.2.3).
  if (opts.four_octet_as) {
    for (auto [present, t] : {std::pair{p.as4_path.has_value(), AttrType::As4Path},
                              std::pair{p.as4_aggregator.has_value(), AttrType::As4Aggregator}})
      if (present)
        note(d, AttrError{static_cast<uint8_t>(t), AttrAction::AttributeDiscard,
                          fmt::format("{} from a 4-octet AS peer discarded",
                                      find_attr(static_cast<uint8_t>(t))->name)});
  } else {
    merge_as4(p, d);
  }

  if (auto ok = decode_prefixes(nlri, IpFamily::V4, u.nlri); !ok)
    return update_fault(update_error::kInvalidNetworkField);

  // RFC 4760 §3 / RFC 2545 §3: the MP_REACH next hop is the path's next hop, unless the NLRI
  // field is in use as well (then NEXT_HOP is, and MpReach::next_hops keeps the other one).
  if (p.mp_reach && !p.mp_reach->next_hops.empty() && u.nlri.empty()) {
    p.attrs.next_hop = p.mp_reach->next_hops[0];
    if (p.mp_reach->next_hops.size() > 1) p.attrs.link_local_next_hop = p.mp_reach->next_hops[1];
  }

  // RFC 7606 §3 d: "If any of the well-known mandatory attributes are not present in an UPDATE
  // message, then 'treat-as-withdraw' MUST be used." They are needed when there is reachable
  // NLRI: ORIGIN and AS_PATH always (RFC 4760 §4), NEXT_HOP for the NLRI field.
  const bool reach =
      !u.nlri.empty() || (p.mp_reach && (!p.mp_reach->nlri.empty() || !p.mp_reach->evpn.empty() ||
                                         !p.mp_reach->rtc.empty()));
  if (reach) {
    for (AttrType t : {AttrType::Origin, AttrType::AsPath, AttrType::NextHop}) {
      if (t == AttrType::NextHop && u.nlri.empty()) continue;
      if (!seen[static_cast<uint8_t>(t)])
        note(d, AttrError{static_cast<uint8_t>(t), AttrAction::TreatAsWithdraw,
                          fmt::format("missing well-known attribute {}",
                                      find_attr(static_cast<uint8_t>(t))->name)});
    }
  }

  // Unknown attributes in type order, as the encoder writes them.
  std::stable_sort(p.attrs.unknown.begin(), p.attrs.unknown.end(),
                   [](const auto& a, const auto& b) { return a.type < b.type; });
  if (scan.any_attribute) u.attrs = std::move(p.attrs);
  u.mp_reach = std::move(p.mp_reach);
  u.mp_unreach = std::move(p.mp_unreach);
  // An UPDATE with an EVPN MP_REACH and an MP_UNREACH withdrawing IPv6 routes (or the other way
  // round) that is to be treated as withdraw cannot be written as one Update: reset rather than
  // lose the withdrawals. No implementation we know of mixes families like this.
  if (d.action == AttrAction::TreatAsWithdraw && !withdraw_all(u))
    return update_fault(update_error::kMalformedAttributeList);
  return d;
}

// ---- Encoders --------------------------------------------------------------------------------

namespace {

// Writes the start of an UPDATE: header, the Withdrawn Routes Length, and returns the marks.
struct UpdateMarks {
  size_t message;
  size_t withdrawn_len;  // offset of the Withdrawn Routes Length field
};

UpdateMarks begin_update(ByteWriter& w) {
  UpdateMarks m{begin_message(MessageType::Update, w), 0};
  m.withdrawn_len = w.size();
  w.u16(0);
  return m;
}

bool same_family(const Prefix& p, const Family& f) {
  return (p.family() == IpFamily::V6) == (f.afi == Afi::Ipv6);
}

// The MP_REACH next hop for `family`: IPv4 (4 octets), or IPv6 global (+ link-local, RFC 2545 §3).
// An IPv4 next hop for an IPv6 family is sent IPv4-mapped (RFC 4291 §2.5.5.2).
void write_mp_next_hop(const PathAttributes& attrs, Family family, ByteWriter& w) {
  const IpAddress& nh = attrs.next_hop;
  if (family.afi == Afi::Ipv6 && nh.is_v4()) {
    w.u8(16);
    w.zeros(10);
    w.u16(0xffff);
    w.bytes(std::span<const uint8_t>(nh.bytes().data(), 4));
    return;
  }
  bool ll =
      family.afi == Afi::Ipv6 && attrs.link_local_next_hop && attrs.link_local_next_hop->is_v6();
  w.u8(static_cast<uint8_t>(nh.size() + (ll ? 16 : 0)));
  w.bytes(std::span<const uint8_t>(nh.bytes().data(), nh.size()));
  if (ll) w.bytes(std::span<const uint8_t>(attrs.link_local_next_hop->bytes().data(), 16));
}

// Packs prefixes [i, end) of `prefixes` while the message stays within `max`; returns the next i.
size_t pack(std::span<const Prefix> prefixes, size_t i, Family family, size_t max, ByteWriter& w) {
  for (; i < prefixes.size(); ++i) {
    const Prefix& p = prefixes[i];
    if (BUG(!same_family(p, family))) continue;
    if (w.size() + prefix_wire_size(p) > max) break;
    encode_prefix(p, w);
  }
  return i;
}

}  // namespace

Expected<void> encode_update(const Update& m, const CodecOptions& opts, std::vector<uint8_t>& out) {
  const size_t start = out.size();
  ByteWriter w(out);
  UpdateMarks marks = begin_update(w);
  for (const auto& p : m.withdrawn) encode_prefix(p, w);
  w.patch_u16(marks.withdrawn_len,
              static_cast<uint16_t>(std::min<size_t>(w.size() - marks.withdrawn_len - 2, 0xffff)));
  size_t attrs_len_at = w.size();
  w.u16(0);
  AttrSource src;
  src.attrs = m.attrs ? &*m.attrs : nullptr;
  src.mp_reach = m.mp_reach ? &*m.mp_reach : nullptr;
  src.mp_unreach = m.mp_unreach ? &*m.mp_unreach : nullptr;
  src.four_octet_as = opts.four_octet_as;
  // NEXT_HOP goes with the NLRI field, and with any IPv4 next hop the attributes carry, so that
  // what was decoded encodes back the same.
  // EVPN has its next hop in MP_REACH only.
  const bool mp_only = m.nlri.empty() && m.mp_reach &&
                       (m.mp_reach->family == kL2vpnEvpn || m.mp_reach->family == kIpv4RouteTarget);
  src.next_hop = m.attrs && m.attrs->next_hop.is_v4() && !mp_only &&
                 (!m.nlri.empty() || !m.attrs->next_hop.is_unspecified());
  encode_attributes(src, w);
  size_t attrs_len = w.size() - attrs_len_at - 2;
  for (const auto& p : m.nlri) encode_prefix(p, w);
  if (w.size() - start > opts.max_message_size()) {
    out.resize(start);
    return fail(fmt::format("UPDATE of {} octets does not fit the {}-octet message size",
                            w.size() - start, opts.max_message_size()));
  }
  w.patch_u16(attrs_len_at, static_cast<uint16_t>(attrs_len));
  finish_message(marks.message, w);
  return {};
}

size_t encode_reach(const PathAttributes& attrs, Family family, std::span<const Prefix> nlri,
                    const CodecOptions& opts, std::vector<uint8_t>& out) {
  if (nlri.empty()) return 0;
  const bool ipv4 = family == kIpv4Unicast;
  // The attributes other than MP_REACH, encoded once for all messages.
  std::vector<uint8_t> blob;
  ByteWriter bw(blob);
  AttrSource src;
  src.attrs = &attrs;
  src.four_octet_as = opts.four_octet_as;
  src.next_hop = ipv4;
  encode_attributes(src, bw);

  const size_t max = opts.max_message_size();
  ByteWriter w(out);
  size_t messages = 0;
  size_t i = 0;
  while (i < nlri.size()) {
    const size_t start = w.size();
    UpdateMarks marks = begin_update(w);
    size_t attrs_len_at = w.size();
    w.u16(0);
    size_t next;
    if (ipv4) {
      w.bytes(blob);
      w.patch_u16(attrs_len_at, static_cast<uint16_t>(blob.size()));
      next = pack(nlri, i, family, start + max, w);
    } else {
      size_t mp =
          begin_attribute(attr_flag::kOptional, static_cast<uint8_t>(AttrType::MpReachNlri), w);
      w.u16(static_cast<uint16_t>(family.afi));
      w.u8(static_cast<uint8_t>(family.safi));
      write_mp_next_hop(attrs, family, w);
      w.u8(0);  // reserved
      // Room for the blob after the prefixes; the MP_REACH length may shrink by one octet.
      next = pack(nlri, i, family, start + max - blob.size(), w);
      finish_attribute(mp, w);
      w.bytes(blob);
      w.patch_u16(attrs_len_at, static_cast<uint16_t>(w.size() - attrs_len_at - 2));
    }
    if (next == i) {
      // Not even one prefix fits (or only prefixes of another family are left): the attributes
      // are too large for a message. Nothing sensible to send for these prefixes.
      out.resize(start);
      BUG(true);
      break;
    }
    i = next;
    finish_message(marks.message, w);
    ++messages;
  }
  return messages;
}

size_t reach_room(const PathAttributes& attrs, Family family, const CodecOptions& opts) {
  // What encode_reach and encode_mp_routes write before the first route: the header, the
  // withdrawn routes' length, the attributes' length, for MP families MP_REACH_NLRI up to its
  // NLRI, and the other attributes (after the NLRI, but counted the same).
  std::vector<uint8_t> out;
  ByteWriter w(out);
  begin_update(w);
  w.u16(0);
  const bool ipv4 = family == kIpv4Unicast;
  if (!ipv4) {
    begin_attribute(attr_flag::kOptional, static_cast<uint8_t>(AttrType::MpReachNlri), w);
    w.u16(static_cast<uint16_t>(family.afi));
    w.u8(static_cast<uint8_t>(family.safi));
    write_mp_next_hop(attrs, family, w);
    w.u8(0);  // reserved
  }
  AttrSource src;
  src.attrs = &attrs;
  src.four_octet_as = opts.four_octet_as;
  src.next_hop = ipv4;
  encode_attributes(src, w);
  const size_t max = opts.max_message_size();
  return w.size() >= max ? 0 : max - w.size();
}

size_t encode_withdraw(Family family, std::span<const Prefix> withdrawn, const CodecOptions& opts,
                       std::vector<uint8_t>& out) {
  const bool ipv4 = family == kIpv4Unicast;
  const size_t max = opts.max_message_size();
  ByteWriter w(out);
  size_t messages = 0;
  size_t i = 0;
  while (i < withdrawn.size()) {
    const size_t start = w.size();
    UpdateMarks marks = begin_update(w);
    size_t next;
    if (ipv4) {
      // The Total Path Attribute Length (2 octets) follows the withdrawn routes.
      next = pack(withdrawn, i, family, start + max - 2, w);
      w.patch_u16(marks.withdrawn_len, static_cast<uint16_t>(w.size() - marks.withdrawn_len - 2));
      w.u16(0);
    } else {
      size_t attrs_len_at = w.size();
      w.u16(0);
      size_t mp =
          begin_attribute(attr_flag::kOptional, static_cast<uint8_t>(AttrType::MpUnreachNlri), w);
      w.u16(static_cast<uint16_t>(family.afi));
      w.u8(static_cast<uint8_t>(family.safi));
      next = pack(withdrawn, i, family, start + max, w);
      finish_attribute(mp, w);
      w.patch_u16(attrs_len_at, static_cast<uint16_t>(w.size() - attrs_len_at - 2));
    }
    if (next == i) {
      out.resize(start);
      BUG(true);  // only prefixes of another family left
      break;
    }
    i = next;
    finish_message(marks.message, w);
    ++messages;
  }
  return messages;
}

// ---- EVPN (RFC 7432 §7) and RT-constraint (RFC 4684 §4) ----------------------------------------

namespace {

size_t nlri_wire_size(const EvpnRoute& r) { return evpn_nlri_wire_size(r); }
void encode_nlri(const EvpnRoute& r, ByteWriter& w) { encode_evpn_nlri(r, w); }
size_t nlri_wire_size(const RtMembership& m) { return rtc_nlri_wire_size(m); }
void encode_nlri(const RtMembership& m, ByteWriter& w) { encode_rtc_nlri(m, w); }

// Packs routes [i, end) while the message stays within `max`; returns the next i and counts the
// routes written. A route that cannot be encoded (a hand-built unknown EVPN type over 255
// octets) is skipped.
template <typename Route>
size_t pack_routes(std::span<const Route> routes, size_t i, size_t max, ByteWriter& w,
                   size_t& written) {
  for (; i < routes.size(); ++i) {
    const size_t n = nlri_wire_size(routes[i]);
    if (BUG(n > 257)) continue;
    if (w.size() + n > max) break;
    encode_nlri(routes[i], w);
    ++written;
  }
  return i;
}

// The loop shared by the encoders of families with their own NLRI format: one UPDATE per
// iteration, MP_REACH (with the next hop of `attrs`) or MP_UNREACH first, then `blob` (the other
// attributes, encoded once).
template <typename Route>
size_t encode_mp_routes(Family family, const PathAttributes* attrs, std::span<const Route> routes,
                        std::span<const uint8_t> blob, const CodecOptions& opts,
                        std::vector<uint8_t>& out) {
  const size_t max = opts.max_message_size();
  ByteWriter w(out);
  size_t messages = 0;
  size_t i = 0;
  while (i < routes.size()) {
    const size_t start = w.size();
    UpdateMarks marks = begin_update(w);
    size_t attrs_len_at = w.size();
    w.u16(0);
    size_t mp = begin_attribute(
        attr_flag::kOptional,
        static_cast<uint8_t>(attrs ? AttrType::MpReachNlri : AttrType::MpUnreachNlri), w);
    w.u16(static_cast<uint16_t>(family.afi));
    w.u8(static_cast<uint8_t>(family.safi));
    if (attrs) {
      write_mp_next_hop(*attrs, family, w);
      w.u8(0);  // reserved
    }
    size_t written = 0;
    // Room for the blob after the routes; the MP attribute's length may shrink by one octet.
    size_t next = pack_routes(routes, i, start + max - blob.size(), w, written);
    finish_attribute(mp, w);
    w.bytes(blob);
    w.patch_u16(attrs_len_at, static_cast<uint16_t>(w.size() - attrs_len_at - 2));
    if (written == 0) {
      out.resize(start);
      // Not even one route fits: the attributes are too large for a message (a bug upstream),
      // or only routes that cannot be encoded were left.
      if (next == i) {
        BUG(true);
        break;
      }
      i = next;
      continue;
    }
    i = next;
    finish_message(marks.message, w);
    ++messages;
  }
  return messages;
}

// The attributes other than MP_REACH_NLRI (which carries the next hop), encoded once.
std::vector<uint8_t> attribute_blob(const PathAttributes& attrs, const CodecOptions& opts) {
  std::vector<uint8_t> blob;
  ByteWriter bw(blob);
  AttrSource src;
  src.attrs = &attrs;
  src.four_octet_as = opts.four_octet_as;
  src.next_hop = false;  // the next hop goes in MP_REACH_NLRI
  encode_attributes(src, bw);
  return blob;
}

}  // namespace

size_t encode_evpn_reach(const PathAttributes& attrs, std::span<const EvpnRoute> routes,
                         const CodecOptions& opts, std::vector<uint8_t>& out) {
  if (routes.empty()) return 0;
  return encode_mp_routes(kL2vpnEvpn, &attrs, routes, attribute_blob(attrs, opts), opts, out);
}

size_t encode_evpn_withdraw(std::span<const EvpnRoute> routes, const CodecOptions& opts,
                            std::vector<uint8_t>& out) {
  return encode_mp_routes(kL2vpnEvpn, nullptr, routes, {}, opts, out);
}

size_t encode_rtc_reach(const PathAttributes& attrs, std::span<const RtMembership> routes,
                        const CodecOptions& opts, std::vector<uint8_t>& out) {
  if (routes.empty()) return 0;
  return encode_mp_routes(kIpv4RouteTarget, &attrs, routes, attribute_blob(attrs, opts), opts, out);
}

size_t encode_rtc_withdraw(std::span<const RtMembership> routes, const CodecOptions& opts,
                           std::vector<uint8_t>& out) {
  return encode_mp_routes(kIpv4RouteTarget, nullptr, routes, {}, opts, out);
}

void encode_end_of_rib(Family family, std::vector<uint8_t>& out) {
  // RFC 4724 §2: an empty UPDATE for IPv4 unicast, else an UPDATE with only an empty
  // MP_UNREACH_NLRI for the family.
  ByteWriter w(out);
  UpdateMarks marks = begin_update(w);
  if (family == kIpv4Unicast) {
    w.u16(0);
  } else {
    w.u16(6);
    w.u8(attr_flag::kOptional);
    w.u8(static_cast<uint8_t>(AttrType::MpUnreachNlri));
    w.u8(3);
    w.u16(static_cast<uint16_t>(family.afi));
    w.u8(static_cast<uint8_t>(family.safi));
  }
  finish_message(marks.message, w);
}

}  // namespace isthmus::bgp
