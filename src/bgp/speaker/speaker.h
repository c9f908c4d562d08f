// The BGP speaker: binds the codec, the session FSM and the RIB to sockets on one event loop.
// One thread owns all of it; nothing here is touched from elsewhere (STYLE.md §2).
#pragma once

#include <map>
#include <memory>
#include <span>
#include <vector>

#include "bgp/rib/rib.h"
#include "bgp/speaker/config.h"
#include "bgp/speaker/peer.h"
#include "core/event_loop.h"

namespace isthmus::bgp {

class Speaker {
 public:
  Speaker(EventLoop& loop, SpeakerConfig config);
  ~Speaker();

  // Opens the listening socket and starts every configured session.
  Expected<void> start();
  // Cease to every session (RFC 9003 reason), for a clean daemon exit.
  void shutdown(const std::string& reason);

  EventLoop& loop() { return loop_; }
  Rib& rib() { return *rib_; }
  const Rib& rib() const { return *rib_; }
  const SpeakerConfig& config() const { return config_; }
  const std::map<uint32_t, std::unique_ptr<Peer>>& peers() const { return peers_; }
  Peer* find_peer(const IpAddress& address) const;

  // Called by peers.
  void on_established(Peer& peer, const session::Negotiated& n, const SocketAddress& local);
  // `retain`: the families whose routes the RIB keeps as stale (RFC 4724 §4.2).
  void on_down(Peer& peer, std::span<const Family> retain = {});
  // Runs the RIB's decision process and sends what it produced, once per batch of input.
  void request_flush();

 private:
  void on_accept();
  void flush();
  void reap_finished();

  EventLoop& loop_;
  SpeakerConfig config_;
  std::unique_ptr<Rib> rib_;
  Fd listen_fd_;
  std::map<uint32_t, std::unique_ptr<Peer>> peers_;
  uint32_t next_peer_id_ = 1;
  bool flush_pending_ = false;
};

}  // namespace isthmus::bgp
