// The EVPN service of a VTEP (see instance.h).
#include "evpn/instance.h"

#include <algorithm>

#include "bgp/wire/ext_community.h"
#include "core/log.h"

namespace isthmus::evpn {

namespace {

// RFC 7432 §9.2.1, RFC 9136 §4.4.1: a route carrying one of the import route targets.
bool imports_rt(const std::vector<bgp::ExtCommunity>& import_rts,
                const std::vector<bgp::ExtCommunity>& ext) {
  for (const auto& c : ext)
    if (std::find(import_rts.begin(), import_rts.end(), c) != import_rts.end()) return true;
  return false;
}

MacAdvertisement advertisement(const MacAddress& mac, const IpAddress& vtep, uint32_t sequence,
                               bool sticky) {
  MacAdvertisement a;
  a.mac = mac;
  a.vtep = vtep;
  a.sequence = sequence;
  a.sticky = sticky;
  return a;
}

MacAdvertisement advertisement(const MacAddress& mac, const RemoteMac& r) {
  return advertisement(mac, r.vtep, r.sequence, r.sticky);
}

bool is_multicast(const IpAddress& a) {
  return a.is_v4() ? (a.bytes()[0] & 0xf0) == 0xe0 : a.bytes()[0] == 0xff;
}

std::string mac_text(uint32_t vni, const MacAddress& mac) {
  return "VNI " + std::to_string(vni) + ": " + mac.to_string();
}

}  // namespace

Instance::Instance(bgp::Rib& rib, InstanceConfig config, Hooks hooks, Observer observer)
    : rib_(rib),
      config_(std::move(config)),
      hooks_(std::move(hooks)),
      observer_(std::move(observer)) {
  for (const auto& vrf : config_.mac_vrfs) vnis_[vrf.vni].vrf = vrf;
  for (const auto& vrf : config_.ip_vrfs) l3_[vrf.vni].vrf = vrf;
}

Clock::time_point Instance::now() const { return hooks_.now ? hooks_.now() : Clock::now(); }

Instance::Vni* Instance::find(uint32_t vni) {
  auto it = vnis_.find(vni);
  return it == vnis_.end() ? nullptr : &it->second;
}

const Instance::Vni* Instance::find(uint32_t vni) const {
  auto it = vnis_.find(vni);
  return it == vnis_.end() ? nullptr : &it->second;
}

const MacVrf* Instance::find_vrf(uint32_t vni) const {
  const Vni* v = find(vni);
  return v ? &v->vrf : nullptr;
}

Expected<Instance::Vni*> Instance::vtep_vni(uint32_t vni) {
  if (!config_.vtep) return fail("this speaker is not a VTEP (evpn.vtep is not set)");
  Vni* v = find(vni);
  if (!v) return fail("no EVPN instance for VNI " + std::to_string(vni) + " (see show evpn vni)");
  return v;
}

Expected<Instance::L3Vni*> Instance::vtep_l3(uint32_t l3_vni) {
  if (!config_.vtep) return fail("this speaker is not a VTEP (evpn.vtep is not set)");
  auto it = l3_.find(l3_vni);
  if (it == l3_.end())
    return fail("no IP-VRF for L3 VNI " + std::to_string(l3_vni) + " (see show evpn ip-vrf)");
  return &it->second;
}

const Instance::L3Vni* Instance::find_l3(uint32_t l3_vni) const {
  auto it = l3_.find(l3_vni);
  return it == l3_.end() ? nullptr : &it->second;
}

const IpVrf* Instance::ip_vrf_of(const Vni& v) const {
  return v.vrf.l3_vni ? find_ip_vrf(v.vrf.l3_vni) : nullptr;
}

const IpVrf* Instance::find_ip_vrf(uint32_t l3_vni) const {
  const L3Vni* v = find_l3(l3_vni);
  return v ? &v->vrf : nullptr;
}

// ---- Feeding -----------------------------------------------------------------------------------

void Instance::best_evpn_changed(std::span<const uint8_t> key, const bgp::Path* best) {
  // Inside Rib::flush(): copy what is needed and leave.
  if (vnis_.empty() && l3_.empty()) return;  // a plain route reflector: nothing to keep
  const bool has_best = best && best->attrs;
  const auto route = bgp::evpn_route(
      key, has_best ? best->attrs->evpn_nlri.value_or(bgp::EvpnNlriData{}) : bgp::EvpnNlriData{});
  if (!route) return;
  const auto k = bgp::evpn_key(*route);
  if (!k) return;
  Change c{*k, std::nullopt, bgp::kLocalPeer, IpAddress{}, {}, {}};
  if (has_best) {
    c.route = *route;
    c.peer = best->peer;
    c.next_hop = best->attrs->next_hop;
    c.ext_communities = best->attrs->ext_communities;
    c.as_path = best->attrs->as_path;
  }
  const bool first = pending_.empty();
  pending_.push_back(std::move(c));
  if (first && hooks_.wake) hooks_.wake();
}

void Instance::run_pending() {
  std::vector<Change> batch;
  batch.swap(pending_);
  Touched touched;
  for (const auto& c : batch) apply(c, touched);
  for (const auto& [vni, mac] : touched.macs)
    if (Vni* v = find(vni)) reconcile(*v, mac);
  for (uint32_t vni : touched.flood)
    if (Vni* v = find(vni)) update_flood(*v);
  for (const auto& [vni, prefix] : touched.prefixes)
    if (auto it = l3_.find(vni); it != l3_.end()) update_prefix(it->second, prefix);
  deliver();
}

void Instance::forget_key(const bgp::EvpnKey& key, Touched& touched) {
  auto it = key_vnis_.find(key);
  if (it == key_vnis_.end()) return;
  for (uint32_t vni : it->second.vnis) {
    Vni* v = find(vni);
    if (!v) continue;
    v->keys.erase(key);
    if (v->imet.erase(key)) touched.flood.insert(vni);
    if (!it->second.mac) continue;
    auto m = v->remote.find(*it->second.mac);
    if (m == v->remote.end() || !m->second.erase(key)) continue;
    touched.macs.insert({vni, m->first});
    if (m->second.empty()) v->remote.erase(m);
  }
  for (uint32_t vni : it->second.l3_vnis) {
    auto l3 = l3_.find(vni);
    if (l3 == l3_.end() || !it->second.prefix) continue;
    auto p = l3->second.remote.find(*it->second.prefix);
    if (p == l3->second.remote.end() || !p->second.erase(key)) continue;
    touched.prefixes.insert({vni, p->first});
    if (p->second.empty()) l3->second.remote.erase(p);
  }
  key_vnis_.erase(it);
}

void Instance::apply(const Change& c, Touched& touched) {
  forget_key(c.key, touched);
  if (!c.route) return;
  KeyPlace place;
  if (const auto* m = std::get_if<bgp::EvpnMacIp>(&c.route->route)) place.mac = m->mac;
  for (auto& [vni, v] : vnis_) {
    if (!imports_rt(v.vrf.import_rts, c.ext_communities)) continue;
    place.vnis.push_back(vni);
    v.keys.insert(c.key);
    // Our own routes come back through the Loc-RIB too; they are not remote advertisements.
    if (c.peer == bgp::kLocalPeer) continue;
    if (const auto* i = std::get_if<bgp::EvpnImet>(&c.route->route)) {
      v.imet[c.key] = i->originator;
      touched.flood.insert(vni);
    } else if (const auto* m = std::get_if<bgp::EvpnMacIp>(&c.route->route)) {
      RemoteRoute r;
      r.vtep = c.next_hop;
      r.ip = m->ip;
      r.rd = m->rd;
      r.peer = c.peer;
      for (const auto& e : c.ext_communities) {
        if (auto mm = bgp::MacMobility::decode(e)) {
          r.sequence = mm->sequence;
          r.sticky = mm->sticky;
        }
      }
      v.remote[m->mac][c.key] = r;
      touched.macs.insert({vni, m->mac});
    }
  }
  // Routes of the IP-VRFs whose import route targets they carry: type-5 routes (RFC 9136
  // §4.4.1), and the host routes of symmetric IRB (RFC 9135 §5.1.2): a MAC/IP route with a
  // second label (the L3 VNI) is the IP's /32 or /128 through the advertising VTEP.
  std::optional<Prefix> prefix;
  uint32_t label = 0;
  bgp::RouteDistinguisher rd;
  std::string unusable;
  bool host = false;
  if (const auto* p = std::get_if<bgp::EvpnIpPrefix>(&c.route->route)) {
    prefix = p->prefix;
    label = bgp::vni_of_label_field(p->label);
    rd = p->rd;
    if (!p->gateway.is_unspecified())
      unusable = "gateway address " + p->gateway.to_string() +
                 " (the gateway-address model, RFC 9136 §4.4.2, is not supported)";
    else if (!p->esi.is_zero())
      unusable = "ESI " + p->esi.to_string() + " (multihoming is not supported)";
  } else if (const auto* m = std::get_if<bgp::EvpnMacIp>(&c.route->route);
             m && m->ip && m->label2) {
    prefix = Prefix(*m->ip, m->ip->is_v4() ? 32 : 128);
    label = bgp::vni_of_label_field(*m->label2);
    rd = m->rd;
    host = true;
  }
  if (prefix) {
    place.prefix = prefix;
    for (auto& [vni, v] : l3_) {
      if (!imports_rt(v.vrf.import_rts, c.ext_communities)) continue;
      place.l3_vnis.push_back(vni);
      if (c.peer == bgp::kLocalPeer) continue;
      RemotePrefix r;
      r.vtep = c.next_hop;
      r.label = label;
      r.rd = rd;
      r.peer = c.peer;
      r.as_path = c.as_path;
      r.host = host;
      for (const auto& e : c.ext_communities)
        if (auto rm = bgp::RouterMac::decode(e)) r.router_mac = rm->mac;
      r.unusable = unusable;
      // RFC 9135 §8.1: the inner destination MAC towards the VTEP; without it, nothing to send.
      if (!r.router_mac && r.unusable.empty())
        r.unusable = "no Router's MAC extended community (RFC 9135 §8.1)";
      if (!r.unusable.empty())
        log::warn("evpn: L3 VNI {}: {} from VTEP {} (RD {}) is not installed: {}", vni,
                  prefix->to_string(), r.vtep.to_string(), r.rd.to_string(), r.unusable);
      v.remote[*prefix][c.key] = r;
      touched.prefixes.insert({vni, *prefix});
    }
  }
  if (!place.vnis.empty() || !place.l3_vnis.empty()) key_vnis_[c.key] = std::move(place);
}

std::vector<RemoteMac> Instance::remote_macs(const Vni& v, const MacAddress& mac) const {
  std::vector<RemoteMac> out;
  auto it = v.remote.find(mac);
  if (it == v.remote.end()) return out;
  std::map<IpAddress, RemoteMac> by_vtep;
  for (const auto& [key, r] : it->second) {
    auto [e, fresh] = by_vtep.try_emplace(r.vtep);
    RemoteMac& m = e->second;
    if (fresh) {
      m.vtep = r.vtep;
      m.rd = r.rd;
      m.peer = r.peer;
    }
    // RFC 7432 §15.1 speaks of the MAC's sequence number; a VTEP's MAC-only and MAC/IP routes
    // should carry the same one, and the highest counts if they do not.
    m.sequence = std::max(m.sequence, r.sequence);
    m.sticky = m.sticky || r.sticky;
    if (r.ip) m.ips.push_back(*r.ip);
    ++m.routes;
  }
  for (auto& [vtep, m] : by_vtep) {
    std::sort(m.ips.begin(), m.ips.end());
    m.ips.erase(std::unique(m.ips.begin(), m.ips.end()), m.ips.end());
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [&](const RemoteMac& a, const RemoteMac& b) {
    return wins(advertisement(mac, a), advertisement(mac, b));
  });
  return out;
}

uint32_t Instance::takeover_sequence(const std::vector<RemoteMac>& remote, const LocalMac& l) {
  // RFC 7432 §15.1: "... it MUST advertise ... with a Sequence Number that is one greater than
  // the Sequence Number in the received route" (the highest any other VTEP advertises).
  uint32_t highest = 0;
  for (const auto& r : remote) highest = std::max(highest, r.sequence);
  if (remote.empty()) return l.sequence;
  return std::max(l.sequence, highest + 1);
}

bool Instance::record_move(Vni& v, const MacAddress& mac, LocalMac& l) {
  const DuplicateDetection& d = config_.duplicate_detection;
  if (!d.enabled) return false;
  const Clock::time_point t = now();
  l.moves.push_back(t);
  while (!l.moves.empty() && t - l.moves.front() >= d.window) l.moves.pop_front();
  if (l.moves.size() < d.max_moves) return false;
  // RFC 7432 §15.1: "it should alert the operator and stop sending and processing any BGP
  // MAC/IP Advertisement routes for that MAC address until a corrective action is taken".
  l.duplicate = true;
  l.frozen_at = t;
  log::warn(
      "evpn: {} is a duplicate: moved {} times within {} s; frozen (clear evpn dup-addr "
      "vni {} mac {})",
      mac_text(v.vrf.vni, mac), l.moves.size(), d.window.count(), v.vrf.vni, mac.to_string());
  if (observer_.duplicate)
    events_.push_back([this, vni = v.vrf.vni, mac] { observer_.duplicate(vni, mac); });
  return true;
}

void Instance::reconcile(Vni& v, const MacAddress& mac) {
  auto it = v.local.find(mac);
  if (it != v.local.end() && config_.vtep) {
    LocalMac& l = it->second;
    const std::vector<RemoteMac> remote = remote_macs(v, mac);
    const RemoteMac* best = remote.empty() ? nullptr : &remote.front();
    // wins() puts sticky first: a static advertisement elsewhere shows at the front.
    const bool conflict = best && best->sticky;
    if (conflict && !l.conflict) {
      // RFC 7432 §15.2: a MAC learned here that another VTEP advertises as static.
      log::warn("evpn: {} is learned here but {} advertises it as static (sticky)",
                mac_text(v.vrf.vni, mac), best->vtep.to_string());
      if (observer_.sticky_conflict)
        events_.push_back([this, vni = v.vrf.vni, mac, vtep = best->vtep] {
          observer_.sticky_conflict(vni, mac, vtep);
        });
    }
    l.conflict = conflict;
    // A duplicate is frozen: no decisions until it is cleared.
    if (!l.duplicate) {
      switch (l.state) {
        case LocalMac::State::Local:
          if (l.sticky) break;  // RFC 7432 §15.2: a static MAC does not move
          if (conflict) {
            l.state = LocalMac::State::Conflict;
          } else if (best && wins(advertisement(mac, *best),
                                  advertisement(mac, *config_.vtep, l.sequence, l.sticky))) {
            // RFC 7432 §15.1: another VTEP advertises it with a higher sequence number (or the
            // same one and a lower address): the MAC moved there; withdraw ours.
            if (record_move(v, mac, l)) break;
            l.state = LocalMac::State::MovedAway;
            log::info("evpn: {} moved to {} (sequence {}); withdrawn", mac_text(v.vrf.vni, mac),
                      best->vtep.to_string(), best->sequence);
            if (observer_.local_mac_moved)
              events_.push_back(
                  [this, vni = v.vrf.vni, mac, vtep = best->vtep, seq = best->sequence] {
                    observer_.local_mac_moved(vni, mac, vtep, seq);
                  });
          }
          break;
        case LocalMac::State::Conflict:
          if (!conflict) {
            l.state = LocalMac::State::Local;
            l.sequence = takeover_sequence(remote, l);
          }
          break;
        case LocalMac::State::MovedAway:
          break;
      }
    }
    sync(v, mac, l);
  }
  update_fib(v, mac);
}

void Instance::sync(Vni& v, const MacAddress& mac, LocalMac& l) {
  if (!config_.vtep) return;
  std::set<std::optional<IpAddress>> want;
  uint32_t seq = l.sequence;
  bool sticky = l.sticky;
  if (l.duplicate) {
    // Frozen: the routes stay as they are; only those of removed IPs go.
    for (const auto& r : l.in_rib)
      if (l.routes.count(r)) want.insert(r);
    seq = l.rib_sequence;
    sticky = l.rib_sticky;
  } else if (l.state == LocalMac::State::Local) {
    want = l.routes;
  }
  const bool attrs_changed = seq != l.rib_sequence || sticky != l.rib_sticky;
  for (const auto& r : l.in_rib) {
    if (want.count(r)) continue;
    rib_.withdraw_originated_evpn(mac_route(v.vrf, nullptr, *config_.vtep, mac, r, 0).first);
    rib_dirty_ = true;
  }
  for (const auto& r : want) {
    if (l.in_rib.count(r) && !attrs_changed) continue;
    auto [route, attrs] = mac_route(v.vrf, ip_vrf_of(v), *config_.vtep, mac, r, seq, sticky);
    rib_.originate_evpn(route, attrs);
    rib_dirty_ = true;
  }
  l.in_rib = std::move(want);
  l.rib_sequence = seq;
  l.rib_sticky = sticky;
}

void Instance::update_fib(Vni& v, const MacAddress& mac) {
  const std::vector<RemoteMac> remote = remote_macs(v, mac);
  std::optional<RemoteMac> want;
  if (!remote.empty()) {
    want = remote.front();
    auto l = v.local.find(mac);
    if (l != v.local.end() && !l->second.in_rib.empty() &&
        wins(advertisement(mac, *config_.vtep, l->second.rib_sequence, l->second.rib_sticky),
             advertisement(mac, remote.front())))
      want.reset();  // ours wins: not a remote MAC
  }
  auto have = v.fib.find(mac);
  MacEvent e;
  e.vni = v.vrf.vni;
  e.mac = mac;
  if (!want) {
    if (have == v.fib.end()) return;
    e.kind = MacEvent::Kind::Removed;
    e.old_vtep = have->second.vtep;
    v.fib.erase(have);
  } else if (have == v.fib.end()) {
    e.kind = MacEvent::Kind::Added;
    e.entry = *want;
    v.fib.emplace(mac, *want);
  } else {
    if (have->second == *want) return;
    e.kind = have->second.vtep == want->vtep ? MacEvent::Kind::Updated : MacEvent::Kind::Moved;
    e.old_vtep = have->second.vtep;
    e.entry = *want;
    have->second = *want;
  }
  if (observer_.remote_mac) events_.push_back([this, e] { observer_.remote_mac(e); });
}

void Instance::update_flood(Vni& v) {
  std::vector<IpAddress> now;
  for (const auto& [key, a] : v.imet) now.push_back(a);
  std::sort(now.begin(), now.end());
  now.erase(std::unique(now.begin(), now.end()), now.end());
  if (now == v.flood) return;
  v.flood = now;
  if (observer_.flood_list)
    events_.push_back([this, vni = v.vrf.vni, now] { observer_.flood_list(vni, now); });
}

std::vector<RemotePrefix> Instance::remote_prefixes(const L3Vni& v, const Prefix& prefix) const {
  std::vector<RemotePrefix> out;
  auto it = v.remote.find(prefix);
  if (it == v.remote.end()) return out;
  for (const auto& [key, r] : it->second) out.push_back(r);
  std::sort(out.begin(), out.end(), [](const RemotePrefix& a, const RemotePrefix& b) {
    return a.vtep != b.vtep ? a.vtep < b.vtep : a.rd < b.rd;
  });
  return out;
}

void Instance::update_prefix(L3Vni& v, const Prefix& prefix) {
  std::vector<RemotePrefix> now = remote_prefixes(v, prefix);
  auto it = v.told.find(prefix);
  if (it == v.told.end() ? now.empty() : it->second == now) return;
  if (now.empty())
    v.told.erase(it);
  else
    v.told[prefix] = now;
  if (observer_.remote_prefix)
    events_.push_back(
        [this, vni = v.vrf.vni, prefix, now] { observer_.remote_prefix(vni, prefix, now); });
}

void Instance::deliver() {
  if (rib_dirty_) {
    rib_dirty_ = false;
    if (hooks_.rib_changed) hooks_.rib_changed();
  }
  // An observer may call back in (and queue more): deliver in order, once.
  if (delivering_) return;
  delivering_ = true;
  for (size_t i = 0; i < events_.size(); ++i) {
    auto fn = std::move(events_[i]);
    fn();
  }
  events_.clear();
  delivering_ = false;
}

// ---- Origination -------------------------------------------------------------------------------

void Instance::start() {
  if (!config_.vtep) return;
  for (auto& [vni, v] : vnis_) (void)join_flood_list(vni);
  for (auto& [vni, v] : l3_)
    for (const Prefix& p : v.vrf.subnets) (void)add_prefix(vni, p);
}

Expected<void> Instance::join_flood_list(uint32_t vni) {
  auto v = vtep_vni(vni);
  if (!v) return unexpected(v.error());
  if ((*v)->imet_originated) return {};
  auto [route, attrs] = imet_route((*v)->vrf, *config_.vtep);
  rib_.originate_evpn(route, attrs);
  (*v)->imet_originated = true;
  rib_dirty_ = true;
  deliver();
  return {};
}

Expected<void> Instance::leave_flood_list(uint32_t vni) {
  auto v = vtep_vni(vni);
  if (!v) return unexpected(v.error());
  if (!(*v)->imet_originated) return {};
  rib_.withdraw_originated_evpn(imet_route((*v)->vrf, *config_.vtep).first);
  (*v)->imet_originated = false;
  rib_dirty_ = true;
  deliver();
  return {};
}

Expected<LocalMacResult> Instance::add_local_mac(uint32_t vni, const MacAddress& mac,
                                                 const std::optional<IpAddress>& ip, bool sticky) {
  auto found = vtep_vni(vni);
  if (!found) return unexpected(found.error());
  Vni& v = **found;
  if (mac.bytes[0] & 1)
    return fail(mac.to_string() + " is a multicast or broadcast address, not a host's MAC");
  if (mac == MacAddress{}) return fail("00:00:00:00:00:00 is not a host's MAC");
  if (ip && (ip->is_unspecified() || is_multicast(*ip)))
    return fail(ip->to_string() + " is not a host address");

  auto [it, fresh] = v.local.try_emplace(mac);
  LocalMac& l = it->second;
  l.routes.insert(ip);
  l.sticky = sticky;
  const std::vector<RemoteMac> remote = remote_macs(v, mac);
  LocalMacResult res;
  if (fresh || l.state != LocalMac::State::Local) {
    const bool conflict = !remote.empty() && remote.front().sticky;
    if (conflict && !l.conflict) {
      log::warn("evpn: {} is learned here but {} advertises it as static (sticky)",
                mac_text(vni, mac), remote.front().vtep.to_string());
      if (observer_.sticky_conflict)
        events_.push_back([this, vni, mac, vtep = remote.front().vtep] {
          observer_.sticky_conflict(vni, mac, vtep);
        });
    }
    l.conflict = conflict;
    if (conflict && !sticky) {
      l.state = LocalMac::State::Conflict;
    } else {
      l.state = LocalMac::State::Local;
      // RFC 7432 §15.1: learned here while another VTEP advertises it: a move to here.
      if (!remote.empty() && !l.duplicate && !record_move(v, mac, l)) {
        l.sequence = takeover_sequence(remote, l);
        res.note = "taken over from " + remote.front().vtep.to_string();
        log::info("evpn: {} learned here, taken over from {} with sequence {}", mac_text(vni, mac),
                  remote.front().vtep.to_string(), l.sequence);
      }
    }
  }
  sync(v, mac, l);
  update_fib(v, mac);
  res.advertised = l.in_rib.count(ip) > 0;
  res.sequence = res.advertised ? l.rib_sequence : l.sequence;
  if (l.duplicate)
    res.note = "duplicate MAC (moved " + std::to_string(config_.duplicate_detection.max_moves) +
               " times within " + std::to_string(config_.duplicate_detection.window.count()) +
               " s), frozen until clear evpn dup-addr vni " + std::to_string(vni) + " mac " +
               mac.to_string();
  else if (l.state == LocalMac::State::Conflict)
    res.note = "VTEP " + remote.front().vtep.to_string() +
               " advertises it as static (sticky, RFC 7432 §15.2)";
  deliver();
  return res;
}

Expected<bool> Instance::remove_local_mac(uint32_t vni, const MacAddress& mac,
                                          const std::optional<IpAddress>& ip) {
  auto found = vtep_vni(vni);
  if (!found) return unexpected(found.error());
  Vni& v = **found;
  auto it = v.local.find(mac);
  if (it == v.local.end()) return false;
  LocalMac& l = it->second;
  if (ip) {
    if (!l.routes.erase(ip)) return false;
  } else {
    l.routes.clear();
  }
  sync(v, mac, l);
  if (l.routes.empty()) v.local.erase(it);
  update_fib(v, mac);
  deliver();
  return true;
}

Expected<size_t> Instance::clear_duplicate(uint32_t vni, const std::optional<MacAddress>& mac) {
  Vni* v = find(vni);
  if (!v) return fail("no EVPN instance for VNI " + std::to_string(vni) + " (see show evpn vni)");
  if (mac && !v->local.count(*mac))
    return fail(mac_text(vni, *mac) + " is not a local MAC (see show evpn mac vni " +
                std::to_string(vni) + ")");
  size_t n = 0;
  for (auto& [m, l] : v->local) {
    if ((mac && m != *mac) || !l.duplicate) continue;
    l.duplicate = false;
    l.moves.clear();
    l.frozen_at.reset();
    ++n;
    log::info("evpn: {}: duplicate cleared", mac_text(vni, m));
    // The last thing learned holds: attached here, it takes over again (RFC 7432 §15.1); moved
    // away, its routes go.
    const std::vector<RemoteMac> remote = remote_macs(*v, m);
    if (l.state == LocalMac::State::Local && !remote.empty()) {
      if (remote.front().sticky && !l.sticky)
        l.state = LocalMac::State::Conflict;
      else if (!l.sticky && wins(advertisement(m, remote.front()),
                                 advertisement(m, *config_.vtep, l.sequence, l.sticky)))
        l.sequence = takeover_sequence(remote, l);
    }
    sync(*v, m, l);
    update_fib(*v, m);
  }
  deliver();
  return n;
}

Expected<bool> Instance::add_prefix(uint32_t l3_vni, const Prefix& prefix,
                                    const bgp::AsPath& as_path) {
  auto found = vtep_l3(l3_vni);
  if (!found) return unexpected(found.error());
  L3Vni& v = **found;
  auto [at, fresh] = v.local.try_emplace(prefix, as_path);
  if (!fresh && at->second == as_path) return false;
  at->second = as_path;
  auto [route, attrs] = ip_prefix_route(v.vrf, *config_.vtep, prefix, as_path);
  rib_.originate_evpn(route, attrs);
  rib_dirty_ = true;
  deliver();
  return true;
}

Expected<bool> Instance::remove_prefix(uint32_t l3_vni, const Prefix& prefix) {
  auto found = vtep_l3(l3_vni);
  if (!found) return unexpected(found.error());
  L3Vni& v = **found;
  if (!v.local.erase(prefix)) return false;
  rib_.withdraw_originated_evpn(ip_prefix_route(v.vrf, *config_.vtep, prefix).first);
  rib_dirty_ = true;
  deliver();
  return true;
}

// ---- Views -------------------------------------------------------------------------------------

Expected<std::vector<MacRow>> Instance::macs(uint32_t vni) const {
  const Vni* v = find(vni);
  if (!v) return fail("no EVPN instance for VNI " + std::to_string(vni) + " (see show evpn vni)");
  std::set<MacAddress> all;
  for (const auto& [m, routes] : v->remote) all.insert(m);
  for (const auto& [m, l] : v->local) all.insert(m);
  std::vector<MacRow> rows;
  for (const MacAddress& m : all) {
    MacRow row;
    row.mac = m;
    const std::vector<RemoteMac> remote = remote_macs(*v, m);
    row.advertisements = remote.size();
    auto l = v->local.find(m);
    if (l != v->local.end()) row.local_mac = &l->second;
    std::optional<RemoteMac> ours;
    if (row.local_mac && config_.vtep) {
      ours.emplace();
      ours->vtep = *config_.vtep;
      ours->rd = v->vrf.rd;
      ours->peer = bgp::kLocalPeer;
      const bool advertised = !row.local_mac->in_rib.empty();
      ours->sequence = advertised ? row.local_mac->rib_sequence : row.local_mac->sequence;
      ours->sticky = advertised ? row.local_mac->rib_sticky : row.local_mac->sticky;
      for (const auto& r : advertised ? row.local_mac->in_rib : row.local_mac->routes)
        if (r) ours->ips.push_back(*r);
      ours->routes = row.local_mac->in_rib.size();
      if (advertised) ++row.advertisements;
    }
    if (ours && ours->routes > 0 &&
        (remote.empty() || wins(advertisement(m, *ours), advertisement(m, remote.front())))) {
      row.local = true;
      row.winner = *ours;
    } else if (!remote.empty()) {
      row.winner = remote.front();
    } else if (ours) {
      row.winner = *ours;  // known here, advertised by nobody (moved away, frozen, conflict)
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

Expected<std::vector<IpAddress>> Instance::flood_list(uint32_t vni) const {
  const Vni* v = find(vni);
  if (!v) return fail("no EVPN instance for VNI " + std::to_string(vni) + " (see show evpn vni)");
  std::vector<IpAddress> out;
  for (const auto& [key, a] : v->imet) out.push_back(a);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

size_t Instance::route_count(uint32_t vni) const {
  const Vni* v = find(vni);
  return v ? v->keys.size() : 0;
}

const LocalMac* Instance::local_mac(uint32_t vni, const MacAddress& mac) const {
  const Vni* v = find(vni);
  if (!v) return nullptr;
  auto it = v->local.find(mac);
  return it == v->local.end() ? nullptr : &it->second;
}

Expected<std::vector<PrefixRow>> Instance::prefixes(uint32_t l3_vni) const {
  const L3Vni* v = find_l3(l3_vni);
  if (!v) return fail("no IP-VRF for L3 VNI " + std::to_string(l3_vni) + " (see show evpn ip-vrf)");
  std::set<Prefix> all;
  for (const auto& [p, as_path] : v->local) all.insert(p);
  for (const auto& [p, routes] : v->remote) all.insert(p);
  std::vector<PrefixRow> rows;
  for (const Prefix& p : all)
    rows.push_back(PrefixRow{p, v->local.count(p) > 0, remote_prefixes(*v, p)});
  return rows;
}

Expected<void> Instance::for_each_remote_prefix(
    uint32_t l3_vni,
    const std::function<void(const Prefix&, const std::vector<RemotePrefix>&)>& fn) const {
  const L3Vni* v = find_l3(l3_vni);
  if (!v) return fail("no IP-VRF for L3 VNI " + std::to_string(l3_vni) + " (see show evpn ip-vrf)");
  for (const auto& [prefix, remote] : v->told) fn(prefix, remote);
  return {};
}

std::vector<bgp::RtMembership> rt_memberships(const InstanceConfig& config, uint32_t asn) {
  std::vector<bgp::RtMembership> out;
  for (const MacVrf& vrf : config.mac_vrfs)
    for (const bgp::ExtCommunity& rt : vrf.import_rts)
      out.push_back(bgp::RtMembership::of(asn, rt.bytes));
  for (const IpVrf& vrf : config.ip_vrfs)
    for (const bgp::ExtCommunity& rt : vrf.import_rts)
      out.push_back(bgp::RtMembership::of(asn, rt.bytes));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bgp::PathAttributes rt_membership_attributes() {
  bgp::PathAttributes a;
  a.origin = bgp::Origin::Igp;
  a.next_hop = IpAddress::v4(0);  // this speaker, per peer
  return a;
}

}  // namespace isthmus::evpn
