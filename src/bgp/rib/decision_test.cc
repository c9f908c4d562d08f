// One test per step of the decision process (RFC 4271 §9.1.2.2, RFC 4456 §9).
#include "bgp/rib/decision.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "bgp/rib/test_util.h"

namespace isthmus::bgp {
namespace {

using testing::attrs;
using testing::ip;

constexpr uint32_t kLocalAs = 65000;

struct Fixture {
  PathAttributes a = attrs({65001});
  PathAttributes b = attrs({65001});
  Candidate ca{
      .attrs = &a, .peer = 1, .ebgp = false, .router_id = 1, .peer_address = ip("198.18.0.1")};
  Candidate cb{
      .attrs = &b, .peer = 2, .ebgp = false, .router_id = 2, .peer_address = ip("198.18.0.2")};
  // a must beat b at `step`, and the order must be antisymmetric.
  void expect_a_wins(DecisionStep step) {
    Comparison ab = compare_paths(ca, cb, kLocalAs);
    Comparison ba = compare_paths(cb, ca, kLocalAs);
    EXPECT_LT(ab.order, 0) << to_string(ab.step);
    EXPECT_GT(ba.order, 0);
    EXPECT_EQ(ab.step, step) << to_string(ab.step);
    EXPECT_EQ(ba.step, step);
  }
};

TEST(Decision, LocallyOriginatedFirst) {
  Fixture f;
  f.ca.peer = kLocalPeer;
  f.b.local_pref = 500;
  f.expect_a_wins(DecisionStep::LocalOrigin);
}

TEST(Decision, HighestLocalPref) {
  Fixture f;
  f.a.local_pref = 200;
  f.b.as_path = testing::seq({});  // shorter path loses to LOCAL_PREF
  f.expect_a_wins(DecisionStep::LocalPref);
}

TEST(Decision, AbsentLocalPrefCountsAsDefault) {
  Fixture f;
  f.b.local_pref = 99;  // a has none: 100
  f.expect_a_wins(DecisionStep::LocalPref);
}

TEST(Decision, ShortestAsPathAndAsSetCountsOne) {
  Fixture f;
  f.a.as_path.segments.push_back({AsPathSegment::Type::Set, {1, 2, 3, 4}});  // 65001 {1,2,3,4}: 2
  f.b.as_path = testing::seq({65001, 65002, 65003});                         // 3
  f.expect_a_wins(DecisionStep::AsPathLength);
}

TEST(Decision, ConfederationSegmentsCountZero) {
  Fixture f;
  f.a.as_path.segments.insert(f.a.as_path.segments.begin(),
                              {AsPathSegment::Type::ConfedSequence, {64512, 64513}});
  f.b.as_path = testing::seq({65001, 65002});
  f.expect_a_wins(DecisionStep::AsPathLength);
}

TEST(Decision, LowestOrigin) {
  Fixture f;
  f.a.origin = Origin::Egp;
  f.b.origin = Origin::Incomplete;
  f.expect_a_wins(DecisionStep::Origin);
}

TEST(Decision, LowestMedFromTheSameNeighbourAs) {
  Fixture f;
  f.a.med = 10;
  f.b.med = 20;
  f.ca.router_id = 9;  // would lose later
  f.expect_a_wins(DecisionStep::Med);
}

TEST(Decision, MissingMedIsLowest) {
  Fixture f;
  f.b.med = 1;
  f.ca.router_id = 9;
  f.expect_a_wins(DecisionStep::Med);
}

TEST(Decision, MedComparedPastLeadingConfederationSegments) {
  // RFC 5065 §5.3: the neighbouring AS is found after the confederation segments.
  Fixture f;
  f.a.as_path.segments.insert(f.a.as_path.segments.begin(),
                              {AsPathSegment::Type::ConfedSequence, {64512}});
  f.a.med = 10;
  f.b.med = 20;
  f.ca.router_id = 9;
  f.expect_a_wins(DecisionStep::Med);
}

TEST(Decision, NeighbourAs) {
  EXPECT_EQ(neighbor_as(attrs({}), kLocalAs), kLocalAs);  // originated inside our AS
  EXPECT_EQ(neighbor_as(attrs({65001, 65002}), kLocalAs), 65001u);
  PathAttributes confed = attrs({65001});
  confed.as_path.segments.insert(confed.as_path.segments.begin(),
                                 {AsPathSegment::Type::ConfedSet, {64512, 64513}});
  EXPECT_EQ(neighbor_as(confed, kLocalAs), 65001u);
  // RFC 4271 §9.1.2.2 c: an aggregate whose path begins with an AS_SET counts as ours.
  PathAttributes aggregate = attrs({65001});
  aggregate.as_path.segments.insert(aggregate.as_path.segments.begin(),
                                    {AsPathSegment::Type::Set, {65003, 65004}});
  EXPECT_EQ(neighbor_as(aggregate, kLocalAs), kLocalAs);
}

TEST(Decision, MedIgnoredBetweenDifferentNeighbourAses) {
  Fixture f;
  f.a.as_path = testing::seq({65009});
  f.a.med = 500;
  f.b.med = 1;
  // MED is skipped; a wins on the router id.
  f.expect_a_wins(DecisionStep::RouterId);
}

TEST(Decision, EbgpOverIbgp) {
  Fixture f;
  f.ca.ebgp = true;
  f.ca.router_id = 9;
  f.expect_a_wins(DecisionStep::EbgpOverIbgp);
}

TEST(Decision, LowestRouterId) {
  Fixture f;
  f.ca.peer_address = ip("198.18.0.9");
  f.expect_a_wins(DecisionStep::RouterId);
}

TEST(Decision, OriginatorIdStandsInForRouterId) {
  Fixture f;
  f.ca.router_id = 9;
  f.a.originator_id = 1;  // reflected route from originator 1 beats router id 2
  f.expect_a_wins(DecisionStep::RouterId);
}

TEST(Decision, ShorterClusterList) {
  Fixture f;
  f.a.originator_id = 5;
  f.b.originator_id = 5;
  f.a.cluster_list = {1};
  f.b.cluster_list = {2, 1};
  f.ca.peer_address = ip("198.18.0.9");
  f.expect_a_wins(DecisionStep::ClusterList);
}

TEST(Decision, LowestPeerAddress) {
  Fixture f;
  f.ca.router_id = 5;
  f.cb.router_id = 5;
  f.expect_a_wins(DecisionStep::PeerAddress);
}

TEST(Decision, SelectBestIgnoresOrderWithMedAcrossAses) {
  // The classic MED cycle: A and B from AS 65001 (B has the lower MED), C from AS 65002.
  // Pairwise: B > A (MED), C > B (router id), A > C (router id): no transitive order. Grouping
  // by neighbour AS picks B in 65001, then B vs C on router id: C.
  PathAttributes pa = attrs({65001}), pb = attrs({65001}), pc = attrs({65002});
  pa.med = 20;
  pb.med = 10;
  std::vector<Candidate> c = {
      {.attrs = &pa, .peer = 1, .router_id = 1, .peer_address = ip("198.18.0.1")},
      {.attrs = &pb, .peer = 2, .router_id = 3, .peer_address = ip("198.18.0.2")},
      {.attrs = &pc, .peer = 3, .router_id = 2, .peer_address = ip("198.18.0.3")},
  };
  std::vector<size_t> order = {0, 1, 2};
  do {
    std::vector<Candidate> perm;
    for (size_t i : order) perm.push_back(c[i]);
    const size_t best = select_best(perm, kLocalAs);
    ASSERT_LT(best, perm.size());
    EXPECT_EQ(perm[best].peer, 3u);
  } while (std::next_permutation(order.begin(), order.end()));
}

TEST(Decision, SelectBestOfNone) { EXPECT_EQ(select_best({}, kLocalAs), 0u); }

}  // namespace
}  // namespace isthmus::bgp
