#include "bgp/speaker/speaker.h"

#include <sys/epoll.h>

#include "core/log.h"

namespace isthmus::bgp {

Speaker::Speaker(EventLoop& loop, SpeakerConfig config) : loop_(loop), config_(std::move(config)) {
  if (config_.cluster_id == 0) config_.cluster_id = config_.router_id;
  rib_ = std::make_unique<Rib>(
      RibConfig{config_.asn, config_.router_id, config_.cluster_id, nullptr, {}, {}});
}

Speaker::~Speaker() {
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
  for (auto& [id, peer] : peers_) peer->start();
  request_flush();
  return {};
}

void Speaker::shutdown(const std::string& reason) {
  for (auto& [id, peer] : peers_) peer->stop(cease::kAdministrativeShutdown, reason);
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
  info.families = n.families;
  info.import_policy = pc.import_policy.fn;
  info.export_policy = pc.export_policy.fn;
  info.import_policy_per_prefix = pc.import_policy.per_prefix;
  info.export_policy_per_prefix = pc.export_policy.per_prefix;
  info.export_policy_id = pc.export_policy.name;
  rib_->peer_up(info);
  request_flush();
}

void Speaker::on_down(Peer& peer, std::span<const Family> retain) {
  rib_->peer_down(peer.id(), retain);
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
  for (auto& [id, peer] : peers_) peer->pump_output();
  reap_finished();
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
