// Attribute byte/struct pairs through the table rows, and RFC 7606 §7 outcomes per attribute.
#include "bgp/wire/attributes.h"

#include <gtest/gtest.h>

#include "bgp/wire/test_util.h"

namespace isthmus::bgp {
namespace {

using test::hex;
using Seg = AsPathSegment;

CodecOptions four() { return CodecOptions{}; }
CodecOptions two() {
  CodecOptions o;
  o.four_octet_as = false;
  return o;
}

// Decodes `value` with the row of `type`; on success, encodes it back and expects `value`.
ParsedAttributes both_ways(AttrType type, const std::string& value, CodecOptions opts = four()) {
  const AttrRow* row = find_attr(static_cast<uint8_t>(type));
  EXPECT_NE(row, nullptr);
  ParsedAttributes p;
  auto bytes = hex(value);
  auto ok = row->decode(ByteReader(bytes), opts, p);
  EXPECT_TRUE(ok.has_value()) << (ok ? "" : ok.error().error.reason);
  AttrSource src;
  src.attrs = &p.attrs;
  src.mp_reach = p.mp_reach ? &*p.mp_reach : nullptr;
  src.mp_unreach = p.mp_unreach ? &*p.mp_unreach : nullptr;
  src.as4_path = p.as4_path ? &*p.as4_path : nullptr;
  src.as4_aggregator = p.as4_aggregator ? &*p.as4_aggregator : nullptr;
  src.four_octet_as = opts.four_octet_as;
  src.next_hop = true;
  std::vector<uint8_t> out;
  ByteWriter w(out);
  EXPECT_TRUE(row->encode(src, w));
  EXPECT_EQ(out, bytes) << row->name;
  return p;
}

AttrFault fault_of(AttrType type, const std::string& value, CodecOptions opts = four()) {
  ParsedAttributes p;
  auto bytes = hex(value);
  auto ok = find_attr(static_cast<uint8_t>(type))->decode(ByteReader(bytes), opts, p);
  EXPECT_FALSE(ok.has_value()) << value;
  return ok ? AttrFault{} : ok.error();
}

AttrAction action_of(AttrType type, const std::string& value, CodecOptions opts = four()) {
  auto f = fault_of(type, value, opts);
  EXPECT_EQ(f.reset_subcode, 0);
  EXPECT_FALSE(f.error.reason.empty());
  return f.error.action;
}

TEST(Attributes, TableIsSortedAndComplete) {
  auto t = attr_table();
  for (size_t i = 1; i < t.size(); ++i) EXPECT_LT(t[i - 1].type, t[i].type);
  EXPECT_EQ(find_attr(99), nullptr);
  EXPECT_STREQ(find_attr(1)->name, "ORIGIN");
}

TEST(Attributes, Origin) {
  EXPECT_EQ(both_ways(AttrType::Origin, "00").attrs.origin, Origin::Igp);
  EXPECT_EQ(both_ways(AttrType::Origin, "02").attrs.origin, Origin::Incomplete);
  // RFC 7606 §7.1
  EXPECT_EQ(action_of(AttrType::Origin, "03"), AttrAction::TreatAsWithdraw);
  EXPECT_EQ(action_of(AttrType::Origin, "0000"), AttrAction::TreatAsWithdraw);
  EXPECT_EQ(action_of(AttrType::Origin, ""), AttrAction::TreatAsWithdraw);
}

TEST(Attributes, AsPathFourOctet) {
  auto p = both_ways(AttrType::AsPath, "02 03 0000fde9 0000fdea 00011170  01 02 00000001 00000002");
  EXPECT_EQ(
      p.attrs.as_path,
      (AsPath{{Seg{Seg::Type::Sequence, {65001, 65002, 70000}}, Seg{Seg::Type::Set, {1, 2}}}}));
  EXPECT_TRUE(both_ways(AttrType::AsPath, "").attrs.as_path.segments.empty());
  auto c = both_ways(AttrType::AsPath, "03 01 0000fc00 04 01 0000fc01 02 01 0000fde9");
  EXPECT_EQ(c.attrs.as_path.to_string(), "(64512) [64513] 65001");
}

TEST(Attributes, AsPathTwoOctet) {
  auto p = both_ways(AttrType::AsPath, "02 02 fde9 5ba0", two());
  EXPECT_EQ(p.attrs.as_path, (AsPath{{Seg{Seg::Type::Sequence, {65001, kAsTrans}}}}));
}

TEST(Attributes, AsPathMalformedIsTreatAsWithdraw) {
  // RFC 7606 §7.2: undefined segment type, zero-length segment, overrun, one octet left over.
  EXPECT_EQ(action_of(AttrType::AsPath, "05 01 0000fde9"), AttrAction::TreatAsWithdraw);
  EXPECT_EQ(action_of(AttrType::AsPath, "00 01 0000fde9"), AttrAction::TreatAsWithdraw);
  EXPECT_EQ(action_of(AttrType::AsPath, "02 00"), AttrAction::TreatAsWithdraw);
  EXPECT_EQ(action_of(AttrType::AsPath, "02 02 0000fde9"), AttrAction::TreatAsWithdraw);
  EXPECT_EQ(action_of(AttrType::AsPath, "02 01 0000fde9 02"), AttrAction::TreatAsWithdraw);
  // Four-octet ASNs read as two-octet ones do not add up.
  EXPECT_EQ(action_of(AttrType::AsPath, "02 01 0000fde9", two()), AttrAction::TreatAsWithdraw);
}

TEST(Attributes, As4PathMalformedIsDiscarded) {
  auto p = both_ways(AttrType::As4Path, "02 01 00011170", two());
  EXPECT_EQ(p.as4_path, (AsPath{{Seg{Seg::Type::Sequence, {70000}}}}));
  EXPECT_EQ(action_of(AttrType::As4Path, "02 02 00011170", two()), AttrAction::AttributeDiscard);
}

TEST(Attributes, NextHopMedLocalPrefOriginatorId) {
  EXPECT_EQ(both_ways(AttrType::NextHop, "c6120001").attrs.next_hop, test::ip("198.18.0.1"));
  EXPECT_EQ(both_ways(AttrType::MultiExitDisc, "00000064").attrs.med, 100u);
  EXPECT_EQ(both_ways(AttrType::LocalPref, "000000c8").attrs.local_pref, 200u);
  EXPECT_EQ(both_ways(AttrType::OriginatorId, "c6120001").attrs.originator_id, 0xc6120001u);
  // RFC 7606 §7.3, §7.4, §7.5, §7.9: length other than 4.
  EXPECT_EQ(action_of(AttrType::NextHop, "c612000100"), AttrAction::TreatAsWithdraw);
  EXPECT_EQ(action_of(AttrType::MultiExitDisc, "000064"), AttrAction::TreatAsWithdraw);
  EXPECT_EQ(action_of(AttrType::LocalPref, ""), AttrAction::TreatAsWithdraw);
  EXPECT_EQ(action_of(AttrType::OriginatorId, "c612000100"), AttrAction::TreatAsWithdraw);
}

TEST(Attributes, AtomicAggregateAndAggregator) {
  EXPECT_TRUE(both_ways(AttrType::AtomicAggregate, "").attrs.atomic_aggregate);
  EXPECT_EQ(both_ways(AttrType::Aggregator, "00011170 c6120001").attrs.aggregator,
            (Aggregator{70000, test::ip("198.18.0.1")}));
  EXPECT_EQ(both_ways(AttrType::Aggregator, "fde9 c6120001", two()).attrs.aggregator,
            (Aggregator{65001, test::ip("198.18.0.1")}));
  EXPECT_EQ(both_ways(AttrType::As4Aggregator, "00011170 c6120001", two()).as4_aggregator,
            (Aggregator{70000, test::ip("198.18.0.1")}));
  // RFC 7606 §7.6, §7.7: attribute discard.
  EXPECT_EQ(action_of(AttrType::AtomicAggregate, "00"), AttrAction::AttributeDiscard);
  EXPECT_EQ(action_of(AttrType::Aggregator, "fde9 c6120001"), AttrAction::AttributeDiscard);
  EXPECT_EQ(action_of(AttrType::Aggregator, "00011170 c6120001", two()),
            AttrAction::AttributeDiscard);
  EXPECT_EQ(action_of(AttrType::As4Aggregator, "fde9 c6120001", two()),
            AttrAction::AttributeDiscard);
}

TEST(Attributes, CommunityLists) {
  EXPECT_EQ(both_ways(AttrType::Communities, "fde90064 ffffff01").attrs.communities,
            (std::vector<Community>{0xfde90064, kNoExport}));
  EXPECT_EQ(both_ways(AttrType::ClusterList, "c6120001 c6120002").attrs.cluster_list,
            (std::vector<uint32_t>{0xc6120001, 0xc6120002}));
  auto ext = both_ways(AttrType::ExtCommunities, "0002fde800000064 030c000000000008");
  ASSERT_EQ(ext.attrs.ext_communities.size(), 2u);
  EXPECT_EQ(ext.attrs.ext_communities[0].to_string(), "rt:65000:100");
  EXPECT_EQ(
      both_ways(AttrType::LargeCommunities, "00011170 00000001 00000002").attrs.large_communities,
      (std::vector<LargeCommunity>{{70000, 1, 2}}));
  // RFC 7606 §7.8, §7.10, §7.14, RFC 8092 §6: not a non-zero multiple of the unit.
  EXPECT_EQ(action_of(AttrType::Communities, "fde900"), AttrAction::TreatAsWithdraw);
  EXPECT_EQ(action_of(AttrType::Communities, ""), AttrAction::TreatAsWithdraw);
  EXPECT_EQ(action_of(AttrType::ClusterList, "c612000101"), AttrAction::TreatAsWithdraw);
  EXPECT_EQ(action_of(AttrType::ExtCommunities, "0002fde8000000"), AttrAction::TreatAsWithdraw);
  EXPECT_EQ(action_of(AttrType::LargeCommunities, "0001117000000001"), AttrAction::TreatAsWithdraw);
}

TEST(Attributes, MpReachIpv6WithLinkLocal) {
  auto p =
      both_ways(AttrType::MpReachNlri,
                "0002 01 20 fd000db8000000000000000000000001 fe800000000000000000000000000001 00"
                " 40 fd000db800010000 30 fd000db80002");
  ASSERT_TRUE(p.mp_reach);
  EXPECT_EQ(p.mp_reach->family, kIpv6Unicast);
  EXPECT_EQ(p.mp_reach->next_hops,
            (std::vector<IpAddress>{test::ip("fd00:db8::1"), test::ip("fe80::1")}));
  EXPECT_EQ(p.mp_reach->nlri,
            (std::vector<Prefix>{test::pfx("fd00:db8:1::/64"), test::pfx("fd00:db8:2::/48")}));
}

TEST(Attributes, MpReachErrorsResetTheSession) {
  // RFC 7606 §7.11: next hop length inconsistent with the family; NLRI syntax (§5.3).
  auto bad_nh = fault_of(AttrType::MpReachNlri, "0002 01 08 fd00 0db8 0000 0001 00");
  EXPECT_EQ(bad_nh.reset_subcode, update_error::kOptionalAttributeError);
  EXPECT_EQ(fault_of(AttrType::MpReachNlri, "0001 01 10 fd000db8000000000000000000000001 00")
                .reset_subcode,
            update_error::kOptionalAttributeError);
  EXPECT_EQ(fault_of(AttrType::MpReachNlri, "0001 01 04 c6120001 00 21 64400000 00").reset_subcode,
            update_error::kOptionalAttributeError);
  EXPECT_EQ(fault_of(AttrType::MpReachNlri, "0001 01 04 c6120001 00 18 6440").reset_subcode,
            update_error::kOptionalAttributeError);
  EXPECT_EQ(fault_of(AttrType::MpReachNlri, "0001 01 04 c61200").reset_subcode,
            update_error::kOptionalAttributeError);
  EXPECT_EQ(fault_of(AttrType::MpReachNlri, "0001").reset_subcode,
            update_error::kOptionalAttributeError);
  EXPECT_EQ(fault_of(AttrType::MpUnreachNlri, "00").reset_subcode,
            update_error::kOptionalAttributeError);
  EXPECT_EQ(fault_of(AttrType::MpUnreachNlri, "0002 01 81 00").reset_subcode,
            update_error::kOptionalAttributeError);
}

TEST(Attributes, MpForOtherFamiliesIsDiscardedForNow) {
  // VPN-IPv4 (AFI 1, SAFI 128) is not decoded (EVPN is: evpn_test.cc; RT-constraint: rtc_test.cc).
  EXPECT_EQ(action_of(AttrType::MpReachNlri,
                      "0001 80 0c 0000000000000000c6120001 00 70 000641 0000fde800000064 644001"),
            AttrAction::AttributeDiscard);
  EXPECT_EQ(action_of(AttrType::MpUnreachNlri, "0001 80 70 000641 0000fde800000064 644001"),
            AttrAction::AttributeDiscard);
  // An empty MP_UNREACH is End-of-RIB and kept.
  auto eor = both_ways(AttrType::MpUnreachNlri, "0001 80");
  EXPECT_EQ(eor.mp_unreach, (MpUnreach{Family{Afi::Ipv4, static_cast<Safi>(128)}, {}}));
  auto evpn_eor = both_ways(AttrType::MpUnreachNlri, "0019 46");
  EXPECT_EQ(evpn_eor.mp_unreach, (MpUnreach{kL2vpnEvpn, {}}));
  auto rtc_eor = both_ways(AttrType::MpUnreachNlri, "0001 84");
  EXPECT_EQ(rtc_eor.mp_unreach, (MpUnreach{kIpv4RouteTarget, {}}));
  auto rtc =
      both_ways(AttrType::MpReachNlri, "0001 84 04 c6120001 00 60 0000fde8 0002fde800000064");
  ASSERT_TRUE(rtc.mp_reach.has_value());
  EXPECT_EQ(rtc.mp_reach->rtc.size(), 1u);
}

TEST(Attributes, MpUnreachIpv4) {
  auto p = both_ways(AttrType::MpUnreachNlri, "0001 01 18 c61200 00 20 64400001");
  EXPECT_EQ(p.mp_unreach, (MpUnreach{kIpv4Unicast,
                                     {test::pfx("198.18.0.0/24"), test::pfx("0.0.0.0/0"),
                                      test::pfx("100.64.0.1/32")}}));
}

TEST(Attributes, MergeAs4Path) {
  AsPath as_path{{Seg{Seg::Type::Sequence, {65001, kAsTrans, kAsTrans}}}};
  AsPath as4{{Seg{Seg::Type::Sequence, {70000, 70001}}}};
  // RFC 6793 §4.2.3: the leading AS_PATH numbers, then AS4_PATH.
  EXPECT_EQ(merge_as4_path(as_path, as4).to_string(), "65001 70000 70001");
  // AS4_PATH longer than AS_PATH: ignored.
  AsPath long4{{Seg{Seg::Type::Sequence, {1, 2, 3, 4}}}};
  EXPECT_EQ(merge_as4_path(as_path, long4), as_path);
  // Leading confederation segments stay; AS4_PATH confederation segments are ignored.
  AsPath confed{{Seg{Seg::Type::ConfedSequence, {64512}}, Seg{Seg::Type::Sequence, {kAsTrans}},
                 Seg{Seg::Type::Set, {kAsTrans, 65002}}}};
  AsPath as4c{{Seg{Seg::Type::ConfedSequence, {99}}, Seg{Seg::Type::Set, {70002, 65002}}}};
  EXPECT_EQ(merge_as4_path(confed, as4c).to_string(), "(64512) 23456 {70002,65002}");
}

TEST(Attributes, EncodeOrderExtendedLengthAndPartial) {
  PathAttributes a;
  a.origin = Origin::Igp;
  a.next_hop = test::ip("198.18.0.1");
  a.med = 5;
  a.communities.assign(70, 0xfde90001);  // 280 octets: extended length
  a.unknown = {UnknownAttribute{0xc0, 40, {1, 2}}, UnknownAttribute{0xc0, 12, {3}}};
  std::vector<uint8_t> out;
  ByteWriter w(out);
  AttrSource src;
  src.attrs = &a;
  src.next_hop = true;
  encode_attributes(src, w);
  std::vector<uint8_t> comms;
  for (int i = 0; i < 70; ++i) comms.insert(comms.end(), {0xfd, 0xe9, 0x00, 0x01});
  auto want = test::cat({hex("40 01 01 00"        // ORIGIN
                             "40 02 00"           // AS_PATH (empty)
                             "40 03 04 c6120001"  // NEXT_HOP
                             "80 04 04 00000005"  // MED
                             "d0 08 0118"),       // COMMUNITIES, extended length 280
                         comms,
                         hex("e0 0c 01 03"        // unknown 12, Partial set
                             "e0 28 02 0102")});  // unknown 40, Partial set
  EXPECT_EQ(out, want);
}

TEST(Attributes, EncodeToTwoOctetPeer) {
  PathAttributes a;
  a.as_path =
      AsPath{{Seg{Seg::Type::ConfedSequence, {64512}}, Seg{Seg::Type::Sequence, {65001, 70000}}}};
  a.aggregator = Aggregator{70000, test::ip("198.18.0.1")};
  std::vector<uint8_t> out;
  ByteWriter w(out);
  AttrSource src;
  src.attrs = &a;
  src.four_octet_as = false;
  encode_attributes(src, w);
  EXPECT_EQ(out, hex("40 01 01 02"
                     "40 02 0a 03 01 fc00 02 02 fde9 5ba0"  // AS_TRANS
                     "c0 07 06 5ba0 c6120001"               // AGGREGATOR AS_TRANS
                     "c0 11 0a 02 02 0000fde9 00011170"     // AS4_PATH without confed
                     "c0 12 08 00011170 c6120001"));        // AS4_AGGREGATOR
  // Nothing to add when every ASN fits two octets.
  PathAttributes small;
  small.as_path = AsPath{{Seg{Seg::Type::Sequence, {65001}}}};
  out.clear();
  src.attrs = &small;
  encode_attributes(src, w);
  EXPECT_EQ(out, hex("40 01 01 02 40 02 04 02 01 fde9"));
}

TEST(Attributes, PmsiTunnel) {
  // RFC 6514 §5: flags, tunnel type, 3-octet label, tunnel identifier. Ingress replication for
  // VXLAN as FRR 8.4 and GoBGP 3.10 send it: label = VNI 100 unshifted, endpoint the VTEP.
  auto v4 = both_ways(AttrType::PmsiTunnel, "00 06 000064 c6120003");
  EXPECT_EQ(v4.attrs.pmsi_tunnel, PmsiTunnel::ingress_replication(100, test::ip("198.18.0.3")));
  EXPECT_EQ(v4.attrs.pmsi_tunnel->endpoint(), test::ip("198.18.0.3"));
  auto v6 = both_ways(AttrType::PmsiTunnel, "01 06 0000c8 fd000018000000000000000000000002");
  EXPECT_EQ(v6.attrs.pmsi_tunnel->flags, PmsiTunnel::kLeafInfoRequired);
  EXPECT_EQ(v6.attrs.pmsi_tunnel->label, 200u);
  EXPECT_EQ(v6.attrs.pmsi_tunnel->endpoint(), test::ip("fd00:18::2"));
  // Other tunnel types: the identifier is kept as sent (RFC 6514 §5: its format follows the type).
  auto mldp = both_ways(AttrType::PmsiTunnel, "00 02 000000 0102030405060708");
  EXPECT_EQ(mldp.attrs.pmsi_tunnel->tunnel_type, 2);
  EXPECT_EQ(mldp.attrs.pmsi_tunnel->tunnel_id.size(), 8u);
  EXPECT_EQ(mldp.attrs.pmsi_tunnel->endpoint(), std::nullopt);
  both_ways(AttrType::PmsiTunnel, "00 00 000000");  // no tunnel information
  // Malformed: treat-as-withdraw (RFC 7606 has no rule of its own for it; see attributes.cc).
  EXPECT_EQ(fault_of(AttrType::PmsiTunnel, "00 06 0000").error.reason,
            "PMSI_TUNNEL: length 4 (must be at least 5: flags, tunnel type, label)");
  EXPECT_EQ(action_of(AttrType::PmsiTunnel, ""), AttrAction::TreatAsWithdraw);
  EXPECT_EQ(fault_of(AttrType::PmsiTunnel, "00 06 000064 c61200").error.reason,
            "PMSI_TUNNEL: ingress replication with a 3-octet tunnel identifier (must be 4 or 16)");
  EXPECT_EQ(action_of(AttrType::PmsiTunnel, "00 06 000064"), AttrAction::TreatAsWithdraw);
  EXPECT_EQ(action_of(AttrType::PmsiTunnel, "00 06 000064 c6120003 00"),
            AttrAction::TreatAsWithdraw);
  // Its row: optional transitive (RFC 6514 §5), flag errors treat-as-withdraw too.
  const AttrRow* row = find_attr(22);
  ASSERT_NE(row, nullptr);
  EXPECT_STREQ(row->name, "PMSI_TUNNEL");
  EXPECT_EQ(row->flags, attr_flag::kOptional | attr_flag::kTransitive);
  EXPECT_EQ(row->on_error, AttrAction::TreatAsWithdraw);
}

TEST(Attributes, PmsiTunnelInAnUpdate) {
  // Received with the Partial bit (passed on by a speaker that did not know it): accepted.
  auto attrs = hex("40 01 01 00 40 02 00 40 03 04 c6120001 e0 16 09 00 06 000064 c6120001");
  auto d = decode_update(test::update_body({}, attrs, hex("18 644001")), {});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->action, AttrAction::None);
  ASSERT_TRUE(d->update.attrs.has_value());
  EXPECT_EQ(d->update.attrs->pmsi_tunnel,
            PmsiTunnel::ingress_replication(100, test::ip("198.18.0.1")));
  EXPECT_TRUE(d->update.attrs->unknown.empty());
  // Malformed: the routes are withdrawn, the session stays.
  auto bad = hex("40 01 01 00 40 02 00 40 03 04 c6120001 c0 16 03 00 06 00");
  auto w = decode_update(test::update_body({}, bad, hex("18 644001")), {});
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->action, AttrAction::TreatAsWithdraw);
  EXPECT_EQ(w->update.withdrawn, std::vector<Prefix>{test::pfx("100.64.1.0/24")});
  // Wrong flags (well-known): treat-as-withdraw (RFC 7606 §3 c).
  auto flags = hex("40 01 01 00 40 02 00 40 03 04 c6120001 40 16 09 00 06 000064 c6120001");
  auto f = decode_update(test::update_body({}, flags, hex("18 644001")), {});
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->action, AttrAction::TreatAsWithdraw);
}

}  // namespace
}  // namespace isthmus::bgp
