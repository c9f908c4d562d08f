// The RIB with the real codec: the bytes it queues decode with bgp/wire into the UPDATEs meant.
#include <gtest/gtest.h>

#include <variant>

#include "bgp/rib/rib.h"
#include "bgp/rib/test_util.h"
#include "bgp/wire/codec.h"

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

}  // namespace
}  // namespace isthmus::bgp
