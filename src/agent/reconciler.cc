#include "agent/reconciler.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

namespace isthmus::agent {

std::string bridge_name(uint32_t vni) { return fmt::format("br{}", vni); }
std::string vxlan_name(uint32_t vni) { return fmt::format("vxlan{}", vni); }
std::string owner_alias(uint32_t vni) { return fmt::format("isthmus:{}", vni); }

uint32_t overlay_mtu(uint32_t underlay_mtu, bool ipv6_underlay) {
  const uint32_t overhead = ipv6_underlay ? 70 : 50;
  return underlay_mtu > overhead ? underlay_mtu - overhead : 0;
}

namespace {

using kernel::EntryChange;
using kernel::FdbEntry;
using kernel::Link;

constexpr kernel::BridgePortInfo kVxlanPort{.learning = false, .neigh_suppress = true};

// One reconcile run: counts changes, collects errors, goes on after each.
class Run {
 public:
  Run(kernel::Kernel& k, const DesiredState& d, const ReconcileOptions& o) : k_(k), d_(d), o_(o) {}

  ReconcileResult go() {
    auto links = k_.links();
    if (!links) return fail_all(links.error().message);
    for (const Link& l : *links) by_name_[l.name] = l;
    struct Devices {
      const NetworkState* n;
      int bridge;
      int vxlan;
    };
    std::vector<Devices> ready;
    for (const NetworkState& n : d_.networks) {
      const int br = ensure_bridge(n);
      if (br == 0) continue;
      const int vx = ensure_vxlan(n, br);
      result_.devices.push_back({n.vni, br, vx});
      if (vx == 0) continue;
      ready.push_back({&n, br, vx});
    }
    // What hangs off the devices, read once after they exist.
    auto addresses = k_.addresses();
    auto fdb = k_.fdb();
    auto neighbours = k_.neighbours();
    if (!addresses || !fdb || !neighbours) {
      error(!addresses ? addresses.error().message
            : !fdb     ? fdb.error().message
                       : neighbours.error().message);
    } else {
      for (const Devices& dv : ready) {
        sync_addresses(*dv.n, dv.bridge, *addresses);
        sync_fdb(*dv.n, dv.vxlan, *fdb);
        sync_neighbours(*dv.n, dv.bridge, *neighbours);
      }
    }
    flush();  // the FDB and neighbour changes, many to a netlink message
    sync_routing(result_.devices);
    remove_unwanted();
    return std::move(result_);
  }

 private:
  ReconcileResult fail_all(const std::string& why) {
    result_.errors.push_back(why);
    return std::move(result_);
  }
  void error(std::string why) { result_.errors.push_back(std::move(why)); }
  // FDB and neighbour changes wait in a batch for flush().
  void queue(kernel::EntryChange c) { batch_.push_back(std::move(c)); }
  void flush() {
    auto failed = k_.apply(batch_);
    result_.changes += batch_.size() - failed.size();
    for (auto& f : failed) error(std::move(f.error.message));
    batch_.clear();
  }
  template <typename T>
  bool done(const Expected<T>& r) {
    if (!r) {
      error(r.error().message);
      return false;
    }
    ++result_.changes;
    return true;
  }

  // Returns the ifindex, 0 when it cannot be had.
  int ensure_bridge(const NetworkState& n) {
    const std::string name = bridge_name(n.vni);
    auto it = by_name_.find(name);
    if (it != by_name_.end() && it->second.kind != "bridge") {
      error(fmt::format("network {}: {} exists and is a {} link, not a bridge: left alone", n.vni,
                        name, it->second.kind.empty() ? "plain" : it->second.kind));
      return 0;
    }
    if (it == by_name_.end()) {
      auto l = k_.add_link({.name = name,
                            .kind = "bridge",
                            .mtu = n.mtu,
                            .mac = n.gateway_mac,
                            .alias = owner_alias(n.vni)});
      if (!done(l)) return 0;
      it = by_name_.emplace(name, *l).first;
    }
    Link& br = it->second;
    kernel::LinkChange c;
    if (br.mtu != n.mtu) c.mtu = n.mtu;
    if (br.mac != n.gateway_mac) c.mac = n.gateway_mac;
    if (!br.up) c.up = true;
    if ((c.mtu || c.mac || c.up) && done(k_.set_link(br.index, c))) {
      br.mtu = n.mtu;
      br.mac = n.gateway_mac;
      br.up = true;
    }
    return br.index;
  }

  int ensure_vxlan(const NetworkState& n, int bridge) {
    const std::string name = vxlan_name(n.vni);
    const kernel::VxlanInfo want{n.vni, d_.vtep, d_.vxlan_port, false};
    auto it = by_name_.find(name);
    if (it != by_name_.end() && it->second.kind != "vxlan") {
      error(fmt::format("network {}: {} exists and is a {} link, not VXLAN: left alone", n.vni,
                        name, it->second.kind.empty() ? "plain" : it->second.kind));
      return 0;
    }
    if (it != by_name_.end() && it->second.vxlan != want) {
      // VNI, VTEP, port and learning cannot change in place: make it again.
      if (!done(k_.delete_link(it->second.index))) return 0;
      by_name_.erase(it);
      it = by_name_.end();
    }
    if (it == by_name_.end()) {
      auto l = k_.add_link({.name = name,
                            .kind = "vxlan",
                            .mtu = n.mtu,
                            .alias = owner_alias(n.vni),
                            .vxlan = want});
      if (!done(l)) return 0;
      it = by_name_.emplace(name, *l).first;
    }
    Link& vx = it->second;
    if (vx.master != bridge) {
      if (!done(k_.set_link(vx.index, {.master = bridge}))) return 0;
      vx.master = bridge;
      vx.port = kernel::BridgePortInfo{};
    }
    if (vx.port != kVxlanPort) {
      if (!done(k_.set_bridge_port(vx.index, kVxlanPort))) return 0;
      vx.port = kVxlanPort;
    }
    kernel::LinkChange c;
    if (vx.mtu != n.mtu) c.mtu = n.mtu;
    if (!vx.up) c.up = true;
    if ((c.mtu || c.up) && done(k_.set_link(vx.index, c))) {
      vx.mtu = n.mtu;
      vx.up = true;
    }
    return vx.index;
  }

  void sync_addresses(const NetworkState& n, int bridge, const std::vector<kernel::Address>& have) {
    for (const GatewayAddress& g : n.gateways) {
      const kernel::Address a{bridge, g.ip, g.length};
      if (std::find(have.begin(), have.end(), a) == have.end()) done(k_.add_address(a));
    }
    for (const kernel::Address& a : have) {
      if (a.ifindex != bridge || a.ip.is_link_local()) continue;  // fe80:: is the kernel's
      const GatewayAddress g{a.ip, a.length};
      if (std::find(n.gateways.begin(), n.gateways.end(), g) == n.gateways.end())
        done(k_.delete_address(a));
    }
  }

  void sync_fdb(const NetworkState& n, int vxlan, const std::vector<FdbEntry>& have) {
    const MacAddress zero{};
    std::set<IpAddress> flood_have;
    std::map<MacAddress, std::vector<IpAddress>> macs_have;
    std::set<MacAddress> bridge_have;  // the bridge's own entries for remote MACs (see below)
    for (const FdbEntry& e : have) {
      if (e.ifindex != vxlan) continue;
      if (!e.self) {
        if (e.extern_learned) bridge_have.insert(e.mac);
        continue;
      }
      if (!e.dst) continue;
      if (e.mac == zero)
        flood_have.insert(*e.dst);
      else
        macs_have[e.mac].push_back(*e.dst);
    }
    const std::set<IpAddress> flood_want(n.flood.begin(), n.flood.end());
    for (const IpAddress& v : flood_want)
      if (!flood_have.contains(v))
        queue(EntryChange::add_fdb({.ifindex = vxlan, .mac = zero, .dst = v, .self = true}, true));
    for (const IpAddress& v : flood_have)
      if (!flood_want.contains(v) && !o_.keep_remote_entries)
        queue(EntryChange::delete_fdb({.ifindex = vxlan, .mac = zero, .dst = v, .self = true}));

    std::map<MacAddress, IpAddress> macs_want;
    for (const RemoteMac& m : n.macs) macs_want[m.mac] = m.vtep;
    for (const auto& [mac, vtep] : macs_want) {
      auto h = macs_have.find(mac);
      if (h != macs_have.end() && h->second == std::vector<IpAddress>{vtep}) continue;
      queue(EntryChange::add_fdb(
          {.ifindex = vxlan, .mac = mac, .dst = vtep, .self = true, .extern_learned = true},
          false));
    }
    for (const auto& [mac, dsts] : macs_have) {
      if (macs_want.contains(mac) || o_.keep_remote_entries) continue;
      for (const IpAddress& d : dsts)
        queue(EntryChange::delete_fdb({.ifindex = vxlan, .mac = mac, .dst = d, .self = true}));
    }
    // The bridge must know that a remote MAC is behind the VXLAN port too (its learning is off
    // there): ARP/ND suppression answers only for a neighbour whose MAC the bridge's FDB has on a
    // suppressing port, and known unicast is not flooded to the local ports.
    for (const auto& [mac, vtep] : macs_want)
      if (!bridge_have.contains(mac))
        queue(EntryChange::add_fdb({.ifindex = vxlan, .mac = mac, .extern_learned = true}, false));
    for (const MacAddress& mac : bridge_have)
      if (!macs_want.contains(mac) && !o_.keep_remote_entries)
        queue(EntryChange::delete_fdb({.ifindex = vxlan, .mac = mac}));
  }

  void sync_neighbours(const NetworkState& n, int bridge,
                       const std::vector<kernel::Neighbour>& have) {
    std::map<IpAddress, const kernel::Neighbour*> by_ip;
    for (const kernel::Neighbour& x : have)
      if (x.ifindex == bridge) by_ip[x.ip] = &x;
    std::set<IpAddress> wanted;
    for (const RemoteIp& r : n.ips) {
      wanted.insert(r.ip);
      auto h = by_ip.find(r.ip);
      if (h != by_ip.end() && h->second->extern_learned && h->second->mac == r.mac) continue;
      queue(EntryChange::replace_neighbour({bridge, r.ip, r.mac, 0, true}));
    }
    // Only ours go: the kernel's own entries for local workloads stay.
    for (const auto& [ip, x] : by_ip)
      if (x->extern_learned && !wanted.contains(ip) && !o_.keep_remote_entries)
        queue(EntryChange::delete_neighbour(*x));
  }

  // Forwarding on the bridges of routed networks, a rule per bridge and family into its VRF's
  // table, the table's routes; rules and routes of ours that are not wanted go.
  void sync_routing(const std::vector<NetworkDevices>& devices) {
    std::map<uint32_t, int> bridge;  // VNI -> bridge index
    for (const NetworkDevices& d : devices) bridge[d.vni] = d.bridge;
    std::vector<kernel::Rule> rules_want;
    std::map<uint32_t, std::vector<kernel::Route>> routes_want;  // table -> routes
    bool ipv6 = false;
    for (const NetworkState& n : d_.networks) {
      auto br = bridge.find(n.vni);
      if (n.table == 0 || br == bridge.end()) continue;
      auto& routes = routes_want[n.table];
      for (const GatewayAddress& g : n.gateways) {
        const IpFamily f = g.ip.family();
        rules_want.push_back({f, kRulePriority, bridge_name(n.vni), n.table});
        routes.push_back({.dst = Prefix(g.ip, g.length),
                          .oif = br->second,
                          .table = n.table,
                          .protocol = kRouteProtocol});
        const Prefix any(f == IpFamily::V4 ? IpAddress::v4(0u) : IpAddress::v6({}), 0);
        if (std::none_of(routes.begin(), routes.end(),
                         [&](const kernel::Route& r) { return r.unreachable && r.dst == any; }))
          routes.push_back(
              {.dst = any, .table = n.table, .protocol = kRouteProtocol, .unreachable = true});
        if (f == IpFamily::V4) {
          ensure_sysctl("net/ipv4/conf/" + bridge_name(n.vni) + "/forwarding");
        } else {
          ipv6 = true;
        }
      }
    }
    // IPv6 forwards only when it does for all interfaces (the kernel has no per-device switch).
    if (ipv6) ensure_sysctl("net/ipv6/conf/all/forwarding");

    auto rules = k_.rules();
    if (!rules) return error(rules.error().message);
    std::set<uint32_t> tables;
    for (const auto& [t, r] : routes_want) tables.insert(t);
    for (const kernel::Rule& r : *rules) {
      if (r.priority != kRulePriority || r.table < kTableBase) continue;
      tables.insert(r.table);
      if (std::find(rules_want.begin(), rules_want.end(), r) == rules_want.end())
        done(k_.delete_rule(r));
    }
    for (const kernel::Rule& r : rules_want)
      if (std::find(rules->begin(), rules->end(), r) == rules->end()) done(k_.add_rule(r));
    for (uint32_t t : tables) {
      auto have = k_.routes(t);
      if (!have) return error(have.error().message);
      const auto& want = routes_want[t];
      // As the kernel shows them: IPv6 routes get a metric, an unreachable one the loopback.
      auto same = [](const kernel::Route& w, const kernel::Route& h) {
        return w.dst == h.dst && w.unreachable == h.unreachable && w.gateway == h.gateway &&
               w.protocol == h.protocol && (w.unreachable || w.oif == h.oif);
      };
      auto in = [&](const std::vector<kernel::Route>& v, const kernel::Route& r) {
        return std::any_of(v.begin(), v.end(), [&](const auto& x) { return same(r, x); });
      };
      for (const kernel::Route& r : want)
        if (!in(*have, r)) done(k_.replace_route(r));
      for (const kernel::Route& r : *have)
        if (r.protocol == kRouteProtocol && !in(want, r)) done(k_.delete_route(r));
    }
  }

  void ensure_sysctl(const std::string& key) {
    auto v = k_.sysctl(key);
    if (v && *v == "1") return;
    done(k_.set_sysctl(key, "1"));
  }

  void remove_unwanted() {
    std::set<uint32_t> wanted;
    for (const NetworkState& n : d_.networks) wanted.insert(n.vni);
    // VXLAN devices first: a bridge going first would leave them without a master for a moment.
    for (const char* kind : {"vxlan", "bridge"}) {
      for (const auto& [name, l] : by_name_) {
        if (l.kind != kind || !l.alias.starts_with("isthmus:")) continue;
        uint32_t vni = 0;
        if (std::sscanf(l.alias.c_str(), "isthmus:%u", &vni) != 1 || wanted.contains(vni)) continue;
        done(k_.delete_link(l.index));
      }
    }
  }

  kernel::Kernel& k_;
  const DesiredState& d_;
  const ReconcileOptions& o_;
  std::map<std::string, Link> by_name_;
  std::vector<kernel::EntryChange> batch_;
  ReconcileResult result_;
};

}  // namespace

ReconcileResult reconcile(kernel::Kernel& k, const DesiredState& desired,
                          const ReconcileOptions& options) {
  return Run(k, desired, options).go();
}

ReconcileResult apply_changes(kernel::Kernel& k, std::span<const NetworkChanges> changes,
                              const ReconcileOptions& options) {
  const MacAddress zero{};
  std::vector<EntryChange> batch;
  auto contains = [](const std::vector<IpAddress>& v, const IpAddress& a) {
    return std::find(v.begin(), v.end(), a) != v.end();
  };
  // What goes first, everywhere: an IP that moves to another MAC in the same batch is deleted
  // from the old one before it is bound to the new one.
  for (const NetworkChanges& n : changes) {
    if (options.keep_remote_entries) break;
    if (n.flood)
      for (const IpAddress& v : n.flood->before)
        if (!contains(n.flood->after, v))
          batch.push_back(
              EntryChange::delete_fdb({.ifindex = n.vxlan, .mac = zero, .dst = v, .self = true}));
    for (const MacChange& c : n.macs) {
      if (!c.before) continue;
      if (!c.after) {
        batch.push_back(EntryChange::delete_fdb(
            {.ifindex = n.vxlan, .mac = c.mac, .dst = c.before->vtep, .self = true}));
        batch.push_back(EntryChange::delete_fdb({.ifindex = n.vxlan, .mac = c.mac}));
      }
      for (const IpAddress& ip : c.before->ips)
        if (!c.after || !contains(c.after->ips, ip))
          batch.push_back(EntryChange::delete_neighbour({n.bridge, ip, c.mac, 0, true}));
    }
  }
  for (const NetworkChanges& n : changes) {
    if (n.flood)
      for (const IpAddress& v : n.flood->after)
        if (!contains(n.flood->before, v))
          batch.push_back(EntryChange::add_fdb(
              {.ifindex = n.vxlan, .mac = zero, .dst = v, .self = true}, true));
    for (const MacChange& c : n.macs) {
      if (!c.after) continue;
      if (!c.before || c.before->vtep != c.after->vtep)
        batch.push_back(EntryChange::add_fdb({.ifindex = n.vxlan,
                                              .mac = c.mac,
                                              .dst = c.after->vtep,
                                              .self = true,
                                              .extern_learned = true},
                                             false));
      if (!c.before)  // the bridge's entry on the VXLAN port (see sync_fdb)
        batch.push_back(EntryChange::add_fdb(
            {.ifindex = n.vxlan, .mac = c.mac, .extern_learned = true}, false));
      for (const IpAddress& ip : c.after->ips)
        if (!c.before || !contains(c.before->ips, ip))
          batch.push_back(EntryChange::replace_neighbour({n.bridge, ip, c.mac, 0, true}));
    }
  }
  ReconcileResult r;
  auto failed = k.apply(batch);
  r.changes = batch.size() - failed.size();
  for (auto& f : failed) r.errors.push_back(std::move(f.error.message));
  return r;
}

}  // namespace isthmus::agent
