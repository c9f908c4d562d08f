// The route pipeline end to end: import, Loc-RIB, update groups, output. Output bytes are read
// back with FakeEncoder::decode (the stand-in codec of test_encoder.h).
#include "bgp/rib/rib.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>

#include "bgp/rib/test_encoder.h"
#include "bgp/rib/test_util.h"
#include "bgp/wire/ext_community.h"

namespace isthmus::bgp {
namespace {

using testing::attrs;
using testing::FakeEncoder;
using testing::FakeMessage;
using testing::ip;
using testing::pfx;
using Kind = FakeMessage::Kind;

constexpr uint32_t kLocalAs = 65000;
constexpr uint32_t kRouterId = 0xc61200fe;  // 198.18.0.254

PolicyFn accept_all() {
  return [](const Prefix&, PathAttributes&) { return true; };
}

class RibTest : public ::testing::Test {
 protected:
  RibConfig config() {
    RibConfig c;
    c.local_as = kLocalAs;
    c.router_id = kRouterId;
    c.encoder = &enc_;
    return c;
  }

  static PeerInfo ibgp(PeerId id, bool client = false) {
    PeerInfo p;
    p.id = id;
    p.address = IpAddress::v4(0xc6120000 + id);  // 198.18.0.<id>
    p.remote_as = kLocalAs;
    p.router_id = 0xc6120000 + id;
    p.ibgp = true;
    p.rr_client = client;
    p.local_address = ip("198.18.0.254");
    p.families = {kIpv4Unicast};
    return p;
  }

  static PeerInfo ebgp(PeerId id, uint32_t as, bool with_policy = true) {
    PeerInfo p;
    p.id = id;
    p.address = IpAddress::v4(0xc6130000 + id);  // 198.19.0.<id>
    p.remote_as = as;
    p.router_id = 0xc6130000 + id;
    p.local_address = ip("198.19.0.254");
    p.families = {kIpv4Unicast};
    if (with_policy) {
      p.import_policy = accept_all();
      p.export_policy = accept_all();
      p.export_policy_id = "accept-all";
    }
    return p;
  }

  void up(const PeerInfo& p) {
    rib_.peer_up(p);
    drain(p.id);
  }

  void announce(PeerId peer, std::string_view prefix, const PathAttributes& a) {
    Prefix p = pfx(prefix);
    rib_.update(peer, kIpv4Unicast, std::span(&p, 1), a);
  }
  void withdraw(PeerId peer, std::string_view prefix) {
    Prefix p = pfx(prefix);
    rib_.withdraw(peer, kIpv4Unicast, std::span(&p, 1));
  }

  std::vector<FakeMessage> drain(PeerId peer, size_t max_bytes = 1 << 20) {
    std::vector<uint8_t> out;
    while (rib_.has_output(peer))
      if (rib_.take_output(peer, out, max_bytes) == 0) break;
    return enc_.decode(out);
  }

  // What the peer was told per prefix, applying messages in order (End-of-RIB skipped).
  using View = std::map<Prefix, std::optional<PathAttributes>>;
  View received(PeerId peer) {
    View v;
    for (const auto& m : drain(peer)) {
      for (const auto& p : m.prefixes) {
        if (m.kind == Kind::Reach) v[p] = m.attrs;
        if (m.kind == Kind::Withdraw) v[p] = std::nullopt;
      }
    }
    return v;
  }

  std::optional<PeerId> best_peer(std::string_view prefix) {
    for (const auto& pv : rib_.lookup(kIpv4Unicast, pfx(prefix)))
      if (pv.best) return pv.peer;
    return std::nullopt;
  }

  FakeEncoder enc_;
  Rib rib_{config()};
};

// ---- Import ---------------------------------------------------------------------------------

TEST_F(RibTest, IbgpWithoutPolicyIsAccepted) {
  up(ibgp(1));
  announce(1, "100.64.1.0/24", attrs({65001}));
  rib_.flush();
  EXPECT_EQ(best_peer("100.64.1.0/24"), 1u);
  auto c = rib_.counters(1)->families[kIpv4Unicast];
  EXPECT_EQ(c.received, 1u);
  EXPECT_EQ(c.accepted, 1u);
}

TEST_F(RibTest, EbgpWithoutPolicyNothingInOrOut) {
  // RFC 8212.
  up(ebgp(1, 65001, /*with_policy=*/false));
  up(ibgp(2));
  announce(1, "100.64.1.0/24", attrs({65001}));
  rib_.originate(kIpv4Unicast, pfx("100.64.2.0/24"), attrs({}, "0.0.0.0"));
  rib_.flush();
  EXPECT_FALSE(best_peer("100.64.1.0/24").has_value());
  auto c = rib_.counters(1)->families[kIpv4Unicast];
  EXPECT_EQ(c.received, 1u);
  EXPECT_EQ(c.accepted, 0u);
  EXPECT_TRUE(received(1).empty());   // not even the local route
  EXPECT_EQ(received(2).size(), 1u);  // iBGP gets the local route
  EXPECT_EQ(rib_.counters(1)->families[kIpv4Unicast].advertised, 0u);
}

TEST_F(RibTest, LoopDetection) {
  up(ibgp(1));
  up(ebgp(2, 65002));
  PathAttributes own_originator = attrs({65001});
  own_originator.originator_id = kRouterId;  // RFC 4456 §8
  PathAttributes own_cluster = attrs({65001});
  own_cluster.cluster_list = {0x01010101, kRouterId};  // cluster id defaults to router id
  announce(1, "100.64.1.0/24", own_originator);
  announce(1, "100.64.1.1/32", own_cluster);
  announce(2, "100.64.1.2/32", attrs({65002, kLocalAs, 65003}));  // our AS from eBGP
  announce(1, "100.64.1.3/32", attrs({65001}));
  rib_.flush();
  EXPECT_FALSE(best_peer("100.64.1.0/24"));
  EXPECT_FALSE(best_peer("100.64.1.1/32"));
  EXPECT_FALSE(best_peer("100.64.1.2/32"));
  EXPECT_EQ(best_peer("100.64.1.3/32"), 1u);
  EXPECT_EQ(rib_.counters(1)->families[kIpv4Unicast].accepted, 1u);
  EXPECT_EQ(rib_.counters(2)->families[kIpv4Unicast].received, 1u);
}

TEST_F(RibTest, LoopTreatedAsWithdrawOfThePreviousRoute) {
  up(ibgp(1));
  announce(1, "100.64.1.0/24", attrs({65001}));
  rib_.flush();
  PathAttributes looped = attrs({65001});
  looped.originator_id = kRouterId;
  announce(1, "100.64.1.0/24", looped);
  rib_.flush();
  EXPECT_FALSE(best_peer("100.64.1.0/24"));
}

TEST_F(RibTest, ImportPolicyModifiesPerPrefix) {
  PeerInfo p = ebgp(1, 65001);
  p.import_policy = [](const Prefix& prefix, PathAttributes& a) {
    if (prefix == pfx("100.64.1.0/24")) return false;
    if (prefix == pfx("100.64.1.1/32")) a.local_pref = 250;
    return true;
  };
  up(p);
  PathAttributes a = attrs({65001});
  a.local_pref = 999;  // from eBGP: ignored (RFC 4271 §5.1.5)
  std::vector<Prefix> nlri = {pfx("100.64.1.0/24"), pfx("100.64.1.1/32"), pfx("100.64.1.2/32"),
                              pfx("100.64.1.3/32")};
  rib_.update(1, kIpv4Unicast, nlri, a);
  rib_.flush();
  EXPECT_TRUE(rib_.lookup(kIpv4Unicast, nlri[0])[0].attrs == AttrRef{});
  EXPECT_EQ(rib_.lookup(kIpv4Unicast, nlri[1])[0].attrs->local_pref, 250u);
  auto plain = rib_.lookup(kIpv4Unicast, nlri[2])[0].attrs;
  EXPECT_FALSE(plain->local_pref.has_value());
  EXPECT_EQ(plain, rib_.lookup(kIpv4Unicast, nlri[3])[0].attrs);  // interned once
  EXPECT_EQ(rib_.stats().attr_sets, 2u);
}

TEST_F(RibTest, ApplyADecodedUpdate) {
  PeerInfo p = ibgp(1);
  p.families = {kIpv4Unicast, kIpv6Unicast};
  up(p);
  Update u;
  u.attrs = attrs({65001});
  u.nlri = {pfx("100.64.1.0/24")};
  u.mp_reach = MpReach{kIpv6Unicast, {ip("fd00:db8::1")}, {pfx("fd00:db8:1::/48")}};
  rib_.apply(1, u);
  rib_.flush();
  EXPECT_EQ(best_peer("100.64.1.0/24"), 1u);
  EXPECT_EQ(rib_.lookup(kIpv6Unicast, pfx("fd00:db8:1::/48")).size(), 1u);
  Update w;
  w.withdrawn = {pfx("100.64.1.0/24")};
  w.mp_unreach = MpUnreach{kIpv6Unicast, {pfx("fd00:db8:1::/48")}};
  rib_.apply(1, w);
  rib_.flush();
  EXPECT_FALSE(best_peer("100.64.1.0/24"));
  EXPECT_TRUE(rib_.lookup(kIpv6Unicast, pfx("fd00:db8:1::/48")).empty());
}

// ---- Decision through the RIB -----------------------------------------------------------------

TEST_F(RibTest, BestPathAndReplacement) {
  up(ibgp(1));
  up(ibgp(2));
  PathAttributes low = attrs({65001});
  low.local_pref = 50;
  announce(1, "100.64.1.0/24", low);
  announce(2, "100.64.1.0/24", attrs({65001, 65002}));
  rib_.flush();
  EXPECT_EQ(best_peer("100.64.1.0/24"), 2u);     // LOCAL_PREF 100 beats 50
  announce(1, "100.64.1.0/24", attrs({65001}));  // implicit withdraw of the old path
  rib_.flush();
  EXPECT_EQ(best_peer("100.64.1.0/24"), 1u);  // shorter AS_PATH
  EXPECT_EQ(rib_.lookup(kIpv4Unicast, pfx("100.64.1.0/24")).size(), 2u);
  withdraw(1, "100.64.1.0/24");
  rib_.flush();
  EXPECT_EQ(best_peer("100.64.1.0/24"), 2u);
}

TEST_F(RibTest, BestChangedCallback) {
  std::vector<std::pair<Prefix, std::optional<PeerId>>> seen;
  RibConfig c = config();
  c.best_changed = [&](Family, const Prefix& p, const Path* best) {
    seen.emplace_back(p, best ? std::optional(best->peer) : std::nullopt);
  };
  Rib rib(c);
  rib.originate(kIpv4Unicast, pfx("100.64.2.0/24"), attrs({}, "0.0.0.0"));
  rib.flush();
  rib.originate(kIpv4Unicast, pfx("100.64.2.0/24"), attrs({}, "0.0.0.0"));  // no change
  rib.flush();
  rib.withdraw_originated(kIpv4Unicast, pfx("100.64.2.0/24"));
  rib.flush();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].second, kLocalPeer);
  EXPECT_EQ(seen[1].second, std::nullopt);
  EXPECT_EQ(rib.stats().tables[kIpv4Unicast].prefixes, 0u);
  EXPECT_EQ(rib.stats().attr_sets, 0u);
}

// Routes imported from another table (an IP-VRF's EVPN prefixes): compared like iBGP routes, so
// a neighbor's route can win over them (unlike a local route), and sent like local routes: to
// iBGP and eBGP peers, the next hop ours.
TEST_F(RibTest, ImportedRoutesCompareLikeIbgpAndExportLikeLocal) {
  up(ebgp(1, 65100));
  up(ibgp(2));
  rib_.import(kIpv4Unicast, pfx("0.0.0.0/0"), attrs({65200}, "0.0.0.0"));
  rib_.import(kIpv4Unicast, pfx("100.64.2.0/24"), attrs({}, "0.0.0.0"));
  rib_.flush();
  EXPECT_EQ(best_peer("0.0.0.0/0"), kImportedPeer);
  View to_ebgp = received(1);
  ASSERT_TRUE(to_ebgp[pfx("100.64.2.0/24")]);
  EXPECT_EQ(to_ebgp[pfx("100.64.2.0/24")]->next_hop, ip("198.19.0.254"));
  EXPECT_EQ(to_ebgp[pfx("100.64.2.0/24")]->as_path.length(), 1u);
  View to_ibgp = received(2);
  ASSERT_TRUE(to_ibgp[pfx("100.64.2.0/24")]);  // not an iBGP-learned route: no split horizon
  EXPECT_EQ(to_ibgp[pfx("100.64.2.0/24")]->next_hop, ip("198.18.0.254"));

  // The eBGP neighbor's default: same AS_PATH length, eBGP over iBGP wins. Withdrawn, the
  // imported one is best again.
  announce(1, "0.0.0.0/0", attrs({65100}));
  rib_.flush();
  EXPECT_EQ(best_peer("0.0.0.0/0"), 1u);
  withdraw(1, "0.0.0.0/0");
  rib_.flush();
  EXPECT_EQ(best_peer("0.0.0.0/0"), kImportedPeer);

  // A second import replaces the first; the withdrawal removes it.
  rib_.import(kIpv4Unicast, pfx("0.0.0.0/0"), attrs({65300, 65301}, "0.0.0.0"));
  rib_.flush();
  ASSERT_EQ(rib_.lookup(kIpv4Unicast, pfx("0.0.0.0/0")).size(), 1u);
  rib_.withdraw_imported(kIpv4Unicast, pfx("0.0.0.0/0"));
  rib_.withdraw_imported(kIpv4Unicast, pfx("100.64.2.0/24"));
  rib_.flush();
  EXPECT_EQ(best_peer("0.0.0.0/0"), std::nullopt);
  EXPECT_FALSE(received(1)[pfx("100.64.2.0/24")]);
}

// ---- Route reflection -----------------------------------------------------------------------

TEST_F(RibTest, ReflectionMatrix) {
  up(ibgp(1, /*client=*/true));
  up(ibgp(2, /*client=*/true));
  up(ibgp(3));
  up(ibgp(4));
  up(ebgp(5, 65005));
  announce(1, "100.64.1.1/32", attrs({}, "198.18.0.1"));       // from a client
  announce(3, "100.64.1.3/32", attrs({}, "198.18.0.3"));       // from a non-client
  announce(5, "100.64.1.5/32", attrs({65005}, "198.19.0.5"));  // from eBGP
  rib_.flush();
  auto c1 = received(1), c2 = received(2), n3 = received(3), n4 = received(4), e5 = received(5);
  const Prefix from_client = pfx("100.64.1.1/32"), from_non_client = pfx("100.64.1.3/32"),
               from_ebgp = pfx("100.64.1.5/32");
  // Client route: to the other client and to non-clients, never back to its source.
  EXPECT_FALSE(c1.contains(from_client));
  ASSERT_TRUE(c2.contains(from_client));
  ASSERT_TRUE(n3.contains(from_client));
  ASSERT_TRUE(n4.contains(from_client));
  EXPECT_EQ(c2[from_client]->originator_id, 0xc6120001u);
  EXPECT_EQ(c2[from_client]->cluster_list, std::vector<uint32_t>{kRouterId});
  EXPECT_EQ(c2[from_client]->next_hop, ip("198.18.0.1"));
  EXPECT_EQ(n3[from_client]->originator_id, 0xc6120001u);
  // Non-client route: to clients only.
  ASSERT_TRUE(c1.contains(from_non_client));
  ASSERT_TRUE(c2.contains(from_non_client));
  EXPECT_FALSE(n3.contains(from_non_client));
  EXPECT_FALSE(n4.contains(from_non_client));
  EXPECT_EQ(c1[from_non_client]->originator_id, 0xc6120003u);
  // eBGP route: to everyone iBGP, not reflected (no ORIGINATOR_ID), LOCAL_PREF added.
  for (auto* v : {&c1, &c2, &n3, &n4}) {
    ASSERT_TRUE(v->contains(from_ebgp));
    EXPECT_FALSE((*v)[from_ebgp]->originator_id.has_value());
    EXPECT_TRUE((*v)[from_ebgp]->cluster_list.empty());
    EXPECT_EQ((*v)[from_ebgp]->local_pref, kDefaultLocalPref);
  }
  // eBGP peer: all iBGP routes, rewritten; not its own.
  EXPECT_FALSE(e5.contains(from_ebgp));
  ASSERT_TRUE(e5.contains(from_client));
  EXPECT_EQ(e5[from_client]->as_path, testing::seq({kLocalAs}));
  EXPECT_EQ(e5[from_client]->next_hop, ip("198.19.0.254"));
  EXPECT_FALSE(e5[from_client]->originator_id.has_value());
  EXPECT_FALSE(e5[from_client]->local_pref.has_value());
  // Clients share one update group, non-clients another.
  EXPECT_EQ(rib_.counters(1)->update_group, rib_.counters(2)->update_group);
  EXPECT_EQ(rib_.counters(3)->update_group, rib_.counters(4)->update_group);
  EXPECT_NE(rib_.counters(1)->update_group, rib_.counters(3)->update_group);
  EXPECT_EQ(rib_.stats().update_groups, 3u);
}

TEST_F(RibTest, ClusterIdDefaultsToRouterIdOrIsConfigured) {
  RibConfig c = config();
  c.cluster_id = 0x01020304;
  Rib rib(c);
  EXPECT_EQ(rib.config().cluster_id, 0x01020304u);
  EXPECT_EQ(rib_.config().cluster_id, kRouterId);
}

// ---- Sessions -------------------------------------------------------------------------------

TEST_F(RibTest, InitialDumpThenEndOfRibPerFamily) {
  rib_.originate(kIpv4Unicast, pfx("100.64.2.0/24"), attrs({}, "0.0.0.0"));
  rib_.originate(kIpv4Unicast, pfx("100.64.2.128/25"), attrs({}, "0.0.0.0"));
  rib_.originate(kIpv6Unicast, pfx("fd00:db8::/32"), attrs({}, "::"));
  rib_.flush();
  PeerInfo p = ibgp(1);
  p.families = {kIpv4Unicast, kIpv6Unicast};
  p.local_address_v6 = ip("fd00:db8::fe");
  rib_.peer_up(p);
  auto msgs = drain(1);
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(msgs[0].kind, Kind::Reach);
  EXPECT_EQ(msgs[0].family, kIpv4Unicast);
  EXPECT_EQ(msgs[0].prefixes.size(), 2u);  // one UPDATE: same attributes
  EXPECT_EQ(msgs[0].attrs.next_hop, ip("198.18.0.254"));
  EXPECT_EQ(msgs[1].kind, Kind::Reach);
  EXPECT_EQ(msgs[1].family, kIpv6Unicast);
  EXPECT_EQ(msgs[1].attrs.next_hop, ip("fd00:db8::fe"));
  EXPECT_EQ(msgs[2].kind, Kind::EndOfRib);
  EXPECT_EQ(msgs[3].kind, Kind::EndOfRib);
  EXPECT_NE(msgs[2].family, msgs[3].family);
  EXPECT_FALSE(rib_.has_output(1));
}

TEST_F(RibTest, SecondMemberOfAGroupGetsItsOwnDump) {
  up(ibgp(1));
  rib_.originate(kIpv4Unicast, pfx("100.64.2.0/24"), attrs({}, "0.0.0.0"));
  rib_.flush();
  // Pending for peer 1, not yet pulled, when peer 2 joins.
  rib_.peer_up(ibgp(2));
  auto msgs = drain(2);
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].kind, Kind::Reach);
  EXPECT_EQ(msgs[1].kind, Kind::EndOfRib);
  auto m1 = drain(1);
  ASSERT_EQ(m1.size(), 1u);  // peer 1: only the change, no second End-of-RIB
  EXPECT_EQ(m1[0].kind, Kind::Reach);
}

TEST_F(RibTest, PeerDownWithdrawsItsRoutes) {
  up(ibgp(1, true));
  up(ibgp(2, true));
  announce(1, "100.64.1.0/24", attrs({65001}));
  announce(1, "100.64.1.1/32", attrs({65001}));
  rib_.flush();
  EXPECT_EQ(received(2).size(), 2u);
  rib_.peer_down(1);
  rib_.flush();
  auto v = received(2);
  ASSERT_EQ(v.size(), 2u);
  for (const auto& [p, a] : v) EXPECT_FALSE(a.has_value()) << p.to_string();
  EXPECT_EQ(rib_.stats().tables[kIpv4Unicast].prefixes, 0u);
  EXPECT_FALSE(rib_.counters(1).has_value());
  EXPECT_FALSE(rib_.has_output(1));
  std::vector<uint8_t> out;
  EXPECT_EQ(rib_.take_output(1, out, 100), 0u);
}

TEST_F(RibTest, PeerFlapRejoinsAndGetsFullDump) {
  up(ibgp(1, true));
  up(ibgp(2, true));
  announce(1, "100.64.1.0/24", attrs({65001}));
  announce(2, "100.64.1.2/32", attrs({65002}));
  rib_.flush();
  received(1);
  received(2);
  rib_.peer_down(1);
  rib_.flush();
  rib_.peer_up(ibgp(1, true));
  auto msgs = drain(1);
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].prefixes, std::vector<Prefix>{pfx("100.64.1.2/32")});
  EXPECT_EQ(msgs[1].kind, Kind::EndOfRib);
}

TEST_F(RibTest, RefreshResendsTheFamily) {
  up(ibgp(1));
  rib_.originate(kIpv4Unicast, pfx("100.64.2.0/24"), attrs({}, "0.0.0.0"));
  rib_.originate(kIpv4Unicast, pfx("100.64.2.128/25"), attrs({}, "0.0.0.0"));
  rib_.flush();
  EXPECT_EQ(received(1).size(), 2u);
  EXPECT_FALSE(rib_.has_output(1));
  rib_.refresh(1, kIpv4Unicast);
  auto msgs = drain(1);
  ASSERT_EQ(msgs.size(), 1u);  // no End-of-RIB after a plain ROUTE-REFRESH
  EXPECT_EQ(msgs[0].kind, Kind::Reach);
  EXPECT_EQ(msgs[0].prefixes.size(), 2u);
  rib_.refresh(1, kIpv6Unicast);  // not negotiated: nothing
  EXPECT_FALSE(rib_.has_output(1));
}

// ---- Update groups --------------------------------------------------------------------------

TEST_F(RibTest, OneEncodingForTheWholeGroup) {
  up(ibgp(1));
  up(ibgp(2));
  up(ibgp(3));
  const auto before = rib_.stats();
  const size_t reach_before = enc_.reach_calls;
  rib_.originate(kIpv4Unicast, pfx("100.64.2.0/24"), attrs({}, "0.0.0.0"));
  rib_.flush();
  for (PeerId p : {1u, 2u, 3u}) {
    auto msgs = drain(p);
    ASSERT_EQ(msgs.size(), 1u) << p;
    EXPECT_EQ(msgs[0].prefixes, std::vector<Prefix>{pfx("100.64.2.0/24")});
  }
  const auto after = rib_.stats();
  EXPECT_EQ(after.update_groups, 1u);
  EXPECT_EQ(enc_.reach_calls - reach_before, 1u);
  EXPECT_EQ(after.messages_encoded - before.messages_encoded, 1u);
  EXPECT_EQ(after.export_runs - before.export_runs, 1u);
  for (PeerId p : {1u, 2u, 3u}) {
    EXPECT_EQ(rib_.counters(p)->families[kIpv4Unicast].advertised, 1u);
    EXPECT_EQ(rib_.counters(p)->messages_out, 2u);  // End-of-RIB + the route
  }
}

TEST_F(RibTest, DifferentSessionsDifferentGroups) {
  PeerInfo a = ibgp(1), b = ibgp(2), c = ibgp(3), d = ebgp(4, 65004), e = ebgp(5, 65004);
  b.next_hop_self = true;
  c.four_octet_as = false;
  e.export_policy_id = "other";
  for (const auto& p : {a, b, c, d, e}) up(p);
  EXPECT_EQ(rib_.stats().update_groups, 5u);
  PeerInfo f = ebgp(6, 65004);  // same as d
  up(f);
  EXPECT_EQ(rib_.counters(6)->update_group, rib_.counters(4)->update_group);
  PeerInfo g = ebgp(7, 65004);
  g.export_policy_id.clear();  // a policy without an id is never shared
  up(g);
  EXPECT_EQ(rib_.stats().update_groups, 6u);
}

TEST_F(RibTest, SplitHorizonInsideAGroup) {
  up(ibgp(1, true));
  up(ibgp(2, true));
  up(ibgp(3, true));
  ASSERT_EQ(rib_.stats().update_groups, 1u);
  const Prefix x = pfx("100.64.1.0/24");

  // From client 1: 2 and 3 get it, 1 does not.
  announce(1, "100.64.1.0/24", attrs({65001}, "198.18.0.1"));
  rib_.flush();
  EXPECT_FALSE(received(1).contains(x));
  EXPECT_EQ(received(2).at(x)->next_hop, ip("198.18.0.1"));
  EXPECT_EQ(received(3).at(x)->next_hop, ip("198.18.0.1"));

  // Client 2 sends a better path: 1 and 3 get 2's; 2 had 1's and must lose it.
  PathAttributes better = attrs({65001}, "198.18.0.2");
  better.local_pref = 200;
  announce(2, "100.64.1.0/24", better);
  rib_.flush();
  auto v1 = received(1), v2 = received(2), v3 = received(3);
  EXPECT_EQ(v1.at(x)->next_hop, ip("198.18.0.2"));
  ASSERT_TRUE(v2.contains(x));
  EXPECT_FALSE(v2.at(x).has_value());  // withdraw
  EXPECT_EQ(v3.at(x)->next_hop, ip("198.18.0.2"));
  EXPECT_EQ(rib_.counters(2)->families[kIpv4Unicast].advertised, 0u);
  EXPECT_EQ(rib_.counters(1)->families[kIpv4Unicast].advertised, 1u);

  // Client 2 withdraws: back to 1's path. 2 gets it, 1 gets a withdraw.
  withdraw(2, "100.64.1.0/24");
  rib_.flush();
  v1 = received(1), v2 = received(2), v3 = received(3);
  EXPECT_FALSE(v1.at(x).has_value());
  EXPECT_EQ(v2.at(x)->next_hop, ip("198.18.0.1"));
  EXPECT_EQ(v3.at(x)->next_hop, ip("198.18.0.1"));

  // Client 1 withdraws too: 2 and 3 get a withdraw, 1 hears nothing.
  withdraw(1, "100.64.1.0/24");
  rib_.flush();
  EXPECT_TRUE(received(1).empty());
  EXPECT_FALSE(received(2).at(x).has_value());
  EXPECT_FALSE(received(3).at(x).has_value());
}

TEST_F(RibTest, SameAttributesNewSourceInsideAGroup) {
  // Best moves from client 1 to client 2 with identical exported attributes: only the two
  // sources hear about it.
  up(ibgp(1, true));
  up(ibgp(2, true));
  up(ibgp(3, true));
  PathAttributes a = attrs({65001}, "198.18.1.1");
  a.originator_id = 0x09090909;  // same ORIGINATOR_ID: exported attributes identical
  announce(1, "100.64.1.0/24", a);
  rib_.flush();
  received(1), received(2), received(3);
  announce(2, "100.64.1.0/24", a);  // tie; router ids equal (ORIGINATOR_ID) -> peer address
  rib_.flush();
  EXPECT_EQ(best_peer("100.64.1.0/24"), 1u);
  withdraw(1, "100.64.1.0/24");
  rib_.flush();
  EXPECT_EQ(best_peer("100.64.1.0/24"), 2u);
  auto v1 = received(1), v2 = received(2), v3 = received(3);
  EXPECT_TRUE(v1.at(pfx("100.64.1.0/24")).has_value());   // now gets 2's (same attrs)
  EXPECT_FALSE(v2.at(pfx("100.64.1.0/24")).has_value());  // loses it
  EXPECT_TRUE(v3.empty());                                // nothing changed for 3
}

TEST_F(RibTest, LaggingMemberKeepsChunksAlive) {
  up(ibgp(1));
  up(ibgp(2));
  rib_.originate(kIpv4Unicast, pfx("100.64.2.0/24"), attrs({}, "0.0.0.0"));
  rib_.flush();
  EXPECT_EQ(drain(1).size(), 1u);
  rib_.originate(kIpv4Unicast, pfx("100.64.2.1/32"), attrs({}, "0.0.0.0"));
  rib_.flush();
  EXPECT_EQ(drain(1).size(), 1u);
  // Peer 2 pulled nothing so far: it gets both chunks.
  auto m2 = drain(2);
  ASSERT_EQ(m2.size(), 2u);
  EXPECT_EQ(m2[0].prefixes, std::vector<Prefix>{pfx("100.64.2.0/24")});
  EXPECT_EQ(m2[1].prefixes, std::vector<Prefix>{pfx("100.64.2.1/32")});
}

// A member that reads, but more slowly than the others, is split out once the group holds more
// than max_member_lag octets for it alone; it gets everything, in a state no older than what the
// others got; the group's queue stays bounded; once it has caught up it goes back.
class LaggingMemberTest : public RibTest {
 protected:
  static constexpr size_t kLimit = 2000;
  LaggingMemberTest() {
    RibConfig c = config();
    c.max_member_lag = kLimit;
    lagging_.emplace(c);
  }
  // Applies messages in order to a peer's view; counts End-of-RIBs.
  void apply(View& v, const std::vector<FakeMessage>& msgs) {
    for (const auto& m : msgs) {
      if (m.kind == Kind::EndOfRib) ++end_of_ribs;
      for (const auto& p : m.prefixes) {
        if (m.kind == Kind::Reach) v[p] = m.attrs;
        if (m.kind == Kind::Withdraw) v.erase(p);
      }
    }
  }
  std::vector<FakeMessage> take(Rib& rib, PeerId peer, size_t max_bytes) {
    std::vector<uint8_t> out;
    if (rib.has_output(peer)) rib.take_output(peer, out, max_bytes);
    return enc_.decode(out);
  }
  std::vector<FakeMessage> take_all(Rib& rib, PeerId peer) {
    std::vector<uint8_t> out;
    while (rib.has_output(peer))
      if (rib.take_output(peer, out, 1 << 20) == 0) break;
    return enc_.decode(out);
  }
  // Round r of the churn: a route changes (often the same prefix again), another is withdrawn.
  void churn(Rib& rib, uint32_t r) {
    PathAttributes a = attrs({}, "0.0.0.0");
    a.med = r;
    rib.originate(kIpv4Unicast, Prefix(IpAddress::v4(0x64400000u + r % 64 * 256), 24), a);
    if (r % 3 == 0)
      rib.withdraw_originated(kIpv4Unicast,
                              Prefix(IpAddress::v4(0x64400000u + (r + 32) % 64 * 256), 24));
    rib.flush();
  }
  size_t end_of_ribs = 0;
  std::optional<Rib> lagging_;
};

TEST_F(LaggingMemberTest, SplitOutWhileBehindThenBackOnceCaughtUp) {
  Rib& rib = *lagging_;
  for (PeerId id : {1, 2, 3}) {
    PeerInfo p = ibgp(id, true);
    rib.peer_up(p);
    take_all(rib, id);
  }
  // Client 3's own route: never sent back to it, in either group.
  PathAttributes own = attrs({65003}, "198.18.0.3");
  Prefix own_prefix = pfx("100.64.200.0/24");
  rib.update(3, kIpv4Unicast, std::span(&own_prefix, 1), own);
  rib.flush();
  View v2, v3;
  apply(v2, take_all(rib, 2));
  take_all(rib, 1);
  const uint32_t group = rib.counters(2)->update_group;
  ASSERT_EQ(rib.counters(3)->update_group, group);

  // Peer 3 reads one message a round while 1 and 2 read everything.
  size_t most_queued = 0;
  bool seen_split = false;
  for (uint32_t r = 1; r <= 400; ++r) {
    churn(rib, r);
    take_all(rib, 1);
    apply(v2, take_all(rib, 2));
    apply(v3, take(rib, 3, 1));
    most_queued = std::max(most_queued, rib.stats().queued_bytes);
    if (rib.counters(3)->split_out) {
      seen_split = true;
      EXPECT_NE(rib.counters(3)->update_group, group);
      EXPECT_EQ(rib.counters(2)->update_group, group);
    }
  }
  EXPECT_TRUE(seen_split);
  EXPECT_EQ(rib.stats().members_split, 1u);
  EXPECT_EQ(rib.counters(3)->times_split, 1u);
  // Bounded: the lag limit, plus what one encoding of the pending routes of peer 3 adds (64
  // prefixes at most), not the 400 rounds of churn.
  EXPECT_LT(most_queued, kLimit + 64 * 200);
  EXPECT_GT(rib.counters(3)->output_queued, 0u);

  // It catches up: the same routes as peer 2, but not its own; and it is back in the group.
  apply(v3, take_all(rib, 3));
  EXPECT_FALSE(rib.counters(3)->split_out);
  EXPECT_EQ(rib.counters(3)->update_group, group);
  EXPECT_EQ(rib.stats().members_merged, 1u);
  EXPECT_EQ(rib.stats().update_groups, 1u);
  EXPECT_EQ(rib.counters(3)->output_queued, 0u);
  EXPECT_TRUE(v2.contains(own_prefix));
  EXPECT_FALSE(v3.contains(own_prefix));
  View expected = v2;
  expected.erase(own_prefix);
  EXPECT_EQ(v3, expected);
  EXPECT_EQ(rib.counters(3)->families[kIpv4Unicast].advertised, expected.size());

  // Back in the group, split horizon holds: 3's route changes, 3 hears nothing of it.
  own.med = 7;
  rib.update(3, kIpv4Unicast, std::span(&own_prefix, 1), own);
  churn(rib, 401);
  apply(v2, take_all(rib, 2));
  apply(v3, take_all(rib, 3));
  take_all(rib, 1);
  EXPECT_EQ(v2.at(own_prefix)->med, 7u);
  EXPECT_FALSE(v3.contains(own_prefix));
  expected = v2;
  expected.erase(own_prefix);
  EXPECT_EQ(v3, expected);
}

TEST_F(LaggingMemberTest, ANewMembersDumpAndEndOfRibGoWithItWhenSplit) {
  Rib& rib = *lagging_;
  for (PeerId id : {1, 2}) {
    rib.peer_up(ibgp(id, true));
    take_all(rib, id);
  }
  for (uint32_t r = 1; r <= 64; ++r) churn(rib, r);
  take_all(rib, 1);
  take_all(rib, 2);
  // Peer 3 comes up: its dump and End-of-RIB are queued for it, and it reads nothing yet.
  rib.peer_up(ibgp(3, true));
  for (uint32_t r = 65; r <= 200; ++r) {
    churn(rib, r);
    take_all(rib, 1);
    take_all(rib, 2);
  }
  EXPECT_TRUE(rib.counters(3)->split_out);
  View v2, v3;
  end_of_ribs = 0;
  apply(v3, take_all(rib, 3));
  EXPECT_EQ(end_of_ribs, 1u);
  // Peer 2's view of the table is the Loc-RIB: compare with a peer that came up just now.
  rib.peer_up(ibgp(4, true));
  apply(v2, take_all(rib, 4));
  EXPECT_EQ(v3, v2);
  EXPECT_FALSE(rib.counters(3)->split_out);
  EXPECT_EQ(rib.counters(3)->update_group, rib.counters(1)->update_group);
}

TEST_F(LaggingMemberTest, ASplitMemberWhoseGroupWentBecomesTheGroup) {
  Rib& rib = *lagging_;
  for (PeerId id : {1, 2}) {
    rib.peer_up(ibgp(id, true));
    take_all(rib, id);
  }
  for (uint32_t r = 1; r <= 100; ++r) {
    churn(rib, r);
    take_all(rib, 1);
  }
  ASSERT_TRUE(rib.counters(2)->split_out);
  rib.peer_down(1);
  take_all(rib, 2);
  EXPECT_FALSE(rib.counters(2)->split_out);
  // A new member joins it, as it would any group of its kind.
  rib.peer_up(ibgp(3, true));
  EXPECT_EQ(rib.counters(3)->update_group, rib.counters(2)->update_group);
  EXPECT_EQ(rib.stats().update_groups, 1u);
  // Down while split: the split group goes with it.
  for (uint32_t r = 101; r <= 200; ++r) {
    churn(rib, r);
    take_all(rib, 3);
  }
  ASSERT_TRUE(rib.counters(2)->split_out);
  rib.peer_down(2);
  EXPECT_EQ(rib.stats().update_groups, 1u);
}

// ---- Output ---------------------------------------------------------------------------------

TEST_F(RibTest, CoalescesChangesUntilPulled) {
  up(ibgp(1));
  for (uint32_t med = 1; med <= 5; ++med) {
    PathAttributes a = attrs({}, "0.0.0.0");
    a.med = med;
    rib_.originate(kIpv4Unicast, pfx("100.64.2.0/24"), a);
    rib_.flush();
  }
  auto msgs = drain(1);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].attrs.med, 5u);

  // Announced and withdrawn before anyone pulled: nothing at all.
  rib_.originate(kIpv4Unicast, pfx("100.64.2.1/32"), attrs({}, "0.0.0.0"));
  rib_.flush();
  rib_.withdraw_originated(kIpv4Unicast, pfx("100.64.2.1/32"));
  rib_.flush();
  EXPECT_TRUE(drain(1).empty());
}

TEST_F(RibTest, PacksPrefixesWithTheSameAttributes) {
  up(ibgp(1));
  for (int i = 0; i < 100; ++i)
    rib_.originate(kIpv4Unicast, Prefix(IpAddress::v4(0x64400200u + static_cast<uint32_t>(i)), 32),
                   attrs({}, "0.0.0.0"));
  rib_.flush();
  auto msgs = drain(1);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].prefixes.size(), 100u);
}

TEST_F(RibTest, PullWithASmallBudgetGivesWholeMessages) {
  up(ibgp(1));
  for (uint32_t i = 0; i < 20; ++i) {
    PathAttributes a = attrs({}, "0.0.0.0");
    a.med = i;  // distinct attributes: one UPDATE each
    rib_.originate(kIpv4Unicast, Prefix(IpAddress::v4(0x64400200u + i), 32), a);
  }
  rib_.flush();
  std::vector<uint8_t> out;
  size_t calls = 0;
  while (rib_.has_output(1)) {
    const size_t before = out.size();
    const size_t n = rib_.take_output(1, out, 1);  // budget below one message: exactly one
    ASSERT_GT(n, 0u);
    ASSERT_EQ(out.size() - before, n);
    EXPECT_EQ(enc_.decode(std::span(out).subspan(before)).size(), 1u);
    ++calls;
  }
  EXPECT_EQ(calls, 20u);
  const size_t message_size = out.size() / 20;  // all the same size here
  auto msgs = enc_.decode(out);
  ASSERT_EQ(msgs.size(), 20u);
  for (uint32_t i = 0; i < 20; ++i) EXPECT_EQ(msgs[i].attrs.med, i);

  // A budget of about three messages.
  for (uint32_t i = 0; i < 20; ++i) {
    PathAttributes a = attrs({}, "0.0.0.0");
    a.med = 100 + i;
    rib_.originate(kIpv4Unicast, Prefix(IpAddress::v4(0x64400200u + i), 32), a);
  }
  rib_.flush();
  out.clear();
  const size_t n = rib_.take_output(1, out, 3 * message_size + message_size / 2);
  EXPECT_EQ(n, 3 * message_size);
  EXPECT_EQ(enc_.decode(out).size(), 3u);
  EXPECT_EQ(drain(1).size(), 17u);
}

TEST_F(RibTest, EbgpExportThroughTheRib) {
  up(ibgp(1));
  up(ebgp(2, 65002));
  up(ebgp(3, 65003));
  PathAttributes a = attrs({65002, 65010}, "198.19.0.2");
  a.med = 40;
  announce(2, "100.64.1.0/24", a);
  PathAttributes local = attrs({}, "0.0.0.0");
  local.med = 7;
  rib_.originate(kIpv4Unicast, pfx("100.64.2.0/24"), local);
  rib_.flush();
  auto v3 = received(3);
  const auto& r = v3.at(pfx("100.64.1.0/24"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->as_path, testing::seq({kLocalAs, 65002, 65010}));
  EXPECT_EQ(r->next_hop, ip("198.19.0.254"));
  EXPECT_FALSE(r->med.has_value());  // RFC 4271 §5.1.4
  EXPECT_EQ(v3.at(pfx("100.64.2.0/24"))->med, 7u);
  EXPECT_FALSE(received(2).contains(pfx("100.64.1.0/24")));  // not back to its source
  auto v1 = received(1);
  EXPECT_EQ(v1.at(pfx("100.64.1.0/24"))->med, 40u);
  EXPECT_EQ(v1.at(pfx("100.64.1.0/24"))->next_hop, ip("198.19.0.2"));
}

TEST_F(RibTest, AttributesFreedWhenEverythingIsGone) {
  up(ibgp(1, true));
  up(ibgp(2, true));
  announce(1, "100.64.1.0/24", attrs({65001}));
  rib_.flush();
  received(2);
  EXPECT_GT(rib_.stats().attr_sets, 0u);
  withdraw(1, "100.64.1.0/24");
  rib_.flush();
  received(2);
  EXPECT_EQ(rib_.stats().attr_sets, 0u);
}

TEST_F(RibTest, ExportPolicyRunsPerPrefixAfterTheRewrite) {
  PeerInfo e = ebgp(1, 65001);
  e.export_policy = [](const Prefix& p, PathAttributes& a) {
    if (p == pfx("100.64.2.1/32")) return false;
    a.med = 77;
    EXPECT_EQ(a.as_path, testing::seq({kLocalAs}));  // the policy sees the rewritten path
    return true;
  };
  e.export_policy_id = "med-77";
  up(e);
  rib_.originate(kIpv4Unicast, pfx("100.64.2.0/24"), attrs({}, "0.0.0.0"));
  rib_.originate(kIpv4Unicast, pfx("100.64.2.1/32"), attrs({}, "0.0.0.0"));
  rib_.flush();
  auto v = received(1);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v.at(pfx("100.64.2.0/24"))->med, 77u);
}

TEST_F(RibTest, WithdrawOfUnknownPrefixIsHarmless) {
  up(ibgp(1));
  up(ibgp(2, true));
  withdraw(1, "100.64.1.0/24");
  rib_.flush();
  EXPECT_FALSE(rib_.has_output(2));
  auto c = rib_.counters(1)->families[kIpv4Unicast];
  EXPECT_EQ(c.received, 0u);
  EXPECT_EQ(c.withdraws_in, 1u);
}

// A withdrawn prefix keeps its RouteId until every group has sent the withdrawal, so a new
// prefix announced before anyone pulled cannot take over the id and hide the withdrawal.
TEST_F(RibTest, WithdrawnRouteIsHeldUntilItsWithdrawalIsSent) {
  up(ebgp(1, 65001));
  up(ebgp(2, 65002));
  announce(1, "100.64.1.0/24", attrs({65001}));
  rib_.flush();
  EXPECT_TRUE(received(2).at(pfx("100.64.1.0/24")).has_value());
  withdraw(1, "100.64.1.0/24");
  announce(1, "100.64.2.0/24", attrs({65001}));
  rib_.flush();
  EXPECT_EQ(rib_.stats().tables[kIpv4Unicast].held, 2u);  // 100.64.1.0/24 waits for the group
  auto v = received(2);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_FALSE(v.at(pfx("100.64.1.0/24")).has_value());
  EXPECT_TRUE(v.at(pfx("100.64.2.0/24")).has_value());
  // Held while peer 1's group (which exports nothing back to its source) has not run yet.
  EXPECT_EQ(rib_.stats().tables[kIpv4Unicast].held, 2u);
  EXPECT_TRUE(drain(1).empty());
  const auto st = rib_.stats().tables[kIpv4Unicast];
  EXPECT_EQ(st.held, 1u);
  EXPECT_EQ(st.prefixes, 1u);
}

TEST_F(RibTest, GroupGoneWithPendingWithdrawalsReleasesTheRoutes) {
  up(ebgp(1, 65001));
  up(ebgp(2, 65002));
  for (uint32_t i = 0; i < 100; ++i)
    rib_.update(1, kIpv4Unicast, std::vector{Prefix(IpAddress::v4(0x64400000u + i), 32)},
                attrs({65001}));
  rib_.flush();
  EXPECT_EQ(received(2).size(), 100u);
  for (uint32_t i = 0; i < 100; ++i)
    rib_.withdraw(1, kIpv4Unicast, std::vector{Prefix(IpAddress::v4(0x64400000u + i), 32)});
  rib_.flush();
  EXPECT_EQ(rib_.stats().tables[kIpv4Unicast].held, 100u);  // withdrawals not pulled yet
  EXPECT_TRUE(drain(1).empty());  // the source's own group has nothing to say
  EXPECT_EQ(rib_.stats().tables[kIpv4Unicast].held, 100u);
  rib_.peer_down(2);  // its group goes, and nothing else needs the routes
  EXPECT_EQ(rib_.stats().tables[kIpv4Unicast].held, 0u);
  EXPECT_EQ(rib_.stats().attr_sets, 0u);
}

TEST_F(RibTest, MemberThatNeverPullsLeavesCleanly) {
  up(ibgp(1));
  up(ibgp(2));
  for (uint32_t i = 0; i < 10; ++i) {
    rib_.originate(kIpv4Unicast, Prefix(IpAddress::v4(0x64400200u + i), 32), attrs({}, "0.0.0.0"));
    rib_.flush();
    EXPECT_EQ(drain(1).size(), 1u);  // one chunk per round, kept for peer 2
  }
  rib_.peer_down(2);
  rib_.flush();
  rib_.originate(kIpv4Unicast, pfx("100.64.2.0/24"), attrs({}, "0.0.0.0"));
  rib_.flush();
  EXPECT_EQ(drain(1).size(), 1u);
  up(ibgp(2));  // back: a full dump of 11 prefixes in one UPDATE, then End-of-RIB
  EXPECT_EQ(rib_.counters(2)->families[kIpv4Unicast].advertised, 11u);
}

TEST_F(RibTest, BestSwitchesWhenItsPeerGoesDown) {
  up(ibgp(1, true));
  up(ibgp(2, true));
  up(ibgp(3, true));
  PathAttributes better = attrs({65001}, "198.18.0.1");
  better.local_pref = 200;
  announce(1, "100.64.1.0/24", better);
  announce(2, "100.64.1.0/24", attrs({65001}, "198.18.0.2"));
  rib_.flush();
  EXPECT_EQ(best_peer("100.64.1.0/24"), 1u);
  EXPECT_EQ(received(3).at(pfx("100.64.1.0/24"))->next_hop, ip("198.18.0.1"));
  EXPECT_EQ(received(2).at(pfx("100.64.1.0/24"))->next_hop, ip("198.18.0.1"));
  rib_.peer_down(1);
  rib_.flush();
  EXPECT_EQ(best_peer("100.64.1.0/24"), 2u);
  EXPECT_EQ(received(3).at(pfx("100.64.1.0/24"))->next_hop, ip("198.18.0.2"));
  // Peer 2 is now the source: what it had from 1 is withdrawn.
  EXPECT_FALSE(received(2).at(pfx("100.64.1.0/24")).has_value());
}

// ---- Graceful restart, receiving speaker (RFC 4724 §4.2) --------------------------------------

class GracefulRestartTest : public RibTest {
 protected:
  static constexpr Family kV4[] = {kIpv4Unicast};
  const Prefix a_ = pfx("100.64.1.0/24");
  const Prefix b_ = pfx("100.64.2.0/24");

  // Peer 1 (an RR client, the restarting one) sends a_ and b_; peer 2 (a client too) hears them.
  void SetUp() override {
    up(ibgp(1, true));
    up(ibgp(2, true));
    announce(1, "100.64.1.0/24", attrs({65001}, "198.18.0.1"));
    announce(1, "100.64.2.0/24", attrs({65001}, "198.18.0.1"));
    rib_.flush();
    ASSERT_EQ(received(2).size(), 2u);
  }

  bool stale(const Prefix& p, PeerId peer = 1) {
    for (const auto& pv : rib_.lookup(kIpv4Unicast, p))
      if (pv.peer == peer) return pv.stale;
    return false;
  }
};

TEST_F(GracefulRestartTest, SessionLossKeepsPathsAsStaleAndSendsNothing) {
  rib_.peer_down(1, kV4);
  rib_.flush();
  EXPECT_TRUE(received(2).empty());  // no withdraw downstream
  EXPECT_EQ(best_peer("100.64.1.0/24"), 1u);
  EXPECT_EQ(best_peer("100.64.2.0/24"), 1u);
  EXPECT_TRUE(stale(a_));
  EXPECT_TRUE(stale(b_));
  EXPECT_EQ(rib_.stale_count(1), 2u);
  EXPECT_EQ(rib_.stats().stale_paths, 2u);
  EXPECT_FALSE(rib_.has_output(1));
  // Counters of a down peer with stale paths: what it still has in Adj-RIB-In.
  auto c = rib_.counters(1);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->families[kIpv4Unicast].received, 2u);
  // End-of-RIB counts only from an Established session.
  EXPECT_EQ(rib_.end_of_rib(1, kIpv4Unicast), 0u);
  EXPECT_EQ(rib_.stale_count(1), 2u);
}

TEST_F(GracefulRestartTest, FamiliesNotRetainedGoAtOnce) {
  rib_.peer_down(1, std::span<const Family>{});  // the peer listed no family
  rib_.flush();
  EXPECT_EQ(received(2).size(), 2u);  // two withdraws
  EXPECT_FALSE(best_peer("100.64.1.0/24").has_value());
  EXPECT_FALSE(rib_.counters(1).has_value());  // forgotten at once
}

TEST_F(GracefulRestartTest, UpdatesReplaceStalePathsThenEndOfRibPurgesTheRest) {
  rib_.peer_down(1, kV4);
  rib_.flush();
  up(ibgp(1, true));
  EXPECT_EQ(rib_.stale_count(1), 2u);
  // The same route again: no longer stale, and nothing goes downstream.
  announce(1, "100.64.1.0/24", attrs({65001}, "198.18.0.1"));
  rib_.flush();
  EXPECT_FALSE(stale(a_));
  EXPECT_TRUE(stale(b_));
  EXPECT_TRUE(received(2).empty());
  // End-of-RIB: b_ was not sent again and goes; a_ stays.
  EXPECT_EQ(rib_.end_of_rib(1, kIpv4Unicast), 1u);
  rib_.flush();
  auto v = received(2);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_FALSE(v.at(b_).has_value());
  EXPECT_EQ(best_peer("100.64.1.0/24"), 1u);
  EXPECT_EQ(rib_.stale_count(1), 0u);
  EXPECT_EQ(rib_.counters(1)->families[kIpv4Unicast].received, 1u);
  EXPECT_EQ(rib_.counters(1)->families[kIpv4Unicast].accepted, 1u);
}

TEST_F(GracefulRestartTest, ChangedAttributesReplaceTheStalePath) {
  rib_.peer_down(1, kV4);
  rib_.flush();
  up(ibgp(1, true));
  PathAttributes changed = attrs({65001}, "198.18.0.1");
  changed.med = 5;
  announce(1, "100.64.1.0/24", changed);
  rib_.flush();
  EXPECT_FALSE(stale(a_));
  EXPECT_EQ(received(2).at(a_)->med, 5u);
}

TEST_F(GracefulRestartTest, WithdrawAfterTheRestartRemovesAStalePath) {
  rib_.peer_down(1, kV4);
  up(ibgp(1, true));
  withdraw(1, "100.64.2.0/24");
  rib_.flush();
  EXPECT_FALSE(received(2).at(b_).has_value());
  EXPECT_EQ(rib_.stale_count(1), 1u);
  EXPECT_EQ(rib_.end_of_rib(1, kIpv4Unicast), 1u);  // a_
}

TEST_F(GracefulRestartTest, RestartTimerPurgeWhileDownForgetsThePeer) {
  rib_.peer_down(1, kV4);
  rib_.flush();
  EXPECT_EQ(rib_.purge_stale(1), 2u);
  rib_.flush();
  auto v = received(2);
  ASSERT_EQ(v.size(), 2u);
  for (const auto& [p, a] : v) EXPECT_FALSE(a.has_value()) << p.to_string();
  EXPECT_EQ(rib_.stats().tables[kIpv4Unicast].prefixes, 0u);
  EXPECT_EQ(rib_.stats().stale_paths, 0u);
  EXPECT_FALSE(rib_.counters(1).has_value());  // PeerInfo released
  EXPECT_EQ(rib_.stats().attr_sets, 0u);
  up(ibgp(1, true));  // a fresh start under the same id works
  EXPECT_EQ(rib_.counters(1)->families[kIpv4Unicast].received, 0u);
}

TEST_F(GracefulRestartTest, PurgeOfOneFamilyAfterTheRestart) {
  // The new OPEN lacks the family (or its F bit): the speaker purges it at once.
  rib_.peer_down(1, kV4);
  up(ibgp(1, true));
  EXPECT_EQ(rib_.purge_stale(1, kIpv4Unicast), 2u);
  rib_.flush();
  EXPECT_EQ(received(2).size(), 2u);
  EXPECT_TRUE(rib_.counters(1).has_value());  // up: kept
  EXPECT_EQ(rib_.counters(1)->families[kIpv4Unicast].received, 0u);
}

TEST_F(GracefulRestartTest, ConsecutiveRestartDeletesWhatWasStillStale) {
  rib_.peer_down(1, kV4);
  up(ibgp(1, true));
  announce(1, "100.64.1.0/24", attrs({65001}, "198.18.0.1"));
  rib_.flush();
  // Down again before End-of-RIB: b_ (still stale) goes, a_ becomes stale.
  rib_.peer_down(1, kV4);
  rib_.flush();
  auto v = received(2);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_FALSE(v.at(b_).has_value());
  EXPECT_TRUE(stale(a_));
  EXPECT_EQ(rib_.stale_count(1), 1u);
}

TEST_F(GracefulRestartTest, DecisionIsUnchangedByStaleness) {
  // RFC 4724 §4.2: stale paths are not told apart. Peer 3 (higher router id) sends the same
  // route as 1: the stale path of 1 stays best on the router id tie-breaker.
  up(ibgp(3, true));
  announce(3, "100.64.1.0/24", attrs({65001}, "198.18.0.3"));
  rib_.flush();
  received(2);
  received(3);
  rib_.peer_down(1, kV4);
  rib_.flush();
  EXPECT_EQ(best_peer("100.64.1.0/24"), 1u);
  EXPECT_TRUE(received(2).empty());
  // A better path still wins over a stale one, as over any other.
  PathAttributes better = attrs({65001}, "198.18.0.3");
  better.local_pref = 200;
  announce(3, "100.64.1.0/24", better);
  rib_.flush();
  EXPECT_EQ(best_peer("100.64.1.0/24"), 3u);
  EXPECT_EQ(received(2).at(a_)->next_hop, ip("198.18.0.3"));
  // When 3 withdraws, the stale path is best again.
  withdraw(3, "100.64.1.0/24");
  rib_.flush();
  EXPECT_EQ(best_peer("100.64.1.0/24"), 1u);
  EXPECT_EQ(received(2).at(a_)->next_hop, ip("198.18.0.1"));
}

TEST_F(GracefulRestartTest, RestartedPeerIsNotSentItsOwnStaleRoutes) {
  rib_.peer_down(1, kV4);
  rib_.flush();
  rib_.originate(kIpv4Unicast, pfx("100.64.9.0/24"), attrs({}, "0.0.0.0"));
  rib_.flush();
  received(2);
  rib_.peer_up(ibgp(1, true));  // rejoins the group of peer 2
  auto v = received(1);
  EXPECT_EQ(v.size(), 1u);  // the local route only: split horizon for its stale ones
  EXPECT_TRUE(v.contains(pfx("100.64.9.0/24")));
  EXPECT_EQ(rib_.counters(1)->families[kIpv4Unicast].advertised, 1u);
  // After End-of-RIB, b_ is withdrawn from 2 only; 1 never had it.
  rib_.end_of_rib(1, kIpv4Unicast);
  rib_.flush();
  EXPECT_TRUE(received(1).empty());
  EXPECT_FALSE(received(2).at(b_).has_value());
}

TEST_F(GracefulRestartTest, StaleSetIsFreedOnceEverythingIsRefreshed) {
  rib_.peer_down(1, kV4);
  up(ibgp(1, true));
  announce(1, "100.64.1.0/24", attrs({65001}, "198.18.0.1"));
  announce(1, "100.64.2.0/24", attrs({65001}, "198.18.0.1"));
  EXPECT_EQ(rib_.stale_count(1), 0u);
  EXPECT_EQ(rib_.stats().stale_paths, 0u);
  EXPECT_EQ(rib_.end_of_rib(1, kIpv4Unicast), 0u);
  rib_.flush();
  EXPECT_TRUE(received(2).empty());
}

TEST_F(GracefulRestartTest, NonGracefulDownOfAStalePeerRemovesEverything) {
  rib_.peer_down(1, kV4);
  rib_.peer_down(1);
  rib_.flush();
  EXPECT_EQ(received(2).size(), 2u);
  EXPECT_FALSE(rib_.counters(1).has_value());
}

// ---- Long-lived graceful restart (RFC 9494) -----------------------------------------------------

TEST_F(GracefulRestartTest, LongLivedStalePathsAreMarkedLeastPreferredAndGoOnlyToLlgrPeers) {
  // Peer 3 understands LLGR; peer 2 does not. Peer 4 sends a_ too, with a lower LOCAL_PREF than
  // peer 1's: it loses while 1's path is fresh or merely stale.
  PeerInfo llgr_peer = ibgp(3, true);
  llgr_peer.long_lived_graceful_restart = true;
  up(llgr_peer);
  up(ibgp(4, true));
  PathAttributes worse = attrs({65004}, "198.18.0.4");
  worse.local_pref = 50;
  announce(4, "100.64.1.0/24", worse);
  // b_ of peer 1 carries NO_LLGR: it must not outlive the Restart Time.
  PathAttributes no_llgr = attrs({65001}, "198.18.0.1");
  no_llgr.communities = {kNoLlgr};
  announce(1, "100.64.2.0/24", no_llgr);
  rib_.flush();
  received(2);
  received(3);
  rib_.peer_down(1, kV4);
  rib_.flush();
  EXPECT_EQ(best_peer("100.64.1.0/24"), 1u);  // stale, still best
  EXPECT_TRUE(received(2).empty());

  // The Restart Time is over.
  const auto r = rib_.enter_long_lived_stale(1, kIpv4Unicast);
  EXPECT_EQ(r.kept, 1u);
  EXPECT_EQ(r.removed, 1u);
  rib_.flush();
  // a_: peer 4's path wins over the long-lived stale one despite its LOCAL_PREF.
  EXPECT_EQ(best_peer("100.64.1.0/24"), 4u);
  EXPECT_TRUE(stale(a_));
  auto to2 = received(2);
  EXPECT_EQ(to2.at(a_)->next_hop, ip("198.18.0.4"));
  EXPECT_FALSE(to2.at(b_).has_value());  // NO_LLGR: gone
  // Peer 4 withdraws: only the long-lived stale path is left. Peer 3 (LLGR) gets it with
  // LLGR_STALE; peer 2 gets a withdrawal.
  withdraw(4, "100.64.1.0/24");
  rib_.flush();
  EXPECT_EQ(best_peer("100.64.1.0/24"), 1u);
  EXPECT_FALSE(received(2).at(a_).has_value());
  auto to3 = received(3);
  ASSERT_TRUE(to3.at(a_).has_value());
  EXPECT_EQ(to3.at(a_)->communities, std::vector<Community>{kLlgrStale});
  // Peer 1 is back and sends a_ again: fresh, without the community, to everyone.
  up(ibgp(1, true));
  announce(1, "100.64.1.0/24", attrs({65001}, "198.18.0.1"));
  rib_.flush();
  EXPECT_FALSE(stale(a_));
  EXPECT_TRUE(received(2).at(a_).has_value());
  EXPECT_TRUE(received(3).at(a_)->communities.empty());
  EXPECT_EQ(rib_.end_of_rib(1, kIpv4Unicast), 0u);
}

TEST_F(GracefulRestartTest, EndOfRibPurgesLongLivedStalePaths) {
  rib_.peer_down(1, kV4);
  rib_.enter_long_lived_stale(1, kIpv4Unicast);
  // A second call changes nothing: the paths carry LLGR_STALE already.
  EXPECT_EQ(rib_.enter_long_lived_stale(1, kIpv4Unicast).kept, 0u);
  rib_.flush();
  auto withdrawn = received(2);  // peer 2 has no LLGR: both withdrawn
  EXPECT_FALSE(withdrawn.at(a_).has_value());
  EXPECT_FALSE(withdrawn.at(b_).has_value());
  up(ibgp(1, true));
  announce(1, "100.64.2.0/24", attrs({65001}, "198.18.0.1"));
  EXPECT_EQ(rib_.end_of_rib(1, kIpv4Unicast), 1u);  // a_
  rib_.flush();
  EXPECT_FALSE(best_peer("100.64.1.0/24").has_value());
  auto v = received(2);
  EXPECT_FALSE(v.contains(a_));  // withdrawn already
  EXPECT_TRUE(v.at(b_)->communities.empty());
}

// RFC 4724 §4.1: while our End-of-RIBs are held, peers get the routes but no End-of-RIB.
TEST_F(RibTest, HeldEndOfRibGoesOutOnRelease) {
  auto eors = [](const std::vector<FakeMessage>& ms) {
    return std::count_if(ms.begin(), ms.end(),
                         [](const FakeMessage& m) { return m.kind == Kind::EndOfRib; });
  };
  rib_.hold_end_of_rib(true);
  rib_.peer_up(ibgp(1, true));
  EXPECT_EQ(eors(drain(1)), 0);
  announce(1, "100.64.1.0/24", attrs({65001}, "198.18.0.1"));
  rib_.flush();
  rib_.peer_up(ibgp(2, true));
  auto to2 = drain(2);
  EXPECT_EQ(eors(to2), 0);
  ASSERT_EQ(to2.size(), 1u);  // the route, at once
  EXPECT_EQ(to2[0].kind, Kind::Reach);
  rib_.hold_end_of_rib(false);
  EXPECT_EQ(eors(drain(1)), 1);
  EXPECT_EQ(eors(drain(2)), 1);
  // Not again, and a peer that comes up later gets its End-of-RIB at once.
  rib_.hold_end_of_rib(false);
  EXPECT_FALSE(rib_.has_output(1));
  rib_.peer_up(ibgp(3, true));
  EXPECT_EQ(eors(drain(3)), 1);
}

}  // namespace
}  // namespace isthmus::bgp

// ---- L2VPN EVPN (RFC 7432) ----------------------------------------------------------------------

namespace isthmus::bgp {
namespace {

class EvpnRibTest : public RibTest {
 protected:
  static PeerInfo client(PeerId id) {
    PeerInfo p = ibgp(id, true);
    p.families = {kL2vpnEvpn};
    return p;
  }
  static EvpnRoute mac_route(std::string_view rd, std::string_view mac, uint32_t vni,
                             std::optional<IpAddress> ip = std::nullopt) {
    EvpnMacIp m;
    m.rd = *RouteDistinguisher::parse(rd);
    m.mac = *MacAddress::parse(mac);
    m.ip = ip;
    m.label1 = vni;
    return EvpnRoute{m};
  }
  static EvpnRoute imet(std::string_view rd, std::string_view originator) {
    EvpnImet i;
    i.rd = *RouteDistinguisher::parse(rd);
    i.originator = ip(originator);
    return EvpnRoute{i};
  }
  // What the peer was told per route key, applying messages in order.
  std::map<EvpnKey, std::optional<EvpnRoute>> evpn_received(PeerId peer) {
    std::map<EvpnKey, std::optional<EvpnRoute>> v;
    for (const auto& m : drain(peer)) {
      for (const auto& r : m.evpn) {
        v[key(r)] = m.kind == Kind::Reach ? std::optional(r) : std::nullopt;
      }
    }
    return v;
  }
  static EvpnKey key(const EvpnRoute& r) { return *evpn_key(r); }
};

TEST_F(EvpnRibTest, ReflectedWithTheirLabelsAndWithdrawn) {
  up(client(1));
  up(client(2));
  const EvpnRoute m = mac_route("198.18.0.1:100", "02:00:00:00:00:01", 100, ip("100.64.1.5"));
  const EvpnRoute i = imet("198.18.0.1:100", "198.18.0.1");
  rib_.update_evpn(1, std::vector{m, i}, attrs({}, "198.18.0.1"));
  rib_.flush();
  auto v = evpn_received(2);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v.at(key(m)), m);  // label (VNI) 100 kept: it lives with the path's attributes
  EXPECT_EQ(v.at(key(i)), i);
  EXPECT_TRUE(evpn_received(1).empty());  // split horizon
  auto c = rib_.counters(1)->families[kL2vpnEvpn];
  EXPECT_EQ(c.received, 2u);
  EXPECT_EQ(rib_.counters(2)->families[kL2vpnEvpn].advertised, 2u);

  // The same key with another label from the same peer replaces the path.
  EvpnRoute m200 = mac_route("198.18.0.1:100", "02:00:00:00:00:01", 200, ip("100.64.1.5"));
  rib_.update_evpn(1, std::vector{m200}, attrs({}, "198.18.0.1"));
  rib_.flush();
  EXPECT_EQ(evpn_received(2).at(key(m)), m200);

  rib_.withdraw_evpn(1, std::vector{m});  // the label of a withdrawal does not matter
  rib_.flush();
  v = evpn_received(2);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_FALSE(v.at(key(m)).has_value());
  EXPECT_EQ(rib_.stats().tables[kL2vpnEvpn].prefixes, 1u);
}

TEST_F(EvpnRibTest, UnknownRouteTypesAreSkipped) {
  up(client(1));
  up(client(2));
  EvpnRoute unknown{EvpnUnknownRoute{9, {1, 2, 3}}};
  rib_.update_evpn(1, std::vector{unknown, imet("198.18.0.1:100", "198.18.0.1")},
                   attrs({}, "198.18.0.1"));
  rib_.flush();
  EXPECT_EQ(evpn_received(2).size(), 1u);
  EXPECT_EQ(rib_.counters(1)->families[kL2vpnEvpn].received, 1u);
}

TEST_F(EvpnRibTest, BestPathPerKeyAndShowWalk) {
  up(client(1));
  up(client(2));
  up(client(3));
  const EvpnRoute m = mac_route("65000:100", "02:00:00:00:00:01", 100);
  PathAttributes better = attrs({}, "198.18.0.2");
  better.local_pref = 200;
  rib_.update_evpn(1, std::vector{m}, attrs({}, "198.18.0.1"));
  rib_.update_evpn(2, std::vector{mac_route("65000:100", "02:00:00:00:00:01", 300)}, better);
  rib_.flush();
  EXPECT_EQ(evpn_received(3).at(key(m))->route,
            mac_route("65000:100", "02:00:00:00:00:01", 300).route);
  size_t routes = 0;
  rib_.for_each_evpn_route([&](std::span<const uint8_t> k, std::span<const PathView> paths) {
    ++routes;
    ASSERT_EQ(paths.size(), 2u);
    for (const auto& p : paths) {
      auto r = evpn_route(k, *p.attrs->evpn_nlri);
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(std::get<EvpnMacIp>(r->route).label1, p.peer == 2 ? 300u : 100u);
      EXPECT_EQ(p.best, p.peer == 2);
    }
  });
  EXPECT_EQ(routes, 1u);
}

TEST_F(EvpnRibTest, GracefulRestartKeepsEvpnRoutesStale) {
  up(client(1));
  up(client(2));
  const EvpnRoute a = imet("198.18.0.1:100", "198.18.0.1");
  const EvpnRoute b = imet("198.18.0.1:200", "198.18.0.1");
  rib_.update_evpn(1, std::vector{a, b}, attrs({}, "198.18.0.1"));
  rib_.flush();
  ASSERT_EQ(evpn_received(2).size(), 2u);
  const Family retain[] = {kL2vpnEvpn};
  rib_.peer_down(1, retain);
  rib_.flush();
  EXPECT_TRUE(evpn_received(2).empty());  // nothing withdrawn
  EXPECT_EQ(rib_.stale_count(1, kL2vpnEvpn), 2u);
  up(client(1));
  rib_.update_evpn(1, std::vector{a}, attrs({}, "198.18.0.1"));  // sent again: refreshed
  EXPECT_EQ(rib_.stale_count(1, kL2vpnEvpn), 1u);
  EXPECT_EQ(rib_.end_of_rib(1, kL2vpnEvpn), 1u);  // b was not sent again
  rib_.flush();
  auto v = evpn_received(2);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_FALSE(v.at(key(b)).has_value());
}

// ---- RT-constraint (RFC 4684) ------------------------------------------------------------------

class RtcRibTest : public EvpnRibTest {
 protected:
  static PeerInfo rtc_client(PeerId id, bool client = true) {
    PeerInfo p = ibgp(id, client);
    p.families = {kL2vpnEvpn, kIpv4RouteTarget};
    return p;
  }
  static RtMembership member(uint32_t value) {
    return RtMembership::of(kLocalAs, route_target_as2(65000, value).bytes);
  }
  static PathAttributes with_rts(std::initializer_list<uint32_t> rts) {
    PathAttributes a = attrs({}, "198.18.0.1");
    for (uint32_t v : rts) a.ext_communities.push_back(route_target_as2(65000, v));
    return a;
  }
  void join(PeerId peer, std::initializer_list<uint32_t> rts) {
    std::vector<RtMembership> v;
    for (uint32_t rt : rts) v.push_back(member(rt));
    rib_.update_rtc(peer, v, attrs({}, "198.18.0.9"));
  }
  void leave(PeerId peer, std::initializer_list<uint32_t> rts) {
    std::vector<RtMembership> v;
    for (uint32_t rt : rts) v.push_back(member(rt));
    rib_.withdraw_rtc(peer, v);
  }
  // The EVPN routes the peer holds now, by MAC's last octet, after applying what it was sent.
  std::set<int> holds(PeerId peer) {
    for (const auto& [k, r] : evpn_received(peer)) {
      int tag = 0;
      while (tag < 16 && key(route(tag)) != k) ++tag;
      if (r)
        held_[peer].insert(tag);
      else
        held_[peer].erase(tag);
    }
    return held_[peer];
  }
  static EvpnRoute route(int tag) {
    return mac_route("198.18.0.1:1", fmt::format("02:00:00:00:00:{:02x}", tag), 100);
  }
  std::map<PeerId, std::set<int>> held_;
};

TEST_F(RtcRibTest, EachPeerGetsTheRoutesOfItsRouteTargets) {
  up(rtc_client(1));
  up(rtc_client(2));
  up(rtc_client(3));
  PeerInfo plain = client(4);  // no RT-constraint: everything
  up(plain);
  join(2, {100});
  join(3, {200});
  rib_.update_evpn(1, std::vector{route(1)}, with_rts({100}));
  rib_.update_evpn(1, std::vector{route(2)}, with_rts({200}));
  rib_.update_evpn(1, std::vector{route(3)}, with_rts({100, 200}));
  rib_.update_evpn(1, std::vector{route(4)}, with_rts({}));
  rib_.flush();
  EXPECT_EQ(holds(2), (std::set<int>{1, 3}));
  EXPECT_EQ(holds(3), (std::set<int>{2, 3}));
  EXPECT_EQ(holds(4), (std::set<int>{1, 2, 3, 4}));
  EXPECT_TRUE(holds(1).empty());  // its own routes, and it imports nothing
  EXPECT_EQ(rib_.rt_filter(2)->size(), 1u);
  EXPECT_EQ(rib_.rt_filter(4), nullptr);
  EXPECT_NE(rib_.counters(2)->update_group, rib_.counters(3)->update_group);

  // The filter follows the memberships: more route targets, fewer, and the default.
  join(2, {200});
  rib_.flush();
  EXPECT_EQ(holds(2), (std::set<int>{1, 2, 3}));
  leave(2, {100});
  rib_.flush();
  EXPECT_EQ(holds(2), (std::set<int>{2, 3}));
  rib_.update_rtc(3, std::vector{RtMembership{}}, attrs({}, "198.18.0.9"));
  rib_.flush();
  EXPECT_EQ(holds(3), (std::set<int>{1, 2, 3, 4}));
  // A route whose route targets change moves in and out of the filter.
  rib_.update_evpn(1, std::vector{route(3)}, with_rts({300}));
  rib_.flush();
  EXPECT_EQ(holds(2), (std::set<int>{2}));
  EXPECT_EQ(holds(3), (std::set<int>{1, 2, 3, 4}));
}

TEST_F(RtcRibTest, MembershipsGoToClientsAsOursAndBackToTheirSource) {
  up(rtc_client(1));
  PeerInfo non_client = rtc_client(2, false);
  up(non_client);
  up(rtc_client(3));
  join(1, {100});
  rib_.flush();
  auto memberships = [&](PeerId peer) {
    std::map<RtMembership, PathAttributes> v;
    for (const auto& m : drain(peer))
      if (m.kind == Kind::Reach)
        for (const auto& r : m.rtc) v[r] = m.attrs;
    return v;
  };
  // RFC 4684 §3.2: to clients, ORIGINATOR_ID and next hop are ours; the client it came from
  // gets it back too, so that it sends us its routes of that route target for the others.
  for (PeerId client : {PeerId{1}, PeerId{3}}) {
    auto v = memberships(client);
    ASSERT_EQ(v.size(), 1u) << "client " << client;
    EXPECT_EQ(v.begin()->first, member(100));
    EXPECT_EQ(v.begin()->second.originator_id, kRouterId);
    EXPECT_EQ(v.begin()->second.next_hop, ip("198.18.0.254"));
  }
  // To a non-client: plain reflection (RFC 4456).
  auto v = memberships(2);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v.begin()->second.originator_id, 0xc6120001u);
  EXPECT_EQ(v.begin()->second.next_hop, ip("198.18.0.9"));

  // So client 1 sends its routes of 65000:100 (it holds the membership from us), and they reach
  // client 3 once 3 imports that route target as well.
  rib_.update_evpn(1, std::vector{route(1)}, with_rts({100}));
  rib_.flush();
  EXPECT_TRUE(holds(3).empty());
  join(3, {100});
  rib_.flush();
  EXPECT_EQ(holds(3), (std::set<int>{1}));
  EXPECT_TRUE(holds(1).empty());
}

TEST_F(RtcRibTest, EvpnEndOfRibWaitsForTheirEndOfRib) {
  up(rtc_client(1));
  rib_.update_evpn(1, std::vector{route(1)}, with_rts({100}));
  rib_.flush();
  rib_.peer_up(rtc_client(2));
  std::vector<Family> eors;
  for (const auto& m : drain(2))
    if (m.kind == Kind::EndOfRib) eors.push_back(m.family);
  EXPECT_EQ(eors, std::vector<Family>{kIpv4RouteTarget});
  join(2, {100});
  EXPECT_EQ(rib_.end_of_rib(2, kIpv4RouteTarget), 0u);
  auto evpn_only = [](std::vector<FakeMessage> v) {
    std::erase_if(v, [](const FakeMessage& m) { return m.family != kL2vpnEvpn; });
    return v;
  };
  auto msgs = evpn_only(drain(2));
  ASSERT_EQ(msgs.size(), 2u);  // the route its membership lets through, then End-of-RIB
  EXPECT_EQ(msgs[0].kind, Kind::Reach);
  EXPECT_EQ(msgs[0].evpn, std::vector{route(1)});
  EXPECT_EQ(msgs[1].kind, Kind::EndOfRib);
  EXPECT_EQ(msgs[1].family, kL2vpnEvpn);
  EXPECT_FALSE(rib_.release_end_of_rib(2));  // sent once

  // Without their End-of-RIB the speaker's timer releases it.
  rib_.peer_up(rtc_client(3));
  drain(3);
  EXPECT_TRUE(rib_.release_end_of_rib(3));
  msgs = evpn_only(drain(3));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].family, kL2vpnEvpn);
}

TEST_F(RtcRibTest, FilterFollowsTheSession) {
  up(rtc_client(1));
  up(rtc_client(2));
  rib_.update_evpn(1, std::vector{route(1)}, with_rts({100}));
  rib_.update_evpn(1, std::vector{route(2)}, with_rts({200}));
  join(2, {100, 200});
  rib_.flush();
  EXPECT_EQ(holds(2), (std::set<int>{1, 2}));

  // Graceful restart: the stale memberships keep the filter; after End-of-RIB only the ones
  // sent again count.
  const Family retain[] = {kL2vpnEvpn, kIpv4RouteTarget};
  rib_.peer_down(2, retain);
  rib_.flush();
  held_[2].clear();
  rib_.peer_up(rtc_client(2));
  EXPECT_EQ(holds(2), (std::set<int>{1, 2}));
  join(2, {100});
  EXPECT_EQ(rib_.end_of_rib(2, kIpv4RouteTarget), 1u);
  EXPECT_EQ(holds(2), (std::set<int>{1}));

  // A plain session loss forgets them: after it comes back it gets nothing until it asks.
  rib_.peer_down(2);
  rib_.flush();
  held_[2].clear();
  up(rtc_client(2));
  EXPECT_TRUE(holds(2).empty());
  EXPECT_EQ(rib_.rt_filter(2)->size(), 0u);
}

}  // namespace
}  // namespace isthmus::bgp
