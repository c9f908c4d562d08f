// IP-VRFs for EVPN IP prefix routes (type 5, RFC 9136) in the interface-less model (RFC 9136
// §4.4.1): one per L3 VNI, RD and route targets derived like the MAC-VRFs', the Router's MAC
// extended community (RFC 9135 §8.1) saying which inner destination MAC to use towards this
// VTEP, and the L3 VNI as label. Gaps: no gateway-address or interface-ful models (RFC 9136
// §4.4.2-4.4.3), no ESI (single-homed only).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bgp/wire/evpn.h"
#include "bgp/wire/types.h"
#include "core/ip.h"

namespace isthmus::evpn {

struct IpVrf {
  std::string name;  // the tenant's name (config `vrfs[].name`); empty when not from a config
  uint32_t vni = 0;  // the L3 VNI
  bgp::RouteDistinguisher rd;
  std::vector<bgp::ExtCommunity> import_rts;
  std::vector<bgp::ExtCommunity> export_rts;
  MacAddress router_mac;
  // Advertised as type-5 routes from start(): the subnets of the tenant's networks on this VTEP,
  // so that VTEPs of the tenant without those networks route to them through us.
  std::vector<Prefix> subnets;
};

// What the configuration leaves unset, derived as for MAC-VRFs: RD <router_id>:<index> (type 1,
// RFC 7432 §7.9), route targets <asn>:<vni> (RFC 8365 §5.1.2.1), and the Router's MAC
// 02:00:<router_id> (locally administered, unicast, unique per router).
IpVrf resolve_ip_vrf(uint32_t vni, const std::optional<bgp::RouteDistinguisher>& rd,
                     std::span<const bgp::ExtCommunity> import_rts,
                     std::span<const bgp::ExtCommunity> export_rts,
                     const std::optional<MacAddress>& router_mac, uint32_t asn,
                     const IpAddress& router_id, uint16_t index);

// RFC 9136 §3.1, §4.4.1: the IP Prefix route of `prefix` in the IP-VRF, from this VTEP: RD of the
// IP-VRF, ESI 0, Ethernet Tag 0, gateway 0 (of the prefix's family), label = L3 VNI; next hop
// the VTEP, the export route targets, the VXLAN encapsulation community (RFC 8365 §5.1.3) and
// the Router's MAC. `as_path`: that of a route learned from a gateway of the VRF, kept as other
// implementations keep it, so that the other VTEPs' decisions (and their gateways' loop
// detection) see where the route came from; empty for the VRF's own subnets.
std::pair<bgp::EvpnRoute, bgp::PathAttributes> ip_prefix_route(const IpVrf& vrf,
                                                               const IpAddress& vtep,
                                                               const Prefix& prefix,
                                                               const bgp::AsPath& as_path = {});

}  // namespace isthmus::evpn
