#include "agent/agent.h"

#include <fmt/format.h>
#include <linux/neighbour.h>

#include <algorithm>

#include "core/log.h"

namespace isthmus::agent {

Agent::Agent(kernel::Kernel& kernel, evpn::Instance& evpn, AgentConfig config,
             kernel::Firewall* firewall)
    : kernel_(kernel), evpn_(evpn), config_(std::move(config)), firewall_(firewall) {}

evpn::Observer Agent::observer() {
  evpn::Observer o;
  o.remote_mac = [this](const evpn::MacEvent& e) {
    if (!full_) {
      auto& m = pending_macs_[e.vni][e.mac];
      if (e.kind == evpn::MacEvent::Kind::Removed || !e.entry)
        m.reset();
      else
        m = MacTarget{e.entry->vtep, e.entry->ips};
    }
    mark_dirty();
  };
  o.flood_list = [this](uint32_t vni, const std::vector<IpAddress>& vteps) {
    if (!full_) pending_flood_[vni] = vteps;
    mark_dirty();
  };
  o.remote_prefix = [this](uint32_t l3vni, const Prefix&, const std::vector<evpn::RemotePrefix>&) {
    if (!tenant(l3vni)) return;  // an IP-VRF without a tenant here: nothing to program
    if (!full_) pending_l3_.insert(l3vni);
    mark_dirty();
  };
  o.local_mac_moved = [this](uint32_t vni, const MacAddress& mac, const IpAddress& vtep,
                             uint32_t sequence) {
    log::info("agent: network {}: {} moved to VTEP {} (sequence {})", vni, mac.to_string(),
              vtep.to_string(), sequence);
    mark_dirty();
  };
  return o;
}

DesiredState Agent::desired() const {
  DesiredState d;
  fill_networks(d, true);
  fill_l3(d, nullptr);
  return d;
}

void Agent::set_gateway_route(uint32_t l3vni, const Prefix& prefix,
                              const std::optional<GatewayRoute>& route) {
  if (!tenant(l3vni)) return;
  auto& routes = gateway_routes_[l3vni];
  auto it = routes.find(prefix);
  if (route) {
    GatewayRoute r = *route;
    r.prefix = prefix;
    if (it != routes.end() && it->second == r) return;
    routes[prefix] = std::move(r);
  } else {
    if (it == routes.end()) return;
    routes.erase(it);
  }
  if (!full_) pending_l3_.insert(l3vni);
  mark_dirty();
}

const Tenant* Agent::tenant(uint32_t l3vni) const {
  for (const Tenant& t : config_.tenants)
    if (t.l3vni == l3vni) return &t;
  return nullptr;
}

void Agent::fill_networks(DesiredState& d, bool remote) const {
  d.vtep = config_.vtep;
  // A VRF's table: a tenant's is kTableBase + its L3 VNI; any other VRF's kTableBase + the
  // smallest VNI of its networks here (stable, no collision).
  std::map<std::string, uint32_t> tables;
  for (const Tenant& t : config_.tenants) tables.emplace(t.name, kTableBase + t.l3vni);
  std::set<std::string> tenants;
  for (const Tenant& t : config_.tenants) tenants.insert(t.name);
  for (const Network& n : config_.networks) {
    const std::string& vrf = n.vrf.empty() ? n.name : n.vrf;
    if (tenants.contains(vrf)) continue;
    auto [it, fresh] = tables.emplace(vrf, kTableBase + n.vni);
    if (!fresh) it->second = std::min(it->second, kTableBase + n.vni);
  }
  for (const Network& n : config_.networks) {
    NetworkState s;
    s.vni = n.vni;
    s.table = tables[n.vrf.empty() ? n.name : n.vrf];
    s.nat_outgoing = n.nat_outgoing && firewall_ != nullptr;
    s.mtu = config_.overlay_mtu;
    s.gateway_mac = config_.gateway_mac;
    if (n.gateway) s.gateways.push_back(*n.gateway);
    if (n.gateway6) s.gateways.push_back(*n.gateway6);
    if (remote) {
      if (auto flood = evpn_.flood_list(n.vni)) s.flood = *flood;
      if (auto macs = evpn_.macs(n.vni)) {
        for (const evpn::MacRow& m : *macs) {
          if (m.local) continue;  // ours: the bridge has it on its port
          s.macs.push_back({m.mac, m.winner.vtep});
          for (const IpAddress& ip : m.winner.ips) s.ips.push_back({ip, m.mac});
        }
      }
    }
    d.networks.push_back(std::move(s));
  }
}

void Agent::fill_l3(DesiredState& d, const std::set<uint32_t>* only) const {
  for (const Tenant& t : config_.tenants) {
    if (only && !only->contains(t.l3vni)) continue;
    if (auto l3 = desired_l3(t, d.networks)) d.l3vnis.push_back(std::move(*l3));
  }
}

std::optional<L3VniState> Agent::desired_l3(const Tenant& t,
                                            const std::vector<NetworkState>& networks) const {
  // This round's notes; `true`: a warning (a route that should have been installed), `false`:
  // information (the configuration wants it so).
  std::map<std::string, bool> notes;
  auto done = [&] {
    auto& logged = l3_notes_[t.l3vni];
    std::set<std::string> now;
    for (const auto& [text, warning] : notes) {
      now.insert(text);
      if (logged.contains(text)) continue;
      if (warning)
        log::warn("agent: tenant {} (L3 VNI {}): {}", t.name, t.l3vni, text);
      else
        log::info("agent: tenant {} (L3 VNI {}): {}", t.name, t.l3vni, text);
    }
    logged = std::move(now);
  };
  L3VniState s;
  s.vni = t.l3vni;
  s.table = kTableBase + t.l3vni;
  s.mtu = config_.overlay_mtu;
  s.router_mac = t.router_mac;
  const evpn::IpVrf* vrf = evpn_.find_ip_vrf(t.l3vni);
  if (s.router_mac == MacAddress{} && vrf) s.router_mac = vrf->router_mac;
  if (s.router_mac == MacAddress{}) {
    notes.emplace("no router MAC configured and no EVPN IP-VRF to take it from: no L3 VNI", true);
    done();
    return std::nullopt;
  }
  // The subnets of the tenant's networks here, by prefix: their connected routes win.
  std::map<Prefix, std::string> subnets;
  for (size_t i = 0; i < networks.size() && i < config_.networks.size(); ++i)
    if (networks[i].table == s.table)
      for (const GatewayAddress& g : networks[i].gateways)
        subnets.emplace(Prefix(g.ip, g.length), config_.networks[i].name);
  s.uplinks = t.uplinks;
  std::set<Prefix> from_gateways;
  if (auto g = gateway_routes_.find(t.l3vni); g != gateway_routes_.end()) {
    for (const auto& [prefix, route] : g->second) {
      if (auto sub = subnets.find(prefix); sub != subnets.end()) {
        notes.emplace(fmt::format("{} from a gateway (via {}) is the subnet of network {} here: "
                                  "its connected route wins",
                                  prefix.to_string(), route.next_hop.to_string(), sub->second),
                      false);
        continue;
      }
      if (prefix.family() != route.next_hop.family()) {
        notes.emplace(fmt::format("{} from a gateway has next hop {} of the other family: not "
                                  "installed (RFC 8950 next hops are not supported)",
                                  prefix.to_string(), route.next_hop.to_string()),
                      true);
        continue;
      }
      s.gateway_routes.push_back(route);
      from_gateways.insert(prefix);
    }
  }
  std::map<IpAddress, MacAddress> vtep_mac;  // what the routes so far took
  std::map<MacAddress, IpAddress> mac_vtep;
  // Per prefix, without a string made unless there is something to say (100k prefixes).
  auto visit = [&](const Prefix& prefix, const std::vector<evpn::RemotePrefix>& remote) {
    if (remote.empty() || from_gateways.contains(prefix)) return;
    if (auto sub = subnets.find(prefix); sub != subnets.end()) {
      notes.emplace(fmt::format("{} (from VTEP {}) is the subnet of network {} here: its "
                                "connected route wins, the remote one is not installed",
                                prefix.to_string(), remote.front().vtep.to_string(), sub->second),
                    false);
      return;
    }
    for (const evpn::RemotePrefix& r : remote) {  // sorted by VTEP
      auto from = [&] {
        return fmt::format("{} from VTEP {} (RD {})", prefix.to_string(), r.vtep.to_string(),
                           r.rd.to_string());
      };
      if (r.vtep == config_.vtep) continue;  // ours, reflected back
      if (!r.unusable.empty()) continue;     // EVPN said why (and logged it)
      if (!r.router_mac) {
        notes.emplace(
            from() + " has no Router's MAC extended community (RFC 9135 §8.1): not installed",
            true);
        continue;
      }
      if (r.label != t.l3vni) {
        notes.emplace(
            fmt::format("{} carries VNI {}, not the L3 VNI: not installed", from(), r.label), true);
        continue;
      }
      if (auto v = vtep_mac.find(r.vtep); v != vtep_mac.end() && v->second != *r.router_mac) {
        notes.emplace(fmt::format("{} has router MAC {}, the VTEP's other routes {}: not installed",
                                  from(), r.router_mac->to_string(), v->second.to_string()),
                      true);
        continue;
      }
      if (auto m = mac_vtep.find(*r.router_mac); m != mac_vtep.end() && m->second != r.vtep) {
        notes.emplace(fmt::format("{}: router MAC {} is VTEP {}'s already: not installed", from(),
                                  r.router_mac->to_string(), m->second.to_string()),
                      true);
        continue;
      }
      vtep_mac[r.vtep] = *r.router_mac;
      mac_vtep[*r.router_mac] = r.vtep;
      s.routes.push_back({prefix, r.vtep, *r.router_mac});
      break;  // one per prefix (ECMP over several VTEPs is not done)
    }
  };
  if (auto ok = evpn_.for_each_remote_prefix(t.l3vni, visit); !ok) {
    notes.emplace(ok.error().message + ": no remote routes", true);
    done();
    return s;
  }
  done();
  return s;
}

Expected<bool> forwarding_state_present(kernel::Kernel& kernel, const AgentConfig& config) {
  auto links = kernel.links();
  if (!links) return unexpected(std::move(links.error()));
  std::vector<uint32_t> vnis;
  for (const Network& n : config.networks) vnis.push_back(n.vni);
  for (const Tenant& t : config.tenants) vnis.push_back(t.l3vni);
  for (const kernel::Link& l : *links)
    for (uint32_t vni : vnis)
      if (l.kind == "vxlan" && l.name == vxlan_name(vni) && l.alias == owner_alias(vni))
        return true;
  return false;
}

void Agent::end_restart(const std::string& why) {
  if (!restarting_) return;
  restarting_ = false;
  restart_ended_ = why;
  request_full();  // the full run is the one that finds and removes what is stale
}

ReconcileResult Agent::reconcile() {
  dirty_ = false;
  if (stopped_) return {};
  ReconcileResult r = full_ ? reconcile_full() : reconcile_changes();
  for (const auto& e : r.errors) log::warn("agent: {}", e);
  for (const auto& u : r.unsupported)
    if (unsupported_.insert(u).second) log::warn("agent: not supported by this kernel: {}", u);
  if (!restart_ended_.empty()) {
    log::info("agent: routes complete ({}): {} kernel changes (stale remote entries removed)",
              restart_ended_, r.changes);
    restart_ended_.clear();
  }
  if (!r.ok()) {  // try again on the next round, in full: what the kernel has is not known
    full_ = true;
    dirty_ = true;
  }
  return r;
}

ReconcileResult Agent::reconcile_full() {
  full_ = false;
  pending_macs_.clear();
  pending_flood_.clear();
  pending_l3_.clear();
  DesiredState d = desired();
  d.marks = firewall_ && firewall_needed(d);
  std::optional<Error> underlay_error;  // then the last ones read stay, and the next run retries
  if (d.marks) {
    if (auto u = underlay_prefixes())
      underlay_ = std::move(*u);
    else
      underlay_error = std::move(u.error());
  }
  ReconcileResult r = agent::reconcile(kernel_, d, {.keep_remote_entries = restarting_});
  if (underlay_error) r.errors.push_back(std::move(underlay_error->message));
  kept_vteps_.clear();
  if (d.marks && restarting_) {
    // The remote VTEPs of before the restart are kept out too until the routes are complete.
    if (auto k = kept_vteps(r))
      kept_vteps_ = std::move(*k);
    else
      r.errors.push_back(std::move(k.error().message));
  }
  sync_firewall(d, true, r, kept_vteps_);
  // Which bridge is which network now (indexes change when a link is made again), as the
  // reconciler found or made them: no second read of the kernel's links.
  bridges_.clear();
  vxlan_ports_.clear();
  devices_.clear();
  for (const NetworkDevices& dv : r.devices) {
    bridges_[dv.bridge] = dv.vni;
    if (dv.vxlan != 0) vxlan_ports_[dv.vxlan] = dv.bridge;
    devices_[dv.vni] = dv;
  }
  l3_devices_.clear();
  l3_bridges_.clear();
  l3_vxlans_.clear();
  for (const NetworkDevices& dv : r.l3_devices) {
    l3_devices_[dv.vni] = dv;
    l3_bridges_[dv.bridge] = dv.vni;
    if (dv.vxlan != 0) l3_vxlans_[dv.vxlan] = dv.vni;
  }
  programmed_l3_.clear();
  for (const L3VniState& l3 : d.l3vnis) programmed_l3_[l3.vni] = l3_vteps(d, l3);
  programmed_l3_routes_ = std::move(r.l3_routes);
  r.l3_routes.clear();
  // From now on the changes are made against what the kernel was brought to.
  programmed_.clear();
  for (const NetworkState& n : d.networks) {
    Programmed& p = programmed_[n.vni];
    p.flood = n.flood;
    for (const RemoteMac& m : n.macs) p.macs[m.mac].vtep = m.vtep;
    for (const RemoteIp& x : n.ips) {
      p.macs[x.mac].ips.push_back(x.ip);
      p.ip_owner[x.ip] = x.mac;
    }
  }
  return r;
}

ReconcileResult Agent::reconcile_changes() {
  std::vector<NetworkChanges> changes;
  for (auto& [vni, macs] : pending_macs_) {
    auto dv = devices_.find(vni);
    if (dv == devices_.end() || dv->second.vxlan == 0) continue;  // not ours, or not there
    Programmed& p = programmed_[vni];
    NetworkChanges nc{.vni = vni, .bridge = dv->second.bridge, .vxlan = dv->second.vxlan};
    for (auto& entry : macs) {
      // Not a structured binding: clang 14 cannot capture one in a lambda.
      const auto& mac = entry.first;
      auto& target = entry.second;
      auto it = p.macs.find(mac);
      std::optional<MacTarget> before;
      if (it != p.macs.end()) before = it->second;
      if (before == target) continue;
      if (before) {
        // An IP that another MAC took over since is that MAC's entry now: not deleted here.
        std::erase_if(before->ips, [&](const IpAddress& ip) {
          auto o = p.ip_owner.find(ip);
          return o == p.ip_owner.end() || o->second != mac;
        });
        for (const IpAddress& ip : before->ips) p.ip_owner.erase(ip);
      }
      if (target) {
        for (const IpAddress& ip : target->ips) p.ip_owner[ip] = mac;
        p.macs[mac] = *target;
      } else {
        p.macs.erase(it);
      }
      nc.macs.push_back({mac, std::move(before), std::move(target)});
    }
    if (!nc.macs.empty()) changes.push_back(std::move(nc));
  }
  for (auto& entry : pending_flood_) {
    const uint32_t vni = entry.first;  // not a structured binding: clang 14 cannot capture one
    auto& vteps = entry.second;
    auto dv = devices_.find(vni);
    if (dv == devices_.end() || dv->second.vxlan == 0) continue;
    Programmed& p = programmed_[vni];
    if (p.flood == vteps) continue;
    auto nc = std::find_if(changes.begin(), changes.end(),
                           [&](const NetworkChanges& c) { return c.vni == vni; });
    if (nc == changes.end())
      nc = changes.insert(
          changes.end(),
          NetworkChanges{.vni = vni, .bridge = dv->second.bridge, .vxlan = dv->second.vxlan});
    nc->flood = FloodChange{p.flood, vteps};
    p.flood = vteps;
  }
  const bool vteps_changed = !pending_flood_.empty() || !pending_l3_.empty();
  pending_macs_.clear();
  pending_flood_.clear();
  ReconcileResult r = apply_changes(kernel_, changes, {.keep_remote_entries = restarting_});
  if (firewall_ && firewall_applied_ && vteps_changed) {
    // The remote VTEPs that egress NAT keeps out may have changed.
    DesiredState fd;
    fill_networks(fd, false);
    for (NetworkState& n : fd.networks)
      if (auto p = programmed_.find(n.vni); p != programmed_.end()) n.flood = p->second.flood;
    fill_l3(fd, nullptr);
    fd.marks = firewall_needed(fd);
    if (fd.marks) sync_firewall(fd, false, r, kept_vteps_);  // else the full run removes it
  }
  for (const auto& [vni, dv] : devices_) r.devices.push_back(dv);
  for (const auto& [vni, dv] : l3_devices_) r.l3_devices.push_back(dv);
  if (pending_l3_.empty()) return r;
  // Remote prefixes changed: those tenants' routes against a read of their tables only, their
  // VTEP entries by difference.
  DesiredState d;
  fill_networks(d, false);
  fill_l3(d, &pending_l3_);
  std::vector<L3Changes> l3_changes;
  for (uint32_t vni : pending_l3_) {
    auto dv = l3_devices_.find(vni);
    if (dv == l3_devices_.end() || dv->second.vxlan == 0) continue;  // the full run's to make
    l3_changes.push_back({.vni = vni,
                          .bridge = dv->second.bridge,
                          .vxlan = dv->second.vxlan,
                          .before = programmed_l3_[vni],
                          .before_routes = std::move(programmed_l3_routes_[vni])});
  }
  pending_l3_.clear();
  ReconcileResult l3 =
      apply_l3_changes(kernel_, d, l3_changes, {.keep_remote_entries = restarting_});
  r.changes += l3.changes;
  r.errors.insert(r.errors.end(), l3.errors.begin(), l3.errors.end());
  for (const L3VniState& s : d.l3vnis)
    if (l3_devices_.contains(s.vni)) programmed_l3_[s.vni] = l3_vteps(d, s);
  for (auto& [vni, routes] : l3.l3_routes) programmed_l3_routes_[vni] = std::move(routes);
  return r;
}

Expected<std::vector<Prefix>> Agent::underlay_prefixes() {
  auto addresses = kernel_.addresses();
  if (!addresses) return unexpected(std::move(addresses.error()));
  const auto vtep = std::find_if(addresses->begin(), addresses->end(),
                                 [&](const kernel::Address& a) { return a.ip == config_.vtep; });
  std::vector<Prefix> out;
  if (vtep == addresses->end()) {
    out.push_back(Prefix(config_.vtep, config_.vtep.is_v4() ? 32 : 128));
    return out;
  }
  for (const kernel::Address& a : *addresses)
    if (a.ifindex == vtep->ifindex && !a.ip.is_link_local()) out.push_back(Prefix(a.ip, a.length));
  return out;
}

Expected<std::vector<Prefix>> Agent::kept_vteps(const ReconcileResult& devices) {
  std::set<int> vxlans;
  for (const NetworkDevices& dv : devices.devices) vxlans.insert(dv.vxlan);
  for (const NetworkDevices& dv : devices.l3_devices) vxlans.insert(dv.vxlan);
  vxlans.erase(0);
  std::vector<Prefix> out;
  if (vxlans.empty()) return out;
  auto fdb = kernel_.fdb();
  if (!fdb) return unexpected(std::move(fdb.error()));
  for (const kernel::FdbEntry& e : *fdb)
    if (e.self && e.dst && vxlans.contains(e.ifindex))
      out.push_back(Prefix(*e.dst, e.dst->is_v4() ? 32 : 128));
  return out;
}

void Agent::sync_firewall(const DesiredState& d, bool full, ReconcileResult& r,
                          const std::vector<Prefix>& kept) {
  if (!firewall_) return;
  if (!d.marks) {
    if (!full && !firewall_applied_) return;
    if (auto ok = firewall_->delete_table(kFirewallTable); !ok) {
      // A table of ours that cannot go is an error (retried); a kernel without nftables, where
      // the agent made none and needs none, only lacks what it would need later.
      if (firewall_applied_)
        r.errors.push_back(ok.error().message);
      else
        r.unsupported.push_back(ok.error().message + " (no connection marks or egress NAT)");
      return;
    }
    if (firewall_applied_) ++r.changes;
    firewall_applied_.reset();
    return;
  }
  std::vector<Prefix> underlay = underlay_;
  underlay.insert(underlay.end(), kept.begin(), kept.end());
  FirewallState s = firewall_state(d, underlay);
  if (!full && firewall_applied_ == s) return;
  if (auto ok = firewall_->replace_table(kFirewallTable, firewall_ruleset(s)); !ok) {
    r.errors.push_back(ok.error().message);
    firewall_applied_.reset();
    return;
  }
  if (firewall_applied_ != s) ++r.changes;
  firewall_applied_ = std::move(s);
}

bool Agent::wanted_fdb(const kernel::FdbEntry& e) const {
  auto port = vxlan_ports_.find(e.ifindex);
  if (port == vxlan_ports_.end()) return false;
  auto br = bridges_.find(port->second);
  if (br == bridges_.end()) return false;
  auto p = programmed_.find(br->second);
  if (p == programmed_.end() || !e.dst) return true;  // unknown: repair to be sure
  if (e.mac == MacAddress{})
    return std::find(p->second.flood.begin(), p->second.flood.end(), *e.dst) !=
           p->second.flood.end();
  auto m = p->second.macs.find(e.mac);
  return m != p->second.macs.end() && m->second.vtep == *e.dst;
}

bool Agent::wanted_neighbour(const kernel::Neighbour& n) const {
  auto br = bridges_.find(n.ifindex);
  if (br == bridges_.end()) return false;
  auto p = programmed_.find(br->second);
  if (p == programmed_.end()) return true;
  auto o = p->second.ip_owner.find(n.ip);
  return o != p->second.ip_owner.end() && (!n.mac || o->second == *n.mac);
}

bool Agent::wanted_l3_fdb(const kernel::FdbEntry& e) const {
  auto vni = l3_vxlans_.find(e.ifindex);
  if (vni == l3_vxlans_.end()) return false;
  auto p = programmed_l3_.find(vni->second);
  if (p == programmed_l3_.end()) return true;  // unknown: repair to be sure
  return std::any_of(p->second.begin(), p->second.end(), [&](const L3Vtep& v) {
    return v.router_mac == e.mac && (!e.dst || v.vtep == *e.dst);
  });
}

bool Agent::wanted_l3_neighbour(uint32_t l3vni, const kernel::Neighbour& n) const {
  auto p = programmed_l3_.find(l3vni);
  if (p == programmed_l3_.end()) return true;
  return std::any_of(p->second.begin(), p->second.end(), [&](const L3Vtep& v) {
    return (v.vtep == n.ip || ipv4_mapped(v.vtep) == n.ip) && (!n.mac || v.router_mac == *n.mac);
  });
}

bool Agent::workload_mac(const MacAddress& mac) const {
  return mac != config_.gateway_mac && (mac.bytes[0] & 1) == 0 && mac != MacAddress{};
}

std::optional<uint32_t> Agent::vni_of_bridge(int ifindex) {
  auto it = bridges_.find(ifindex);
  if (it == bridges_.end()) return std::nullopt;
  return it->second;
}

void Agent::advertise(uint32_t vni, const MacAddress& mac, const std::optional<IpAddress>& ip,
                      bool withdraw) {
  if (withdraw) {
    auto r = evpn_.remove_local_mac(vni, mac, ip);
    if (!r) log::warn("agent: network {}: {}", vni, r.error().message);
    return;
  }
  auto r = evpn_.add_local_mac(vni, mac, ip);
  if (!r)
    log::warn("agent: network {}: {}", vni, r.error().message);
  else if (!r->note.empty())
    log::info("agent: network {}: {}{}: {}", vni, mac.to_string(), ip ? " " + ip->to_string() : "",
              r->note);
}

void Agent::port_mac(uint32_t vni, const MacAddress& mac, bool removed) {
  auto it = local_.find({vni, mac});
  if (removed) {
    if (it == local_.end() || !it->second.on_port) return;
    it->second.on_port = false;
    advertise(vni, mac, std::nullopt, true);  // the MAC and every MAC+IP of it
    if (it->second.ips.empty()) local_.erase(it);
    return;
  }
  if (it == local_.end()) it = local_.emplace(std::pair{vni, mac}, Binding{}).first;
  if (it->second.on_port) return;
  it->second.on_port = true;
  advertise(vni, mac, std::nullopt, false);
  for (const IpAddress& ip : it->second.ips) advertise(vni, mac, ip, false);
}

void Agent::neighbour_ip(uint32_t vni, const MacAddress& mac, const IpAddress& ip, bool removed) {
  // The IP's earlier MAC (a workload's address taken over by another) loses it first.
  auto owner = ip_owner_.find({vni, ip});
  if (owner != ip_owner_.end() && (removed || owner->second != mac)) {
    auto b = local_.find({vni, owner->second});
    if (b != local_.end() && b->second.ips.erase(ip)) {
      if (b->second.on_port) advertise(vni, owner->second, ip, true);
      if (!b->second.on_port && b->second.ips.empty()) local_.erase(b);
    }
    ip_owner_.erase(owner);
  }
  if (removed) return;
  ip_owner_[{vni, ip}] = mac;
  Binding& b = local_[{vni, mac}];
  if (b.ips.insert(ip).second && b.on_port) advertise(vni, mac, ip, false);
}

void Agent::on_event(const kernel::Event& event) {
  if (const auto* f = std::get_if<kernel::FdbEvent>(&event)) {
    const kernel::FdbEntry& e = f->entry;
    if (e.self || e.state & NUD_PERMANENT) {
      // Our own entries on the VXLAN device: one that goes away under us is put back (and one
      // the agent removed itself is no drift).
      if (f->removed && vxlan_ports_.contains(e.ifindex) && wanted_fdb(e)) request_full();
      if (f->removed && l3_vxlans_.contains(e.ifindex) && wanted_l3_fdb(e)) request_full();
      return;
    }
    if (vxlan_ports_.contains(e.ifindex)) return;  // learned from the overlay: not local
    auto vni = vni_of_bridge(e.master);
    if (!vni || !workload_mac(e.mac)) return;
    port_mac(*vni, e.mac, f->removed);
    return;
  }
  if (const auto* n = std::get_if<kernel::NeighbourEvent>(&event)) {
    const kernel::Neighbour& x = n->neighbour;
    if (auto l3 = l3_bridges_.find(x.ifindex); l3 != l3_bridges_.end()) {
      // An L3 VNI's bridge: only our VTEP entries matter there (no workload is on it).
      if (n->removed && x.extern_learned && wanted_l3_neighbour(l3->second, x)) request_full();
      return;
    }
    auto vni = vni_of_bridge(x.ifindex);
    if (!vni) return;
    if (x.extern_learned) {
      // Ours (a remote binding): put back if still wanted.
      if (n->removed && wanted_neighbour(x)) request_full();
      return;
    }
    if (x.ip.is_link_local() || !x.mac || !workload_mac(*x.mac)) return;
    const bool gone = n->removed || (x.state & (NUD_FAILED | NUD_INCOMPLETE)) != 0;
    neighbour_ip(*vni, *x.mac, x.ip, gone);
    return;
  }
  if (const auto* l = std::get_if<kernel::LinkEvent>(&event)) {
    const int i = l->link.index;
    if (l->removed && (bridges_.contains(i) || vxlan_ports_.contains(i) ||
                       l3_bridges_.contains(i) || l3_vxlans_.contains(i)))
      request_full();
  }
}

Expected<void> Agent::learn_all() {
  auto fdb = kernel_.fdb();
  if (!fdb) return unexpected(std::move(fdb.error()));
  for (const auto& e : *fdb) on_event(kernel::FdbEvent{false, e});
  auto neighbours = kernel_.neighbours();
  if (!neighbours) return unexpected(std::move(neighbours.error()));
  for (const auto& n : *neighbours) on_event(kernel::NeighbourEvent{false, n});
  return {};
}

}  // namespace isthmus::agent
