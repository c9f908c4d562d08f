#include "kernel/fake_kernel.h"

#include <fmt/format.h>
#include <linux/neighbour.h>

#include <algorithm>

namespace isthmus::kernel {

FakeKernel::FakeKernel(RouteChecks checks) : checks_(checks) {
  Link lo;
  lo.index = 1;
  lo.name = "lo";
  lo.mtu = 65536;
  lo.up = true;
  links_.push_back(lo);
}

void FakeKernel::fail_next(std::string prefix, std::string reason) {
  failures_.emplace_back(std::move(prefix), std::move(reason));
}

Expected<void> FakeKernel::change(std::string line) {
  for (auto it = failures_.begin(); it != failures_.end(); ++it) {
    if (line.starts_with(it->first)) {
      std::string why = line + ": " + it->second;
      failures_.erase(it);
      return fail(std::move(why));
    }
  }
  changes_.push_back(std::move(line));
  return {};
}

Link* FakeKernel::find(int ifindex) {
  auto it =
      std::find_if(links_.begin(), links_.end(), [&](const Link& l) { return l.index == ifindex; });
  return it == links_.end() ? nullptr : &*it;
}

Expected<Link*> FakeKernel::need(int ifindex, const std::string& what) {
  Link* l = find(ifindex);
  if (!l) return fail(fmt::format("{} link {}: No such device", what, ifindex));
  return l;
}

Expected<std::vector<Link>> FakeKernel::links() { return links_; }

Expected<Link> FakeKernel::add_link(const LinkSpec& spec) {
  const std::string what = fmt::format("RTM_NEWLINK {} ({})", spec.name, spec.kind);
  if (spec.name.empty() || spec.name.size() > 15)
    return fail(what + ": Invalid argument (name must be 1..15 characters)");
  auto exists = [&](const std::string& name) {
    return std::any_of(links_.begin(), links_.end(), [&](const Link& l) { return l.name == name; });
  };
  if (exists(spec.name)) return fail(what + ": File exists");
  if (spec.kind != "bridge" && spec.kind != "vxlan" && spec.kind != "veth")
    return fail(what + ": Operation not supported");
  if (spec.kind == "vxlan") {
    if (!spec.vxlan || spec.vxlan->vni == 0 || spec.vxlan->vni > 0xffffff)
      return fail(what + ": Invalid argument (VXLAN needs a VNI of 1..16777215)");
    for (const Link& l : links_)
      if (l.vxlan && l.vxlan->vni == spec.vxlan->vni && l.vxlan->port == spec.vxlan->port)
        return fail(what + ": File exists (A VXLAN device with the specified VNI already exists)");
  }
  if (spec.kind == "veth" &&
      (spec.veth_peer.empty() || exists(spec.veth_peer) || spec.veth_peer == spec.name))
    return fail(what + ": File exists (veth peer name)");
  if (auto ok = change("add_link " + spec.name); !ok) return unexpected(std::move(ok.error()));
  auto make = [&](const std::string& name) {
    Link l;
    l.index = next_index_++;
    l.name = name;
    l.kind = spec.kind;
    l.mtu = spec.mtu ? spec.mtu : 1500;
    l.mac =
        spec.mac.value_or(MacAddress{{0x02, 0x00, 0x00, 0x00, static_cast<uint8_t>(l.index >> 8),
                                      static_cast<uint8_t>(l.index)}});
    l.vxlan = spec.vxlan;
    l.alias = spec.alias;
    return l;
  };
  links_.push_back(make(spec.name));
  Link created = links_.back();
  // The other end of a veth pair moved to another namespace is not ours to see.
  if (spec.kind == "veth" && spec.veth_peer_netns_fd < 0) links_.push_back(make(spec.veth_peer));
  return created;
}

Expected<void> FakeKernel::set_link(int ifindex, const LinkChange& c) {
  auto l = need(ifindex, "RTM_NEWLINK");
  if (!l) return unexpected(std::move(l.error()));
  if (c.mtu && (*c.mtu < 68 || *c.mtu > 65535))
    return fail(fmt::format("RTM_NEWLINK {}: Invalid argument (MTU {})", (*l)->name, *c.mtu));
  if (c.master && *c.master != 0) {
    Link* m = find(*c.master);
    if (!m || m->kind != "bridge" || *c.master == ifindex)
      return fail(fmt::format("RTM_NEWLINK {}: Operation not supported (master {} is not a bridge)",
                              (*l)->name, *c.master));
  }
  std::string line = "set_link " + (*l)->name;
  if (c.up) line += *c.up ? " up" : " down";
  if (c.mtu) line += fmt::format(" mtu {}", *c.mtu);
  if (c.master) line += fmt::format(" master {}", *c.master);
  if (c.mac) line += " address " + c.mac->to_string();
  if (c.alias) line += " alias " + *c.alias;
  if (auto ok = change(line); !ok) return ok;
  Link& link = **l;
  if (c.up) link.up = *c.up;
  if (c.mtu) link.mtu = *c.mtu;
  if (c.mac) link.mac = *c.mac;
  if (c.alias) link.alias = *c.alias;
  if (c.master) {
    if (*c.master != link.master) {
      // Leaving a bridge drops what it learned on that port.
      std::erase_if(fdb_, [&](const FdbEntry& e) { return e.ifindex == ifindex && !e.self; });
      link.port = *c.master ? std::optional<BridgePortInfo>(BridgePortInfo{}) : std::nullopt;
    }
    link.master = *c.master;
  }
  return {};
}

Expected<void> FakeKernel::set_bridge_port(int ifindex, const BridgePortInfo& port) {
  auto l = need(ifindex, "RTM_NEWLINK bridge port");
  if (!l) return unexpected(std::move(l.error()));
  if (!(*l)->port)
    return fail(fmt::format(
        "RTM_NEWLINK bridge port {}: Operation not supported (not a bridge port)", (*l)->name));
  if (auto ok = change(fmt::format("set_bridge_port {} learning {} neigh_suppress {}", (*l)->name,
                                   port.learning, port.neigh_suppress));
      !ok)
    return ok;
  (*l)->port = port;
  return {};
}

Expected<void> FakeKernel::delete_link(int ifindex) {
  auto l = need(ifindex, "RTM_DELLINK");
  if (!l) return unexpected(std::move(l.error()));
  if (auto ok = change("delete_link " + (*l)->name); !ok) return ok;
  std::vector<int> gone{ifindex};
  // A veth takes its other end with it (the pair is made in one call here, names adjacent).
  if ((*l)->kind == "veth")
    for (const Link& o : links_)
      if (o.kind == "veth" && o.index != ifindex &&
          (o.index == ifindex + 1 || o.index == ifindex - 1))
        gone.push_back(o.index);
  auto is_gone = [&](int i) { return std::find(gone.begin(), gone.end(), i) != gone.end(); };
  for (Link& o : links_)
    if (is_gone(o.master)) {
      o.master = 0;
      o.port.reset();
    }
  std::erase_if(links_, [&](const Link& o) { return is_gone(o.index); });
  std::erase_if(addresses_, [&](const Address& a) { return is_gone(a.ifindex); });
  std::erase_if(routes_, [&](const Route& r) { return is_gone(r.oif); });
  std::erase_if(neighbours_, [&](const Neighbour& n) { return is_gone(n.ifindex); });
  std::erase_if(fdb_, [&](const FdbEntry& e) { return is_gone(e.ifindex) || is_gone(e.master); });
  return {};
}

Expected<std::vector<Address>> FakeKernel::addresses() { return addresses_; }

Expected<void> FakeKernel::add_address(const Address& a) {
  auto l = need(a.ifindex, "RTM_NEWADDR " + a.to_string());
  if (!l) return unexpected(std::move(l.error()));
  if (auto ok = change(fmt::format("add_address {} {}", (*l)->name, a.to_string())); !ok) return ok;
  if (std::find(addresses_.begin(), addresses_.end(), a) == addresses_.end())
    addresses_.push_back(a);
  return {};
}

Expected<void> FakeKernel::delete_address(const Address& a) {
  auto it = std::find(addresses_.begin(), addresses_.end(), a);
  if (it == addresses_.end())
    return fail(fmt::format("RTM_DELADDR {} on link {}: Cannot assign requested address",
                            a.to_string(), a.ifindex));
  if (auto ok = change(fmt::format("delete_address {} {}", a.ifindex, a.to_string())); !ok)
    return ok;
  addresses_.erase(it);
  return {};
}

Expected<std::vector<Route>> FakeKernel::routes(uint32_t table) {
  std::vector<Route> v;
  for (const Route& r : routes_)
    if (r.table == table) v.push_back(r);
  return v;
}

namespace {

// The kernel's metric for a route given `metric` (IPv6: 0 is IP6_RT_PRIO_USER).
uint32_t effective_metric(const Route& r) {
  return r.dst.family() == IpFamily::V6 && r.metric == 0 ? 1024 : r.metric;
}

// The kernel's key of a route: NLM_F_REPLACE takes over the entry of the same key.
bool same_key(const Route& a, const Route& b) {
  return a.dst == b.dst && a.table == b.table && effective_metric(a) == effective_metric(b);
}

}  // namespace

bool FakeKernel::gateway_reachable(const Route& r) const {
  const IpAddress& gw = *r.gateway;
  for (const Route& o : routes_)
    if ((o.table == r.table || o.table == 254) && !o.gateway && !o.unreachable && o.oif != 0 &&
        o.dst.contains(gw) && (r.oif == 0 || o.oif == r.oif))
      return true;
  // The prefix route the kernel makes (in main) for an address on an up link.
  for (const Address& a : addresses_) {
    const Link* l = nullptr;
    for (const Link& x : links_)
      if (x.index == a.ifindex) l = &x;
    if (l && l->up && Prefix(a.ip, a.length).contains(gw) && (r.oif == 0 || a.ifindex == r.oif))
      return true;
  }
  return false;
}

Expected<void> FakeKernel::replace_route(const Route& r) { return new_route(r, false); }

Expected<void> FakeKernel::add_route(const Route& r) { return new_route(r, true); }

Expected<void> FakeKernel::new_route(const Route& r, bool exclusive) {
  const std::string what = "RTM_NEWROUTE " + r.dst.to_string();
  Link* dev = r.oif ? find(r.oif) : nullptr;
  if (r.oif && !dev) return fail(what + ": No such device");
  if (r.gateway && r.gateway->family() != r.dst.family())
    return fail(what + (r.dst.family() == IpFamily::V6
                            ? ": Numerical result out of range (Attribute failed policy "
                              "validation)"
                            : ": Invalid argument (gateway of another family)"));
  if (r.gateway && r.onlink) {
    if (!dev) return fail(what + ": No such device (Nexthop device required for onlink)");
    if (std::any_of(addresses_.begin(), addresses_.end(),
                    [&](const Address& a) { return a.ifindex == r.oif && a.ip == *r.gateway; }))
      return fail(what + ": Invalid argument (Nexthop has invalid gateway)");
  } else if (r.gateway && checks_ == RouteChecks::Kernel && !gateway_reachable(r)) {
    return fail(what + ": Invalid argument (Nexthop has invalid gateway)");
  }
  // Any route through a device (a link route, a gateway's): the device must be up.
  if (dev && !dev->up && checks_ == RouteChecks::Kernel)
    return fail(what + ": Network is down (Nexthop device is not up)");
  auto it =
      std::find_if(routes_.begin(), routes_.end(), [&](const Route& o) { return same_key(o, r); });
  if (exclusive && it != routes_.end()) return fail(what + ": File exists");
  if (auto ok = change((exclusive ? "add_route " : "replace_route ") + r.dst.to_string()); !ok)
    return ok;
  Route stored = r;
  stored.metric = effective_metric(r);
  if (it == routes_.end())
    routes_.push_back(stored);
  else
    *it = stored;
  return {};
}

Expected<void> FakeKernel::delete_route(const Route& r) {
  // The kernel's match: kind always; metric, gateway and device when given; the lowest metric
  // first.
  auto match = [&](const Route& o) {
    return o.dst == r.dst && o.table == r.table && o.unreachable == r.unreachable &&
           (r.metric == 0 || o.metric == effective_metric(r)) &&
           (!r.gateway || o.gateway == r.gateway) && (r.oif == 0 || o.oif == r.oif);
  };
  auto it = routes_.end();
  for (auto o = routes_.begin(); o != routes_.end(); ++o)
    if (match(*o) && (it == routes_.end() || o->metric < it->metric)) it = o;
  if (it == routes_.end())
    return fail(fmt::format("RTM_DELROUTE {}: No such process", r.dst.to_string()));
  if (auto ok = change("delete_route " + r.dst.to_string()); !ok) return ok;
  routes_.erase(it);
  return {};
}

Expected<std::vector<Rule>> FakeKernel::rules() { return rules_; }

Expected<void> FakeKernel::add_rule(const Rule& r) {
  if (std::find(rules_.begin(), rules_.end(), r) != rules_.end())
    return fail(fmt::format("RTM_NEWRULE {}: File exists", r.to_string()));
  if (auto ok = change("add_rule " + r.to_string()); !ok) return ok;
  rules_.push_back(r);
  return {};
}

Expected<void> FakeKernel::delete_rule(const Rule& r) {
  auto it = std::find(rules_.begin(), rules_.end(), r);
  if (it == rules_.end())
    return fail(fmt::format("RTM_DELRULE {}: No such file or directory", r.to_string()));
  if (auto ok = change("delete_rule " + r.to_string()); !ok) return ok;
  rules_.erase(it);
  return {};
}

Expected<std::string> FakeKernel::sysctl(const std::string& key) {
  for (const auto& suffix : lacked_sysctls_)
    if (key.ends_with(suffix)) return fail("sysctl " + key + ": No such file or directory");
  auto it = sysctls_.find(key);
  return it == sysctls_.end() ? std::string("0") : it->second;
}

Expected<void> FakeKernel::set_sysctl(const std::string& key, const std::string& value) {
  for (const auto& suffix : lacked_sysctls_)
    if (key.ends_with(suffix))
      return fail("sysctl " + key + "=" + value + ": No such file or directory");
  if (auto ok = change("sysctl " + key + "=" + value); !ok) return ok;
  sysctls_[key] = value;
  return {};
}

Expected<std::vector<Neighbour>> FakeKernel::neighbours() {
  ++host_dumps_;
  return neighbours_;
}

Expected<std::vector<Neighbour>> FakeKernel::neighbours_of(int ifindex) {
  std::vector<Neighbour> out;
  for (const Neighbour& n : neighbours_)
    if (n.ifindex == ifindex) out.push_back(n);
  return out;
}

Expected<void> FakeKernel::replace_neighbour(const Neighbour& n) {
  auto l = need(n.ifindex, "RTM_NEWNEIGH " + n.ip.to_string());
  if (!l) return unexpected(std::move(l.error()));
  if (auto ok = change(fmt::format("replace_neighbour {} {}", (*l)->name, n.ip.to_string())); !ok)
    return ok;
  Neighbour stored = n;
  if (!stored.state) stored.state = NUD_NOARP;
  auto it = std::find_if(neighbours_.begin(), neighbours_.end(), [&](const Neighbour& o) {
    return o.ifindex == n.ifindex && o.ip == n.ip;
  });
  if (it == neighbours_.end())
    neighbours_.push_back(stored);
  else
    *it = stored;
  return {};
}

Expected<void> FakeKernel::delete_neighbour(const Neighbour& n) {
  auto it = std::find_if(neighbours_.begin(), neighbours_.end(), [&](const Neighbour& o) {
    return o.ifindex == n.ifindex && o.ip == n.ip;
  });
  if (it == neighbours_.end())
    return fail(fmt::format("RTM_DELNEIGH {} on link {}: No such file or directory",
                            n.ip.to_string(), n.ifindex));
  if (auto ok = change(fmt::format("delete_neighbour {} {}", n.ifindex, n.ip.to_string())); !ok)
    return ok;
  neighbours_.erase(it);
  return {};
}

Expected<std::vector<FdbEntry>> FakeKernel::fdb() {
  ++host_dumps_;
  return fdb_;
}

Expected<std::vector<FdbEntry>> FakeKernel::bridge_fdb(int bridge) {
  std::vector<FdbEntry> out;
  for (const FdbEntry& e : fdb_) {
    const Link* port = find(e.ifindex);
    if (e.ifindex == bridge || e.master == bridge || (port && port->master == bridge))
      out.push_back(e);
  }
  return out;
}

Expected<std::vector<FdbEntry>> FakeKernel::device_fdb(int ifindex) {
  std::vector<FdbEntry> out;
  for (const FdbEntry& e : fdb_)
    if (e.ifindex == ifindex) out.push_back(e);
  return out;
}

Expected<void> FakeKernel::add_fdb(const FdbEntry& e, bool append) {
  auto l = need(e.ifindex, "RTM_NEWNEIGH fdb " + e.mac.to_string());
  if (!l) return unexpected(std::move(l.error()));
  if (!e.self && !(*l)->port)
    return fail(fmt::format("RTM_NEWNEIGH fdb {} on {}: Invalid argument (not a bridge port)",
                            e.mac.to_string(), (*l)->name));
  auto same_mac = [&](const FdbEntry& o) {
    return o.ifindex == e.ifindex && o.mac == e.mac && o.self == e.self;
  };
  if (append && std::any_of(fdb_.begin(), fdb_.end(),
                            [&](const FdbEntry& o) { return same_mac(o) && o.dst == e.dst; }))
    return fail(
        fmt::format("RTM_NEWNEIGH fdb {} on {}: File exists", e.mac.to_string(), (*l)->name));
  if (auto ok = change(fmt::format("add_fdb {} {}{}{}{}", (*l)->name, e.mac.to_string(),
                                   e.dst ? " dst " + e.dst->to_string() : "",
                                   e.self ? "" : " master", append ? " append" : ""));
      !ok)
    return ok;
  FdbEntry stored = e;
  if (!stored.state) stored.state = NUD_NOARP;
  if (!stored.self) stored.master = (*l)->master;
  if (!append) std::erase_if(fdb_, same_mac);
  fdb_.push_back(stored);
  return {};
}

Expected<void> FakeKernel::delete_fdb(const FdbEntry& e) {
  auto it = std::find_if(fdb_.begin(), fdb_.end(), [&](const FdbEntry& o) {
    return o.ifindex == e.ifindex && o.mac == e.mac && o.self == e.self &&
           (!e.dst || o.dst == e.dst);
  });
  if (it == fdb_.end())
    return fail(fmt::format("RTM_DELNEIGH fdb {} on link {}: No such file or directory",
                            e.mac.to_string(), e.ifindex));
  if (auto ok =
          change(fmt::format("delete_fdb {} {}{}{}", e.ifindex, e.mac.to_string(),
                             e.dst ? " dst " + e.dst->to_string() : "", e.self ? "" : " master"));
      !ok)
    return ok;
  fdb_.erase(it);
  return {};
}

void FakeKernel::learn(int port, const MacAddress& mac) {
  Link* l = find(port);
  if (!l || !l->port) return;
  std::erase_if(
      fdb_, [&](const FdbEntry& o) { return o.mac == mac && !o.self && o.master == l->master; });
  FdbEntry e;
  e.ifindex = port;
  e.mac = mac;
  e.master = l->master;
  e.state = NUD_REACHABLE;
  fdb_.push_back(e);
}

}  // namespace isthmus::kernel
