// The BGP speaker: binds the codec, the session FSM and the RIB to sockets on one event loop.
// One thread owns all of it; nothing here is touched from elsewhere (docs/architecture.md,
// "Threads, queues and owners").
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "bgp/rib/rib.h"
#include "bgp/speaker/config.h"
#include "bgp/speaker/graceful_restart.h"
#include "bgp/speaker/peer.h"
#include "core/event_loop.h"

namespace isthmus::bgp {

class Speaker {
 public:
  Speaker(EventLoop& loop, SpeakerConfig config);
  ~Speaker();

  // Opens the listening socket and starts every configured session.
  Expected<void> start();
  // Cease to every session (RFC 9003 reason), for a clean daemon exit. `graceful`: the exit of
  // a speaker whose forwarding state stays (config().forwarding): peers keep our routes as stale
  // for our Restart Time (RFC 4724 §4.2): the connections close without a NOTIFICATION to
  // every peer that negotiated graceful restart.
  void shutdown(const std::string& reason, bool graceful = false);

  EventLoop& loop() { return loop_; }
  Rib& rib() { return *rib_; }
  const Rib& rib() const { return *rib_; }
  // The Rib of a VRF whose neighbors the configuration names (PeerConfig::vrf): the unicast
  // routes of its gateways and what the VRF originates and imports for them. nullptr: no
  // neighbor names it. Made at construction, so the owner can attach to it before start().
  Rib* vrf_rib(const std::string& vrf);
  const Rib* vrf_rib(const std::string& vrf) const;
  // The Rib of a peer: its VRF's, or the global one.
  Rib& rib_of(const PeerConfig& peer);
  const Rib& rib_of(const PeerConfig& peer) const;
  const std::map<std::string, std::unique_ptr<Rib>>& vrf_ribs() const { return vrf_ribs_; }
  const SpeakerConfig& config() const { return config_; }
  const std::map<uint32_t, std::unique_ptr<Peer>>& peers() const { return peers_; }
  Peer* find_peer(const IpAddress& address) const;

  // Called by peers.
  void on_established(Peer& peer, const session::Negotiated& n, const SocketAddress& local);
  // `retain`: the families whose routes the RIB keeps as stale (RFC 4724 §4.2).
  void on_down(Peer& peer, std::span<const Family> retain = {});
  // Runs the RIB's decision process and sends what it produced, once per batch of input.
  void request_flush();

  // RFC 4724 §4.1, our own restart. For the families of config().forwarding, the routes are
  // complete once every peer that negotiates them has sent its End-of-RIB (peers without
  // graceful restart or restarting themselves excepted) or the selection deferral timer
  // expired. Until then the owner of the forwarding state adds to it but removes nothing, and
  // our OPENs carry the R bit if this start found the state preserved.
  bool routes_complete() const { return routes_complete_; }
  // Called once, on the loop after the flush that took the last End-of-RIB into the RIB.
  void set_on_routes_complete(std::function<void(const std::string& why)> f) {
    on_routes_complete_ = std::move(f);
  }
  // What our Graceful Restart Capability says of our own restart to a peer negotiating
  // `families`.
  // A neighbor of a VRF (a tenant's gateway) also has its unicast routes in the kernel's tenant
  // table, which outlives a restart of the agent like its EVPN state.
  gr::OwnRestart own_restart(const PeerConfig& peer) const;
  // Called by peers: an End-of-RIB arrived.
  void on_end_of_rib();
  // RFC 4486: a dynamic neighbor ended for too many prefixes may not come back from that address
  // for `how_long` (0: until the daemon restarts).
  void hold_off(const IpAddress& address, std::chrono::seconds how_long);

 private:
  void on_accept();
  void flush();
  void reap_finished();
  void check_routes_complete();
  void arm_deferral_timer();
  // RFC 4724 §3 R bit: the forwarding state was preserved and our routes are not complete yet.
  bool restarting() const { return config_.forwarding.preserved && !routes_complete_; }
  void for_each_rib(const std::function<void(Rib&)>& fn);
  void finish_routes(std::string why);
  // The families of `peer` whose forwarding state survives our restart (config().forwarding).
  std::vector<Family> forwarding_families(const PeerConfig& peer) const;

  EventLoop& loop_;
  SpeakerConfig config_;
  std::unique_ptr<Rib> rib_;
  std::map<std::string, std::unique_ptr<Rib>> vrf_ribs_;
  Fd listen_fd_;
  std::map<uint32_t, std::unique_ptr<Peer>> peers_;
  uint32_t next_peer_id_ = 1;
  bool flush_pending_ = false;
  bool routes_complete_ = true;        // see routes_complete()
  bool forwarding_preserved_ = false;  // our F bit
  std::string routes_complete_why_;    // set when complete, until the callback has run
  std::function<void(const std::string&)> on_routes_complete_;
  EventLoop::TimerId deferral_timer_ = 0;
  // Restarting with neighbor ranges: false until the longest restart_wait of a range is over.
  bool ranges_waited_ = true;
  EventLoop::TimerId range_wait_timer_ = 0;
  bool any_established_ = false;                            // since the start
  std::map<IpAddress, std::optional<TimePoint>> held_off_;  // see hold_off(); nullopt: for good
};

}  // namespace isthmus::bgp
