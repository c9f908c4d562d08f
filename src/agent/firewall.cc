#include "agent/firewall.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

namespace isthmus::agent {
namespace {

bool shares_subnet(const DesiredState& d) {
  for (const NetworkState& a : d.networks)
    for (const NetworkState& b : d.networks) {
      if (a.vni >= b.vni || a.table == b.table || a.table == 0 || b.table == 0) continue;
      for (const GatewayAddress& g : a.gateways)
        for (const GatewayAddress& h : b.gateways) {
          if (g.ip.family() != h.ip.family()) continue;
          const Prefix x(g.ip, g.length), y(h.ip, h.length);
          if (x.contains(y) || y.contains(x)) return true;
        }
    }
  return false;
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "\"" : ", \"") + n + "\"";
  return out;
}

}  // namespace

bool firewall_needed(const DesiredState& d) {
  if (!d.l3vnis.empty()) return true;
  if (std::any_of(d.networks.begin(), d.networks.end(),
                  [](const NetworkState& n) { return n.nat_outgoing && n.table != 0; }))
    return true;
  return shares_subnet(d);
}

FirewallState firewall_state(const DesiredState& d, const std::vector<Prefix>& underlay) {
  struct Sets {
    std::set<std::string> interfaces, nat, uplinks;
  };
  std::map<uint32_t, Sets> vrfs;
  for (const NetworkState& n : d.networks) {
    if (n.table < kTableBase || n.gateways.empty()) continue;
    Sets& v = vrfs[n.table - kTableBase];
    v.interfaces.insert(bridge_name(n.vni));
    if (n.nat_outgoing) v.nat.insert(bridge_name(n.vni));
  }
  for (const L3VniState& l : d.l3vnis) {
    if (l.table < kTableBase) continue;
    Sets& v = vrfs[l.table - kTableBase];
    v.interfaces.insert(bridge_name(l.vni));
    v.uplinks.insert(l.uplinks.begin(), l.uplinks.end());
  }
  FirewallState s;
  for (const auto& [mark, v] : vrfs)
    s.vrfs.push_back({mark,
                      {v.interfaces.begin(), v.interfaces.end()},
                      {v.nat.begin(), v.nat.end()},
                      {v.uplinks.begin(), v.uplinks.end()}});
  // The underlay: the VTEP's subnets and every remote VTEP. A prefix inside another is left out
  // (nft refuses overlapping elements of an interval set).
  std::set<Prefix> all(underlay.begin(), underlay.end());
  for (const NetworkState& n : d.networks)
    for (const IpAddress& v : n.flood) all.insert(Prefix(v, v.is_v4() ? 32 : 128));
  for (const L3VniState& l : d.l3vnis)
    for (const L3Route& r : l.routes) all.insert(Prefix(r.vtep, r.vtep.is_v4() ? 32 : 128));
  for (const Prefix& p : all)
    if (std::none_of(all.begin(), all.end(),
                     [&](const Prefix& q) { return q != p && q.contains(p); }))
      s.underlay.push_back(p);
  return s;
}

std::string firewall_ruleset(const FirewallState& s) {
  std::string out;
  auto line = [&](int indent, const std::string& text) {
    out += std::string(static_cast<size_t>(indent), '\t') + text + "\n";
  };
  const std::string mask = fmt::format("{:#010x}", kMarkVrfMask);
  const std::string keep = fmt::format("{:#010x}", ~kMarkVrfMask);
  std::vector<std::string> all, uplinks;
  std::string marks;
  for (const FirewallVrf& v : s.vrfs) {
    for (const std::string& i : v.interfaces) {
      all.push_back(i);
      marks += fmt::format("{}\"{}\" : {:#010x}", marks.empty() ? "" : ", ", i, v.mark);
    }
    uplinks.insert(uplinks.end(), v.uplinks.begin(), v.uplinks.end());
  }
  std::sort(all.begin(), all.end());
  std::sort(uplinks.begin(), uplinks.end());
  // Every interface of a VRF, and which VRF it is.
  line(1, "set vrf_interfaces {");
  line(2, "type ifname");
  if (!all.empty()) line(2, "elements = { " + quoted_list(all) + " }");
  line(1, "}");
  // The links to the VRFs' gateways: their traffic is the VRFs' own, never NAT's.
  line(1, "set vrf_uplinks {");
  line(2, "type ifname");
  if (!uplinks.empty()) line(2, "elements = { " + quoted_list(uplinks) + " }");
  line(1, "}");
  line(1, "map vrf_marks {");
  line(2, "type ifname : mark");
  if (!marks.empty()) line(2, "elements = { " + marks + " }");
  line(1, "}");
  // What egress NAT keeps out.
  for (IpFamily f : {IpFamily::V4, IpFamily::V6}) {
    std::string elements;
    for (const Prefix& p : s.underlay)
      if (p.family() == f) elements += (elements.empty() ? "" : ", ") + p.to_string();
    line(1, f == IpFamily::V4 ? "set underlay4 {" : "set underlay6 {");
    line(2, f == IpFamily::V4 ? "type ipv4_addr" : "type ipv6_addr");
    line(2, "flags interval");
    if (!elements.empty()) line(2, "elements = { " + elements + " }");
    line(1, "}");
  }
  // The VRF of a connection: that of the interface its first packet came in on. Replies that
  // come in elsewhere (from outside, to a NAT network's workload) are routed by it.
  const std::string marked = "ct direction reply ct mark and " + mask + " != 0";
  const std::string set_mark = "meta mark set ct mark and " + mask;
  line(1, "chain prerouting {");
  line(2, "type filter hook prerouting priority mangle; policy accept;");
  line(2, "ct state new ct mark set iifname map @vrf_marks");
  line(2, "iifname != @vrf_interfaces " + marked + " " + set_mark);
  line(1, "}");
  // The node's own answers: `type route` routes the packet again once its mark is set.
  line(1, "chain output {");
  line(2, "type route hook output priority mangle; policy accept;");
  line(2, marked + " " + set_mark);
  line(1, "}");
  // Routed: the mark bits go (a VXLAN device routes the encapsulated packet with its mark).
  line(1, "chain postrouting_mangle {");
  line(2, "type filter hook postrouting priority mangle; policy accept;");
  line(2, marked + " meta mark set meta mark and " + keep);
  line(1, "}");
  bool nat = false;
  for (const FirewallVrf& v : s.vrfs) nat = nat || !v.nat.empty();
  if (!nat) return out;
  // Egress NAT: a NAT network's packet that leaves elsewhere than through its VRF's own
  // interfaces was routed by main.
  line(1, "chain forward {");
  line(2, "type filter hook forward priority filter; policy accept;");
  for (const FirewallVrf& v : s.vrfs) {
    if (v.nat.empty()) continue;
    std::vector<std::string> own = v.interfaces;
    own.insert(own.end(), v.uplinks.begin(), v.uplinks.end());
    std::sort(own.begin(), own.end());
    line(2, "iifname { " + quoted_list(v.nat) + " } oifname != { " + quoted_list(own) +
                " } jump nat_outgoing");
  }
  // From outside the VRFs (every interface forwards IPv4 for the replies of NAT) only replies
  // and connections the node itself forwards on purpose (DNAT: a port mapping) reach a VRF's
  // network: main's connected routes would take anything else to it.
  line(2,
       "iifname != @vrf_interfaces iifname != @vrf_uplinks oifname @vrf_interfaces ct direction "
       "original ct status & dnat == 0 drop");
  line(1, "}");
  line(1, "chain nat_outgoing {");
  line(2, "oifname @vrf_interfaces reject with icmpx type admin-prohibited");
  line(2, "ip daddr @underlay4 reject with icmpx type admin-prohibited");
  line(2, "ip6 daddr @underlay6 reject with icmpx type admin-prohibited");
  line(1, "}");
  line(1, "chain postrouting {");
  line(2, "type nat hook postrouting priority srcnat; policy accept;");
  for (const FirewallVrf& v : s.vrfs)
    if (!v.nat.empty())
      line(2, fmt::format("ct direction original ct mark and {} == {:#010x} oifname != "
                          "@vrf_interfaces oifname != @vrf_uplinks masquerade",
                          mask, v.mark));
  line(1, "}");
  return out;
}

}  // namespace isthmus::agent
