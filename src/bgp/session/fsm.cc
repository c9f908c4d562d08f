#include "bgp/session/fsm.h"

#include <algorithm>

namespace isthmus::bgp::session {

namespace {

// RFC 4271 §8.2.2: in OpenSent the hold timer is set to "a large value"; 4 minutes suggested.
constexpr std::chrono::seconds kOpenSentHoldTime{240};

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

Notification error(ErrorCode code, uint8_t subcode, std::vector<uint8_t> data = {}) {
  return Notification{code, subcode, std::move(data)};
}

}  // namespace

const char* to_string(State s) {
  switch (s) {
    case State::Idle:
      return "Idle";
    case State::Connect:
      return "Connect";
    case State::Active:
      return "Active";
    case State::OpenSent:
      return "OpenSent";
    case State::OpenConfirm:
      return "OpenConfirm";
    case State::Established:
      return "Established";
  }
  return "?";
}

bool keep_outbound_on_collision(uint32_t local_id, uint32_t remote_id) {
  // RFC 4271 §6.8: if the local BGP Identifier is less than the remote one, the connection
  // initiated by the remote side survives; otherwise the one this side initiated does.
  return local_id > remote_id;
}

Open ConnectionFsm::local_open() const {
  Open o;
  o.my_as = config_.local_as > 0xffff ? kAsTrans : static_cast<uint16_t>(config_.local_as);
  o.hold_time = config_.hold_time;
  o.bgp_id = config_.router_id;
  o.caps = config_.capabilities;
  return o;
}

Negotiated negotiate(const LocalConfig& local, const Open& remote) {
  Negotiated n;
  n.remote_open = remote;
  // RFC 4271 §4.2: the smaller hold time of both OPENs; 0 means no keepalives at all.
  n.hold_time = std::min(local.hold_time, remote.hold_time);
  if (n.hold_time != 0) {
    uint16_t wanted = local.keepalive != 0 ? local.keepalive : local.hold_time / 3;
    n.keepalive = std::max<uint16_t>(1, std::min<uint16_t>(wanted, n.hold_time / 3));
  }
  // RFC 4760 §8: without the capability, a speaker supports IPv4 unicast only.
  auto families_of = [](const Capabilities& c) {
    return c.multiprotocol.empty() ? std::vector<Family>{kIpv4Unicast} : c.multiprotocol;
  };
  auto ours = families_of(local.capabilities);
  auto theirs = families_of(remote.caps);
  for (auto f : ours)
    if (std::find(theirs.begin(), theirs.end(), f) != theirs.end()) n.families.push_back(f);
  n.four_octet_as = local.capabilities.four_octet_as && remote.caps.four_octet_as;
  n.extended_message = local.capabilities.extended_message && remote.caps.extended_message;
  n.route_refresh = remote.caps.route_refresh || remote.caps.enhanced_route_refresh;
  n.graceful_restart = remote.caps.graceful_restart.has_value();
  return n;
}

std::optional<Notification> ConnectionFsm::check_open(const Open& open) const {
  // RFC 4271 §6.2 and RFC 6793 §4.1: the peer's ASN is the 4-octet capability when present.
  if (open.asn() != config_.remote_as) {
    std::vector<uint8_t> data{static_cast<uint8_t>(open.my_as >> 8),
                              static_cast<uint8_t>(open.my_as)};
    return error(ErrorCode::OpenMessage, open_error::kBadPeerAs, std::move(data));
  }
  // RFC 4271 §6.2: hold time 1 or 2 seconds is unacceptable.
  if (open.hold_time == 1 || open.hold_time == 2)
    return error(ErrorCode::OpenMessage, open_error::kUnacceptableHoldTime);
  // "An implementation MAY reject connections on the basis of the Hold Time."
  if (config_.hold_time != 0 && config_.min_hold_time != 0 &&
      (open.hold_time == 0 || open.hold_time < config_.min_hold_time))
    return error(ErrorCode::OpenMessage, open_error::kUnacceptableHoldTime);
  // RFC 6286 §2.2: the identifier is a non-zero value, unique within the AS.
  if (open.bgp_id == 0 ||
      (open.bgp_id == config_.router_id && config_.remote_as == config_.local_as))
    return error(ErrorCode::OpenMessage, open_error::kBadBgpIdentifier);
  return std::nullopt;
}

void ConnectionFsm::change_state(State next) { state_ = next; }

void ConnectionFsm::close(std::string why, Effects& out) {
  bool was = state_ == State::Established;
  out.push_back(StopTimer{Timer::Hold});
  out.push_back(StopTimer{Timer::Keepalive});
  out.push_back(CloseConnection{std::move(why), was});
  change_state(State::Idle);
}

void ConnectionFsm::fail(Notification n, std::string why, Effects& out) {
  out.push_back(SendNotification{n});
  close(why.empty() ? "sent " + n.describe() : std::move(why), out);
}

void ConnectionFsm::on_open(const OpenReceived& e, Effects& out) {
  if (auto bad = check_open(e.open)) {
    fail(*bad, "", out);
    return;
  }
  remote_open_ = e.open;
  negotiated_ = negotiate(config_, e.open);
  // RFC 4271 §8.2.2 (OpenSent, Event 19): send KEEPALIVE, set the hold timer to the negotiated
  // value and start the keepalive timer, unless the hold time is zero.
  out.push_back(SendKeepalive{});
  if (negotiated_->hold_time != 0) {
    out.push_back(StartTimer{Timer::Hold, std::chrono::seconds(negotiated_->hold_time)});
    out.push_back(StartTimer{Timer::Keepalive, std::chrono::seconds(negotiated_->keepalive)});
  } else {
    out.push_back(StopTimer{Timer::Hold});
  }
  change_state(State::OpenConfirm);
}

Effects ConnectionFsm::handle(const Event& event) {
  Effects out;
  if (state_ == State::Idle) return out;  // the connection is over; late events are ignored

  auto restart_hold = [&] {
    if (negotiated_ && negotiated_->hold_time != 0)
      out.push_back(StartTimer{Timer::Hold, std::chrono::seconds(negotiated_->hold_time)});
  };
  // RFC 6608: FSM error subcodes name the state in which the unexpected message arrived.
  auto unexpected_message = [&] {
    uint8_t sub = state_ == State::OpenSent      ? fsm_error::kUnexpectedInOpenSent
                  : state_ == State::OpenConfirm ? fsm_error::kUnexpectedInOpenConfirm
                  : state_ == State::Established ? fsm_error::kUnexpectedInEstablished
                                                 : fsm_error::kUnspecified;
    fail(error(ErrorCode::FsmError, sub), "", out);
  };

  std::visit(Overloaded{
                 [&](const TcpEstablished&) {
                   if (state_ != State::Connect && state_ != State::Active) return;
                   out.push_back(SendOpen{local_open()});
                   out.push_back(StartTimer{Timer::Hold, kOpenSentHoldTime});
                   change_state(State::OpenSent);
                 },
                 [&](const TcpClosed&) { close("connection closed by peer or network", out); },
                 [&](const ManualStop& e) {
                   if (state_ == State::Connect || state_ == State::Active) {
                     close("stopped", out);
                     return;
                   }
                   fail(e.data ? Notification{ErrorCode::Cease, e.subcode, *e.data}
                               : Notification::shutdown(e.subcode, e.reason),
                        "stopped: " + e.reason, out);
                 },
                 [&](const TimerExpired& e) {
                   if (e.timer == Timer::Hold) {
                     fail(error(ErrorCode::HoldTimerExpired, 0), "hold timer expired", out);
                   } else if (state_ == State::OpenConfirm || state_ == State::Established) {
                     out.push_back(SendKeepalive{});
                     out.push_back(StartTimer{Timer::Keepalive,
                                              std::chrono::seconds(negotiated_->keepalive)});
                   }
                 },
                 [&](const OpenReceived& e) {
                   if (state_ == State::OpenSent) {
                     on_open(e, out);
                   } else {
                     unexpected_message();
                   }
                 },
                 [&](const KeepaliveReceived&) {
                   if (state_ == State::OpenConfirm) {
                     restart_hold();
                     change_state(State::Established);
                     out.push_back(SessionEstablished{*negotiated_});
                   } else if (state_ == State::Established) {
                     restart_hold();
                   } else {
                     unexpected_message();
                   }
                 },
                 [&](const UpdateReceived&) {
                   if (state_ == State::Established) {
                     restart_hold();
                   } else {
                     unexpected_message();
                   }
                 },
                 [&](const RouteRefreshReceived&) {
                   if (state_ == State::Established) {
                     restart_hold();
                   } else {
                     unexpected_message();
                   }
                 },
                 [&](const NotificationReceived& e) {
                   close("received " + e.notification.describe(), out);
                 },
                 [&](const MessageError& e) { fail(e.notification, "", out); },
             },
             event);
  return out;
}

}  // namespace isthmus::bgp::session
