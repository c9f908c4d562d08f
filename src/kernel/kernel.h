// The kernel's forwarding state as the agent sees it: read everything of a kind, change one
// object. Two implementations: NetlinkKernel (rtnetlink, the real thing) and FakeKernel (an
// in-memory model with the kernel's rules, for the reconciler's unit tests).
//
// Every change is acknowledged before it returns; a failure names the operation, the object and
// the kernel's reason ("RTM_NEWLINK vxlan100: File exists").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/expected.h"
#include "kernel/types.h"

namespace isthmus::kernel {

class Kernel {
 public:
  virtual ~Kernel() = default;

  virtual Expected<std::vector<Link>> links() = 0;
  // Creates the link (down) and returns it as the kernel has it (its index, MAC, MTU).
  virtual Expected<Link> add_link(const LinkSpec& spec) = 0;
  virtual Expected<void> set_link(int ifindex, const LinkChange& change) = 0;
  virtual Expected<void> set_bridge_port(int ifindex, const BridgePortInfo& port) = 0;
  // Removes the link with what hangs off it (its addresses, routes, neighbours, FDB entries);
  // a bridge's ports stay, without a master.
  virtual Expected<void> delete_link(int ifindex) = 0;

  virtual Expected<std::vector<Address>> addresses() = 0;
  virtual Expected<void> add_address(const Address& a) = 0;
  virtual Expected<void> delete_address(const Address& a) = 0;

  // The unicast routes of one table (254: main).
  virtual Expected<std::vector<Route>> routes(uint32_t table) = 0;
  virtual Expected<void> replace_route(const Route& r) = 0;
  virtual Expected<void> delete_route(const Route& r) = 0;

  // Policy routing rules (both families); only those with an input interface are listed.
  virtual Expected<std::vector<Rule>> rules() = 0;
  virtual Expected<void> add_rule(const Rule& r) = 0;
  virtual Expected<void> delete_rule(const Rule& r) = 0;

  // A kernel setting of /proc/sys (`key` such as "net/ipv4/conf/br100/forwarding"), in the
  // daemon's own network namespace.
  virtual Expected<std::string> sysctl(const std::string& key) = 0;
  virtual Expected<void> set_sysctl(const std::string& key, const std::string& value) = 0;

  // IPv4 ARP and IPv6 ND entries.
  virtual Expected<std::vector<Neighbour>> neighbours() = 0;
  virtual Expected<void> replace_neighbour(const Neighbour& n) = 0;
  virtual Expected<void> delete_neighbour(const Neighbour& n) = 0;

  // The bridge forwarding database, of every bridge and VXLAN device.
  virtual Expected<std::vector<FdbEntry>> fdb() = 0;
  // `append` adds another destination for the same MAC (flood entries, 00:00:00:00:00:00);
  // otherwise the entry replaces the one for its MAC.
  virtual Expected<void> add_fdb(const FdbEntry& e, bool append) = 0;
  virtual Expected<void> delete_fdb(const FdbEntry& e) = 0;
};

}  // namespace isthmus::kernel
