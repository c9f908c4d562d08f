// What the speaker runs with: plain values built by the daemon from the YAML configuration.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bgp/rib/peer.h"
#include "bgp/speaker/max_prefixes.h"
#include "bgp/speaker/socket.h"
#include "bgp/wire/types.h"
#include "core/ip.h"

namespace isthmus::bgp {

struct Policy {
  std::string name;  // sessions with the same export policy name may share an update group
  PolicyFn fn;
  bool per_prefix = true;  // false: the outcome cannot depend on the prefix
};

// RFC 4724 receiving speaker ("helper") with RFC 8538 (the N bit).
struct GracefulRestartConfig {
  bool helper = true;           // advertise the capability (and N); keep a restarting peer's routes
  uint16_t restart_time = 120;  // the Restart Time we advertise, 0..4095 s
  uint16_t stale_routes_time = 360;  // longest wait for the restarted peer's End-of-RIB, seconds
  // RFC 9494: the Long-lived Stale Time we advertise for the families of our Graceful Restart
  // Capability (how long a peer may keep our routes beyond the Restart Time), 0..16777215 s;
  // 0: the LLGR capability goes out without families (we still keep a peer's routes as long as
  // its own capability asks).
  uint32_t long_lived_stale_time = 86400;
};

struct PeerConfig {
  IpAddress address;
  uint16_t port = 179;
  uint32_t remote_as = 0;
  std::optional<IpAddress> local_address;
  std::string description;
  bool passive = false;
  bool shutdown = false;
  bool route_reflector_client = false;
  bool next_hop_self = false;
  std::vector<Family> families;
  Policy import_policy;
  Policy export_policy;
  std::string password;   // TCP-MD5 (RFC 2385); empty = none
  int ttl_security = 0;   // GTSM (RFC 5082) hop count; 0 = off
  int ebgp_multihop = 0;  // TTL for eBGP; 0 = directly connected (TTL 1)
  uint16_t hold_time = 90;
  uint16_t min_hold_time = 3;     // the smallest Hold Time accepted from the peer; 0 = any
  uint16_t send_hold_time = 480;  // RFC 9687, seconds
  uint16_t keepalive = 0;         // 0 = hold_time / 3
  uint16_t connect_retry = 30;    // seconds between connection attempts (RFC 4271 §8)
  GracefulRestartConfig graceful_restart;
  MaxPrefixes max_prefixes;  // RFC 4486
  // A neighbor of a VRF (a tenant's gateway): its routes live in that VRF's own Rib
  // (Speaker::vrf_rib), not in the global one. Empty: the global Rib.
  std::string vrf;
  std::string interface;  // a neighbor of a VRF: the link to it (for show; the agent routes it)
};

// Dynamic neighbors: any peer connecting from `prefix` gets a session built from `peer`.
struct NeighborRange {
  Prefix prefix;
  PeerConfig peer;  // address and port unused
  size_t max_peers = 1000;
  // Restarting (ForwardingState::preserved): our routes are not complete before this long after
  // the start, and not before every neighbor of the range Established by then sent End-of-RIB.
  std::chrono::seconds restart_wait{60};
};

struct Origination {
  Family family;
  Prefix prefix;
  PathAttributes attrs;
};

// RFC 4724 §4.1, the restarting speaker: the families whose forwarding state outlives isthmusd
// (the node agent leaves its kernel entries in place when it stops) and whether this start found
// it. Listed in our Graceful Restart Capability to every peer that negotiates them.
struct ForwardingState {
  std::vector<Family> families;
  bool preserved = false;  // this start found it: F bit, and the R bit until the restart is over
  // The longest wait for every peer's End-of-RIB before the routes are taken as complete and
  // stale forwarding state goes (§4.1 "Selection_Deferral_Timer"), seconds.
  uint16_t selection_deferral_time = 360;
};

struct SpeakerConfig {
  uint32_t asn = 0;
  uint32_t router_id = 0;               // host order
  uint32_t cluster_id = 0;              // 0 = router_id
  std::optional<SocketAddress> listen;  // nullopt = do not listen
  std::vector<PeerConfig> peers;
  std::vector<NeighborRange> ranges;
  std::vector<Origination> originate;
  ForwardingState forwarding;
  size_t update_group_max_lag = size_t{4} << 20;  // RibConfig::max_member_lag
};

}  // namespace isthmus::bgp
