// The node agent's reconciler (docs/architecture.md, "The kernel layer"): the kernel state the
// virtual networks need, derived from the configuration and what EVPN says about remote
// workloads, against what the kernel has; only the difference is applied. Per network (VNI V):
//   brV      bridge, the anycast gateway's MAC and addresses (the same on every node), overlay MTU
//   vxlanV   VXLAN device (VNI V, our VTEP, learning off) as a port of brV with learning off and
//            neighbour suppression on (ARP/ND answered from brV's neighbour table)
//   FDB      on vxlanV: 00:00:00:00:00:00 to every remote VTEP of the VNI (ingress replication,
//            from type-3 routes); each remote MAC to its VTEP (type-2 routes), externally learned,
//            and in brV's FDB on the vxlanV port (so that suppression and unicast find it)
//   neighbours on brV: each remote MAC+IP (type-2), externally learned, for suppression
//   sysctls  per gateway family of brV: forwarding, and arp_accept / accept_untracked_na = 2 (RFC
//            9131): the kernel learns a host here from its answer to another node's request,
//            which that node sends from its brV with the same gateway MAC (a silent host)
// Per tenant (an IP-VRF: L3 VNI L, symmetric IRB of RFC 9135, RFC 9136 §4.4.1 interface-less
// model), on a kernel without VRF devices: the tenant's table T (its networks' rules point there)
//   brL      bridge whose MAC is the tenant's router MAC (RFC 9135 §8.1: the inner destination MAC
//            other VTEPs send routed packets with), overlay MTU, no address
//   vxlanL   VXLAN device (VNI L, our VTEP, learning off) as a port of brL with learning off
//   rules    `iif brL lookup T` (IPv4 and IPv6): what arrives over the L3 VNI is routed in T
//   per remote VTEP V with router MAC R: neighbours `V lladdr R dev brL` (and `::ffff:V` for the
//            IPv6 routes), externally learned, NOARP; FDB `R dev vxlanL dst V self`: the routed
//            packet leaves brL for R, the bridge floods it to its one port, and vxlanL tunnels it
//            to V in VNI L
//   per remote route P: `P via V dev brL onlink table T` (IPv6: `via ::ffff:V`; the kernel takes
//            no IPv4 gateway on an IPv6 route), unless P is the subnet of a network of the tenant
//            here: that network's connected route in T wins (a stretched subnet; its hosts are
//            reached by their /32 and /128 routes)
//   T's unreachable defaults (both families) at kUnreachableMetric: a default route learned from
//            a border router (metric 0, IPv6 1024) wins over them.
// The networks' connected routes stay in main as the kernel makes them: a packet for the gateway
// itself (ARP, ping) is checked by rp_filter with iif lo, in main (RFC 3704 strict mode passes);
// routed traffic is checked against T through the rules. A subnet that networks of different
// VRFs share here (tenants with the same addresses) has a connected route per bridge in main, of
// which strict mode would take only the first: those bridges get rp_filter 2 (loose). What the
// node itself sends to such a subnet (the gateway's ICMP replies and errors) follows main's first
// route unless the agent's nftables table marks them (below).
// With the agent's nftables table (DesiredState::marks, agent/firewall.h) the node's own packets
// of a connection are marked with its VRF and `fwmark M/kMarkVrfMask lookup T` (kMarkRulePriority)
// routes them in the VRF's table: what the node answers goes to the VRF it answers, also for a
// shared subnet. A network with egress NAT (NetworkState::nat_outgoing) looks up its VRF's NAT
// table (the VRF's routes without defaults, kNatTableBase) and then main (kNatRulePriority).
// The links the agent creates carry the alias "isthmus:V" (or "isthmus:L"); such a link whose
// network or tenant is no longer wanted is deleted with everything on it, and nothing else is. A
// link of the right name and kind that exists already is adopted as it is (a restart changes
// nothing that is right).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kernel/kernel.h"

namespace isthmus::agent {

struct RemoteMac {
  MacAddress mac = {};
  IpAddress vtep = {};
  bool operator==(const RemoteMac&) const = default;
};

struct RemoteIp {
  IpAddress ip = {};
  MacAddress mac = {};
  bool operator==(const RemoteIp&) const = default;
};

struct GatewayAddress {
  IpAddress ip = {};
  uint8_t length = 0;
  bool operator==(const GatewayAddress&) const = default;
};

struct NetworkState {
  uint32_t vni = 0;
  uint32_t mtu = 1450;          // overlay MTU of the bridge and the VXLAN device
  MacAddress gateway_mac = {};  // the anycast gateway's MAC: the bridge's
  std::vector<GatewayAddress> gateways = {};
  std::vector<IpAddress> flood = {};  // remote VTEPs of the VNI
  std::vector<RemoteMac> macs = {};   // remote MACs
  std::vector<RemoteIp> ips = {};     // remote MAC+IP bindings
  // Routing at the anycast gateway (asymmetric IRB): the bridge forwards, and what comes in on
  // it is looked up in `table`, which holds the subnets of every network of its VRF (on this
  // node) and an unreachable default: networks of one VRF reach each other at the workload's
  // own node, other VRFs and the underlay stay out of reach. 0: no routing.
  uint32_t table = 0;
  // Egress NAT: the bridge's rule goes into the VRF's NAT table (its routes without defaults,
  // kNatTableBase) and a second rule looks up main: what the VRF has no route for leaves
  // through the node's own routing (the agent's nftables table filters and masquerades it,
  // agent/firewall.h).
  bool nat_outgoing = false;
};

// A remote route of a tenant: the prefix, the VTEP it is reached through and that VTEP's router
// MAC (RFC 9135 §8.1), from a type-5 route or a MAC/IP route with the L3 VNI's label.
struct L3Route {
  Prefix prefix = {};
  IpAddress vtep = {};
  MacAddress router_mac = {};
  bool operator==(const L3Route&) const = default;
};

// A route of a tenant learned from one of its gateways (a BGP neighbor of the VRF, VRF-lite):
// `prefix via next_hop dev interface onlink` in the tenant's table. It wins over a remote route
// of the same prefix (like eBGP over what EVPN imports).
struct GatewayRoute {
  Prefix prefix = {};
  IpAddress next_hop = {};
  std::string interface = {};
  bool operator==(const GatewayRoute&) const = default;
};

// A tenant's L3 VNI (symmetric IRB). One route per prefix (the first one counts); a VTEP has one
// router MAC and a router MAC one VTEP (the caller sees to it: of several, the smallest router
// MAC is the VTEP's, the first VTEP the router MAC's). Routes through our own VTEP, and IPv4
// routes through an IPv6 VTEP (RTA_VIA, not done), are not installed.
struct L3VniState {
  uint32_t vni = 0;
  uint32_t table = 0;          // the tenant's routing table (its networks' `table`)
  MacAddress router_mac = {};  // ours: brL's MAC
  uint32_t mtu = 1450;
  std::vector<L3Route> routes = {};
  // The interfaces of its gateways: what arrives on them is routed in `table` (`iif X lookup
  // T`), and the routes learned from them.
  std::vector<std::string> uplinks = {};
  std::vector<GatewayRoute> gateway_routes = {};
  bool operator==(const L3VniState&) const = default;
};

struct DesiredState {
  IpAddress vtep = {};
  uint16_t vxlan_port = 4789;
  std::vector<NetworkState> networks = {};
  std::vector<L3VniState> l3vnis = {};
  // The agent's nftables table marks connections with their VRF (agent/firewall.h): one rule per
  // VRF table and family, `fwmark (table - kTableBase)/kMarkVrfMask lookup table`, routes the
  // node's own packets of those connections in the VRF's table.
  bool marks = false;
};

std::string bridge_name(uint32_t vni);
std::string vxlan_name(uint32_t vni);
std::string owner_alias(uint32_t vni);

// The routing of the networks' VRFs: one table per VRF (kTableBase + the smallest VNI of its
// networks), one rule per bridge and family at kRulePriority, routes marked kRouteProtocol.
inline constexpr uint32_t kTableBase = 0x49000000;
inline constexpr uint32_t kRulePriority = 20000;
inline constexpr uint8_t kRouteProtocol = 77;  // RTPROT_ value of the agent's routes
// A VRF with nat_outgoing networks has a second table, its NAT table (kNatTableBase + the VRF's
// table less kTableBase): the VRF's routes without its defaults (the unreachable ones, a
// gateway's), the table the NAT networks' bridges look up; what it has no route for goes on to
// `iif brV lookup main`. (A rule with suppress_prefixlength 0 into the VRF's table would not do:
// the kernel ends the lookup at an unreachable route before it suppresses anything.)
inline constexpr uint32_t kNatTableBase = 0x4a000000;
uint32_t nat_table(uint32_t table);
// The NAT table of `table` when a network of `d` in it has nat_outgoing, else 0.
uint32_t nat_table_of(const DesiredState& d, uint32_t table);
// A network with nat_outgoing: `iif brV lookup main` after its rule into the NAT table.
inline constexpr uint32_t kNatRulePriority = kRulePriority + 1;
// The rules of marked packets (DesiredState::marks), after the bridges' rules, before main's.
inline constexpr uint32_t kMarkRulePriority = kRulePriority + 2;
// The packet and connection mark bits of a VRF: its table less kTableBase (a VNI, 24 bits).
// The top 8 bits are left for other uses (network policy).
inline constexpr uint32_t kMarkVrfMask = 0x00ffffff;
inline constexpr uint32_t kMainTable = 254;  // RT_TABLE_MAIN
// The metric of a table's unreachable defaults: any default route (a border router's, metric 0
// or IPv6's 1024) wins over them. FRR's for a VRF's default, 0xff000000 + 8192.
inline constexpr uint32_t kUnreachableMetric = 4278198272u;

// An IPv4 address as IPv4-mapped IPv6 (::ffff:a.b.c.d): the gateway of an IPv6 route through an
// IPv4 VTEP. An IPv6 address stays as it is.
IpAddress ipv4_mapped(const IpAddress& a);

// A remote VTEP of an L3 VNI and its router MAC: a neighbour entry (two for an IPv4 VTEP: V and
// ::ffff:V) on brL and an FDB entry on vxlanL.
struct L3Vtep {
  IpAddress vtep = {};
  MacAddress router_mac = {};
  auto operator<=>(const L3Vtep&) const = default;
};
// The VTEPs of the routes `desired` installs for `l3` (sorted by VTEP).
std::vector<L3Vtep> l3_vteps(const DesiredState& desired, const L3VniState& l3);

// RFC 7348 §5 overhead: outer Ethernet 14 + IP (20 or 40) + UDP 8 + VXLAN 8 = 50 or 70 octets.
uint32_t overlay_mtu(uint32_t underlay_mtu, bool ipv6_underlay);

// A network's devices as the kernel has them after a run (0: not there).
struct NetworkDevices {
  uint32_t vni = 0;
  int bridge = 0;
  int vxlan = 0;
};

struct ReconcileResult {
  size_t changes = 0;               // kernel changes made
  std::vector<std::string> errors;  // what could not be done (the next run tries again)
  // What this kernel lacks and the networks work without, less well (an older kernel's missing
  // sysctl): not an error, not retried; the caller says it once.
  std::vector<std::string> unsupported;
  std::vector<NetworkDevices> devices;     // the networks whose bridge exists
  std::vector<NetworkDevices> l3_devices;  // the L3 VNIs whose bridge exists
  // Per L3 VNI whose routes this run made: the remote and gateway routes the tenant's table was
  // brought to (what apply_l3_changes() starts from next time, L3Changes::before_routes).
  std::map<uint32_t, std::vector<kernel::Route>> l3_routes;
  bool ok() const { return errors.empty(); }
};

struct ReconcileOptions {
  // Add and correct, never remove, what EVPN put there: the flood list, remote MACs and their
  // neighbour entries, the L3 VNIs' remote routes and their VTEPs' neighbour and FDB entries.
  // While isthmusd restarts (RFC 4724 §4.1) the desired state lacks the remote routes until the
  // peers have sent them again; their kernel entries keep forwarding until then. Links,
  // addresses, rules and removed networks and tenants are handled as always.
  bool keep_remote_entries = false;
  // The networks' FDB entries and neighbours are left out (not read, not changed): links,
  // addresses, sysctls, rules, routes and the L3 VNIs' entries only. The periodic run does this
  // and then reconcile_entries() one network per turn, so that no turn of the event loop reads
  // every network's entries.
  bool skip_network_entries = false;
};

// The full run: reads the kernel's links, addresses, FDB, neighbours, rules and the tables in
// use, and changes only what differs from `desired` (start-up, drift repair, retries). FDB and
// neighbour changes are sent in batches (Kernel::apply); an L3 VNI's entries are added before
// the routes that need them and removed after the routes that used them.
ReconcileResult reconcile(kernel::Kernel& k, const DesiredState& desired,
                          const ReconcileOptions& options = {});

// One network's entries as reconcile() makes them: the FDB of its VXLAN device and the
// neighbours of its bridge, read by device, against `n`'s flood list, remote MACs and IPs.
ReconcileResult reconcile_entries(kernel::Kernel& k, const NetworkState& n, int bridge, int vxlan,
                                  const ReconcileOptions& options = {});

// ---- Incremental changes (the agent's steady state) ----
// A remote MAC as the kernel has it: its VTEP and the IPs bound to it.
struct MacTarget {
  IpAddress vtep = {};
  std::vector<IpAddress> ips = {};
  bool operator==(const MacTarget&) const = default;
};
// One MAC of a network: what the kernel has for it now (unset: nothing) and what it should have.
struct MacChange {
  MacAddress mac = {};
  std::optional<MacTarget> before = {};
  std::optional<MacTarget> after = {};
};
struct FloodChange {
  std::vector<IpAddress> before = {};
  std::vector<IpAddress> after = {};
};
// What changed in one network whose devices exist, since the kernel was brought in line with
// it (by reconcile() or by apply_changes()).
struct NetworkChanges {
  uint32_t vni = 0;
  int bridge = 0;
  int vxlan = 0;
  std::vector<MacChange> macs = {};
  std::optional<FloodChange> flood = {};
};

// Makes exactly these changes, without reading the kernel: the cost is that of the changes,
// not of the table. The caller vouches for `before` (it is what the kernel was brought to);
// when a change fails, the errors say so and a full reconcile() repairs. Given a kernel that
// reconcile() made for state S and the changes from S to S', it leaves the kernel as
// reconcile() would for S'.
// With keep_remote_entries (a restart) it only adds and corrects: removals wait for the full
// reconcile after the restart.
ReconcileResult apply_changes(kernel::Kernel& k, std::span<const NetworkChanges> changes,
                              const ReconcileOptions& options = {});

// An L3 VNI whose devices exist and whose routes changed, since the kernel was brought in line
// with it: the VTEP entries the kernel has (l3_vteps() of the state it was brought to).
struct L3Changes {
  uint32_t vni = 0;
  int bridge = 0;
  int vxlan = 0;
  std::vector<L3Vtep> before = {};
  std::vector<kernel::Route> before_routes = {};  // ReconcileResult::l3_routes of the last run
};
// Brings these L3 VNIs' remote routes and VTEP entries to what `desired` says (its networks
// count only for the subnets that win over remote routes), by difference from `before` and
// `before_routes`, without reading the kernel (the links only when a tenant has gateway routes):
// the cost is that of the changes and of comparing the tenant's routes, not of reading its
// table. The devices, rules and unreachable defaults are the full reconcile's.
ReconcileResult apply_l3_changes(kernel::Kernel& k, const DesiredState& desired,
                                 std::span<const L3Changes> changes,
                                 const ReconcileOptions& options = {});

}  // namespace isthmus::agent
