// The EVPN service of a VTEP: the MAC-VRFs (one per L2 VNI), fed incrementally from the Loc-RIB
// (RibConfig::best_evpn_changed), and the origination of this VTEP's routes (type 3 per VNI,
// type 2 per local MAC and MAC/IP). Per VNI it keeps every remote advertisement of every MAC and
// the RFC 7432 §15 winner, the flood list (remote VTEPs of type-3 routes) and the local MACs.
// RFC 7432 §15.1 MAC mobility (sequence numbers, moves in both directions, duplicate detection:
// N moves within M seconds freeze the MAC), §15.2 sticky (static) MACs.
// IP-VRFs (one per L3 VNI): type-5 IP prefix origination and import (RFC 9136 §4.4.1).
// Gaps: single-homed only (no ESI, no aliasing or mass withdraw, RFC 7432 §8); no proxy ARP/ND
// state beyond the IPs of MAC/IP routes; duplicate IP detection (per IP, RFC 9161) is not done.
//
// Threading: one thread (the speaker's) calls everything. best_evpn_changed() runs inside
// Rib::flush() and only queues the change; run_pending() (posted by the `wake` hook) applies the
// queue, originates or withdraws in the Rib and tells the observer, outside the flush.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bgp/rib/rib.h"
#include "bgp/wire/evpn.h"
#include "core/expected.h"
#include "evpn/ip_vrf.h"
#include "evpn/mac_vrf.h"

namespace isthmus::evpn {

using Clock = std::chrono::steady_clock;

// RFC 7432 §15.1: "If a PE detects that a MAC address is moving N times within M seconds, it
// should alert the operator and stop sending and processing any BGP MAC/IP Advertisement routes
// for that MAC address". N = 5 and M = 180 are the RFC's defaults.
struct DuplicateDetection {
  bool enabled = true;
  uint32_t max_moves = 5;
  std::chrono::seconds window{180};
};

struct InstanceConfig {
  std::vector<MacVrf> mac_vrfs;
  std::optional<IpAddress> vtep;  // unset: not a VTEP (shows and imports, originates nothing)
  DuplicateDetection duplicate_detection;
  std::vector<IpVrf> ip_vrfs;
};

// RFC 4684 §4: one route target membership per distinct import route target of the MAC-VRFs and
// IP-VRFs, with our AS as origin AS, in order; and the attributes to originate them with (ORIGIN
// IGP, the next hop filled per peer).
std::vector<bgp::RtMembership> rt_memberships(const InstanceConfig& config, uint32_t asn);
bgp::PathAttributes rt_membership_attributes();

// One remote VTEP's advertisement of a MAC: its MAC-only and MAC/IP routes taken together.
struct RemoteMac {
  IpAddress vtep;
  uint32_t sequence = 0;  // the highest of its routes
  bool sticky = false;    // any of its routes
  std::vector<IpAddress> ips;
  bgp::RouteDistinguisher rd;
  bgp::PeerId peer = bgp::kLocalPeer;
  size_t routes = 0;
  bool operator==(const RemoteMac&) const = default;
};

// One remote VTEP's type-5 route for a prefix of an IP-VRF (RFC 9136 §4.4.1).
struct RemotePrefix {
  IpAddress vtep;
  std::optional<MacAddress> router_mac;  // RFC 9135 §8.1 Router's MAC community
  uint32_t label = 0;                    // the L3 VNI it sends with
  bgp::RouteDistinguisher rd;
  bgp::PeerId peer = bgp::kLocalPeer;
  bgp::AsPath as_path;  // of a prefix a VTEP learned from a gateway; empty for a subnet
  bool host = false;    // a host route of symmetric IRB (a MAC/IP route), not a type-5 route
  // Why a dataplane cannot use the route (empty: it can): no Router's MAC to send to, or a form
  // of RFC 9136 this VTEP does not implement (a gateway address, §4.4.2; an ESI, multihoming).
  std::string unusable;
  bool operator==(const RemotePrefix&) const = default;
};

// A prefix of an IP-VRF as `show evpn prefix` lists it.
struct PrefixRow {
  Prefix prefix;
  bool local = false;                // originated here
  std::vector<RemotePrefix> remote;  // sorted by VTEP
};

// A change of the remote MAC table as a dataplane should program it: the MACs whose winner is
// another VTEP (a MAC this VTEP advertises and wins is not in it).
struct MacEvent {
  enum class Kind : uint8_t {
    Added,    // the MAC is now at a remote VTEP
    Moved,    // to another remote VTEP (old_vtep)
    Updated,  // same VTEP, other sequence, flags or IPs
    Removed,  // no remote VTEP has it (or this VTEP won it back)
  };
  Kind kind = Kind::Added;
  uint32_t vni = 0;
  MacAddress mac;
  std::optional<RemoteMac> entry;     // the winner; unset for Removed
  std::optional<IpAddress> old_vtep;  // Moved, Removed
};

// What the node agent hears. Called from run_pending() or from the API call that caused it,
// never from inside Rib::flush(); a callback may call the Instance again.
struct Observer {
  std::function<void(const MacEvent&)> remote_mac;
  std::function<void(uint32_t vni, const std::vector<IpAddress>& vteps)> flood_list;
  // RFC 7432 §15.1: a MAC we advertised moved to `vtep` (which advertises `sequence`); our
  // routes were withdrawn.
  std::function<void(uint32_t vni, const MacAddress&, const IpAddress& vtep, uint32_t sequence)>
      local_mac_moved;
  // RFC 7432 §15.1: the MAC moved max_moves times within the window; it is frozen.
  std::function<void(uint32_t vni, const MacAddress&)> duplicate;
  // RFC 7432 §15.2: a MAC learned here is advertised as static (sticky) by `vtep`.
  std::function<void(uint32_t vni, const MacAddress&, const IpAddress& vtep)> sticky_conflict;
  // The remote VTEPs of a prefix of an IP-VRF changed (empty: none left), sorted by VTEP.
  std::function<void(uint32_t l3_vni, const Prefix&, const std::vector<RemotePrefix>&)>
      remote_prefix;
};

struct Hooks {
  // run_pending() has work: call it soon, from the event loop (not from inside Rib::flush()).
  std::function<void()> wake;
  // Routes were originated or withdrawn: the Rib needs a flush.
  std::function<void()> rib_changed;
  std::function<Clock::time_point()> now;  // unset: Clock::now
};

// A local MAC: what this VTEP learned (or was told) is attached here.
struct LocalMac {
  enum class State : uint8_t {
    Local,      // attached here; advertised unless frozen
    MovedAway,  // another VTEP won it (RFC 7432 §15.1); withdrawn until learned here again
    Conflict,   // a remote VTEP advertises it as static (RFC 7432 §15.2); not advertised
  };
  State state = State::Local;
  std::set<std::optional<IpAddress>> routes;  // nullopt: the MAC-only route
  bool sticky = false;
  uint32_t sequence = 0;  // what it is (or would be) advertised with
  bool duplicate = false;
  bool conflict = false;                // a remote VTEP advertises it sticky
  std::deque<Clock::time_point> moves;  // within the detection window
  std::optional<Clock::time_point> frozen_at;
  // What is in the Rib now: the routes and the MAC Mobility values they carry.
  std::set<std::optional<IpAddress>> in_rib;
  uint32_t rib_sequence = 0;
  bool rib_sticky = false;
};

// A MAC of a VNI as `show evpn mac` lists it: the winner of every advertisement, ours included.
struct MacRow {
  MacAddress mac;
  bool local = false;                   // the winner is this VTEP's advertisement
  RemoteMac winner;                     // vtep/sequence/sticky/ips of the winner (ours when local)
  size_t advertisements = 0;            // VTEPs advertising it, this one included
  const LocalMac* local_mac = nullptr;  // this VTEP's entry, if it has one
};

// What add_local_mac() did.
struct LocalMacResult {
  bool advertised = false;
  uint32_t sequence = 0;
  std::string note;  // why it is not advertised, or that it was taken over from another VTEP
};

class Instance {
 public:
  Instance(bgp::Rib& rib, InstanceConfig config, Hooks hooks, Observer observer = {});
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  // The node agent, which starts after the Instance: from now on it hears every change; the
  // state so far it reads with macs(), flood_list() and prefixes().
  void set_observer(Observer observer) { observer_ = std::move(observer); }

  // ---- Feeding (the Rib's RibConfig::best_evpn_changed) ----
  void best_evpn_changed(std::span<const uint8_t> key, const bgp::Path* best);
  // Applies what best_evpn_changed() queued. Call outside Rib::flush().
  void run_pending();
  bool has_pending() const { return !pending_.empty(); }

  // ---- Origination ----
  // Joins every VNI's flood list (a type-3 route per VNI, RFC 7432 §11) and advertises the
  // IP-VRFs' subnets (type 5, RFC 9136 §4.4.1) when this is a VTEP.
  void start();
  Expected<void> join_flood_list(uint32_t vni);
  Expected<void> leave_flood_list(uint32_t vni);
  // A MAC (and IP) attached to this VTEP: type-2 routes, MAC-only (ip unset) or MAC/IP. RFC 7432
  // §15.1: when another VTEP advertises the MAC, it goes out with their highest sequence + 1.
  // Sticky: advertised as static (RFC 7432 §15.2), never moves.
  Expected<LocalMacResult> add_local_mac(uint32_t vni, const MacAddress& mac,
                                         const std::optional<IpAddress>& ip, bool sticky = false);
  // Withdraws the MAC/IP route (ip set) or the MAC with all its routes (ip unset). False when
  // there was nothing to remove.
  Expected<bool> remove_local_mac(uint32_t vni, const MacAddress& mac,
                                  const std::optional<IpAddress>& ip);
  // Unfreezes duplicate MACs of the VNI (one MAC, or all). A MAC attached here is advertised
  // again, taking over with the next sequence number if another VTEP holds it. Returns how many
  // were cleared.
  Expected<size_t> clear_duplicate(uint32_t vni, const std::optional<MacAddress>& mac);

  // RFC 9136 §4.4.1: a prefix of the IP-VRF of `l3_vni` reachable through this VTEP, advertised
  // as a type-5 route (with `as_path`, see ip_prefix_route()). False when it already was, with
  // that AS_PATH (or, for remove, was not).
  Expected<bool> add_prefix(uint32_t l3_vni, const Prefix& prefix, const bgp::AsPath& as_path = {});
  Expected<bool> remove_prefix(uint32_t l3_vni, const Prefix& prefix);

  // ---- Views ----
  const InstanceConfig& config() const { return config_; }
  const MacVrf* find_vrf(uint32_t vni) const;
  // Sorted by MAC.
  Expected<std::vector<MacRow>> macs(uint32_t vni) const;
  Expected<std::vector<IpAddress>> flood_list(uint32_t vni) const;
  // Routes (best paths, any type, ours included) imported into the VNI.
  size_t route_count(uint32_t vni) const;
  const LocalMac* local_mac(uint32_t vni, const MacAddress& mac) const;
  const IpVrf* find_ip_vrf(uint32_t l3_vni) const;
  // Sorted by prefix.
  Expected<std::vector<PrefixRow>> prefixes(uint32_t l3_vni) const;
  // The prefixes of the IP-VRF that remote VTEPs advertise, each with its remote routes (sorted
  // by VTEP, as the observer was told), in prefix order, without copying them.
  Expected<void> for_each_remote_prefix(
      uint32_t l3_vni,
      const std::function<void(const Prefix&, const std::vector<RemotePrefix>&)>& fn) const;

 private:
  // One remote route (a key's best path) of a MAC.
  struct RemoteRoute {
    IpAddress vtep;
    std::optional<IpAddress> ip;
    uint32_t sequence = 0;
    bool sticky = false;
    bgp::RouteDistinguisher rd;
    bgp::PeerId peer = bgp::kLocalPeer;
  };
  struct Vni {
    MacVrf vrf;
    std::map<MacAddress, std::map<bgp::EvpnKey, RemoteRoute>> remote;
    std::map<bgp::EvpnKey, IpAddress> imet;  // remote type-3 routes: originator
    std::set<bgp::EvpnKey> keys;             // every imported route, ours too
    std::map<MacAddress, LocalMac> local;
    std::map<MacAddress, RemoteMac> fib;  // what the observer was told
    std::vector<IpAddress> flood;         // what the observer was told
    bool imet_originated = false;
  };
  struct L3Vni {
    IpVrf vrf;
    std::map<Prefix, std::map<bgp::EvpnKey, RemotePrefix>> remote;
    std::map<Prefix, bgp::AsPath> local;
    std::map<Prefix, std::vector<RemotePrefix>> told;  // what the observer was told
  };
  struct Change {
    bgp::EvpnKey key;
    std::optional<bgp::EvpnRoute> route;  // unset: the key has no best path left
    bgp::PeerId peer = bgp::kLocalPeer;
    IpAddress next_hop;
    std::vector<bgp::ExtCommunity> ext_communities;
    bgp::AsPath as_path;
  };
  struct Touched {
    std::set<std::pair<uint32_t, MacAddress>> macs;
    std::set<uint32_t> flood;
    std::set<std::pair<uint32_t, Prefix>> prefixes;
  };

  Vni* find(uint32_t vni);
  const Vni* find(uint32_t vni) const;
  // The IP-VRF of the VNI's network (symmetric IRB); nullptr: none.
  const IpVrf* ip_vrf_of(const Vni& v) const;
  Expected<Vni*> vtep_vni(uint32_t vni);
  Expected<L3Vni*> vtep_l3(uint32_t l3_vni);
  const L3Vni* find_l3(uint32_t l3_vni) const;
  std::vector<RemotePrefix> remote_prefixes(const L3Vni& v, const Prefix& prefix) const;
  void update_prefix(L3Vni& v, const Prefix& prefix);
  Clock::time_point now() const;

  void apply(const Change& c, Touched& touched);
  void forget_key(const bgp::EvpnKey& key, Touched& touched);
  // The remote VTEPs' advertisements of a MAC, one per VTEP, best first (RFC 7432 §15).
  std::vector<RemoteMac> remote_macs(const Vni& v, const MacAddress& mac) const;
  // Mobility decisions for one MAC after its remote advertisements changed, then the Rib and
  // the observer's table brought in line.
  void reconcile(Vni& v, const MacAddress& mac);
  // Records a move; true when it makes the MAC a duplicate (now frozen).
  bool record_move(Vni& v, const MacAddress& mac, LocalMac& l);
  // RFC 7432 §15.1: the sequence a MAC learned here takes over with.
  static uint32_t takeover_sequence(const std::vector<RemoteMac>& remote, const LocalMac& l);
  // Originates/withdraws so that the Rib has what `l` says (a frozen MAC only loses routes).
  void sync(Vni& v, const MacAddress& mac, LocalMac& l);
  void update_fib(Vni& v, const MacAddress& mac);
  void update_flood(Vni& v);
  void deliver();

  bgp::Rib& rib_;
  InstanceConfig config_;
  Hooks hooks_;
  Observer observer_;
  std::map<uint32_t, Vni> vnis_;
  std::map<uint32_t, L3Vni> l3_;
  // Where each imported key went: its VNIs, and its MAC for a type-2 route.
  struct KeyPlace {
    std::vector<uint32_t> vnis;
    std::optional<MacAddress> mac;
    std::vector<uint32_t> l3_vnis;  // type 5
    std::optional<Prefix> prefix;
  };
  std::map<bgp::EvpnKey, KeyPlace> key_vnis_;
  std::vector<Change> pending_;
  bool rib_dirty_ = false;
  // Observer calls waiting for the end of the current operation.
  std::vector<std::function<void()>> events_;
  bool delivering_ = false;
};

}  // namespace isthmus::evpn
