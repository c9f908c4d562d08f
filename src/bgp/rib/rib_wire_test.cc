// The RIB with the real codec: the bytes it queues decode with bgp/wire into the UPDATEs meant.
#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "bgp/rib/rib.h"
#include "bgp/rib/test_util.h"
#include "bgp/wire/codec.h"
#include "core/bug.h"

namespace isthmus::bgp {
namespace {

using testing::attrs;
using testing::ip;
using testing::pfx;

std::vector<Update> decode_all(const std::vector<uint8_t>& bytes, const CodecOptions& opts) {
  std::vector<Update> updates;
  size_t at = 0;
  while (at < bytes.size()) {
    const size_t len = size_t{bytes[at + 16]} << 8 | bytes[at + 17];
    auto m = decode_message(std::span(bytes).subspan(at, len), opts);
    EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().describe());
    if (!m) break;
    auto* u = std::get_if<DecodedUpdate>(&*m);
    EXPECT_NE(u, nullptr);
    if (!u) break;
    EXPECT_EQ(u->action, AttrAction::None);
    updates.push_back(u->update);
    at += len;
  }
  return updates;
}

TEST(RibWire, DumpWithdrawAndEndOfRibDecode) {
  RibConfig config;
  config.local_as = 65000;
  config.router_id = 0xc61200fe;
  Rib rib(config);  // default encoder: bgp/wire

  PeerInfo peer;
  peer.id = 1;
  peer.address = ip("198.18.0.1");
  peer.remote_as = 65000;
  peer.router_id = 0xc6120001;
  peer.ibgp = true;
  peer.local_address = ip("198.18.0.254");
  peer.local_address_v6 = ip("fd00:db8::fe");
  peer.families = {kIpv4Unicast, kIpv6Unicast};

  rib.originate(kIpv4Unicast, pfx("100.64.2.0/24"), attrs({}, "0.0.0.0"));
  rib.originate(kIpv4Unicast, pfx("100.64.1.0/24"), attrs({}, "0.0.0.0"));
  rib.originate(kIpv6Unicast, pfx("fd00:db8:1::/48"), attrs({}, "::"));
  rib.peer_up(peer);

  const CodecOptions opts{.four_octet_as = true, .extended_message = false};
  std::vector<uint8_t> out;
  while (rib.has_output(1) && rib.take_output(1, out, 4096) > 0) {
  }
  auto updates = decode_all(out, opts);
  ASSERT_EQ(updates.size(), 4u);

  const Update& v4 = updates[0];
  ASSERT_TRUE(v4.attrs.has_value());
  EXPECT_EQ(v4.nlri, (std::vector<Prefix>{pfx("100.64.1.0/24"), pfx("100.64.2.0/24")}));
  EXPECT_EQ(v4.attrs->next_hop, ip("198.18.0.254"));
  EXPECT_EQ(v4.attrs->local_pref, kDefaultLocalPref);
  EXPECT_EQ(v4.attrs->origin, Origin::Igp);

  const Update& v6 = updates[1];
  ASSERT_TRUE(v6.mp_reach.has_value());
  EXPECT_EQ(v6.mp_reach->family, kIpv6Unicast);
  EXPECT_EQ(v6.mp_reach->nlri, std::vector<Prefix>{pfx("fd00:db8:1::/48")});
  EXPECT_EQ(v6.attrs->next_hop, ip("fd00:db8::fe"));

  EXPECT_EQ(end_of_rib_family(updates[2]), kIpv4Unicast);
  EXPECT_EQ(end_of_rib_family(updates[3]), kIpv6Unicast);

  rib.withdraw_originated(kIpv4Unicast, pfx("100.64.2.0/24"));
  rib.flush();
  out.clear();
  rib.take_output(1, out, 4096);
  updates = decode_all(out, opts);
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].withdrawn, std::vector<Prefix>{pfx("100.64.2.0/24")});
}

// RFC 8654 §4: a route accepted just under 4,096 octets grows on reflection (ORIGINATOR_ID,
// CLUSTER_LIST). A client without extended messages cannot be sent it and must not keep the
// route it had: it gets a withdrawal, counted (logged once); a client with extended messages gets
// the route.
TEST(RibWire, RouteTooLargeAfterReflectionIsWithdrawnFromPeersWithoutExtendedMessages) {
  RibConfig config;
  config.local_as = 65000;
  config.router_id = 0xc61200fe;
  Rib rib(config);

  auto client = [](PeerId id, bool extended) {
    PeerInfo p;
    p.id = id;
    p.address = ip("198.18.0." + std::to_string(id));
    p.remote_as = 65000;
    p.router_id = 0xc6120000 + id;
    p.ibgp = true;
    p.rr_client = true;
    p.local_address = ip("198.18.0.254");
    p.extended_message = extended;
    p.families = {kIpv4Unicast};
    return p;
  };
  rib.peer_up(client(1, true));   // the source: its UPDATE needs no extended message
  rib.peer_up(client(2, false));  // reflected to: no extended messages
  rib.peer_up(client(3, true));   // reflected to: extended messages
  const CodecOptions small{.four_octet_as = true, .extended_message = false};
  const CodecOptions large{.four_octet_as = true, .extended_message = true};
  auto drain = [&](PeerId peer, const CodecOptions& opts) {
    std::vector<uint8_t> out;
    while (rib.has_output(peer) && rib.take_output(peer, out, 1 << 20) > 0) {
    }
    return decode_all(out, opts);
  };
  drain(2, small);
  drain(3, large);

  const Prefix prefix = pfx("100.64.1.0/24");
  PathAttributes small_attrs = attrs({}, "198.18.0.1");
  small_attrs.local_pref = 100;
  rib.update(1, kIpv4Unicast, std::span(&prefix, 1), small_attrs);
  rib.flush();
  ASSERT_EQ(drain(2, small).size(), 1u);
  ASSERT_EQ(drain(3, large).size(), 1u);

  // Communities until the UPDATE from the source leaves room for the prefix (4 octets) and less
  // than ORIGINATOR_ID and CLUSTER_LIST take (7 octets each).
  PathAttributes big = small_attrs;
  while (reach_room(big, kIpv4Unicast, small) >= 4 + 8)
    big.communities.push_back(0xfde80000 + static_cast<uint32_t>(big.communities.size()));
  const size_t room = reach_room(big, kIpv4Unicast, small);
  ASSERT_GE(room, 4u);
  ASSERT_LT(room, 14u);
  std::vector<uint8_t> sent;
  ASSERT_TRUE(encode_reach(big, kIpv4Unicast, std::span(&prefix, 1), small, sent) == 1);
  EXPECT_LE(sent.size(), kMaxMessageSize);  // what the source sent fits a 4,096-octet message

  const uint64_t bugs = bug_count();
  rib.update(1, kIpv4Unicast, std::span(&prefix, 1), big);
  rib.flush();
  auto to2 = drain(2, small);
  ASSERT_EQ(to2.size(), 1u);
  EXPECT_EQ(to2[0].withdrawn, std::vector<Prefix>{prefix});
  EXPECT_TRUE(to2[0].nlri.empty());
  auto to3 = drain(3, large);
  ASSERT_EQ(to3.size(), 1u);
  EXPECT_EQ(to3[0].nlri, std::vector<Prefix>{prefix});
  ASSERT_TRUE(to3[0].attrs.has_value());
  EXPECT_EQ(to3[0].attrs->communities.size(), big.communities.size());
  EXPECT_EQ(to3[0].attrs->cluster_list, std::vector<uint32_t>{config.router_id});
  EXPECT_EQ(bug_count(), bugs);
  EXPECT_EQ(rib.counters(2)->routes_too_large, 1u);
  EXPECT_EQ(rib.counters(2)->families.at(kIpv4Unicast).advertised, 0u);
  EXPECT_EQ(rib.counters(3)->routes_too_large, 0u);
  EXPECT_EQ(rib.counters(3)->families.at(kIpv4Unicast).advertised, 1u);

  // A second prefix with the same attributes: nothing to withdraw (the peer never had it), only
  // counted.
  const Prefix second = pfx("100.64.2.0/24");
  rib.update(1, kIpv4Unicast, std::span(&second, 1), big);
  rib.flush();
  EXPECT_TRUE(drain(2, small).empty());
  EXPECT_EQ(drain(3, large).size(), 1u);
  EXPECT_EQ(rib.counters(2)->routes_too_large, 2u);

  // A client of client 2's kind that comes up now is counted for the two routes it is not sent.
  rib.peer_up(client(4, false));
  EXPECT_EQ(rib.counters(4)->update_group, rib.counters(2)->update_group);
  EXPECT_EQ(rib.counters(4)->routes_too_large, 2u);
  EXPECT_EQ(rib.counters(4)->families.at(kIpv4Unicast).advertised, 0u);
  drain(4, small);

  // Smaller again: the client gets both routes.
  rib.update(1, kIpv4Unicast, std::span(&prefix, 1), small_attrs);
  rib.update(1, kIpv4Unicast, std::span(&second, 1), small_attrs);
  rib.flush();
  auto again = drain(2, small);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].nlri.size(), 2u);
  EXPECT_EQ(bug_count(), bugs);
  // None is left out now: a late joiner is not counted.
  drain(4, small);
  rib.peer_up(client(5, false));
  EXPECT_EQ(rib.counters(5)->routes_too_large, 0u);
  EXPECT_EQ(rib.counters(5)->families.at(kIpv4Unicast).advertised, 2u);
}

}  // namespace
}  // namespace isthmus::bgp
