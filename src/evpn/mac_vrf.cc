// MAC-VRFs (see mac_vrf.h).
#include "evpn/mac_vrf.h"

#include <algorithm>
#include <map>

#include "bgp/wire/ext_community.h"

namespace isthmus::evpn {

MacVrf resolve(uint32_t vni, const std::optional<bgp::RouteDistinguisher>& rd,
               std::span<const bgp::ExtCommunity> import_rts,
               std::span<const bgp::ExtCommunity> export_rts, uint32_t asn,
               const IpAddress& router_id, uint16_t index) {
  MacVrf m;
  m.vni = vni;
  m.rd = rd ? *rd : bgp::RouteDistinguisher::ipv4(router_id, index);
  const bgp::ExtCommunity derived = bgp::auto_route_target(asn, vni);
  m.import_rts.assign(import_rts.begin(), import_rts.end());
  m.export_rts.assign(export_rts.begin(), export_rts.end());
  if (m.import_rts.empty()) m.import_rts.push_back(derived);
  if (m.export_rts.empty()) m.export_rts.push_back(derived);
  return m;
}

bool imports(const MacVrf& vrf, const bgp::PathAttributes& attrs) {
  for (const auto& c : attrs.ext_communities)
    if (std::find(vrf.import_rts.begin(), vrf.import_rts.end(), c) != vrf.import_rts.end())
      return true;
  return false;
}

bool wins(const MacAdvertisement& a, const MacAdvertisement& b) {
  if (a.sticky != b.sticky) return a.sticky;
  if (a.sequence != b.sequence) return a.sequence > b.sequence;
  return a.vtep < b.vtep;
}

VrfView view(const bgp::Rib& rib, const MacVrf& vrf) {
  VrfView v;
  std::map<MacAddress, MacEntry> macs;
  std::vector<IpAddress> flood;
  rib.for_each_evpn_route([&](std::span<const uint8_t> key, std::span<const bgp::PathView> paths) {
    for (const auto& p : paths) {
      if (!p.best || !p.attrs || !imports(vrf, *p.attrs)) continue;
      ++v.routes;
      const auto route = bgp::evpn_route(key, p.attrs->evpn_nlri.value_or(bgp::EvpnNlriData{}));
      if (!route) continue;
      if (std::holds_alternative<bgp::EvpnImet>(route->route)) {
        // The flood list: other VTEPs (our own type-3 route is how we join theirs).
        if (p.peer != bgp::kLocalPeer)
          flood.push_back(std::get<bgp::EvpnImet>(route->route).originator);
        continue;
      }
      const auto* m = std::get_if<bgp::EvpnMacIp>(&route->route);
      if (!m) continue;
      MacAdvertisement a;
      a.mac = m->mac;
      a.ip = m->ip;
      a.vtep = p.attrs->next_hop;
      a.rd = m->rd;
      a.peer = p.peer;
      for (const auto& c : p.attrs->ext_communities) {
        if (auto mm = bgp::MacMobility::decode(c)) {
          a.sequence = mm->sequence;
          a.sticky = mm->sticky;
        }
      }
      auto [it, fresh] = macs.try_emplace(a.mac);
      MacEntry& e = it->second;
      ++e.advertisements;
      // A MAC-only and a MAC/IP route of the same VTEP are one advertisement of the MAC; the
      // IPs come from the MAC/IP routes of the winning VTEP.
      if (fresh || wins(a, e.best)) {
        if (!fresh && e.best.vtep != a.vtep) e.ips.clear();
        e.best = a;
      }
      if (a.ip && a.vtep == e.best.vtep) e.ips.push_back(*a.ip);
    }
  });
  for (auto& [mac, e] : macs) {
    std::sort(e.ips.begin(), e.ips.end());
    e.ips.erase(std::unique(e.ips.begin(), e.ips.end()), e.ips.end());
    v.macs.push_back(std::move(e));
  }
  std::sort(flood.begin(), flood.end());
  flood.erase(std::unique(flood.begin(), flood.end()), flood.end());
  v.flood_vteps = std::move(flood);
  return v;
}

std::pair<bgp::EvpnRoute, bgp::PathAttributes> imet_route(const MacVrf& vrf,
                                                          const IpAddress& vtep) {
  bgp::EvpnImet r;
  r.rd = vrf.rd;
  r.ethernet_tag = 0;
  r.originator = vtep;
  bgp::PathAttributes a;
  a.origin = bgp::Origin::Igp;
  a.next_hop = vtep;
  a.ext_communities = vrf.export_rts;
  a.ext_communities.push_back(bgp::Encapsulation{}.encode());
  a.pmsi_tunnel = bgp::PmsiTunnel::ingress_replication(vrf.vni, vtep);
  return {bgp::EvpnRoute{r}, std::move(a)};
}

std::pair<bgp::EvpnRoute, bgp::PathAttributes> mac_route(const MacVrf& vrf, const IpAddress& vtep,
                                                         const MacAddress& mac,
                                                         const std::optional<IpAddress>& ip,
                                                         uint32_t sequence, bool sticky) {
  bgp::EvpnMacIp r;
  r.rd = vrf.rd;
  r.mac = mac;
  r.ip = ip;
  r.label1 = vrf.vni;
  bgp::PathAttributes a;
  a.origin = bgp::Origin::Igp;
  a.next_hop = vtep;
  a.ext_communities = vrf.export_rts;
  a.ext_communities.push_back(bgp::Encapsulation{}.encode());
  if (sequence > 0 || sticky)
    a.ext_communities.push_back(bgp::MacMobility{sticky, sequence}.encode());
  return {bgp::EvpnRoute{r}, std::move(a)};
}

uint32_t local_sequence(const bgp::Rib& rib, const MacVrf& vrf, const MacAddress& mac) {
  std::optional<uint32_t> highest;
  rib.for_each_evpn_route([&](std::span<const uint8_t> key, std::span<const bgp::PathView> paths) {
    for (const auto& p : paths) {
      if (!p.best || !p.attrs || p.peer == bgp::kLocalPeer || !imports(vrf, *p.attrs)) continue;
      const auto route = bgp::evpn_route(key, p.attrs->evpn_nlri.value_or(bgp::EvpnNlriData{}));
      const auto* m = route ? std::get_if<bgp::EvpnMacIp>(&route->route) : nullptr;
      if (!m || m->mac != mac) continue;
      uint32_t seq = 0;
      for (const auto& c : p.attrs->ext_communities)
        if (auto mm = bgp::MacMobility::decode(c)) seq = mm->sequence;
      highest = std::max(highest.value_or(0), seq);
    }
  });
  return highest ? *highest + 1 : 0;
}

}  // namespace isthmus::evpn
