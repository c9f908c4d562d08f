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
// The links the agent creates carry the alias "isthmus:V"; such a link whose network is no
// longer wanted is deleted with everything on it, and nothing else is. A link of the right name
// and kind that exists already is adopted as it is (a restart changes nothing that is right).
#pragma once

#include <cstdint>
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
};

struct DesiredState {
  IpAddress vtep = {};
  uint16_t vxlan_port = 4789;
  std::vector<NetworkState> networks = {};
};

std::string bridge_name(uint32_t vni);
std::string vxlan_name(uint32_t vni);
std::string owner_alias(uint32_t vni);

// The routing of the networks' VRFs: one table per VRF (kTableBase + the smallest VNI of its
// networks), one rule per bridge and family at kRulePriority, routes marked kRouteProtocol.
inline constexpr uint32_t kTableBase = 0x49000000;
inline constexpr uint32_t kRulePriority = 20000;
inline constexpr uint8_t kRouteProtocol = 77;  // RTPROT_ value of the agent's routes

// RFC 7348 §5 overhead: outer Ethernet 14 + IP (20 or 40) + UDP 8 + VXLAN 8 = 50 or 70 octets.
uint32_t overlay_mtu(uint32_t underlay_mtu, bool ipv6_underlay);

// A network's devices as the kernel has them after a run (0: not there).
struct NetworkDevices {
  uint32_t vni = 0;
  int bridge = 0;
  int vxlan = 0;
};

struct ReconcileResult {
  size_t changes = 0;                   // kernel changes made
  std::vector<std::string> errors;      // what could not be done (the next run tries again)
  std::vector<NetworkDevices> devices;  // the networks whose bridge exists
  bool ok() const { return errors.empty(); }
};

struct ReconcileOptions {
  // Add and correct, never remove, what EVPN put there: the flood list, remote MACs and their
  // neighbour entries. While isthmusd restarts (RFC 4724 §4.1) the desired state lacks the
  // remote routes until the peers have sent them again; their kernel entries keep forwarding
  // until then. Links, addresses and removed networks are handled as always.
  bool keep_remote_entries = false;
};

// The full run: reads the kernel's links, addresses, FDB and neighbours and changes only what
// differs from `desired` (start-up, drift repair, retries). FDB and neighbour changes are sent
// in batches (Kernel::apply).
ReconcileResult reconcile(kernel::Kernel& k, const DesiredState& desired,
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

}  // namespace isthmus::agent
