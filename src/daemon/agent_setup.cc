#include "daemon/agent_setup.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>

#include "core/bug.h"

namespace isthmus::daemon {

namespace {

// The host's address to use as VTEP, and the MTU of the link it is on.
struct Vtep {
  IpAddress address;
  uint32_t mtu = 0;
};

Expected<Vtep> find_vtep(const config::Agent& a, kernel::Kernel& k) {
  auto links = k.links();
  if (!links) return unexpected(std::move(links.error()));
  auto addresses = k.addresses();
  if (!addresses) return unexpected(std::move(addresses.error()));
  auto link_mtu = [&](int ifindex) -> uint32_t {
    for (const auto& l : *links)
      if (l.index == ifindex) return l.mtu;
    return 0;
  };
  auto first_address = [&](int ifindex) -> std::optional<IpAddress> {
    std::optional<IpAddress> v6;
    for (const auto& x : *addresses) {
      const bool loopback =
          x.ip.is_v4() ? x.ip.bytes()[0] == 127 : x.ip == *IpAddress::parse("::1");
      if (x.ifindex != ifindex || x.ip.is_link_local() || loopback) continue;
      if (x.ip.is_v4()) return x.ip;
      if (!v6) v6 = x.ip;
    }
    return v6;
  };
  if (a.vtep) {
    for (const auto& x : *addresses)
      if (x.ip == *a.vtep) return Vtep{x.ip, link_mtu(x.ifindex)};
    return fail("agent.vtep.address " + a.vtep->to_string() +
                " is not an address of this host's interfaces");
  }
  int ifindex = 0;
  std::string from;
  if (!a.vtep_interface.empty()) {
    for (const auto& l : *links)
      if (l.name == a.vtep_interface) ifindex = l.index;
    if (ifindex == 0) return fail("agent.vtep.interface: no interface " + a.vtep_interface);
    from = "interface " + a.vtep_interface;
  } else {
    auto routes = k.routes(254);
    if (!routes) return unexpected(std::move(routes.error()));
    for (const auto& r : *routes)
      if (r.dst.length() == 0 && r.dst.address().is_v4() && r.oif) ifindex = r.oif;
    if (ifindex == 0)
      return fail(
          "agent.vtep: no address or interface given and no IPv4 default route to find "
          "the underlay interface from");
    from = "the default route's interface";
  }
  auto addr = first_address(ifindex);
  if (!addr) return fail("agent.vtep: " + from + " has no address to use as VTEP");
  return Vtep{*addr, link_mtu(ifindex)};
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
  if (!cfg.evpn.vtep) cfg.evpn.vtep = vtep->address;
  for (const auto& n : cfg.networks) {
    agent::Network net{n.name, n.vni, std::nullopt, std::nullopt};
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
  return ac;
}

std::optional<Expected<nlohmann::json>> agent_command(agent::Agent& agent, kernel::Kernel& kernel,
                                                      const std::vector<std::string>& args) {
  using nlohmann::json;
  if (args.size() == 2 && args[0] == "show" && args[1] == "network") {
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
      out.push_back(std::move(j));
    }
    return Expected<json>(std::move(out));
  }
  if (args.size() == 2 && args[0] == "show" && args[1] == "endpoint") {
    // The workloads of this host: the local MACs of every network, with their IPs and the
    // bridge port the kernel learned them on.
    auto links = kernel.links();
    auto fdb = kernel.fdb();
    if (!links) return Expected<json>(unexpected(std::move(links.error())));
    if (!fdb) return Expected<json>(unexpected(std::move(fdb.error())));
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
        out.push_back(std::move(j));
      }
    }
    return Expected<json>(std::move(out));
  }
  if (args.size() >= 2 && args[0] == "show" && args[1] == "kernel") {
    if (args.size() != 5 || args[2] != "fdb" || args[3] != "vni")
      return Expected<json>(fail("expected: show kernel fdb vni VNI"));
    uint32_t vni = 0;
    auto [end, ec] = std::from_chars(args[4].data(), args[4].data() + args[4].size(), vni);
    if (ec != std::errc() || end != args[4].data() + args[4].size() || vni == 0 || vni > 0xffffff)
      return Expected<json>(fail("vni: \"" + args[4] + "\" is not a VNI (1..16777215)"));
    auto links = kernel.links();
    if (!links) return Expected<json>(unexpected(std::move(links.error())));
    int br = 0, vx = 0;
    std::map<int, std::string> names;
    for (const auto& l : *links) {
      names[l.index] = l.name;
      if (l.name == agent::bridge_name(vni)) br = l.index;
      if (l.name == agent::vxlan_name(vni)) vx = l.index;
    }
    if (br == 0 && vx == 0)
      return Expected<json>(fail(fmt::format("no {} or {} in the kernel", agent::bridge_name(vni),
                                             agent::vxlan_name(vni))));
    auto fdb = kernel.fdb();
    if (!fdb) return Expected<json>(unexpected(std::move(fdb.error())));
    json out = json::array();
    for (const auto& e : *fdb) {
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
    return Expected<json>(std::move(out));
  }
  return std::nullopt;
}

}  // namespace isthmus::daemon
