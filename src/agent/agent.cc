#include "agent/agent.h"

#include <linux/neighbour.h>

#include "core/log.h"

namespace isthmus::agent {

Agent::Agent(kernel::Kernel& kernel, evpn::Instance& evpn, AgentConfig config)
    : kernel_(kernel), evpn_(evpn), config_(std::move(config)) {}

evpn::Observer Agent::observer() {
  evpn::Observer o;
  o.remote_mac = [this](const evpn::MacEvent&) { mark_dirty(); };
  o.flood_list = [this](uint32_t, const std::vector<IpAddress>&) { mark_dirty(); };
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
  d.vtep = config_.vtep;
  for (const Network& n : config_.networks) {
    NetworkState s;
    s.vni = n.vni;
    s.mtu = config_.overlay_mtu;
    s.gateway_mac = config_.gateway_mac;
    if (n.gateway) s.gateways.push_back(*n.gateway);
    if (n.gateway6) s.gateways.push_back(*n.gateway6);
    if (auto flood = evpn_.flood_list(n.vni)) s.flood = *flood;
    if (auto macs = evpn_.macs(n.vni)) {
      for (const evpn::MacRow& m : *macs) {
        if (m.local) continue;  // ours: the bridge has it on its port
        s.macs.push_back({m.mac, m.winner.vtep});
        for (const IpAddress& ip : m.winner.ips) s.ips.push_back({ip, m.mac});
      }
    }
    d.networks.push_back(std::move(s));
  }
  return d;
}

ReconcileResult Agent::reconcile() {
  dirty_ = false;
  ReconcileResult r = agent::reconcile(kernel_, desired());
  for (const auto& e : r.errors) log::warn("agent: {}", e);
  if (!r.ok()) dirty_ = true;  // try again on the next round
  // Which bridge is which network now (indexes change when a link is made again), as the
  // reconciler found or made them: no second read of the kernel's links.
  bridges_.clear();
  vxlan_ports_.clear();
  for (const NetworkDevices& d : r.devices) {
    bridges_[d.bridge] = d.vni;
    if (d.vxlan != 0) vxlan_ports_[d.vxlan] = d.bridge;
  }
  return r;
}

std::optional<uint32_t> Agent::vni_of_bridge(int ifindex) {
  auto it = bridges_.find(ifindex);
  if (it == bridges_.end()) return std::nullopt;
  return it->second;
}

void Agent::learn_mac(uint32_t vni, const MacAddress& mac, const std::optional<IpAddress>& ip,
                      bool removed) {
  if (mac == config_.gateway_mac || (mac.bytes[0] & 1) != 0 || mac == MacAddress{}) return;
  if (removed) {
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

void Agent::on_event(const kernel::Event& event) {
  if (const auto* f = std::get_if<kernel::FdbEvent>(&event)) {
    const kernel::FdbEntry& e = f->entry;
    if (e.self || e.state & NUD_PERMANENT) {
      // Our own entries on the VXLAN device: one that goes away under us is put back.
      if (f->removed && vxlan_ports_.contains(e.ifindex)) mark_dirty();
      return;
    }
    if (vxlan_ports_.contains(e.ifindex)) return;  // learned from the overlay: not local
    auto vni = vni_of_bridge(e.master);
    if (!vni) return;
    learn_mac(*vni, e.mac, std::nullopt, f->removed);
    return;
  }
  if (const auto* n = std::get_if<kernel::NeighbourEvent>(&event)) {
    const kernel::Neighbour& x = n->neighbour;
    auto vni = vni_of_bridge(x.ifindex);
    if (!vni) return;
    if (x.extern_learned) {
      if (n->removed) mark_dirty();  // ours (a remote binding): put it back if still wanted
      return;
    }
    if (x.ip.is_link_local() || !x.mac) return;
    const bool gone = n->removed || (x.state & (NUD_FAILED | NUD_INCOMPLETE)) != 0;
    learn_mac(*vni, *x.mac, x.ip, gone);
    return;
  }
  if (const auto* l = std::get_if<kernel::LinkEvent>(&event)) {
    if (l->removed && (bridges_.contains(l->link.index) || vxlan_ports_.contains(l->link.index)))
      mark_dirty();
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
