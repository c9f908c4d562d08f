// Port security (anti-spoofing) of the workload ports the agent makes (docs/architecture.md,
// "Port security"). A frame that enters a network's bridge from such a port must come from the
// port's MAC, and an ARP, IPv4 or IPv6 packet from one of the addresses the workload was given
// (for IPv6 also its link-local address, derived from the MAC as the kernel derives it, EUI-64);
// a Neighbor Advertisement may only announce those. Everything else the port sends is dropped
// and counted per reason. Exceptions, for what a workload sends before it has an address: DHCP's
// DISCOVER from 0.0.0.0, ARP probes (RFC 5227, sender 0.0.0.0), and IPv6 duplicate address
// detection from :: (Neighbor Solicitation, MLDv2 report). VLAN-tagged frames are dropped: a
// workload's port is untagged. Ports the agent did not make (a bare-metal server behind the
// bridge, a lab's port) are not guarded: they are trusted.
//
// One nftables table of its own, `bridge isthmus`, at the bridge's prerouting hook: the rules
// never change, the ports are elements of sets keyed by port, so attaching or detaching a
// workload is one transaction of set elements (port_guard_add / port_guard_delete), not a
// rebuild; a restarted agent replaces the table whole with every port it has (one transaction:
// no gap in enforcement).
#pragma once

#include <string>
#include <vector>

#include "core/expected.h"
#include "core/ip.h"
#include "kernel/firewall.h"

namespace isthmus::agent {

inline const kernel::FirewallTable kPortGuardTable{"bridge", "isthmus"};

// The named counters of the table: the frames each check dropped.
inline constexpr const char* kPortGuardCounters[] = {"drop_vlan", "drop_mac",  "drop_arp",
                                                     "drop_ipv4", "drop_ipv6", "drop_nd"};

struct GuardedPort {
  std::string ifname;          // the host end of the workload's veth, or its tap
  MacAddress mac;              // the workload's
  std::vector<IpAddress> ips;  // the workload's (its IPv6 link-local one is added here)
  bool operator==(const GuardedPort&) const = default;
};

// fe80::/64 with the interface identifier the kernel derives from `mac` (RFC 4291 appendix A,
// modified EUI-64).
IpAddress eui64_link_local(const MacAddress& mac);

// The table's body (kernel::Firewall::replace_table) with `ports` in its sets; the error when a
// port's name is not one nft can be given (outside [A-Za-z0-9_.@-]).
Expected<std::string> port_guard_ruleset(const std::vector<GuardedPort>& ports);
// nft commands that add the port's elements to the table's sets, or delete them: one
// transaction (kernel::Firewall::apply). The same error.
Expected<std::string> port_guard_add(const GuardedPort& port);
Expected<std::string> port_guard_delete(const GuardedPort& port);

}  // namespace isthmus::agent
