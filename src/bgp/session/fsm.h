// The BGP finite state machine of one transport connection (RFC 4271 §8), as a pure function
// (state, event) -> (state, effects). Timers and sockets live in the speaker; it feeds events in
// and carries effects out, so tests can drive every transition without I/O or real time.
//
// The RFC's per-peer FSM is split in two here: the peer (speaker/peer.h) owns Idle, Connect and
// Active with the ConnectRetry timer and connection collision (§6.8) because it sees both the
// outgoing and the incoming connection; each connection runs this FSM from the moment TCP is up
// (OpenSent) to Established and its end. Not implemented: DelayOpen (§8.1.1 optional attributes
// 6-7), damping of peer oscillations (option 13-15 beyond a simple idle-hold backoff).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "bgp/wire/types.h"

namespace isthmus::bgp::session {

enum class State : uint8_t { Idle, Connect, Active, OpenSent, OpenConfirm, Established };
const char* to_string(State s);

enum class Timer : uint8_t { Hold, Keepalive };

// What this side wants from the session; fixed while the connection lives.
struct LocalConfig {
  uint32_t local_as = 0;
  uint32_t router_id = 0;  // BGP Identifier, host order
  uint32_t remote_as = 0;  // expected peer ASN
  uint16_t hold_time = 90;
  uint16_t keepalive = 30;  // 0 = hold_time / 3
  // The smallest Hold Time accepted from the peer (RFC 4271 §6.2 leaves it to local policy); 0
  // from the peer (no keepalives: a silent peer is never noticed) is refused too unless this is 0
  // or our own hold_time is 0.
  uint16_t min_hold_time = 0;
  Capabilities capabilities;  // advertised in our OPEN
};

// The result of OPEN negotiation (RFC 4271 §4.2, RFC 5492, RFC 6793, RFC 8654).
struct Negotiated {
  Open remote_open;
  uint16_t hold_time = 0;  // min of both; 0 = no hold timer and no keepalives
  uint16_t keepalive = 0;
  std::vector<Family> families;  // advertised by both sides
  bool four_octet_as = false;
  bool extended_message = false;
  bool route_refresh = false;
  bool graceful_restart = false;  // peer advertised GR (we act as helper)
};

// ---- Events (RFC 4271 §8.1) -------------------------------------------------------------------
struct TcpEstablished {};  // Events 16/17: the transport connection is up
struct TcpClosed {};       // Event 18: the transport failed or the peer closed it
struct ManualStop {        // Event 2: administrative stop; Cease with this subcode and text
  uint8_t subcode = cease::kAdministrativeShutdown;
  std::string reason;
  // The NOTIFICATION's data when the subcode defines its own (RFC 4486 §4: Maximum Number of
  // Prefixes Reached); otherwise `reason` goes as the RFC 9003 shutdown communication.
  std::optional<std::vector<uint8_t>> data;
};
struct TimerExpired {
  Timer timer;
};
struct OpenReceived {  // Event 19 (syntax already checked by the codec)
  Open open;
};
struct KeepaliveReceived {};  // Event 26
struct UpdateReceived {};     // Event 27 (content handled by the speaker)
struct RouteRefreshReceived {};
struct NotificationReceived {  // Events 24/25
  Notification notification;
};
struct MessageError {  // Events 21/22/28: a decode error; send this NOTIFICATION and close
  Notification notification;
};
using Event = std::variant<TcpEstablished, TcpClosed, ManualStop, TimerExpired, OpenReceived,
                           KeepaliveReceived, UpdateReceived, RouteRefreshReceived,
                           NotificationReceived, MessageError>;

// ---- Effects ----------------------------------------------------------------------------------
struct SendOpen {
  Open open;
};
struct SendKeepalive {};
struct SendNotification {
  Notification notification;
};
struct StartTimer {
  Timer timer;
  std::chrono::seconds after;
};
struct StopTimer {
  Timer timer;
};
struct SessionEstablished {
  Negotiated negotiated;
};
// The connection is over: the speaker closes the socket (after sending any NOTIFICATION queued
// before this effect). `error` says why, for the log and `show bgp neighbor`.
struct CloseConnection {
  std::string error;
  bool was_established = false;
};
using Effect = std::variant<SendOpen, SendKeepalive, SendNotification, StartTimer, StopTimer,
                            SessionEstablished, CloseConnection>;
using Effects = std::vector<Effect>;

class ConnectionFsm {
 public:
  explicit ConnectionFsm(LocalConfig config) : config_(std::move(config)) {}

  State state() const { return state_; }
  const std::optional<Negotiated>& negotiated() const { return negotiated_; }
  // The peer's OPEN, once received (for collision resolution, RFC 4271 §6.8).
  const std::optional<Open>& remote_open() const { return remote_open_; }

  Effects handle(const Event& event);

  // The OPEN this side sends.
  Open local_open() const;

 private:
  void change_state(State next);
  void on_open(const OpenReceived& e, Effects& out);
  // RFC 4271 §6.2 semantic checks and capability negotiation.
  std::optional<Notification> check_open(const Open& open) const;
  void fail(Notification n, std::string why, Effects& out);
  void close(std::string why, Effects& out);

  LocalConfig config_;
  State state_ = State::Connect;
  std::optional<Open> remote_open_;
  std::optional<Negotiated> negotiated_;
};

// RFC 4271 §6.8: of two connections that reached OpenConfirm (or OpenSent with the peer's OPEN
// known), keep the one initiated by the side with the higher BGP Identifier. Returns true when
// the connection this side initiated (outbound) is to be kept.
bool keep_outbound_on_collision(uint32_t local_id, uint32_t remote_id);

// Negotiates what both OPENs say (never fails; check_open ran before).
Negotiated negotiate(const LocalConfig& local, const Open& remote);

}  // namespace isthmus::bgp::session
