#include "agent/reconciler.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
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

IpAddress ipv4_mapped(const IpAddress& a) {
  if (!a.is_v4()) return a;
  std::array<uint8_t, 16> b{};
  b[10] = b[11] = 0xff;
  std::copy_n(a.bytes().begin(), 4, b.begin() + 12);
  return IpAddress::v6(b);
}

namespace {

using kernel::EntryChange;
using kernel::FdbEntry;
using kernel::Link;

constexpr kernel::BridgePortInfo kVxlanPort{.learning = false, .neigh_suppress = true};
// An L3 VNI's VXLAN port: no learning (the FDB has the router MACs); nothing to suppress, no
// ARP or ND crosses it.
constexpr kernel::BridgePortInfo kL3VxlanPort{.learning = false, .neigh_suppress = false};

// What a network's or L3 VNI's bridge and VXLAN device are to be.
struct DeviceSpec {
  std::string what;  // "network 100", "L3 VNI 5001": for errors
  uint32_t vni = 0;
  uint32_t mtu = 0;
  MacAddress mac = {};
  kernel::BridgePortInfo port = {};
};

// The kernel's metric of a route given `metric` (IPv6: 0 is IP6_RT_PRIO_USER, 1024).
uint32_t kernel_metric(const kernel::Route& r) {
  return r.dst.family() == IpFamily::V6 && r.metric == 0 ? 1024 : r.metric;
}
// A wanted route `w` as the kernel shows it (`h`): an unreachable one without a device.
bool same_route(const kernel::Route& w, const kernel::Route& h) {
  return w.dst == h.dst && w.unreachable == h.unreachable && w.gateway == h.gateway &&
         w.protocol == h.protocol && w.onlink == h.onlink && kernel_metric(w) == kernel_metric(h) &&
         (w.unreachable || w.oif == h.oif);
}
// What brings a table's routes of ours from `have` to `want`: the routes to replace (missing or
// different) and ours to delete (not wanted, their key not taken over by a replace). A route's
// key in a table is its destination and metric (a replace of one takes over the other), so both
// sides are matched by key: O(n log n) for tables of 100k routes. `only_gateways`: of `have`,
// only routes with a gateway (the remote routes) are considered for deletion; `keep_gateways`:
// none of those is deleted (a restart).
struct RouteDiff {
  std::vector<kernel::EntryChange> replace;
  std::vector<kernel::EntryChange> remove;
};
RouteDiff diff_routes(const std::vector<kernel::Route>& want,
                      const std::vector<kernel::Route>& have, bool only_gateways,
                      bool keep_gateways) {
  using Key = std::pair<Prefix, uint32_t>;
  auto key = [](const kernel::Route& r) { return Key{r.dst, kernel_metric(r)}; };
  std::map<Key, const kernel::Route*> have_by_key;
  for (const kernel::Route& h : have) have_by_key.emplace(key(h), &h);
  std::set<Key> wanted;
  RouteDiff d;
  for (const kernel::Route& w : want) {
    wanted.insert(key(w));
    auto h = have_by_key.find(key(w));
    if (h == have_by_key.end() || !same_route(w, *h->second))
      d.replace.push_back(kernel::EntryChange::replace_route(w));
  }
  for (const kernel::Route& h : have) {
    if (h.protocol != kRouteProtocol || wanted.contains(key(h))) continue;
    if (h.gateway ? keep_gateways : only_gateways) continue;
    d.remove.push_back(kernel::EntryChange::delete_route(h));
  }
  return d;
}

// Whether another network here has an IPv4 subnet that overlaps `n`'s (a network of another
// VRF: the configuration allows no other overlap). The kernel makes a connected route in main for
// each of their bridges.
bool shares_ipv4_subnet(const DesiredState& d, const NetworkState& n) {
  for (const GatewayAddress& g : n.gateways) {
    if (!g.ip.is_v4()) continue;
    const Prefix mine(g.ip, g.length);
    for (const NetworkState& o : d.networks) {
      if (o.vni == n.vni) continue;
      for (const GatewayAddress& h : o.gateways) {
        const Prefix theirs(h.ip, h.length);
        if (mine.contains(theirs) || theirs.contains(mine)) return true;
      }
    }
  }
  return false;
}

// What an L3 VNI puts into the kernel for `desired`: its remote routes (through `bridge`) and
// the VTEPs they go through.
struct L3Plan {
  std::vector<kernel::Route> routes;
  std::vector<L3Vtep> vteps;
  std::vector<std::string> errors;  // routes left out (a gateway's interface is missing)
};

// The routes of a VRF's NAT table: those of the VRF's table but the defaults.
std::vector<kernel::Route> nat_routes(const std::vector<kernel::Route>& routes, uint32_t table) {
  std::vector<kernel::Route> out;
  for (kernel::Route r : routes) {
    if (r.dst.length() == 0) continue;
    r.table = table;
    out.push_back(r);
  }
  return out;
}

// `links`: the interfaces by name, for the gateway routes (nullptr: none resolved, the routes
// are left out, for l3_vteps()).
L3Plan plan_l3(const DesiredState& d, const L3VniState& l3, int bridge,
               const std::map<std::string, kernel::Link>* links = nullptr) {
  // The subnets of the tenant's networks here: their connected routes in the table win.
  std::set<Prefix> connected;
  for (const NetworkState& n : d.networks)
    if (n.table != 0 && n.table == l3.table)
      for (const GatewayAddress& g : n.gateways) connected.insert(Prefix(g.ip, g.length));
  L3Plan plan;
  std::set<Prefix> seen;
  // The gateways' routes first: they win over remote ones of the same prefix.
  for (const GatewayRoute& g : l3.gateway_routes) {
    if (connected.contains(g.prefix) || !seen.insert(g.prefix).second || !links) continue;
    auto oif = links->find(g.interface);
    if (oif == links->end()) {
      plan.errors.push_back(fmt::format("L3 VNI {}: {} via {}: no interface {}", l3.vni,
                                        g.prefix.to_string(), g.next_hop.to_string(), g.interface));
      continue;
    }
    plan.routes.push_back({.dst = g.prefix,
                           .gateway = g.next_hop,
                           .oif = oif->second.index,
                           .table = l3.table,
                           .protocol = kRouteProtocol,
                           .onlink = true});
  }
  std::map<IpAddress, MacAddress> vteps;
  for (const L3Route& r : l3.routes) {
    if (connected.contains(r.prefix) || r.vtep == d.vtep || !seen.insert(r.prefix).second) continue;
    std::optional<IpAddress> gateway;
    if (r.prefix.family() == IpFamily::V6)
      gateway = ipv4_mapped(r.vtep);  // an IPv6 VTEP stays as it is
    else if (r.vtep.is_v4())
      gateway = r.vtep;
    else
      continue;  // IPv4 through an IPv6 VTEP needs RTA_VIA: not done
    plan.routes.push_back({.dst = r.prefix,
                           .gateway = gateway,
                           .oif = bridge,
                           .table = l3.table,
                           .protocol = kRouteProtocol,
                           .onlink = true});
    auto [it, fresh] = vteps.emplace(r.vtep, r.router_mac);
    if (!fresh) it->second = std::min(it->second, r.router_mac);
  }
  for (const auto& [vtep, rmac] : vteps) plan.vteps.push_back({vtep, rmac});
  return plan;
}

// The kernel entries of an L3 VNI's remote VTEPs: neighbours on brL (IP -> router MAC) and the
// VXLAN device's FDB (router MAC -> VTEP; the first VTEP of a router MAC has it).
struct L3Entries {
  std::map<IpAddress, MacAddress> neighbours;
  std::map<MacAddress, IpAddress> fdb;
};

L3Entries l3_entries(const std::vector<L3Vtep>& vteps) {
  L3Entries e;
  for (const L3Vtep& v : vteps) {
    e.neighbours[v.vtep] = v.router_mac;
    if (v.vtep.is_v4()) e.neighbours[ipv4_mapped(v.vtep)] = v.router_mac;
    e.fdb.emplace(v.router_mac, v.vtep);
  }
  return e;
}

FdbEntry l3_fdb(int vxlan, const MacAddress& mac, const IpAddress& vtep) {
  return {.ifindex = vxlan, .mac = mac, .dst = vtep, .self = true, .extern_learned = true};
}

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
      const DeviceSpec spec{fmt::format("network {}", n.vni), n.vni, n.mtu, n.gateway_mac,
                            kVxlanPort};
      const int br = ensure_bridge(spec);
      if (br == 0) continue;
      const int vx = ensure_vxlan(spec, br);
      result_.devices.push_back({n.vni, br, vx});
      if (vx == 0) continue;
      ready.push_back({&n, br, vx});
    }
    struct L3Devices {
      const L3VniState* l3;
      int bridge;
      int vxlan;
    };
    std::vector<L3Devices> l3_ready;
    for (const L3VniState& l3 : d_.l3vnis) {
      if (std::any_of(d_.networks.begin(), d_.networks.end(),
                      [&](const NetworkState& n) { return n.vni == l3.vni; })) {
        error(fmt::format("L3 VNI {} is also a network's VNI: left alone", l3.vni));
        continue;
      }
      const DeviceSpec spec{fmt::format("L3 VNI {}", l3.vni), l3.vni, l3.mtu, l3.router_mac,
                            kL3VxlanPort};
      const int br = ensure_bridge(spec);
      if (br == 0) continue;
      const int vx = ensure_vxlan(spec, br);
      result_.l3_devices.push_back({l3.vni, br, vx});
      if (vx == 0) continue;
      l3_ready.push_back({&l3, br, vx});
    }
    // What hangs off the devices, read once after they exist: the FDB of each VXLAN device and
    // the neighbours of each bridge, never the whole host's tables (other bridges may hold
    // hundreds of thousands of entries).
    auto addresses = k_.addresses();
    std::map<uint32_t, L3Plan> plans;  // L3 VNI -> its routes and VTEPs
    if (!addresses) {
      error(addresses.error().message);
    } else {
      for (const Devices& dv : ready) {
        sync_addresses(dv.n->gateways, dv.bridge, *addresses);
        if (o_.skip_network_entries) continue;
        auto fdb = k_.device_fdb(dv.vxlan);
        auto neighbours = k_.neighbours_of(dv.bridge);
        if (!fdb || !neighbours) {
          error(!fdb ? fdb.error().message : neighbours.error().message);
          continue;
        }
        sync_fdb(*dv.n, dv.vxlan, *fdb);
        sync_neighbours(*dv.n, dv.bridge, *neighbours);
      }
      for (const L3Devices& dv : l3_ready) {
        sync_addresses({}, dv.bridge, *addresses);  // none: routed through, not to
        auto fdb = k_.device_fdb(dv.vxlan);
        auto neighbours = k_.neighbours_of(dv.bridge);
        if (!fdb || !neighbours) {
          error(!fdb ? fdb.error().message : neighbours.error().message);
          continue;
        }
        const L3Plan& plan = plans[dv.l3->vni] = plan_l3(d_, *dv.l3, dv.bridge, &by_name_);
        for (const std::string& e : plan.errors) error(e);
        sync_l3_entries(plan.vteps, dv.bridge, dv.vxlan, *fdb, *neighbours);
      }
    }
    flush(batch_);  // the FDB and neighbour changes, many to a netlink message
    std::vector<L3Routing> l3_routing;
    for (const L3Devices& dv : l3_ready)
      if (auto p = plans.find(dv.l3->vni); p != plans.end()) {
        l3_routing.push_back({dv.l3, dv.bridge, &p->second});
        result_.l3_routes[dv.l3->vni] = p->second.routes;
      }
    sync_routing(result_.devices, l3_routing);
    flush(late_);  // what the removed routes used
    remove_unwanted();
    return std::move(result_);
  }

  ReconcileResult entries(const NetworkState& n, int bridge, int vxlan) {
    auto fdb = k_.device_fdb(vxlan);
    if (!fdb) return fail_all(fdb.error().message);
    auto neighbours = k_.neighbours_of(bridge);
    if (!neighbours) return fail_all(neighbours.error().message);
    sync_fdb(n, vxlan, *fdb);
    sync_neighbours(n, bridge, *neighbours);
    flush(batch_);
    return std::move(result_);
  }

 private:
  struct L3Routing {
    const L3VniState* l3;
    int bridge;
    const L3Plan* plan;
  };

  ReconcileResult fail_all(const std::string& why) {
    result_.errors.push_back(why);
    return std::move(result_);
  }
  void error(std::string why) { result_.errors.push_back(std::move(why)); }
  // FDB and neighbour changes wait in a batch for flush().
  void queue(kernel::EntryChange c) { batch_.push_back(std::move(c)); }
  void flush(std::vector<kernel::EntryChange>& batch) {
    auto failed = k_.apply(batch);
    result_.changes += batch.size() - failed.size();
    for (auto& f : failed) error(std::move(f.error.message));
    batch.clear();
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
  int ensure_bridge(const DeviceSpec& n) {
    const std::string name = bridge_name(n.vni);
    auto it = by_name_.find(name);
    if (it != by_name_.end() && it->second.kind != "bridge") {
      error(fmt::format("{}: {} exists and is a {} link, not a bridge: left alone", n.what, name,
                        it->second.kind.empty() ? "plain" : it->second.kind));
      return 0;
    }
    if (it == by_name_.end()) {
      auto l = k_.add_link({.name = name,
                            .kind = "bridge",
                            .mtu = n.mtu,
                            .mac = n.mac,
                            .alias = owner_alias(n.vni)});
      if (!done(l)) return 0;
      it = by_name_.emplace(name, *l).first;
    }
    Link& br = it->second;
    kernel::LinkChange c;
    if (br.mtu != n.mtu) c.mtu = n.mtu;
    if (br.mac != n.mac) c.mac = n.mac;
    if (!br.up) c.up = true;
    if ((c.mtu || c.mac || c.up) && done(k_.set_link(br.index, c))) {
      br.mtu = n.mtu;
      br.mac = n.mac;
      br.up = true;
    }
    return br.index;
  }

  int ensure_vxlan(const DeviceSpec& n, int bridge) {
    const std::string name = vxlan_name(n.vni);
    const kernel::VxlanInfo want{n.vni, d_.vtep, d_.vxlan_port, false};
    auto it = by_name_.find(name);
    if (it != by_name_.end() && it->second.kind != "vxlan") {
      error(fmt::format("{}: {} exists and is a {} link, not VXLAN: left alone", n.what, name,
                        it->second.kind.empty() ? "plain" : it->second.kind));
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
    if (vx.port != n.port) {
      if (!done(k_.set_bridge_port(vx.index, n.port))) return 0;
      vx.port = n.port;
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

  void sync_addresses(const std::vector<GatewayAddress>& gateways, int bridge,
                      const std::vector<kernel::Address>& have) {
    for (const GatewayAddress& g : gateways) {
      const kernel::Address a{bridge, g.ip, g.length};
      if (std::find(have.begin(), have.end(), a) == have.end()) done(k_.add_address(a));
    }
    for (const kernel::Address& a : have) {
      if (a.ifindex != bridge || a.ip.is_link_local()) continue;  // fe80:: is the kernel's
      const GatewayAddress g{a.ip, a.length};
      if (std::find(gateways.begin(), gateways.end(), g) == gateways.end())
        done(k_.delete_address(a));
    }
  }

  // An L3 VNI's VTEP entries: what is missing or wrong now (before the routes that use it),
  // what is not wanted after the routes (late_).
  void sync_l3_entries(const std::vector<L3Vtep>& vteps, int bridge, int vxlan,
                       const std::vector<FdbEntry>& fdb,
                       const std::vector<kernel::Neighbour>& neighbours) {
    const L3Entries want = l3_entries(vteps);
    std::map<IpAddress, const kernel::Neighbour*> n_have;
    for (const kernel::Neighbour& x : neighbours)
      if (x.ifindex == bridge) n_have[x.ip] = &x;
    for (const auto& [ip, rmac] : want.neighbours) {
      auto h = n_have.find(ip);
      if (h != n_have.end() && h->second->extern_learned && h->second->mac == rmac) continue;
      queue(EntryChange::replace_neighbour({bridge, ip, rmac, 0, true}));
    }
    // Only ours go: an entry the kernel made itself (it resolved a gateway before we had an
    // entry for it) stays until it fails.
    for (const auto& [ip, x] : n_have)
      if (x->extern_learned && !want.neighbours.contains(ip) && !o_.keep_remote_entries)
        late_.push_back(EntryChange::delete_neighbour(*x));
    std::map<MacAddress, std::vector<IpAddress>> f_have;
    for (const FdbEntry& e : fdb)
      if (e.ifindex == vxlan && e.self && e.dst) f_have[e.mac].push_back(*e.dst);
    for (const auto& [rmac, vtep] : want.fdb) {
      auto h = f_have.find(rmac);
      if (h != f_have.end() && h->second == std::vector<IpAddress>{vtep}) continue;
      queue(EntryChange::add_fdb(l3_fdb(vxlan, rmac, vtep), false));
    }
    for (const auto& [rmac, dsts] : f_have) {
      if (want.fdb.contains(rmac) || o_.keep_remote_entries) continue;
      for (const IpAddress& d : dsts)
        late_.push_back(
            EntryChange::delete_fdb({.ifindex = vxlan, .mac = rmac, .dst = d, .self = true}));
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

  // Forwarding on the bridges of routed networks and L3 VNIs, a rule per bridge and family into
  // its VRF's table, the table's routes; rules and routes of ours that are not wanted go.
  void sync_routing(const std::vector<NetworkDevices>& devices, const std::vector<L3Routing>& l3s) {
    std::map<uint32_t, int> bridge;  // VNI -> bridge index
    for (const NetworkDevices& d : devices) bridge[d.vni] = d.bridge;
    std::vector<kernel::Rule> rules_want;
    std::map<uint32_t, std::vector<kernel::Route>> routes_want;  // table -> routes
    bool ipv6 = false;
    auto unreachable_default = [&](uint32_t table, IpFamily f) {
      auto& routes = routes_want[table];
      const Prefix any(f == IpFamily::V4 ? IpAddress::v4(0u) : IpAddress::v6({}), 0);
      if (std::none_of(routes.begin(), routes.end(),
                       [&](const kernel::Route& r) { return r.unreachable && r.dst == any; }))
        routes.push_back({.dst = any,
                          .table = table,
                          .protocol = kRouteProtocol,
                          .metric = kUnreachableMetric,
                          .unreachable = true});
    };
    for (const NetworkState& n : d_.networks) {
      auto br = bridge.find(n.vni);
      if (n.table == 0 || br == bridge.end()) continue;
      auto& routes = routes_want[n.table];
      for (const GatewayAddress& g : n.gateways) {
        const IpFamily f = g.ip.family();
        if (n.nat_outgoing) {
          // The VRF's routes but its defaults (the unreachable one, a gateway's), then main.
          rules_want.push_back({f, kRulePriority, bridge_name(n.vni), nat_table(n.table)});
          rules_want.push_back({f, kNatRulePriority, bridge_name(n.vni), kMainTable});
        } else {
          rules_want.push_back({f, kRulePriority, bridge_name(n.vni), n.table});
        }
        routes.push_back({.dst = Prefix(g.ip, g.length),
                          .oif = br->second,
                          .table = n.table,
                          .protocol = kRouteProtocol});
        unreachable_default(n.table, f);
        // A host here that has not spoken yet, of a network that other nodes have too: another
        // node routing to it asks for it from its own bridge (the gateway's address and MAC), and
        // the host answers to the gateway MAC, which is this bridge's own. The kernel takes the
        // answer into the bridge's neighbour table (arp_accept; for IPv6 an untracked NA, RFC
        // 9131, which also needs forwarding on the device), and the agent advertises it (the
        // other node's agent installs it over its unresolved entry). 2: only from the bridge's
        // subnets.
        const std::string conf =
            (f == IpFamily::V4 ? "net/ipv4/conf/" : "net/ipv6/conf/") + bridge_name(n.vni);
        ensure_sysctl(conf + "/forwarding");
        if (f == IpFamily::V4) {
          ensure_sysctl(conf + "/arp_accept", "2", Need::Optional);
        } else {
          ensure_sysctl(conf + "/accept_untracked_na", "2", Need::Optional);
          ipv6 = true;
        }
      }
    }
    // A subnet that networks of different VRFs share here has a connected route in main per
    // bridge. rp_filter checks a packet for the gateway itself (ARP, ping) with iif lo, in main,
    // whose first such route names one bridge: strict mode (RFC 3704) would drop what the hosts
    // of the other bridges send their gateway. These bridges check loosely (2): the source must
    // be routable (in main for the gateway, in the VRF's table for routed packets).
    for (const NetworkState& n : d_.networks)
      if (n.table != 0 && bridge.contains(n.vni) && shares_ipv4_subnet(d_, n))
        ensure_sysctl("net/ipv4/conf/" + bridge_name(n.vni) + "/rp_filter", "2");
    // What comes in over an L3 VNI is routed in its tenant's table, both families: nothing of it
    // falls through to main.
    for (const L3Routing& l : l3s) {
      for (IpFamily f : {IpFamily::V4, IpFamily::V6}) {
        rules_want.push_back({f, kRulePriority, bridge_name(l.l3->vni), l.l3->table});
        unreachable_default(l.l3->table, f);
      }
      auto& routes = routes_want[l.l3->table];
      routes.insert(routes.end(), l.plan->routes.begin(), l.plan->routes.end());
      ensure_sysctl("net/ipv4/conf/" + bridge_name(l.l3->vni) + "/forwarding");
      // The links to its gateways are the tenant's (VRF-lite): what they bring in is routed in
      // its table, nothing of it in main (the node's own addresses stay local: the local table
      // comes first).
      for (const GatewayRoute& g : l.l3->gateway_routes)
        if (g.prefix.family() == IpFamily::V6) ipv6 = true;
      for (const std::string& uplink : l.l3->uplinks) {
        for (IpFamily f : {IpFamily::V4, IpFamily::V6})
          rules_want.push_back({f, kRulePriority, uplink, l.l3->table});
        if (by_name_.contains(uplink)) {
          ensure_sysctl("net/ipv4/conf/" + uplink + "/forwarding");
        } else {
          error(fmt::format("L3 VNI {}: no interface {} (a gateway's link)", l.l3->vni, uplink));
        }
      }
    }
    // IPv6 forwards only when it does for all interfaces (the kernel has no per-device switch).
    if (ipv6) ensure_sysctl("net/ipv6/conf/all/forwarding");
    // IPv4 checks the input device: the replies to a NAT network come in on whatever interface
    // main routes to the outside through, so every interface forwards (the agent's nftables
    // table lets only replies and DNATed connections in from outside the VRFs).
    if (std::any_of(d_.networks.begin(), d_.networks.end(), [&](const NetworkState& n) {
          return n.nat_outgoing && bridge.contains(n.vni) &&
                 std::any_of(n.gateways.begin(), n.gateways.end(),
                             [](const GatewayAddress& g) { return g.ip.is_v4(); });
        }))
      ensure_sysctl("net/ipv4/conf/all/forwarding");
    // The NAT tables: their VRF's routes without the defaults.
    std::set<uint32_t> vrf_tables;
    for (const auto& [t, r] : routes_want) vrf_tables.insert(t);
    for (uint32_t t : vrf_tables)
      if (const uint32_t n = nat_table_of(d_, t); n != 0)
        routes_want[n] = nat_routes(routes_want[t], n);

    // The node's own packets of a connection marked with its VRF are routed in its table.
    if (d_.marks)
      for (uint32_t t : vrf_tables)
        for (IpFamily f : {IpFamily::V4, IpFamily::V6})
          rules_want.push_back({.family = f,
                                .priority = kMarkRulePriority,
                                .table = t,
                                .fwmark = t - kTableBase,
                                .fwmask = kMarkVrfMask});

    auto rules = k_.rules();
    if (!rules) return error(rules.error().message);
    std::set<uint32_t> tables;
    for (const auto& [t, r] : routes_want) tables.insert(t);
    auto ours = [](const kernel::Rule& r) {
      if (r.priority == kNatRulePriority) return r.table == kMainTable && !r.iif.empty();
      return (r.priority == kRulePriority || r.priority == kMarkRulePriority) &&
             r.table >= kTableBase;
    };
    for (const kernel::Rule& r : *rules) {
      if (!ours(r)) continue;
      if (r.table >= kTableBase) tables.insert(r.table);
      if (std::find(rules_want.begin(), rules_want.end(), r) == rules_want.end())
        done(k_.delete_rule(r));
    }
    for (const kernel::Rule& r : rules_want)
      if (std::find(rules->begin(), rules->end(), r) == rules->end()) done(k_.add_rule(r));
    for (uint32_t t : tables) {
      auto have = k_.routes(t);
      if (!have) return error(have.error().message);
      sync_table(routes_want[t], *have);
    }
  }

  // One table: the wanted routes in, ours that are not wanted out. A route of ours whose key a
  // wanted one took over is gone already (the replace took its place).
  void sync_table(const std::vector<kernel::Route>& want, const std::vector<kernel::Route>& have) {
    // A remote route (L3 VNI) stays during a restart.
    RouteDiff diff = diff_routes(want, have, false, o_.keep_remote_entries);
    flush(diff.replace);
    flush(diff.remove);
  }

  // Optional: a key this kernel does not have (accept_untracked_na came with Linux 5.19) is
  // noted as unsupported, not an error that a retry would not mend.
  enum class Need : uint8_t { Required, Optional };
  void ensure_sysctl(const std::string& key, const std::string& value = "1",
                     Need need = Need::Required) {
    auto v = k_.sysctl(key);
    if (v && *v == value) return;
    if (!v && need == Need::Optional) {
      result_.unsupported.push_back(v.error().message +
                                    " (silent hosts are learned only once they speak)");
      return;
    }
    done(k_.set_sysctl(key, value));
  }

  void remove_unwanted() {
    std::set<uint32_t> wanted;
    for (const NetworkState& n : d_.networks) wanted.insert(n.vni);
    for (const L3VniState& l : d_.l3vnis) wanted.insert(l.vni);
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
  std::vector<kernel::EntryChange> late_;  // after the routes
  ReconcileResult result_;
};

}  // namespace

ReconcileResult reconcile(kernel::Kernel& k, const DesiredState& desired,
                          const ReconcileOptions& options) {
  return Run(k, desired, options).go();
}

ReconcileResult reconcile_entries(kernel::Kernel& k, const NetworkState& n, int bridge, int vxlan,
                                  const ReconcileOptions& options) {
  const DesiredState none;
  return Run(k, none, options).entries(n, bridge, vxlan);
}

uint32_t nat_table(uint32_t table) { return kNatTableBase + (table - kTableBase); }

uint32_t nat_table_of(const DesiredState& d, uint32_t table) {
  for (const NetworkState& n : d.networks)
    if (n.table == table && n.nat_outgoing && !n.gateways.empty()) return nat_table(table);
  return 0;
}

std::vector<L3Vtep> l3_vteps(const DesiredState& desired, const L3VniState& l3) {
  return plan_l3(desired, l3, 0).vteps;
}

ReconcileResult apply_l3_changes(kernel::Kernel& k, const DesiredState& desired,
                                 std::span<const L3Changes> changes,
                                 const ReconcileOptions& options) {
  ReconcileResult r;
  auto apply = [&](const std::vector<EntryChange>& batch) {
    auto failed = k.apply(batch);
    r.changes += batch.size() - failed.size();
    for (auto& f : failed) r.errors.push_back(std::move(f.error.message));
  };
  for (const L3Changes& c : changes) {
    auto l3 = std::find_if(desired.l3vnis.begin(), desired.l3vnis.end(),
                           [&](const L3VniState& x) { return x.vni == c.vni; });
    if (l3 == desired.l3vnis.end()) continue;  // gone: the full reconcile removes it
    // The gateways' links by name, read when the tenant has routes through them.
    std::map<std::string, kernel::Link> links;
    if (!l3->gateway_routes.empty()) {
      auto all = k.links();
      if (!all) {
        r.errors.push_back(all.error().message);
        continue;
      }
      for (const kernel::Link& l : *all) links[l.name] = l;
    }
    const L3Plan plan = plan_l3(desired, *l3, c.bridge, &links);
    r.errors.insert(r.errors.end(), plan.errors.begin(), plan.errors.end());
    const L3Entries before = l3_entries(c.before), after = l3_entries(plan.vteps);
    // The entries the new routes need first, then the routes, then what the old ones used.
    std::vector<EntryChange> adds, deletes;
    for (const auto& [ip, rmac] : after.neighbours)
      if (auto b = before.neighbours.find(ip); b == before.neighbours.end() || b->second != rmac)
        adds.push_back(EntryChange::replace_neighbour({c.bridge, ip, rmac, 0, true}));
    for (const auto& [rmac, vtep] : after.fdb)
      if (auto b = before.fdb.find(rmac); b == before.fdb.end() || b->second != vtep)
        adds.push_back(EntryChange::add_fdb(l3_fdb(c.vxlan, rmac, vtep), false));
    if (!options.keep_remote_entries) {
      for (const auto& [ip, rmac] : before.neighbours)
        if (!after.neighbours.contains(ip))
          deletes.push_back(EntryChange::delete_neighbour({c.bridge, ip, rmac, 0, true}));
      for (const auto& [rmac, vtep] : before.fdb)
        if (!after.fdb.contains(rmac))
          deletes.push_back(EntryChange::delete_fdb(
              {.ifindex = c.vxlan, .mac = rmac, .dst = vtep, .self = true}));
    }
    apply(adds);
    // Only the remote routes (those with a gateway) are this path's: the connected routes and
    // the unreachable defaults are the full reconcile's. The tenant's table, and its NAT table
    // when it has one (the same routes but defaults).
    RouteDiff diff = diff_routes(plan.routes, c.before_routes, true, options.keep_remote_entries);
    if (const uint32_t n = nat_table_of(desired, l3->table); n != 0) {
      RouteDiff nat = diff_routes(nat_routes(plan.routes, n), nat_routes(c.before_routes, n), true,
                                  options.keep_remote_entries);
      diff.replace.insert(diff.replace.end(), nat.replace.begin(), nat.replace.end());
      diff.remove.insert(diff.remove.end(), nat.remove.begin(), nat.remove.end());
    }
    apply(diff.replace);
    apply(diff.remove);
    r.l3_routes[c.vni] = plan.routes;
    apply(deletes);
  }
  return r;
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
