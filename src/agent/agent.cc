#include "agent/agent.h"

#include <fmt/format.h>
#include <linux/neighbour.h>

#include <algorithm>
#include <tuple>
#include <utility>

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

void Agent::fill_networks(DesiredState& d, bool remote,
                          std::map<uint32_t, std::map<MacAddress, MacTarget>>* waiting) const {
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
        // max_macs: the MACs the kernel has keep their place, the others get in while there is
        // room (by MAC), the rest wait.
        auto p = programmed_.find(n.vni);
        auto installed = [&](const MacAddress& mac) {
          return p != programmed_.end() && p->second.macs.contains(mac);
        };
        std::vector<bool> in(macs->size(), false);
        size_t count = 0;
        for (int pass = 0; pass < 2; ++pass)
          for (size_t i = 0; i < macs->size(); ++i) {
            const evpn::MacRow& m = (*macs)[i];
            if (m.local || installed(m.mac) != (pass == 0)) continue;  // local: on its port
            if (count < n.max_macs) {
              in[i] = true;
              ++count;
            } else if (waiting) {
              (*waiting)[n.vni][m.mac] = MacTarget{m.winner.vtep, m.winner.ips};
            }
          }
        for (size_t i = 0; i < macs->size(); ++i) {
          if (!in[i]) continue;
          const evpn::MacRow& m = (*macs)[i];
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
  const bool full = full_;
  ReconcileResult r = full ? reconcile_full() : reconcile_changes();
  if (!full) check_entries(r);
  if (full && started_ && r.changes > 0)
    log::info("agent: full reconcile: {} kernel changes", r.changes);
  started_ = true;
  note_limits();
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
  DesiredState d;
  waiting_.clear();
  fill_networks(d, true, &waiting_);
  fill_l3(d, nullptr);
  d.marks = firewall_ && firewall_needed(d);
  std::optional<Error> underlay_error;  // then the last ones read stay, and the next run retries
  if (d.marks) {
    if (auto u = underlay_prefixes())
      underlay_ = std::move(*u);
    else
      underlay_error = std::move(u.error());
  }
  const bool staged = std::exchange(staged_, false);
  ReconcileResult r = agent::reconcile(
      kernel_, d, {.keep_remote_entries = restarting_, .skip_network_entries = staged});
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
  entry_checks_.clear();
  if (staged) {
    // The networks' entries, one per turn from the next on (the last one of the list first).
    for (auto it = devices_.rbegin(); it != devices_.rend(); ++it)
      if (it->second.vxlan != 0) entry_checks_.push_back(it->first);
    if (!entry_checks_.empty()) mark_dirty();
  }
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
    const uint32_t limit = max_macs(vni);
    auto& waiting = waiting_[vni];
    auto change = [&](const MacAddress& mac, std::optional<MacTarget> target) {
      auto it = p.macs.find(mac);
      std::optional<MacTarget> before;
      if (it != p.macs.end()) before = it->second;
      if (!before) {
        // max_macs: a new MAC waits while the kernel has as many as it takes.
        if (target && p.macs.size() >= limit) {
          waiting[mac] = *target;
          return;
        }
        waiting.erase(mac);
      }
      if (before == target) return;
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
    };
    for (auto& [mac, target] : macs) change(mac, std::move(target));
    // Room made: the waiting ones get in.
    while (p.macs.size() < limit && !waiting.empty()) {
      auto w = waiting.begin();
      const MacAddress mac = w->first;
      MacTarget target = std::move(w->second);
      waiting.erase(w);
      change(mac, std::move(target));
    }
    if (waiting.empty()) waiting_.erase(vni);
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

void Agent::check_entries(ReconcileResult& r) {
  if (entry_checks_.empty()) return;
  const uint32_t vni = entry_checks_.back();
  entry_checks_.pop_back();
  if (!entry_checks_.empty()) mark_dirty();  // the next one on the next turn
  auto dv = devices_.find(vni);
  auto p = programmed_.find(vni);
  if (dv == devices_.end() || dv->second.vxlan == 0 || p == programmed_.end()) return;
  // What the kernel was brought to (by the full run and the changes since).
  NetworkState n;
  n.vni = vni;
  n.flood = p->second.flood;
  for (const auto& [mac, target] : p->second.macs) n.macs.push_back({mac, target.vtep});
  for (const auto& [ip, mac] : p->second.ip_owner) n.ips.push_back({ip, mac});
  ReconcileResult e = reconcile_entries(kernel_, n, dv->second.bridge, dv->second.vxlan,
                                        {.keep_remote_entries = restarting_});
  if (e.changes > 0)
    log::info("agent: network {}: {} FDB and neighbour entries repaired", vni, e.changes);
  r.changes += e.changes;
  r.errors.insert(r.errors.end(), e.errors.begin(), e.errors.end());
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
  for (int vxlan : vxlans) {
    auto fdb = kernel_.device_fdb(vxlan);
    if (!fdb) return unexpected(std::move(fdb.error()));
    for (const kernel::FdbEntry& e : *fdb)
      if (e.self && e.dst && e.ifindex == vxlan)
        out.push_back(Prefix(*e.dst, e.dst->is_v4() ? 32 : 128));
  }
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
    if (it->second.advertised) {
      it->second.advertised = false;
      --local_advertised_[vni];
      advertise(vni, mac, std::nullopt, true);  // the MAC and every MAC+IP of it
    } else {
      if (auto w = local_waiting_.find(vni); w != local_waiting_.end()) {
        if (auto a = w->second.arrival.find(mac); a != w->second.arrival.end()) {
          w->second.order.erase(a->second);
          w->second.arrival.erase(a);
        }
        if (w->second.order.empty()) local_waiting_.erase(w);
      }
    }
    if (it->second.ips.empty()) local_.erase(it);
    admit_local(vni);
    return;
  }
  if (it == local_.end()) it = local_.emplace(std::pair{vni, mac}, Binding{}).first;
  if (it->second.on_port) return;
  it->second.on_port = true;
  LocalWaiting& w = local_waiting_[vni];
  w.order[w.next] = mac;
  w.arrival[mac] = w.next++;
  admit_local(vni);
}

void Agent::admit_local(uint32_t vni) {
  auto w = local_waiting_.find(vni);
  if (w == local_waiting_.end()) return;
  const uint32_t limit = max_macs(vni);
  size_t& count = local_advertised_[vni];
  while (count < limit && !w->second.order.empty()) {
    auto first = w->second.order.begin();
    const MacAddress mac = first->second;
    w->second.order.erase(first);
    w->second.arrival.erase(mac);
    Binding& b = local_[{vni, mac}];
    b.advertised = true;
    ++count;
    advertise(vni, mac, std::nullopt, false);
    for (const IpAddress& ip : b.ips) advertise(vni, mac, ip, false);
  }
  if (w->second.order.empty()) local_waiting_.erase(w);
  note_limits();
}

void Agent::neighbour_ip(uint32_t vni, const MacAddress& mac, const IpAddress& ip, bool removed) {
  // The IP's earlier MAC (a workload's address taken over by another) loses it first.
  auto owner = ip_owner_.find({vni, ip});
  if (owner != ip_owner_.end() && (removed || owner->second != mac)) {
    auto b = local_.find({vni, owner->second});
    if (b != local_.end() && b->second.ips.erase(ip)) {
      if (b->second.advertised) advertise(vni, owner->second, ip, true);
      if (!b->second.on_port && b->second.ips.empty()) local_.erase(b);
    }
    ip_owner_.erase(owner);
  }
  if (removed) return;
  ip_owner_[{vni, ip}] = mac;
  Binding& b = local_[{vni, mac}];
  if (b.ips.insert(ip).second && b.advertised) advertise(vni, mac, ip, false);
}

const Network* Agent::network(uint32_t vni) const {
  for (const Network& n : config_.networks)
    if (n.vni == vni) return &n;
  return nullptr;
}

uint32_t Agent::max_macs(uint32_t vni) const {
  const Network* n = network(vni);
  return n ? n->max_macs : kDefaultMaxMacs;
}

MacLimitStatus Agent::mac_limit(uint32_t vni) const {
  MacLimitStatus s;
  if (auto w = waiting_.find(vni); w != waiting_.end()) s.remote_waiting = w->second.size();
  if (auto a = local_advertised_.find(vni); a != local_advertised_.end())
    s.local_advertised = a->second;
  if (auto w = local_waiting_.find(vni); w != local_waiting_.end())
    s.local_waiting = w->second.order.size();
  return s;
}

void Agent::note_limits() {
  for (const Network& n : config_.networks) {
    const MacLimitStatus s = mac_limit(n.vni);
    if (s.remote_waiting == 0)
      remote_limit_logged_.erase(n.vni);
    else if (remote_limit_logged_.insert(n.vni).second)
      log::warn(
          "agent: network {} (VNI {}): {} remote MACs over max_macs {}: not installed in the "
          "kernel until others go",
          n.name, n.vni, s.remote_waiting, n.max_macs);
    if (s.local_waiting == 0)
      local_limit_logged_.erase(n.vni);
    else if (local_limit_logged_.insert(n.vni).second)
      log::warn(
          "agent: network {} (VNI {}): {} local MACs over max_macs {}: not advertised until "
          "others go",
          n.name, n.vni, s.local_waiting, n.max_macs);
  }
}

std::string Agent::link_drift(const kernel::Link& l) const {
  // The bridge each VXLAN device of ours belongs to.
  int bridge = 0;
  if (auto p = vxlan_ports_.find(l.index); p != vxlan_ports_.end()) bridge = p->second;
  if (auto v = l3_vxlans_.find(l.index); v != l3_vxlans_.end())
    if (auto d = l3_devices_.find(v->second); d != l3_devices_.end()) bridge = d->second.bridge;
  const bool vxlan = vxlan_ports_.contains(l.index) || l3_vxlans_.contains(l.index);
  if (!vxlan && !bridges_.contains(l.index) && !l3_bridges_.contains(l.index)) return {};
  if (!l.up) return l.name + " was set down";
  if (l.mtu != 0 && l.mtu != config_.overlay_mtu)
    return fmt::format("{} has MTU {}, not {}", l.name, l.mtu, config_.overlay_mtu);
  if (vxlan && l.master != bridge)
    return l.master == 0 ? l.name + " left its bridge"
                         : fmt::format("{} moved to another bridge (index {})", l.name, l.master);
  if (vxlan && l.port && (l.port->learning || !l.port->neigh_suppress) &&
      vxlan_ports_.contains(l.index))
    return l.name + "'s bridge port flags changed";
  return {};
}

std::string Agent::address_drift(const kernel::AddressEvent& a) const {
  const kernel::Address& x = a.address;
  if (x.ip.is_link_local()) return {};  // the kernel's
  std::vector<GatewayAddress> want;
  if (auto br = bridges_.find(x.ifindex); br != bridges_.end()) {
    if (const Network* n = network(br->second)) {
      if (n->gateway) want.push_back(*n->gateway);
      if (n->gateway6) want.push_back(*n->gateway6);
    }
  } else if (!l3_bridges_.contains(x.ifindex)) {
    return {};  // not ours
  }
  const bool wanted =
      std::find(want.begin(), want.end(), GatewayAddress{x.ip, x.length}) != want.end();
  if (a.removed && wanted) return "gateway address " + x.to_string() + " was removed";
  if (!a.removed && !wanted) return "address " + x.to_string() + " was added to a bridge of ours";
  return {};
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
    const bool ours = bridges_.contains(i) || vxlan_ports_.contains(i) || l3_bridges_.contains(i) ||
                      l3_vxlans_.contains(i);
    if (!ours || full_) return;  // a full reconcile is due anyway
    if (l->removed)
      drift(l->link.name + " was deleted");
    else if (std::string why = link_drift(l->link); !why.empty())
      drift(why);
    return;
  }
  if (const auto* a = std::get_if<kernel::AddressEvent>(&event)) {
    if (full_) return;
    if (std::string why = address_drift(*a); !why.empty()) drift(why);
  }
}

Expected<void> Agent::learn_all() {
  // The entries of the bridges' workload ports (not of the VXLAN ports, which hold the remote
  // MACs, nor of other bridges) and the bridges' neighbours.
  std::vector<kernel::FdbEntry> fdb;
  std::vector<kernel::Neighbour> neighbours;
  if (!bridges_.empty()) {
    auto links = kernel_.links();
    if (!links) return unexpected(std::move(links.error()));
    for (const kernel::Link& l : *links) {
      if (!bridges_.contains(l.master) || vxlan_ports_.contains(l.index)) continue;
      auto f = kernel_.device_fdb(l.index);
      if (!f) return unexpected(std::move(f.error()));
      fdb.insert(fdb.end(), f->begin(), f->end());
    }
  }
  for (const auto& [br, vni] : bridges_) {
    auto n = kernel_.neighbours_of(br);
    if (!n) return unexpected(std::move(n.error()));
    neighbours.insert(neighbours.end(), n->begin(), n->end());
  }
  // What is there now, as on_event() takes it.
  std::set<std::pair<uint32_t, MacAddress>> on_port;
  std::set<std::pair<uint32_t, IpAddress>> bound;
  for (const auto& e : fdb) {
    if (e.self || e.state & NUD_PERMANENT || vxlan_ports_.contains(e.ifindex)) continue;
    if (auto vni = vni_of_bridge(e.master); vni && workload_mac(e.mac))
      on_port.insert({*vni, e.mac});
  }
  for (const auto& x : neighbours) {
    if (x.extern_learned || x.ip.is_link_local() || !x.mac || !workload_mac(*x.mac)) continue;
    if (x.state & (NUD_FAILED | NUD_INCOMPLETE)) continue;
    if (auto vni = vni_of_bridge(x.ifindex)) bound.insert({*vni, x.ip});
  }
  // What went while the events were lost goes first (an IP may have moved to a new MAC).
  std::vector<std::pair<uint32_t, MacAddress>> gone_macs;
  for (const auto& [key, b] : local_)
    if (b.on_port && !on_port.contains(key)) gone_macs.push_back(key);
  std::vector<std::tuple<uint32_t, IpAddress, MacAddress>> gone_ips;
  for (const auto& [key, mac] : ip_owner_)
    if (!bound.contains(key)) gone_ips.emplace_back(key.first, key.second, mac);
  for (const auto& [vni, ip, mac] : gone_ips) neighbour_ip(vni, mac, ip, true);
  for (const auto& [vni, mac] : gone_macs) port_mac(vni, mac, true);
  for (const auto& e : fdb) on_event(kernel::FdbEvent{false, e});
  for (const auto& n : neighbours) on_event(kernel::NeighbourEvent{false, n});
  return {};
}

void Agent::resync(bool staged) {
  if (stopped_) return;
  if (auto l = learn_all(); !l) log::warn("agent: {}", l.error().message);
  // A full run already due (an overrun, a failure, drift) stays whole.
  const bool whole_due = full_ && !staged_;
  request_full();
  staged_ = staged && !whole_due;
}

}  // namespace isthmus::agent
