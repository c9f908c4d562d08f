// The kernel's forwarding state as the agent sees it: read everything of a kind, change one
// object or a batch of FDB and neighbour changes. Two implementations: NetlinkKernel (rtnetlink,
// the real thing) and FakeKernel (an in-memory model with the kernel's rules, for the
// reconciler's unit tests).
//
// Every change (every change of a batch) is known to be made or not before the call returns; a
// failure names the operation, the object and the kernel's reason ("RTM_NEWLINK vxlan100: File
// exists").
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/expected.h"
#include "kernel/types.h"

namespace isthmus::kernel {

// One change of an FDB entry or a neighbour: what a reconcile makes by the thousand, for apply().
struct EntryChange {
  enum class Kind : uint8_t {
    AddFdb,
    AppendFdb,
    DeleteFdb,
    ReplaceNeighbour,
    DeleteNeighbour,
    ReplaceRoute,
    DeleteRoute,
  };
  Kind kind = Kind::AddFdb;
  FdbEntry fdb = {};         // the FDB kinds
  Neighbour neighbour = {};  // the neighbour kinds
  Route route = {};          // the route kinds
  static EntryChange add_fdb(const FdbEntry& e, bool append) {
    return {append ? Kind::AppendFdb : Kind::AddFdb, e, {}, {}};
  }
  static EntryChange delete_fdb(const FdbEntry& e) { return {Kind::DeleteFdb, e, {}, {}}; }
  static EntryChange replace_neighbour(const Neighbour& n) {
    return {Kind::ReplaceNeighbour, {}, n, {}};
  }
  static EntryChange delete_neighbour(const Neighbour& n) {
    return {Kind::DeleteNeighbour, {}, n, {}};
  }
  static EntryChange replace_route(const Route& r) { return {Kind::ReplaceRoute, {}, {}, r}; }
  static EntryChange delete_route(const Route& r) { return {Kind::DeleteRoute, {}, {}, r}; }
};

// A change apply() could not make: its index in the batch and why.
struct ChangeError {
  size_t index = 0;
  Error error;
};

class Kernel {
 public:
  virtual ~Kernel() = default;

  virtual Expected<std::vector<Link>> links() = 0;
  // One link by name, nullopt when there is none. This one reads every link; NetlinkKernel asks
  // the kernel for that one (a request instead of a dump that grows with the host's links).
  virtual Expected<std::optional<Link>> find_link(const std::string& name);
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

  // The unicast and unreachable routes of one table (254: main).
  virtual Expected<std::vector<Route>> routes(uint32_t table) = 0;
  // Adds the route, or replaces the one of the same table, destination and metric (the
  // kernel's key for a route: NLM_F_REPLACE takes over that entry whatever its kind, gateway or
  // device). What the kernel enforces, and FakeKernel with it:
  //  * a gateway must be of the route's family: IPv6 takes no IPv4 gateway (as a 4-octet
  //    RTA_GATEWAY: "Attribute failed policy validation", ERANGE; as RTA_VIA: "IPv6 does not
  //    support RTA_VIA attribute"); over an IPv4 VTEP an IPv6 route goes via ::ffff:V, onlink;
  //  * without `onlink` the gateway must be reachable: a link route (no gateway) that covers it,
  //    in the route's table or main, through `oif` when one is given ("Nexthop has invalid
  //    gateway"); an address's subnet on an up link is such a route;
  //  * with `onlink` a device is required ("Nexthop device required for onlink"), and the
  //    gateway must not be an address of that device ("Nexthop has invalid gateway");
  //  * the device of a route (a link route's, a gateway's) must be up ("Nexthop device is not
  //    up", ENETDOWN);
  //  * an IPv6 route given metric 0 has metric 1024 (IP6_RT_PRIO_USER).
  virtual Expected<void> replace_route(const Route& r) = 0;
  // Adds the route only if there is none of the same key (NLM_F_CREATE | NLM_F_EXCL, no
  // NLM_F_REPLACE): an existing one stays as it is and the call fails ("File exists", EEXIST).
  // Checked as replace_route is. For a namespace that is not the agent's (a workload's).
  virtual Expected<void> add_route(const Route& r) = 0;
  // Deletes the route of that table, destination and kind (unicast or unreachable) whose
  // gateway and device are those given (when given). Metric 0 matches any metric: IPv4 takes
  // the lowest, IPv6 the first; give the metric the kernel reported to delete exactly that one.
  virtual Expected<void> delete_route(const Route& r) = 0;

  // Policy routing rules (both families); only those with an input interface or a mark are
  // listed.
  virtual Expected<std::vector<Rule>> rules() = 0;
  virtual Expected<void> add_rule(const Rule& r) = 0;
  virtual Expected<void> delete_rule(const Rule& r) = 0;

  // A kernel setting of /proc/sys (`key` such as "net/ipv4/conf/br100/forwarding"), in the
  // daemon's own network namespace.
  virtual Expected<std::string> sysctl(const std::string& key) = 0;
  virtual Expected<void> set_sysctl(const std::string& key, const std::string& value) = 0;

  // IPv4 ARP and IPv6 ND entries.
  virtual Expected<std::vector<Neighbour>> neighbours() = 0;
  // The neighbours of one device (`ip neigh show dev D`). This one filters neighbours();
  // NetlinkKernel asks the kernel for that device's only (NDA_IFINDEX).
  virtual Expected<std::vector<Neighbour>> neighbours_of(int ifindex);
  virtual Expected<void> replace_neighbour(const Neighbour& n) = 0;
  virtual Expected<void> delete_neighbour(const Neighbour& n) = 0;

  // The bridge forwarding database, of every bridge and VXLAN device.
  virtual Expected<std::vector<FdbEntry>> fdb() = 0;
  // `append` adds another destination for the same MAC (flood entries, 00:00:00:00:00:00);
  // otherwise the entry replaces the one for its MAC.
  // The entries of one bridge: its ports' and its own (`bridge fdb show br B`), and of one device:
  // its own (NTF_SELF) and the bridge's for it as a port (`bridge fdb show dev D`). What the agent
  // reads of its own devices, never a dump of the whole host's (a host may hold hundreds of
  // thousands of entries of other bridges). These filter fdb(); NetlinkKernel asks the kernel for
  // that device's only (NDA_MASTER, NDA_IFINDEX).
  virtual Expected<std::vector<FdbEntry>> bridge_fdb(int bridge);
  virtual Expected<std::vector<FdbEntry>> device_fdb(int ifindex);
  virtual Expected<void> add_fdb(const FdbEntry& e, bool append) = 0;
  virtual Expected<void> delete_fdb(const FdbEntry& e) = 0;

  // Makes the changes in order, each as the method of its kind would, and returns the ones that
  // failed (the others are made). This one calls those methods one by one; NetlinkKernel sends
  // many per message and hears back only about failures.
  virtual std::vector<ChangeError> apply(std::span<const EntryChange> changes);
};

}  // namespace isthmus::kernel
