#include "daemon/agent_setup.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>

#include "core/bug.h"
#include "ctl/commands.h"

namespace isthmus::daemon {

namespace {

// The host's address to use as VTEP, and the MTU of the link its tunnels leave through.
struct Vtep {
  IpAddress address;
  uint32_t mtu = 0;  // 0: unknown
};

bool is_loopback(const IpAddress& ip) {
  return ip.is_v4() ? ip.bytes()[0] == 127 : ip == *IpAddress::parse("::1");
}

// A link no packet leaves through: a VTEP address there (as routed fabrics have it, on `lo` or a
// dummy device) says nothing about the underlay's MTU.
bool is_virtual_source(const kernel::Link& l) { return l.name == "lo" || l.kind == "dummy"; }

// The main table's default route of one family with the lowest metric and an outgoing interface
// (a multipath route has none: it does not name one underlay link).
std::optional<kernel::Route> default_route(const std::vector<kernel::Route>& routes, bool v4) {
  std::optional<kernel::Route> best;
  for (const auto& r : routes)
    if (r.dst.length() == 0 && r.dst.address().is_v4() == v4 && r.oif &&
        (!best || r.metric < best->metric))
      best = r;
  return best;
}

Expected<Vtep> find_vtep(const config::Agent& a, kernel::Kernel& k) {
  auto links = k.links();
  if (!links) return unexpected(std::move(links.error()));
  auto addresses = k.addresses();
  if (!addresses) return unexpected(std::move(addresses.error()));
  auto routes = k.routes(254);
  if (!routes) return unexpected(std::move(routes.error()));
  auto link = [&](int ifindex) -> const kernel::Link* {
    for (const auto& l : *links)
      if (l.index == ifindex) return &l;
    return nullptr;
  };
  auto link_name = [&](int ifindex) {
    const kernel::Link* l = link(ifindex);
    return l ? l->name : "link " + std::to_string(ifindex);
  };
  auto usable = [](const kernel::Address& x) {
    return !x.ip.is_link_local() && !is_loopback(x.ip);
  };
  // The first usable address of the link of that family; either family (IPv4 first) if unset.
  auto first_address = [&](int ifindex, std::optional<bool> v4) -> std::optional<IpAddress> {
    std::optional<IpAddress> v6;
    for (const auto& x : *addresses) {
      if (x.ifindex != ifindex || !usable(x)) continue;
      if (x.ip.is_v4() && v4 != false) return x.ip;
      if (!x.ip.is_v4() && v4 != true && !v6) v6 = x.ip;
    }
    return v6;
  };
  // The underlay MTU for a VTEP on this link: its own, or for a loopback/dummy VTEP that of the
  // default route's interface of the VTEP's family (unknown without one).
  auto underlay_mtu = [&](int ifindex, const IpAddress& vtep) -> uint32_t {
    const kernel::Link* l = link(ifindex);
    if (l && !is_virtual_source(*l)) return l->mtu;
    auto r = default_route(*routes, vtep.is_v4());
    const kernel::Link* out = r ? link(r->oif) : nullptr;
    return out ? out->mtu : 0;
  };

  if (a.vtep) {
    std::string have;
    for (const auto& x : *addresses) {
      if (x.ip == *a.vtep) return Vtep{x.ip, underlay_mtu(x.ifindex, x.ip)};
      if (usable(x))
        have += (have.empty() ? "" : ", ") + x.ip.to_string() + " on " + link_name(x.ifindex);
    }
    return fail("agent.vtep.address " + a.vtep->to_string() +
                " is not an address of this host's interfaces (" +
                (have.empty() ? "it has none but loopback and link-local ones" : "it has " + have) +
                "): add it to the underlay interface, or set agent.vtep.address to one of them");
  }
  if (!a.vtep_interface.empty()) {
    const kernel::Link* l = nullptr;
    for (const auto& x : *links)
      if (x.name == a.vtep_interface) l = &x;
    if (!l) {
      std::string names;
      for (const auto& x : *links) names += (names.empty() ? "" : ", ") + x.name;
      return fail("agent.vtep.interface: this host has no interface \"" + a.vtep_interface +
                  "\" (it has " + names + ")");
    }
    auto addr = first_address(l->index, std::nullopt);
    if (!addr)
      return fail("agent.vtep.interface " + a.vtep_interface +
                  " has no IPv4 or IPv6 address to use as VTEP (loopback and link-local ones do "
                  "not count): add one, or set agent.vtep.address");
    return Vtep{*addr, underlay_mtu(l->index, *addr)};
  }
  // RFC 7348 §4: the VTEP address is the tunnels' outer source address; without configuration
  // it is the address of the interface the default route leaves through, IPv4 first.
  for (bool v4 : {true, false}) {
    auto r = default_route(*routes, v4);
    if (!r) continue;
    const char* family = v4 ? "IPv4" : "IPv6";
    auto addr = first_address(r->oif, v4);
    if (!addr)
      return fail(fmt::format(
          "agent.vtep: the {} default route's interface {} has no {} address to use as VTEP: "
          "add one, or set agent.vtep.address or agent.vtep.interface",
          family, link_name(r->oif), family));
    return Vtep{*addr, underlay_mtu(r->oif, *addr)};
  }
  return fail(
      "agent.vtep: no address or interface given, and no default route (IPv4 or IPv6) in the "
      "main table to find the underlay interface from: set agent.vtep.address or "
      "agent.vtep.interface");
}

}  // namespace

Expected<agent::AgentConfig> prepare_agent(config::Config& cfg, kernel::Kernel& kernel) {
  if (BUG(!cfg.agent)) return fail("no agent section");
  auto vtep = find_vtep(*cfg.agent, kernel);
  if (!vtep) return unexpected(std::move(vtep.error()));
  agent::AgentConfig ac;
  ac.vtep = vtep->address;
  // RFC 7348 §4 overhead over the underlay link's MTU; 1500 when it is unknown.
  ac.overlay_mtu = agent::overlay_mtu(vtep->mtu ? vtep->mtu : 1500, !vtep->address.is_v4());
  ac.gateway_mac = cfg.agent->gateway_mac;
  ac.reconcile_interval = std::chrono::seconds(cfg.agent->reconcile_interval);
  if (!cfg.evpn.vtep) cfg.evpn.vtep = vtep->address;
  for (const auto& n : cfg.networks) {
    agent::Network net{n.name, n.vni,          std::nullopt, std::nullopt,
                       n.vrf,  n.nat_outgoing, n.max_macs};
    if (n.gateway) net.gateway = agent::GatewayAddress{*n.gateway, n.subnet->length()};
    if (n.gateway6) net.gateway6 = agent::GatewayAddress{*n.gateway6, n.subnet6->length()};
    ac.networks.push_back(net);
    const bool has_vrf = std::any_of(cfg.evpn.vnis.begin(), cfg.evpn.vnis.end(),
                                     [&](const auto& m) { return m.vni == n.vni; });
    if (!has_vrf) {
      config::MacVrf m;
      m.vni = n.vni;
      cfg.evpn.vnis.push_back(m);
    }
  }
  // The tenants of this node's networks and of its gateways (BGP neighbors of a VRF) get an L3
  // VNI here (symmetric IRB); the others none.
  for (const config::Vrf& v : cfg.vrfs) {
    agent::Tenant t{v.name, v.l3vni, v.router_mac.value_or(MacAddress{})};
    for (const config::Neighbor& nb : cfg.bgp.neighbors)
      if (nb.vrf == v.name &&
          std::find(t.uplinks.begin(), t.uplinks.end(), nb.interface) == t.uplinks.end())
        t.uplinks.push_back(nb.interface);
    if (!t.uplinks.empty() ||
        std::any_of(cfg.networks.begin(), cfg.networks.end(),
                    [&](const config::Network& n) { return n.vrf == v.name; }))
      ac.tenants.push_back(std::move(t));
  }
  return ac;
}

std::vector<agent::ipam::NetworkPools> ipam_networks(const config::Config& cfg) {
  std::vector<agent::ipam::NetworkPools> out;
  for (const config::Network& n : cfg.networks) {
    agent::ipam::NetworkPools p;
    p.name = n.name;
    if (n.subnet && n.gateway)
      p.v4 = agent::ipam::SubnetPool{*n.subnet, *n.gateway,
                                     n.pool.empty() ? std::vector<Prefix>{*n.subnet} : n.pool};
    if (n.subnet6 && n.gateway6)
      p.v6 = agent::ipam::SubnetPool{*n.subnet6, *n.gateway6,
                                     n.pool6.empty() ? std::vector<Prefix>{*n.subnet6} : n.pool6};
    out.push_back(std::move(p));
  }
  return out;
}

namespace {

// `endpoint add --network N --tap NAME [--mac M] [--ip A]...`, `endpoint del --network N --tap
// NAME`: a VM's tap device, through the same service as the CNI plugin's containers.
Expected<nlohmann::json> endpoint_command(agent::Endpoints& endpoints,
                                          const std::vector<std::string>& args) {
  using nlohmann::json;
  const std::string usage = "usage: " + ctl::synopsis(ctl::command(ctl::CommandId::EndpointAdd)) +
                            " | " + ctl::synopsis(ctl::command(ctl::CommandId::EndpointDel));
  if (args.size() < 2 || (args[1] != "add" && args[1] != "del")) return fail(usage);
  json req = {{"op", args[1]}, {"kind", "tap"}};
  json ips = json::array();
  for (size_t i = 2; i < args.size(); i += 2) {
    if (i + 1 >= args.size()) return fail(args[i] + " needs a value; " + usage);
    const std::string& v = args[i + 1];
    if (args[i] == "--network") {
      req["network"] = v;
    } else if (args[i] == "--tap") {
      req["container_id"] = v;
      req["ifname"] = v;
    } else if (args[i] == "--mac" && args[1] == "add") {
      req["mac"] = v;
    } else if (args[i] == "--ip" && args[1] == "add") {
      ips.push_back(v);
    } else {
      return fail("unknown option " + args[i] + "; " + usage);
    }
  }
  if (!req.contains("network") || !req.contains("ifname")) return fail(usage);
  if (!ips.empty()) req["ips"] = ips;
  json resp = endpoints.handle(req);
  if (!resp.value("ok", false)) return fail(resp.value("error", std::string("failed")));
  return resp["result"];
}

// show network: the networks of this node and their devices, with what EVPN asks of them.
Expected<nlohmann::json> show_network(agent::Agent& agent, kernel::Kernel& kernel) {
  using nlohmann::json;
  json out = json::array();
  auto links = kernel.links();
  const agent::DesiredState d = agent.desired();
  for (const auto& n : agent.config().networks) {
    json j;
    j["name"] = n.name;
    j["vni"] = n.vni;
    if (n.gateway)
      j["gateway"] = n.gateway->ip.to_string() + "/" + std::to_string(n.gateway->length);
    if (n.gateway6)
      j["gateway6"] = n.gateway6->ip.to_string() + "/" + std::to_string(n.gateway6->length);
    j["vrf"] = n.vrf.empty() ? n.name : n.vrf;
    j["nat_outgoing"] = n.nat_outgoing;
    j["bridge"] = agent::bridge_name(n.vni);
    j["vxlan"] = agent::vxlan_name(n.vni);
    j["mtu"] = agent.config().overlay_mtu;
    bool up = false;
    if (links)
      for (const auto& l : *links)
        if (l.name == agent::bridge_name(n.vni)) up = l.up;
    j["up"] = up;
    for (const auto& s : d.networks) {
      if (s.vni != n.vni) continue;
      json f = json::array();
      for (const auto& v : s.flood) f.push_back(v.to_string());
      j["flood"] = std::move(f);
      j["remote_macs"] = s.macs.size();
      j["remote_ips"] = s.ips.size();
    }
    // What max_macs keeps out: remote MACs not installed, local MACs not advertised.
    const agent::MacLimitStatus limit = agent.mac_limit(n.vni);
    j["max_macs"] = n.max_macs;
    j["remote_macs_waiting"] = limit.remote_waiting;
    j["local_macs"] = limit.local_advertised;
    j["local_macs_waiting"] = limit.local_waiting;
    out.push_back(std::move(j));
  }
  return out;
}

// show endpoint: the workloads of this host, the local MACs of every network, with their IPs and
// the bridge port the kernel learned them on.
Expected<nlohmann::json> show_endpoint(agent::Agent& agent, kernel::Kernel& kernel,
                                       const agent::Endpoints* endpoints) {
  using nlohmann::json;
  auto links = kernel.links();
  if (!links) return unexpected(std::move(links.error()));
  std::map<int, std::string> names;
  std::map<std::string, int> index;
  for (const auto& l : *links) {
    names[l.index] = l.name;
    index[l.name] = l.index;
  }
  json out = json::array();
  for (const auto& n : agent.config().networks) {
    auto rows = agent.evpn().macs(n.vni);
    if (!rows) continue;
    const auto br = index.find(agent::bridge_name(n.vni));
    std::vector<kernel::FdbEntry> bridge_fdb;  // the bridge's own, not the host's whole FDB
    if (br != index.end()) {
      auto f = kernel.bridge_fdb(br->second);
      if (!f) return unexpected(std::move(f.error()));
      bridge_fdb = std::move(*f);
    }
    const auto* fdb = &bridge_fdb;
    for (const auto& row : *rows) {
      const evpn::LocalMac* m = row.local_mac;
      if (!m) continue;
      json j;
      j["network"] = n.name;
      j["vni"] = n.vni;
      j["mac"] = row.mac.to_string();
      json ips = json::array();
      for (const auto& ip : m->routes)
        if (ip) ips.push_back(ip->to_string());
      j["ips"] = std::move(ips);
      j["state"] = m->state == evpn::LocalMac::State::Local       ? "local"
                   : m->state == evpn::LocalMac::State::MovedAway ? "moved-away"
                                                                  : "conflict";
      j["sequence"] = m->sequence;
      j["advertised"] = !m->in_rib.empty();
      if (m->duplicate) j["duplicate"] = true;
      if (br != index.end())
        for (const auto& e : *fdb)
          if (!e.self && e.master == br->second && e.mac == row.mac && names.count(e.ifindex))
            j["port"] = names[e.ifindex];
      // The attachment the agent made for it (a container through CNI, a VM's tap).
      if (endpoints)
        for (const auto& [key, rec] : endpoints->records())
          if (key.network == n.name && rec.mac == row.mac) {
            j["container_id"] = key.container_id;
            j["ifname"] = key.ifname;
            j["kind"] = std::string(agent::ipam::kind_name(rec.kind));
          }
      j["node"] = agent.config().vtep.to_string();
      out.push_back(std::move(j));
    }
  }
  return out;
}

// show kernel fdb vni VNI: what the kernel holds for the network's bridge and VXLAN device.
Expected<nlohmann::json> show_kernel_fdb(kernel::Kernel& kernel,
                                         const std::vector<std::string>& args) {
  using nlohmann::json;
  if (args.size() != 5 || args[3] != "vni")
    return fail(ctl::expected(ctl::CommandId::ShowKernelFdb));
  uint32_t vni = 0;
  auto [end, ec] = std::from_chars(args[4].data(), args[4].data() + args[4].size(), vni);
  if (ec != std::errc() || end != args[4].data() + args[4].size() || vni == 0 || vni > 0xffffff)
    return fail("vni: \"" + args[4] + "\" is not a VNI (1..16777215)");
  auto links = kernel.links();
  if (!links) return unexpected(std::move(links.error()));
  int br = 0, vx = 0, vx_master = 0;
  std::map<int, std::string> names;
  for (const auto& l : *links) {
    names[l.index] = l.name;
    if (l.name == agent::bridge_name(vni)) br = l.index;
    if (l.name == agent::vxlan_name(vni)) {
      vx = l.index;
      vx_master = l.master;
    }
  }
  if (br == 0 && vx == 0)
    return fail(
        fmt::format("no {} or {} in the kernel", agent::bridge_name(vni), agent::vxlan_name(vni)));
  // The two devices' entries only, not the host's whole FDB: the bridge's (its ports', the
  // VXLAN device's own among them), and a VXLAN device's that is not its port.
  std::vector<kernel::FdbEntry> fdb;
  if (br != 0) {
    auto f = kernel.bridge_fdb(br);
    if (!f) return unexpected(std::move(f.error()));
    fdb = std::move(*f);
  }
  if (vx != 0 && (br == 0 || vx_master != br)) {
    auto f = kernel.device_fdb(vx);
    if (!f) return unexpected(std::move(f.error()));
    fdb.insert(fdb.end(), f->begin(), f->end());
  }
  json out = json::array();
  for (const auto& e : fdb) {
    if (e.ifindex != vx && e.master != br) continue;
    if (!e.self && e.master != br) continue;
    json j;
    j["mac"] = e.mac.to_string();
    j["device"] = names.count(e.ifindex) ? names[e.ifindex] : std::to_string(e.ifindex);
    if (e.dst) j["vtep"] = e.dst->to_string();
    j["self"] = e.self;
    j["extern_learned"] = e.extern_learned;
    j["state"] = e.state;
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace

std::optional<Expected<nlohmann::json>> agent_command(agent::Agent& agent, kernel::Kernel& kernel,
                                                      agent::Endpoints* endpoints,
                                                      const std::vector<std::string>& args) {
  using enum ctl::CommandId;
  const ctl::Command* c = ctl::find_command(args);
  if (!c) return std::nullopt;
  switch (c->id) {
    case ShowNetwork:
      if (args.size() != 2) return fail(ctl::expected(c->id));
      return show_network(agent, kernel);
    case ShowEndpoint:
      if (args.size() != 2) return fail(ctl::expected(c->id));
      return show_endpoint(agent, kernel, endpoints);
    case ShowKernelFdb:
      return show_kernel_fdb(kernel, args);
    case EndpointAdd:
    case EndpointDel:
      if (!endpoints) return fail("this daemon has no endpoint service");
      return endpoint_command(*endpoints, args);
    // The BGP speaker's and EVPN's (run_command).
    case ShowBgpSummary:
    case ShowBgpNeighbor:
    case ShowBgpUnicast:
    case ShowBgpUnicastShort:
    case ShowBgpEvpn:
    case ShowBgpRtc:
    case ShowBgpVrf:
    case ClearBgpNeighbor:
    case ShowEvpnVni:
    case ShowEvpnMac:
    case EvpnMac:
    case ClearEvpnDupAddr:
    case ShowEvpnIpVrf:
    case ShowEvpnPrefix:
    case EvpnPrefix:
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace isthmus::daemon
