// Tests for the YAML configuration: the reference example, defaults, policies, and the exact
// message of each error.
#include "config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "bgp/wire/ext_community.h"

namespace isthmus::config {
namespace {

IpAddress A(std::string_view s) { return *IpAddress::parse(s); }
Prefix P(std::string_view s) { return *Prefix::parse(s); }

constexpr std::string_view kExample = R"(control_socket: /run/isthmus/isthmusd.sock
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: { address: 198.18.0.1, port: 179 }
  neighbors:
    - { address: 198.18.0.2, remote_as: 65000, route_reflector_client: true, families: [ipv4-unicast, ipv6-unicast] }
    - { address: 127.0.0.2, port: 1790, remote_as: 65002, passive: true, families: [ipv4-unicast], import: accept-all, export: accept-all }
  originate:
    - { prefix: 100.64.0.0/16 }
)";

Config parse_ok(std::string_view yaml) {
  auto c = parse_config(yaml, "config.yaml");
  EXPECT_TRUE(c) << (c ? "" : c.error().message);
  return c ? std::move(*c) : Config{};
}

// The whole error text for `yaml`.
std::string errors(std::string_view yaml) {
  auto c = parse_config(yaml, "config.yaml");
  EXPECT_FALSE(c);
  return c ? "" : c.error().message;
}

// A minimal valid bgp: section followed by `rest` (indented under bgp:).
std::string with_bgp(std::string_view rest) {
  return "bgp:\n  asn: 65000\n  router_id: 198.18.0.1\n" + std::string(rest);
}

TEST(Config, ReferenceExample) {
  Config c = parse_ok(kExample);
  EXPECT_EQ(c.source, "config.yaml");
  EXPECT_EQ(c.control_socket, "/run/isthmus/isthmusd.sock");
  EXPECT_EQ(c.log_level, log::Level::Info);
  EXPECT_EQ(c.bgp.asn, 65000u);
  EXPECT_EQ(c.bgp.router_id, A("198.18.0.1"));
  EXPECT_EQ(c.bgp.cluster_id, A("198.18.0.1"));
  EXPECT_TRUE(c.bgp.listen.enabled);
  EXPECT_EQ(c.bgp.listen.address, A("198.18.0.1"));
  EXPECT_EQ(c.bgp.listen.port, 179);
  EXPECT_EQ(c.bgp.hold_time, 90);
  EXPECT_EQ(c.bgp.keepalive, 30);
  EXPECT_EQ(c.bgp.connect_retry, 30);
  ASSERT_EQ(c.bgp.neighbors.size(), 2u);

  const Neighbor& rr = c.bgp.neighbors[0];
  EXPECT_EQ(rr.address, A("198.18.0.2"));
  EXPECT_EQ(rr.port, 179);
  EXPECT_FALSE(rr.passive);
  EXPECT_EQ(rr.peer.remote_as, 65000u);
  EXPECT_TRUE(rr.peer.ibgp);
  EXPECT_TRUE(rr.peer.route_reflector_client);
  EXPECT_EQ(rr.peer.families, (std::vector<bgp::Family>{bgp::kIpv4Unicast, bgp::kIpv6Unicast}));
  EXPECT_EQ(rr.peer.import_policy, "");
  EXPECT_EQ(rr.peer.export_policy, "");
  EXPECT_EQ(rr.peer.hold_time, 90);
  EXPECT_EQ(rr.peer.keepalive, 30);
  EXPECT_TRUE(rr.peer.graceful_restart.enabled);

  const Neighbor& e = c.bgp.neighbors[1];
  EXPECT_EQ(e.address, A("127.0.0.2"));
  EXPECT_EQ(e.port, 1790);
  EXPECT_TRUE(e.passive);
  EXPECT_EQ(e.peer.remote_as, 65002u);
  EXPECT_FALSE(e.peer.ibgp);
  EXPECT_EQ(e.peer.families, (std::vector<bgp::Family>{bgp::kIpv4Unicast}));
  EXPECT_EQ(e.peer.import_policy, "accept-all");
  EXPECT_EQ(e.peer.export_policy, "accept-all");

  ASSERT_EQ(c.bgp.originate.size(), 1u);
  EXPECT_EQ(c.bgp.originate[0].prefix, P("100.64.0.0/16"));
  EXPECT_TRUE(c.warnings.empty()) << c.warnings.front();
}

TEST(Config, Defaults) {
  Config c =
      parse_ok(with_bgp("  neighbors:\n    - { address: 198.18.0.9, remote_as: 65000 }\n"
                        "    - { address: 'fd00::9', remote_as: 65000 }\n"));
  EXPECT_EQ(c.control_socket, "/run/isthmus/isthmusd.sock");
  EXPECT_EQ(c.log_level, log::Level::Info);
  EXPECT_TRUE(c.bgp.listen.enabled);
  EXPECT_FALSE(c.bgp.listen.address);
  EXPECT_EQ(c.bgp.listen.port, 179);
  EXPECT_EQ(c.bgp.cluster_id, A("198.18.0.1"));
  const PeerSettings& p = c.bgp.neighbors[0].peer;
  EXPECT_EQ(c.bgp.neighbors[0].port, 179);
  EXPECT_FALSE(c.bgp.neighbors[0].passive);
  EXPECT_EQ(p.families, (std::vector<bgp::Family>{bgp::kIpv4Unicast}));
  EXPECT_EQ(c.bgp.neighbors[1].peer.families, (std::vector<bgp::Family>{bgp::kIpv6Unicast}));
  EXPECT_FALSE(p.local_address);
  EXPECT_EQ(p.description, "");
  EXPECT_FALSE(p.route_reflector_client);
  EXPECT_FALSE(p.next_hop_self);
  EXPECT_EQ(p.password, "");
  EXPECT_EQ(p.ttl_security, 0);
  EXPECT_EQ(p.ebgp_multihop, 0);
  EXPECT_EQ(p.hold_time, 90);
  EXPECT_EQ(p.keepalive, 30);
  EXPECT_EQ(p.connect_retry, 30);
  EXPECT_FALSE(p.shutdown);
  EXPECT_TRUE(p.graceful_restart.enabled);
  EXPECT_EQ(p.graceful_restart.restart_time, 120);
  EXPECT_EQ(p.graceful_restart.stale_routes_time, 360);
  EXPECT_TRUE(c.policy.policies.empty());
}

TEST(Config, EveryNeighborField) {
  Config c = parse_ok(with_bgp(R"(  cluster_id: 198.18.255.1
  listen: false
  hold_time: 30
  connect_retry: 1
  neighbors:
    - address: 198.19.0.1
      remote_as: 4200000000
      port: 10179
      local_address: 198.19.0.2
      passive: true
      description: "transit A"
      next_hop_self: true
      families: [l2vpn-evpn]
      import: accept-all
      export: reject-all
      password: "s3cret"
      ebgp_multihop: 3
      hold_time: 9
      shutdown: true
      graceful_restart: false
    - { address: 198.19.0.5, remote_as: 65009, ttl_security: true, import: accept-all, export: accept-all, keepalive: 3 }
    - { address: 198.19.0.6, remote_as: 65009, ttl_security: 2, import: accept-all, export: accept-all, hold_time: 0 }
)"));
  EXPECT_EQ(c.bgp.cluster_id, A("198.18.255.1"));
  EXPECT_FALSE(c.bgp.listen.enabled);
  EXPECT_EQ(c.bgp.hold_time, 30);
  EXPECT_EQ(c.bgp.keepalive, 10);
  EXPECT_EQ(c.bgp.connect_retry, 1);
  ASSERT_EQ(c.bgp.neighbors.size(), 3u);
  const Neighbor& n = c.bgp.neighbors[0];
  EXPECT_EQ(n.port, 10179);
  EXPECT_TRUE(n.passive);
  EXPECT_EQ(n.peer.remote_as, 4200000000u);
  EXPECT_EQ(n.peer.local_address, A("198.19.0.2"));
  EXPECT_EQ(n.peer.description, "transit A");
  EXPECT_TRUE(n.peer.next_hop_self);
  EXPECT_EQ(n.peer.families, (std::vector<bgp::Family>{bgp::kL2vpnEvpn}));
  EXPECT_EQ(n.peer.export_policy, "reject-all");
  EXPECT_EQ(n.peer.password, "s3cret");
  EXPECT_EQ(n.peer.ebgp_multihop, 3);
  EXPECT_EQ(n.peer.hold_time, 9);
  EXPECT_EQ(n.peer.keepalive, 3);  // a third of its own hold time
  EXPECT_EQ(n.peer.connect_retry, 1);
  EXPECT_TRUE(n.peer.shutdown);
  EXPECT_FALSE(n.peer.graceful_restart.enabled);
  EXPECT_EQ(c.bgp.neighbors[1].peer.ttl_security, 1);
  EXPECT_EQ(c.bgp.neighbors[1].peer.hold_time, 30);
  EXPECT_EQ(c.bgp.neighbors[1].peer.keepalive, 3);
  EXPECT_EQ(c.bgp.neighbors[2].peer.ttl_security, 2);
  EXPECT_EQ(c.bgp.neighbors[2].peer.hold_time, 0);
  EXPECT_EQ(c.bgp.neighbors[2].peer.keepalive, 0);
}

TEST(Config, GracefulRestartTimers) {
  Config c = parse_ok(with_bgp(R"(  neighbors:
    - { address: 198.18.0.2, remote_as: 65000, graceful_restart: { restart_time: 0, stale_routes_time: 1 } }
    - address: 198.18.0.3
      remote_as: 65000
      graceful_restart: { enabled: false, restart_time: 4095, stale_routes_time: 65535 }
    - { address: 198.18.0.4, remote_as: 65000, graceful_restart: true }
    - { address: 198.18.0.5, remote_as: 65000, graceful_restart: { enabled: true } }
  neighbor_ranges:
    - { prefix: 198.19.0.0/16, remote_as: 65000, graceful_restart: { restart_time: 30, stale_routes_time: 60 } }
)"));
  ASSERT_EQ(c.bgp.neighbors.size(), 4u);
  const GracefulRestart& a = c.bgp.neighbors[0].peer.graceful_restart;
  EXPECT_TRUE(a.enabled);
  EXPECT_EQ(a.restart_time, 0);
  EXPECT_EQ(a.stale_routes_time, 1);
  const GracefulRestart& b = c.bgp.neighbors[1].peer.graceful_restart;
  EXPECT_FALSE(b.enabled);
  EXPECT_EQ(b.restart_time, 4095);
  EXPECT_EQ(b.stale_routes_time, 65535);
  for (size_t i : {2u, 3u}) {
    const GracefulRestart& d = c.bgp.neighbors[i].peer.graceful_restart;
    EXPECT_TRUE(d.enabled) << i;
    EXPECT_EQ(d.restart_time, 120) << i;
    EXPECT_EQ(d.stale_routes_time, 360) << i;
  }
  const GracefulRestart& r = c.bgp.neighbor_ranges.at(0).peer.graceful_restart;
  EXPECT_TRUE(r.enabled);
  EXPECT_EQ(r.restart_time, 30);
  EXPECT_EQ(r.stale_routes_time, 60);
}

TEST(Config, ListenPortZeroAndExplicitKeepalive) {
  Config c = parse_ok(with_bgp("  listen: { port: 0 }\n  hold_time: 240\n  keepalive: 60\n"));
  EXPECT_TRUE(c.bgp.listen.enabled);
  EXPECT_EQ(c.bgp.listen.port, 0);
  EXPECT_EQ(c.bgp.keepalive, 60);
}

TEST(Config, NeighborRangesAndOriginate) {
  Config c = parse_ok(with_bgp(R"(  neighbor_ranges:
    - { prefix: 198.18.0.0/15, remote_as: 65000, route_reflector_client: true, max: 200 }
    - { prefix: 'fd00:1::/64', remote_as: 65010, families: [l2vpn-evpn], import: accept-all, export: accept-all, password: k }
  originate:
    - { prefix: 100.64.0.0/16, communities: [65000:1, no-export, 65000:1:2, 'rt:65000:100'], med: 10, local_pref: 200, next_hop: 198.18.0.1 }
    - { prefix: 'fd00:64::/48' }
)"));
  ASSERT_EQ(c.bgp.neighbor_ranges.size(), 2u);
  const NeighborRange& r = c.bgp.neighbor_ranges[0];
  EXPECT_EQ(r.prefix, P("198.18.0.0/15"));
  EXPECT_EQ(r.max, 200u);
  EXPECT_TRUE(r.peer.ibgp);
  EXPECT_TRUE(r.peer.route_reflector_client);
  EXPECT_EQ(r.peer.families, (std::vector<bgp::Family>{bgp::kIpv4Unicast}));
  EXPECT_EQ(c.bgp.neighbor_ranges[1].max, 1000u);
  EXPECT_EQ(c.bgp.neighbor_ranges[1].peer.password, "k");
  const Originate& o = c.bgp.originate[0];
  EXPECT_EQ(o.communities, (std::vector<bgp::Community>{(65000u << 16) | 1, bgp::kNoExport}));
  EXPECT_EQ(o.large_communities, (std::vector<bgp::LargeCommunity>{{65000, 1, 2}}));
  ASSERT_EQ(o.ext_communities.size(), 1u);
  EXPECT_EQ(o.med, 10u);
  EXPECT_EQ(o.local_pref, 200u);
  EXPECT_EQ(o.next_hop, A("198.18.0.1"));
  EXPECT_FALSE(c.bgp.originate[1].next_hop);
}

TEST(Config, LogLevels) {
  EXPECT_EQ(parse_ok("log_level: debug\n" + with_bgp("")).log_level, log::Level::Debug);
  EXPECT_EQ(parse_ok("log_level: warn\n" + with_bgp("")).log_level, log::Level::Warn);
  EXPECT_EQ(parse_ok("log_level: error\n" + with_bgp("")).log_level, log::Level::Error);
}

constexpr std::string_view kPolicies = R"(prefix_lists:
  cgnat:
    - { prefix: 100.64.0.0/10, ge: 16, le: 24 }
  bogons:
    - { prefix: 198.18.0.0/15, le: 32 }
    - { prefix: 0.0.0.0/0, action: deny }
community_lists:
  blackhole: [blackhole, 65000:666]
  both: { members: [65000:1, 65000:1:1], match: all }
policies:
  from-customer:
    - name: no-bogons
      match: { prefix_list: bogons }
      then: reject
    - match: { community: blackhole, as_path_contains: 64512, origin: igp, next_hop: 198.18.0.0/15 }
      then: { local_pref: 50, med: 7, communities: [no-export], add_communities: [65000:2, 1:2:3], remove_communities: [65000:666], prepend: 2, next_hop: self }
    - match: { prefix_list: cgnat, community: [65000:5, 'rt:65000:1'] }
      then: { action: accept, prepend: { asn: 64999, count: 3 }, next_hop: 198.18.0.9 }
    - then: accept
)";

TEST(Config, Policies) {
  Config c =
      parse_ok(std::string(kPolicies) + with_bgp("  neighbors:\n    - { address: 198.19.0.2, "
                                                 "remote_as: 64512, import: reject-all, "
                                                 "export: from-customer }\n"));
  EXPECT_TRUE(c.warnings.empty());
  const auto& d = c.policy;
  ASSERT_EQ(d.prefix_lists.size(), 2u);
  EXPECT_EQ(d.prefix_lists[0].name, "cgnat");
  EXPECT_EQ(d.prefix_lists[0].entries[0].ge, 16);
  EXPECT_EQ(d.prefix_lists[0].entries[0].le, 24);
  EXPECT_EQ(d.prefix_lists[1].entries[1].action, bgp::policy::ListAction::Deny);
  ASSERT_EQ(d.community_lists.size(), 2u);
  EXPECT_EQ(d.community_lists[0].members.size(), 2u);
  EXPECT_FALSE(d.community_lists[0].match_all);
  EXPECT_TRUE(d.community_lists[1].match_all);
  ASSERT_EQ(d.policies.size(), 1u);
  const auto& terms = d.policies[0].terms;
  ASSERT_EQ(terms.size(), 4u);
  EXPECT_EQ(terms[0].name, "no-bogons");
  EXPECT_EQ(terms[0].verdict, bgp::policy::Verdict::Reject);
  EXPECT_EQ(terms[1].match.community_list, "blackhole");
  EXPECT_EQ(terms[1].match.as_path_contains, 64512u);
  EXPECT_EQ(terms[1].match.origin, bgp::Origin::Igp);
  EXPECT_EQ(terms[1].match.next_hop, P("198.18.0.0/15"));
  EXPECT_EQ(terms[1].verdict, bgp::policy::Verdict::Next);
  EXPECT_EQ(terms[1].set.local_pref, 50u);
  EXPECT_EQ(terms[1].set.med, 7u);
  ASSERT_TRUE(terms[1].set.communities);
  EXPECT_EQ(terms[1].set.communities->size(), 1u);
  EXPECT_EQ(terms[1].set.add_communities.size(), 2u);
  EXPECT_EQ(terms[1].set.remove_communities.size(), 1u);
  EXPECT_EQ(terms[1].set.prepend_count, 2);
  EXPECT_FALSE(terms[1].set.prepend_asn);
  EXPECT_TRUE(terms[1].set.next_hop_self);
  EXPECT_EQ(terms[2].match.communities.size(), 2u);
  EXPECT_EQ(terms[2].set.prepend_asn, 64999u);
  EXPECT_EQ(terms[2].set.prepend_count, 3);
  EXPECT_EQ(terms[2].set.next_hop, A("198.18.0.9"));
  EXPECT_EQ(terms[3].verdict, bgp::policy::Verdict::Accept);

  // What the daemon does with it.
  auto set = bgp::policy::compile(c.policy, c.bgp.asn);
  ASSERT_TRUE(set) << set.error().message;
  auto p = set->find("from-customer");
  ASSERT_TRUE(p);
  bgp::PathAttributes a;
  EXPECT_FALSE(p->apply(P("198.19.0.0/16"), a));
  a.communities = {(65000u << 16) | 5};
  EXPECT_TRUE(p->apply(P("100.64.1.0/24"), a));
  EXPECT_EQ(a.as_path.segments.at(0).asns, (std::vector<uint32_t>{64999, 64999, 64999}));
}

// ---- Warnings ---------------------------------------------------------------------------------

TEST(Config, Warnings) {
  Config c = parse_ok(with_bgp(R"(  neighbors:
    - { address: 198.19.0.1, remote_as: 65001 }
    - { address: 198.19.0.2, remote_as: 65001, import: accept-all }
    - { address: 198.19.0.3, remote_as: 65001, export: accept-all }
    - { address: 198.19.0.4, remote_as: 65001, shutdown: true }
    - { address: 198.18.0.1, remote_as: 65000 }
policies:
  tag:
    - then: { add_communities: [65000:1] }
)"));
  EXPECT_EQ(c.warnings,
            (std::vector<std::string>{
                "config.yaml:5: bgp.neighbors[0]: eBGP neighbor without import or export policy: "
                "no routes will be exchanged (RFC 8212); name a policy, e.g. accept-all",
                "config.yaml:6: bgp.neighbors[1]: eBGP neighbor without export policy: no routes "
                "will be sent (RFC 8212); name a policy, e.g. accept-all",
                "config.yaml:7: bgp.neighbors[2]: eBGP neighbor without import policy: no routes "
                "will be accepted (RFC 8212); name a policy, e.g. accept-all",
                "config.yaml:9: bgp.neighbors[4].address: 198.18.0.1 is this speaker's own "
                "router_id",
                "config.yaml:12: policies.tag[0]: the last term neither accepts nor rejects: "
                "routes reaching it are changed and then rejected (a policy ends with reject)",
            }));
}

// ---- Errors: each message exactly ---------------------------------------------------------------

TEST(ConfigError, BadRemoteAs) {
  EXPECT_EQ(errors(with_bgp("  neighbors:\n"
                            "    - { address: 198.18.0.2, remote_as: 65000 }\n"
                            "    - { address: 198.18.0.3, remote_as: abc }\n")),
            "config.yaml:6: bgp.neighbors[1].remote_as: \"abc\" is not an AS number (expected "
            "1..4294967295)");
}

TEST(ConfigError, AsnRangeAndAsTrans) {
  EXPECT_EQ(errors("bgp:\n  asn: 0\n  router_id: 198.18.0.1\n"),
            "config.yaml:2: bgp.asn: 0 is not an AS number (expected 1..4294967295)");
  EXPECT_EQ(errors("bgp:\n  asn: 4294967296\n  router_id: 198.18.0.1\n"),
            "config.yaml:2: bgp.asn: 4294967296 is not an AS number (expected 1..4294967295)");
  EXPECT_EQ(errors("bgp:\n  asn: -1\n  router_id: 198.18.0.1\n"),
            "config.yaml:2: bgp.asn: \"-1\" is not an AS number (expected 1..4294967295)");
  EXPECT_EQ(errors("bgp:\n  asn: 23456\n  router_id: 198.18.0.1\n"),
            "config.yaml:2: bgp.asn: 23456 is AS_TRANS, a placeholder for 4-octet AS numbers "
            "(RFC 6793), not a real AS");
}

TEST(ConfigError, RouterId) {
  EXPECT_EQ(errors("bgp:\n  asn: 65000\n  router_id: 'fd00::1'\n"),
            "config.yaml:3: bgp.router_id: \"fd00::1\" is not an IPv4 address (a BGP identifier "
            "is 32 bits, RFC 6286)");
  EXPECT_EQ(errors("bgp:\n  asn: 65000\n  router_id: 0.0.0.0\n"),
            "config.yaml:3: bgp.router_id: 0.0.0.0 is not a valid BGP identifier (RFC 6286 §2.1)");
}

TEST(ConfigError, MissingRequiredKeys) {
  EXPECT_EQ(errors("bgp:\n  asn: 65000\n"),
            "config.yaml:2: bgp: missing required key \"router_id\"");
  EXPECT_EQ(errors(with_bgp("  neighbors:\n    - { remote_as: 65000 }\n")),
            "config.yaml:5: bgp.neighbors[0]: missing required key \"address\"");
  EXPECT_EQ(errors("log_level: info\n"),
            "config.yaml:1: missing required key \"bgp\" (the route reflector and the node agent "
            "both run one)");
}

TEST(ConfigError, UnknownKeysWithSuggestions) {
  EXPECT_EQ(errors(with_bgp("  neighbours:\n    - { address: 198.18.0.2, remote-as: 65000 }\n")),
            "config.yaml:4: bgp.neighbours: unknown key (did you mean \"neighbors\"?)");
  EXPECT_EQ(errors(with_bgp("  neighbors:\n    - { address: 198.18.0.2, remote-as: 65000 }\n")),
            "config.yaml:5: bgp.neighbors[0].remote-as: unknown key (did you mean \"remote_as\"?)\n"
            "config.yaml:5: bgp.neighbors[0]: missing required key \"remote_as\"");
  EXPECT_EQ(errors("colour: blue\n" + with_bgp("")),
            "config.yaml:1: colour: unknown key (expected one of: control_socket, log_level, bgp, "
            "evpn, agent, networks, vrfs, prefix_lists, community_lists, policies)");
}

TEST(ConfigError, UnknownFamily) {
  EXPECT_EQ(errors(with_bgp("  neighbors:\n    - { address: 198.18.0.2, remote_as: 65000, "
                            "families: [ipv4-unicast, ipv4-multicast, ipv4-unicast] }\n")),
            "config.yaml:5: bgp.neighbors[0].families[1]: \"ipv4-multicast\" is not a supported "
            "address family (expected one of: ipv4-unicast, ipv6-unicast, l2vpn-evpn, ipv4-rtc)\n"
            "config.yaml:5: bgp.neighbors[0].families[2]: \"ipv4-unicast\" is listed twice");
}

TEST(ConfigError, BadPrefix) {
  EXPECT_EQ(errors(with_bgp("  originate:\n    - { prefix: 100.64.0.0/33 }\n")),
            "config.yaml:5: bgp.originate[0].prefix: \"100.64.0.0/33\" is not a valid prefix "
            "(length must be 0..32)");
  EXPECT_EQ(errors(with_bgp("  originate:\n    - { prefix: 100.64.0.1/16 }\n")),
            "config.yaml:5: bgp.originate[0].prefix: \"100.64.0.1/16\" has host bits set (did you "
            "mean 100.64.0.0/16?)");
}

TEST(ConfigError, DuplicateNeighbor) {
  EXPECT_EQ(errors(with_bgp("  neighbors:\n"
                            "    - { address: 198.18.0.2, remote_as: 65000 }\n"
                            "    - { address: 198.18.0.3, remote_as: 65000 }\n"
                            "    - { address: 198.18.0.2, remote_as: 65000 }\n")),
            "config.yaml:7: bgp.neighbors[2].address: 198.18.0.2 is already configured as "
            "bgp.neighbors[0]");
}

TEST(ConfigError, RouteReflectorClientOnEbgp) {
  EXPECT_EQ(errors(with_bgp("  neighbors:\n    - { address: 198.18.0.2, remote_as: 65001, "
                            "route_reflector_client: true, import: accept-all, export: "
                            "accept-all }\n")),
            "config.yaml:5: bgp.neighbors[0].route_reflector_client: only an iBGP neighbor can be "
            "a route reflector client (remote_as 65001 differs from bgp.asn 65000)");
}

TEST(ConfigError, TtlSecurityWithMultihop) {
  EXPECT_EQ(errors(with_bgp("  neighbors:\n    - address: 198.18.0.2\n      remote_as: 65001\n"
                            "      ttl_security: true\n      ebgp_multihop: 2\n"
                            "      import: accept-all\n      export: accept-all\n")),
            "config.yaml:5: bgp.neighbors[0]: ttl_security and ebgp_multihop cannot both be set "
            "(GTSM sends with TTL 255 and checks the hop count on receipt, RFC 5082)");
  EXPECT_EQ(errors(with_bgp("  neighbors:\n    - { address: 198.18.0.2, remote_as: 65000, "
                            "ebgp_multihop: 2 }\n")),
            "config.yaml:5: bgp.neighbors[0].ebgp_multihop: applies to eBGP neighbors only "
            "(remote_as 65000 is bgp.asn)");
  EXPECT_EQ(errors(with_bgp("  neighbors:\n    - { address: 198.18.0.2, remote_as: 65000, "
                            "ttl_security: 255 }\n")),
            "config.yaml:5: bgp.neighbors[0].ttl_security: 255 is not a hop count (expected "
            "true, false or 1..254)");
}

TEST(ConfigError, UnknownPolicy) {
  EXPECT_EQ(errors(with_bgp("  neighbors:\n    - { address: 198.18.0.2, remote_as: 65001, "
                            "import: from-transit, export: accept-all }\n")),
            "config.yaml:5: bgp.neighbors[0].import: no policy named \"from-transit\" (defined: "
            "accept-all, reject-all)");
}

TEST(ConfigError, PasswordTooLongIsNotEchoed) {
  std::string key(81, 'k');
  std::string msg =
      errors(with_bgp("  neighbors:\n    - { address: 198.18.0.2, remote_as: "
                      "65000, password: " +
                      key + " }\n"));
  EXPECT_EQ(msg,
            "config.yaml:5: bgp.neighbors[0].password: the key is 81 characters long; TCP-MD5 "
            "keys are at most 80 (RFC 2385)");
  EXPECT_EQ(msg.find(key), std::string::npos);
  parse_ok(with_bgp("  neighbors:\n    - { address: 198.18.0.2, remote_as: 65000, password: " +
                    std::string(80, 'k') + " }\n"));
}

TEST(ConfigError, Timers) {
  EXPECT_EQ(errors(with_bgp("  hold_time: 2\n")),
            "config.yaml:4: bgp.hold_time: 2 is not a hold time (expected 0 or 3..65535 seconds, "
            "RFC 4271 §4.2)");
  EXPECT_EQ(errors(with_bgp("  hold_time: 9\n  keepalive: 9\n")),
            "config.yaml:5: bgp.keepalive: 9 does not fit hold_time 9 (keepalive must be less "
            "than hold_time; usually a third)");
  EXPECT_EQ(errors(with_bgp("  neighbors:\n    - { address: 198.18.0.2, remote_as: 65000, "
                            "hold_time: 0, keepalive: 5 }\n")),
            "config.yaml:5: bgp.neighbors[0].keepalive: 5 does not fit hold_time 0 (with "
            "hold_time 0 keepalive must be 0)");
  EXPECT_EQ(errors(with_bgp("  connect_retry: 0\n")),
            "config.yaml:4: bgp.connect_retry: 0 is not a retry interval in seconds (expected "
            "1..65535)");
}

TEST(Config, LimitsAndLongLivedGracefulRestart) {
  Config c = parse_ok(with_bgp(R"(  neighbors:
    - { address: 198.18.0.2, remote_as: 65000, max_prefixes: 1000, min_hold_time: 9,
        send_hold_time: 30, graceful_restart: { long_lived_stale_time: 16777215 } }
    - { address: 198.18.0.3, remote_as: 65000,
        max_prefixes: { l2vpn-evpn: 50000, ipv4-unicast: 10, warning: 90, restart: 0 } }
  neighbor_ranges:
    - { prefix: 198.19.0.0/16, remote_as: 65000, max_prefixes: { ipv6-unicast: 5 } }
)"));
  const PeerSettings& a = c.bgp.neighbors.at(0).peer;
  EXPECT_EQ(a.max_prefixes.all, 1000u);
  EXPECT_EQ(a.max_prefixes.limit(bgp::kL2vpnEvpn), 1000u);
  EXPECT_EQ(a.max_prefixes.warning_percent, 75);
  EXPECT_EQ(a.max_prefixes.restart, 60);
  EXPECT_EQ(a.min_hold_time, 9);
  EXPECT_EQ(a.send_hold_time, 30);
  EXPECT_EQ(a.graceful_restart.long_lived_stale_time, 16777215u);
  const PeerSettings& b = c.bgp.neighbors.at(1).peer;
  EXPECT_EQ(b.max_prefixes.limit(bgp::kL2vpnEvpn), 50000u);
  EXPECT_EQ(b.max_prefixes.limit(bgp::kIpv4Unicast), 10u);
  EXPECT_EQ(b.max_prefixes.limit(bgp::kIpv6Unicast), 0u);  // no limit
  EXPECT_EQ(b.max_prefixes.warning_percent, 90);
  EXPECT_EQ(b.max_prefixes.restart, 0);
  EXPECT_EQ(b.min_hold_time, 3);  // the defaults
  EXPECT_EQ(b.send_hold_time, 480);
  EXPECT_EQ(b.graceful_restart.long_lived_stale_time, 86400u);
  EXPECT_EQ(c.bgp.neighbor_ranges.at(0).peer.max_prefixes.limit(bgp::kIpv6Unicast), 5u);
  EXPECT_EQ(c.bgp.update_group_max_lag, uint64_t{4} << 20);
  EXPECT_EQ(c.bgp.neighbor_ranges.at(0).restart_wait, 60);
  EXPECT_EQ(parse_ok(with_bgp("  neighbor_ranges:\n    - { prefix: 198.19.0.0/16, remote_as: "
                              "65000, restart_wait: 0 }\n"))
                .bgp.neighbor_ranges.at(0)
                .restart_wait,
            0);
  EXPECT_EQ(parse_ok(with_bgp("  update_group_max_lag: 65536\n")).bgp.update_group_max_lag, 65536u);
  // The levels: a warning from 90% of 10, past 10 exceeded.
  EXPECT_EQ(b.max_prefixes.level(bgp::kIpv4Unicast, 8), bgp::MaxPrefixes::Level::Fine);
  EXPECT_EQ(b.max_prefixes.level(bgp::kIpv4Unicast, 9), bgp::MaxPrefixes::Level::Warning);
  EXPECT_EQ(b.max_prefixes.level(bgp::kIpv4Unicast, 10), bgp::MaxPrefixes::Level::Warning);
  EXPECT_EQ(b.max_prefixes.level(bgp::kIpv4Unicast, 11), bgp::MaxPrefixes::Level::Exceeded);
  EXPECT_EQ(b.max_prefixes.level(bgp::kIpv6Unicast, 1u << 30), bgp::MaxPrefixes::Level::Fine);
}

TEST(ConfigError, Limits) {
  auto nb = [](std::string_view kv) {
    return with_bgp("  neighbors:\n    - { address: 198.18.0.2, remote_as: 65000, " +
                    std::string(kv) + " }\n");
  };
  EXPECT_EQ(errors(with_bgp("  neighbor_ranges:\n    - { prefix: 198.19.0.0/16, remote_as: "
                            "65000, restart_wait: -1 }\n")),
            "config.yaml:5: bgp.neighbor_ranges[0].restart_wait: \"-1\" is not a wait in seconds "
            "(expected 0..65535)");
  EXPECT_EQ(errors(with_bgp("  update_group_max_lag: 4096\n")),
            "config.yaml:4: bgp.update_group_max_lag: 4096 is not a size in octets (expected "
            "65536..4294967296)");
  EXPECT_EQ(errors(nb("max_prefixes: 0")),
            "config.yaml:5: bgp.neighbors[0].max_prefixes: 0 is not a number of prefixes "
            "(expected 1..4294967295)");
  EXPECT_EQ(errors(nb("max_prefixes: { warning: 101 }")),
            "config.yaml:5: bgp.neighbors[0].max_prefixes.warning: 101 is not a percentage "
            "(expected 1..100)");
  EXPECT_EQ(errors(nb("max_prefixes: { ipv4-unicst: 5 }")),
            "config.yaml:5: bgp.neighbors[0].max_prefixes.ipv4-unicst: unknown key (did you mean "
            "\"ipv4-unicast\"?)");
  EXPECT_EQ(errors(nb("send_hold_time: 0")),
            "config.yaml:5: bgp.neighbors[0].send_hold_time: 0 is not a send hold time in seconds "
            "(expected 1..65535)");
  EXPECT_EQ(errors(nb("graceful_restart: { long_lived_stale_time: 16777216 }")),
            "config.yaml:5: bgp.neighbors[0].graceful_restart.long_lived_stale_time: 16777216 is "
            "not a long-lived stale time (expected 0..16777215 seconds, 24 bits in the capability, "
            "RFC 9494)");
}

TEST(ConfigError, GracefulRestart) {
  auto nb = [](std::string_view gr) {
    return with_bgp(
        "  neighbors:\n    - { address: 198.18.0.2, remote_as: 65000, "
        "graceful_restart: " +
        std::string(gr) + " }\n");
  };
  EXPECT_EQ(errors(nb("{ restart_time: 4096 }")),
            "config.yaml:5: bgp.neighbors[0].graceful_restart.restart_time: 4096 is not a restart "
            "time (expected 0..4095 seconds, 12 bits in the capability, RFC 4724 §3)");
  EXPECT_EQ(errors(nb("{ stale_routes_time: 0 }")),
            "config.yaml:5: bgp.neighbors[0].graceful_restart.stale_routes_time: 0 is not a stale "
            "routes time in seconds (expected 1..65535)");
  EXPECT_EQ(errors(nb("{ stale_routes_time: 65536 }")),
            "config.yaml:5: bgp.neighbors[0].graceful_restart.stale_routes_time: 65536 is not a "
            "stale routes time in seconds (expected 1..65535)");
  EXPECT_EQ(errors(nb("{ restart_tme: 60 }")),
            "config.yaml:5: bgp.neighbors[0].graceful_restart.restart_tme: unknown key (did you "
            "mean \"restart_time\"?)");
  EXPECT_EQ(errors(nb("{ enabled: perhaps }")),
            "config.yaml:5: bgp.neighbors[0].graceful_restart.enabled: \"perhaps\" is not true or "
            "false");
  EXPECT_EQ(errors(nb("sometimes")),
            "config.yaml:5: bgp.neighbors[0].graceful_restart: \"sometimes\" is not true or false");
  EXPECT_EQ(errors(with_bgp("  neighbor_ranges:\n    - { prefix: 198.19.0.0/16, remote_as: "
                            "65000, graceful_restart: { restart_time: -1 } }\n")),
            "config.yaml:5: bgp.neighbor_ranges[0].graceful_restart.restart_time: \"-1\" is not a "
            "restart time (expected 0..4095 seconds, 12 bits in the capability, RFC 4724 §3)");
}

TEST(ConfigError, NextHopSelfOnlyOnExport) {
  constexpr std::string_view kSelf = R"(policies:
  nh-self:
    - match: { origin: igp }
      then: { med: 5 }
    - then: { next_hop: self, action: accept }
)";
  // As an export policy: fine.
  parse_ok(std::string(kSelf) + with_bgp("  neighbors:\n    - { address: 198.18.0.2, remote_as: "
                                         "65000, export: nh-self }\n"));
  // As an import policy, of a neighbor or of a range: refused, naming where `self` is set.
  EXPECT_EQ(errors(std::string(kSelf) +
                   with_bgp("  neighbors:\n    - { address: 198.18.0.2, remote_as: 65000, "
                            "import: nh-self, export: nh-self }\n"
                            "  neighbor_ranges:\n    - { prefix: 198.19.0.0/16, remote_as: "
                            "65001, import: nh-self, export: accept-all }\n")),
            "config.yaml:10: bgp.neighbors[0].import: policy \"nh-self\" sets next_hop: self "
            "(policies.nh-self[1].then.next_hop, line 5), which only applies to routes sent: use "
            "it as an export policy\n"
            "config.yaml:12: bgp.neighbor_ranges[0].import: policy \"nh-self\" sets next_hop: self "
            "(policies.nh-self[1].then.next_hop, line 5), which only applies to routes sent: use "
            "it as an export policy");
  // Defined after its use: the same.
  EXPECT_EQ(errors(with_bgp("  neighbors:\n    - { address: 198.18.0.2, remote_as: 65000, "
                            "import: nh-self }\n") +
                   std::string(kSelf)),
            "config.yaml:5: bgp.neighbors[0].import: policy \"nh-self\" sets next_hop: self "
            "(policies.nh-self[1].then.next_hop, line 10), which only applies to routes sent: use "
            "it as an export policy");
}

TEST(ConfigError, WrongTypes) {
  EXPECT_EQ(errors(with_bgp("  neighbors: { address: 198.18.0.2 }\n")),
            "config.yaml:4: bgp.neighbors: expected a list, got a mapping");
  EXPECT_EQ(errors(with_bgp("  neighbors:\n    - { address: 198.18.0.2, remote_as: 65000, "
                            "passive: maybe }\n")),
            "config.yaml:5: bgp.neighbors[0].passive: \"maybe\" is not true or false");
  EXPECT_EQ(errors("bgp: 65000\n"),
            "config.yaml:1: bgp: expected a mapping (key: value), got 65000");
  EXPECT_EQ(errors(with_bgp("  listen: { port: 70000 }\n")),
            "config.yaml:4: bgp.listen.port: 70000 is not a port (expected 0..65535)");
  EXPECT_EQ(errors("log_level: verbose\n" + with_bgp("")),
            "config.yaml:1: log_level: \"verbose\" is not a log level (expected debug, info, "
            "warn or error)");
}

TEST(ConfigError, AddressesAndFamilies) {
  EXPECT_EQ(errors(with_bgp("  neighbors:\n    - { address: 198.18.0.256, remote_as: 65000 }\n")),
            "config.yaml:5: bgp.neighbors[0].address: \"198.18.0.256\" is not an IP address");
  EXPECT_EQ(errors(with_bgp("  neighbors:\n    - { address: 198.18.0.2, remote_as: 65000, "
                            "local_address: 'fd00::1' }\n")),
            "config.yaml:5: bgp.neighbors[0].local_address: fd00::1 is not of the same family as "
            "the address 198.18.0.2");
}

TEST(ConfigError, EmptyValue) {
  EXPECT_EQ(errors("bgp:\n  asn:\n  router_id: 198.18.0.1\n"),
            "config.yaml:2: bgp.asn: has no value");
}

TEST(ConfigError, RepeatedKey) {
  EXPECT_EQ(errors("bgp:\n  asn: 65000\n  asn: 65001\n  router_id: 198.18.0.1\n"),
            "config.yaml:3: bgp.asn: repeated key (each key may appear once)");
}

TEST(ConfigError, YamlSyntax) {
  EXPECT_EQ(errors("bgp:\n  asn: [65000\n"),
            "config.yaml:3:1: not valid YAML: end of sequence flow not found");
  EXPECT_EQ(errors(""), "config.yaml: the configuration is empty");
}

TEST(ConfigError, PolicyErrors) {
  EXPECT_EQ(errors(R"(prefix_lists:
  l:
    - { prefix: 100.64.0.0/10, ge: 8 }
    - { prefix: 198.18.0.0/15, action: allow }
community_lists:
  c: [65536:1]
policies:
  accept-all:
    - then: accept
  p:
    - match: { prefix_list: nope, community: missing, origin: bgp }
      then: { communities: ['rt:65000:1'], prepend: 33, next_hop: me }
    - match: { community: [] }
)" + with_bgp("")),
            "config.yaml:3: prefix_lists.l[0]: ge 8 is shorter than the prefix length 10\n"
            "config.yaml:4: prefix_lists.l[1].action: \"allow\" is not an action (expected "
            "permit or deny)\n"
            "config.yaml:6: community_lists.c[0]: \"65536:1\" is not a community (expected "
            "ASN:VALUE with both parts 0..65535, RFC 1997)\n"
            "config.yaml:8: policies.accept-all: \"accept-all\" is built in and cannot be "
            "redefined\n"
            "config.yaml:11: policies.p[0].match.origin: \"bgp\" is not an origin (expected igp, "
            "egp or incomplete)\n"
            "config.yaml:11: policies.p[0].match.prefix_list: no prefix list named \"nope\" "
            "(defined: l)\n"
            "config.yaml:11: policies.p[0].match.community: no community list named \"missing\" "
            "(defined: c)\n"
            "config.yaml:12: policies.p[0].then.communities[0]: setting communities cannot "
            "replace extended communities (route targets); use add_communities / "
            "remove_communities for them\n"
            "config.yaml:12: policies.p[0].then.prepend: 33 is not a prepend count (expected "
            "1..32)\n"
            "config.yaml:12: policies.p[0].then.next_hop: \"me\" is not an IP address or "
            "\"self\"\n"
            "config.yaml:13: policies.p[1].match.community: an inline community list needs a "
            "member\n"
            "config.yaml:13: policies.p[1]: missing required key \"then\"");
}

TEST(ConfigError, CollectsManyErrors) {
  std::string msg = errors(R"(bgp:
  asn: abc
  router_id: x
  neighbors:
    - { address: 198.19.0.4, remote_as: 0 }
    - { address: 198.19.0.5, remote_as: 65000, families: [foo] }
)");
  EXPECT_EQ(msg,
            "config.yaml:2: bgp.asn: \"abc\" is not an AS number (expected 1..4294967295)\n"
            "config.yaml:3: bgp.router_id: \"x\" is not an IPv4 address (a BGP identifier is 32 "
            "bits, RFC 6286)\n"
            "config.yaml:5: bgp.neighbors[0].remote_as: 0 is not an AS number (expected "
            "1..4294967295)\n"
            "config.yaml:6: bgp.neighbors[1].families[0]: \"foo\" is not a supported address "
            "family (expected one of: ipv4-unicast, ipv6-unicast, l2vpn-evpn, ipv4-rtc)");
}

TEST(ConfigError, RangesAndOriginate) {
  EXPECT_EQ(errors(with_bgp(R"(  neighbor_ranges:
    - { prefix: 198.18.0.0/15, remote_as: 65000, max: 0 }
    - { prefix: 198.18.0.0/15, remote_as: 65000, port: 1 }
  originate:
    - { prefix: 100.64.0.0/16 }
    - { prefix: 100.64.0.0/16, next_hop: 'fd00::1' }
)")),
            "config.yaml:5: bgp.neighbor_ranges[0].max: 0 is not a session limit (expected "
            "1..65535)\n"
            "config.yaml:6: bgp.neighbor_ranges[1].port: applies to neighbors only (a range "
            "accepts connections from any address in its prefix and never connects)\n"
            "config.yaml:6: bgp.neighbor_ranges[1].prefix: 198.18.0.0/15 is already configured "
            "as bgp.neighbor_ranges[0]\n"
            "config.yaml:9: bgp.originate[1].next_hop: fd00::1 is not of the same family as the "
            "prefix 100.64.0.0/16\n"
            "config.yaml:9: bgp.originate[1].prefix: 100.64.0.0/16 is already originated by "
            "bgp.originate[0]");
}

TEST(ConfigError, NearMissNamesAreSuggested) {
  EXPECT_EQ(errors("policies:\n  typo:\n    - then: accept\n" +
                   with_bgp("  neighbors:\n    - { address: 198.18.0.2, remote_as: 65000, "
                            "import: tpyo }\n")),
            "config.yaml:8: bgp.neighbors[0].import: no policy named \"tpyo\" (did you mean "
            "\"typo\"?)");
  EXPECT_EQ(errors("policies:\n  p:\n    - then: { prepend: { cuont: 2 }, action: accept }\n" +
                   with_bgp("")),
            "config.yaml:3: policies.p[0].then.prepend.cuont: unknown key (did you mean "
            "\"count\"?)");
}

TEST(ConfigError, NeighborAddressUnspecified) {
  EXPECT_EQ(errors(with_bgp("  neighbors:\n    - { address: 0.0.0.0, remote_as: 65000 }\n")),
            "config.yaml:5: bgp.neighbors[0].address: 0.0.0.0 is not a neighbor address");
}

TEST(Config, LoadFile) {
  char path[] = "/tmp/isthmus_config_test_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path);
    out << kExample;
  }
  auto c = load_config_file(path);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->source, path);
  std::remove(path);
  auto missing = load_config_file("/nonexistent/isthmus.yaml");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message,
            "/nonexistent/isthmus.yaml: cannot read the file: No such file or directory");
}

}  // namespace
}  // namespace isthmus::config

namespace isthmus::config {
namespace {

constexpr std::string_view kBgpOnly = R"(bgp:
  asn: 65000
  router_id: 198.18.0.1
)";

TEST(Config, EvpnMacVrfs) {
  Config c = parse_ok(std::string(kBgpOnly) + R"(evpn:
  vnis:
    - { vni: 100 }
    - { vni: 200, rd: "65000:200", import_rts: ["65000:200", "rt:198.18.0.9:7"], export_rts: ["65000:201"] }
)");
  EXPECT_FALSE(c.evpn.vtep.has_value());
  ASSERT_EQ(c.evpn.vnis.size(), 2u);
  EXPECT_EQ(c.evpn.vnis[0].vni, 100u);
  EXPECT_FALSE(c.evpn.vnis[0].rd.has_value());
  EXPECT_TRUE(c.evpn.vnis[0].import_rts.empty());  // derived later
  EXPECT_EQ(c.evpn.vnis[1].rd->to_string(), "65000:200");
  EXPECT_EQ(c.evpn.vnis[1].import_rts, (std::vector{bgp::route_target_as2(65000, 200),
                                                    bgp::route_target_ipv4(A("198.18.0.9"), 7)}));
  EXPECT_EQ(c.evpn.vnis[1].export_rts, std::vector{bgp::route_target_as2(65000, 201)});
}

TEST(Config, EvpnVtep) {
  Config c = parse_ok(std::string(kBgpOnly) + "evpn: { vtep: 198.18.0.1, vnis: [{ vni: 100 }] }\n");
  EXPECT_EQ(c.evpn.vtep, A("198.18.0.1"));
  EXPECT_EQ(errors(std::string(kBgpOnly) + "evpn: { vtep: 0.0.0.0 }\n"),
            "config.yaml:4: evpn.vtep: 0.0.0.0 is not a VTEP address");
}

TEST(Config, EvpnDuplicateDetection) {
  Config c = parse_ok(std::string(kBgpOnly) + "evpn: { vnis: [{ vni: 100 }] }\n");
  EXPECT_TRUE(c.evpn.duplicate_detection.enabled);  // RFC 7432 §15.1 defaults
  EXPECT_EQ(c.evpn.duplicate_detection.max_moves, 5u);
  EXPECT_EQ(c.evpn.duplicate_detection.window, 180u);
  c = parse_ok(std::string(kBgpOnly) +
               "evpn: { duplicate_detection: { max_moves: 3, window: 30 } }\n");
  EXPECT_TRUE(c.evpn.duplicate_detection.enabled);
  EXPECT_EQ(c.evpn.duplicate_detection.max_moves, 3u);
  EXPECT_EQ(c.evpn.duplicate_detection.window, 30u);
  c = parse_ok(std::string(kBgpOnly) + "evpn: { duplicate_detection: false }\n");
  EXPECT_FALSE(c.evpn.duplicate_detection.enabled);
  c = parse_ok(std::string(kBgpOnly) + "evpn: { duplicate_detection: { enabled: false } }\n");
  EXPECT_FALSE(c.evpn.duplicate_detection.enabled);
}

TEST(ConfigError, EvpnDuplicateDetection) {
  EXPECT_EQ(errors(std::string(kBgpOnly) + R"(evpn:
  duplicate_detection: { max_moves: 1, window: 3600, enabled: maybe, moves: 2 }
)"),
            "config.yaml:5: evpn.duplicate_detection.max_moves: 1 is not a number of moves "
            "(expected 2..1000)\n"
            "config.yaml:5: evpn.duplicate_detection.window: 3600 is not a window in seconds "
            "(expected 2..1800 seconds)\n"
            "config.yaml:5: evpn.duplicate_detection.enabled: \"maybe\" is not true or false\n"
            "config.yaml:5: evpn.duplicate_detection.moves: unknown key (expected one of: "
            "enabled, max_moves, window)");
}

// vrfs: the tenants, each an IP-VRF with its L3 VNI, named by networks[].vrf.
TEST(Config, Vrfs) {
  Config c = parse_ok(std::string(kBgpOnly) + R"(evpn:
  vnis: [{ vni: 100 }]
vrfs:
  - { name: tenant1, l3vni: 1000 }
  - { name: tenant-2, l3vni: 1001, rd: "65000:1001", import_rts: ["65000:1001"],
      export_rts: ["rt:65000:1002"], router_mac: "02:aa:00:00:00:01" }
)");
  ASSERT_EQ(c.vrfs.size(), 2u);
  EXPECT_EQ(c.vrfs[0].name, "tenant1");
  EXPECT_EQ(c.vrfs[0].l3vni, 1000u);
  EXPECT_FALSE(c.vrfs[0].rd.has_value());  // derived by the daemon
  EXPECT_TRUE(c.vrfs[0].import_rts.empty());
  EXPECT_TRUE(c.vrfs[0].export_rts.empty());
  EXPECT_FALSE(c.vrfs[0].router_mac.has_value());
  EXPECT_EQ(c.vrfs[1].name, "tenant-2");
  EXPECT_EQ(c.vrfs[1].l3vni, 1001u);
  EXPECT_EQ(c.vrfs[1].rd->to_string(), "65000:1001");
  EXPECT_EQ(c.vrfs[1].import_rts, std::vector{bgp::route_target_as2(65000, 1001)});
  EXPECT_EQ(c.vrfs[1].export_rts, std::vector{bgp::route_target_as2(65000, 1002)});
  EXPECT_EQ(c.vrfs[1].router_mac->to_string(), "02:aa:00:00:00:01");
  EXPECT_EQ(c.evpn.vnis.size(), 1u);
  EXPECT_TRUE(c.warnings.empty());
}

TEST(Config, FindVrf) {
  Config c = parse_ok(std::string(kBgpOnly) +
                      "vrfs: [{ name: tenant1, l3vni: 1000 }, { name: tenant2, l3vni: 2000 }]\n");
  ASSERT_EQ(c.vrfs.size(), 2u);
  EXPECT_EQ(c.find_vrf("tenant1"), &c.vrfs[0]);
  EXPECT_EQ(c.find_vrf("tenant2"), &c.vrfs[1]);
  EXPECT_EQ(c.find_vrf("tenant3"), nullptr);
  EXPECT_EQ(c.find_vrf("Tenant1"), nullptr);  // names are compared exactly
  EXPECT_EQ(c.find_vrf(""), nullptr);
  EXPECT_EQ(parse_ok(kBgpOnly).find_vrf("tenant1"), nullptr);  // no vrfs: at all
}

// A network's vrf names a tenant of vrfs: (declared before or after the networks) or, when it is
// not declared there, a routing domain at the node only: no error either way.
TEST(Config, NetworksNameTheirVrf) {
  Config c = parse_ok(R"(agent: {}
networks:
  - { name: blue, vni: 100, vrf: tenant1 }
  - { name: green, vni: 101, vrf: tenant1 }
  - { name: red, vni: 200, vrf: lab }
  - { name: yellow, vni: 300 }
  - { name: tenant2, vni: 400 }
vrfs:
  - { name: tenant1, l3vni: 5001 }
  - { name: tenant2, l3vni: 5002 }
)" + with_bgp(""));
  ASSERT_EQ(c.networks.size(), 5u);
  ASSERT_EQ(c.vrfs.size(), 2u);
  EXPECT_EQ(c.networks[0].vrf, "tenant1");
  EXPECT_EQ(c.find_vrf(c.networks[0].vrf), &c.vrfs[0]);
  EXPECT_EQ(c.find_vrf(c.networks[1].vrf), &c.vrfs[0]);
  EXPECT_EQ(c.find_vrf(c.networks[0].vrf)->l3vni, 5001u);
  // Not declared: routed at the node only, without an L3 VNI.
  EXPECT_EQ(c.networks[2].vrf, "lab");
  EXPECT_EQ(c.find_vrf(c.networks[2].vrf), nullptr);
  // The default is the network's own name, which may be a tenant's.
  EXPECT_EQ(c.networks[3].vrf, "yellow");
  EXPECT_EQ(c.find_vrf(c.networks[3].vrf), nullptr);
  EXPECT_EQ(c.networks[4].vrf, "tenant2");
  EXPECT_EQ(c.find_vrf(c.networks[4].vrf), &c.vrfs[1]);
  EXPECT_TRUE(c.warnings.empty());
}

TEST(Config, NeighborsOfAVrf) {
  Config c = parse_ok(R"(agent: {}
vrfs: [{ name: tenant1, l3vni: 5001 }]
)" + with_bgp(R"(  neighbors:
    - { address: 198.19.1.1, remote_as: 65100, vrf: tenant1, interface: gw1,
        families: [ipv4-unicast, ipv6-unicast], import: accept-all, export: accept-all }
    - { address: 198.18.0.2, remote_as: 65000 }
)"));
  ASSERT_EQ(c.bgp.neighbors.size(), 2u);
  EXPECT_EQ(c.bgp.neighbors[0].vrf, "tenant1");
  EXPECT_EQ(c.bgp.neighbors[0].interface, "gw1");
  EXPECT_EQ(c.bgp.neighbors[1].vrf, "");
}

TEST(ConfigError, NeighborsOfAVrf) {
  const std::string head = "agent: {}\nvrfs: [{ name: tenant1, l3vni: 5001 }]\n";
  auto neighbor = [&](std::string_view fields) {
    return errors(head + with_bgp("  neighbors:\n    - { address: 198.19.1.1, remote_as: 65100, " +
                                  std::string(fields) + " }\n"));
  };
  EXPECT_EQ(neighbor("vrf: tenant2, interface: gw1"),
            "config.yaml:7: bgp.neighbors[0].vrf: no VRF named \"tenant2\" in vrfs: (did you mean "
            "\"tenant1\"?)");
  EXPECT_EQ(
      neighbor("vrf: tenant1"),
      "config.yaml:7: bgp.neighbors[0]: a neighbor of a VRF needs interface: the link to "
      "it, which belongs to VRF tenant1 (what arrives on it is routed in the tenant's table)");
  EXPECT_EQ(neighbor("interface: gw1"),
            "config.yaml:7: bgp.neighbors[0].interface: applies to a neighbor of a VRF only (set "
            "vrf: too)");
  EXPECT_EQ(neighbor("vrf: tenant1, interface: gw1, families: [l2vpn-evpn]"),
            "config.yaml:7: bgp.neighbors[0].families: l2vpn-evpn is not a family of a VRF's "
            "neighbor (ipv4-unicast and ipv6-unicast only)");
  EXPECT_EQ(neighbor("vrf: tenant1, interface: gw1, ebgp_multihop: 3"),
            "config.yaml:7: bgp.neighbors[0]: a neighbor of a VRF is directly connected on its "
            "interface (no ebgp_multihop or ttl_security beyond 1 hop)");
  EXPECT_EQ(neighbor("vrf: tenant1, interface: an-interface-name-too-long"),
            "config.yaml:7: bgp.neighbors[0].interface: an interface name is 1..15 characters "
            "long");
  // No agent: nothing would put the routes into a kernel table.
  EXPECT_EQ(errors("vrfs: [{ name: tenant1, l3vni: 5001 }]\n" +
                   with_bgp("  neighbors:\n    - { address: 198.19.1.1, remote_as: 65100, vrf: "
                            "tenant1, interface: gw1 }\n")),
            "config.yaml:6: bgp.neighbors[0].vrf: a neighbor of a VRF needs an agent: section "
            "(its routes go into the tenant's table in the kernel)");
  // One interface, one VRF.
  EXPECT_EQ(errors("agent: {}\nvrfs: [{ name: t1, l3vni: 5001 }, { name: t2, l3vni: 5002 }]\n" +
                   with_bgp("  neighbors:\n"
                            "    - { address: 198.19.1.1, remote_as: 65100, vrf: t1, interface: "
                            "gw1 }\n"
                            "    - { address: 198.19.1.2, remote_as: 65100, vrf: t2, interface: "
                            "gw1 }\n")),
            "config.yaml:8: bgp.neighbors[1].interface: gw1 is already VRF t1's, by "
            "bgp.neighbors[0] (an interface belongs to one VRF)");
  // Ranges take no VRF.
  EXPECT_EQ(errors(head + with_bgp("  neighbor_ranges:\n    - { prefix: 198.19.1.0/24, remote_as: "
                                   "65100, vrf: tenant1 }\n")),
            "config.yaml:7: bgp.neighbor_ranges[0].vrf: applies to neighbors only (a range "
            "accepts connections from any address in its prefix and never connects)");
}

TEST(Config, NatOutgoingPerNetwork) {
  Config c = parse_ok(R"(agent: {}
networks:
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, vrf: tenant1, nat_outgoing: true }
  - { name: green, vni: 101, vrf: tenant1, nat_outgoing: false }
  - { name: red, vni: 200 }
vrfs: [{ name: tenant1, l3vni: 5001 }]
)" + with_bgp(""));
  ASSERT_EQ(c.networks.size(), 3u);
  EXPECT_TRUE(c.networks[0].nat_outgoing);
  EXPECT_FALSE(c.networks[1].nat_outgoing);
  EXPECT_FALSE(c.networks[2].nat_outgoing);  // the default
}

TEST(Config, ReconcileIntervalAndMaxMacs) {
  Config c = parse_ok(R"(agent: { reconcile_interval: 5 }
networks:
  - { name: blue, vni: 100, max_macs: 100 }
  - { name: red, vni: 200 }
)" + with_bgp(""));
  EXPECT_EQ(c.agent->reconcile_interval, 5u);
  ASSERT_EQ(c.networks.size(), 2u);
  EXPECT_EQ(c.networks[0].max_macs, 100u);
  EXPECT_EQ(c.networks[1].max_macs, 16384u);  // the default
  EXPECT_EQ(parse_ok("agent: {}\n" + with_bgp("")).agent->reconcile_interval, 60u);
  EXPECT_EQ(parse_ok("agent: { reconcile_interval: 0 }\n" + with_bgp("")).agent->reconcile_interval,
            0u);
  EXPECT_EQ(errors("agent: { reconcile_interval: 86401 }\n" + with_bgp("")),
            "config.yaml:1: agent.reconcile_interval: 86401 is not a reconcile interval in seconds "
            "(expected 0..86400)");
  EXPECT_EQ(
      errors("agent: {}\nnetworks:\n  - { name: blue, vni: 100, max_macs: 0 }\n" + with_bgp("")),
      "config.yaml:3: networks[0].max_macs: 0 is not a number of MACs (expected 1..1000000)");
}

TEST(ConfigError, Vrfs) {
  EXPECT_EQ(errors(std::string(kBgpOnly) + R"(evpn: { vnis: [{ vni: 100 }] }
agent: {}
networks: [{ name: blue, vni: 200 }]
vrfs:
  - { name: "bad name", l3vni: 1000 }
  - { name: t1, l3vni: 0 }
  - { name: t2, l3vni: 16777216 }
  - { name: t3, l3vni: 100 }
  - { name: t4, l3vni: 200 }
  - { name: t5, l3vni: 1005 }
  - { name: t5, l3vni: 1006 }
  - { name: t7, l3vni: 1005 }
  - { name: t8, l3vni: 1008, router_mac: "01:00:5e:00:00:01" }
  - { name: t9, l3vni: 1009, router_mac: "nope" }
  - { name: t10, l3vni: 1010, router_mac: "00:00:00:00:00:00" }
  - { name: t11, l3vni: 1011, rd: "65000", import_rts: [], export_rts: ["x:1"] }
  - { name: t12 }
  - { l3vni: 1013, vni: 1013 }
  - { name: a-name-too-long16, l3vni: 1014 }
)"),
            "config.yaml:8: vrfs[0].name: \"bad name\" is not a VRF name (1..15 letters, digits, "
            "- or _)\n"
            "config.yaml:9: vrfs[1].l3vni: 0 is not a VXLAN network identifier (expected "
            "1..16777215)\n"
            "config.yaml:10: vrfs[2].l3vni: 16777216 is not a VXLAN network identifier (expected "
            "1..16777215)\n"
            "config.yaml:11: vrfs[3].l3vni: VNI 100 is already the VNI of a MAC-VRF (evpn.vnis); "
            "an L3 VNI is not also an L2 VNI\n"
            "config.yaml:12: vrfs[4].l3vni: VNI 200 is already the VNI of network blue; an L3 VNI "
            "is not also an L2 VNI\n"
            "config.yaml:14: vrfs[6].name: VRF t5 is listed twice\n"
            "config.yaml:15: vrfs[7].l3vni: VNI 1005 is already VRF t5's L3 VNI\n"
            "config.yaml:16: vrfs[8].router_mac: 01:00:5e:00:00:01 is a multicast address, not a "
            "router's MAC\n"
            "config.yaml:17: vrfs[9].router_mac: \"nope\" is not a valid MAC address (expected "
            "aa:bb:cc:dd:ee:ff)\n"
            "config.yaml:18: vrfs[10].router_mac: 00:00:00:00:00:00 is not a router's MAC\n"
            "config.yaml:19: vrfs[11].rd: route distinguisher \"65000\": expected ASN:N, "
            "A.B.C.D:N or ASN4:N (like 65000:100, 198.18.0.1:5, 4200000000:7)\n"
            "config.yaml:19: vrfs[11].import_rts: an empty list; leave the key out for the "
            "derived route target\n"
            "config.yaml:19: vrfs[11].export_rts[0]: route target \"x:1\": the ASN must be a "
            "number 0..4294967295\n"
            "config.yaml:20: vrfs[12]: missing required key \"l3vni\"\n"
            "config.yaml:21: vrfs[13].vni: unknown key (expected one of: name, l3vni, rd, "
            "import_rts, export_rts, router_mac)\n"
            "config.yaml:21: vrfs[13]: missing required key \"name\"\n"
            "config.yaml:22: vrfs[14].name: \"a-name-too-long16\" is not a VRF name (1..15 "
            "letters, digits, - or _)");
  // An L3 VNI is not an L2 VNI, whichever is written first.
  EXPECT_EQ(errors(std::string(kBgpOnly) +
                   "vrfs: [{ name: t, l3vni: 7 }]\nevpn: { vnis: [{ vni: 7 }] }\n"),
            "config.yaml:4: vrfs[0].l3vni: VNI 7 is already the VNI of a MAC-VRF (evpn.vnis); an "
            "L3 VNI is not also an L2 VNI");
  EXPECT_EQ(errors("vrfs: [{ name: t, l3vni: 7 }]\nagent: {}\nnetworks: [{ name: n, vni: 7 }]\n" +
                   with_bgp("")),
            "config.yaml:1: vrfs[0].l3vni: VNI 7 is already the VNI of network n; an L3 VNI is "
            "not also an L2 VNI");
  EXPECT_EQ(errors(std::string(kBgpOnly) + "vrfs: { name: t, l3vni: 7 }\n"),
            "config.yaml:4: vrfs: expected a list, got a mapping");
  EXPECT_EQ(errors(std::string(kBgpOnly) + "vrfs: [{ name: t, l3vni: 7, vrf: x }]\n"),
            "config.yaml:4: vrfs[0].vrf: unknown key (expected one of: name, l3vni, rd, "
            "import_rts, export_rts, router_mac)");
  // A network's vrf follows the same name rule.
  EXPECT_EQ(
      errors("agent: {}\nnetworks: [{ name: blue, vni: 100, vrf: \"ten ant\" }]\n" + with_bgp("")),
      "config.yaml:2: networks[0].vrf: \"ten ant\" is not a VRF name (1..15 letters, "
      "digits, - or _)");
}

// The IP-VRFs moved from evpn.ip_vrfs to the top-level vrfs: the old key says what to write.
TEST(ConfigError, EvpnIpVrfsReplacedByVrfs) {
  const std::string replaced =
      "evpn.ip_vrfs: replaced by the top-level vrfs: list; write vrfs: [{ name: NAME, l3vni: "
      "5001 }] and name it in networks[].vrf";
  EXPECT_EQ(errors(std::string(kBgpOnly) + R"(evpn:
  vnis: [{ vni: 100 }]
  ip_vrfs:
    - { vni: 1000 }
)"),
            "config.yaml:6: " + replaced);
  EXPECT_EQ(errors(std::string(kBgpOnly) + "evpn: { ip_vrfs: }\n"), "config.yaml:4: " + replaced);
  // A removed key is no longer suggested.
  EXPECT_EQ(errors(std::string(kBgpOnly) + "evpn: { ip_vrf: [] }\n"),
            "config.yaml:4: evpn.ip_vrf: unknown key (expected one of: vtep, vnis, "
            "duplicate_detection)");
}

TEST(ConfigError, EvpnMacVrfs) {
  EXPECT_EQ(errors(std::string(kBgpOnly) + R"(evpn:
  vnis:
    - { vni: 0 }
    - { vni: 16777216 }
    - { vni: 100, rd: "65000" }
    - { vni: 100 }
    - { vni: 300, import_rts: ["x:1"], export_rts: [] }
    - { rd: "65000:1" }
)"),
            "config.yaml:6: evpn.vnis[0].vni: 0 is not a VXLAN network identifier (expected "
            "1..16777215)\n"
            "config.yaml:7: evpn.vnis[1].vni: 16777216 is not a VXLAN network identifier "
            "(expected 1..16777215)\n"
            "config.yaml:8: evpn.vnis[2].rd: route distinguisher \"65000\": expected ASN:N, "
            "A.B.C.D:N or ASN4:N (like 65000:100, 198.18.0.1:5, 4200000000:7)\n"
            "config.yaml:9: evpn.vnis[3].vni: VNI 100 is listed twice\n"
            "config.yaml:10: evpn.vnis[4].import_rts[0]: route target \"x:1\": the ASN must be a "
            "number 0..4294967295\n"
            "config.yaml:10: evpn.vnis[4].export_rts: an empty list; leave the key out for the "
            "derived route target\n"
            "config.yaml:11: evpn.vnis[5]: missing required key \"vni\"");
}

TEST(Config, EvpnPolicyTerms) {
  Config c = parse_ok(std::string(kBgpOnly) + R"(policies:
  evpn-in:
    - match: { route_target: ["65000:200"] }
      then: reject
    - match: { evpn_route_type: [2, 3], vni: [100, 16777215] }
      then: accept
    - match: { evpn_route_type: 5, vni: 5000, route_target: ["rt:198.18.0.1:7", "4200000000:9"] }
      then: accept
)");
  ASSERT_EQ(c.policy.policies.size(), 1u);
  const auto& t = c.policy.policies[0].terms;
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].match.route_targets, std::vector{bgp::route_target_as2(65000, 200)});
  EXPECT_EQ(t[1].match.evpn_route_types, (std::vector<uint8_t>{2, 3}));
  EXPECT_EQ(t[1].match.vnis, (std::vector<uint32_t>{100, 16777215}));
  EXPECT_EQ(t[2].match.evpn_route_types, std::vector<uint8_t>{5});
  EXPECT_EQ(t[2].match.vnis, std::vector<uint32_t>{5000});
  EXPECT_EQ(t[2].match.route_targets, (std::vector{bgp::route_target_ipv4(A("198.18.0.1"), 7),
                                                   bgp::route_target_as4(4200000000u, 9)}));

  // What the daemon does with it.
  auto set = bgp::policy::compile(c.policy, c.bgp.asn);
  ASSERT_TRUE(set) << set.error().message;
  auto p = set->find("evpn-in");
  ASSERT_TRUE(p);
  bgp::EvpnMacIp m;
  m.rd = *bgp::RouteDistinguisher::parse("198.18.0.1:100");
  m.mac = *MacAddress::parse("02:00:00:00:00:01");
  m.label1 = 100;
  const bgp::EvpnRoute r{m};
  bgp::PathAttributes a;
  EXPECT_TRUE(p->apply(Prefix(), a, &r));
  a.ext_communities = {bgp::route_target_as2(65000, 200)};
  EXPECT_FALSE(p->apply(Prefix(), a, &r));
}

TEST(ConfigError, EvpnPolicyTerms) {
  EXPECT_EQ(errors(std::string(kBgpOnly) + R"(policies:
  p:
    - match: { evpn_route_type: [0, 2, 6, mac] }
      then: accept
    - match: { vni: [16777216, -1, 100] }
      then: accept
    - match: { route_target: ["65000", "rt:x:1", "65000:100", 65000:1:2] }
      then: accept
    - match: { evpn_route_type: [], vni: [], route_target: [] }
      then: accept
    - match: { route_target: { a: 1 } }
      then: accept
)"),
            "config.yaml:6: policies.p[0].match.evpn_route_type[0]: 0 is not an EVPN route type "
            "(expected 1-5: 1 Ethernet A-D, 2 MAC/IP, 3 inclusive multicast, 4 Ethernet "
            "segment, 5 IP prefix)\n"
            "config.yaml:6: policies.p[0].match.evpn_route_type[2]: 6 is not an EVPN route type "
            "(expected 1-5: 1 Ethernet A-D, 2 MAC/IP, 3 inclusive multicast, 4 Ethernet "
            "segment, 5 IP prefix)\n"
            "config.yaml:6: policies.p[0].match.evpn_route_type[3]: \"mac\" is not an EVPN route "
            "type (expected 1-5: 1 Ethernet A-D, 2 MAC/IP, 3 inclusive multicast, 4 Ethernet "
            "segment, 5 IP prefix)\n"
            "config.yaml:8: policies.p[1].match.vni[0]: 16777216 is not a VNI (expected "
            "0..16777215, 24 bits)\n"
            "config.yaml:8: policies.p[1].match.vni[1]: \"-1\" is not a VNI (expected 0..16777215, "
            "24 bits)\n"
            "config.yaml:10: policies.p[2].match.route_target[0]: route target \"65000\": "
            "expected ASN:N, A.B.C.D:N or ASN4:N (like 65000:100, 198.18.0.1:5, 4200000000:7)\n"
            "config.yaml:10: policies.p[2].match.route_target[1]: route target \"rt:x:1\": the "
            "ASN must be a number 0..4294967295\n"
            "config.yaml:10: policies.p[2].match.route_target[3]: route target \"65000:1:2\": "
            "expected ASN:N, A.B.C.D:N or ASN4:N (like 65000:100, 198.18.0.1:5, 4200000000:7)\n"
            "config.yaml:12: policies.p[3].match.evpn_route_type: an empty list (give at least "
            "one route type)\n"
            "config.yaml:12: policies.p[3].match.vni: an empty list (give at least one VNI)\n"
            "config.yaml:12: policies.p[3].match.route_target: an empty list (give at least one "
            "route target)\n"
            "config.yaml:14: policies.p[4].match.route_target: expected a list, got a mapping");
}

TEST(Config, AgentAndNetworksAsTheIssueWritesThem) {
  Config c = parse_ok(R"(control_socket: /run/isthmus/isthmusd.sock
agent:
  vtep: { address: 198.18.0.1 }
  api_socket: /run/isthmus/agent.sock
networks:
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, gateway: 100.64.1.1, subnet6: "fd00:64:1::/64", gateway6: "fd00:64:1::1" }
  - { name: red,  vni: 200, subnet: 100.64.2.0/24 }
bgp:
  asn: 65000
  router_id: 198.18.0.1
  neighbors:
    - { address: 198.18.0.254, remote_as: 65000, families: [l2vpn-evpn] }
)");
  ASSERT_TRUE(c.agent.has_value());
  EXPECT_EQ(c.agent->vtep, A("198.18.0.1"));
  EXPECT_EQ(c.agent->api_socket, "/run/isthmus/agent.sock");
  ASSERT_EQ(c.networks.size(), 2u);
  EXPECT_EQ(c.networks[0].name, "blue");
  EXPECT_EQ(c.networks[0].gateway6, A("fd00:64:1::1"));
  EXPECT_EQ(c.networks[1].gateway, A("100.64.2.1"));  // the subnet's first address
  EXPECT_FALSE(c.networks[1].subnet6.has_value());
}

TEST(Config, PoolsAndStateDir) {
  Config c = parse_ok(R"(agent:
  state_dir: /srv/isthmus
networks:
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, pool: 100.64.1.64/26,
      subnet6: "fd00:64:1::/64", pool6: ["fd00:64:1::1:0/112", "fd00:64:1::2:0/112"] }
  - { name: red, vni: 200, subnet: 100.64.2.0/24, pool: [100.64.2.0/25] }
  - { name: green, vni: 300 }
bgp:
  asn: 65000
  router_id: 198.18.0.1
)");
  ASSERT_TRUE(c.agent.has_value());
  EXPECT_EQ(c.agent->state_dir, "/srv/isthmus");
  ASSERT_EQ(c.networks.size(), 3u);
  EXPECT_EQ(c.networks[0].pool, std::vector<Prefix>{P("100.64.1.64/26")});
  EXPECT_EQ(c.networks[0].pool6,
            (std::vector<Prefix>{P("fd00:64:1::1:0/112"), P("fd00:64:1::2:0/112")}));
  EXPECT_EQ(c.networks[1].pool, std::vector<Prefix>{P("100.64.2.0/25")});
  EXPECT_TRUE(c.networks[1].pool6.empty());
  EXPECT_TRUE(c.networks[2].pool.empty());
  EXPECT_TRUE(c.warnings.empty()) << c.warnings[0];
}

TEST(Config, PoolDefaultsToTheSubnetWithAWarning) {
  Config c = parse_ok(
      "agent: {}\nnetworks:\n"
      "  - { name: blue, vni: 100, subnet: 100.64.1.0/24, subnet6: \"fd00::/64\" }\n"
      "  - { name: red, vni: 200, subnet: 100.64.2.0/24, pool: 100.64.2.0/25, "
      "subnet6: \"fd00:1::/64\" }\n" +
      with_bgp(""));
  EXPECT_EQ(c.agent->state_dir, "/var/lib/isthmus");
  EXPECT_EQ(c.networks[0].pool, std::vector<Prefix>{P("100.64.1.0/24")});
  EXPECT_EQ(c.networks[0].pool6, std::vector<Prefix>{P("fd00::/64")});
  EXPECT_EQ(c.warnings,
            (std::vector<std::string>{
                "config.yaml:3: networks[0]: network blue has no pool or pool6: this node hands "
                "out addresses from the whole subnet; when the network spans several nodes, give "
                "each node a pool of its own (disjoint blocks of the subnet), or they hand out "
                "the same addresses",
                "config.yaml:4: networks[1]: network red has no pool6: this node hands out "
                "addresses from the whole subnet; when the network spans several nodes, give each "
                "node a pool of its own (disjoint blocks of the subnet), or they hand out the "
                "same addresses"}));
}

TEST(ConfigError, Pools) {
  const std::string agent = "agent: {}\nnetworks:\n";
  auto net = [&](std::string_view fields) {
    return errors(agent + "  - { name: blue, vni: 100, " + std::string(fields) + " }\n" +
                  with_bgp(""));
  };
  EXPECT_EQ(net("subnet: 100.64.1.0/24, pool: 100.64.2.0/25"),
            "config.yaml:3: networks[0].pool: 100.64.2.0/25 is not inside the subnet "
            "100.64.1.0/24");
  EXPECT_EQ(net("subnet: 100.64.1.0/24, pool: \"fd00::/64\""),
            "config.yaml:3: networks[0].pool: fd00::/64 is not an IPv4 prefix");
  EXPECT_EQ(net("subnet6: \"fd00::/64\", pool6: [\"fd00::/80\", 100.64.1.0/25]"),
            "config.yaml:3: networks[0].pool6[1]: 100.64.1.0/25 is not an IPv6 prefix");
  EXPECT_EQ(net("subnet: 100.64.1.0/24, pool: 100.64.1.1/32"),
            "config.yaml:3: networks[0].pool: 100.64.1.1/32 holds only reserved addresses "
            "(network, broadcast, gateway)");
  EXPECT_EQ(net("subnet: 100.64.1.0/24, pool: 100.64.1.0/31"),
            "config.yaml:3: networks[0].pool: 100.64.1.0/31 holds only reserved addresses "
            "(network, broadcast, gateway)");
  EXPECT_EQ(net("subnet6: \"fd00::/64\", gateway6: \"fd00::1\", pool6: \"fd00::/127\""),
            "config.yaml:3: networks[0].pool6: fd00::/127 holds only reserved addresses "
            "(network, broadcast, gateway)");
  EXPECT_EQ(net("subnet: 100.64.1.0/24, pool: [100.64.1.0/25, 100.64.1.64/26]"),
            "config.yaml:3: networks[0].pool[1]: 100.64.1.64/26 overlaps 100.64.1.0/25 of the "
            "same pool");
  EXPECT_EQ(net("pool: 100.64.1.0/25"), "config.yaml:3: networks[0].pool: pool without subnet");
  EXPECT_EQ(net("subnet: 100.64.1.0/24, pool: []"),
            "config.yaml:3: networks[0].pool: an empty list (give at least one prefix)");
  EXPECT_EQ(net("subnet: 100.64.1.0/24, pool: 100.64.1.1/24"),
            "config.yaml:3: networks[0].pool: \"100.64.1.1/24\" has host bits set (did you mean "
            "100.64.1.0/24?)");
  // A block of a few addresses is fine while one of them is not reserved.
  Config c = parse_ok(agent +
                      "  - { name: blue, vni: 100, subnet: 100.64.1.0/24, "
                      "pool: [100.64.1.2/32, 100.64.1.3/32] }\n" +
                      with_bgp(""));
  EXPECT_EQ(c.networks.size(), 1u);
  EXPECT_EQ(errors("agent: { state_dir: var/lib }\n" + with_bgp("")),
            "config.yaml:1: agent.state_dir: \"var/lib\" is not an absolute directory path");
}

TEST(ConfigError, AgentAndNetworks) {
  EXPECT_EQ(errors("networks:\n  - { name: blue, vni: 100 }\n" + with_bgp("")),
            "config.yaml:2: networks: networks need an agent: section (the node agent puts them "
            "in the kernel)");
  const std::string agent = "agent: {}\n";
  EXPECT_EQ(errors(agent +
                   "networks:\n  - { name: blue, vni: 100, subnet: 100.64.1.0/24, "
                   "gateway: 100.64.2.1 }\n" +
                   with_bgp("")),
            "config.yaml:3: networks[0].gateway: 100.64.2.1 is not an address of 100.64.1.0/24");
  EXPECT_EQ(errors(agent + "networks:\n  - { name: blue, vni: 100, gateway6: \"fd00::1\" }\n" +
                   with_bgp("")),
            "config.yaml:3: networks[0].gateway6: gateway6 without its subnet");
  EXPECT_EQ(errors(agent + "networks:\n  - { name: blue, vni: 100, subnet: \"fd00:64::/64\" }\n" +
                   with_bgp("")),
            "config.yaml:3: networks[0].subnet: fd00:64::/64 is not an IPv4 subnet");
  EXPECT_EQ(
      errors(agent + "networks:\n  - { name: blue, vni: 100 }\n  - { name: red, vni: 100 }\n" +
             with_bgp("")),
      "config.yaml:4: networks[1].vni: VNI 100 is already network blue's");
  EXPECT_EQ(errors(agent + "networks:\n  - { name: \"bad name\", vni: 100 }\n" + with_bgp("")),
            "config.yaml:3: networks[0].name: \"bad name\" is not a network name (1..15 letters, "
            "digits, - or _)");
  EXPECT_EQ(errors(agent + "networks:\n  - { name: blue, vni: 100, nat_outgoing: yes please }\n" +
                   with_bgp("")),
            "config.yaml:3: networks[0].nat_outgoing: \"yes please\" is not true or false");
  EXPECT_EQ(errors(agent + "networks:\n  - { name: blue, vni: 100, nat_outgoing: [true] }\n" +
                   with_bgp("")),
            "config.yaml:3: networks[0].nat_outgoing: a list is not true or false");
  EXPECT_EQ(errors(agent + "networks:\n  - { name: blue, vni: 100, nat_outgoing: true }\n" +
                   with_bgp("")),
            "config.yaml:3: networks[0].nat_outgoing: nat_outgoing without subnet or subnet6 (a "
            "network without them is not routed)");
  EXPECT_EQ(errors("agent: { vtep: { address: \"::\" } }\n" + with_bgp("")),
            "config.yaml:1: agent.vtep.address: :: is not a VTEP address");
}

// Subnets may overlap only between networks of different VRFs (tenants with the same addresses).
TEST(Config, OverlappingSubnetsInDifferentVrfs) {
  Config c = parse_ok(
      "agent: {}\n"
      "vrfs: [{ name: t1, l3vni: 5001 }, { name: t2, l3vni: 5002 }]\n"
      "networks:\n"
      "  - { name: blue, vni: 100, subnet: 100.64.1.0/24, subnet6: \"fd00:64:1::/64\", "
      "vrf: t1, pool: 100.64.1.0/26, pool6: \"fd00:64:1::/112\" }\n"
      "  - { name: orange, vni: 400, subnet: 100.64.1.0/24, subnet6: \"fd00:64:1::/64\", "
      "vrf: t2, pool: 100.64.1.0/26, pool6: \"fd00:64:1::/112\" }\n"
      "  - { name: grey, vni: 700, subnet: 100.64.1.0/25, pool: 100.64.1.0/26 }\n" +
      with_bgp(""));
  ASSERT_EQ(c.networks.size(), 3u);
  EXPECT_EQ(c.networks[0].gateway, c.networks[1].gateway);
  EXPECT_EQ(c.networks[0].gateway6, c.networks[1].gateway6);
  EXPECT_EQ(c.networks[2].vrf, "grey");  // a VRF of its own: apart from t1 and t2
}

TEST(ConfigError, OverlappingSubnetsInOneVrf) {
  const std::string head =
      "agent: {}\nvrfs: [{ name: t1, l3vni: 5001 }]\nnetworks:\n"
      "  - { name: blue, vni: 100, subnet: 100.64.1.0/24, subnet6: \"fd00:64:1::/64\", vrf: t1, "
      "pool: 100.64.1.0/26, pool6: \"fd00:64:1::/112\" }\n";
  auto second = [&](std::string_view fields) {
    return errors(head + "  - { name: red, vni: 200, " + std::string(fields) + " }\n" +
                  with_bgp(""));
  };
  EXPECT_EQ(second("subnet: 100.64.1.0/24, subnet6: \"fd00:64:1::/64\", vrf: t1"),
            "config.yaml:5: networks[1].subnet: 100.64.1.0/24 overlaps network blue's "
            "100.64.1.0/24 in the same VRF t1 (subnets may overlap only between networks of "
            "different VRFs)\n"
            "config.yaml:5: networks[1].subnet6: fd00:64:1::/64 overlaps network blue's "
            "fd00:64:1::/64 in the same VRF t1 (subnets may overlap only between networks of "
            "different VRFs)");
  // Contained either way.
  EXPECT_EQ(second("subnet: 100.64.1.128/25, vrf: t1"),
            "config.yaml:5: networks[1].subnet: 100.64.1.128/25 overlaps network blue's "
            "100.64.1.0/24 in the same VRF t1 (subnets may overlap only between networks of "
            "different VRFs)");
  EXPECT_EQ(second("subnet6: \"fd00:64::/32\", vrf: t1"),
            "config.yaml:5: networks[1].subnet6: fd00:64::/32 overlaps network blue's "
            "fd00:64:1::/64 in the same VRF t1 (subnets may overlap only between networks of "
            "different VRFs)");
  // Only the family that overlaps; adjacent subnets do not.
  EXPECT_EQ(second("subnet: 100.64.2.0/24, subnet6: \"fd00:64:1::/80\", vrf: t1"),
            "config.yaml:5: networks[1].subnet6: fd00:64:1::/80 overlaps network blue's "
            "fd00:64:1::/64 in the same VRF t1 (subnets may overlap only between networks of "
            "different VRFs)");
  // Without vrf: a network is its own VRF, named after it; another network may name it.
  EXPECT_EQ(errors("agent: {}\nnetworks:\n"
                   "  - { name: blue, vni: 100, subnet: 100.64.1.0/24, pool: 100.64.1.0/26 }\n"
                   "  - { name: red, vni: 200, subnet: 100.64.1.0/24, pool: 100.64.1.0/26, "
                   "vrf: blue }\n" +
                   with_bgp("")),
            "config.yaml:4: networks[1].subnet: 100.64.1.0/24 overlaps network blue's "
            "100.64.1.0/24 in the same VRF blue (subnets may overlap only between networks of "
            "different VRFs)");
}

}  // namespace
}  // namespace isthmus::config
