// Tests for policy compilation and evaluation: each match condition, each action, term order,
// the default verdict, built-ins and compile errors.
#include "bgp/policy/policy.h"

#include <gtest/gtest.h>

#include "bgp/wire/ext_community.h"

// The tests build definitions with designated initializers and leave the rest defaulted.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace isthmus::bgp::policy {
namespace {

constexpr uint32_t kLocalAs = 65000;

Prefix P(std::string_view text) { return *Prefix::parse(text); }
IpAddress A(std::string_view text) { return *IpAddress::parse(text); }
CommunityValue C(std::string_view text) { return *parse_community(text); }

PathAttributes attrs() {
  PathAttributes a;
  a.origin = Origin::Igp;
  a.next_hop = A("198.18.0.2");
  a.as_path.segments.push_back({AsPathSegment::Type::Sequence, {65001, 65002}});
  return a;
}

// Compiles `defs` and returns the policy named "p".
std::shared_ptr<const Policy> compile_p(const Definitions& defs) {
  auto set = compile(defs, kLocalAs);
  EXPECT_TRUE(set) << (set ? "" : set.error().message);
  if (!set) return nullptr;
  auto p = set->find("p");
  EXPECT_TRUE(p);
  return p;
}

Definitions one_term(Term t) {
  Definitions d;
  d.policies.push_back({"p", {std::move(t)}});
  return d;
}

Term accept_if(Match m) { return Term{"", std::move(m), {}, Verdict::Accept}; }

bool accepts(const Policy& p, std::string_view prefix, PathAttributes a = attrs()) {
  return p.apply(P(prefix), a);
}

TEST(Policy, BuiltIns) {
  auto set = compile({}, kLocalAs);
  ASSERT_TRUE(set);
  EXPECT_EQ(set->names(), (std::vector<std::string>{"accept-all", "reject-all"}));
  auto a = attrs();
  auto before = a;
  EXPECT_TRUE(set->find("accept-all")->apply(P("100.64.0.0/10"), a));
  EXPECT_EQ(a, before);
  EXPECT_FALSE(set->find("reject-all")->apply(P("100.64.0.0/10"), a));
  EXPECT_EQ(set->find("nope"), nullptr);
}

TEST(Policy, DefaultIsRejectAndEmptyMatchMatchesAll) {
  Definitions d;
  d.policies.push_back({"p", {}});
  EXPECT_FALSE(accepts(*compile_p(d), "100.64.0.0/10"));
  EXPECT_TRUE(accepts(*compile_p(one_term(accept_if({}))), "100.64.0.0/10"));
}

TEST(Policy, PrefixListExactMatchWithoutGeLe) {
  auto d = one_term(accept_if({.prefix_list = "l"}));
  d.prefix_lists.push_back({"l", {{P("100.96.0.0/11")}}});
  auto p = compile_p(d);
  EXPECT_TRUE(accepts(*p, "100.96.0.0/11"));
  EXPECT_FALSE(accepts(*p, "100.96.0.0/16"));  // more specific
  EXPECT_FALSE(accepts(*p, "100.64.0.0/10"));  // less specific
  EXPECT_FALSE(accepts(*p, "::/0"));
}

TEST(Policy, PrefixListGeLe) {
  auto d = one_term(accept_if({.prefix_list = "l"}));
  d.prefix_lists.push_back({"l", {{P("100.64.0.0/10"), 16, 24}}});
  auto p = compile_p(d);
  EXPECT_FALSE(accepts(*p, "100.64.0.0/10"));
  EXPECT_FALSE(accepts(*p, "100.64.0.0/15"));
  EXPECT_TRUE(accepts(*p, "100.64.0.0/16"));
  EXPECT_TRUE(accepts(*p, "100.127.255.0/24"));
  EXPECT_FALSE(accepts(*p, "100.127.255.128/25"));
  EXPECT_FALSE(accepts(*p, "198.18.0.0/16"));  // outside
}

TEST(Policy, PrefixListGeOnlyAndLeOnly) {
  auto d = one_term(accept_if({.prefix_list = "ge"}));
  d.policies.push_back({"p2", {accept_if({.prefix_list = "le"})}});
  d.prefix_lists.push_back({"ge", {{P("100.64.0.0/10"), 24, std::nullopt}}});
  d.prefix_lists.push_back({"le", {{P("100.64.0.0/10"), std::nullopt, 16}}});
  auto set = compile(d, kLocalAs);
  ASSERT_TRUE(set);
  auto ge = set->find("p"), le = set->find("p2");
  EXPECT_FALSE(accepts(*ge, "100.64.0.0/23"));
  EXPECT_TRUE(accepts(*ge, "100.64.0.0/24"));
  EXPECT_TRUE(accepts(*ge, "100.64.0.1/32"));
  EXPECT_TRUE(accepts(*le, "100.64.0.0/10"));
  EXPECT_TRUE(accepts(*le, "100.65.0.0/16"));
  EXPECT_FALSE(accepts(*le, "100.65.0.0/17"));
}

TEST(Policy, PrefixListFirstMatchWinsAndDenyEntries) {
  auto d = one_term(accept_if({.prefix_list = "l"}));
  d.prefix_lists.push_back({"l",
                            {{P("100.65.0.0/16"), std::nullopt, 32, ListAction::Deny},
                             {P("100.64.0.0/10"), std::nullopt, 32}}});
  auto p = compile_p(d);
  EXPECT_TRUE(accepts(*p, "100.66.0.0/16"));
  EXPECT_FALSE(accepts(*p, "100.65.2.0/24"));  // denied by the first entry
  EXPECT_FALSE(accepts(*p, "198.18.0.0/15"));  // no entry: deny
}

TEST(Policy, PrefixListIpv6) {
  auto d = one_term(accept_if({.prefix_list = "l"}));
  d.prefix_lists.push_back({"l", {{P("fd00:db8::/32"), 48, 64}}});
  auto p = compile_p(d);
  EXPECT_TRUE(accepts(*p, "fd00:db8:1::/48"));
  EXPECT_FALSE(accepts(*p, "fd00:db8::/32"));
  EXPECT_FALSE(accepts(*p, "100.64.0.0/10"));
}

TEST(Policy, CommunityListAnyAndAll) {
  auto d = one_term(accept_if({.community_list = "any"}));
  d.policies.push_back({"p2", {accept_if({.community_list = "all"})}});
  d.community_lists.push_back({"any", {C("65000:1"), C("1:2:3"), C("rt:65000:100")}});
  d.community_lists.push_back({"all", {C("65000:1"), C("no-export")}, true});
  auto set = compile(d, kLocalAs);
  ASSERT_TRUE(set);
  auto any = set->find("p"), all = set->find("p2");
  auto a = attrs();
  EXPECT_FALSE(any->apply(P("100.64.0.0/10"), a));
  a.communities = {(65000u << 16) | 1};
  EXPECT_TRUE(any->apply(P("100.64.0.0/10"), a));
  EXPECT_FALSE(all->apply(P("100.64.0.0/10"), a));
  a.communities.push_back(kNoExport);
  EXPECT_TRUE(all->apply(P("100.64.0.0/10"), a));

  auto large = attrs();
  large.large_communities = {{1, 2, 3}};
  EXPECT_TRUE(any->apply(P("100.64.0.0/10"), large));
  auto ext = attrs();
  ext.ext_communities = {std::get<ExtCommunity>(C("rt:65000:100"))};
  EXPECT_TRUE(any->apply(P("100.64.0.0/10"), ext));
  ext.ext_communities = {std::get<ExtCommunity>(C("rt:65000:101"))};
  EXPECT_FALSE(any->apply(P("100.64.0.0/10"), ext));
}

TEST(Policy, InlineCommunities) {
  auto p = compile_p(one_term(accept_if({.communities = {C("no-export"), C("65000:7")}})));
  auto a = attrs();
  EXPECT_FALSE(p->apply(P("100.64.0.0/10"), a));
  a.communities = {1, kNoExport};
  EXPECT_TRUE(p->apply(P("100.64.0.0/10"), a));
}

TEST(Policy, AsPathContains) {
  auto p = compile_p(one_term(accept_if({.as_path_contains = 65002})));
  EXPECT_TRUE(accepts(*p, "100.64.0.0/10"));
  auto a = attrs();
  a.as_path.segments = {{AsPathSegment::Type::Set, {1, 65002}}};
  EXPECT_TRUE(p->apply(P("100.64.0.0/10"), a));
  a.as_path.segments.clear();
  EXPECT_FALSE(p->apply(P("100.64.0.0/10"), a));
}

TEST(Policy, Origin) {
  auto p = compile_p(one_term(accept_if({.origin = Origin::Incomplete})));
  EXPECT_FALSE(accepts(*p, "100.64.0.0/10"));
  auto a = attrs();
  a.origin = Origin::Incomplete;
  EXPECT_TRUE(p->apply(P("100.64.0.0/10"), a));
  EXPECT_EQ(parse_origin("igp"), Origin::Igp);
  EXPECT_EQ(parse_origin("egp"), Origin::Egp);
  EXPECT_EQ(parse_origin("incomplete"), Origin::Incomplete);
  EXPECT_EQ(parse_origin("IGP"), std::nullopt);
}

TEST(Policy, NextHopInPrefix) {
  auto p = compile_p(one_term(accept_if({.next_hop = P("198.18.0.0/15")})));
  EXPECT_TRUE(accepts(*p, "100.64.0.0/10"));
  auto a = attrs();
  a.next_hop = A("100.64.0.1");
  EXPECT_FALSE(p->apply(P("100.64.0.0/10"), a));
}

TEST(Policy, AllConditionsMustHold) {
  auto d = one_term(accept_if({.prefix_list = "l", .as_path_contains = 65001}));
  d.prefix_lists.push_back({"l", {{P("100.64.0.0/10"), std::nullopt, 32}}});
  auto p = compile_p(d);
  EXPECT_TRUE(accepts(*p, "100.65.0.0/16"));
  EXPECT_FALSE(accepts(*p, "198.18.0.0/15"));
  auto a = attrs();
  a.as_path.segments.clear();
  EXPECT_FALSE(p->apply(P("100.65.0.0/16"), a));
}

TEST(Policy, SetLocalPrefAndMed) {
  auto p = compile_p(one_term({"", {}, {.local_pref = 200, .med = 50}, Verdict::Accept}));
  auto a = attrs();
  ASSERT_TRUE(p->apply(P("100.64.0.0/10"), a));
  EXPECT_EQ(a.local_pref, 200u);
  EXPECT_EQ(a.med, 50u);
}

TEST(Policy, SetCommunitiesReplacesStandardAndLargeButKeepsExtended) {
  Set s;
  s.communities = std::vector<CommunityValue>{C("65000:2"), C("65000:1"), C("65000:2"), C("9:9:9")};
  auto p = compile_p(one_term({"", {}, s, Verdict::Accept}));
  auto a = attrs();
  a.communities = {kNoExport};
  a.large_communities = {{1, 1, 1}};
  a.ext_communities = {std::get<ExtCommunity>(C("rt:65000:100"))};
  ASSERT_TRUE(p->apply(P("100.64.0.0/10"), a));
  EXPECT_EQ(a.communities, (std::vector<Community>{(65000u << 16) | 2, (65000u << 16) | 1}));
  EXPECT_EQ(a.large_communities, (std::vector<LargeCommunity>{{9, 9, 9}}));
  EXPECT_EQ(a.ext_communities.size(), 1u);
}

TEST(Policy, SetEmptyCommunitiesClears) {
  Set s;
  s.communities = std::vector<CommunityValue>{};
  auto p = compile_p(one_term({"", {}, s, Verdict::Accept}));
  auto a = attrs();
  a.communities = {kNoExport};
  ASSERT_TRUE(p->apply(P("100.64.0.0/10"), a));
  EXPECT_TRUE(a.communities.empty());
}

TEST(Policy, AddAndRemoveCommunities) {
  Set s;
  s.add_communities = {C("65000:1"), C("no-export"), C("65000:1"), C("1:2:3"), C("rt:65000:5")};
  s.remove_communities = {C("65000:9"), C("7:7:7"), C("rt:65000:6")};
  auto p = compile_p(one_term({"", {}, s, Verdict::Accept}));
  auto a = attrs();
  a.communities = {kNoExport, (65000u << 16) | 9};
  a.large_communities = {{7, 7, 7}};
  a.ext_communities = {std::get<ExtCommunity>(C("rt:65000:6"))};
  ASSERT_TRUE(p->apply(P("100.64.0.0/10"), a));
  EXPECT_EQ(a.communities, (std::vector<Community>{kNoExport, (65000u << 16) | 1}));
  EXPECT_EQ(a.large_communities, (std::vector<LargeCommunity>{{1, 2, 3}}));
  EXPECT_EQ(a.ext_communities,
            (std::vector<ExtCommunity>{std::get<ExtCommunity>(C("rt:65000:5"))}));
}

TEST(Policy, PrependLocalAsAndGivenAs) {
  auto p = compile_p(one_term({"", {}, {.prepend_count = 3}, Verdict::Accept}));
  auto a = attrs();
  ASSERT_TRUE(p->apply(P("100.64.0.0/10"), a));
  ASSERT_EQ(a.as_path.segments.size(), 1u);
  EXPECT_EQ(a.as_path.segments[0].asns, (std::vector<uint32_t>{65000, 65000, 65000, 65001, 65002}));

  auto q =
      compile_p(one_term({"", {}, {.prepend_count = 1, .prepend_asn = 64512}, Verdict::Accept}));
  auto b = attrs();
  b.as_path.segments.clear();
  ASSERT_TRUE(q->apply(P("100.64.0.0/10"), b));
  ASSERT_EQ(b.as_path.segments.size(), 1u);
  EXPECT_EQ(b.as_path.segments[0].asns, (std::vector<uint32_t>{64512}));
}

TEST(Policy, SetNextHopAddressAndSelf) {
  auto p = compile_p(one_term({"", {}, {.next_hop = A("198.18.0.9")}, Verdict::Accept}));
  EXPECT_FALSE(p->sets_next_hop_self());
  auto a = attrs();
  a.link_local_next_hop = A("fe80::2");
  ASSERT_TRUE(p->apply(P("100.64.0.0/10"), a));
  EXPECT_EQ(a.next_hop, A("198.18.0.9"));
  // The old next hop's link-local companion (RFC 2545 §3) does not belong to the new one.
  EXPECT_FALSE(a.link_local_next_hop.has_value());

  // `self` leaves the unspecified address of the next hop's family for the RIB to resolve per
  // session on export.
  auto self = compile_p(one_term({"", {}, {.next_hop_self = true}, Verdict::Accept}));
  EXPECT_TRUE(self->sets_next_hop_self());
  auto b = attrs();
  ASSERT_TRUE(self->apply(P("100.64.0.0/10"), b));
  EXPECT_EQ(b.next_hop, A("0.0.0.0"));
  EXPECT_TRUE(b.next_hop.is_unspecified());

  auto c = attrs();
  c.next_hop = A("fd00:18::2");
  c.link_local_next_hop = A("fe80::2");
  ASSERT_TRUE(self->apply(P("fd00:64::/48"), c));
  EXPECT_EQ(c.next_hop, A("::"));
  EXPECT_FALSE(c.link_local_next_hop.has_value());

  // An IPv6 route with an IPv4 next hop (RFC 2545 §3 on an IPv4 session) keeps its family.
  auto d = attrs();
  ASSERT_TRUE(self->apply(P("fd00:64::/48"), d));
  EXPECT_EQ(d.next_hop, A("0.0.0.0"));
}

TEST(Policy, NextHopSelfTermIsFound) {
  PolicyDefinition p{"p", {}};
  EXPECT_FALSE(next_hop_self_term(p).has_value());
  p.terms.push_back({"", {}, {.med = 5}, Verdict::Next});
  p.terms.push_back({"", {}, {.next_hop = A("198.18.0.1")}, Verdict::Next});
  EXPECT_FALSE(next_hop_self_term(p).has_value());
  p.terms.push_back({"", {}, {.next_hop_self = true}, Verdict::Accept});
  EXPECT_EQ(next_hop_self_term(p), 2u);
}

TEST(Policy, TermsRunInOrderAndNextContinues) {
  // Term 1 tags everything and goes on; term 2 rejects 100.64/10 and longer; term 3 accepts the
  // rest with a higher preference.
  Definitions d;
  d.prefix_lists.push_back({"overlay", {{P("100.64.0.0/10"), std::nullopt, 32}}});
  Set tag;
  tag.add_communities = {C("65000:1")};
  d.policies.push_back({"p",
                        {{"tag", {}, tag, Verdict::Next},
                         {"drop-overlay", {.prefix_list = "overlay"}, {}, Verdict::Reject},
                         {"rest", {}, {.local_pref = 300}, Verdict::Accept},
                         {"never", {}, {.local_pref = 1}, Verdict::Accept}}});
  auto p = compile_p(d);
  auto a = attrs();
  EXPECT_FALSE(p->apply(P("100.65.0.0/16"), a));
  auto b = attrs();
  ASSERT_TRUE(p->apply(P("198.18.0.0/24"), b));
  EXPECT_EQ(b.communities, (std::vector<Community>{(65000u << 16) | 1}));
  EXPECT_EQ(b.local_pref, 300u);
}

TEST(Policy, NonMatchingTermChangesNothing) {
  auto p = compile_p(
      one_term({"", {.as_path_contains = 1}, {.local_pref = 5, .med = 5}, Verdict::Accept}));
  auto a = attrs();
  auto before = a;
  EXPECT_FALSE(p->apply(P("100.64.0.0/10"), a));
  EXPECT_EQ(a, before);
}

TEST(Policy, CheckEntry) {
  auto msg = [](PrefixListEntry e) {
    auto r = check_entry(e);
    return r ? std::string() : r.error().message;
  };
  EXPECT_EQ(msg({P("100.64.0.0/10"), 8, std::nullopt}),
            "ge 8 is shorter than the prefix length 10");
  EXPECT_EQ(msg({P("100.64.0.0/10"), std::nullopt, 33}), "le 33 is longer than 32");
  EXPECT_EQ(msg({P("100.64.0.0/10"), 24, 16}), "ge 24 is greater than le 16");
  EXPECT_EQ(msg({P("100.64.0.0/10"), std::nullopt, 9}),
            "le 9 is shorter than the prefix length 10");
  EXPECT_EQ(msg({P("::/0"), 129, std::nullopt}), "ge 129 is longer than 128");
  EXPECT_EQ(msg({P("100.64.0.0/10"), 10, 10}), "");
}

TEST(Policy, CompileErrorsAreAllReported) {
  Definitions d;
  d.prefix_lists.push_back({"l", {{P("100.64.0.0/10"), 4, std::nullopt}}});
  d.prefix_lists.push_back({"l", {}});
  d.community_lists.push_back({"c", {}});
  Set s;
  s.communities = std::vector<CommunityValue>{C("rt:1:1")};
  d.policies.push_back({"accept-all", {}});
  d.policies.push_back(
      {"p",
       {{"", {.prefix_list = "missing"}, {}, Verdict::Accept},
        {"named", {.community_list = "gone"}, s, Verdict::Accept},
        {"", {}, {.next_hop = A("198.18.0.1"), .next_hop_self = true}, Verdict::Next}}});
  d.policies.push_back({"p", {}});
  auto set = compile(d, kLocalAs);
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().message,
            "prefix list \"l\" entry 1 (100.64.0.0/10): ge 4 is shorter than the prefix length 10\n"
            "prefix list \"l\" is defined twice\n"
            "community list \"c\" is empty\n"
            "policy \"accept-all\" is built in and cannot be redefined\n"
            "policy \"p\" term 1: no prefix list named \"missing\"\n"
            "policy \"p\" term 2 (\"named\"): no community list named \"gone\"\n"
            "policy \"p\" term 2 (\"named\"): set communities cannot replace extended communities "
            "(route targets); use add_communities / remove_communities for them\n"
            "policy \"p\" term 3: next_hop cannot be both an address and self\n"
            "policy \"p\" is defined twice");
}

TEST(Policy, PrependWithoutAnyAsIsAnError) {
  auto set = compile(one_term({"", {}, {.prepend_count = 2}, Verdict::Accept}), 0);
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().message,
            "policy \"p\" term 1: prepend needs an AS number (no local AS known)");
}

TEST(Policy, PolicyOutlivesItsSet) {
  std::shared_ptr<const Policy> kept;
  {
    auto d = one_term(accept_if({.prefix_list = "l"}));
    d.prefix_lists.push_back({"l", {{P("100.64.0.0/10")}}});
    kept = compile_p(d);
  }
  EXPECT_TRUE(accepts(*kept, "100.64.0.0/10"));
  EXPECT_EQ(kept->name(), "p");
}

// ---- EVPN ------------------------------------------------------------------------------------

RouteDistinguisher RD(std::string_view text) { return *RouteDistinguisher::parse(text); }
ExtCommunity RT(std::string_view text) { return *parse_route_target(text); }

EvpnRoute mac_ip(uint32_t vni) {
  return EvpnRoute{EvpnMacIp{RD("198.18.0.1:100"),
                             Esi{},
                             0,
                             *MacAddress::parse("02:00:00:00:00:01"),
                             A("100.64.0.5"),
                             vni,
                             {}}};
}
EvpnRoute imet() { return EvpnRoute{EvpnImet{RD("198.18.0.1:100"), 0, A("198.18.0.1")}}; }
EvpnRoute ip_prefix(uint32_t vni) {
  return EvpnRoute{
      EvpnIpPrefix{RD("198.18.0.1:5"), Esi{}, 0, P("100.64.10.0/24"), A("0.0.0.0"), vni}};
}
EvpnRoute ethernet_segment() {
  return EvpnRoute{EvpnEthernetSegment{RD("198.18.0.1:1"), Esi::as(65000, 1), A("198.18.0.1")}};
}
// Type-3 attributes: the VNI is the PMSI_TUNNEL label.
PathAttributes with_pmsi(uint32_t vni) {
  auto a = attrs();
  a.pmsi_tunnel = PmsiTunnel::ingress_replication(vni, A("198.18.0.1"));
  return a;
}

bool accepts_evpn(const Policy& p, const EvpnRoute& r, PathAttributes a = attrs()) {
  return p.apply(Prefix(), a, &r);
}

TEST(PolicyEvpn, RouteTypeAndVni) {
  // Accept only type-2 and type-3 routes of VNI 100.
  auto p = compile_p(one_term(accept_if({.evpn_route_types = {2, 3}, .vnis = {100}})));
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->uses_prefix());  // decided per route
  EXPECT_TRUE(accepts_evpn(*p, mac_ip(100)));
  EXPECT_FALSE(accepts_evpn(*p, mac_ip(200)));
  EXPECT_TRUE(accepts_evpn(*p, imet(), with_pmsi(100)));
  EXPECT_FALSE(accepts_evpn(*p, imet(), with_pmsi(200)));
  EXPECT_FALSE(accepts_evpn(*p, imet()));              // no PMSI_TUNNEL: no VNI
  EXPECT_FALSE(accepts_evpn(*p, ip_prefix(100)));      // right VNI, wrong type
  EXPECT_FALSE(accepts_evpn(*p, ethernet_segment()));  // type 4 has no VNI
  // EVPN terms never match an IP route.
  EXPECT_FALSE(accepts(*p, "100.64.0.0/10"));
}

TEST(PolicyEvpn, EachTermAlone) {
  auto types = compile_p(one_term(accept_if({.evpn_route_types = {5}})));
  ASSERT_TRUE(types);
  EXPECT_TRUE(accepts_evpn(*types, ip_prefix(5000)));
  EXPECT_FALSE(accepts_evpn(*types, mac_ip(5000)));
  EXPECT_FALSE(accepts(*types, "0.0.0.0/0"));
  auto vnis = compile_p(one_term(accept_if({.vnis = {100, 5000}})));
  ASSERT_TRUE(vnis);
  EXPECT_TRUE(accepts_evpn(*vnis, ip_prefix(5000)));
  EXPECT_TRUE(accepts_evpn(*vnis, mac_ip(100)));
  EXPECT_FALSE(accepts_evpn(*vnis, mac_ip(101)));
  EXPECT_FALSE(accepts(*vnis, "100.64.0.0/10"));
}

TEST(PolicyEvpn, RouteTargetRejectsWhateverTheFamily) {
  // Reject routes carrying RT 65000:200, accept the rest.
  Definitions d;
  d.policies.push_back({"p",
                        {Term{"", {.route_targets = {RT("65000:200")}}, {}, Verdict::Reject},
                         Term{"", {}, {}, Verdict::Accept}}});
  auto p = compile_p(d);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->uses_prefix());  // attributes only: once per attribute set
  auto a = attrs();
  a.ext_communities = {Encapsulation{}.encode(), RT("65000:100")};
  EXPECT_TRUE(accepts_evpn(*p, mac_ip(100), a));
  a.ext_communities.push_back(RT("65000:200"));
  EXPECT_FALSE(accepts_evpn(*p, mac_ip(100), a));
  // A route target is an attribute: it matches IP routes too.
  EXPECT_FALSE(accepts(*p, "100.64.0.0/10", a));
  // Same numbers, other kinds: not that route target.
  a.ext_communities = {RT("65000L:200"), RT("198.18.0.1:200")};
  a.communities = {65000u << 16 | 200};
  EXPECT_TRUE(accepts_evpn(*p, mac_ip(100), a));
}

TEST(PolicyEvpn, PrefixListsNeverMatchEvpnRoutes) {
  // Even the list that permits every IPv4 prefix: the placeholder prefix of an EVPN route is not
  // an IP route.
  auto d = one_term(accept_if({.prefix_list = "any"}));
  d.prefix_lists.push_back({"any", {{P("0.0.0.0/0"), 0, 32}}});
  auto p = compile_p(d);
  ASSERT_TRUE(p);
  EXPECT_TRUE(accepts(*p, "0.0.0.0/0"));
  EXPECT_FALSE(accepts_evpn(*p, mac_ip(100)));
  EXPECT_FALSE(accepts_evpn(*p, ip_prefix(100)));
}

TEST(PolicyEvpn, CompileErrors) {
  Definitions d;
  d.policies.push_back(
      {"p",
       {Term{"", {.evpn_route_types = {0, 6}, .vnis = {1u << 24}}, {}, Verdict::Accept},
        Term{"t", {.route_targets = {Encapsulation{}.encode()}}, {}, Verdict::Accept}}});
  auto set = compile(d, kLocalAs);
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().message,
            "policy \"p\" term 1: route type 0 is not an EVPN route type (expected 1-5: 1 "
            "Ethernet A-D, 2 MAC/IP, 3 inclusive multicast, 4 Ethernet segment, 5 IP prefix)\n"
            "policy \"p\" term 1: route type 6 is not an EVPN route type (expected 1-5: 1 "
            "Ethernet A-D, 2 MAC/IP, 3 inclusive multicast, 4 Ethernet segment, 5 IP prefix)\n"
            "policy \"p\" term 1: VNI 16777216 does not fit 24 bits (expected 0..16777215)\n"
            "policy \"p\" term 2 (\"t\"): encap:8 is not a route target");
}

}  // namespace
}  // namespace isthmus::bgp::policy
