// Messages captured from GoBGP 3.10.0 on loopback (gobgpd AS 65001 on 127.0.0.2 talking to a
// scripted peer on 127.0.0.1, routes with lab addresses added and removed with the gobgp CLI),
// decoded into the expected structs and encoded back.
#include <gtest/gtest.h>

#include "bgp/wire/codec.h"
#include "bgp/wire/test_util.h"

namespace isthmus::bgp {
namespace {

using test::hex;
using test::ip;
using test::pfx;
using Seg = AsPathSegment;

constexpr const char* kMarker = "ffffffffffffffffffffffffffffffff";

DecodedMessage decode(const std::string& h) {
  auto m = decode_message(hex(std::string(kMarker) + h), {});
  EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().describe());
  return m ? *m : DecodedMessage{};
}

// Encoding the decoded value and decoding that gives the same value.
template <class T>
void round_trips(const T& v) {
  std::vector<uint8_t> out;
  if constexpr (std::is_same_v<T, Update>) {
    ASSERT_TRUE(encode_update(v, {}, out).has_value());
    auto m = decode_message(out, {});
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(std::get<DecodedUpdate>(*m).update, v);
  } else {
    encode_open(v, out);
    auto m = decode_message(out, {});
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(std::get<T>(*m), v);
  }
}

TEST(GobgpCapture, Open) {
  auto m = decode(
      "00410104fde9005a7f0000022402220200490402766d0001040001000101040002000141040000fde905060001"
      "00010002");
  Open want;
  want.my_as = 65001;
  want.hold_time = 90;
  want.bgp_id = 0x7f000002;
  want.caps.route_refresh = true;
  want.caps.multiprotocol = {kIpv4Unicast, kIpv6Unicast};
  want.caps.four_octet_as = 65001;
  want.caps.unknown = {RawCapability{73, {0x02, 'v', 'm', 0x00}},  // FQDN "vm"
                       RawCapability{5, {0, 1, 0, 1, 0, 2}}};      // extended next hop
  EXPECT_EQ(std::get<Open>(m), want);
  round_trips(want);
}

TEST(GobgpCapture, Ipv4UpdateIsByteIdenticalOnceReencoded) {
  std::string h =
      "004102000000264001010040020602010000fde9400304c612000280040400000032c00808fde90064ffffff01"
      "18644001";
  auto d = std::get<DecodedUpdate>(decode(h));
  Update want;
  want.attrs = PathAttributes{};
  want.attrs->origin = Origin::Igp;
  want.attrs->as_path = AsPath{{Seg{Seg::Type::Sequence, {65001}}}};
  want.attrs->next_hop = ip("198.18.0.2");
  want.attrs->med = 50;
  want.attrs->communities = {0xfde90064, kNoExport};
  want.nlri = {pfx("100.64.1.0/24")};
  EXPECT_EQ(d.update, want);
  EXPECT_EQ(d.action, AttrAction::None);
  std::vector<uint8_t> out;
  ASSERT_TRUE(encode_update(want, {}, out).has_value());
  EXPECT_EQ(out, hex(std::string(kMarker) + h));
}

TEST(GobgpCapture, Ipv6UpdateWithLargeCommunity) {
  auto d = std::get<DecodedUpdate>(decode(
      "0052020000003b4001010240020602010000fde9800e1c00020110fd00000000000000000000000000000200"
      "30fd000db80001c0200c0000fde90000000100000002"));
  Update want;
  want.attrs = PathAttributes{};
  want.attrs->origin = Origin::Incomplete;
  want.attrs->as_path = AsPath{{Seg{Seg::Type::Sequence, {65001}}}};
  want.attrs->next_hop = ip("fd00::2");
  want.attrs->large_communities = {LargeCommunity{65001, 1, 2}};
  want.mp_reach = MpReach{kIpv6Unicast, {ip("fd00::2")}, {pfx("fd00:db8:1::/48")}};
  EXPECT_EQ(d.update, want);
  round_trips(want);
}

TEST(GobgpCapture, FourOctetPathAndAggregator) {
  auto d = std::get<DecodedUpdate>(decode(
      "004202000000274001010240020e02030000fde9000111700000fdebc0070800011170c6120009400304c61200"
      "0218644003"));
  Update want;
  want.attrs = PathAttributes{};
  want.attrs->origin = Origin::Incomplete;
  want.attrs->as_path = AsPath{{Seg{Seg::Type::Sequence, {65001, 70000, 65003}}}};
  want.attrs->aggregator = Aggregator{70000, ip("198.18.0.9")};
  want.attrs->next_hop = ip("198.18.0.2");
  want.nlri = {pfx("100.64.3.0/24")};
  EXPECT_EQ(d.update, want);
  round_trips(want);
}

TEST(GobgpCapture, Withdrawals) {
  auto v4 = std::get<DecodedUpdate>(decode("001a0200031064420000"));
  Update want4;
  want4.withdrawn = {pfx("100.66.0.0/16")};
  EXPECT_EQ(v4.update, want4);
  round_trips(want4);
  auto v6 = std::get<DecodedUpdate>(decode("0024020000000d800f0a00020130fd000db80001"));
  Update want6;
  want6.mp_unreach = MpUnreach{kIpv6Unicast, {pfx("fd00:db8:1::/48")}};
  EXPECT_EQ(v6.update, want6);
  round_trips(want6);
}

TEST(GobgpCapture, CeaseOnShutdown) {
  EXPECT_EQ(std::get<Notification>(decode("0015030603")),
            (Notification{ErrorCode::Cease, cease::kPeerDeconfigured, {}}));
}

}  // namespace
}  // namespace isthmus::bgp
