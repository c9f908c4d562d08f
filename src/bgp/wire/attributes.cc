// Path attribute decoders and encoders, one table row per attribute (RFC 4271 §5, RFC 7606 §7,
// RFC 4760 §3-4, RFC 6793 §4.2, RFC 1997, RFC 4360, RFC 4456, RFC 8092, RFC 6514 §5 PMSI_TUNNEL;
// EVPN NLRI in MP_REACH/MP_UNREACH, RFC 7432 §7). Session-dependent checks
// (LOCAL_PREF or ORIGINATOR_ID from an eBGP peer, the leftmost AS of an eBGP AS_PATH, NEXT_HOP
// semantics) belong to the session, which knows the peer.
#include "bgp/wire/attributes.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "bgp/wire/evpn.h"
#include "bgp/wire/nlri.h"
#include "core/bug.h"

namespace isthmus::bgp {

namespace {

constexpr uint8_t kWellKnown = attr_flag::kTransitive;  // well-known attributes are transitive
constexpr uint8_t kOptional = attr_flag::kOptional;
constexpr uint8_t kOptionalTransitive = attr_flag::kOptional | attr_flag::kTransitive;

constexpr uint8_t code(AttrType t) { return static_cast<uint8_t>(t); }

AttrError error(AttrType t, AttrAction action, std::string reason) {
  return AttrError{code(t), action, std::move(reason)};
}

Unexpected<AttrFault> reset(AttrType t, uint8_t subcode, std::string reason) {
  return unexpected(AttrFault{error(t, AttrAction::None, std::move(reason)), subcode});
}

Unexpected<AttrFault> fault(AttrError e) { return unexpected(AttrFault{std::move(e), 0}); }

void write_asn(uint32_t asn, bool four_octet_as, ByteWriter& w) {
  if (four_octet_as)
    w.u32(asn);
  else  // RFC 6793 §4.2.2: a non-mappable ASN becomes AS_TRANS towards a 2-octet peer.
    w.u16(asn > 0xffff ? kAsTrans : static_cast<uint16_t>(asn));
}

bool is_confed(const AsPathSegment& s) {
  return s.type == AsPathSegment::Type::ConfedSequence || s.type == AsPathSegment::Type::ConfedSet;
}

// Writes the segments of `path`, split into runs of at most 255 ASNs (one-octet segment length).
void write_as_path(const AsPath& path, bool four_octet_as, bool skip_confed, ByteWriter& w) {
  for (const auto& s : path.segments) {
    if (skip_confed && is_confed(s)) continue;
    for (size_t i = 0; i < s.asns.size(); i += 255) {
      size_t n = std::min<size_t>(255, s.asns.size() - i);
      w.u8(static_cast<uint8_t>(s.type));
      w.u8(static_cast<uint8_t>(n));
      for (size_t j = i; j < i + n; ++j) write_asn(s.asns[j], four_octet_as, w);
    }
  }
}

bool needs_as4_path(const AsPath& path) {
  for (const auto& s : path.segments)
    for (uint32_t a : s.asns)
      if (a > 0xffff) return true;
  return false;
}

}  // namespace

// ---- Typed decoders --------------------------------------------------------------------------

Expected<Origin, AttrError> decode_origin(ByteReader r) {
  // RFC 7606 §7.1: "a malformed ORIGIN attribute [length not 1, or an undefined value] SHALL be
  // handled using the approach of 'treat-as-withdraw'."
  if (r.remaining() != 1)
    return unexpected(error(AttrType::Origin, AttrAction::TreatAsWithdraw,
                            fmt::format("ORIGIN: length {} (must be 1)", r.remaining())));
  uint8_t v = *r.u8();
  if (v > 2)
    return unexpected(error(AttrType::Origin, AttrAction::TreatAsWithdraw,
                            fmt::format("ORIGIN: undefined value {}", v)));
  return static_cast<Origin>(v);
}

Expected<AsPath, AttrError> decode_as_path(ByteReader r, bool four_octet_as, uint8_t type) {
  // RFC 7606 §7.2: a malformed AS_PATH (unrecognized segment type, segment overrun, a single
  // octet left over, a segment of length zero) is "treat-as-withdraw". RFC 6793 §6 (as revised
  // by RFC 7606 §7.2): a malformed AS4_PATH is discarded ("attribute discard").
  const bool as4 = type == code(AttrType::As4Path);
  const char* name = as4 ? "AS4_PATH" : "AS_PATH";
  const AttrAction action = as4 ? AttrAction::AttributeDiscard : AttrAction::TreatAsWithdraw;
  const size_t width = four_octet_as ? 4 : 2;
  AsPath path;
  while (!r.empty()) {
    size_t at = r.position();
    auto t = r.u8();
    auto n = r.u8();
    if (!n)
      return unexpected(AttrError{type, action,
                                  fmt::format("{}: one octet left at offset {}, too short for a "
                                              "segment header",
                                              name, at)});
    if (*t < 1 || *t > 4)
      return unexpected(AttrError{
          type, action, fmt::format("{}: undefined segment type {} at offset {}", name, *t, at)});
    if (*n == 0)
      return unexpected(
          AttrError{type, action, fmt::format("{}: empty segment at offset {}", name, at)});
    if (r.remaining() < *n * width)
      return unexpected(AttrError{
          type, action,
          fmt::format("{}: segment of {} ASNs at offset {} runs past the attribute ({} octets "
                      "left)",
                      name, *n, at, r.remaining())});
    AsPathSegment seg{static_cast<AsPathSegment::Type>(*t), {}};
    seg.asns.reserve(*n);
    for (unsigned i = 0; i < *n; ++i) seg.asns.push_back(four_octet_as ? *r.u32() : *r.u16());
    path.segments.push_back(std::move(seg));
  }
  return path;
}

Expected<IpAddress, AttrError> decode_next_hop(ByteReader r) {
  // RFC 7606 §7.3: a NEXT_HOP whose length is not 4 is "treat-as-withdraw".
  if (r.remaining() != 4)
    return unexpected(error(AttrType::NextHop, AttrAction::TreatAsWithdraw,
                            fmt::format("NEXT_HOP: length {} (must be 4)", r.remaining())));
  return IpAddress::v4(*r.u32());
}

Expected<uint32_t, AttrError> decode_u32_attr(ByteReader r, uint8_t type) {
  // RFC 7606 §7.4 (MULTI_EXIT_DISC), §7.5 (LOCAL_PREF), §7.9 (ORIGINATOR_ID): length not 4 is
  // "treat-as-withdraw".
  if (r.remaining() != 4) {
    const AttrRow* row = find_attr(type);
    return unexpected(
        AttrError{type, AttrAction::TreatAsWithdraw,
                  fmt::format("{}: length {} (must be 4)", row ? row->name : "?", r.remaining())});
  }
  return *r.u32();
}

Expected<Aggregator, AttrError> decode_aggregator(ByteReader r, bool four_octet_as, uint8_t type) {
  // RFC 7606 §7.7: AGGREGATOR with a length other than 6 (2-octet ASN) or 8 (4-octet ASN) is
  // discarded ("attribute discard"); RFC 6793 §6 likewise for AS4_AGGREGATOR of length != 8.
  const bool as4 = type == code(AttrType::As4Aggregator);
  const size_t want = (four_octet_as || as4) ? 8 : 6;
  if (r.remaining() != want)
    return unexpected(
        AttrError{type, AttrAction::AttributeDiscard,
                  fmt::format("{}: length {} (must be {})", as4 ? "AS4_AGGREGATOR" : "AGGREGATOR",
                              r.remaining(), want)});
  Aggregator a;
  a.asn = want == 8 ? *r.u32() : *r.u16();
  a.address = IpAddress::v4(*r.u32());
  return a;
}

namespace {

// RFC 7606 §7.8 (COMMUNITIES: non-zero multiple of 4), §7.10 (CLUSTER_LIST: non-zero multiple of
// 4), §7.14 (EXTENDED COMMUNITIES: non-zero multiple of 8), RFC 8092 §6 (LARGE_COMMUNITY:
// non-zero multiple of 12): otherwise "treat-as-withdraw".
Expected<void, AttrError> check_multiple(const ByteReader& r, AttrType t, const char* name,
                                         size_t unit) {
  if (r.remaining() == 0 || r.remaining() % unit != 0)
    return unexpected(error(t, AttrAction::TreatAsWithdraw,
                            fmt::format("{}: length {} (must be a non-zero multiple of {})", name,
                                        r.remaining(), unit)));
  return {};
}

}  // namespace

Expected<std::vector<Community>, AttrError> decode_communities(ByteReader r) {
  if (auto ok = check_multiple(r, AttrType::Communities, "COMMUNITIES", 4); !ok)
    return unexpected(std::move(ok.error()));
  std::vector<Community> v;
  v.reserve(r.remaining() / 4);
  while (!r.empty()) v.push_back(*r.u32());
  return v;
}

Expected<std::vector<uint32_t>, AttrError> decode_cluster_list(ByteReader r) {
  if (auto ok = check_multiple(r, AttrType::ClusterList, "CLUSTER_LIST", 4); !ok)
    return unexpected(std::move(ok.error()));
  std::vector<uint32_t> v;
  v.reserve(r.remaining() / 4);
  while (!r.empty()) v.push_back(*r.u32());
  return v;
}

Expected<std::vector<ExtCommunity>, AttrError> decode_ext_communities(ByteReader r) {
  if (auto ok = check_multiple(r, AttrType::ExtCommunities, "EXTENDED_COMMUNITIES", 8); !ok)
    return unexpected(std::move(ok.error()));
  std::vector<ExtCommunity> v;
  v.reserve(r.remaining() / 8);
  while (!r.empty()) v.push_back(ExtCommunity{*r.array<8>()});
  return v;
}

Expected<std::vector<LargeCommunity>, AttrError> decode_large_communities(ByteReader r) {
  if (auto ok = check_multiple(r, AttrType::LargeCommunities, "LARGE_COMMUNITY", 12); !ok)
    return unexpected(std::move(ok.error()));
  std::vector<LargeCommunity> v;
  v.reserve(r.remaining() / 12);
  while (!r.empty()) v.push_back(LargeCommunity{*r.u32(), *r.u32(), *r.u32()});
  return v;
}

Expected<PmsiTunnel, AttrError> decode_pmsi_tunnel(ByteReader r) {
  // RFC 6514 §5: Flags (1), Tunnel Type (1), MPLS Label (3), Tunnel Identifier (the rest).
  // RFC 7606 has no rule for PMSI_TUNNEL (§7 does not list it) and RFC 6514 says nothing of
  // malformed values. The attribute decides where BUM traffic goes, so "attribute discard" (for
  // attributes that affect neither route selection nor installation, RFC 7606 §2) does not fit;
  // treat-as-withdraw does: the type-3 route is withdrawn, the session stays up. (FRR 8.4 resets
  // the session instead, unless the Partial bit is set.)
  constexpr auto kType = AttrType::PmsiTunnel;
  if (r.remaining() < 5)
    return unexpected(error(kType, AttrAction::TreatAsWithdraw,
                            fmt::format("PMSI_TUNNEL: length {} (must be at least 5: flags, tunnel "
                                        "type, label)",
                                        r.remaining())));
  PmsiTunnel t;
  t.flags = *r.u8();
  t.tunnel_type = *r.u8();
  t.label = *r.u24();
  auto id = r.rest();
  t.tunnel_id.assign(id.begin(), id.end());
  // RFC 6514 §5: with Ingress Replication the Tunnel Identifier is the unicast tunnel endpoint
  // address of the PE (the VTEP for VXLAN, RFC 8365 §5.1.3): an IPv4 or IPv6 address.
  if (t.tunnel_type == PmsiTunnel::kIngressReplication && id.size() != 4 && id.size() != 16)
    return unexpected(error(kType, AttrAction::TreatAsWithdraw,
                            fmt::format("PMSI_TUNNEL: ingress replication with a {}-octet tunnel "
                                        "identifier (must be 4 or 16)",
                                        id.size())));
  return t;
}

namespace {

bool is_unicast_ip(const Family& f) { return f == kIpv4Unicast || f == kIpv6Unicast; }

// MP_REACH_NLRI for L2VPN EVPN after the next hop length: the next hop and the EVPN NLRI.
Expected<std::optional<MpReach>, AttrFault> decode_evpn_reach(ByteReader nh, ByteReader nlri) {
  constexpr auto kType = AttrType::MpReachNlri;
  constexpr uint8_t kSub = update_error::kOptionalAttributeError;
  MpReach mp{kL2vpnEvpn, {}, {}};
  // RFC 7432 §7 leaves the next hop to RFC 4760: the PE's IPv4 or IPv6 address (RFC 8365 §5.1.3:
  // the VTEP). 32 octets (global and link-local) as for IPv6 unicast (RFC 2545 §3).
  const size_t n = nh.remaining();
  if (n == 4) {
    mp.next_hops.push_back(IpAddress::v4(*nh.u32()));
  } else if (n == 16 || n == 32) {
    while (!nh.empty()) mp.next_hops.push_back(IpAddress::v6(*nh.array<16>()));
  } else {
    return reset(kType, kSub,
                 fmt::format("MP_REACH_NLRI: next hop length {} for l2vpn-evpn (must be 4, 16 or "
                             "32)",
                             n));
  }
  // RFC 7606 §5.3/§7.11: NLRI that cannot be parsed need "session reset" (or AFI/SAFI disable).
  if (auto ok = decode_evpn_nlris(nlri, mp.evpn); !ok)
    return reset(kType, kSub, "MP_REACH_NLRI: " + ok.error());
  return std::optional<MpReach>(std::move(mp));
}

// MP_REACH_NLRI for RT-constraint after the next hop length (RFC 4684 §4): the speaker's address
// as next hop, then the membership NLRI.
Expected<std::optional<MpReach>, AttrFault> decode_rtc_reach(ByteReader nh, ByteReader nlri) {
  constexpr auto kType = AttrType::MpReachNlri;
  constexpr uint8_t kSub = update_error::kOptionalAttributeError;
  MpReach mp{kIpv4RouteTarget, {}, {}};
  const size_t n = nh.remaining();
  if (n == 4) {
    mp.next_hops.push_back(IpAddress::v4(*nh.u32()));
  } else if (n == 16 || n == 32) {
    while (!nh.empty()) mp.next_hops.push_back(IpAddress::v6(*nh.array<16>()));
  } else {
    return reset(
        kType, kSub,
        fmt::format("MP_REACH_NLRI: next hop length {} for ipv4-rtc (must be 4, 16 or 32)", n));
  }
  if (auto ok = decode_rtc_nlris(nlri, mp.rtc); !ok)
    return reset(kType, kSub, "MP_REACH_NLRI: " + ok.error());
  return std::optional<MpReach>(std::move(mp));
}

IpFamily ip_family(const Family& f) { return f.afi == Afi::Ipv6 ? IpFamily::V6 : IpFamily::V4; }

}  // namespace

Expected<std::optional<MpReach>, AttrFault> decode_mp_reach(ByteReader r) {
  // RFC 7606 §7.11 and §5.3: MP_REACH_NLRI errors that prevent locating or parsing the NLRI
  // (truncated header, next hop length inconsistent with the family, NLRI syntax) need "session
  // reset" (or "AFI/SAFI disable", which we do not implement). RFC 4760 §7 names the subcode:
  // Optional Attribute Error.
  constexpr auto kType = AttrType::MpReachNlri;
  constexpr uint8_t kSub = update_error::kOptionalAttributeError;
  auto afi = r.u16();
  auto safi = r.u8();
  auto nh_len = r.u8();
  if (!afi || !safi || !nh_len)
    return reset(kType, kSub,
                 fmt::format("MP_REACH_NLRI: length {} too short for AFI, SAFI and next hop "
                             "length",
                             r.position()));
  auto nh = r.take(*nh_len);
  if (!nh || !r.skip(1))  // RFC 4760 §3: one reserved octet, "SHOULD be ignored upon receipt"
    return reset(
        kType, kSub,
        fmt::format("MP_REACH_NLRI: next hop of {} octets runs past the attribute", *nh_len));
  Family family{static_cast<Afi>(*afi), static_cast<Safi>(*safi)};
  if (family == kL2vpnEvpn) return decode_evpn_reach(*nh, r);
  if (family == kIpv4RouteTarget) return decode_rtc_reach(*nh, r);
  if (!is_unicast_ip(family))
    return fault(error(kType, AttrAction::AttributeDiscard,
                       fmt::format("MP_REACH_NLRI: family {} not supported yet, attribute "
                                   "discarded",
                                   family.name())));
  MpReach mp{family, {}, {}};
  if (family.afi == Afi::Ipv4) {
    if (*nh_len != 4)
      return reset(kType, kSub,
                   fmt::format("MP_REACH_NLRI: next hop length {} for {} (must be 4)", *nh_len,
                               family.name()));
    mp.next_hops.push_back(IpAddress::v4(*nh->u32()));
  } else {
    // RFC 2545 §3: 16 octets (global), or 32 (global followed by link-local).
    if (*nh_len != 16 && *nh_len != 32)
      return reset(kType, kSub,
                   fmt::format("MP_REACH_NLRI: next hop length {} for {} (must be 16 or 32)",
                               *nh_len, family.name()));
    while (!nh->empty()) mp.next_hops.push_back(IpAddress::v6(*nh->array<16>()));
  }
  if (auto ok = decode_prefixes(r, ip_family(family), mp.nlri); !ok)
    return reset(kType, kSub, "MP_REACH_NLRI: " + ok.error());
  return std::optional<MpReach>(std::move(mp));
}

Expected<std::optional<MpUnreach>, AttrFault> decode_mp_unreach(ByteReader r) {
  // RFC 7606 §7.12 and §5.3: as for MP_REACH_NLRI, errors in MP_UNREACH_NLRI need "session
  // reset".
  constexpr auto kType = AttrType::MpUnreachNlri;
  auto afi = r.u16();
  auto safi = r.u8();
  if (!afi || !safi)
    return reset(
        kType, update_error::kOptionalAttributeError,
        fmt::format("MP_UNREACH_NLRI: length {} too short for AFI and SAFI", r.position()));
  Family family{static_cast<Afi>(*afi), static_cast<Safi>(*safi)};
  if (family == kL2vpnEvpn) {
    // RFC 7432 §7: withdrawn EVPN routes are encoded as announced ones; none is End-of-RIB.
    MpUnreach mp{family, {}};
    if (auto ok = decode_evpn_nlris(r, mp.evpn); !ok)
      return reset(kType, update_error::kOptionalAttributeError, "MP_UNREACH_NLRI: " + ok.error());
    return std::optional<MpUnreach>(std::move(mp));
  }
  if (family == kIpv4RouteTarget) {
    MpUnreach mp{family, {}};
    if (auto ok = decode_rtc_nlris(r, mp.rtc); !ok)
      return reset(kType, update_error::kOptionalAttributeError, "MP_UNREACH_NLRI: " + ok.error());
    return std::optional<MpUnreach>(std::move(mp));
  }
  if (!is_unicast_ip(family)) {
    // RFC 4724 §2: an empty MP_UNREACH_NLRI is the End-of-RIB marker of its family: keep it.
    if (r.empty()) return std::optional<MpUnreach>(MpUnreach{family, {}});
    return fault(error(kType, AttrAction::AttributeDiscard,
                       fmt::format("MP_UNREACH_NLRI: family {} not supported yet, attribute "
                                   "discarded",
                                   family.name())));
  }
  MpUnreach mp{family, {}};
  if (auto ok = decode_prefixes(r, ip_family(family), mp.withdrawn); !ok)
    return reset(kType, update_error::kOptionalAttributeError, "MP_UNREACH_NLRI: " + ok.error());
  return std::optional<MpUnreach>(std::move(mp));
}

AsPath merge_as4_path(const AsPath& as_path, const AsPath& as4_path) {
  // RFC 6793 §4.2.3: "if the number of AS numbers in the AS_PATH attribute is less than the
  // number of AS numbers in the AS4_PATH attribute, then the AS4_PATH attribute SHALL be ignored,
  // and the AS_PATH attribute SHALL be taken as the AS path information." Otherwise the path is
  // "the leading AS numbers in the AS_PATH attribute" followed by "all the AS numbers in the
  // AS4_PATH attribute". Counting follows RFC 4271 §9.1.2.2 and RFC 5065 (sets count 1,
  // confederation segments 0). Confederation segments of AS4_PATH are ignored (RFC 6793 §3).
  AsPath as4;
  for (const auto& s : as4_path.segments)
    if (!is_confed(s)) as4.segments.push_back(s);
  size_t n = as_path.length();
  size_t n4 = as4.length();
  if (n < n4) return as_path;
  size_t need = n - n4;
  AsPath out;
  bool leading = true;
  for (const auto& s : as_path.segments) {
    if (is_confed(s)) {
      // Leading confederation segments stay (they count 0); RFC 5065 §3 allows them nowhere else.
      if (leading) out.segments.push_back(s);
      continue;
    }
    leading = false;
    if (need == 0) break;
    if (s.type == AsPathSegment::Type::Set) {
      out.segments.push_back(s);
      need -= 1;
    } else {
      size_t k = std::min(need, s.asns.size());
      out.segments.push_back(
          AsPathSegment{s.type, {s.asns.begin(), s.asns.begin() + static_cast<ptrdiff_t>(k)}});
      need -= k;
    }
  }
  for (auto& s : as4.segments) {
    // Join the last AS_PATH sequence and the first AS4_PATH sequence: one path, one segment.
    auto* last = out.segments.empty() ? nullptr : &out.segments.back();
    if (last && last->type == AsPathSegment::Type::Sequence &&
        s.type == AsPathSegment::Type::Sequence && last->asns.size() + s.asns.size() <= 255 &&
        &s == &as4.segments.front()) {
      last->asns.insert(last->asns.end(), s.asns.begin(), s.asns.end());
      continue;
    }
    out.segments.push_back(std::move(s));
  }
  return out;
}

// ---- Row adapters: decode into ParsedAttributes, encode from AttrSource ------------------------

namespace {

template <class T>
Expected<void, AttrFault> store(Expected<T, AttrError>&& v, T& field) {
  if (!v) return fault(std::move(v.error()));
  field = std::move(*v);
  return {};
}

template <class T>
Expected<void, AttrFault> store(Expected<T, AttrError>&& v, std::optional<T>& field) {
  if (!v) return fault(std::move(v.error()));
  field = std::move(*v);
  return {};
}

Expected<void, AttrFault> row_origin(ByteReader r, const CodecOptions&, ParsedAttributes& p) {
  return store(decode_origin(r), p.attrs.origin);
}
bool enc_origin(const AttrSource& s, ByteWriter& w) {
  if (!s.attrs) return false;
  w.u8(static_cast<uint8_t>(s.attrs->origin));
  return true;
}

Expected<void, AttrFault> row_as_path(ByteReader r, const CodecOptions& o, ParsedAttributes& p) {
  return store(decode_as_path(r, o.four_octet_as, code(AttrType::AsPath)), p.attrs.as_path);
}
bool enc_as_path(const AttrSource& s, ByteWriter& w) {
  if (!s.attrs) return false;
  write_as_path(s.attrs->as_path, s.four_octet_as, false, w);
  return true;  // RFC 4271 §5.1.2: an empty AS_PATH is still sent (iBGP, locally originated)
}

Expected<void, AttrFault> row_next_hop(ByteReader r, const CodecOptions&, ParsedAttributes& p) {
  return store(decode_next_hop(r), p.attrs.next_hop);
}
bool enc_next_hop(const AttrSource& s, ByteWriter& w) {
  if (!s.attrs || !s.next_hop || !s.attrs->next_hop.is_v4()) return false;
  w.u32(s.attrs->next_hop.v4_host_order());
  return true;
}

Expected<void, AttrFault> row_med(ByteReader r, const CodecOptions&, ParsedAttributes& p) {
  return store(decode_u32_attr(r, code(AttrType::MultiExitDisc)), p.attrs.med);
}
bool enc_med(const AttrSource& s, ByteWriter& w) {
  if (!s.attrs || !s.attrs->med) return false;
  w.u32(*s.attrs->med);
  return true;
}

Expected<void, AttrFault> row_local_pref(ByteReader r, const CodecOptions&, ParsedAttributes& p) {
  return store(decode_u32_attr(r, code(AttrType::LocalPref)), p.attrs.local_pref);
}
bool enc_local_pref(const AttrSource& s, ByteWriter& w) {
  if (!s.attrs || !s.attrs->local_pref) return false;
  w.u32(*s.attrs->local_pref);
  return true;
}

Expected<void, AttrFault> row_atomic_aggregate(ByteReader r, const CodecOptions&,
                                               ParsedAttributes& p) {
  // RFC 7606 §7.6: ATOMIC_AGGREGATE with a length other than 0 is discarded.
  if (!r.empty())
    return fault(error(AttrType::AtomicAggregate, AttrAction::AttributeDiscard,
                       fmt::format("ATOMIC_AGGREGATE: length {} (must be 0)", r.remaining())));
  p.attrs.atomic_aggregate = true;
  return {};
}
bool enc_atomic_aggregate(const AttrSource& s, ByteWriter&) {
  return s.attrs && s.attrs->atomic_aggregate;
}

Expected<void, AttrFault> row_aggregator(ByteReader r, const CodecOptions& o, ParsedAttributes& p) {
  return store(decode_aggregator(r, o.four_octet_as, code(AttrType::Aggregator)),
               p.attrs.aggregator);
}
bool enc_aggregator(const AttrSource& s, ByteWriter& w) {
  if (!s.attrs || !s.attrs->aggregator) return false;
  write_asn(s.attrs->aggregator->asn, s.four_octet_as, w);
  w.u32(s.attrs->aggregator->address.v4_host_order());
  return true;
}

Expected<void, AttrFault> row_communities(ByteReader r, const CodecOptions&, ParsedAttributes& p) {
  return store(decode_communities(r), p.attrs.communities);
}
bool enc_communities(const AttrSource& s, ByteWriter& w) {
  if (!s.attrs || s.attrs->communities.empty()) return false;
  for (Community c : s.attrs->communities) w.u32(c);
  return true;
}

Expected<void, AttrFault> row_originator_id(ByteReader r, const CodecOptions&,
                                            ParsedAttributes& p) {
  return store(decode_u32_attr(r, code(AttrType::OriginatorId)), p.attrs.originator_id);
}
bool enc_originator_id(const AttrSource& s, ByteWriter& w) {
  if (!s.attrs || !s.attrs->originator_id) return false;
  w.u32(*s.attrs->originator_id);
  return true;
}

Expected<void, AttrFault> row_cluster_list(ByteReader r, const CodecOptions&, ParsedAttributes& p) {
  return store(decode_cluster_list(r), p.attrs.cluster_list);
}
bool enc_cluster_list(const AttrSource& s, ByteWriter& w) {
  if (!s.attrs || s.attrs->cluster_list.empty()) return false;
  for (uint32_t c : s.attrs->cluster_list) w.u32(c);
  return true;
}

Expected<void, AttrFault> row_mp_reach(ByteReader r, const CodecOptions&, ParsedAttributes& p) {
  auto v = decode_mp_reach(r);
  if (!v) return unexpected(std::move(v.error()));
  p.mp_reach = std::move(*v);
  return {};
}
bool enc_mp_reach(const AttrSource& s, ByteWriter& w) {
  if (!s.mp_reach) return false;
  const MpReach& m = *s.mp_reach;
  w.u16(static_cast<uint16_t>(m.family.afi));
  w.u8(static_cast<uint8_t>(m.family.safi));
  size_t nh_len = 0;
  for (const auto& a : m.next_hops) nh_len += a.size();
  w.u8(static_cast<uint8_t>(nh_len));
  for (const auto& a : m.next_hops) w.bytes(std::span<const uint8_t>(a.bytes().data(), a.size()));
  w.u8(0);  // reserved
  for (const auto& p : m.nlri) encode_prefix(p, w);
  for (const auto& e : m.evpn) encode_evpn_nlri(e, w);
  for (const auto& m2 : m.rtc) encode_rtc_nlri(m2, w);
  return true;
}

Expected<void, AttrFault> row_mp_unreach(ByteReader r, const CodecOptions&, ParsedAttributes& p) {
  auto v = decode_mp_unreach(r);
  if (!v) return unexpected(std::move(v.error()));
  p.mp_unreach = std::move(*v);
  return {};
}
bool enc_mp_unreach(const AttrSource& s, ByteWriter& w) {
  if (!s.mp_unreach) return false;
  w.u16(static_cast<uint16_t>(s.mp_unreach->family.afi));
  w.u8(static_cast<uint8_t>(s.mp_unreach->family.safi));
  for (const auto& p : s.mp_unreach->withdrawn) encode_prefix(p, w);
  for (const auto& e : s.mp_unreach->evpn) encode_evpn_nlri(e, w);
  for (const auto& m : s.mp_unreach->rtc) encode_rtc_nlri(m, w);
  return true;
}

Expected<void, AttrFault> row_ext_communities(ByteReader r, const CodecOptions&,
                                              ParsedAttributes& p) {
  return store(decode_ext_communities(r), p.attrs.ext_communities);
}
bool enc_ext_communities(const AttrSource& s, ByteWriter& w) {
  if (!s.attrs || s.attrs->ext_communities.empty()) return false;
  for (const auto& c : s.attrs->ext_communities) w.bytes(c.bytes);
  return true;
}

Expected<void, AttrFault> row_as4_path(ByteReader r, const CodecOptions&, ParsedAttributes& p) {
  // RFC 6793 §3: AS4_PATH always carries four-octet ASNs.
  return store(decode_as_path(r, true, code(AttrType::As4Path)), p.as4_path);
}
bool enc_as4_path(const AttrSource& s, ByteWriter& w) {
  if (s.as4_path) {
    write_as_path(*s.as4_path, true, false, w);
    return true;
  }
  // RFC 6793 §4.2.2: towards a 2-octet peer, "whenever the AS path information contains an AS
  // number that is non-mappable", send AS4_PATH; "the AS_CONFED_SEQUENCE and AS_CONFED_SET path
  // segments ... MUST NOT be carried in the AS4_PATH".
  if (s.four_octet_as || !s.attrs || !needs_as4_path(s.attrs->as_path)) return false;
  write_as_path(s.attrs->as_path, true, true, w);
  return true;
}

Expected<void, AttrFault> row_as4_aggregator(ByteReader r, const CodecOptions&,
                                             ParsedAttributes& p) {
  return store(decode_aggregator(r, true, code(AttrType::As4Aggregator)), p.as4_aggregator);
}
bool enc_as4_aggregator(const AttrSource& s, ByteWriter& w) {
  const Aggregator* a = s.as4_aggregator;
  // RFC 6793 §4.2.2: AGGREGATOR with a non-mappable ASN goes as AS_TRANS plus AS4_AGGREGATOR.
  if (!a && !s.four_octet_as && s.attrs && s.attrs->aggregator && s.attrs->aggregator->asn > 0xffff)
    a = &*s.attrs->aggregator;
  if (!a) return false;
  w.u32(a->asn);
  w.u32(a->address.v4_host_order());
  return true;
}

Expected<void, AttrFault> row_pmsi_tunnel(ByteReader r, const CodecOptions&, ParsedAttributes& p) {
  return store(decode_pmsi_tunnel(r), p.attrs.pmsi_tunnel);
}
bool enc_pmsi_tunnel(const AttrSource& s, ByteWriter& w) {
  if (!s.attrs || !s.attrs->pmsi_tunnel) return false;
  const PmsiTunnel& t = *s.attrs->pmsi_tunnel;
  w.u8(t.flags);
  w.u8(t.tunnel_type);
  w.u24(t.label & 0xffffff);
  w.bytes(t.tunnel_id);
  return true;
}

Expected<void, AttrFault> row_large_communities(ByteReader r, const CodecOptions&,
                                                ParsedAttributes& p) {
  return store(decode_large_communities(r), p.attrs.large_communities);
}
bool enc_large_communities(const AttrSource& s, ByteWriter& w) {
  if (!s.attrs || s.attrs->large_communities.empty()) return false;
  for (const auto& c : s.attrs->large_communities) {
    w.u32(c.global);
    w.u32(c.local1);
    w.u32(c.local2);
  }
  return true;
}

using A = AttrAction;
// One row per attribute, ascending type. `on_error` is RFC 7606 §7's approach for the attribute,
// used for its flag errors too (§3 c); None stands for "session reset".
constexpr AttrRow kTable[] = {
    {AttrType::Origin, "ORIGIN", kWellKnown, A::TreatAsWithdraw, row_origin, enc_origin},
    {AttrType::AsPath, "AS_PATH", kWellKnown, A::TreatAsWithdraw, row_as_path, enc_as_path},
    {AttrType::NextHop, "NEXT_HOP", kWellKnown, A::TreatAsWithdraw, row_next_hop, enc_next_hop},
    {AttrType::MultiExitDisc, "MULTI_EXIT_DISC", kOptional, A::TreatAsWithdraw, row_med, enc_med},
    {AttrType::LocalPref, "LOCAL_PREF", kWellKnown, A::TreatAsWithdraw, row_local_pref,
     enc_local_pref},
    {AttrType::AtomicAggregate, "ATOMIC_AGGREGATE", kWellKnown, A::AttributeDiscard,
     row_atomic_aggregate, enc_atomic_aggregate},
    {AttrType::Aggregator, "AGGREGATOR", kOptionalTransitive, A::AttributeDiscard, row_aggregator,
     enc_aggregator},
    {AttrType::Communities, "COMMUNITIES", kOptionalTransitive, A::TreatAsWithdraw, row_communities,
     enc_communities},
    {AttrType::OriginatorId, "ORIGINATOR_ID", kOptional, A::TreatAsWithdraw, row_originator_id,
     enc_originator_id},
    {AttrType::ClusterList, "CLUSTER_LIST", kOptional, A::TreatAsWithdraw, row_cluster_list,
     enc_cluster_list},
    {AttrType::MpReachNlri, "MP_REACH_NLRI", kOptional, A::None, row_mp_reach, enc_mp_reach},
    {AttrType::MpUnreachNlri, "MP_UNREACH_NLRI", kOptional, A::None, row_mp_unreach,
     enc_mp_unreach},
    {AttrType::ExtCommunities, "EXTENDED_COMMUNITIES", kOptionalTransitive, A::TreatAsWithdraw,
     row_ext_communities, enc_ext_communities},
    {AttrType::As4Path, "AS4_PATH", kOptionalTransitive, A::AttributeDiscard, row_as4_path,
     enc_as4_path},
    {AttrType::As4Aggregator, "AS4_AGGREGATOR", kOptionalTransitive, A::AttributeDiscard,
     row_as4_aggregator, enc_as4_aggregator},
    {AttrType::PmsiTunnel, "PMSI_TUNNEL", kOptionalTransitive, A::TreatAsWithdraw, row_pmsi_tunnel,
     enc_pmsi_tunnel},
    {AttrType::LargeCommunities, "LARGE_COMMUNITY", kOptionalTransitive, A::TreatAsWithdraw,
     row_large_communities, enc_large_communities},
};

bool is_mp(AttrType t) { return t == AttrType::MpReachNlri || t == AttrType::MpUnreachNlri; }

void encode_unknown(const UnknownAttribute& u, ByteWriter& w) {
  if (u.value.size() > 0xffff || find_attr(u.type)) return;  // not ours to pass on
  uint8_t flags = u.flags & static_cast<uint8_t>(~attr_flag::kExtendedLength);
  // RFC 4271 §5: an unrecognized optional transitive attribute is passed on "with the Partial bit
  // in the Attribute Flags octet set to 1".
  if ((flags & kOptionalTransitive) == kOptionalTransitive) flags |= attr_flag::kPartial;
  size_t mark = begin_attribute(flags, u.type, w);
  w.bytes(u.value);
  finish_attribute(mark, w);
}

}  // namespace

namespace {

// Type code -> row index + 1 (0: no row), so that the decoder finds a row in one lookup.
constexpr auto kIndex = [] {
  std::array<uint8_t, 256> index{};
  for (size_t i = 0; i < std::size(kTable); ++i)
    index[code(kTable[i].type)] = static_cast<uint8_t>(i + 1);
  return index;
}();

}  // namespace

const AttrRow* find_attr(uint8_t type) {
  uint8_t i = kIndex[type];
  return i ? &kTable[i - 1] : nullptr;
}

std::span<const AttrRow> attr_table() { return kTable; }

size_t begin_attribute(uint8_t flags, uint8_t type, ByteWriter& w) {
  size_t mark = w.size();
  w.u8(flags | attr_flag::kExtendedLength);
  w.u8(type);
  w.u16(0);
  return mark;
}

void finish_attribute(size_t mark, ByteWriter& w) {
  auto& out = w.data();
  size_t len = out.size() - mark - 4;
  if (BUG(len > 0xffff)) {  // an attribute value cannot exceed 65535 octets
    out.resize(mark);
    return;
  }
  if (len > 255) {
    w.patch_u16(mark + 2, static_cast<uint16_t>(len));
    return;
  }
  // RFC 4271 §4.3: the Extended Length bit only when needed, so a one-octet length.
  out[mark] = out[mark] & static_cast<uint8_t>(~attr_flag::kExtendedLength);
  out[mark + 2] = static_cast<uint8_t>(len);
  out.erase(out.begin() + static_cast<ptrdiff_t>(mark + 3));
}

bool encode_attribute(uint8_t flags, uint8_t type, const AttrSource& src, AttrEncodeFn encode,
                      ByteWriter& w) {
  size_t mark = begin_attribute(flags, type, w);
  if (!encode(src, w)) {
    w.data().resize(mark);
    return false;
  }
  finish_attribute(mark, w);
  return true;
}

void encode_attributes(const AttrSource& src, ByteWriter& w) {
  // RFC 7606 §5.1: "the MP_REACH_NLRI or MP_UNREACH_NLRI attribute (if present) SHALL be encoded
  // as the very first path attribute in an UPDATE message".
  encode_attribute(kOptional, code(AttrType::MpUnreachNlri), src, enc_mp_unreach, w);
  encode_attribute(kOptional, code(AttrType::MpReachNlri), src, enc_mp_reach, w);
  if (!src.attrs) return;
  const auto& unknown = src.attrs->unknown;
  const bool sorted = std::is_sorted(unknown.begin(), unknown.end(),
                                     [](const auto& a, const auto& b) { return a.type < b.type; });
  std::vector<const UnknownAttribute*> sorted_unknown;  // only for hand-built, unsorted lists
  if (!sorted) {
    for (const auto& u : unknown) sorted_unknown.push_back(&u);
    std::stable_sort(sorted_unknown.begin(), sorted_unknown.end(),
                     [](auto* a, auto* b) { return a->type < b->type; });
  }
  auto unknown_at = [&](size_t i) -> const UnknownAttribute& {
    return sorted ? unknown[i] : *sorted_unknown[i];
  };
  size_t u = 0;
  for (const auto& row : kTable) {
    if (is_mp(row.type)) continue;
    for (; u < unknown.size() && unknown_at(u).type < code(row.type); ++u)
      encode_unknown(unknown_at(u), w);
    encode_attribute(row.flags, code(row.type), src, row.encode, w);
  }
  for (; u < unknown.size(); ++u) encode_unknown(unknown_at(u), w);
}

}  // namespace isthmus::bgp
