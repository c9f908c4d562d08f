// Unit tests for IpAddress, Prefix and MacAddress: parsing, printing, containment, errors.
#include "core/ip.h"

#include <gtest/gtest.h>

#include <string>
#include <unordered_set>

namespace isthmus {
namespace {

using namespace std::string_literals;

TEST(IpAddress, ParsesAndPrintsV4) {
  auto a = IpAddress::parse("198.18.0.1");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_v4());
  EXPECT_EQ(a->size(), 4u);
  EXPECT_EQ(a->v4_host_order(), 0xC6120001u);
  EXPECT_EQ(a->to_string(), "198.18.0.1");
  EXPECT_EQ(IpAddress::v4(0xC6120001u), *a);
  EXPECT_EQ(IpAddress::v4(std::array<uint8_t, 4>{198, 18, 0, 1}), *a);
}

TEST(IpAddress, ParsesAndPrintsV6Canonically) {
  auto a = IpAddress::parse("FD00:0:0::0001");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_v6());
  EXPECT_EQ(a->size(), 16u);
  EXPECT_EQ(a->to_string(), "fd00::1");
  EXPECT_EQ(a->bytes()[0], 0xfd);
  EXPECT_EQ(a->bytes()[15], 0x01);
}

TEST(IpAddress, RejectsMalformed) {
  for (const char* bad : {"", "198.18.0", "198.18.0.1.5", "198.18.0.256", "198.18.0.1/32",
                          " 198.18.0.1", "abc", "fd00::1::2", "fe80::1%eth0", "::g"}) {
    auto a = IpAddress::parse(bad);
    EXPECT_FALSE(a) << bad;
  }
  auto a = IpAddress::parse("abc");
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().message, "\"abc\" is not a valid IP address");
  auto b = IpAddress::parse("fd00::1::2");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().message, "\"fd00::1::2\" is not a valid IPv6 address");
}

TEST(IpAddress, RejectsEmbeddedNul) {
  EXPECT_FALSE(IpAddress::parse("198.18.0.1\0junk"s));
  EXPECT_FALSE(IpAddress::parse("::1\0"s));
}

TEST(IpAddress, UnspecifiedAndLinkLocal) {
  EXPECT_TRUE(IpAddress::parse("0.0.0.0")->is_unspecified());
  EXPECT_TRUE(IpAddress::parse("::")->is_unspecified());
  EXPECT_TRUE(IpAddress().is_unspecified());
  EXPECT_FALSE(IpAddress::parse("0.0.0.1")->is_unspecified());
  EXPECT_TRUE(IpAddress::parse("169.254.3.4")->is_link_local());
  EXPECT_FALSE(IpAddress::parse("169.255.3.4")->is_link_local());
  EXPECT_TRUE(IpAddress::parse("fe80::1")->is_link_local());
  EXPECT_TRUE(IpAddress::parse("febf::1")->is_link_local());
  EXPECT_FALSE(IpAddress::parse("fec0::1")->is_link_local());
}

TEST(IpAddress, V4AndV6AreDistinct) {
  // 0.0.0.0 and :: share their bytes; the family tells them apart for ==, < and hashing.
  auto v4 = *IpAddress::parse("0.0.0.0");
  auto v6 = *IpAddress::parse("::");
  EXPECT_NE(v4, v6);
  EXPECT_TRUE(v4 < v6 || v6 < v4);
  std::unordered_set<IpAddress> set{v4, v6, *IpAddress::parse("0.0.0.0")};
  EXPECT_EQ(set.size(), 2u);
}

TEST(IpAddress, OrdersNumerically) {
  // Numeric, not textual ("198.18.0.10" and "198.18.10.0" sort first as strings).
  EXPECT_LT(*IpAddress::parse("198.18.0.2"), *IpAddress::parse("198.18.0.10"));
  EXPECT_LT(*IpAddress::parse("198.18.9.255"), *IpAddress::parse("198.18.10.0"));
}

TEST(Prefix, ParsesAndPrints) {
  auto p = Prefix::parse("100.64.0.0/10");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->length(), 10);
  EXPECT_EQ(p->family(), IpFamily::V4);
  EXPECT_EQ(p->max_length(), 32);
  EXPECT_EQ(p->to_string(), "100.64.0.0/10");
  auto q = Prefix::parse("fd00:db8::/32");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->max_length(), 128);
  EXPECT_EQ(q->to_string(), "fd00:db8::/32");
  EXPECT_EQ(Prefix::parse("0.0.0.0/0")->to_string(), "0.0.0.0/0");
  EXPECT_EQ(Prefix::parse("::/0")->to_string(), "::/0");
}

TEST(Prefix, BareAddressIsHostPrefix) {
  EXPECT_EQ(Prefix::parse("198.18.0.1")->to_string(), "198.18.0.1/32");
  EXPECT_EQ(Prefix::parse("fd00::1")->to_string(), "fd00::1/128");
}

TEST(Prefix, LengthOutOfRange) {
  auto p = Prefix::parse("100.64.0.0/33");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message, "\"100.64.0.0/33\" is not a valid prefix (length must be 0..32)");
  auto q = Prefix::parse("fd00::/129");
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().message, "\"fd00::/129\" is not a valid prefix (length must be 0..128)");
  EXPECT_TRUE(Prefix::parse("fd00::1/128"));
  EXPECT_TRUE(Prefix::parse("198.18.0.1/32"));
}

TEST(Prefix, MalformedLength) {
  for (const char* bad : {"198.18.0.0/", "198.18.0.0/x", "198.18.0.0/1000", "198.18.0.0/-1",
                          "198.18.0.0/15/15", "/15", "198.18.0.0 /15"}) {
    EXPECT_FALSE(Prefix::parse(bad)) << bad;
  }
  EXPECT_EQ(Prefix::parse("198.18.0.0/x").error().message,
            "\"198.18.0.0/x\" is not a valid prefix (length must be a number)");
  EXPECT_EQ(Prefix::parse("abc/8").error().message,
            "\"abc/8\" is not a valid prefix: \"abc\" is not a valid IP address");
}

TEST(Prefix, HostBitsSetIsAnErrorWithASuggestion) {
  auto p = Prefix::parse("100.64.1.0/10");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message, "\"100.64.1.0/10\" has host bits set (did you mean 100.64.0.0/10?)");
  auto q = Prefix::parse("fd00::1/64");
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().message, "\"fd00::1/64\" has host bits set (did you mean fd00::/64?)");
}

TEST(Prefix, ConstructorClearsHostBitsAndClampsLength) {
  Prefix p(*IpAddress::parse("198.19.2.3"), 15);
  EXPECT_EQ(p.to_string(), "198.18.0.0/15");
  Prefix q(*IpAddress::parse("100.127.255.255"), 11);
  EXPECT_EQ(q.to_string(), "100.96.0.0/11");
  Prefix r(*IpAddress::parse("198.18.2.3"), 40);
  EXPECT_EQ(r.to_string(), "198.18.2.3/32");
  Prefix s(*IpAddress::parse("fd00:ffff::1"), 17);
  EXPECT_EQ(s.to_string(), "fd00:8000::/17");
  Prefix z(*IpAddress::parse("198.19.255.255"), 0);
  EXPECT_EQ(z.to_string(), "0.0.0.0/0");
}

TEST(Prefix, ContainsAddress) {
  auto p = *Prefix::parse("198.18.128.0/17");
  EXPECT_TRUE(p.contains(*IpAddress::parse("198.18.128.0")));
  EXPECT_TRUE(p.contains(*IpAddress::parse("198.18.255.255")));
  EXPECT_FALSE(p.contains(*IpAddress::parse("198.19.0.0")));
  EXPECT_FALSE(p.contains(*IpAddress::parse("198.18.127.255")));
  EXPECT_FALSE(p.contains(*IpAddress::parse("::")));  // other family
  EXPECT_TRUE(Prefix::parse("0.0.0.0/0")->contains(*IpAddress::parse("198.18.0.1")));
  EXPECT_FALSE(Prefix::parse("0.0.0.0/0")->contains(*IpAddress::parse("::1")));
  EXPECT_TRUE(Prefix::parse("fd00::/8")->contains(*IpAddress::parse("fdff::1")));
}

TEST(Prefix, ContainsPrefix) {
  auto p = *Prefix::parse("100.96.0.0/11");
  EXPECT_TRUE(p.contains(p));
  EXPECT_TRUE(p.contains(*Prefix::parse("100.96.0.0/16")));
  EXPECT_TRUE(p.contains(*Prefix::parse("100.100.1.0/24")));
  EXPECT_FALSE(p.contains(*Prefix::parse("100.64.0.0/10")));  // less specific
  EXPECT_FALSE(p.contains(*Prefix::parse("100.64.0.0/16")));
  EXPECT_FALSE(p.contains(*Prefix::parse("::/0")));
}

TEST(Prefix, HashAndEquality) {
  std::unordered_set<Prefix> set{*Prefix::parse("100.64.0.0/10"), *Prefix::parse("100.64.0.0/16"),
                                 *Prefix::parse("100.64.0.0/10"), *Prefix::parse("fd00::/10")};
  EXPECT_EQ(set.size(), 3u);
  EXPECT_LT(*Prefix::parse("198.18.0.0/16"), *Prefix::parse("198.19.0.0/16"));
}

TEST(MacAddress, ParsesAndPrints) {
  auto m = MacAddress::parse("02:AB:cd:00:01:ff");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->bytes, (std::array<uint8_t, 6>{0x02, 0xab, 0xcd, 0x00, 0x01, 0xff}));
  EXPECT_EQ(m->to_string(), "02:ab:cd:00:01:ff");
}

TEST(MacAddress, RejectsMalformed) {
  for (const char* bad : {"", "02:ab:cd:00:01", "02:ab:cd:00:01:ff:00", "-1:ab:cd:00:01:ff",
                          " 2:ab:cd:00:01:ff", "2:ab:cd:00:01:fff", "02-ab-cd-00-01-ff",
                          "02:ab:cd:00:01:fg", "0x:ab:cd:00:01:ff", "02:ab:cd:00:01:f "}) {
    EXPECT_FALSE(MacAddress::parse(bad)) << bad;
  }
  EXPECT_EQ(MacAddress::parse("zz").error().message,
            "\"zz\" is not a valid MAC address (expected aa:bb:cc:dd:ee:ff)");
}

}  // namespace
}  // namespace isthmus
