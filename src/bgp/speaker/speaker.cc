#include "bgp/speaker/speaker.h"

#include <sys/epoll.h>

#include <algorithm>

#include "core/bug.h"
#include "core/log.h"

namespace isthmus::bgp {

Speaker::Speaker(EventLoop& loop, SpeakerConfig config) : loop_(loop), config_(std::move(config)) {
  if (config_.cluster_id == 0) config_.cluster_id = config_.router_id;
  routes_complete_ = config_.forwarding.families.empty();
  forwarding_preserved_ = config_.forwarding.preserved;
  const RibConfig rc{.local_as = config_.asn,
                     .router_id = config_.router_id,
                     .cluster_id = config_.cluster_id,
                     .encoder = nullptr,
                     .best_changed = {},
                     .best_evpn_changed = {},
                     .max_member_lag = config_.update_group_max_lag};
  rib_ = std::make_unique<Rib>(rc);
  for (const PeerConfig& p : config_.peers)
    if (!p.vrf.empty() && !vrf_ribs_.contains(p.vrf))
      vrf_ribs_.emplace(p.vrf, std::make_unique<Rib>(rc));
  // RFC 4724 §4.1: restarting, our End-of-RIBs wait until our routes are complete.
  if (restarting()) for_each_rib([](Rib& r) { r.hold_end_of_rib(true); });
}

void Speaker::for_each_rib(const std::function<void(Rib&)>& fn) {
  fn(*rib_);
  for (auto& [name, r] : vrf_ribs_) fn(*r);
}

Rib* Speaker::vrf_rib(const std::string& vrf) {
  auto it = vrf_ribs_.find(vrf);
  return it == vrf_ribs_.end() ? nullptr : it->second.get();
}

const Rib* Speaker::vrf_rib(const std::string& vrf) const {
  auto it = vrf_ribs_.find(vrf);
  return it == vrf_ribs_.end() ? nullptr : it->second.get();
}

Rib& Speaker::rib_of(const PeerConfig& peer) {
  if (peer.vrf.empty()) return *rib_;
  Rib* r = vrf_rib(peer.vrf);
  return BUG(r == nullptr) ? *rib_ : *r;
}

const Rib& Speaker::rib_of(const PeerConfig& peer) const {
  if (peer.vrf.empty()) return *rib_;
  const Rib* r = vrf_rib(peer.vrf);
  return BUG(r == nullptr) ? *rib_ : *r;
}

Speaker::~Speaker() {
  loop_.cancel_timer(deferral_timer_);
  loop_.cancel_timer(range_wait_timer_);
  if (listen_fd_) loop_.remove_fd(listen_fd_.get());
  peers_.clear();
}

Expected<void> Speaker::start() {
  for (auto& o : config_.originate) rib_->originate(o.family, o.prefix, o.attrs);
  if (config_.listen) {
    auto fd = listen_tcp(*config_.listen);
    if (!fd) return unexpected(fd.error());
    listen_fd_ = std::move(*fd);
    // RFC 2385: the listening socket needs each peer's key before its SYN arrives.
    for (auto& p : config_.peers)
      if (!p.password.empty())
        if (auto r = set_md5(listen_fd_.get(), p.address, p.address.is_v4() ? 32 : 128, p.password);
            !r)
          return unexpected(r.error());
    for (auto& r : config_.ranges)
      if (!r.peer.password.empty())
        if (auto res =
                set_md5(listen_fd_.get(), r.prefix.address(), r.prefix.length(), r.peer.password);
            !res)
          return unexpected(res.error());
    loop_.add_fd(listen_fd_.get(), EPOLLIN, [this](uint32_t) { on_accept(); });
    log::info("bgp: listening on {}", config_.listen->to_string());
  }
  for (auto& p : config_.peers) {
    uint32_t id = next_peer_id_++;
    peers_.emplace(id, std::make_unique<Peer>(*this, p, id, false));
  }
  if (!routes_complete_) {
    const auto wait = std::chrono::seconds(config_.forwarding.selection_deferral_time);
    log::info(
        "bgp: {}: forwarding state of {} {}; the routes are complete (stale entries go, our "
        "End-of-RIBs go out) after End-of-RIB from every peer (up to {}s)",
        forwarding_preserved_ ? "restarting" : "starting",
        gr::family_names(config_.forwarding.families),
        forwarding_preserved_ ? "preserved" : "not preserved", wait.count());
    arm_deferral_timer();
    // Neighbors of a range cannot be listed in advance: those that come back within the wait
    // are waited for like configured ones.
    std::chrono::seconds range_wait{0};
    for (const auto& r : config_.ranges)
      if (!forwarding_families(r.peer).empty()) range_wait = std::max(range_wait, r.restart_wait);
    if (range_wait.count() > 0) {
      log::info("bgp: waiting {}s for the neighbors of neighbor_ranges to come back",
                range_wait.count());
      ranges_waited_ = false;
      range_wait_timer_ = loop_.add_timer(range_wait, [this] {
        range_wait_timer_ = 0;
        ranges_waited_ = true;
        check_routes_complete();
      });
    }
  }
  for (auto& [id, peer] : peers_) peer->start();
  check_routes_complete();
  request_flush();
  return {};
}

void Speaker::shutdown(const std::string& reason, bool graceful) {
  for (auto& [id, peer] : peers_) {
    if (graceful)
      peer->stop_graceful(reason);
    else
      peer->stop(cease::kAdministrativeShutdown, reason);
  }
}

void Speaker::arm_deferral_timer() {
  const auto wait = std::chrono::seconds(config_.forwarding.selection_deferral_time);
  deferral_timer_ = loop_.add_timer(wait, [this, wait] {
    deferral_timer_ = 0;
    if (!any_established_ && forwarding_preserved_) {
      // Not one session came up: the forwarding state we kept is all there is (the route
      // reflectors may all be away). It stays until a peer brings routes.
      log::warn(
          "bgp: no session Established within the selection deferral time of {}s: the "
          "forwarding state kept from before the restart stays, waiting for a peer",
          wait.count());
      arm_deferral_timer();
      return;
    }
    finish_routes("selection deferral timer of " + std::to_string(wait.count()) + "s expired");
  });
}

std::vector<Family> Speaker::forwarding_families(const PeerConfig& peer) const {
  std::vector<Family> out = config_.forwarding.families;
  if (!peer.vrf.empty() && !out.empty())
    for (Family f : peer.families)
      if ((f == kIpv4Unicast || f == kIpv6Unicast) &&
          std::find(out.begin(), out.end(), f) == out.end())
        out.push_back(f);
  return out;
}

gr::OwnRestart Speaker::own_restart(const PeerConfig& peer) const {
  gr::OwnRestart own;
  for (Family f : forwarding_families(peer))
    if (std::find(peer.families.begin(), peer.families.end(), f) != peer.families.end())
      own.families.push_back(f);
  own.forwarding_preserved = forwarding_preserved_;
  own.restarting = restarting();
  return own;
}

void Speaker::on_end_of_rib() { check_routes_complete(); }

void Speaker::hold_off(const IpAddress& address, std::chrono::seconds how_long) {
  // Bounded: one entry per address of the ranges' neighbors that exceeded, and the expired ones
  // go when the next is added.
  std::erase_if(held_off_, [](const auto& e) { return e.second && Clock::now() >= *e.second; });
  held_off_[address] = how_long.count() ? std::optional(Clock::now() + how_long) : std::nullopt;
}

void Speaker::check_routes_complete() {
  if (routes_complete_ || !ranges_waited_) return;
  for (const auto& [id, peer] : peers_) {
    const PeerConfig& pc = peer->config();
    if (pc.shutdown) continue;
    for (Family f : forwarding_families(pc)) {
      if (std::find(pc.families.begin(), pc.families.end(), f) == pc.families.end()) continue;
      const session::Negotiated* n = peer->negotiated();
      if (!n && peer->dynamic()) break;  // a neighbor of a range that is gone again
      if (!n) return;                    // not up yet: wait for it, up to the deferral timer
      // "excluding the ones with the "Restart State" bit set in the received capability and
      // excluding the ones that do not advertise the graceful restart capability"
      const auto& theirs = n->remote_open.caps.graceful_restart;
      if (!theirs || theirs->restarting) continue;
      if (std::find(n->families.begin(), n->families.end(), f) == n->families.end()) continue;
      if (!peer->end_of_rib_received(f)) return;
    }
  }
  finish_routes("End-of-RIB from every peer");
}

void Speaker::finish_routes(std::string why) {
  if (routes_complete_) return;
  routes_complete_ = true;
  forwarding_preserved_ = true;  // from now on the forwarding state is ours, whatever happens
  loop_.cancel_timer(deferral_timer_);
  deferral_timer_ = 0;
  loop_.cancel_timer(range_wait_timer_);
  range_wait_timer_ = 0;
  log::info("bgp: routes of {} complete: {}", gr::family_names(config_.forwarding.families), why);
  for_each_rib([](Rib& r) { r.hold_end_of_rib(false); });
  // The callback runs after the flush that brings the last routes into the RIB and its
  // listeners (EVPN).
  routes_complete_why_ = std::move(why);
  request_flush();
}

Peer* Speaker::find_peer(const IpAddress& address) const {
  for (auto& [id, peer] : peers_)
    if (peer->config().address == address) return peer.get();
  return nullptr;
}

void Speaker::on_accept() {
  for (;;) {
    SocketAddress remote;
    auto fd = accept_tcp(listen_fd_.get(), remote);
    if (!fd) return;  // EAGAIN: nothing more to accept
    if (Peer* p = find_peer(remote.address)) {
      p->accept(std::move(*fd), remote);
      continue;
    }
    if (auto h = held_off_.find(remote.address); h != held_off_.end()) {
      if (!h->second || Clock::now() < *h->second) {
        log::info("bgp: connection from {} refused: held off after too many prefixes",
                  remote.to_string());
        continue;  // fd closes
      }
      held_off_.erase(h);
    }
    // Dynamic neighbors: the most specific range that holds the address.
    const NeighborRange* best = nullptr;
    for (auto& r : config_.ranges)
      if (r.prefix.contains(remote.address) && (!best || r.prefix.length() > best->prefix.length()))
        best = &r;
    if (!best) {
      log::info("bgp: connection from {} refused: not a configured neighbor", remote.to_string());
      continue;  // fd closes
    }
    size_t in_range = 0;
    for (auto& [id, peer] : peers_)
      if (peer->dynamic() && best->prefix.contains(peer->config().address)) ++in_range;
    if (in_range >= best->max_peers) {
      log::warn("bgp: connection from {} refused: range {} is full ({} peers)", remote.to_string(),
                best->prefix.to_string(), best->max_peers);
      continue;
    }
    PeerConfig pc = best->peer;
    pc.address = remote.address;
    pc.port = remote.port;
    uint32_t id = next_peer_id_++;
    auto [it, ok] = peers_.emplace(id, std::make_unique<Peer>(*this, pc, id, true));
    log::info("bgp: dynamic neighbor {} accepted from range {}", remote.address.to_string(),
              best->prefix.to_string());
    it->second->start();
    it->second->accept(std::move(*fd), remote);
  }
}

void Speaker::on_established(Peer& peer, const session::Negotiated& n, const SocketAddress& local) {
  any_established_ = true;
  loop_.post([this] { check_routes_complete(); });  // a peer that sends no End-of-RIB counts
  const auto& pc = peer.config();
  PeerInfo info;
  info.id = peer.id();
  info.address = pc.address;
  info.remote_as = pc.remote_as;
  info.router_id = n.remote_open.bgp_id;
  info.ibgp = peer.ibgp();
  info.rr_client = pc.route_reflector_client;
  info.next_hop_self = pc.next_hop_self;
  info.local_address = local.address;
  if (local.address.is_v4()) {
    info.local_address_v4 = local.address;
    info.local_address_v6 = sibling_address(local.address, IpFamily::V6);
  } else {
    info.local_address_v6 = local.address;
    info.local_address_v4 = sibling_address(local.address, IpFamily::V4);
  }
  // RFC 2545 §3: a peer on our link also gets our link-local address as a second next hop.
  // eBGP without multihop (TTL 1) and GTSM with one hop are single-hop by construction; any
  // other session only when the peer's address is on a subnet of our side's interface.
  const bool single_hop =
      pc.ttl_security == 1 || (!info.ibgp && pc.ebgp_multihop == 0 && pc.ttl_security == 0);
  info.local_link_local = link_local_address(local.address, pc.address, single_hop);
  peer.set_local_link_local(info.local_link_local);
  info.four_octet_as = n.four_octet_as;
  info.extended_message = n.extended_message;
  info.long_lived_graceful_restart = n.remote_open.caps.long_lived_graceful_restart.has_value();
  info.families = n.families;
  info.import_policy = pc.import_policy.fn;
  info.export_policy = pc.export_policy.fn;
  info.import_policy_per_prefix = pc.import_policy.per_prefix;
  info.export_policy_per_prefix = pc.export_policy.per_prefix;
  info.export_policy_id = pc.export_policy.name;
  rib_of(pc).peer_up(info);
  request_flush();
}

void Speaker::on_down(Peer& peer, std::span<const Family> retain) {
  rib_of(peer.config()).peer_down(peer.id(), retain);
  request_flush();
}

void Speaker::request_flush() {
  if (flush_pending_) return;
  flush_pending_ = true;
  loop_.post([this] { flush(); });
}

void Speaker::flush() {
  flush_pending_ = false;
  rib_->flush();
  for (auto& [name, rib] : vrf_ribs_) rib->flush();
  for (auto& [id, peer] : peers_) peer->pump_output();
  reap_finished();
  if (!routes_complete_why_.empty()) {
    // After what this flush handed to the RIB's listeners (they post their work first).
    loop_.post([this, why = std::move(routes_complete_why_)] {
      if (on_routes_complete_) on_routes_complete_(why);
    });
    routes_complete_why_.clear();
  }
}

void Speaker::reap_finished() {
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (it->second->finished()) {
      log::info("bgp: dynamic neighbor {} removed", it->second->config().address.to_string());
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace isthmus::bgp
