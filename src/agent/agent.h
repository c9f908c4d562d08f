// The node agent: the virtual networks of this host on the kernel's own dataplane. It
// keeps the kernel as EVPN says (remote MACs, flood lists, suppression entries, through the
// reconciler) and tells EVPN what the kernel learns (a workload's MAC on a bridge port, its IP
// in the bridge's neighbour table), so that local workloads are advertised as type-2 routes and
// withdrawn when they leave.
//
// Single-threaded like the rest of the daemon: the owner feeds it kernel events (Monitor) and
// runs reconcile() when `dirty()` (the EVPN observer marks it), on the event loop.
//
// Two ways to bring the kernel in line. The full reconcile (agent::reconcile: everything EVPN
// knows against a read of the kernel) runs at start, after a failure, when the kernel lost
// something of ours (drift) and when its events were lost. Otherwise the EVPN observer's events
// (per MAC, per flood list) are collected and applied as they are (agent::apply_changes), against
// `programmed_`, what the kernel was last brought to: the cost of a change does not grow with
// the number of MACs.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/firewall.h"
#include "agent/reconciler.h"
#include "core/log.h"
#include "evpn/instance.h"
#include "kernel/firewall.h"
#include "kernel/kernel.h"

namespace isthmus::agent {

inline constexpr uint32_t kDefaultMaxMacs = 16384;

struct Network {
  std::string name;
  uint32_t vni = 0;
  std::optional<GatewayAddress> gateway = {};   // IPv4 anycast gateway with its subnet length
  std::optional<GatewayAddress> gateway6 = {};  // IPv6
  // Networks of the same VRF are routed to each other at the anycast gateway; empty: the
  // network's name (a VRF of its own).
  std::string vrf = {};
  // Egress NAT (NetworkState::nat_outgoing, agent/firewall.h).
  bool nat_outgoing = false;
  // The most remote MACs installed in the kernel and the most local MACs advertised, each on its
  // own (Agent, "MAC limit").
  uint32_t max_macs = kDefaultMaxMacs;
};

// A tenant: an IP-VRF with an L3 VNI (symmetric IRB, RFC 9135). The networks whose `vrf` names
// it are routed in its table, kTableBase + l3vni, and reach the other VTEPs' subnets and hosts
// (EVPN type-5 routes, MAC/IP routes with the L3 VNI as second label) over the L3 VNI.
struct Tenant {
  std::string name;
  uint32_t l3vni = 0;
  // Our router MAC (RFC 9135 §8.1), the L3 VNI bridge's MAC. 00:00:00:00:00:00: the EVPN
  // IP-VRF's (evpn::IpVrf::router_mac, what our routes advertise).
  MacAddress router_mac = {};
  // The links to its gateways (BGP neighbors of the VRF): the tenant's own (VRF-lite handoff).
  std::vector<std::string> uplinks = {};
};

struct AgentConfig {
  IpAddress vtep = {};
  uint32_t overlay_mtu = 1450;
  // The anycast gateway's MAC: the same on every node's bridges (locally administered).
  MacAddress gateway_mac = MacAddress{{0x02, 0x00, 0x5e, 0x00, 0x00, 0x01}};
  std::vector<Network> networks = {};
  std::vector<Tenant> tenants = {};
  // The owner runs resync() this often (drift that no event reports); 0: never.
  std::chrono::seconds reconcile_interval{60};
};

// What a network's max_macs keeps out now.
struct MacLimitStatus {
  size_t remote_waiting = 0;    // remote MACs EVPN has that the kernel is not given
  size_t local_advertised = 0;  // local MACs advertised
  size_t local_waiting = 0;     // local MACs on a port, not advertised
};

// Whether the kernel holds forwarding state of ours from before this start: the VXLAN device
// of a configured network or tenant, made by an earlier isthmusd (its alias says so).
Expected<bool> forwarding_state_present(kernel::Kernel& kernel, const AgentConfig& config);

class Agent {
 public:
  // `firewall`: the agent's nftables table (agent/firewall.h); null only in tests that leave
  // packet filtering out (then no connection marks, no egress NAT).
  Agent(kernel::Kernel& kernel, evpn::Instance& evpn, AgentConfig config,
        kernel::Firewall* firewall = nullptr);

  // What EVPN's changes make of the kernel state: a reconcile is due.
  evpn::Observer observer();
  bool dirty() const { return dirty_; }
  // Called when the agent becomes dirty (the owner schedules reconcile() on its loop).
  void set_wake(std::function<void()> wake) { wake_ = std::move(wake); }

  // The kernel state the networks need now: configuration + what EVPN knows of remote VTEPs.
  // Per tenant one remote route per prefix: the first remote VTEP (by address) that is not us,
  // whose route EVPN finds usable (RemotePrefix::unusable empty, EVPN logs why not), sends the
  // router MAC (RFC 9135 §8.1) and the tenant's L3 VNI as label, and agrees with the VTEP's and
  // the router MAC's other routes (one router MAC per VTEP and the other way round). A remote
  // route for the subnet of one of the tenant's networks here is not installed (the connected
  // route wins). Each route passed over for a reason of the agent's is logged once, with why.
  DesiredState desired() const;
  ReconcileResult reconcile();
  // The next reconcile() is a full one (the kernel may have changed behind the agent's back).
  void request_full() {
    full_ = true;
    staged_ = false;
    mark_dirty();
  }
  bool full_due() const { return full_; }

  // Graceful restart (RFC 4724 §4.1): from start until BGP has the routes again, reconcile adds
  // and corrects remote entries but removes none, so that what the kernel kept from before the
  // restart goes on forwarding. end_restart() (the speaker's routes are complete) lets the next
  // reconcile remove what is stale.
  void begin_restart() { restarting_ = true; }
  void end_restart(const std::string& why);
  bool restarting() const { return restarting_; }
  // A route of the tenant learned from one of its gateways (the best path of the VRF's BGP table
  // is a neighbor's): `prefix via next_hop dev interface` in the tenant's table, over the remote
  // route of the prefix if there is one. nullopt: none (any more).
  void set_gateway_route(uint32_t l3vni, const Prefix& prefix,
                         const std::optional<GatewayRoute>& route);

  // isthmusd is exiting: from now on the kernel is left as it is. The sessions going down
  // withdraw every remote route; the forwarding state must not follow them.
  void stop() { stopped_ = true; }

  // A kernel event: local learning. MACs the bridge learns on a port of a network's bridge
  // (not the VXLAN port) become local MACs of its VNI; a neighbour of the bridge (a workload's
  // IP, learned when it speaks to the gateway) adds the MAC+IP route. Links and entries that are
  // ours and go missing make the agent dirty.
  void on_event(const kernel::Event& event);
  // Reads the FDB entries of the networks' workload ports and the neighbours of their bridges
  // (not the whole host's, not the VXLAN devices' remote MACs) and learns what is there; what it
  // had learned and is no longer there is forgotten (withdrawn from EVPN): start, and after the
  // monitor lost events.
  Expected<void> learn_all();
  // The kernel may have changed without (or with lost) events: learn_all() and a full
  // reconcile on the next turn. After an overrun of the monitor (`staged` false), and every
  // reconcile_interval (`staged`: the full run leaves the networks' FDB entries and neighbours
  // to the turns after it, one network per turn, so that no turn reads them all).
  void resync(bool staged = false);
  // Networks whose entries a staged resync has yet to check.
  size_t entry_checks_left() const { return entry_checks_.size(); }

  // MAC limit: per network at most max_macs remote MACs are installed (those the kernel has keep
  // their place; the others wait, by MAC, and get in as room is made) and at most max_macs local
  // MACs are advertised (in the order the bridge learned them; the others wait on their port).
  // Each side is logged once when it starts to keep MACs out, with the count.
  MacLimitStatus mac_limit(uint32_t vni) const;

  const AgentConfig& config() const { return config_; }
  const evpn::Instance& evpn() const { return evpn_; }

 private:
  std::optional<uint32_t> vni_of_bridge(int ifindex);
  const Network* network(uint32_t vni) const;
  uint32_t max_macs(uint32_t vni) const;
  // A link or an address event of one of our devices that differs from what the agent made:
  // why, or empty.
  std::string link_drift(const kernel::Link& l) const;
  std::string address_drift(const kernel::AddressEvent& a) const;
  // Local MACs waiting for room under max_macs are advertised while there is.
  void admit_local(uint32_t vni);
  // The MAC limit's log lines: once per network and side when it starts to keep MACs out.
  void note_limits();
  // Not the gateway's, not multicast or broadcast, not zero.
  bool workload_mac(const MacAddress& mac) const;
  // A MAC the bridge learned on (or forgot from) a workload's port.
  void port_mac(uint32_t vni, const MacAddress& mac, bool removed);
  // An IP of the bridge's neighbour table: a MAC+IP route while its MAC is on a local port.
  void neighbour_ip(uint32_t vni, const MacAddress& mac, const IpAddress& ip, bool removed);
  void advertise(uint32_t vni, const MacAddress& mac, const std::optional<IpAddress>& ip,
                 bool withdraw);
  void drift(const std::string& what) {
    log::info("agent: {}: repairing", what);
    request_full();
  }
  void mark_dirty() {
    dirty_ = true;
    if (wake_) wake_();
  }
  ReconcileResult reconcile_full();
  ReconcileResult reconcile_changes();
  // One network of entry_checks_: its entries against what the kernel was brought to.
  void check_entries(ReconcileResult& r);
  // The nftables table as `d` needs it: replaced when it differs from what was applied (always
  // on a full run: a restart adopts the table by replacing it whole), deleted when not needed.
  // `kept`: more remote VTEPs to keep out (kept_vteps()).
  void sync_firewall(const DesiredState& d, bool full, ReconcileResult& r,
                     const std::vector<Prefix>& kept = {});
  // While restarting: the remote VTEPs the kernel's VXLAN devices still send to (`devices`, as
  // the full run found them), which EVPN does not know again yet; egress NAT keeps them out.
  Expected<std::vector<Prefix>> kept_vteps(const ReconcileResult& devices);
  // The prefixes of the VTEP's interface (egress NAT keeps them out), read on a full run.
  Expected<std::vector<Prefix>> underlay_prefixes();
  const Tenant* tenant(uint32_t l3vni) const;
  // The networks (without the remote MACs when `remote` is false). With the remote MACs, at
  // most max_macs of a network, those the kernel has first; the others go to `waiting` if given.
  void fill_networks(DesiredState& d, bool remote,
                     std::map<uint32_t, std::map<MacAddress, MacTarget>>* waiting = nullptr) const;
  // The tenants' L3 VNIs (only those in `only` when given).
  void fill_l3(DesiredState& d, const std::set<uint32_t>* only) const;
  std::optional<L3VniState> desired_l3(const Tenant& t,
                                       const std::vector<NetworkState>& networks) const;
  // What the kernel holds of ours for a VNI: after a full reconcile, the desired state; then
  // kept by apply_changes().
  struct Programmed {
    std::map<MacAddress, MacTarget> macs;
    std::map<IpAddress, MacAddress> ip_owner;  // which MAC a neighbour entry was made for
    std::vector<IpAddress> flood;
  };
  // A removed kernel entry (an event) that the agent still wants there: drift.
  bool wanted_fdb(const kernel::FdbEntry& e) const;
  bool wanted_neighbour(const kernel::Neighbour& n) const;
  bool wanted_l3_fdb(const kernel::FdbEntry& e) const;
  bool wanted_l3_neighbour(uint32_t l3vni, const kernel::Neighbour& n) const;
  std::function<void()> wake_;

  kernel::Kernel& kernel_;
  evpn::Instance& evpn_;
  AgentConfig config_;
  kernel::Firewall* firewall_ = nullptr;
  std::vector<Prefix> underlay_;
  std::optional<FirewallState> firewall_applied_;  // what the table holds; unset: no table
  std::vector<Prefix> kept_vteps_;                 // kept_vteps() while restarting
  bool dirty_ = true;
  bool full_ = true;  // the next reconcile is a full one
  bool restarting_ = false;
  bool stopped_ = false;
  std::string restart_ended_;                   // why, until the reconcile after it has run
  std::map<int, uint32_t> bridges_;             // ifindex -> VNI, refreshed by reconcile()
  std::map<int, int> vxlan_ports_;              // VXLAN device ifindex -> its bridge
  std::map<uint32_t, NetworkDevices> devices_;  // VNI -> its devices, from the full reconcile
  std::map<uint32_t, Programmed> programmed_;
  // The tenants' L3 VNIs as the full reconcile found or made them, and the VTEP entries the
  // kernel was brought to (what apply_l3_changes() starts from).
  std::map<uint32_t, NetworkDevices> l3_devices_;
  std::map<int, uint32_t> l3_bridges_;  // ifindex -> L3 VNI
  std::map<int, uint32_t> l3_vxlans_;   // ifindex -> L3 VNI
  std::map<uint32_t, std::vector<L3Vtep>> programmed_l3_;
  std::map<uint32_t, std::vector<kernel::Route>> programmed_l3_routes_;
  std::set<uint32_t> pending_l3_;  // L3 VNIs whose remote prefixes changed since the last run
  std::map<uint32_t, std::map<Prefix, GatewayRoute>> gateway_routes_;  // L3 VNI -> its gateways'
  // Per L3 VNI what desired() said about routes it passed over, so that each is logged once
  // (again if it comes back after it went).
  mutable std::map<uint32_t, std::set<std::string>> l3_notes_;
  std::set<std::string> unsupported_;  // what the kernel lacks, logged once
  // EVPN's changes since the last reconcile: per VNI, per MAC what it is now (unset: gone), and
  // the flood lists.
  std::map<uint32_t, std::map<MacAddress, std::optional<MacTarget>>> pending_macs_;
  std::map<uint32_t, std::vector<IpAddress>> pending_flood_;
  // What the bridges know of local workloads. A neighbour entry outlives its MAC on the port
  // (the bridge forgets the MAC at once, the neighbour table only after failed probes), so a
  // MAC+IP is advertised only while its MAC is on a port, and again when the MAC comes back.
  struct Binding {
    bool on_port = false;
    bool advertised = false;  // on_port, and let in under max_macs
    std::set<IpAddress> ips;
  };
  // Remote MACs over max_macs, per VNI: EVPN has them, the kernel is not given them.
  std::map<uint32_t, std::map<MacAddress, MacTarget>> waiting_;
  // Local MACs on a port over max_macs, per VNI, in the order they came; and how many are
  // advertised.
  struct LocalWaiting {
    std::map<uint64_t, MacAddress> order;  // by arrival
    std::map<MacAddress, uint64_t> arrival;
    uint64_t next = 0;
  };
  std::map<uint32_t, LocalWaiting> local_waiting_;
  std::map<uint32_t, size_t> local_advertised_;
  std::set<uint32_t> remote_limit_logged_;
  std::set<uint32_t> local_limit_logged_;
  bool started_ = false;  // the first full reconcile ran
  bool staged_ = false;   // the next full reconcile leaves the networks' entries to check_entries
  std::vector<uint32_t> entry_checks_;  // VNIs, the next one last
  std::map<std::pair<uint32_t, MacAddress>, Binding> local_;
  std::map<std::pair<uint32_t, IpAddress>, MacAddress> ip_owner_;
};

}  // namespace isthmus::agent
