// OPEN and capabilities (RFC 4271 §4.2, §6.2; RFC 5492; RFC 9072; RFC 4724; RFC 6793).
#include <gtest/gtest.h>

#include "bgp/wire/codec.h"
#include "bgp/wire/test_util.h"

namespace isthmus::bgp {
namespace {

using test::hex;

Open full_open() {
  Open m;
  m.my_as = kAsTrans;
  m.hold_time = 90;
  m.bgp_id = 0xc6120001;  // 198.18.0.1
  m.caps.multiprotocol = {kIpv4Unicast, kIpv6Unicast};
  m.caps.route_refresh = true;
  m.caps.extended_message = true;
  m.caps.graceful_restart =
      GracefulRestartCapability{true, true, 120, {{kIpv4Unicast, true}, {kIpv6Unicast, false}}};
  m.caps.four_octet_as = 70000;
  m.caps.enhanced_route_refresh = true;
  m.caps.unknown = {RawCapability{73, {0x04, 'h', 'o', 's', 't', 0x00}}};  // FQDN
  return m;
}

// The same OPEN as the encoder writes it: one Capabilities parameter, capabilities in the order
// MP, RR, extended message, GR, 4-octet AS, enhanced RR, unknown.
const char* kFullOpenBody =
    "04 5ba0 005a c6120001 2e"          // version, AS_TRANS, hold 90, id, opt len 46
    "02 2c"                             // capabilities parameter, 44 octets
    "01 04 0001 00 01"                  // MP ipv4-unicast
    "01 04 0002 00 01"                  // MP ipv6-unicast
    "02 00"                             // route refresh
    "06 00"                             // extended message
    "40 0a c078 0001 01 80 0002 01 00"  // GR: R+N, 120 s, ipv4 F, ipv6
    "41 04 00011170"                    // 4-octet AS 70000
    "46 00"                             // enhanced route refresh
    "49 06 04686f737400";               // FQDN (unknown)

TEST(Open, BytesBothWays) {
  auto bytes = test::message(MessageType::Open, hex(kFullOpenBody));
  std::vector<uint8_t> out;
  encode_open(full_open(), out);
  EXPECT_EQ(out, bytes);
  auto m = decode_message(bytes, {});
  ASSERT_TRUE(m.has_value()) << m.error().describe();
  EXPECT_EQ(std::get<Open>(*m), full_open());
  EXPECT_EQ(std::get<Open>(*m).asn(), 70000u);
}

TEST(Open, CapabilitiesInSeveralParameters) {
  // One capability per parameter, as many speakers send them.
  auto m =
      decode_open(hex("04 fde9 00b4 c6120001 12"
                      "02 06 01 04 0001 00 01"
                      "02 02 02 00"
                      "02 04 46 00 06 00"));  // two capabilities in one parameter
  ASSERT_TRUE(m.has_value()) << m.error().describe();
  EXPECT_EQ(m->my_as, 65001);
  EXPECT_EQ(m->hold_time, 180);
  EXPECT_EQ(m->caps.multiprotocol, std::vector<Family>{kIpv4Unicast});
  EXPECT_TRUE(m->caps.route_refresh);
  EXPECT_TRUE(m->caps.enhanced_route_refresh);
  EXPECT_TRUE(m->caps.extended_message);
  EXPECT_FALSE(m->caps.four_octet_as);
  EXPECT_EQ(m->asn(), 65001u);
}

TEST(Open, NoOptionalParameters) {
  Open m;
  m.my_as = 65001;
  m.hold_time = 0;
  m.bgp_id = 1;
  std::vector<uint8_t> out;
  encode_open(m, out);
  EXPECT_EQ(out, test::message(MessageType::Open, hex("04 fde9 0000 00000001 00")));
  auto d = decode_message(out, {});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(std::get<Open>(*d), m);
}

TEST(Open, ExtendedOptionalParametersRfc9072) {
  Open m;
  m.my_as = 65001;
  m.hold_time = 90;
  m.bgp_id = 1;
  for (uint8_t i = 0; i < 30; ++i)
    m.caps.unknown.push_back({static_cast<uint8_t>(200 + i), std::vector<uint8_t>(8, i)});
  std::vector<uint8_t> out;
  encode_open(m, out);
  // 30 * 10 octets of capabilities do not fit a one-octet parameter length.
  EXPECT_EQ(out[28], 0xff);
  EXPECT_EQ(out[29], 0xff);
  EXPECT_EQ(out[30] << 8 | out[31], 300 + 3);
  auto d = decode_message(out, {});
  ASSERT_TRUE(d.has_value()) << d.error().describe();
  EXPECT_EQ(std::get<Open>(*d), m);
}

TEST(Open, Errors) {
  auto err = [](const std::string& h) {
    auto m = decode_open(hex(h));
    EXPECT_FALSE(m.has_value()) << h;
    return m ? Notification{} : m.error();
  };
  // RFC 4271 §6.2: version, data = the 2-octet version we support.
  EXPECT_EQ(err("03 fde9 005a c6120001 00"),
            (Notification{ErrorCode::OpenMessage, open_error::kUnsupportedVersion, {0, 4}}));
  EXPECT_EQ(err("04 fde9 0001 c6120001 00").subcode, open_error::kUnacceptableHoldTime);
  EXPECT_EQ(err("04 fde9 0002 c6120001 00").subcode, open_error::kUnacceptableHoldTime);
  EXPECT_EQ(err("04 fde9 005a 00000000 00").subcode, open_error::kBadBgpIdentifier);
  // Parameter type 1 (authentication, deprecated) is not supported.
  EXPECT_EQ(err("04 fde9 005a c6120001 03 01 01 00").subcode,
            open_error::kUnsupportedOptionalParameter);
  // Capability overrunning its parameter, parameter overrunning the parameters, trailing octets.
  EXPECT_EQ(err("04 fde9 005a c6120001 04 02 02 41 04"),
            (Notification{ErrorCode::OpenMessage, 0, {}}));
  EXPECT_EQ(err("04 fde9 005a c6120001 04 02 05 02 00").subcode, 0);
  EXPECT_EQ(err("04 fde9 005a c6120001 00 00").subcode, 0);
  EXPECT_EQ(err("04 fde9 005a 0a").code, ErrorCode::MessageHeader);
  // Hold time 0 and 3 are fine.
  EXPECT_TRUE(decode_open(hex("04 fde9 0000 c6120001 00")).has_value());
  EXPECT_TRUE(decode_open(hex("04 fde9 0003 c6120001 00")).has_value());
}

TEST(Open, MalformedKnownCapabilityIsKeptRaw) {
  auto m = decode_open(hex("04 fde9 005a c6120001 08 02 06 41 02 0001 02 00"));
  ASSERT_TRUE(m.has_value()) << m.error().describe();
  EXPECT_FALSE(m->caps.four_octet_as);
  EXPECT_TRUE(m->caps.route_refresh);
  EXPECT_EQ(m->caps.unknown, (std::vector<RawCapability>{{65, {0x00, 0x01}}}));
}

TEST(Open, GracefulRestartWithoutFamilies) {
  auto m = decode_open(hex("04 fde9 005a c6120001 06 02 04 40 02 0078"));
  ASSERT_TRUE(m.has_value());
  ASSERT_TRUE(m->caps.graceful_restart);
  EXPECT_FALSE(m->caps.graceful_restart->restarting);
  EXPECT_EQ(m->caps.graceful_restart->restart_time, 120);
  EXPECT_TRUE(m->caps.graceful_restart->families.empty());
}

// RFC 9494: AFI, SAFI, flags (F) and a 24-bit Long-lived Stale Time per family.
TEST(Open, LongLivedGracefulRestart) {
  const char* body =
      "04 fde9 005a c6120001 16 02 14"
      "40 02 0078"                 // GR, 120 s, no families
      "47 0e 0019 46 80 015180"    // LLGR: l2vpn-evpn F 86400 s
      "       0001 01 00 ffffff";  // ipv4-unicast, 16777215 s
  auto m = decode_open(hex(body));
  ASSERT_TRUE(m.has_value()) << m.error().describe();
  ASSERT_TRUE(m->caps.long_lived_graceful_restart);
  const auto& llgr = *m->caps.long_lived_graceful_restart;
  ASSERT_EQ(llgr.families.size(), 2u);
  EXPECT_EQ(llgr.families[0],
            (LongLivedGracefulRestartCapability::PerFamily{kL2vpnEvpn, true, 86400}));
  EXPECT_EQ(llgr.families[1],
            (LongLivedGracefulRestartCapability::PerFamily{kIpv4Unicast, false, 0xffffff}));
  ASSERT_NE(llgr.find(kL2vpnEvpn), nullptr);
  EXPECT_EQ(llgr.find(kIpv6Unicast), nullptr);
  // Encoded back the same.
  std::vector<uint8_t> out;
  encode_open(*m, out);
  EXPECT_EQ(out, test::message(MessageType::Open, hex(body)));
  // A length that is not a multiple of 7 is kept as an unknown capability.
  auto bad = decode_open(hex("04 fde9 005a c6120001 08 02 06 47 04 0019 4680"));
  ASSERT_TRUE(bad.has_value());
  EXPECT_FALSE(bad->caps.long_lived_graceful_restart);
  EXPECT_EQ(bad->caps.unknown.size(), 1u);
}

}  // namespace
}  // namespace isthmus::bgp
