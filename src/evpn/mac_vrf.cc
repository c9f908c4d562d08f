// MAC-VRFs (see mac_vrf.h).
#include "evpn/mac_vrf.h"

#include <algorithm>

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

std::pair<bgp::EvpnRoute, bgp::PathAttributes> mac_route(const MacVrf& vrf, const IpVrf* ip_vrf,
                                                         const IpAddress& vtep,
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
  if (ip_vrf && ip) {
    r.label2 = ip_vrf->vni;
    for (const auto& rt : ip_vrf->export_rts)
      if (std::find(a.ext_communities.begin(), a.ext_communities.end(), rt) ==
          a.ext_communities.end())
        a.ext_communities.push_back(rt);
    a.ext_communities.push_back(bgp::RouterMac{ip_vrf->router_mac}.encode());
  }
  return {bgp::EvpnRoute{r}, std::move(a)};
}

}  // namespace isthmus::evpn
