// The daemon's configuration: the YAML file a user writes, checked and turned into plain values.
// Every field is documented here and in docs/configuration.md (the user-facing reference); keep
// the two in step. Defaults are already applied: the daemon reads values, never re-derives them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bgp/policy/policy.h"
#include "bgp/speaker/max_prefixes.h"
#include "bgp/wire/evpn.h"
#include "bgp/wire/types.h"
#include "core/expected.h"
#include "core/ip.h"
#include "core/log.h"

namespace isthmus::config {

// RFC 4724 graceful restart as the receiving speaker ("helper") of a neighbor that restarts,
// with RFC 8538 (graceful restart after a NOTIFICATION, the N bit). `graceful_restart: false`
// or `graceful_restart: { enabled: ..., restart_time: ..., stale_routes_time: ...,
// long_lived_stale_time: ... }`, with RFC 9494 (long-lived graceful restart).
struct GracefulRestart {
  // Advertise the capability (with the N bit) and keep a restarting neighbor's routes as stale.
  bool enabled = true;
  // The Restart Time of our capability, seconds, 0..4095 (12 bits, RFC 4724 §3). Only a node
  // agent (l2vpn-evpn, whose forwarding state the kernel keeps while isthmusd restarts) and a
  // route reflector (every family: it has no forwarding state to lose) list families; without
  // one a neighbor keeps none of our routes however long this is.
  uint16_t restart_time = 120;
  // Once the neighbor is back, how long its stale routes wait for its End-of-RIB, seconds,
  // 1..65535 (RFC 4724 §4.2, "a (configurable) timer").
  uint16_t stale_routes_time = 360;
  // RFC 9494 (long-lived graceful restart): how long, beyond the Restart Time, a neighbor may keep
  // our routes of the families our Graceful Restart Capability lists, seconds, 0..16777215.
  uint32_t long_lived_stale_time = 86400;
};

// RFC 4486: the most prefixes of a family a neighbor may have in our Adj-RIB-In.
// `max_prefixes: N` (every family) or `max_prefixes: { FAMILY: N, ..., warning: P, restart: S }`.
using MaxPrefixes = bgp::MaxPrefixes;

// Session settings shared by a neighbor and a neighbor range (the template of its sessions).
struct PeerSettings {
  uint32_t remote_as = 0;  // 1..4294967295; equal to bgp.asn means iBGP
  bool ibgp = false;       // remote_as == bgp.asn (derived)
  // Source address of the TCP connection; nullopt = chosen by the kernel. Same family as the
  // neighbor's address.
  std::optional<IpAddress> local_address;
  std::string description;
  bool route_reflector_client = false;  // RFC 4456; iBGP only
  bool next_hop_self = false;           // set NEXT_HOP to the local address on export
  // Address families negotiated (RFC 4760). Default: ipv4-unicast for an IPv4 transport,
  // ipv6-unicast for IPv6. Never empty, no duplicates.
  std::vector<bgp::Family> families;
  // Policy names (built-in accept-all / reject-all or defined under `policies:`). Empty = not
  // configured: per RFC 8212 an eBGP session then accepts and sends nothing, an iBGP session
  // everything; Config::warnings says so for eBGP.
  std::string import_policy;
  std::string export_policy;
  std::string password;       // TCP-MD5 key (RFC 2385), at most 80 characters; empty = none
  uint8_t ttl_security = 0;   // GTSM (RFC 5082): accepted hop count, 1 = directly connected;
                              // 0 = off
  uint8_t ebgp_multihop = 0;  // eBGP TTL 1..255; 0 = directly connected (TTL 1)
  uint16_t hold_time = 90;    // seconds; 0 (no keepalives) or 3..65535 (RFC 4271 §4.2)
  // The smallest Hold Time accepted from the neighbor, 0..65535 seconds; 0 accepts any, else a
  // Hold Time of 0 (no keepalives) is refused too.
  uint16_t min_hold_time = 3;
  // RFC 9687: how long we wait with output the neighbor reads none of before ending the session.
  uint16_t send_hold_time = 480;
  uint16_t keepalive = 30;      // seconds; 0 when hold_time is 0, else 1..hold_time-1
  uint16_t connect_retry = 30;  // seconds between connection attempts, 1..65535
  bool shutdown = false;        // administratively down: configured but never connected
  GracefulRestart graceful_restart;
  MaxPrefixes max_prefixes;
};

struct Neighbor {
  IpAddress address;     // IPv4 or IPv6
  uint16_t port = 179;   // remote TCP port, 1..65535
  bool passive = false;  // never connect; wait for the neighbor
  PeerSettings peer;
  // A gateway of a tenant (VRF-lite handoff): the neighbor is a router of the VRF of `vrfs:`
  // named here, directly connected on `interface`, which belongs to the tenant (what arrives on
  // it is routed in the tenant's table). Its IPv4/IPv6 unicast routes go into the tenant's table
  // and to the other VTEPs as type-5 routes; it gets the tenant's prefixes. Empty: the global
  // table.
  std::string vrf;
  std::string interface;
};

// Dynamic neighbors: a connection from inside `prefix` gets a session built from `peer`.
// A configured neighbor's own settings win over a range it falls in. Always passive.
struct NeighborRange {
  Prefix prefix;
  uint32_t max = 1000;  // most sessions at once from this range, 1..65535
  // Restarting with forwarding state (graceful restart, RFC 4724 §4.1), how long to wait for the
  // range's neighbors to come back, seconds: until then our routes are not complete, and each
  // neighbor of the range that came back is waited for like a configured one.
  uint16_t restart_wait = 60;
  PeerSettings peer;
};

// A route this speaker originates; the family follows the prefix (ipv4- or ipv6-unicast).
struct Originate {
  Prefix prefix;
  std::vector<bgp::Community> communities;
  std::vector<bgp::LargeCommunity> large_communities;
  std::vector<bgp::ExtCommunity> ext_communities;
  std::optional<uint32_t> med;
  std::optional<uint32_t> local_pref;
  std::optional<IpAddress> next_hop;  // nullopt = the session's local address
};

struct Listen {
  bool enabled = true;               // `listen: false` turns the listener off
  std::optional<IpAddress> address;  // nullopt = every address, IPv4 and IPv6
  uint16_t port = 179;               // 0 = an ephemeral port chosen by the kernel (tests)
};

struct Bgp {
  uint32_t asn = 0;      // 1..4294967295, not 23456 (AS_TRANS, RFC 6793)
  IpAddress router_id;   // BGP identifier, IPv4 (RFC 6286)
  IpAddress cluster_id;  // route reflection cluster ID (RFC 4456), IPv4; default router_id
  Listen listen;
  // Session defaults; every neighbor and range has its resolved copy in PeerSettings.
  uint16_t hold_time = 90;
  uint16_t keepalive = 30;  // default hold_time / 3
  uint16_t connect_retry = 30;
  std::vector<Neighbor> neighbors;
  std::vector<NeighborRange> neighbor_ranges;
  std::vector<Originate> originate;
  // Octets an update group keeps queued for a member that reads more slowly than the others
  // before that member is split out into a group of its own (docs/architecture.md).
  uint64_t update_group_max_lag = uint64_t{4} << 20;
};

// A MAC-VRF (EVPN instance, VLAN-based service, RFC 7432 §6.1) for one VNI. Unset RD and route
// targets are derived: RD <router_id>:<position in the list, from 1> (type 1, RFC 7432 §7.9),
// route targets <asn>:<vni> (RFC 8365 §5.1.2.1, as FRR derives them).
struct MacVrf {
  uint32_t vni = 0;  // 1..16777215
  std::optional<bgp::RouteDistinguisher> rd;
  std::vector<bgp::ExtCommunity> import_rts;  // empty: derived
  std::vector<bgp::ExtCommunity> export_rts;  // empty: derived
};

// A tenant (`vrfs:`, top level): a VRF with an L3 VNI, i.e. an IP-VRF (RFC 9136 §4.4.1
// interface-less model) for type-5 routes. Networks join it by naming it in `networks[].vrf`. RD
// and route targets derived as for MAC-VRFs (the RD's number continues after the MAC-VRFs', in
// the order of the list); the Router's MAC (RFC 9135 §8.1) defaults to 02:00:<router_id>.
struct Vrf {
  std::string name;    // same syntax as a network name; unique
  uint32_t l3vni = 0;  // 1..16777215, unique, not also an L2 VNI (evpn.vnis, networks)
  std::optional<bgp::RouteDistinguisher> rd;
  std::vector<bgp::ExtCommunity> import_rts;  // empty: derived
  std::vector<bgp::ExtCommunity> export_rts;  // empty: derived
  std::optional<MacAddress> router_mac;
};

// RFC 7432 §15.1 duplicate MAC detection: a MAC that moves max_moves times within window
// seconds is frozen until cleared. The ranges are FRR's (2..1000 moves, 2..1800 s).
struct DuplicateDetection {
  bool enabled = true;
  uint32_t max_moves = 5;
  uint32_t window = 180;  // seconds
};

struct Evpn {
  // This speaker's VTEP address. Set: it is a VTEP and joins every VNI's flood list (originates
  // a type-3 route per VNI). Unset: it only reflects and shows EVPN routes.
  std::optional<IpAddress> vtep;
  std::vector<MacVrf> vnis;
  DuplicateDetection duplicate_detection;
};

// The node agent: this host's VTEP and the local API the CNI plugin talks to (docs/agent-api.md).
struct Agent {
  // The VTEP address; unset: the first address (IPv4 first) of `vtep_interface`, or of the
  // interface of the default route when that is unset too (found at start; see prepare_agent).
  std::optional<IpAddress> vtep;
  std::string vtep_interface;
  std::string api_socket = "/run/isthmus/agent.sock";
  // Where the agent keeps its state across restarts: `endpoints.json` (the attachments and their
  // addresses, see agent/ipam.h). An absolute path; created when missing.
  std::string state_dir = "/var/lib/isthmus";
  // The anycast gateway's MAC on every bridge (the same on every node).
  MacAddress gateway_mac = MacAddress{{0x02, 0x00, 0x5e, 0x00, 0x00, 0x01}};
  // Seconds between full reconciles of the kernel state (drift that no event reports, such as a
  // deleted route), 0..86400; 0: none.
  uint32_t reconcile_interval = 60;
  // Port security (agent/port_guard.h): what the workload ports the agent makes may send.
  bool port_security = true;
};

// A virtual network: an L2 VNI with its subnets and anycast gateways. Its MAC-VRF is the
// `evpn.vnis` entry of the same VNI, or one derived like an entry without RD and route targets.
struct Network {
  std::string name;  // 1..15 characters: letters, digits, '-', '_'
  uint32_t vni = 0;  // 1..16777215
  std::optional<Prefix> subnet;
  std::optional<IpAddress> gateway;  // inside subnet; default: its first address
  std::optional<Prefix> subnet6;
  std::optional<IpAddress> gateway6;  // inside subnet6; default: its first address
  // This node's blocks of the subnets (`pool`, `pool6`: one prefix or a list): the node hands
  // out addresses only from these, so nodes with disjoint pools never hand out the same address.
  // Each inside its subnet, of its family, not overlapping another, with at least one address
  // that is not reserved (network, broadcast, gateway). Default: the whole subnet (then a
  // warning: several nodes with the whole subnet each hand out the same addresses). Empty when
  // the subnet is absent.
  std::vector<Prefix> pool;
  std::vector<Prefix> pool6;
  // The routing domain at the anycast gateway: networks with the same `vrf` reach each other
  // (routed at the workload's own node); networks of other VRFs do not. Default: the network's
  // own name (a VRF of its own). Same syntax as a network name. A name declared in `vrfs:` makes
  // the network part of that tenant (Config::find_vrf: its L3 VNI); any other name is a routing
  // domain at the node only, without an L3 VNI.
  std::string vrf;
  // Egress NAT: what the network's workloads send to destinations outside their VRF (no route in
  // its table but the unreachable default, or a tenant's default learned from a gateway) leaves
  // through the node's own routing (main) with the node's address as source.
  bool nat_outgoing = false;
  // The most remote MACs the node installs in the kernel for the network, and the most local
  // MACs it advertises (each counted on its own), 1..1000000: a peer or a workload that floods
  // MACs is held to it.
  uint32_t max_macs = 16384;
};

struct Config {
  std::string source;  // file name (or the name given to parse_config), for messages
  std::string control_socket = "/run/isthmus/isthmusd.sock";  // isthmusctl's unix socket
  log::Level log_level = log::Level::Info;
  Bgp bgp;
  Evpn evpn;
  std::optional<Agent> agent;
  std::vector<Network> networks;
  // The tenants (`vrfs:`), in the order of the file.
  std::vector<Vrf> vrfs;
  // prefix_lists:, community_lists: and policies: (top level). Compile with
  // bgp::policy::compile(policy, bgp.asn); config checking guarantees that this succeeds.
  bgp::policy::Definitions policy;
  // Things that are legal but probably not what the user wants, one per line, with location.
  std::vector<std::string> warnings;

  // The VRF of `vrfs:` named `name`; nullptr when there is none (a network's `vrf` may name a
  // routing domain that is not declared there).
  const Vrf* find_vrf(std::string_view name) const;
};

// Parses YAML text. `source_name` prefixes every message ("config.yaml:7: ..."). On failure the
// error holds every problem found, one per line.
Expected<Config> parse_config(std::string_view yaml, std::string_view source_name);

// Reads and parses a file; the path is the source name.
Expected<Config> load_config_file(const std::string& path);

}  // namespace isthmus::config
