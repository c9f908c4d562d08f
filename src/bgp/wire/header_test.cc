// Header checks (RFC 4271 §6.1), KEEPALIVE, NOTIFICATION and ROUTE-REFRESH byte/struct pairs.
#include <gtest/gtest.h>

#include "bgp/wire/codec.h"
#include "bgp/wire/test_util.h"

namespace isthmus::bgp {
namespace {

using test::hex;

const std::string kMarker = "ffffffffffffffffffffffffffffffff";

Notification header_error_of(const std::vector<uint8_t>& bytes, CodecOptions opts = {}) {
  auto h = decode_header(bytes, opts);
  EXPECT_FALSE(h.has_value());
  return h ? Notification{} : h.error();
}

TEST(Header, Keepalive) {
  std::vector<uint8_t> out;
  encode_keepalive(out);
  EXPECT_EQ(out, hex(kMarker + "0013 04"));
  auto m = decode_message(out, {});
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(std::holds_alternative<Keepalive>(*m));
}

TEST(Header, MarkerNotAllOnesIsConnectionNotSynchronized) {
  auto n = header_error_of(hex("ffffffffffffffffffffffffffffff00 0013 04"));
  EXPECT_EQ(n,
            (Notification{ErrorCode::MessageHeader, header_error::kConnectionNotSynchronized, {}}));
}

TEST(Header, BadLengthCarriesTheLengthField) {
  EXPECT_EQ(
      header_error_of(hex(kMarker + "0012 04")),
      (Notification{ErrorCode::MessageHeader, header_error::kBadMessageLength, {0x00, 0x12}}));
  EXPECT_EQ(header_error_of(hex(kMarker + "1001 02")).data, hex("1001"));  // 4097
  EXPECT_EQ(header_error_of(hex(kMarker + "0014 04")).data, hex("0014"));  // KEEPALIVE != 19
  EXPECT_EQ(header_error_of(hex(kMarker + "001c 01")).data, hex("001c"));  // OPEN < 29
  EXPECT_EQ(header_error_of(hex(kMarker + "0016 02")).data, hex("0016"));  // UPDATE < 23
  EXPECT_EQ(header_error_of(hex(kMarker + "0014 03")).data, hex("0014"));  // NOTIFICATION < 21
  EXPECT_EQ(header_error_of(hex(kMarker + "0016 05")).data, hex("0016"));  // ROUTE-REFRESH < 23
}

TEST(Header, ExtendedMessagesExceptOpenAndKeepalive) {
  CodecOptions ext;
  ext.extended_message = true;
  auto h = decode_header(hex(kMarker + "ffff 02"), ext);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->length, 65535);
  EXPECT_EQ(h->type, MessageType::Update);
  // RFC 8654 §4: OPEN stays within 4096 octets.
  EXPECT_EQ(header_error_of(hex(kMarker + "1001 01"), ext).subcode,
            header_error::kBadMessageLength);
  EXPECT_EQ(header_error_of(hex(kMarker + "1001 02")).subcode, header_error::kBadMessageLength);
}

TEST(Header, UnknownTypeCarriesTheType) {
  EXPECT_EQ(header_error_of(hex(kMarker + "0013 06")),
            (Notification{ErrorCode::MessageHeader, header_error::kBadMessageType, {6}}));
  EXPECT_EQ(header_error_of(hex(kMarker + "0013 00")).data, std::vector<uint8_t>{0});
}

TEST(Header, MessageShorterThanItsLength) {
  auto m = decode_message(hex(kMarker + "0017 02 0000"), {});
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().subcode, header_error::kBadMessageLength);
}

TEST(Notification, BytesBothWays) {
  auto bytes = hex(kMarker + "0021 03 06 02 0b 6d61696e74656e616e6365");  // "maintenance"
  Notification n = Notification::shutdown(cease::kAdministrativeShutdown, "maintenance");
  std::vector<uint8_t> out;
  encode_notification(n, out);
  EXPECT_EQ(out, bytes);
  auto m = decode_message(bytes, {});
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(std::get<Notification>(*m), n);
}

TEST(Notification, HoldTimerExpiredWithoutData) {
  auto bytes = hex(kMarker + "0015 03 04 00");
  auto m = decode_message(bytes, {});
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(std::get<Notification>(*m), (Notification{ErrorCode::HoldTimerExpired, 0, {}}));
  std::vector<uint8_t> out;
  encode_notification(std::get<Notification>(*m), out);
  EXPECT_EQ(out, bytes);
  EXPECT_FALSE(decode_notification(hex("04")).has_value());
}

TEST(RouteRefresh, BytesBothWays) {
  for (auto [rr, body] : {std::pair{RouteRefresh{kIpv4Unicast, 0}, "0001 00 01"},
                          std::pair{RouteRefresh{kIpv6Unicast, 1}, "0002 01 01"},
                          std::pair{RouteRefresh{kL2vpnEvpn, 2}, "0019 02 46"}}) {
    auto bytes = hex(kMarker + "0017 05" + body);
    std::vector<uint8_t> out;
    encode_route_refresh(rr, out);
    EXPECT_EQ(out, bytes);
    auto m = decode_message(bytes, {});
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(std::get<RouteRefresh>(*m), rr);
  }
}

TEST(RouteRefresh, BorrWithExtraOctetsIsInvalidLength) {
  // RFC 7313 §5: the data is the complete ROUTE-REFRESH message.
  auto r = decode_route_refresh(hex("0001 01 01 00"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::RouteRefreshMessage);
  EXPECT_EQ(r.error().subcode, route_refresh_error::kInvalidMessageLength);
  EXPECT_EQ(r.error().data, hex(kMarker + "0018 05 0001 01 01 00"));
  // A normal request with ORF octets (RFC 5291) is accepted, the ORF ignored.
  auto orf = decode_route_refresh(hex("0001 00 01 01 02 03"));
  ASSERT_TRUE(orf.has_value());
  EXPECT_EQ(*orf, (RouteRefresh{kIpv4Unicast, 0}));
}

}  // namespace
}  // namespace isthmus::bgp
