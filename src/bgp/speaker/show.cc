#include "bgp/speaker/show.h"

#include <algorithm>

#include "core/event_loop.h"

namespace isthmus::bgp {

namespace {

using nlohmann::json;

std::string ipv4_id(uint32_t id) { return IpAddress::v4(id).to_string(); }

const char* origin_name(Origin o) {
  switch (o) {
    case Origin::Igp:
      return "igp";
    case Origin::Egp:
      return "egp";
    case Origin::Incomplete:
      return "incomplete";
  }
  return "?";
}

std::string community_string(Community c) {
  switch (c) {
    case kNoExport:
      return "no-export";
    case kNoAdvertise:
      return "no-advertise";
    case kNoExportSubconfed:
      return "no-export-subconfed";
    case kLlgrStale:
      return "llgr-stale";
    case kNoLlgr:
      return "no-llgr";
    default:
      return std::to_string(c >> 16) + ":" + std::to_string(c & 0xffff);
  }
}

json families_json(const std::vector<Family>& fs) {
  json j = json::array();
  for (auto f : fs) j.push_back(f.name());
  return j;
}

json neighbor_json(const Speaker& s, const Peer& p) {
  const auto& c = p.config();
  const auto& cnt = p.counters();
  json j;
  j["address"] = c.address.to_string();
  j["remote_as"] = c.remote_as;
  j["local_as"] = s.config().asn;
  j["description"] = c.description;
  j["state"] = session::to_string(p.state());
  j["dynamic"] = p.dynamic();
  j["type"] = p.ibgp() ? "ibgp" : "ebgp";
  j["route_reflector_client"] = c.route_reflector_client;
  if (!c.vrf.empty()) {  // a tenant's gateway: its routes are in the VRF's table
    j["vrf"] = c.vrf;
    j["interface"] = c.interface;
  }
  j["uptime_s"] = 0;
  j["messages_received"] = cnt.messages_in;
  j["messages_sent"] = cnt.messages_out;
  j["updates_received"] = cnt.updates_in;
  j["updates_sent"] = cnt.updates_out;
  j["notifications_received"] = cnt.notifications_in;
  j["notifications_sent"] = cnt.notifications_out;
  j["route_refresh_received"] = cnt.refreshes_in;
  j["update_errors"] = cnt.update_errors;
  j["established_transitions"] = cnt.established_transitions;
  j["last_error"] = p.last_error();
  j["last_notification_sent"] = p.last_notification_sent();
  j["last_notification_received"] = p.last_notification_received();
  // RFC 4724 §4.2: families whose routes from this neighbor are kept as stale right now.
  j["stale_families"] = families_json(p.stale_families());
  json received = json::object(), accepted = json::object(), sent = json::object();
  if (const auto* n = p.negotiated()) {
    auto up = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - p.established_at());
    j["uptime_s"] = up.count();
    j["router_id"] = ipv4_id(n->remote_open.bgp_id);
    j["hold_time"] = n->hold_time;
    j["keepalive"] = n->keepalive;
    j["families"] = families_json(n->families);
    const auto& caps = n->remote_open.caps;
    j["capabilities"] = {{"four_octet_as", caps.four_octet_as.has_value()},
                         {"route_refresh", caps.route_refresh},
                         {"enhanced_route_refresh", caps.enhanced_route_refresh},
                         {"extended_message", caps.extended_message},
                         {"graceful_restart", caps.graceful_restart.has_value()},
                         {"graceful_restart_notification",
                          caps.graceful_restart && caps.graceful_restart->notification},
                         {"families", families_json(caps.multiprotocol)}};
    // RFC 4724 §3 and RFC 9494: what the neighbor asks us to keep of its routes if it restarts.
    if (const auto& gr = caps.graceful_restart) {
      json fams = json::array();
      for (const auto& f : gr->families)
        fams.push_back(
            {{"family", f.family.name()}, {"forwarding_preserved", f.forwarding_preserved}});
      j["capabilities"]["graceful_restart_time"] = gr->restart_time;
      j["capabilities"]["graceful_restart_restarting"] = gr->restarting;
      j["capabilities"]["graceful_restart_families"] = fams;
    }
    if (const auto& llgr = caps.long_lived_graceful_restart) {
      json fams = json::array();
      for (const auto& f : llgr->families)
        fams.push_back({{"family", f.family.name()},
                        {"forwarding_preserved", f.forwarding_preserved},
                        {"stale_time", f.stale_time}});
      j["capabilities"]["long_lived_graceful_restart"] = fams;
    }
    auto rc = s.rib_of(c).counters(p.id());
    for (auto f : n->families) {
      FamilyCounters fc;
      if (rc && rc->families.count(f)) fc = rc->families.at(f);
      received[f.name()] = fc.received;
      accepted[f.name()] = fc.accepted;
      sent[f.name()] = fc.advertised;
    }
    if (rc) {
      j["messages_sent"] = cnt.messages_out + rc->messages_out;
      j["updates_sent"] = rc->messages_out;
      j["routes_too_large"] = rc->routes_too_large;
      j["update_group"] = rc->update_group;
      j["update_group_split"] = rc->split_out;
      j["update_group_splits"] = rc->times_split;
      j["output_queued"] = rc->output_queued;
    }
    // RFC 4684: the EVPN routes this peer gets are those of the route targets it imports.
    if (const RtFilter* f = s.rib_of(c).rt_filter(p.id()))
      j["rt_constraint_memberships"] = f->size();
    if (auto l = p.local_endpoint()) j["local_address"] = l->address.to_string();
    if (p.local_link_local()) j["local_link_local"] = p.local_link_local()->to_string();
  } else {
    j["families"] = families_json(c.families);
  }
  j["prefixes_received"] = received;
  j["prefixes_accepted"] = accepted;
  j["prefixes_sent"] = sent;
  return j;
}

}  // namespace

std::string peer_name(const Speaker& s, PeerId id) {
  if (id == kLocalPeer) return "local";
  if (id == kImportedPeer) return "imported";
  auto it = s.peers().find(id);
  return it == s.peers().end() ? "?" : it->second->config().address.to_string();
}

json path_attributes_json(const PathAttributes& a) {
  json j;
  j["next_hop"] = a.next_hop.to_string();
  if (a.link_local_next_hop) j["link_local_next_hop"] = a.link_local_next_hop->to_string();
  j["as_path"] = a.as_path.to_string();
  j["origin"] = origin_name(a.origin);
  if (a.local_pref) j["local_pref"] = *a.local_pref;
  if (a.med) j["med"] = *a.med;
  if (a.atomic_aggregate) j["atomic_aggregate"] = true;
  if (a.aggregator)
    j["aggregator"] = std::to_string(a.aggregator->asn) + " " + a.aggregator->address.to_string();
  json comms = json::array();
  for (auto c : a.communities) comms.push_back(community_string(c));
  j["communities"] = comms;
  json large = json::array();
  for (auto& l : a.large_communities)
    large.push_back(std::to_string(l.global) + ":" + std::to_string(l.local1) + ":" +
                    std::to_string(l.local2));
  j["large_communities"] = large;
  json ext = json::array();
  for (auto& e : a.ext_communities) ext.push_back(e.to_string());
  j["ext_communities"] = ext;
  if (a.originator_id) j["originator_id"] = ipv4_id(*a.originator_id);
  json cl = json::array();
  for (auto id : a.cluster_list) cl.push_back(ipv4_id(id));
  j["cluster_list"] = cl;
  if (a.pmsi_tunnel) {
    json t{{"tunnel_type", a.pmsi_tunnel->tunnel_type},
           {"label", a.pmsi_tunnel->label},
           {"flags", a.pmsi_tunnel->flags}};
    if (auto ep = a.pmsi_tunnel->endpoint()) t["endpoint"] = ep->to_string();
    j["pmsi_tunnel"] = std::move(t);
  }
  if (!a.unknown.empty()) {
    json u = json::array();
    for (auto& x : a.unknown)
      u.push_back({{"type", x.type}, {"flags", x.flags}, {"length", x.value.size()}});
    j["unknown_attributes"] = u;
  }
  return j;
}

json show_summary(const Speaker& s) {
  json j;
  j["asn"] = s.config().asn;
  j["router_id"] = ipv4_id(s.config().router_id);
  j["cluster_id"] = ipv4_id(s.config().cluster_id ? s.config().cluster_id : s.config().router_id);
  json routes = json::object();
  auto stats = s.rib().stats();
  for (auto f : {kIpv4Unicast, kIpv6Unicast})
    routes[f.name()] = stats.tables.count(f) ? stats.tables.at(f).prefixes : 0;
  j["routes"] = routes;
  json peers = json::array();
  for (auto& [id, p] : s.peers()) peers.push_back(neighbor_json(s, *p));
  j["neighbors"] = peers;
  return j;
}

std::optional<json> show_neighbor(const Speaker& s, const IpAddress& address) {
  const Peer* p = s.find_peer(address);
  if (!p) return std::nullopt;
  return neighbor_json(s, *p);
}

json show_routes(const Speaker& s, Family family, const std::optional<Prefix>& prefix,
                 const Rib* rib) {
  const Rib& table = rib ? *rib : s.rib();
  json j;
  j["family"] = family.name();
  std::vector<std::pair<Prefix, json>> rows;
  auto add = [&](const Prefix& pfx, std::span<const PathView> paths) {
    json r;
    r["prefix"] = pfx.to_string();
    json ps = json::array();
    for (auto& path : paths) {
      if (!path.attrs) continue;  // rejected by import policy
      json pj = path_attributes_json(*path.attrs);
      pj["best"] = path.best;
      if (path.stale) pj["stale"] = true;  // RFC 4724 §4.2: kept from a restarting peer
      pj["from"] = peer_name(s, path.peer);
      ps.push_back(std::move(pj));
    }
    r["paths"] = std::move(ps);
    if (!r["paths"].empty()) rows.emplace_back(pfx, std::move(r));
  };
  if (prefix) {
    auto paths = table.lookup(family, *prefix);
    if (!paths.empty()) add(*prefix, paths);
  } else {
    table.for_each_route(family, add);
  }
  // Sorted like a router's table.
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.first < b.first; });
  json out = json::array();
  for (auto& [p, r] : rows) out.push_back(std::move(r));
  j["routes"] = std::move(out);
  return j;
}

json show_evpn_routes(const Speaker& s, std::optional<uint8_t> route_type,
                      std::optional<uint32_t> vni) {
  json j;
  j["family"] = kL2vpnEvpn.name();
  std::vector<std::pair<std::vector<uint8_t>, json>> rows;
  s.rib().for_each_evpn_route([&](std::span<const uint8_t> key, std::span<const PathView> paths) {
    if (route_type && (key.empty() || key[0] != *route_type)) return;
    json ps = json::array();
    std::string shown;
    for (const auto& path : paths) {
      if (!path.attrs) continue;  // rejected by import policy
      const auto route = evpn_route(key, path.attrs->evpn_nlri.value_or(EvpnNlriData{}));
      if (!route) continue;
      // The VNI: the label field of types 1, 2 and 5, the PMSI_TUNNEL label of type 3 (RFC 8365
      // §5.1.3); type 4 has none.
      const std::optional<uint32_t> path_vni = evpn_vni(*route, *path.attrs);
      if (vni && path_vni != vni) continue;
      json pj = path_attributes_json(*path.attrs);
      pj["nlri"] = route->describe();
      if (path_vni) pj["vni"] = *path_vni;
      pj["best"] = path.best;
      if (path.stale) pj["stale"] = true;
      pj["from"] = peer_name(s, path.peer);
      ps.push_back(std::move(pj));
      shown = route->to_string();
    }
    if (ps.empty()) return;
    json r;
    r["route"] = shown;
    r["route_type"] = key[0];
    r["paths"] = std::move(ps);
    rows.emplace_back(std::vector<uint8_t>(key.begin(), key.end()), std::move(r));
  });
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.first < b.first; });
  json out = json::array();
  for (auto& [k, r] : rows) out.push_back(std::move(r));
  j["routes"] = std::move(out);
  return j;
}

json show_rtc_routes(const Speaker& s) {
  json j;
  j["family"] = kIpv4RouteTarget.name();
  std::vector<std::pair<RtMembership, json>> rows;
  s.rib().for_each_rtc_route([&](const RtMembership& m, std::span<const PathView> paths) {
    json ps = json::array();
    for (const auto& path : paths) {
      if (!path.attrs) continue;  // rejected by import policy
      json pj = path_attributes_json(*path.attrs);
      pj["best"] = path.best;
      if (path.stale) pj["stale"] = true;
      pj["from"] = peer_name(s, path.peer);
      ps.push_back(std::move(pj));
    }
    if (ps.empty()) return;
    json r;
    r["route"] = m.to_string();
    r["origin_as"] = m.origin_as;
    r["length"] = m.length;
    if (m.length > 32) r["route_target"] = ExtCommunity{m.route_target}.to_string();
    r["paths"] = std::move(ps);
    rows.emplace_back(m, std::move(r));
  });
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.first < b.first; });
  json out = json::array();
  for (auto& [k, r] : rows) out.push_back(std::move(r));
  j["routes"] = std::move(out);
  return j;
}

}  // namespace isthmus::bgp
