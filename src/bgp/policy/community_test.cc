// Tests for the text forms of communities.
#include "bgp/policy/community.h"

#include <gtest/gtest.h>

namespace isthmus::bgp::policy {
namespace {

CommunityValue parse_ok(std::string_view text) {
  auto c = parse_community(text);
  EXPECT_TRUE(c) << text << ": " << (c ? "" : c.error().message);
  return c ? *c : CommunityValue{};
}

TEST(Community, Standard) {
  EXPECT_EQ(std::get<Community>(parse_ok("65000:100")), (65000u << 16) | 100u);
  EXPECT_EQ(std::get<Community>(parse_ok("0:0")), 0u);
  EXPECT_EQ(std::get<Community>(parse_ok("65535:65535")), 0xFFFFFFFFu);
}

TEST(Community, WellKnownNames) {
  EXPECT_EQ(std::get<Community>(parse_ok("no-export")), kNoExport);
  EXPECT_EQ(std::get<Community>(parse_ok("no-advertise")), kNoAdvertise);
  EXPECT_EQ(std::get<Community>(parse_ok("no-export-subconfed")), kNoExportSubconfed);
  EXPECT_EQ(std::get<Community>(parse_ok("blackhole")), 0xFFFF029Au);  // RFC 7999
  EXPECT_EQ(std::get<Community>(parse_ok("graceful-shutdown")), 0xFFFF0000u);
  EXPECT_EQ(to_string(CommunityValue{kNoExport}), "no-export");
}

TEST(Community, Large) {
  auto l = std::get<LargeCommunity>(parse_ok("4200000000:1:2"));
  EXPECT_EQ(l.global, 4200000000u);
  EXPECT_EQ(l.local1, 1u);
  EXPECT_EQ(l.local2, 2u);
}

TEST(Community, RouteTargetTwoOctetAs) {
  auto e = std::get<ExtCommunity>(parse_ok("rt:65000:100"));
  EXPECT_EQ(e.bytes, (std::array<uint8_t, 8>{0x00, 0x02, 0xfd, 0xe8, 0, 0, 0, 100}));
}

TEST(Community, RouteTargetFourOctetAs) {
  auto e = std::get<ExtCommunity>(parse_ok("rt:4200000000:7"));
  EXPECT_EQ(e.bytes, (std::array<uint8_t, 8>{0x02, 0x02, 0xfa, 0x56, 0xea, 0x00, 0, 7}));
}

TEST(Community, RouteTargetIpv4AndRouteOrigin) {
  auto e = std::get<ExtCommunity>(parse_ok("rt:198.18.0.1:5"));
  EXPECT_EQ(e.bytes, (std::array<uint8_t, 8>{0x01, 0x02, 198, 18, 0, 1, 0, 5}));
  auto o = std::get<ExtCommunity>(parse_ok("soo:65000:1"));
  EXPECT_EQ(o.bytes[1], 0x03);
}

TEST(Community, PrintsWhatItParses) {
  for (const char* text : {"65000:100", "no-export-subconfed", "1:2:3", "rt:65000:100",
                           "rt:4200000000:7", "rt:198.18.0.1:5", "soo:65000:1"})
    EXPECT_EQ(to_string(parse_ok(text)), text);
  ExtCommunity other;
  other.bytes = {0x03, 0x0c, 0, 0, 0, 0, 0, 8};
  EXPECT_EQ(to_string(CommunityValue{other}), "ext:0x030c000000000008");
}

TEST(Community, Errors) {
  auto expect_error = [](std::string_view text, std::string_view message) {
    auto c = parse_community(text);
    ASSERT_FALSE(c) << text;
    EXPECT_EQ(c.error().message, message);
  };
  expect_error("65536:1",
               "\"65536:1\" is not a community (expected ASN:VALUE with both parts 0..65535, RFC "
               "1997)");
  expect_error("1:2:4294967296",
               "\"1:2:4294967296\" is not a community (a large community is three numbers "
               "0..4294967295, RFC 8092)");
  expect_error("rt:4200000000:65536",
               "\"rt:4200000000:65536\" is not a community (after a 4-octet AS number the value "
               "must be 0..65535)");
  expect_error("rt:1.2.3:5",
               "\"rt:1.2.3:5\" is not a community (expected an IPv4 address before the value)");
  expect_error("no-exports",
               "\"no-exports\" is not a community (expected ASN:VALUE, GLOBAL:LOCAL1:LOCAL2, "
               "rt:ASN:VALUE, soo:ASN:VALUE or one of no-export, no-advertise, "
               "no-export-subconfed, blackhole, graceful-shutdown)");
  for (const char* bad : {"", ":", "1:", ":1", "-1:1", "+1:1", "1 :1", "a:b", "1:2:3:4", "rt:65000",
                          "rt:x:1", "rt:65000:4294967296", "rt:198.18.0.1:65536"})
    EXPECT_FALSE(parse_community(bad)) << bad;
}

}  // namespace
}  // namespace isthmus::bgp::policy
