// An in-memory Kernel with the rules of the real one that the agent depends on: names and
// VXLAN VNIs are unique, a master must be a bridge, deleting a link takes its addresses, routes,
// neighbours and FDB entries with it (and the other end of a veth), appending a flood
// destination twice fails, deleting what is not there fails, routes are keyed and checked as
// Kernel::replace_route says (gateway family, onlink, IPv6 metric 1024; with RouteChecks::Kernel
// also a reachable gateway and an up device). Errors read like NetlinkKernel's. Not modelled: the
// prefix routes the kernel adds to main for addresses (they count for reachability, but routes(254)
// does not list them). Tests can make the next matching change fail, and read the log of changes
// made.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "kernel/kernel.h"

namespace isthmus::kernel {

class FakeKernel final : public Kernel {
 public:
  // How routes are checked (see Kernel::replace_route). The gateway's family, a device that
  // exists, onlink's device and gateway are always checked.
  enum class RouteChecks : uint8_t {
    Kernel,  // as the kernel checks: a gateway reachable unless onlink, the device up
    Loose,   // not those two (for tests that route through links they never set up, which the
             // kernel refuses)
  };
  // With `lo` (index 1), as a fresh network namespace has.
  explicit FakeKernel(RouteChecks checks = RouteChecks::Loose);

  Expected<std::vector<Link>> links() override;
  Expected<Link> add_link(const LinkSpec& spec) override;
  Expected<void> set_link(int ifindex, const LinkChange& change) override;
  Expected<void> set_bridge_port(int ifindex, const BridgePortInfo& port) override;
  Expected<void> delete_link(int ifindex) override;
  Expected<std::vector<Address>> addresses() override;
  Expected<void> add_address(const Address& a) override;
  Expected<void> delete_address(const Address& a) override;
  Expected<std::vector<Route>> routes(uint32_t table) override;
  Expected<void> replace_route(const Route& r) override;
  Expected<void> add_route(const Route& r) override;
  Expected<void> delete_route(const Route& r) override;
  Expected<std::vector<Rule>> rules() override;
  Expected<void> add_rule(const Rule& r) override;
  Expected<void> delete_rule(const Rule& r) override;
  Expected<std::string> sysctl(const std::string& key) override;
  // An older kernel: keys ending in `suffix` do not exist (reading or writing them fails as
  // /proc/sys does, "No such file or directory").
  void lack_sysctl(const std::string& suffix) { lacked_sysctls_.push_back(suffix); }
  Expected<void> set_sysctl(const std::string& key, const std::string& value) override;
  Expected<std::vector<Neighbour>> neighbours() override;
  Expected<std::vector<Neighbour>> neighbours_of(int ifindex) override;
  Expected<void> replace_neighbour(const Neighbour& n) override;
  Expected<void> delete_neighbour(const Neighbour& n) override;
  Expected<std::vector<FdbEntry>> fdb() override;
  Expected<std::vector<FdbEntry>> bridge_fdb(int bridge) override;
  Expected<std::vector<FdbEntry>> device_fdb(int ifindex) override;
  Expected<void> add_fdb(const FdbEntry& e, bool append) override;
  Expected<void> delete_fdb(const FdbEntry& e) override;

  // The next change whose log line starts with `prefix` fails with `reason` (once).
  void fail_next(std::string prefix, std::string reason);
  // Every change made (not the failed ones), e.g. "add_link vxlan100", "add_fdb 2 00:00:00:00:00:00
  // dst 198.18.0.2 append".
  const std::vector<std::string>& changes() const { return changes_; }
  void clear_changes() { changes_.clear(); }
  // How many times the whole FDB or the whole neighbour table was read (fdb(), neighbours()),
  // not one device's.
  size_t host_dumps() const { return host_dumps_; }
  // A workload's MAC the bridge learned on a port (what the kernel does on its own).
  void learn(int port, const MacAddress& mac);

 private:
  Expected<void> change(std::string line);
  Link* find(int ifindex);
  Expected<Link*> need(int ifindex, const std::string& what);
  // A gateway route without onlink needs this (see Kernel::replace_route).
  bool gateway_reachable(const Route& r) const;
  Expected<void> new_route(const Route& r, bool exclusive);
  std::vector<Link> links_;
  std::vector<Address> addresses_;
  std::vector<Route> routes_;
  std::vector<Rule> rules_;
  std::map<std::string, std::string> sysctls_;  // written ones; others read as "0"
  std::vector<std::string> lacked_sysctls_;     // key suffixes this kernel has not
  std::vector<Neighbour> neighbours_;
  std::vector<FdbEntry> fdb_;
  std::vector<std::pair<std::string, std::string>> failures_;
  std::vector<std::string> changes_;
  int next_index_ = 2;
  size_t host_dumps_ = 0;
  RouteChecks checks_;
};

}  // namespace isthmus::kernel
