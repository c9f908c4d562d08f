// UPDATE byte/struct pairs and RFC 7606 outcomes (§3, §4, §5.3, §7), RFC 6793 merging, End-of-RIB.
#include <gtest/gtest.h>

#include "bgp/wire/codec.h"
#include "bgp/wire/test_util.h"

namespace isthmus::bgp {
namespace {

using test::hex;
using test::ip;
using test::pfx;
using Seg = AsPathSegment;

CodecOptions two() {
  CodecOptions o;
  o.four_octet_as = false;
  return o;
}

DecodedUpdate decoded(const std::vector<uint8_t>& body, CodecOptions opts = {}) {
  auto d = decode_update(body, opts);
  EXPECT_TRUE(d.has_value()) << (d ? "" : d.error().describe());
  return d ? *d : DecodedUpdate{};
}

Notification reset_of(const std::vector<uint8_t>& body, CodecOptions opts = {}) {
  auto d = decode_update(body, opts);
  EXPECT_FALSE(d.has_value());
  return d ? Notification{} : d.error();
}

const char* kBasicAttrs =
    "40 01 01 00"                       // ORIGIN IGP
    "40 02 0a 02 02 0000fde9 0000fdea"  // AS_PATH 65001 65002
    "40 03 04 c6120001"                 // NEXT_HOP 198.18.0.1
    "80 04 04 00000064"                 // MED 100
    "40 05 04 000000c8"                 // LOCAL_PREF 200
    "c0 08 04 fde90064";                // COMMUNITIES 65001:100

PathAttributes basic_attrs() {
  PathAttributes a;
  a.origin = Origin::Igp;
  a.as_path = AsPath{{Seg{Seg::Type::Sequence, {65001, 65002}}}};
  a.next_hop = ip("198.18.0.1");
  a.med = 100;
  a.local_pref = 200;
  a.communities = {0xfde90064};
  return a;
}

TEST(Update, Ipv4BytesBothWays) {
  auto body = test::update_body(hex("18 c61301"), hex(kBasicAttrs), hex("18 644001 10 6442"));
  Update u;
  u.withdrawn = {pfx("198.19.1.0/24")};
  u.attrs = basic_attrs();
  u.nlri = {pfx("100.64.1.0/24"), pfx("100.66.0.0/16")};
  std::vector<uint8_t> out;
  ASSERT_TRUE(encode_update(u, {}, out).has_value());
  EXPECT_EQ(out, test::message(MessageType::Update, body));
  auto d = decoded(body);
  EXPECT_EQ(d.update, u);
  EXPECT_EQ(d.action, AttrAction::None);
  EXPECT_TRUE(d.errors.empty());
}

TEST(Update, Ipv6MpReachBytesBothWays) {
  auto attrs = hex(
      "90 0e 002e 0002 01 20 fd000db8000000000000000000000001 fe800000000000000000000000000001 00"
      " 40 fd000db800010000"  // MP_REACH first (RFC 7606 §5.1); extended length as sent by some
      "40 01 01 00 40 02 06 02 01 0000fde9");
  Update u;
  u.attrs = PathAttributes{};
  u.attrs->origin = Origin::Igp;
  u.attrs->as_path = AsPath{{Seg{Seg::Type::Sequence, {65001}}}};
  u.attrs->next_hop = ip("fd00:db8::1");
  u.attrs->link_local_next_hop = ip("fe80::1");
  u.mp_reach = MpReach{kIpv6Unicast, {ip("fd00:db8::1"), ip("fe80::1")}, {pfx("fd00:db8:1::/64")}};
  auto d = decoded(test::update_body({}, attrs, {}));
  EXPECT_EQ(d.update, u);
  // The encoder uses a one-octet length where it can.
  attrs[0] = 0x80;
  attrs.erase(attrs.begin() + 2);
  std::vector<uint8_t> out;
  ASSERT_TRUE(encode_update(u, {}, out).has_value());
  EXPECT_EQ(out, test::message(MessageType::Update, test::update_body({}, attrs, {})));
}

TEST(Update, LengthOverrunsResetTheSession) {
  // RFC 4271 §6.3 / RFC 7606 §4: Withdrawn Routes Length or Total Attribute Length too large.
  auto n = reset_of(hex("0005 18 6440 00"));
  EXPECT_EQ(n, (Notification{ErrorCode::UpdateMessage, update_error::kMalformedAttributeList, {}}));
  EXPECT_EQ(reset_of(hex("0000 0010 40 01 01 00")).subcode, update_error::kMalformedAttributeList);
  EXPECT_EQ(reset_of(hex("00")).subcode, update_error::kMalformedAttributeList);
}

TEST(Update, NlriSyntaxErrorsResetTheSession) {
  // RFC 7606 §5.3, RFC 4271 §6.3 Invalid Network Field.
  auto attrs = hex(kBasicAttrs);
  EXPECT_EQ(reset_of(test::update_body({}, attrs, hex("21 64400000 00"))).subcode,
            update_error::kInvalidNetworkField);
  EXPECT_EQ(reset_of(test::update_body({}, attrs, hex("18 6440"))).subcode,
            update_error::kInvalidNetworkField);
  EXPECT_EQ(reset_of(test::update_body(hex("28 64400000 00"), {}, {})).subcode,
            update_error::kInvalidNetworkField);
}

TEST(Update, AttributeOverrunIsTreatAsWithdraw) {
  // RFC 7606 §4: the last attribute runs past the Total Attribute Length.
  auto attrs = test::cat({hex(kBasicAttrs), hex("c0 08 08 fde90064")});
  auto d = decoded(test::update_body({}, attrs, hex("18 644001")));
  EXPECT_EQ(d.action, AttrAction::TreatAsWithdraw);
  EXPECT_FALSE(d.update.attrs);
  EXPECT_TRUE(d.update.nlri.empty());
  EXPECT_EQ(d.update.withdrawn, std::vector<Prefix>{pfx("100.64.1.0/24")});
  // Fewer octets than an attribute header left.
  auto d2 =
      decoded(test::update_body({}, test::cat({hex(kBasicAttrs), hex("40 01")}), hex("18 644001")));
  EXPECT_EQ(d2.action, AttrAction::TreatAsWithdraw);
  EXPECT_EQ(d2.update.withdrawn, std::vector<Prefix>{pfx("100.64.1.0/24")});
}

TEST(Update, BadOriginIsTreatAsWithdrawAndMpReachStillFound) {
  // RFC 7606 §7.1 and STYLE: keep parsing so that MP_REACH NLRI is withdrawn too.
  auto attrs =
      hex("40 01 01 07"  // ORIGIN 7
          "40 02 00"
          "80 0e 1c 0002 01 10 fd000db8000000000000000000000001 00 30 fd000db80001"
          "80 0f 0a 0002 01 30 fd000db80009"  // also withdraws one
          "40 03 04 c6120001");
  auto d = decoded(test::update_body({}, attrs, hex("18 644001")));
  EXPECT_EQ(d.action, AttrAction::TreatAsWithdraw);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].type, 1);
  EXPECT_EQ(d.errors[0].reason, "ORIGIN: undefined value 7");
  EXPECT_FALSE(d.update.attrs);
  EXPECT_FALSE(d.update.mp_reach);
  EXPECT_EQ(d.update.withdrawn, std::vector<Prefix>{pfx("100.64.1.0/24")});
  ASSERT_TRUE(d.update.mp_unreach);
  EXPECT_EQ(d.update.mp_unreach->withdrawn,
            (std::vector<Prefix>{pfx("fd00:db8:9::/48"), pfx("fd00:db8:1::/48")}));
}

TEST(Update, TreatAsWithdrawOfIpv4MpReach) {
  auto attrs =
      hex("40 01 01 00 40 02 04 02 01 fde9"  // AS_PATH with a 2-octet ASN: malformed
          "80 0e 0d 0001 01 04 c6120001 00 18 644001");
  auto d = decoded(test::update_body({}, attrs, {}));
  EXPECT_EQ(d.action, AttrAction::TreatAsWithdraw);
  EXPECT_EQ(d.update.withdrawn, std::vector<Prefix>{pfx("100.64.1.0/24")});
  EXPECT_FALSE(d.update.mp_reach);
}

TEST(Update, DuplicateAttributes) {
  // RFC 7606 §3 g: later copies discarded, the first kept...
  auto attrs = test::cat({hex(kBasicAttrs), hex("40 01 01 02")});
  auto d = decoded(test::update_body({}, attrs, hex("18 644001")));
  EXPECT_EQ(d.action, AttrAction::AttributeDiscard);
  ASSERT_TRUE(d.update.attrs);
  EXPECT_EQ(d.update.attrs->origin, Origin::Igp);
  EXPECT_EQ(d.update.nlri.size(), 1u);
  // ... except MP_REACH_NLRI / MP_UNREACH_NLRI: Malformed Attribute List.
  auto mp = hex("80 0f 03 0002 01");
  EXPECT_EQ(reset_of(test::update_body({}, test::cat({mp, mp}), {})).subcode,
            update_error::kMalformedAttributeList);
}

TEST(Update, FlagErrors) {
  // RFC 7606 §3 c: ORIGIN marked optional is malformed: treat-as-withdraw.
  auto attrs = hex("c0 01 01 00 40 02 00 40 03 04 c6120001");
  auto d = decoded(test::update_body({}, attrs, hex("18 644001")));
  EXPECT_EQ(d.action, AttrAction::TreatAsWithdraw);
  // A Partial bit on a well-known attribute likewise.
  auto partial = hex("60 01 01 00 40 02 00 40 03 04 c6120001");
  EXPECT_EQ(decoded(test::update_body({}, partial, hex("18 644001"))).action,
            AttrAction::TreatAsWithdraw);
  // ATOMIC_AGGREGATE flag error: attribute discard.
  auto atomic = test::cat({hex(kBasicAttrs), hex("c0 06 00")});
  auto a = decoded(test::update_body({}, atomic, hex("18 644001")));
  EXPECT_EQ(a.action, AttrAction::AttributeDiscard);
  EXPECT_FALSE(a.update.attrs->atomic_aggregate);
  EXPECT_EQ(a.update.nlri.size(), 1u);
  // MP_UNREACH with the transitive bit: session reset, the attribute as data.
  auto n = reset_of(test::update_body({}, hex("c0 0f 03 0002 01"), {}));
  EXPECT_EQ(n, (Notification{ErrorCode::UpdateMessage, update_error::kAttributeFlagsError,
                             hex("c0 0f 03 0002 01")}));
}

TEST(Update, UnknownAttributes) {
  // RFC 4271 §6.3: unrecognized well-known: reset with the attribute as data.
  auto wk = hex("40 63 02 0102");
  EXPECT_EQ(
      reset_of(test::update_body({}, wk, {})),
      (Notification{ErrorCode::UpdateMessage, update_error::kUnrecognizedWellKnownAttribute, wk}));
  // Optional transitive kept (sorted by type), optional non-transitive dropped.
  auto attrs = test::cat({hex(kBasicAttrs), hex("c0 63 02 0102  80 64 01 00  e0 c8 01 09")});
  auto d = decoded(test::update_body({}, attrs, hex("18 644001")));
  EXPECT_EQ(d.action, AttrAction::None);
  ASSERT_TRUE(d.update.attrs);
  EXPECT_EQ(d.update.attrs->unknown,
            (std::vector<UnknownAttribute>{{0xc0, 99, {1, 2}}, {0xe0, 200, {9}}}));
  // Passed on with the Partial bit.
  std::vector<uint8_t> out;
  ASSERT_TRUE(encode_update(d.update, {}, out).has_value());
  auto again = decoded(std::vector<uint8_t>(out.begin() + 19, out.end()));
  EXPECT_EQ(again.update.attrs->unknown,
            (std::vector<UnknownAttribute>{{0xe0, 99, {1, 2}}, {0xe0, 200, {9}}}));
}

TEST(Update, MissingWellKnownIsTreatAsWithdraw) {
  // RFC 7606 §3 d.
  for (const char* attrs : {"40 02 00 40 03 04 c6120001",     // no ORIGIN
                            "40 01 01 00 40 03 04 c6120001",  // no AS_PATH
                            "40 01 01 00 40 02 00"}) {        // no NEXT_HOP
    auto d = decoded(test::update_body({}, hex(attrs), hex("18 644001")));
    EXPECT_EQ(d.action, AttrAction::TreatAsWithdraw) << attrs;
    EXPECT_EQ(d.update.withdrawn, std::vector<Prefix>{pfx("100.64.1.0/24")});
    EXPECT_TRUE(d.update.nlri.empty());
  }
  // NLRI without any attribute at all.
  auto bare = decoded(test::update_body({}, {}, hex("18 644001")));
  EXPECT_EQ(bare.action, AttrAction::TreatAsWithdraw);
  EXPECT_EQ(bare.errors.size(), 3u);
  // MP_REACH needs ORIGIN and AS_PATH but not NEXT_HOP.
  auto mp = decoded(test::update_body(
      {}, hex("40 01 01 00 40 02 00 80 0e 0d 0001 01 04 c6120001 00 18 644001"), {}));
  EXPECT_EQ(mp.action, AttrAction::None);
  EXPECT_EQ(mp.update.attrs->next_hop, ip("198.18.0.1"));
  // No NLRI: nothing is mandatory.
  EXPECT_EQ(decoded(test::update_body({}, hex("40 01 01 00"), {})).action, AttrAction::None);
}

TEST(Update, MpReachErrorsCarryTheAttribute) {
  auto attr = hex("80 0e 0a 0002 01 04 c6120001 00 00");  // IPv6 with a 4-octet next hop
  EXPECT_EQ(reset_of(test::update_body({}, attr, {})),
            (Notification{ErrorCode::UpdateMessage, update_error::kOptionalAttributeError, attr}));
}

TEST(Update, FourOctetMergeFromTwoOctetPeer) {
  // RFC 6793 §4.2.3.
  auto attrs =
      hex("40 01 01 00"
          "40 02 08 02 03 fde9 5ba0 5ba0"
          "40 03 04 c6120001"
          "c0 07 06 5ba0 c6120002"
          "c0 11 0a 02 02 00011170 00011171"
          "c0 12 08 00011172 c6120002");
  auto d = decoded(test::update_body({}, attrs, hex("18 644001")), two());
  EXPECT_EQ(d.action, AttrAction::None);
  EXPECT_EQ(d.update.attrs->as_path.to_string(), "65001 70000 70001");
  EXPECT_EQ(d.update.attrs->aggregator, (Aggregator{70002, ip("198.18.0.2")}));
  // Encoding back to a 2-octet peer: AS_TRANS in AS_PATH and AGGREGATOR, the whole path in
  // AS4_PATH, and the same attributes once decoded.
  std::vector<uint8_t> out;
  ASSERT_TRUE(encode_update(d.update, two(), out).has_value());
  EXPECT_EQ(out, test::message(MessageType::Update,
                               test::update_body({},
                                                 hex("40 01 01 00"
                                                     "40 02 08 02 03 fde9 5ba0 5ba0"
                                                     "40 03 04 c6120001"
                                                     "c0 07 06 5ba0 c6120002"
                                                     "c0 11 0e 02 03 0000fde9 00011170 00011171"
                                                     "c0 12 08 00011172 c6120002"),
                                                 hex("18 644001"))));
  auto again = decode_update(std::vector<uint8_t>(out.begin() + 19, out.end()), two());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->update, d.update);
}

TEST(Update, As4AggregatorIgnoredWhenAggregatorIsNotAsTrans) {
  auto attrs =
      hex("40 01 01 00 40 02 04 02 01 5ba0 40 03 04 c6120001"
          "c0 07 06 fde9 c6120002"
          "c0 11 06 02 01 00011170"
          "c0 12 08 00011172 c6120002");
  auto d = decoded(test::update_body({}, attrs, hex("18 644001")), two());
  EXPECT_EQ(d.action, AttrAction::AttributeDiscard);
  EXPECT_EQ(d.update.attrs->as_path.to_string(), "23456");  // AS4_PATH ignored as well
  EXPECT_EQ(d.update.attrs->aggregator->asn, 65001u);
}

TEST(Update, As4AttributesFromFourOctetPeerAreDiscarded) {
  auto attrs =
      hex("40 01 01 00 40 02 06 02 01 0000fde9 40 03 04 c6120001"
          "c0 11 06 02 01 00011170");
  auto d = decoded(test::update_body({}, attrs, hex("18 644001")));
  EXPECT_EQ(d.action, AttrAction::AttributeDiscard);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].type, 17);
  EXPECT_EQ(d.update.attrs->as_path.to_string(), "65001");
  EXPECT_EQ(d.update.nlri.size(), 1u);
}

TEST(Update, EndOfRib) {
  for (Family f : {kIpv4Unicast, kIpv6Unicast, kL2vpnEvpn}) {
    std::vector<uint8_t> out;
    encode_end_of_rib(f, out);
    auto m = decode_message(out, {});
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(end_of_rib_family(std::get<DecodedUpdate>(*m).update), f) << f.name();
  }
  std::vector<uint8_t> v4;
  encode_end_of_rib(kIpv4Unicast, v4);
  EXPECT_EQ(v4, test::message(MessageType::Update, hex("0000 0000")));
  std::vector<uint8_t> evpn;
  encode_end_of_rib(kL2vpnEvpn, evpn);
  EXPECT_EQ(evpn, test::message(MessageType::Update, hex("0000 0006 80 0f 03 0019 46")));
}

TEST(Update, EncodeUpdateFailsWhenTooLarge) {
  Update u;
  for (uint32_t i = 0; i < 1100; ++i) u.withdrawn.push_back(Prefix(IpAddress::v4(i << 8), 24));
  std::vector<uint8_t> out{1, 2, 3};
  EXPECT_FALSE(encode_update(u, {}, out).has_value());
  EXPECT_EQ(out.size(), 3u);
  CodecOptions ext;
  ext.extended_message = true;
  EXPECT_TRUE(encode_update(u, ext, out).has_value());
}

}  // namespace
}  // namespace isthmus::bgp
