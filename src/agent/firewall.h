// The agent's nftables table (`inet isthmus`, docs/architecture.md "Packet filtering and NAT"):
// what the VRFs need of the kernel's packet filter, as one ruleset that the agent replaces whole
// in one transaction (kernel::Firewall) whenever it changes, and deletes when no VRF needs it.
//
//   connection marks  the first packet of a connection that comes in on an interface of a VRF (a
//                     network's bridge, a tenant's L3 VNI bridge) marks the connection with the
//                     VRF (ct mark, bits kMarkVrfMask: the VRF's table less kTableBase). The
//                     node's own packets of such a connection in the reply direction (its answers
//                     to a workload, ICMP errors about a workload's packets) and the replies that
//                     come in from outside (egress NAT) carry it as packet mark, so that
//                     `fwmark M lookup T` (reconciler.h) routes them in the VRF's table: a subnet
//                     that two tenants share here is told apart by the mark. The mark bits go
//                     again after routing (postrouting), before a VXLAN device routes the
//                     encapsulated packet with the inner packet's mark.
//   egress NAT        per VRF with nat_outgoing networks: what their bridges forward elsewhere
//                     than to the VRF's own interfaces (routed by main, see NetworkState::
//                     nat_outgoing) is rejected towards another VRF's interface or the underlay
//                     (`underlay`: the VTEP's subnets and every remote VTEP), and otherwise
//                     masqueraded to the node's address on the way out (RFC 4787 NAT for UDP,
//                     RFC 5382 for TCP; the kernel's conntrack keeps the mappings). Every
//                     interface forwards IPv4 then (the replies come in on the underlay), so from
//                     outside the VRFs only replies and DNATed connections (a port mapping) are
//                     let into a VRF's interface.
// Nothing outside the table is read or changed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/reconciler.h"
#include "core/ip.h"
#include "kernel/firewall.h"

namespace isthmus::agent {

inline const kernel::FirewallTable kFirewallTable{"inet", "isthmus"};

struct FirewallVrf {
  uint32_t mark = 0;                         // its table less kTableBase
  std::vector<std::string> interfaces = {};  // its bridges and L3 VNI bridge, sorted
  std::vector<std::string> nat = {};         // the bridges of its nat_outgoing networks, sorted
  // The links to its gateways (BGP neighbors of the VRF, L3VniState::uplinks), sorted: what the
  // VRF routes out through them keeps its addresses, and what comes in on them is the VRF's.
  std::vector<std::string> uplinks = {};
  bool operator==(const FirewallVrf&) const = default;
};

struct FirewallState {
  std::vector<FirewallVrf> vrfs = {};  // by mark
  std::vector<Prefix> underlay = {};   // sorted, without duplicates
  bool operator==(const FirewallState&) const = default;
};

// Whether the table is needed: a tenant (an L3 VNI), a nat_outgoing network, or a subnet that
// networks of two VRFs share here. Otherwise the node's own packets need no VRF (main's routes
// are the VRFs' own) and no table is made.
bool firewall_needed(const DesiredState& d);

// The VRFs of `d` (every routed network's and L3 VNI's) and the destinations that egress NAT
// keeps out: `underlay` (the VTEP's subnets) and the remote VTEPs `d` names (flood lists, the L3
// VNIs' routes).
FirewallState firewall_state(const DesiredState& d, const std::vector<Prefix>& underlay);

// The table's body in nft syntax (kernel::Firewall::replace_table).
std::string firewall_ruleset(const FirewallState& s);

}  // namespace isthmus::agent
