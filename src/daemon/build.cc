#include "daemon/build.h"

#include <algorithm>

namespace isthmus::daemon {

namespace {

Expected<bgp::Policy> bind_policy(const bgp::policy::PolicySet& set, const std::string& name,
                                  bool import) {
  if (name.empty()) return bgp::Policy{};  // RFC 8212 default, decided by the RIB
  auto p = set.find(name);
  if (!p) return fail("policy \"" + name + "\" is not defined");
  // The configuration refuses this already; `self` is resolved on export only.
  if (import && p->sets_next_hop_self())
    return fail("policy \"" + name + "\" sets next_hop: self and cannot be an import policy");
  return bgp::Policy{name,
                     [p](const bgp::PolicyRoute& route, bgp::PathAttributes& attrs) {
                       return p->apply(route.prefix, attrs, route.evpn);
                     },
                     p->uses_prefix()};
}

Expected<bgp::PeerConfig> peer_config(const config::PeerSettings& s,
                                      const bgp::policy::PolicySet& policies) {
  bgp::PeerConfig p;
  p.remote_as = s.remote_as;
  p.local_address = s.local_address;
  p.description = s.description;
  p.shutdown = s.shutdown;
  p.route_reflector_client = s.route_reflector_client;
  p.next_hop_self = s.next_hop_self;
  p.families = s.families;
  auto imp = bind_policy(policies, s.import_policy, true);
  if (!imp) return unexpected(imp.error());
  auto exp = bind_policy(policies, s.export_policy, false);
  if (!exp) return unexpected(exp.error());
  p.import_policy = std::move(*imp);
  p.export_policy = std::move(*exp);
  p.password = s.password;
  p.ttl_security = s.ttl_security;
  p.ebgp_multihop = s.ebgp_multihop;
  p.hold_time = s.hold_time;
  p.keepalive = s.keepalive;
  p.connect_retry = s.connect_retry;
  p.graceful_restart = {.helper = s.graceful_restart.enabled,
                        .restart_time = s.graceful_restart.restart_time,
                        .stale_routes_time = s.graceful_restart.stale_routes_time,
                        .long_lived_stale_time = s.graceful_restart.long_lived_stale_time};
  p.max_prefixes = s.max_prefixes;
  p.min_hold_time = s.min_hold_time;
  p.send_hold_time = s.send_hold_time;
  return p;
}

}  // namespace

Expected<bgp::SpeakerConfig> build_speaker_config(const config::Config& cfg,
                                                  const bgp::policy::PolicySet& policies) {
  const auto& b = cfg.bgp;
  bgp::SpeakerConfig sc;
  sc.asn = b.asn;
  sc.router_id = b.router_id.v4_host_order();
  sc.cluster_id = b.cluster_id.v4_host_order();
  sc.update_group_max_lag = b.update_group_max_lag;
  if (b.listen.enabled) {
    IpAddress any = IpAddress::v6({});  // "::" listens on IPv4 and IPv6
    sc.listen = bgp::SocketAddress{b.listen.address.value_or(any), b.listen.port};
  }
  for (auto& n : b.neighbors) {
    auto p = peer_config(n.peer, policies);
    if (!p) return fail("neighbor " + n.address.to_string() + ": " + p.error().message);
    p->address = n.address;
    p->port = n.port;
    p->passive = n.passive;
    p->vrf = n.vrf;
    p->interface = n.interface;
    sc.peers.push_back(std::move(*p));
  }
  for (auto& r : b.neighbor_ranges) {
    auto p = peer_config(r.peer, policies);
    if (!p) return fail("neighbor range " + r.prefix.to_string() + ": " + p.error().message);
    p->passive = true;
    sc.ranges.push_back({r.prefix, std::move(*p), r.max, std::chrono::seconds(r.restart_wait)});
  }
  for (auto& o : b.originate) {
    bgp::Origination orig;
    orig.family = o.prefix.address().is_v4() ? bgp::kIpv4Unicast : bgp::kIpv6Unicast;
    orig.prefix = o.prefix;
    auto& a = orig.attrs;
    a.origin = bgp::Origin::Igp;
    a.communities = o.communities;
    a.large_communities = o.large_communities;
    a.ext_communities = o.ext_communities;
    a.med = o.med;
    a.local_pref = o.local_pref;
    // Unspecified next hop: the session's local address, filled in on export.
    a.next_hop =
        o.next_hop.value_or(o.prefix.address().is_v4() ? IpAddress::v4(0u) : IpAddress::v6({}));
    sc.originate.push_back(std::move(orig));
  }
  return sc;
}

std::vector<evpn::MacVrf> build_mac_vrfs(const config::Config& cfg) {
  std::vector<evpn::MacVrf> out;
  uint16_t index = 0;
  for (const auto& m : cfg.evpn.vnis) {
    out.push_back(evpn::resolve(m.vni, m.rd, m.import_rts, m.export_rts, cfg.bgp.asn,
                                cfg.bgp.router_id, ++index));
    // The network of this VNI in a declared tenant: symmetric IRB through its L3 VNI.
    for (const auto& n : cfg.networks)
      if (const config::Vrf* v = n.vni == m.vni ? cfg.find_vrf(n.vrf) : nullptr)
        out.back().l3_vni = v->l3vni;
  }
  return out;
}

evpn::InstanceConfig build_evpn_config(const config::Config& cfg) {
  evpn::InstanceConfig c;
  c.mac_vrfs = build_mac_vrfs(cfg);
  c.vtep = cfg.evpn.vtep;
  const auto& d = cfg.evpn.duplicate_detection;
  c.duplicate_detection = {
      .enabled = d.enabled, .max_moves = d.max_moves, .window = std::chrono::seconds(d.window)};
  // The IP-VRFs are the tenants of `vrfs:`; RD numbers continue after the MAC-VRFs'.
  auto index = static_cast<uint16_t>(cfg.evpn.vnis.size());
  for (const auto& v : cfg.vrfs) {
    c.ip_vrfs.push_back(evpn::resolve_ip_vrf(v.l3vni, v.rd, v.import_rts, v.export_rts,
                                             v.router_mac, cfg.bgp.asn, cfg.bgp.router_id,
                                             ++index));
    c.ip_vrfs.back().name = v.name;
    for (const auto& n : cfg.networks) {
      if (n.vrf != v.name) continue;
      for (const auto& s : {n.subnet, n.subnet6})
        if (s) c.ip_vrfs.back().subnets.push_back(*s);
    }
  }
  return c;
}

evpn::Hooks evpn_hooks(bgp::Speaker& speaker, evpn::Instance*& instance) {
  evpn::Hooks h;
  h.wake = [&speaker, &instance] {
    // Called from inside Rib::flush(): the work runs on the loop afterwards.
    speaker.loop().post([&instance] {
      if (instance) instance->run_pending();
    });
  };
  h.rib_changed = [&speaker] { speaker.request_flush(); };
  return h;
}

void attach_evpn(bgp::Speaker& speaker, evpn::Instance& evpn) {
  speaker.rib().set_best_evpn_changed([&evpn](std::span<const uint8_t> key, const bgp::Path* best) {
    evpn.best_evpn_changed(key, best);
  });
}

bool reflector_forwarding(bgp::SpeakerConfig& speaker) {
  std::vector<bgp::Family> families;
  bool reflects = false;
  auto add = [&](const bgp::PeerConfig& p) {
    reflects |= p.route_reflector_client;
    for (bgp::Family f : p.families)
      if (std::find(families.begin(), families.end(), f) == families.end()) families.push_back(f);
  };
  for (const auto& p : speaker.peers) add(p);
  for (const auto& r : speaker.ranges) add(r.peer);
  if (!reflects) return false;
  speaker.forwarding.families = std::move(families);
  speaker.forwarding.preserved = true;
  return true;
}

}  // namespace isthmus::daemon
