// Route target membership NLRI (RFC 4684 §4): bytes <-> RtMembership, every decode error, the
// prefix match, the RIB key, and the family in MP_REACH/MP_UNREACH (RFC 4760) with End-of-RIB.
#include "bgp/wire/rtc.h"

#include <gtest/gtest.h>

#include "bgp/wire/codec.h"
#include "bgp/wire/ext_community.h"
#include "bgp/wire/test_util.h"

namespace isthmus::bgp {
namespace {

using test::hex;

RtMembership decoded(const std::string& h) {
  auto bytes = hex(h);
  ByteReader r(bytes);
  auto m = decode_rtc_nlri(r);
  EXPECT_TRUE(m.has_value()) << (m ? "" : m.error());
  EXPECT_TRUE(r.empty()) << r.remaining() << " octets left";
  return m ? *m : RtMembership{};
}

std::string decode_error(const std::string& h) {
  std::vector<RtMembership> out;
  auto ok = decode_rtc_nlris(ByteReader(hex(h)), out);
  return ok ? std::string("(decoded)") : ok.error();
}

std::vector<uint8_t> encoded(const RtMembership& m) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_rtc_nlri(m, w);
  EXPECT_EQ(out.size(), rtc_nlri_wire_size(m));
  return out;
}

const ExtCommunity kRt100 = route_target_as2(65000, 100);
const ExtCommunity kRt200 = route_target_as2(65000, 200);

TEST(Rtc, FullMembershipBothWays) {
  // 96 bits: origin AS 65000, RT 0002:fde8:00000064 (rt:65000:100).
  const std::string h = "60 0000fde8 0002fde800000064";
  RtMembership m = decoded(h);
  EXPECT_EQ(m.length, 96);
  EXPECT_EQ(m.origin_as, 65000u);
  EXPECT_EQ(ExtCommunity{m.route_target}, kRt100);
  EXPECT_EQ(m, RtMembership::of(65000, kRt100.bytes));
  EXPECT_EQ(encoded(m), hex(h));
  EXPECT_EQ(m.to_string(), "65000:rt:65000:100");
  EXPECT_TRUE(m.covers(kRt100.bytes));
  EXPECT_FALSE(m.covers(kRt200.bytes));
}

TEST(Rtc, DefaultMembershipCoversEverything) {
  RtMembership m = decoded("00");
  EXPECT_TRUE(m.is_default());
  EXPECT_EQ(encoded(m), hex("00"));
  EXPECT_EQ(m.to_string(), "default");
  EXPECT_TRUE(m.covers(kRt100.bytes));
  // Origin AS only: every route target too.
  RtMembership as_only = decoded("20 0000fde8");
  EXPECT_EQ(as_only.origin_as, 65000u);
  EXPECT_TRUE(as_only.covers(kRt200.bytes));
  EXPECT_EQ(as_only.to_string(), "65000:any");
}

TEST(Rtc, PartialPrefixCoversLeadingBitsAndClearsTheRest) {
  // 32 + 44 bits: RT type, subtype, AS 65000 and the top 12 bits of the value; the octet with
  // the prefix's last bits carries noise past them, which is cleared.
  RtMembership m = decoded("4c 0000fde8 0002fde8000f");
  EXPECT_EQ(m.length, 76);
  EXPECT_EQ(m.route_target[5], 0x00);  // 0x0f & 0xf0
  EXPECT_EQ(encoded(m), hex("4c 0000fde8 0002fde80000"));
  EXPECT_TRUE(m.covers(kRt100.bytes));  // value 100 < 2^20: its top 12 bits are 0
  EXPECT_TRUE(m.covers(kRt200.bytes));
  EXPECT_FALSE(m.covers(route_target_as2(65000, 0x00100000).bytes));
  EXPECT_FALSE(m.covers(route_target_as2(65001, 100).bytes));
  EXPECT_EQ(m.to_string(), "65000:rt:65000:0/76");
}

TEST(Rtc, DecodeErrorsNameTheProblem) {
  EXPECT_EQ(decode_error("10 0000"),
            "route target membership: length 16 bits (must be 0 or 32..96, RFC 4684 §4)");
  EXPECT_EQ(decode_error("61 0000fde8 0002fde80000006400"),
            "route target membership: length 97 bits (must be 0 or 32..96, RFC 4684 §4)");
  EXPECT_EQ(decode_error("60 0000fde8 0002fd"),
            "route target membership of 96 bits: 12 octets, 7 left");
  // The second of two NLRI is cut.
  EXPECT_EQ(decode_error("00 60 0000"), "route target membership of 96 bits: 12 octets, 2 left");
}

TEST(Rtc, KeyRoundTrips) {
  for (const auto& m : {RtMembership{}, RtMembership::of(65000, kRt100.bytes),
                        RtMembership{40, 4200000000u, {0x02, 0, 0, 0, 0, 0, 0, 0}}}) {
    auto back = rtc_from_key(rtc_key(m));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, m);
  }
  EXPECT_FALSE(rtc_from_key(hex("00 00")).has_value());
}

TEST(Rtc, MpReachAndUnreachRoundTrip) {
  PathAttributes a;
  a.origin = Origin::Igp;
  a.next_hop = *IpAddress::parse("198.18.0.1");
  a.local_pref = 100;
  std::vector<RtMembership> routes{RtMembership{}, RtMembership::of(65000, kRt100.bytes),
                                   RtMembership::of(65000, kRt200.bytes)};
  std::vector<uint8_t> out;
  ASSERT_EQ(encode_rtc_reach(a, routes, CodecOptions{}, out), 1u);
  auto m = decode_message(out, CodecOptions{});
  ASSERT_TRUE(m.has_value());
  const auto& d = std::get<DecodedUpdate>(*m);
  EXPECT_TRUE(d.errors.empty());
  ASSERT_TRUE(d.update.mp_reach.has_value());
  EXPECT_EQ(d.update.mp_reach->family, kIpv4RouteTarget);
  EXPECT_EQ(d.update.mp_reach->rtc, routes);
  ASSERT_TRUE(d.update.attrs.has_value());
  EXPECT_EQ(d.update.attrs->next_hop, a.next_hop);
  EXPECT_EQ(d.update.attrs->local_pref, 100u);

  out.clear();
  ASSERT_EQ(encode_rtc_withdraw(routes, CodecOptions{}, out), 1u);
  m = decode_message(out, CodecOptions{});
  ASSERT_TRUE(m.has_value());
  const auto& w = std::get<DecodedUpdate>(*m);
  ASSERT_TRUE(w.update.mp_unreach.has_value());
  EXPECT_EQ(w.update.mp_unreach->rtc, routes);
  EXPECT_EQ(end_of_rib_family(w.update), std::nullopt);

  out.clear();
  encode_end_of_rib(kIpv4RouteTarget, out);
  m = decode_message(out, CodecOptions{});
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(end_of_rib_family(std::get<DecodedUpdate>(*m).update), kIpv4RouteTarget);
}

TEST(Rtc, MalformedNlriResetsTheSession) {
  // RFC 7606 §5.3: NLRI that cannot be parsed: session reset (UPDATE error, Optional Attribute
  // Error, RFC 4760 §7).
  std::vector<uint8_t> body =
      hex("0000"                                  // withdrawn routes length
          "0014"                                  // path attributes length: 20
          "40 01 01 00"                           // ORIGIN IGP
          "40 02 00"                              // AS_PATH empty
          "80 0e 0a 0001 84 04 c6120001 00 10");  // MP_REACH ipv4-rtc, NH, reserved, length 16
  auto d = decode_update(body, CodecOptions{});
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().code, ErrorCode::UpdateMessage);
  EXPECT_EQ(d.error().subcode, 9);
}

}  // namespace
}  // namespace isthmus::bgp
