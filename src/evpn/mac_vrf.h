// MAC-VRFs (EVPN instances, VLAN-based service, RFC 7432 §6.1): one per VNI, with its RD and
// import/export route targets. A route belongs to a MAC-VRF when it carries one of the MAC-VRF's
// import route targets (RFC 7432 §9.2.1); a MAC advertised by several VTEPs (a move in progress,
// or a duplicate) resolves as RFC 7432 §15 says (wins()).
//
// The tables (remote MACs, flood lists, local MACs) are evpn::Instance's (instance.h), fed
// incrementally from the Loc-RIB; this file has the per-VRF values and route builders.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "bgp/rib/peer.h"
#include "bgp/wire/evpn.h"
#include "bgp/wire/types.h"
#include "core/ip.h"
#include "evpn/ip_vrf.h"

namespace isthmus::evpn {

struct MacVrf {
  uint32_t vni = 0;
  bgp::RouteDistinguisher rd;
  std::vector<bgp::ExtCommunity> import_rts;
  std::vector<bgp::ExtCommunity> export_rts;
  // The L3 VNI of the IP-VRF (tenant) the network belongs to, for symmetric IRB (RFC 9135); 0:
  // none (the network is routed at the node only, or not at all).
  uint32_t l3_vni = 0;
};

// What the configuration leaves unset, derived: RD <router_id>:<index> (type 1, RFC 7432 §7.9;
// index from 1), route targets <asn>:<vni> (RFC 8365 §5.1.2.1, FRR's form).
MacVrf resolve(uint32_t vni, const std::optional<bgp::RouteDistinguisher>& rd,
               std::span<const bgp::ExtCommunity> import_rts,
               std::span<const bgp::ExtCommunity> export_rts, uint32_t asn,
               const IpAddress& router_id, uint16_t index);

// Whether a path with these attributes is imported into the MAC-VRF.
bool imports(const MacVrf& vrf, const bgp::PathAttributes& attrs);

// One advertisement of a MAC (a type-2 route's best path) as RFC 7432 §15 compares them.
struct MacAdvertisement {
  MacAddress mac;
  std::optional<IpAddress> ip;
  IpAddress vtep;         // the next hop
  uint32_t sequence = 0;  // MAC Mobility (RFC 7432 §7.7); 0 without the community
  bool sticky = false;    // static MAC: never moves (RFC 7432 §15.2)
  bgp::RouteDistinguisher rd;
  bgp::PeerId peer = bgp::kLocalPeer;
};

// RFC 7432 §15.1-15.2: does `a` win over `b` for the same MAC? A sticky (static) advertisement
// wins over a non-sticky one; then the higher sequence number; then, for equal sequence numbers,
// the lower VTEP address.
bool wins(const MacAdvertisement& a, const MacAdvertisement& b);

// The Inclusive Multicast Ethernet Tag route (type 3, RFC 7432 §7.3, §11) by which a VTEP joins
// the VNI's flood list: RD of the MAC-VRF, Ethernet Tag 0 (VLAN-based service), originator and
// next hop the VTEP; the export route targets, the VXLAN encapsulation community (RFC 8365
// §5.1.3) and PMSI_TUNNEL ingress replication with the VNI as label (RFC 8365 §9).
std::pair<bgp::EvpnRoute, bgp::PathAttributes> imet_route(const MacVrf& vrf, const IpAddress& vtep);

// The MAC/IP advertisement route (type 2, RFC 7432 §7.2) of a MAC (and IP) that is local to this
// VTEP: RD of the MAC-VRF, single-homed (ESI 0), Ethernet Tag 0, label = VNI; next hop the VTEP,
// the export route targets and the encapsulation community, and MAC Mobility with `sequence`
// and the sticky (static) flag when either is set (RFC 7432 §7.7, §15.2).
// Symmetric IRB (RFC 9135 §5.1.1): a MAC/IP route of a network in the IP-VRF `ip_vrf` also
// carries the L3 VNI as its second label, the IP-VRF's export route targets and its Router's MAC
// (§8.1), so that VTEPs of the tenant without the network route to the IP through us. A MAC-only
// route does not (it is only bridged).
std::pair<bgp::EvpnRoute, bgp::PathAttributes> mac_route(const MacVrf& vrf, const IpVrf* ip_vrf,
                                                         const IpAddress& vtep,
                                                         const MacAddress& mac,
                                                         const std::optional<IpAddress>& ip,
                                                         uint32_t sequence, bool sticky = false);

}  // namespace isthmus::evpn
