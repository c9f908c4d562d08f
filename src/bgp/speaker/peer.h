// One BGP neighbor: its configuration, its connections (at most one outgoing and one incoming
// while a collision is resolved, RFC 4271 §6.8), the peer-level states Idle/Connect/Active with
// the ConnectRetry timer, and the byte streams in and out of the established session; RFC 4724
// §4.2 (graceful restart, receiving speaker: stale routes, restart and stale-path timers) with
// RFC 8538 (the N bit: graceful restart after a NOTIFICATION; Hard Reset). The rules themselves
// are in graceful_restart.h.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bgp/session/fsm.h"
#include "bgp/speaker/config.h"
#include "bgp/speaker/socket.h"
#include "bgp/wire/codec.h"
#include "core/event_loop.h"

namespace isthmus::bgp {

class Speaker;

struct SessionCounters {
  uint64_t messages_in = 0, messages_out = 0;
  uint64_t updates_in = 0, updates_out = 0;
  uint64_t notifications_in = 0, notifications_out = 0;
  uint64_t refreshes_in = 0;
  uint64_t update_errors = 0;  // RFC 7606 treat-as-withdraw / attribute discard
  uint32_t established_transitions = 0;
};

class Peer {
 public:
  Peer(Speaker& speaker, PeerConfig config, uint32_t id, bool dynamic);
  ~Peer();
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  void start();
  // Administrative stop: Cease with the RFC 9003 reason to an open session.
  // `data`: the NOTIFICATION's data when the subcode defines its own (RFC 4486 §4); otherwise
  // `reason` goes as the shutdown communication.
  void stop(uint8_t cease_subcode, const std::string& reason,
            std::optional<std::vector<uint8_t>> data = std::nullopt);
  // A stop after which the peer keeps our routes as stale (see Speaker::shutdown): the
  // connection closes without a NOTIFICATION.
  void stop_graceful(const std::string& reason);
  void accept(Fd fd, const SocketAddress& remote);
  // `clear bgp neighbor`: reset (Cease/Administrative Reset, then reconnect), or soft: ask the
  // peer to re-send its routes (ROUTE-REFRESH, RFC 2918) / re-send ours. A `hard` reset is sent
  // as a Hard Reset when the N bit was negotiated (RFC 8538 §5), so that neither side keeps the
  // other's routes; a graceful one is a plain Administrative Reset, after which both keep them
  // as stale (RFC 8538 §4).
  Expected<void> reset(const std::string& reason, bool hard = true);
  Expected<void> refresh_in();
  Expected<void> refresh_out();
  // Writes queued output and pulls more from the RIB while the socket takes it.
  void pump_output();

  uint32_t id() const { return id_; }
  const PeerConfig& config() const { return config_; }
  bool dynamic() const { return dynamic_; }
  bool ibgp() const;
  session::State state() const;
  bool established() const { return state() == session::State::Established; }
  const session::Negotiated* negotiated() const;
  const SessionCounters& counters() const { return counters_; }
  const std::string& last_error() const { return last_error_; }
  const std::string& last_notification_sent() const { return last_sent_; }
  const std::string& last_notification_received() const { return last_received_; }
  std::optional<SocketAddress> local_endpoint() const;
  TimePoint established_at() const { return established_at_; }
  // A dynamic peer whose session ended; the speaker deletes it.
  bool finished() const { return finished_; }
  // RFC 4724 §4.2: the families whose routes the RIB keeps as stale for this peer.
  const std::vector<Family>& stale_families() const { return stale_families_; }
  // The peer has sent End-of-RIB for the family on the current session.
  bool end_of_rib_received(Family f) const {
    return std::find(eor_received_.begin(), eor_received_.end(), f) != eor_received_.end();
  }
  // RFC 2545 §3: our link-local address sent with IPv6 next hops on the current session (set by
  // the speaker when the session is established).
  const std::optional<IpAddress>& local_link_local() const { return local_link_local_; }
  void set_local_link_local(std::optional<IpAddress> a) { local_link_local_ = a; }

 private:
  struct Connection {
    Fd fd;
    bool outbound = false;
    bool connecting = false;  // TCP handshake in progress (outbound)
    session::ConnectionFsm fsm;
    CodecOptions codec;
    std::vector<uint8_t> in;   // bytes read, not yet decoded
    std::vector<uint8_t> out;  // bytes to write
    size_t out_offset = 0;
    bool want_write = false;
    std::array<EventLoop::TimerId, 2> timers{};
    SocketAddress local, remote;
    bool notification = false;  // a NOTIFICATION was sent or received on it
    bool hard_reset = false;    // ... and it was a Cease/Hard Reset (RFC 8538 §3)
    // RFC 9687: runs while bytes wait to be written and the peer reads none of them.
    EventLoop::TimerId send_hold_timer = 0;
    explicit Connection(session::LocalConfig c) : fsm(std::move(c)) {}
  };

  session::LocalConfig local_config() const;
  void connect();
  void schedule_connect(std::chrono::milliseconds after);
  void on_io(Connection* c, uint32_t events);
  void on_readable(Connection* c);
  bool on_message(Connection* c, std::span<const uint8_t> bytes);
  void on_update(Connection* c, DecodedUpdate& u);
  void handle(Connection* c, const session::Event& e);
  void apply(Connection* c, const session::Effect& e);
  void on_established(Connection* c, const session::Negotiated& n);
  void resolve_collision(Connection* c);
  void send(Connection* c);
  // RFC 9687: (re)starts or stops the connection's send hold timer after a write attempt.
  void watch_send_hold(Connection* c, bool progress);
  void close(Connection* c, const std::string& reason, bool was_established);
  // RFC 4724 §4.2, RFC 8538 §4: the families whose routes are kept as stale when the session on
  // `c` ends the way it has so far.
  std::vector<Family> graceful_restart_families(const Connection& c) const;
  // RFC 8538 §2: both OPENs on `c` carry the N bit.
  bool notification_negotiated(const Connection& c) const;
  // `gr` and `llgr`: the peer's capabilities on the session that ended (RFC 4724, RFC 9494).
  void start_graceful_restart(std::vector<Family> families,
                              const std::optional<GracefulRestartCapability>& gr,
                              const std::optional<LongLivedGracefulRestartCapability>& llgr);
  // RFC 9494: the Restart Time is over for `families` (or was zero): those with a Long-lived
  // Stale Time stay, as long-lived stale, for that long; the others go.
  void enter_long_lived_stale(std::vector<Family> families);
  void cancel_long_lived_timers();
  // A dynamic neighbor with no connection and no stale route left is done (the speaker reaps it).
  void finish_if_gone();
  // The restarted peer's new OPEN: families it no longer preserves go now, the rest wait for
  // End-of-RIB.
  void resume_graceful_restart(const session::Negotiated& n);
  void end_of_rib(Family family);
  // RFC 4486: after an UPDATE with routes of `family`, its count against the neighbor's limit.
  // Returns false when the session was ended for it.
  bool check_max_prefixes(Family family);
  void purge_stale(const std::string& why);
  void update_watch(Connection* c);
  Connection* other(Connection* c);
  bool alive(const Connection* c) const { return c == outbound_.get() || c == inbound_.get(); }
  std::unique_ptr<Connection>& slot(Connection* c);

  Speaker& speaker_;
  PeerConfig config_;
  uint32_t id_;
  bool dynamic_;
  bool running_ = false;
  bool finished_ = false;
  session::State idle_state_ = session::State::Idle;  // Idle, Connect or Active
  std::unique_ptr<Connection> outbound_, inbound_;
  Connection* established_ = nullptr;
  EventLoop::TimerId connect_timer_ = 0;
  uint32_t failures_ = 0;  // consecutive, for the reconnect backoff
  // RFC 8538 §5: whether an Administrative Reset being sent is a Hard Reset (`clear bgp
  // neighbor X` is, `clear bgp neighbor X graceful` is not).
  bool hard_admin_reset_ = true;
  SessionCounters counters_;
  std::vector<Family> eor_received_;  // on the current session
  std::string last_error_, last_sent_, last_received_;
  TimePoint established_at_{};
  std::optional<IpAddress> local_link_local_;
  // RFC 4724 §4.2: the families whose routes the RIB keeps as stale for this peer, with the
  // peer's Restart Time running while it is down and the stale-path timer after it is back.
  std::vector<Family> stale_families_;
  EventLoop::TimerId restart_timer_ = 0;
  EventLoop::TimerId stale_timer_ = 0;
  // RFC 9494: the peer's Long-lived Stale Time per stale family (from the session that ended),
  // the families past their Restart Time, and the timer of each.
  std::map<Family, uint32_t> long_lived_times_;
  std::vector<Family> long_lived_families_;
  std::map<Family, EventLoop::TimerId> long_lived_timers_;
  // RFC 4486: the families past their warning threshold (warned once until below again), and
  // the timer that lets a session ended for too many prefixes come back.
  std::vector<Family> max_prefix_warned_;
  EventLoop::TimerId max_prefix_timer_ = 0;
  // RFC 4684 §6: how long our EVPN End-of-RIB waits for the peer's RT-constraint End-of-RIB.
  EventLoop::TimerId rtc_eor_timer_ = 0;
};

}  // namespace isthmus::bgp
