#include "bgp/speaker/peer.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "bgp/speaker/graceful_restart.h"
#include "bgp/speaker/speaker.h"
#include "core/bug.h"
#include "core/log.h"

namespace isthmus::bgp {

namespace {

using session::State;

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

// RFC 4684 §6 leaves the wait for the peer's RT-constraint End-of-RIB open; a minute is ample
// for a peer that sends one and short for one that does not.
constexpr std::chrono::seconds kRtcEndOfRibWait{60};

// RFC 4271 §10: timers are jittered by a random factor in 0.75..1.0.
std::chrono::milliseconds jitter(std::chrono::milliseconds d) {
  static thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_real_distribution<double> f(0.75, 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(d.count()) * f(rng)));
}

constexpr size_t kReadChunk = 256 * 1024;
constexpr size_t kMaxReadPerEvent = 4 * 1024 * 1024;  // fairness between peers
constexpr size_t kOutputHighWater = 1024 * 1024;      // pull from the RIB below this

}  // namespace

Peer::Peer(Speaker& speaker, PeerConfig config, uint32_t id, bool dynamic)
    : speaker_(speaker), config_(std::move(config)), id_(id), dynamic_(dynamic) {}

Peer::~Peer() {
  auto& loop = speaker_.loop();
  loop.cancel_timer(connect_timer_);
  loop.cancel_timer(restart_timer_);
  loop.cancel_timer(stale_timer_);
  loop.cancel_timer(rtc_eor_timer_);
  loop.cancel_timer(max_prefix_timer_);
  cancel_long_lived_timers();
  for (auto* slot : {&outbound_, &inbound_}) {
    if (!*slot) continue;
    loop.remove_fd((*slot)->fd.get());
    for (auto t : (*slot)->timers) loop.cancel_timer(t);
  }
}

bool Peer::ibgp() const { return config_.remote_as == speaker_.config().asn; }

session::State Peer::state() const {
  State best = idle_state_;
  for (auto* c : {outbound_.get(), inbound_.get()})
    if (c && !c->connecting && c->fsm.state() > best) best = c->fsm.state();
  return best;
}

const session::Negotiated* Peer::negotiated() const {
  return established_ && established_->fsm.negotiated() ? &*established_->fsm.negotiated()
                                                        : nullptr;
}

std::optional<SocketAddress> Peer::local_endpoint() const {
  if (!established_) return std::nullopt;
  return established_->local;
}

session::LocalConfig Peer::local_config() const {
  session::LocalConfig c;
  c.local_as = speaker_.config().asn;
  c.router_id = speaker_.config().router_id;
  c.remote_as = config_.remote_as;
  c.hold_time = config_.hold_time;
  c.keepalive = config_.keepalive;
  c.min_hold_time = config_.min_hold_time;
  auto& caps = c.capabilities;
  caps.multiprotocol = config_.families;
  caps.route_refresh = true;
  caps.four_octet_as = c.local_as;
  caps.extended_message = true;
  // RFC 4724 §3: the families whose forwarding state we keep across a restart of ours (none for
  // a helper-only speaker), the R bit while we restart; RFC 8538 §2: the N bit.
  const gr::OwnRestart own = speaker_.own_restart(config_);
  caps.graceful_restart = gr::local_capability(config_.graceful_restart, own);
  // RFC 9494: how long the peer may keep our routes beyond the Restart Time.
  caps.long_lived_graceful_restart = gr::local_long_lived_capability(config_.graceful_restart, own);
  return c;
}

void Peer::start() {
  running_ = true;
  if (config_.shutdown) {
    idle_state_ = State::Idle;
    return;
  }
  if (config_.passive || dynamic_) {
    idle_state_ = State::Active;
    return;
  }
  connect();
}

void Peer::stop(uint8_t cease_subcode, const std::string& reason,
                std::optional<std::vector<uint8_t>> data) {
  running_ = false;
  speaker_.loop().cancel_timer(connect_timer_);
  idle_state_ = State::Idle;
  for (auto* c : {outbound_.get(), inbound_.get()}) {
    if (!c) continue;
    if (c->connecting) {
      close(c, "stopped", false);
    } else {
      handle(c, session::ManualStop{cease_subcode, reason, data});
    }
  }
}

Expected<void> Peer::reset(const std::string& reason, bool hard) {
  if (config_.shutdown) return fail("neighbor is administratively shut down");
  // RFC 8538 §5: for Administrative Reset the operator chooses between a Hard Reset and a
  // graceful one.
  hard_admin_reset_ = hard;
  speaker_.loop().cancel_timer(max_prefix_timer_);
  max_prefix_timer_ = 0;
  stop(cease::kAdministrativeReset, reason);
  hard_admin_reset_ = true;
  // A hard reset also ends a graceful restart that is still waiting for the peer: nothing of it
  // is kept.
  if (hard && !stale_families_.empty()) {
    auto& loop = speaker_.loop();
    loop.cancel_timer(restart_timer_);
    loop.cancel_timer(stale_timer_);
    restart_timer_ = stale_timer_ = 0;
    purge_stale("cleared by operator");
  }
  running_ = true;
  if (dynamic_) {
    // A dynamic neighbor reconnects by itself: to a new Peer, unless this one waits for it with
    // its stale routes.
    idle_state_ = State::Active;
    if (!outbound_ && !inbound_ && stale_families_.empty()) {
      finished_ = true;
      speaker_.request_flush();
    }
    return {};
  }
  // Reconnect after a short pause so the peer sees the reset before the new connection.
  schedule_connect(std::chrono::seconds(1));
  if (config_.passive) idle_state_ = State::Active;
  return {};
}

Expected<void> Peer::refresh_in() {
  const auto* n = negotiated();
  if (!n) return fail("session is not established");
  if (!n->route_refresh) return fail("the peer did not advertise route refresh (RFC 2918)");
  for (auto f : n->families) {
    encode_route_refresh({f, 0}, established_->out);
    ++counters_.messages_out;
    log::info("bgp: neighbor {}: route refresh requested for {}", config_.address.to_string(),
              f.name());
  }
  send(established_);
  return {};
}

Expected<void> Peer::refresh_out() {
  const auto* n = negotiated();
  if (!n) return fail("session is not established");
  for (auto f : n->families) speaker_.rib_of(config_).refresh(id_, f);
  speaker_.request_flush();
  return {};
}

void Peer::schedule_connect(std::chrono::milliseconds after) {
  auto& loop = speaker_.loop();
  loop.cancel_timer(connect_timer_);
  if (!running_ || config_.passive || dynamic_ || config_.shutdown) return;
  connect_timer_ = loop.add_timer(jitter(after), [this] {
    connect_timer_ = 0;
    if (established_) return;
    // RFC 4271 §8.2.2: ConnectRetry expiring in Connect drops the pending attempt and starts
    // a new one, instead of waiting out the kernel's SYN retries.
    if (outbound_ && outbound_->connecting) close(outbound_.get(), "connect timed out", false);
    if (!outbound_) connect();
  });
}

void Peer::connect() {
  idle_state_ = State::Connect;
  TtlPolicy ttl;
  if (config_.ttl_security > 0) {
    ttl = {255, 255 - config_.ttl_security + 1};
  } else if (!ibgp()) {
    ttl.send_ttl = config_.ebgp_multihop > 0 ? config_.ebgp_multihop : 1;
  }
  // Without a configured source, a speaker listening on one address connects from it too, so
  // that the peer sees the address it has configured for us. Not to a neighbor of a VRF: it is on
  // a link of the tenant, which the listening address (the underlay's) is not on.
  auto local = config_.local_address;
  const auto& listen = speaker_.config().listen;
  if (!local && config_.vrf.empty() && listen && !listen->address.is_unspecified() &&
      listen->address.family() == config_.address.family())
    local = listen->address;
  auto fd = connect_tcp({config_.address, config_.port}, local, ttl, config_.password);
  if (!fd) {
    last_error_ = fd.error().message;
    log::warn("bgp: neighbor {}: {}", config_.address.to_string(), last_error_);
    idle_state_ = State::Active;
    schedule_connect(std::chrono::seconds(config_.connect_retry));
    return;
  }
  auto c = std::make_unique<Connection>(local_config());
  c->fd = std::move(*fd);
  c->outbound = true;
  c->connecting = true;
  c->remote = {config_.address, config_.port};
  outbound_ = std::move(c);
  auto* raw = outbound_.get();
  speaker_.loop().add_fd(raw->fd.get(), EPOLLOUT, [this, raw](uint32_t ev) { on_io(raw, ev); });
  // RFC 4271 §8: the ConnectRetry timer bounds the attempt.
  schedule_connect(std::chrono::seconds(config_.connect_retry));
}

void Peer::stop_graceful(const std::string& reason) {
  Connection* c = established_;
  if (!c || !c->fsm.negotiated() || !c->fsm.negotiated()->remote_open.caps.graceful_restart) {
    stop(cease::kAdministrativeShutdown, reason);
    return;
  }
  // RFC 4724 §4.2: the end of the TCP connection keeps our routes at every helper. No
  // NOTIFICATION: RFC 8538 would allow a graceful Administrative Reset, but FRR (its default
  // `bgp hard-administrative-reset`) takes a received one as a Hard Reset and drops the routes.
  running_ = false;
  speaker_.loop().cancel_timer(connect_timer_);
  idle_state_ = State::Idle;
  if (Connection* o = other(c)) close(o, "stopped", false);
  if (alive(c)) close(c, "stopped: " + reason + " (graceful restart: no NOTIFICATION)", true);
}

void Peer::accept(Fd fd, const SocketAddress& remote) {
  if (!running_ || config_.shutdown) return;  // fd closes: the peer is administratively down
  if (established_ && !graceful_restart_families(*established_).empty()) {
    // RFC 4724 §4.2: a peer that advertised graceful restart and opens a new session while the
    // old one looks Established has restarted: the old session ends (its routes become stale)
    // and the new one proceeds. Done on the new TCP connection (as BIRD does) rather than on
    // its OPEN, so that the two connections need not coexist.
    close(established_, "new connection from the peer: it restarted (RFC 4724 §4.2)", true);
  }
  if (established_) {
    // RFC 4271 §6.8: a connection colliding with an Established one is closed.
    log::info("bgp: neighbor {}: connection from {} refused: session already established",
              config_.address.to_string(), remote.to_string());
    std::vector<uint8_t> out;
    encode_notification({ErrorCode::Cease, cease::kConnectionCollisionResolution, {}}, out);
    [[maybe_unused]] auto n = ::write(fd.get(), out.data(), out.size());
    return;
  }
  if (inbound_) close(inbound_.get(), "replaced by a new incoming connection", false);
  if (outbound_ && outbound_->connecting) close(outbound_.get(), "incoming connection won", false);
  TtlPolicy ttl;
  if (config_.ttl_security > 0) {
    ttl = {255, 255 - config_.ttl_security + 1};
  } else if (!ibgp()) {
    ttl.send_ttl = config_.ebgp_multihop > 0 ? config_.ebgp_multihop : 1;
  }
  if (auto r = set_ttl(fd.get(), remote.address.family(), ttl); !r)
    log::warn("bgp: neighbor {}: {}", config_.address.to_string(), r.error().message);
  auto c = std::make_unique<Connection>(local_config());
  c->fd = std::move(fd);
  c->remote = remote;
  if (auto l = local_address(c->fd.get())) c->local = *l;
  inbound_ = std::move(c);
  auto* raw = inbound_.get();
  speaker_.loop().add_fd(raw->fd.get(), EPOLLIN, [this, raw](uint32_t ev) { on_io(raw, ev); });
  handle(raw, session::TcpEstablished{});
}

Peer::Connection* Peer::other(Connection* c) {
  return c == outbound_.get() ? inbound_.get() : outbound_.get();
}

std::unique_ptr<Peer::Connection>& Peer::slot(Connection* c) {
  return c == outbound_.get() ? outbound_ : inbound_;
}

void Peer::on_io(Connection* c, uint32_t events) {
  if (c->connecting) {
    auto r = connect_result(c->fd.get());
    if (!r) {
      last_error_ = "connect to " + c->remote.to_string() + ": " + r.error().message;
      log::debug("bgp: neighbor {}: {}", config_.address.to_string(), last_error_);
      close(c, last_error_, false);
      return;
    }
    c->connecting = false;
    if (auto l = local_address(c->fd.get())) c->local = *l;
    speaker_.loop().modify_fd(c->fd.get(), EPOLLIN);
    handle(c, session::TcpEstablished{});
    return;
  }
  if (events & EPOLLOUT) {
    send(c);
    if (c == established_ && c->out.size() - c->out_offset < kOutputHighWater) pump_output();
    if (!alive(c)) return;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
}

void Peer::on_readable(Connection* c) {
  size_t total = 0;
  while (total < kMaxReadPerEvent) {
    size_t have = c->in.size();
    c->in.resize(have + kReadChunk);
    ssize_t n = ::read(c->fd.get(), c->in.data() + have, kReadChunk);
    if (n < 0) {
      c->in.resize(have);
      if (errno == EAGAIN || errno == EINTR) break;
      last_error_ = std::string("read: ") + std::strerror(errno);
      handle(c, session::TcpClosed{});
      return;
    }
    c->in.resize(have + static_cast<size_t>(n));
    if (n == 0) {
      // Decode what arrived before the close (a NOTIFICATION, typically) first.
      size_t off = 0;
      while (c->in.size() - off >= kHeaderSize) {
        auto h = decode_header({c->in.data() + off, c->in.size() - off}, c->codec);
        if (!h || c->in.size() - off < h->length) break;
        if (!on_message(c, {c->in.data() + off, h->length})) return;
        off += h->length;
      }
      handle(c, session::TcpClosed{});
      return;
    }
    total += static_cast<size_t>(n);
    // Decode every whole message now in the buffer.
    size_t off = 0;
    while (c->in.size() - off >= kHeaderSize) {
      auto h = decode_header({c->in.data() + off, c->in.size() - off}, c->codec);
      if (!h) {
        handle(c, session::MessageError{h.error()});
        return;
      }
      if (c->in.size() - off < h->length) break;
      if (!on_message(c, {c->in.data() + off, h->length})) return;
      off += h->length;
    }
    c->in.erase(c->in.begin(), c->in.begin() + static_cast<std::ptrdiff_t>(off));
    if (static_cast<size_t>(n) < kReadChunk) break;
  }
  speaker_.request_flush();
}

// Returns false when the connection is gone.
bool Peer::on_message(Connection* c, std::span<const uint8_t> bytes) {
  ++counters_.messages_in;
  auto m = decode_message(bytes, c->codec);
  if (!m) {
    handle(c, session::MessageError{m.error()});
    return false;
  }
  std::visit(Overloaded{
                 [&](Open& o) { handle(c, session::OpenReceived{std::move(o)}); },
                 [&](DecodedUpdate& u) {
                   ++counters_.updates_in;
                   handle(c, session::UpdateReceived{});
                   if (alive(c) && c == established_) on_update(c, u);
                 },
                 [&](Notification& n) {
                   ++counters_.notifications_in;
                   c->notification = true;
                   c->hard_reset = gr::is_hard_reset(n);
                   last_received_ = gr::describe(n);
                   handle(c, session::NotificationReceived{std::move(n)});
                 },
                 [&](Keepalive&) { handle(c, session::KeepaliveReceived{}); },
                 [&](RouteRefresh& r) {
                   ++counters_.refreshes_in;
                   handle(c, session::RouteRefreshReceived{});
                   if (alive(c) && c == established_) {
                     log::info("bgp: neighbor {}: route refresh for {}",
                               config_.address.to_string(), r.family.name());
                     speaker_.rib_of(config_).refresh(id_, r.family);
                   }
                 },
             },
             *m);
  return alive(c);
}

void Peer::on_update(Connection* c, DecodedUpdate& d) {
  auto& u = d.update;
  if (!d.errors.empty()) {
    ++counters_.update_errors;
    for (auto& e : d.errors)
      log::warn(
          "bgp: neighbor {}: UPDATE error ({}): {}", config_.address.to_string(),
          d.action == AttrAction::TreatAsWithdraw ? "treat-as-withdraw" : "attribute discarded",
          e.reason);
  }
  const auto& families = c->fsm.negotiated()->families;
  auto negotiated = [&](Family f) {
    return std::find(families.begin(), families.end(), f) != families.end();
  };
  auto& rib = speaker_.rib_of(config_);
  if (!u.withdrawn.empty() && negotiated(kIpv4Unicast))
    rib.withdraw(id_, kIpv4Unicast, u.withdrawn);
  if (u.mp_unreach && negotiated(u.mp_unreach->family)) {
    if (!u.mp_unreach->withdrawn.empty())
      rib.withdraw(id_, u.mp_unreach->family, u.mp_unreach->withdrawn);
    if (!u.mp_unreach->evpn.empty()) rib.withdraw_evpn(id_, u.mp_unreach->evpn);
    if (!u.mp_unreach->rtc.empty()) rib.withdraw_rtc(id_, u.mp_unreach->rtc);
  }
  if (u.attrs) {
    if (!u.nlri.empty() && negotiated(kIpv4Unicast)) {
      rib.update(id_, kIpv4Unicast, u.nlri, *u.attrs);
      if (!check_max_prefixes(kIpv4Unicast)) return;
    }
    if (u.mp_reach &&
        (!u.mp_reach->nlri.empty() || !u.mp_reach->evpn.empty() || !u.mp_reach->rtc.empty())) {
      if (!negotiated(u.mp_reach->family)) {
        log::warn("bgp: neighbor {}: routes for {} which was not negotiated, ignored",
                  config_.address.to_string(), u.mp_reach->family.name());
      } else {
        if (u.mp_reach->family == kL2vpnEvpn) {
          rib.update_evpn(id_, u.mp_reach->evpn, *u.attrs);
        } else if (u.mp_reach->family == kIpv4RouteTarget) {
          rib.update_rtc(id_, u.mp_reach->rtc, *u.attrs);
        } else {
          rib.update(id_, u.mp_reach->family, u.mp_reach->nlri, *u.attrs);
        }
        if (!check_max_prefixes(u.mp_reach->family)) return;
      }
    }
  }
  if (auto f = end_of_rib_family(u)) {
    log::info("bgp: neighbor {}: End-of-RIB for {}", config_.address.to_string(), f->name());
    end_of_rib(*f);
  }
}

bool Peer::check_max_prefixes(Family family) {
  const MaxPrefixes& m = config_.max_prefixes;
  if (!m.any()) return true;
  const uint64_t count = speaker_.rib_of(config_).received(id_, family);
  const uint32_t limit = m.limit(family);
  const auto warned = std::find(max_prefix_warned_.begin(), max_prefix_warned_.end(), family);
  switch (m.level(family, count)) {
    case MaxPrefixes::Level::Fine:
      if (warned != max_prefix_warned_.end()) max_prefix_warned_.erase(warned);
      return true;
    case MaxPrefixes::Level::Warning:
      if (warned == max_prefix_warned_.end()) {
        max_prefix_warned_.push_back(family);
        log::warn("bgp: neighbor {}: {} prefixes of {}, {}% of its maximum of {}",
                  config_.address.to_string(), count, family.name(), count * 100 / limit, limit);
      }
      return true;
    case MaxPrefixes::Level::Exceeded:
      break;
  }
  // RFC 4486 §4: Cease / Maximum Number of Prefixes Reached, with the family and the bound.
  const std::string why = std::to_string(count) + " prefixes of " + family.name() +
                          " exceed the maximum of " + std::to_string(limit);
  log::warn(
      "bgp: neighbor {}: {}: session ended (Cease/Maximum Number of Prefixes Reached){}",
      config_.address.to_string(), why,
      m.restart ? ", back in " + std::to_string(m.restart) + "s" : ", until `clear bgp neighbor`");
  max_prefix_warned_.clear();
  if (dynamic_) speaker_.hold_off(config_.address, std::chrono::seconds(m.restart));
  stop(cease::kMaxPrefixes, why, max_prefixes_data(family, limit));
  if (m.restart && !dynamic_) {
    speaker_.loop().cancel_timer(max_prefix_timer_);
    max_prefix_timer_ = speaker_.loop().add_timer(std::chrono::seconds(m.restart), [this] {
      max_prefix_timer_ = 0;
      log::info("bgp: neighbor {}: maximum-prefix restart time over", config_.address.to_string());
      start();
    });
  }
  return false;
}

void Peer::handle(Connection* c, const session::Event& e) {
  auto effects = c->fsm.handle(e);
  for (auto& effect : effects) {
    if (!alive(c)) return;  // an earlier effect closed it
    apply(c, effect);
  }
}

void Peer::apply(Connection* c, const session::Effect& effect) {
  auto& loop = speaker_.loop();
  std::visit(Overloaded{
                 [&](const session::SendOpen& e) {
                   encode_open(e.open, c->out);
                   ++counters_.messages_out;
                   send(c);
                 },
                 [&](const session::SendKeepalive&) {
                   encode_keepalive(c->out);
                   ++counters_.messages_out;
                   send(c);
                 },
                 [&](const session::SendNotification& e) {
                   // RFC 8538 §3.1, §5: some Cease subcodes go out as a Hard Reset.
                   const Notification& n =
                       gr::sends_hard_reset(e.notification, notification_negotiated(*c),
                                            hard_admin_reset_)
                           ? gr::hard_reset(e.notification)
                           : e.notification;
                   encode_notification(n, c->out);
                   ++counters_.messages_out;
                   ++counters_.notifications_out;
                   c->notification = true;
                   c->hard_reset = gr::is_hard_reset(n);
                   last_sent_ = gr::describe(n);
                   send(c);
                 },
                 [&](const session::StartTimer& e) {
                   auto& id = c->timers[static_cast<size_t>(e.timer)];
                   loop.cancel_timer(id);
                   auto after = std::chrono::milliseconds(e.after);
                   if (e.timer == session::Timer::Keepalive) after = jitter(after);
                   id = loop.add_timer(after, [this, c, t = e.timer] {
                     c->timers[static_cast<size_t>(t)] = 0;
                     handle(c, session::TimerExpired{t});
                   });
                 },
                 [&](const session::StopTimer& e) {
                   auto& id = c->timers[static_cast<size_t>(e.timer)];
                   loop.cancel_timer(id);
                   id = 0;
                 },
                 [&](const session::SessionEstablished& e) { on_established(c, e.negotiated); },
                 [&](const session::CloseConnection& e) { close(c, e.error, e.was_established); },
             },
             effect);
  // After an OPEN arrived, a second connection to the same peer must be resolved (§6.8).
  if (alive(c) && c->fsm.state() == State::OpenConfirm && other(c)) resolve_collision(c);
}

void Peer::resolve_collision(Connection* c) {
  Connection* o = other(c);
  if (o->connecting) {
    close(o, "connection collision: the other connection is further along", false);
    return;
  }
  if (o->fsm.state() == State::Established) {
    handle(c, session::MessageError{{ErrorCode::Cease, cease::kConnectionCollisionResolution, {}}});
    return;
  }
  if (o->fsm.state() != State::OpenSent && o->fsm.state() != State::OpenConfirm) return;
  bool keep_outbound = session::keep_outbound_on_collision(speaker_.config().router_id,
                                                           c->fsm.remote_open()->bgp_id);
  Connection* loser = (c->outbound == keep_outbound) ? o : c;
  log::info("bgp: neighbor {}: connection collision, closing the {} connection",
            config_.address.to_string(), loser->outbound ? "outgoing" : "incoming");
  handle(loser,
         session::MessageError{{ErrorCode::Cease, cease::kConnectionCollisionResolution, {}}});
}

void Peer::on_established(Connection* c, const session::Negotiated& n) {
  if (Connection* o = other(c)) close(o, "connection collision: the other connection won", false);
  established_ = c;
  eor_received_.clear();
  c->codec.four_octet_as = n.four_octet_as;
  c->codec.extended_message = n.extended_message;
  established_at_ = speaker_.loop().now();
  failures_ = 0;
  ++counters_.established_transitions;
  last_error_.clear();
  speaker_.loop().cancel_timer(connect_timer_);
  std::string fams;
  for (auto f : n.families) fams += (fams.empty() ? "" : ",") + f.name();
  log::info("bgp: neighbor {} AS{}: OpenConfirm -> Established (hold {}s, families {})",
            config_.address.to_string(), n.remote_open.asn(), n.hold_time, fams);
  speaker_.on_established(*this, n, c->local);
  resume_graceful_restart(n);
  // RFC 4684 §6: the peer's RT-constraint End-of-RIB lets our EVPN End-of-RIB go (the RIB holds
  // it); a peer that never sends one does not keep it waiting for ever.
  auto negotiated = [&](Family f) {
    return std::find(n.families.begin(), n.families.end(), f) != n.families.end();
  };
  auto& loop = speaker_.loop();
  loop.cancel_timer(rtc_eor_timer_);
  rtc_eor_timer_ = 0;
  if (negotiated(kIpv4RouteTarget) && negotiated(kL2vpnEvpn)) {
    rtc_eor_timer_ = loop.add_timer(kRtcEndOfRibWait, [this] {
      rtc_eor_timer_ = 0;
      if (!speaker_.rib_of(config_).release_end_of_rib(id_)) return;
      log::info("bgp: neighbor {}: no RT-constraint End-of-RIB within {}s, EVPN End-of-RIB sent",
                config_.address.to_string(), kRtcEndOfRibWait.count());
      speaker_.request_flush();
    });
  }
  pump_output();
}

void Peer::send(Connection* c) {
  bool progress = false;
  while (c->out_offset < c->out.size()) {
    ssize_t n = ::write(c->fd.get(), c->out.data() + c->out_offset, c->out.size() - c->out_offset);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      c->out.clear();
      c->out_offset = 0;
      break;  // the read side sees the failure and closes
    }
    c->out_offset += static_cast<size_t>(n);
    progress = n > 0;
  }
  watch_send_hold(c, progress);
  if (c->out_offset == c->out.size()) {
    c->out.clear();
    c->out_offset = 0;
  } else if (c->out_offset > kOutputHighWater) {
    c->out.erase(c->out.begin(), c->out.begin() + static_cast<std::ptrdiff_t>(c->out_offset));
    c->out_offset = 0;
  }
  update_watch(c);
}

void Peer::watch_send_hold(Connection* c, bool progress) {
  auto& loop = speaker_.loop();
  const bool waiting = c->out_offset < c->out.size();
  if (c->send_hold_timer && (progress || !waiting)) {
    loop.cancel_timer(c->send_hold_timer);
    c->send_hold_timer = 0;
  }
  if (!waiting || c->send_hold_timer || c->connecting) return;
  // RFC 9687: a peer that reads nothing of what we have to send for this long is not processing
  // our messages; the session ends instead of our output piling up for it.
  const auto secs = std::chrono::seconds(config_.send_hold_time);
  c->send_hold_timer = loop.add_timer(secs, [this, c, secs] {
    c->send_hold_timer = 0;
    if (!alive(c)) return;
    log::warn("bgp: neighbor {}: send hold timer expired: {} bytes unread for {}s (RFC 9687)",
              config_.address.to_string(), c->out.size() - c->out_offset, secs.count());
    // Best effort: the NOTIFICATION queues behind what the peer does not read.
    encode_notification(Notification{ErrorCode::SendHoldTimerExpired, 0, {}}, c->out);
    ++counters_.messages_out;
    ++counters_.notifications_out;
    c->notification = true;
    last_sent_ = "Send Hold Timer Expired";
    close(c, "send hold timer expired", c == established_);
  });
}

void Peer::pump_output() {
  Connection* c = established_;
  if (!c) return;
  auto& rib = speaker_.rib_of(config_);
  while (c->out.size() - c->out_offset < kOutputHighWater && rib.has_output(id_)) {
    size_t before = c->out.size();
    rib.take_output(id_, c->out, kOutputHighWater);
    if (c->out.size() == before) break;
    send(c);
    if (!alive(c) || c->want_write) break;
  }
}

void Peer::update_watch(Connection* c) {
  if (c->connecting) return;
  bool want = c->out_offset < c->out.size();
  if (want == c->want_write) return;
  c->want_write = want;
  speaker_.loop().modify_fd(c->fd.get(), EPOLLIN | (want ? EPOLLOUT : 0u));
}

void Peer::close(Connection* c, const std::string& reason, bool was_established) {
  auto& loop = speaker_.loop();
  if (!c->connecting) send(c);  // best effort: a queued NOTIFICATION goes out first
  loop.remove_fd(c->fd.get());
  for (auto& t : c->timers) loop.cancel_timer(t);
  loop.cancel_timer(c->send_hold_timer);
  c->send_hold_timer = 0;
  // The FSM shows a received Hard Reset's data as bytes; name the NOTIFICATION inside it.
  const std::string why =
      c->hard_reset && reason.starts_with("received ") ? "received " + last_received_ : reason;
  if (!why.empty() && (was_established || c->fsm.state() >= State::OpenSent || c->outbound))
    last_error_ = why;
  bool was = c == established_;
  if (was) {
    established_ = nullptr;
    loop.cancel_timer(rtc_eor_timer_);
    rtc_eor_timer_ = 0;
    log::info("bgp: neighbor {}: Established -> Idle ({})", config_.address.to_string(), why);
    auto retain = graceful_restart_families(*c);
    speaker_.on_down(*this, retain);
    const auto& caps = c->fsm.negotiated()->remote_open.caps;
    start_graceful_restart(std::move(retain), caps.graceful_restart,
                           caps.long_lived_graceful_restart);
  } else if (!c->connecting) {
    log::info("bgp: neighbor {}: {} connection closed ({})", config_.address.to_string(),
              c->outbound ? "outgoing" : "incoming", why);
  }
  // The Connection may be on the call stack (this runs from its own callbacks): free it later.
  auto& s = slot(c);
  std::shared_ptr<Connection> dead(s.release());
  loop.post([dead] {});
  if (outbound_ || inbound_) return;
  if (!running_) {
    idle_state_ = State::Idle;
    return;
  }
  if (dynamic_) {
    // A dynamic neighbor whose routes are kept as stale stays until it comes back (the speaker
    // hands its new connection to this Peer, same id) or its restart time expires.
    if (!stale_families_.empty()) {
      idle_state_ = State::Active;
      return;
    }
    finished_ = true;
    speaker_.request_flush();  // the speaker reaps finished dynamic peers after a flush
    return;
  }
  // RFC 4271 §8.2.2: back to Active; retry after ConnectRetry, sooner after a clean session end.
  idle_state_ = State::Active;
  ++failures_;
  auto retry = std::chrono::seconds(config_.connect_retry);
  auto after = was ? std::chrono::milliseconds(std::min<int64_t>(
                         1000 * failures_, std::chrono::milliseconds(retry).count()))
                   : std::chrono::milliseconds(retry);
  schedule_connect(after);
}

// ---- Graceful restart, receiving speaker (RFC 4724 §4.2) -------------------------------------

bool Peer::notification_negotiated(const Connection& c) const {
  const auto& n = c.fsm.negotiated();
  return n && gr::notification_negotiated(c.fsm.local_open().caps, n->remote_open.caps);
}

std::vector<Family> Peer::graceful_restart_families(const Connection& c) const {
  const auto& n = c.fsm.negotiated();
  if (!n) return {};
  // RFC 4724 §4.2 after a TCP failure; RFC 8538 §4 after a NOTIFICATION other than Hard Reset
  // when both sides sent the N bit.
  return gr::retained_families(config_.graceful_restart.helper, c.fsm.local_open().caps, *n,
                               {c.notification, c.hard_reset});
}

void Peer::start_graceful_restart(std::vector<Family> families,
                                  const std::optional<GracefulRestartCapability>& gr,
                                  const std::optional<LongLivedGracefulRestartCapability>& llgr) {
  auto& loop = speaker_.loop();
  loop.cancel_timer(restart_timer_);
  loop.cancel_timer(stale_timer_);
  restart_timer_ = stale_timer_ = 0;
  cancel_long_lived_timers();
  long_lived_times_.clear();
  long_lived_families_.clear();
  stale_families_ = std::move(families);
  if (stale_families_.empty()) return;
  for (Family f : stale_families_)
    if (const auto* pf = llgr ? llgr->find(f) : nullptr; pf && pf->stale_time > 0)
      long_lived_times_[f] = pf->stale_time;
  // RFC 4724 §4.2 for the families of the Graceful Restart Capability, for the Restart Time; the
  // others (RFC 9494: a Restart Time of zero, or a family in the LLGR capability only) go
  // straight to long-lived stale.
  const uint16_t restart_time = gr ? gr->restart_time : 0;
  std::vector<Family> now;
  for (Family f : stale_families_) {
    const bool in_gr = gr && std::any_of(gr->families.begin(), gr->families.end(),
                                         [&](const auto& pf) { return pf.family == f; });
    if (!in_gr || restart_time == 0) now.push_back(f);
  }
  log::info("bgp: neighbor {}: graceful restart: {} routes of {} kept as stale for up to {}s{}",
            config_.address.to_string(), speaker_.rib_of(config_).stale_count(id_),
            gr::family_names(stale_families_), restart_time,
            long_lived_times_.empty() ? "" : ", then as long-lived stale");
  if (!now.empty()) enter_long_lived_stale(std::move(now));
  if (stale_families_.size() == long_lived_families_.size()) return;
  // "If the session does not get re-established within the "Restart Time" that the peer
  // advertised previously, the Receiving Speaker MUST delete all the stale routes" (or, RFC
  // 9494, keep them as long-lived stale).
  restart_timer_ = loop.add_timer(std::chrono::seconds(restart_time), [this, restart_time] {
    restart_timer_ = 0;
    std::vector<Family> due;
    for (Family f : stale_families_)
      if (std::find(long_lived_families_.begin(), long_lived_families_.end(), f) ==
          long_lived_families_.end())
        due.push_back(f);
    log::info("bgp: neighbor {}: graceful restart: restart time of {}s expired",
              config_.address.to_string(), restart_time);
    enter_long_lived_stale(std::move(due));
  });
}

void Peer::enter_long_lived_stale(std::vector<Family> families) {
  Rib& rib = speaker_.rib_of(config_);
  for (Family f : families) {
    auto t = long_lived_times_.find(f);
    if (t == long_lived_times_.end()) {
      const size_t gone = rib.purge_stale(id_, f);
      std::erase(stale_families_, f);
      log::info("bgp: neighbor {}: graceful restart: {} stale routes of {} removed",
                config_.address.to_string(), gone, f.name());
      continue;
    }
    const auto r = rib.enter_long_lived_stale(id_, f);
    long_lived_families_.push_back(f);
    const uint32_t secs = t->second;
    log::info(
        "bgp: neighbor {}: long-lived graceful restart: {} routes of {} kept as long-lived "
        "stale for up to {}s, {} with NO_LLGR removed",
        config_.address.to_string(), r.kept, f.name(), secs, r.removed);
    long_lived_timers_[f] = speaker_.loop().add_timer(std::chrono::seconds(secs), [this, f, secs] {
      long_lived_timers_.erase(f);
      std::erase(long_lived_families_, f);
      std::erase(stale_families_, f);
      const size_t gone = speaker_.rib_of(config_).purge_stale(id_, f);
      log::info(
          "bgp: neighbor {}: long-lived graceful restart: stale time of {}s expired, {} stale "
          "routes of {} removed",
          config_.address.to_string(), secs, gone, f.name());
      speaker_.request_flush();
      finish_if_gone();
    });
  }
  speaker_.request_flush();
  finish_if_gone();
}

void Peer::finish_if_gone() {
  if (stale_families_.empty() && dynamic_ && !outbound_ && !inbound_) finished_ = true;
}

void Peer::cancel_long_lived_timers() {
  for (auto& [f, t] : long_lived_timers_) speaker_.loop().cancel_timer(t);
  long_lived_timers_.clear();
}

void Peer::resume_graceful_restart(const session::Negotiated& n) {
  if (stale_families_.empty()) return;
  auto& loop = speaker_.loop();
  loop.cancel_timer(restart_timer_);
  restart_timer_ = 0;
  cancel_long_lived_timers();
  const auto& gr = n.remote_open.caps.graceful_restart;
  const auto& llgr = n.remote_open.caps.long_lived_graceful_restart;
  // "If the Forwarding State bit for a specific address family is not set in the newly received
  // Graceful Restart Capability, or if a specific address family is not included [...], or if
  // the Graceful Restart Capability isn't received in the re-established session at all, then
  // the Receiving Speaker MUST immediately remove all the stale routes from the peer that it is
  // retaining for that address family." A family the new session does not carry cannot get an
  // End-of-RIB either.
  std::erase_if(stale_families_, [&](Family f) {
    const GracefulRestartCapability::PerFamily* pf = nullptr;
    if (gr)
      for (const auto& x : gr->families)
        if (x.family == f) pf = &x;
    const char* why = nullptr;
    const bool long_lived = std::find(long_lived_families_.begin(), long_lived_families_.end(),
                                      f) != long_lived_families_.end();
    // RFC 9494: a family kept as long-lived stale also stays when the new LLGR capability lists
    // it with its F bit.
    const auto* lf = llgr ? llgr->find(f) : nullptr;
    if (long_lived && lf && lf->forwarding_preserved) {
      if (std::find(n.families.begin(), n.families.end(), f) == n.families.end())
        why = "the family was not negotiated again";
    } else if (!gr) {
      why = "the new OPEN has no Graceful Restart Capability";
    } else if (!pf) {
      why = "the family is not in the new Graceful Restart Capability";
    } else if (!pf->forwarding_preserved) {
      why = "forwarding state not preserved (F bit 0)";
    } else if (std::find(n.families.begin(), n.families.end(), f) == n.families.end()) {
      why = "the family was not negotiated again";
    }
    if (!why) return false;
    std::erase(long_lived_families_, f);
    const size_t gone = speaker_.rib_of(config_).purge_stale(id_, f);
    log::info("bgp: neighbor {}: graceful restart: {} stale routes of {} removed: {}",
              config_.address.to_string(), gone, f.name(), why);
    return true;
  });
  if (stale_families_.empty()) return;
  // "an implementation MAY support a (configurable) timer" bounding the wait for End-of-RIB.
  const auto stale_time = std::chrono::seconds(config_.graceful_restart.stale_routes_time);
  log::info(
      "bgp: neighbor {}: graceful restart: {} stale routes of {} wait for End-of-RIB "
      "(up to {}s)",
      config_.address.to_string(), speaker_.rib_of(config_).stale_count(id_),
      gr::family_names(stale_families_), stale_time.count());
  stale_timer_ = loop.add_timer(stale_time, [this, stale_time] {
    stale_timer_ = 0;
    purge_stale("no End-of-RIB within " + std::to_string(stale_time.count()) + "s");
  });
}

void Peer::end_of_rib(Family family) {
  if (!end_of_rib_received(family)) eor_received_.push_back(family);
  speaker_.on_end_of_rib();
  if (family == kIpv4RouteTarget) {
    speaker_.loop().cancel_timer(rtc_eor_timer_);
    rtc_eor_timer_ = 0;
    speaker_.request_flush();  // our EVPN routes and End-of-RIB, now that we know its filter
  }
  auto it = std::find(stale_families_.begin(), stale_families_.end(), family);
  if (it == stale_families_.end()) {
    if (family == kIpv4RouteTarget) speaker_.rib_of(config_).release_end_of_rib(id_);
    return;
  }
  stale_families_.erase(it);
  std::erase(long_lived_families_, family);
  // "Once the End-of-RIB marker for an address family is received from the peer, it MUST
  // immediately remove any routes from the peer that are still marked as stale for that
  // address family."
  const size_t gone = speaker_.rib_of(config_).end_of_rib(id_, family);
  log::info("bgp: neighbor {}: graceful restart: End-of-RIB for {}, {} stale routes removed{}",
            config_.address.to_string(), family.name(), gone,
            stale_families_.empty() ? "; restart complete" : "");
  if (stale_families_.empty()) {
    speaker_.loop().cancel_timer(stale_timer_);
    stale_timer_ = 0;
  }
}

void Peer::purge_stale(const std::string& why) {
  const size_t gone = speaker_.rib_of(config_).purge_stale(id_);
  log::info("bgp: neighbor {}: graceful restart: {}, {} stale routes of {} removed",
            config_.address.to_string(), why, gone, gr::family_names(stale_families_));
  stale_families_.clear();
  long_lived_families_.clear();
  cancel_long_lived_timers();
  speaker_.request_flush();
  // A dynamic neighbor that did not come back in time is gone with its routes.
  finish_if_gone();
}

}  // namespace isthmus::bgp
