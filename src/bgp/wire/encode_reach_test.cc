// The Adj-RIB-Out encoders: prefixes packed into as few UPDATEs as the message size allows, and
// every prefix decoded back.
#include <gtest/gtest.h>

#include <chrono>

#include "bgp/wire/codec.h"
#include "bgp/wire/test_util.h"

namespace isthmus::bgp {
namespace {

using test::ip;
using Seg = AsPathSegment;

struct Collected {
  size_t messages = 0;
  std::vector<Prefix> reach, withdrawn;
  std::vector<PathAttributes> attrs;
};

// Splits `out` into messages, checks each against `max`, and collects what they carry.
Collected collect(const std::vector<uint8_t>& out, const CodecOptions& opts) {
  Collected c;
  size_t at = 0;
  while (at < out.size()) {
    auto h = decode_header(std::span(out).subspan(at), opts);
    EXPECT_TRUE(h.has_value());
    if (!h) break;
    EXPECT_LE(h->length, opts.max_message_size());
    auto m = decode_message(std::span(out).subspan(at, h->length), opts);
    EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().describe());
    if (!m) break;
    const auto& d = std::get<DecodedUpdate>(*m);
    EXPECT_EQ(d.action, AttrAction::None);
    const auto& u = d.update;
    c.reach.insert(c.reach.end(), u.nlri.begin(), u.nlri.end());
    if (u.mp_reach) c.reach.insert(c.reach.end(), u.mp_reach->nlri.begin(), u.mp_reach->nlri.end());
    c.withdrawn.insert(c.withdrawn.end(), u.withdrawn.begin(), u.withdrawn.end());
    if (u.mp_unreach)
      c.withdrawn.insert(c.withdrawn.end(), u.mp_unreach->withdrawn.begin(),
                         u.mp_unreach->withdrawn.end());
    if (u.attrs) c.attrs.push_back(*u.attrs);
    at += h->length;
    ++c.messages;
  }
  return c;
}

PathAttributes rr_attrs(IpAddress next_hop) {
  PathAttributes a;
  a.origin = Origin::Igp;
  a.as_path = AsPath{{Seg{Seg::Type::Sequence, {65001, 70000}}}};
  a.next_hop = next_hop;
  a.local_pref = 100;
  a.communities = {0xfde90001, 0xfde90002};
  a.originator_id = 0xc6120001;
  a.cluster_list = {0xc61200fe};
  return a;
}

std::vector<Prefix> v4_prefixes(size_t n) {
  std::vector<Prefix> v;
  for (size_t i = 0; i < n; ++i)
    // Inside 100.64.0.0/10 for n <= 2^20; lengths (all that sizes depend on) vary 16..32.
    v.emplace_back(IpAddress::v4(static_cast<uint32_t>(0x64400000 + (i << 2))),
                   static_cast<uint8_t>(i % 4 == 0 ? 24 : 16 + i % 17));
  return v;
}

std::vector<Prefix> v6_prefixes(size_t n) {
  std::vector<Prefix> v;
  for (size_t i = 0; i < n; ++i) {
    std::array<uint8_t, 16> b{0xfd, 0x00, 0x0d, 0xb8};
    b[4] = static_cast<uint8_t>(i >> 8), b[5] = static_cast<uint8_t>(i);
    v.emplace_back(IpAddress::v6(b), static_cast<uint8_t>(i % 3 == 0 ? 48 : 64));
  }
  return v;
}

size_t wire_size(const std::vector<Prefix>& v) {
  size_t n = 0;
  for (const auto& p : v) n += 1 + (p.length() + 7u) / 8;
  return n;
}

TEST(EncodeReach, Ipv4SplitsIntoFewestMessages) {
  auto prefixes = v4_prefixes(10000);
  auto attrs = rr_attrs(ip("198.18.0.1"));
  CodecOptions opts;
  std::vector<uint8_t> out;
  size_t n = encode_reach(attrs, kIpv4Unicast, prefixes, opts, out);
  auto c = collect(out, opts);
  EXPECT_EQ(c.messages, n);
  EXPECT_EQ(c.reach, prefixes);
  for (const auto& a : c.attrs) EXPECT_EQ(a, attrs);
  // Every message but the last is full to within one prefix (at most 4 octets).
  std::vector<uint8_t> one;
  encode_reach(attrs, kIpv4Unicast, std::span(prefixes).first(1), opts, one);
  size_t fixed = one.size() - wire_size({prefixes[0]});
  size_t room = kMaxMessageSize - fixed;
  size_t lower = (wire_size(prefixes) + room - 1) / room;
  EXPECT_GE(n, lower);
  EXPECT_LE(n, lower + 1);
}

TEST(EncodeReach, Ipv6WithLinkLocalAndExtendedMessages) {
  auto prefixes = v6_prefixes(20000);
  auto attrs = rr_attrs(ip("fd00:db8::1"));
  attrs.link_local_next_hop = ip("fe80::1");
  CodecOptions opts;
  std::vector<uint8_t> out;
  size_t n = encode_reach(attrs, kIpv6Unicast, prefixes, opts, out);
  auto c = collect(out, opts);
  EXPECT_EQ(c.messages, n);
  EXPECT_EQ(c.reach, prefixes);
  for (const auto& a : c.attrs) EXPECT_EQ(a, attrs);
  CodecOptions ext;
  ext.extended_message = true;
  std::vector<uint8_t> big;
  size_t n_ext = encode_reach(attrs, kIpv6Unicast, prefixes, ext, big);
  EXPECT_LT(n_ext * 10, n);
  EXPECT_EQ(collect(big, ext).reach, prefixes);
}

TEST(EncodeReach, TwoOctetPeerGetsAs4Path) {
  auto prefixes = v4_prefixes(3000);
  auto attrs = rr_attrs(ip("198.18.0.1"));
  attrs.aggregator = Aggregator{70001, ip("198.18.0.9")};
  CodecOptions opts;
  opts.four_octet_as = false;
  std::vector<uint8_t> out;
  size_t n = encode_reach(attrs, kIpv4Unicast, prefixes, opts, out);
  auto c = collect(out, opts);
  EXPECT_EQ(c.messages, n);
  EXPECT_EQ(c.reach, prefixes);
  for (const auto& a : c.attrs) EXPECT_EQ(a, attrs);
}

TEST(EncodeWithdraw, BothFamilies) {
  CodecOptions opts;
  auto v4 = v4_prefixes(5000);
  std::vector<uint8_t> out;
  size_t n = encode_withdraw(kIpv4Unicast, v4, opts, out);
  auto c = collect(out, opts);
  EXPECT_EQ(c.messages, n);
  EXPECT_EQ(c.withdrawn, v4);
  EXPECT_TRUE(c.attrs.empty());
  EXPECT_LE(n, wire_size(v4) / (kMaxMessageSize - 23) + 1);

  auto v6 = v6_prefixes(5000);
  out.clear();
  n = encode_withdraw(kIpv6Unicast, v6, opts, out);
  c = collect(out, opts);
  EXPECT_EQ(c.messages, n);
  EXPECT_EQ(c.withdrawn, v6);
  EXPECT_TRUE(c.attrs.empty());  // MP_UNREACH alone carries no path attributes
}

TEST(EncodeReach, EmptyInputWritesNothing) {
  std::vector<uint8_t> out;
  EXPECT_EQ(encode_reach(rr_attrs(ip("198.18.0.1")), kIpv4Unicast, {}, {}, out), 0u);
  EXPECT_EQ(encode_withdraw(kIpv6Unicast, {}, {}, out), 0u);
  EXPECT_TRUE(out.empty());
}

TEST(EncodeReach, SmallIpv4UpdateBytes) {
  PathAttributes a;
  a.origin = Origin::Igp;
  a.next_hop = ip("198.18.0.1");
  std::vector<uint8_t> out;
  Prefix p[] = {test::pfx("100.64.0.0/10"), test::pfx("198.18.0.128/25")};
  EXPECT_EQ(encode_reach(a, kIpv4Unicast, p, {}, out), 1u);
  EXPECT_EQ(out,
            test::message(MessageType::Update,
                          test::update_body({}, test::hex("40 01 01 00 40 02 00 40 03 04 c6120001"),
                                            test::hex("0a 6440 19 c6120080"))));
}

// Not a benchmark, a guard: a million prefixes go out in well under a second in optimised builds.
TEST(EncodeReach, MillionPrefixes) {
  auto prefixes = v4_prefixes(1'000'000);
  std::vector<uint8_t> out;
  out.reserve(5'000'000);
  auto t0 = std::chrono::steady_clock::now();
  size_t n = encode_reach(rr_attrs(ip("198.18.0.1")), kIpv4Unicast, prefixes, {}, out);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_GT(n, 900u);
  std::printf("encode_reach: 1M IPv4 prefixes, %zu messages, %zu octets, %lld ms\n", n, out.size(),
              static_cast<long long>(ms));
  // And back in: decode every message.
  t0 = std::chrono::steady_clock::now();
  size_t at = 0, count = 0;
  while (at < out.size()) {
    size_t len = size_t{out[at + 16]} << 8 | out[at + 17];
    auto d = decode_update(std::span(out).subspan(at + kHeaderSize, len - kHeaderSize), {});
    ASSERT_TRUE(d.has_value());
    count += d->update.nlri.size();
    at += len;
  }
  EXPECT_EQ(count, prefixes.size());
  ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
           .count();
  std::printf("decode_update: %zu messages, %zu prefixes, %lld ms\n", n, count,
              static_cast<long long>(ms));
}

}  // namespace
}  // namespace isthmus::bgp
