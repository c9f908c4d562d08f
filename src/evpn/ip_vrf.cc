// IP-VRFs (see ip_vrf.h).
#include "evpn/ip_vrf.h"

#include "bgp/wire/ext_community.h"

namespace isthmus::evpn {

IpVrf resolve_ip_vrf(uint32_t vni, const std::optional<bgp::RouteDistinguisher>& rd,
                     std::span<const bgp::ExtCommunity> import_rts,
                     std::span<const bgp::ExtCommunity> export_rts,
                     const std::optional<MacAddress>& router_mac, uint32_t asn,
                     const IpAddress& router_id, uint16_t index) {
  IpVrf v;
  v.vni = vni;
  v.rd = rd ? *rd : bgp::RouteDistinguisher::ipv4(router_id, index);
  const bgp::ExtCommunity derived = bgp::auto_route_target(asn, vni);
  v.import_rts.assign(import_rts.begin(), import_rts.end());
  v.export_rts.assign(export_rts.begin(), export_rts.end());
  if (v.import_rts.empty()) v.import_rts.push_back(derived);
  if (v.export_rts.empty()) v.export_rts.push_back(derived);
  if (router_mac) {
    v.router_mac = *router_mac;
  } else {
    const auto& b = router_id.bytes();
    v.router_mac.bytes = {0x02, 0x00, b[0], b[1], b[2], b[3]};
  }
  return v;
}

std::pair<bgp::EvpnRoute, bgp::PathAttributes> ip_prefix_route(const IpVrf& vrf,
                                                               const IpAddress& vtep,
                                                               const Prefix& prefix,
                                                               const bgp::AsPath& as_path) {
  bgp::EvpnIpPrefix r;
  r.rd = vrf.rd;
  r.ethernet_tag = 0;
  r.prefix = prefix;
  r.gateway = prefix.address().is_v4() ? IpAddress::v4(0u) : IpAddress::v6({});
  r.label = vrf.vni;
  bgp::PathAttributes a;
  a.origin = bgp::Origin::Igp;
  a.as_path = as_path;
  a.next_hop = vtep;
  a.ext_communities = vrf.export_rts;
  a.ext_communities.push_back(bgp::Encapsulation{}.encode());
  a.ext_communities.push_back(bgp::RouterMac{vrf.router_mac}.encode());
  return {bgp::EvpnRoute{r}, std::move(a)};
}

}  // namespace isthmus::evpn
