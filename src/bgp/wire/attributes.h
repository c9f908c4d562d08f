// Path attributes (RFC 4271 §4.3, §5; RFC 7606 §7): one table row per attribute with its flags,
// its decoder and its encoder. Exposed for update.cc, the tests and one fuzz target per row.
// Not covered yet: AIGP, BGP Prefix-SID, ADD-PATH.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "bgp/wire/codec.h"
#include "bgp/wire/types.h"
#include "core/bytes.h"
#include "core/expected.h"

namespace isthmus::bgp {

// Everything the attribute decoders fill in: the path attributes, plus what is not part of
// PathAttributes (MP_REACH/MP_UNREACH, and AS4_PATH/AS4_AGGREGATOR until update.cc merges them,
// RFC 6793 §4.2.3).
struct ParsedAttributes {
  PathAttributes attrs;
  std::optional<MpReach> mp_reach;
  std::optional<MpUnreach> mp_unreach;
  std::optional<AsPath> as4_path;
  std::optional<Aggregator> as4_aggregator;
  bool operator==(const ParsedAttributes&) const = default;
};

// A decoder's complaint: an RFC 7606 action, or (reset_subcode != 0) a session reset with that
// UPDATE Message Error subcode; update.cc then sends the attribute as the NOTIFICATION data.
struct AttrFault {
  AttrError error;
  uint8_t reset_subcode = 0;
};

// What the encoders read. `attrs` may be null when only MP_REACH/MP_UNREACH are written.
struct AttrSource {
  const PathAttributes* attrs = nullptr;
  const MpReach* mp_reach = nullptr;
  const MpUnreach* mp_unreach = nullptr;
  // Written as given when set; otherwise derived from attrs for 2-octet peers (RFC 6793 §4.2.2).
  const AsPath* as4_path = nullptr;
  const Aggregator* as4_aggregator = nullptr;
  bool four_octet_as = true;
  bool next_hop = false;  // write NEXT_HOP (the IPv4 NLRI field is in use)
};

// Decodes one attribute value into `out`.
using AttrDecodeFn = Expected<void, AttrFault> (*)(ByteReader value, const CodecOptions& opts,
                                                   ParsedAttributes& out);
// Writes one attribute value; returns false when there is nothing to write.
using AttrEncodeFn = bool (*)(const AttrSource& src, ByteWriter& w);

struct AttrRow {
  AttrType type;
  const char* name;
  uint8_t flags;  // the Optional and Transitive bits this attribute must carry (RFC 4271 §5)
  // RFC 7606 §3 c: flag errors use the attribute's approach for malformed values.
  AttrAction on_error;  // None here means session reset (MP_REACH/MP_UNREACH)
  AttrDecodeFn decode;
  AttrEncodeFn encode;
};

// The table, in ascending type order. nullptr for a type this code does not interpret.
const AttrRow* find_attr(uint8_t type);
std::span<const AttrRow> attr_table();

// Typed decoders, one per row (RFC 7606 §7 outcomes in the comments of attributes.cc).
Expected<Origin, AttrError> decode_origin(ByteReader r);
Expected<AsPath, AttrError> decode_as_path(ByteReader r, bool four_octet_as, uint8_t type);
Expected<IpAddress, AttrError> decode_next_hop(ByteReader r);
Expected<uint32_t, AttrError> decode_u32_attr(ByteReader r, uint8_t type);  // MED, LOCAL_PREF, ..
Expected<Aggregator, AttrError> decode_aggregator(ByteReader r, bool four_octet_as, uint8_t type);
Expected<std::vector<Community>, AttrError> decode_communities(ByteReader r);
Expected<std::vector<uint32_t>, AttrError> decode_cluster_list(ByteReader r);
Expected<std::vector<ExtCommunity>, AttrError> decode_ext_communities(ByteReader r);
Expected<std::vector<LargeCommunity>, AttrError> decode_large_communities(ByteReader r);
// RFC 6514 §5 PMSI_TUNNEL; malformed (shorter than 5 octets, or ingress replication without a 4-
// or 16-octet endpoint) is treat-as-withdraw (see attributes.cc for why).
Expected<PmsiTunnel, AttrError> decode_pmsi_tunnel(ByteReader r);
// MP_REACH/MP_UNREACH: `nullopt` with an AttributeDiscard error for families this code does not
// decode yet (everything but IPv4/IPv6 unicast and L2VPN EVPN; an empty MP_UNREACH, End-of-RIB,
// is kept). EVPN NLRI go to MpReach::evpn / MpUnreach::evpn; the EVPN next hop is 4 octets (IPv4),
// 16 (IPv6) or 32 (IPv6 global and link-local, as RFC 2545 §3 allows for IPv6).
Expected<std::optional<MpReach>, AttrFault> decode_mp_reach(ByteReader r);
Expected<std::optional<MpUnreach>, AttrFault> decode_mp_unreach(ByteReader r);

// RFC 6793 §4.2.3: the path to use from a 2-octet peer's AS_PATH (with AS_TRANS) and AS4_PATH.
AsPath merge_as4_path(const AsPath& as_path, const AsPath& as4_path);

// Writes all attributes of `src`: MP_UNREACH and MP_REACH first (RFC 7606 §5.1), then the others
// in ascending type order, unknown optional transitive ones with the Partial bit set.
void encode_attributes(const AttrSource& src, ByteWriter& w);
// One attribute header + value; the Extended Length bit only when the value exceeds 255 octets.
// Returns false (and writes nothing) when `encode` had nothing to write.
bool encode_attribute(uint8_t flags, uint8_t type, const AttrSource& src, AttrEncodeFn encode,
                      ByteWriter& w);
// Starts an attribute whose value the caller appends; finish_attribute() fixes the length.
size_t begin_attribute(uint8_t flags, uint8_t type, ByteWriter& w);
void finish_attribute(size_t mark, ByteWriter& w);

}  // namespace isthmus::bgp
