// Rib: sessions and the stale paths of restarting peers (RFC 4724 §4.2), import (RFC 4271
// §9.1.1, RFC 4456 §8 loop checks, RFC 8212) and the decision process run over changed prefixes
// (RFC 4271 §9.1.2). Export and output are in rib_out.cc.
#include "bgp/rib/rib.h"

#include <algorithm>

#include "core/bug.h"
#include "core/log.h"

namespace isthmus::bgp {

Rib::Rib(RibConfig config) : config_(std::move(config)), encoder_(config_.encoder) {
  if (config_.cluster_id == 0) config_.cluster_id = config_.router_id;
  if (!encoder_) encoder_ = &wire_encoder();
}

Rib::~Rib() = default;

const Rib::Table* Rib::find_table(Family family) const {
  auto it = tables_.find(family);
  return it == tables_.end() ? nullptr : &it->second;
}

Rib::PeerState* Rib::find_peer(PeerId peer) {
  auto it = peers_.find(peer);
  return it == peers_.end() ? nullptr : &it->second;
}

const Rib::PeerState* Rib::find_peer(PeerId peer) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? nullptr : &it->second;
}

// ---- Sessions -----------------------------------------------------------------------------------

void Rib::peer_up(const PeerInfo& peer) {
  if (BUG(peer.id == kLocalPeer || peer.id == kImportedPeer)) return;
  // A peer that is down but still has stale paths (RFC 4724 §4.2) comes back into its state.
  const PeerState* before = find_peer(peer.id);
  if (BUG(before != nullptr && before->group != nullptr)) return;
  flush();
  bool created = false;
  UpdateGroup& g = join_group(peer, created);
  if (!created) encode_pending(g);  // bring the group's Adj-RIB-Out up to date first
  PeerState& ps = peers_[peer.id];
  ps.info = peer;
  ps.group = &g;
  ps.rt_constrained = g.key.rt_constrained;
  ps.cursor = Cursor{g.end_seq(), 0};
  ps.counters.update_group = g.id;
  for (Family f : g.key.families) ps.counters.families[f];
  g.members.push_back(peer.id);

  if (created) {
    // A new group: its Adj-RIB-Out is the whole Loc-RIB after export, built like any change.
    for (auto& entry : g.families) {
      // Not a structured binding: clang 14 cannot capture one in a lambda.
      GroupFamily& gf = entry.second;
      const RouteTable& routes = table(entry.first).routes;
      routes.for_each([&](RouteId id) {
        if (routes.entry(id).best()) gf.mark(id);
      });
      // In prefix order, like dump(): the first advertisement reads like a sorted table.
      std::sort(gf.pending.begin(), gf.pending.end(),
                [&](RouteId a, RouteId b) { return routes.less(a, b); });
    }
    encode_pending(g);
  } else {
    // Its stale paths may be best: split horizon applies to them as to any route of a member.
    if (!ps.stale.empty()) exclude_own_routes(g, peer.id);
    // The group's routes too large for its sessions are not sent to it either.
    for (const auto& [family, gf] : g.families)
      count_too_large(ps, gf.too_large_count, family, "a route");
    for (Family f : g.key.families) dump(g, f, peer.id);
  }
  // RFC 4724 §2: End-of-RIB after the initial update, for each family. RFC 4684 §6: to a peer
  // that constrains its EVPN routes, their End-of-RIB follows the routes its memberships let
  // through, once its own RT-constraint End-of-RIB says it sent them all.
  for (Family f : g.key.families) {
    if (f == kL2vpnEvpn && ps.rt_constrained) {
      ps.evpn_eor_held = true;
      continue;
    }
    if (hold_end_of_rib_) {
      ps.eor_deferred.push_back(f);
      continue;
    }
    Chunk eor;
    eor.only = peer.id;
    encoder_->end_of_rib(f, eor.bytes);
    push_chunk(g, std::move(eor));
  }
  log::debug("bgp rib: peer {} up in update group {} ({} members)", peer.address.to_string(), g.id,
             g.members.size());
}

void Rib::peer_down(PeerId peer, std::span<const Family> retain) {
  PeerState* ps = find_peer(peer);
  if (!ps) return;
  // RFC 4724 §4.2: "To deal with possible consecutive restarts, a route (from the peer)
  // previously marked as stale MUST be deleted."
  for (auto& [family, set] : ps->stale) purge(*ps, family);
  ps->stale.clear();
  for (auto& entry : tables_) {
    const Family family = entry.first;
    Table& t = entry.second;  // not a structured binding: clang 14 cannot capture one
    auto fc = ps->counters.families.find(family);
    FamilyCounters* c = fc == ps->counters.families.end() ? nullptr : &fc->second;
    if (std::find(retain.begin(), retain.end(), family) == retain.end()) {
      t.routes.for_each([&](RouteId id) { remove_path(t, id, peer, c); });
      continue;
    }
    // RFC 4724 §4.2: retained and marked stale. Nothing changes in Loc-RIB or downstream.
    StaleSet s;
    t.routes.for_each([&](RouteId id) {
      if (t.routes.entry(id).find(peer)) s.ids.push_back(id);  // in id order: sorted
    });
    if (s.ids.empty()) continue;
    s.refreshed.assign(s.ids.size(), false);
    s.remaining = s.ids.size();
    ps->stale.emplace(family, std::move(s));
  }
  if (ps->group) leave_group(*ps);
  forget_if_gone(peer);
}

size_t Rib::end_of_rib(PeerId peer, Family family) {
  const PeerState* ps = find_peer(peer);
  if (!ps || !ps->group) return 0;  // End-of-RIB only counts from an Established session
  const size_t n = purge_stale(peer, family);
  if (family == kIpv4RouteTarget) release_end_of_rib(peer);
  return n;
}

bool Rib::release_end_of_rib(PeerId peer) {
  PeerState* ps = find_peer(peer);
  if (!ps || !ps->group || !ps->evpn_eor_held) return false;
  send_evpn_end_of_rib(*ps);
  return true;
}

void Rib::send_evpn_end_of_rib(PeerState& ps) {
  ps.evpn_eor_held = false;
  if (hold_end_of_rib_) {
    ps.eor_deferred.push_back(kL2vpnEvpn);
    return;
  }
  flush();  // the memberships received so far let their routes through
  UpdateGroup& g = *ps.group;
  encode_pending(g);
  Chunk eor;
  eor.only = ps.info.id;
  encoder_->end_of_rib(kL2vpnEvpn, eor.bytes);
  push_chunk(g, std::move(eor));
}

void Rib::hold_end_of_rib(bool hold) {
  if (hold == hold_end_of_rib_) return;
  hold_end_of_rib_ = hold;
  if (hold) return;
  flush();
  for (auto& [id, ps] : peers_) {
    if (!ps.group || ps.eor_deferred.empty()) continue;
    UpdateGroup& g = *ps.group;
    encode_pending(g);
    for (Family f : ps.eor_deferred) {
      Chunk eor;
      eor.only = id;
      encoder_->end_of_rib(f, eor.bytes);
      push_chunk(g, std::move(eor));
    }
    ps.eor_deferred.clear();
  }
}

size_t Rib::purge_stale(PeerId peer) {
  PeerState* ps = find_peer(peer);
  if (!ps) return 0;
  size_t n = 0;
  for (auto& [family, set] : ps->stale) n += purge(*ps, family);
  ps->stale.clear();
  forget_if_gone(peer);
  return n;
}

size_t Rib::purge_stale(PeerId peer, Family family) {
  PeerState* ps = find_peer(peer);
  if (!ps) return 0;
  const size_t n = purge(*ps, family);
  ps->stale.erase(family);
  forget_if_gone(peer);
  return n;
}

// Removes the paths of `family` still stale; the caller erases the StaleSet.
size_t Rib::purge(PeerState& ps, Family family) {
  auto it = ps.stale.find(family);
  if (it == ps.stale.end() || it->second.remaining == 0) return 0;
  const StaleSet& s = it->second;
  Table& t = table(family);
  auto fc = ps.counters.families.find(family);
  FamilyCounters* c = fc == ps.counters.families.end() ? nullptr : &fc->second;
  size_t n = 0;
  for (size_t i = 0; i < s.ids.size(); ++i)
    if (!s.refreshed[i] && remove_path(t, s.ids[i], ps.info.id, c)) ++n;
  return n;
}

void Rib::forget_if_gone(PeerId peer) {
  const PeerState* ps = find_peer(peer);
  if (ps && !ps->group && ps->stale.empty()) peers_.erase(peer);
}

Rib::LongLivedStale Rib::enter_long_lived_stale(PeerId peer, Family family) {
  LongLivedStale out;
  PeerState* ps = find_peer(peer);
  if (!ps) return out;
  auto it = ps->stale.find(family);
  if (it == ps->stale.end()) return out;
  StaleSet& s = it->second;
  Table& t = table(family);
  auto fc = ps->counters.families.find(family);
  FamilyCounters* c = fc == ps->counters.families.end() ? nullptr : &fc->second;
  for (size_t i = 0; i < s.ids.size(); ++i) {
    if (s.refreshed[i]) continue;
    const RouteId id = s.ids[i];
    const Path* p = t.routes.entry(id).find(peer);
    if (!p || !p->accepted() || llgr_stale(*p->attrs)) continue;
    if (std::find(p->attrs->communities.begin(), p->attrs->communities.end(), kNoLlgr) !=
        p->attrs->communities.end()) {
      // NO_LLGR: never kept beyond the Restart Time. Out of the set first, so that the id, free
      // once the route has no path, is never taken for this peer's again.
      s.refresh(id);
      remove_path(t, id, peer, c);
      ++out.removed;
      continue;
    }
    PathAttributes a = *p->attrs;
    a.communities.push_back(kLlgrStale);
    set_path(t, id, peer, c, store_.intern(std::move(a)));
    ++out.kept;
  }
  forget_if_gone(peer);
  return out;
}

uint64_t Rib::received(PeerId peer, Family family) const {
  const PeerState* ps = find_peer(peer);
  if (!ps) return 0;
  auto it = ps->counters.families.find(family);
  return it == ps->counters.families.end() ? 0 : it->second.received;
}

size_t Rib::stale_count(PeerId peer) const {
  const PeerState* ps = find_peer(peer);
  size_t n = 0;
  if (ps)
    for (const auto& [family, set] : ps->stale) n += set.remaining;
  return n;
}

size_t Rib::stale_count(PeerId peer, Family family) const {
  const PeerState* ps = find_peer(peer);
  if (!ps) return 0;
  auto it = ps->stale.find(family);
  return it == ps->stale.end() ? 0 : it->second.remaining;
}

bool Rib::is_stale(PeerId peer, Family family, RouteId id) const {
  const PeerState* ps = find_peer(peer);
  if (!ps || ps->stale.empty()) return false;
  auto it = ps->stale.find(family);
  return it != ps->stale.end() && it->second.contains(id);
}

bool Rib::StaleSet::contains(RouteId id) const {
  auto it = std::lower_bound(ids.begin(), ids.end(), id);
  return it != ids.end() && *it == id && !refreshed[static_cast<size_t>(it - ids.begin())];
}

void Rib::StaleSet::refresh(RouteId id) {
  auto it = std::lower_bound(ids.begin(), ids.end(), id);
  if (it == ids.end() || *it != id) return;
  const auto i = static_cast<size_t>(it - ids.begin());
  if (refreshed[i]) return;
  refreshed[i] = true;
  --remaining;
}

void Rib::refresh(PeerId peer, Family family) {
  PeerState* ps = find_peer(peer);
  if (!ps || !ps->group || !ps->group->families.contains(family)) return;
  encode_pending(*ps->group);
  dump(*ps->group, family, peer);
}

// ---- Import -------------------------------------------------------------------------------------

bool Rib::import_loop(const PeerInfo& peer, const PathAttributes& attrs) const {
  // RFC 4456 §8: a route carrying our ORIGINATOR_ID, or our CLUSTER_ID in its CLUSTER_LIST, has
  // looped through reflection and is ignored.
  if (attrs.originator_id && *attrs.originator_id == config_.router_id) return true;
  if (std::find(attrs.cluster_list.begin(), attrs.cluster_list.end(), config_.cluster_id) !=
      attrs.cluster_list.end())
    return true;
  // RFC 4271 §9.1.2: a route whose AS_PATH holds our AS (from an external peer) is not used.
  if (!peer.ibgp && attrs.as_path.contains(config_.local_as)) return true;
  return false;
}

// RFC 4724 §4.2: what a restarted peer sends again (or withdraws) is no longer stale. The set
// goes once nothing in it is stale.
void Rib::unmark_stale(PeerState& ps, Family family, RouteId id) {
  auto it = ps.stale.find(family);
  if (it == ps.stale.end()) return;
  it->second.refresh(id);
  if (it->second.remaining == 0) ps.stale.erase(it);
}

AttrRef Rib::import_base(const PeerInfo& peer, const PathAttributes& attrs) {
  // Loops and RFC 8212 reject whole UPDATEs: the routes are treated as withdrawn (kept as
  // rejected entries for the counters).
  if (import_loop(peer, attrs) || (!peer.ibgp && !peer.import_policy)) return {};
  if (peer.ibgp) return store_.intern(attrs);
  // RFC 4271 §5.1.5: LOCAL_PREF from an external peer is ignored.
  scratch_attrs_ = attrs;
  scratch_attrs_.local_pref.reset();
  return store_.intern(scratch_attrs_);
}

AttrRef Rib::import_policy(const PeerInfo& peer, const PolicyRoute& route, const AttrRef& base) {
  if (!base || !peer.import_policy) return base;
  scratch_attrs_ = *base;
  if (!peer.import_policy(route, scratch_attrs_)) return {};
  return scratch_attrs_ == *base ? base : store_.intern(scratch_attrs_);
}

void Rib::update(PeerId peer, Family family, std::span<const Prefix> nlri,
                 const PathAttributes& attrs) {
  PeerState* ps = find_peer(peer);
  if (BUG(ps == nullptr || ps->group == nullptr)) return;
  FamilyCounters& c = ps->counters.families[family];
  c.updates_in += nlri.size();
  Table& t = table(family);

  // Attributes are interned once per call; a policy that cannot depend on the prefix is
  // evaluated once for the whole UPDATE.
  AttrRef base = import_base(ps->info, attrs);
  const bool once = !ps->info.import_policy_per_prefix;
  if (once && !nlri.empty()) base = import_policy(ps->info, nlri.front(), base);
  for (const Prefix& prefix : nlri) {
    const RouteId id = t.routes.insert(prefix);
    if (!ps->stale.empty()) unmark_stale(*ps, family, id);
    set_path(t, id, peer, &c, once ? base : import_policy(ps->info, prefix, base));
  }
}

void Rib::withdraw(PeerId peer, Family family, std::span<const Prefix> withdrawn) {
  PeerState* ps = find_peer(peer);
  if (BUG(ps == nullptr || ps->group == nullptr)) return;
  FamilyCounters& c = ps->counters.families[family];
  c.withdraws_in += withdrawn.size();
  Table& t = table(family);
  for (const Prefix& prefix : withdrawn) {
    const RouteId id = t.routes.find(prefix);
    if (id == kNoRoute) continue;
    if (!ps->stale.empty()) unmark_stale(*ps, family, id);
    remove_path(t, id, peer, &c);
  }
}

void Rib::update_evpn(PeerId peer, std::span<const EvpnRoute> routes, const PathAttributes& attrs) {
  PeerState* ps = find_peer(peer);
  if (BUG(ps == nullptr || ps->group == nullptr)) return;
  FamilyCounters& c = ps->counters.families[kL2vpnEvpn];
  c.updates_in += routes.size();
  Table& t = table(kL2vpnEvpn);

  // One interned set per distinct non-key data (label, ESI, gateway): consecutive routes of an
  // UPDATE mostly share it. The policy runs once per such set, or per route when it looks at the
  // route (EVPN route type, VNI).
  const AttrRef base = import_base(ps->info, attrs);
  const bool per_route = ps->info.import_policy && ps->info.import_policy_per_prefix;
  std::optional<EvpnNlriData> last_data;
  AttrRef last;
  for (const EvpnRoute& route : routes) {
    const auto key = evpn_key(route);
    if (!key) continue;  // RFC 7606 §5.4: an unknown route type is discarded
    EvpnNlriData data = evpn_nlri_data(route);
    if (!last_data || *last_data != data || per_route) {
      last = AttrRef{};
      if (base) {
        scratch_attrs_ = *base;
        scratch_attrs_.evpn_nlri = data;
        last = import_policy(ps->info, {Prefix(), &route}, store_.intern(scratch_attrs_));
      }
      last_data = std::move(data);
    }
    const RouteId id = t.routes.insert(key->bytes());
    if (!ps->stale.empty()) unmark_stale(*ps, kL2vpnEvpn, id);
    set_path(t, id, peer, &c, last);
  }
}

void Rib::withdraw_evpn(PeerId peer, std::span<const EvpnRoute> routes) {
  PeerState* ps = find_peer(peer);
  if (BUG(ps == nullptr || ps->group == nullptr)) return;
  FamilyCounters& c = ps->counters.families[kL2vpnEvpn];
  c.withdraws_in += routes.size();
  Table& t = table(kL2vpnEvpn);
  for (const EvpnRoute& route : routes) {
    const auto key = evpn_key(route);
    const RouteId id = key ? t.routes.find(key->bytes()) : kNoRoute;
    if (id == kNoRoute) continue;
    if (!ps->stale.empty()) unmark_stale(*ps, kL2vpnEvpn, id);
    remove_path(t, id, peer, &c);
  }
}

void Rib::update_rtc(PeerId peer, std::span<const RtMembership> routes,
                     const PathAttributes& attrs) {
  PeerState* ps = find_peer(peer);
  if (BUG(ps == nullptr || ps->group == nullptr)) return;
  FamilyCounters& c = ps->counters.families[kIpv4RouteTarget];
  c.updates_in += routes.size();
  Table& t = table(kIpv4RouteTarget);
  const AttrRef a = import_policy(ps->info, Prefix(), import_base(ps->info, attrs));
  for (const RtMembership& m : routes) {
    const RouteId id = t.routes.insert(rtc_key(m));
    if (!ps->stale.empty()) unmark_stale(*ps, kIpv4RouteTarget, id);
    set_path(t, id, peer, &c, a);
  }
}

void Rib::withdraw_rtc(PeerId peer, std::span<const RtMembership> routes) {
  PeerState* ps = find_peer(peer);
  if (BUG(ps == nullptr || ps->group == nullptr)) return;
  FamilyCounters& c = ps->counters.families[kIpv4RouteTarget];
  c.withdraws_in += routes.size();
  Table& t = table(kIpv4RouteTarget);
  for (const RtMembership& m : routes) {
    const RouteId id = t.routes.find(rtc_key(m));
    if (id == kNoRoute) continue;
    if (!ps->stale.empty()) unmark_stale(*ps, kIpv4RouteTarget, id);
    remove_path(t, id, peer, &c);
  }
}

void Rib::apply(PeerId peer, const Update& u) {
  if (!u.withdrawn.empty()) withdraw(peer, kIpv4Unicast, u.withdrawn);
  if (u.mp_unreach && !u.mp_unreach->withdrawn.empty())
    withdraw(peer, u.mp_unreach->family, u.mp_unreach->withdrawn);
  if (u.mp_unreach && !u.mp_unreach->evpn.empty()) withdraw_evpn(peer, u.mp_unreach->evpn);
  if (u.mp_unreach && !u.mp_unreach->rtc.empty()) withdraw_rtc(peer, u.mp_unreach->rtc);
  if (!u.attrs) return;  // RFC 4271 §4.3: no attributes, no NLRI to announce
  if (!u.nlri.empty()) update(peer, kIpv4Unicast, u.nlri, *u.attrs);
  if (u.mp_reach && !u.mp_reach->nlri.empty())
    update(peer, u.mp_reach->family, u.mp_reach->nlri, *u.attrs);
  if (u.mp_reach && !u.mp_reach->evpn.empty()) update_evpn(peer, u.mp_reach->evpn, *u.attrs);
  if (u.mp_reach && !u.mp_reach->rtc.empty()) update_rtc(peer, u.mp_reach->rtc, *u.attrs);
}

void Rib::originate(Family family, const Prefix& prefix, const PathAttributes& attrs) {
  Table& t = table(family);
  set_path(t, t.routes.insert(prefix), kLocalPeer, nullptr, store_.intern(attrs));
}

void Rib::withdraw_originated(Family family, const Prefix& prefix) {
  remove_path(table(family), prefix, kLocalPeer, nullptr);
}

void Rib::import(Family family, const Prefix& prefix, const PathAttributes& attrs) {
  Table& t = table(family);
  set_path(t, t.routes.insert(prefix), kImportedPeer, nullptr, store_.intern(attrs));
}

void Rib::withdraw_imported(Family family, const Prefix& prefix) {
  remove_path(table(family), prefix, kImportedPeer, nullptr);
}

void Rib::originate_evpn(const EvpnRoute& route, const PathAttributes& attrs) {
  const auto key = evpn_key(route);
  if (BUG(!key)) return;
  Table& t = table(kL2vpnEvpn);
  scratch_attrs_ = attrs;
  scratch_attrs_.evpn_nlri = evpn_nlri_data(route);
  set_path(t, t.routes.insert(key->bytes()), kLocalPeer, nullptr, store_.intern(scratch_attrs_));
}

void Rib::withdraw_originated_evpn(const EvpnRoute& route) {
  const auto key = evpn_key(route);
  if (!key) return;
  Table& t = table(kL2vpnEvpn);
  const RouteId id = t.routes.find(key->bytes());
  if (id != kNoRoute) remove_path(t, id, kLocalPeer, nullptr);
}

void Rib::originate_rtc(const RtMembership& route, const PathAttributes& attrs) {
  Table& t = table(kIpv4RouteTarget);
  set_path(t, t.routes.insert(rtc_key(route)), kLocalPeer, nullptr, store_.intern(attrs));
}

void Rib::withdraw_originated_rtc(const RtMembership& route) {
  Table& t = table(kIpv4RouteTarget);
  const RouteId id = t.routes.find(rtc_key(route));
  if (id != kNoRoute) remove_path(t, id, kLocalPeer, nullptr);
}

void Rib::rt_membership_changed(const Table& t, RouteId id, PeerId peer, bool added) {
  PeerState* ps = find_peer(peer);
  if (BUG(ps == nullptr)) return;
  auto m = rtc_from_key(t.routes.key_bytes(id));
  if (BUG(!m)) return;
  if (added)
    ps->rt_filter.add(*m);
  else
    ps->rt_filter.remove(*m);
  if (ps->rt_constrained && !ps->rt_filter_changed) {
    ps->rt_filter_changed = true;
    rt_changed_.push_back(peer);
  }
}

void Rib::refilter() {
  const auto it = tables_.find(kL2vpnEvpn);
  for (PeerId peer : rt_changed_) {
    PeerState* ps = find_peer(peer);
    if (!ps) continue;
    ps->rt_filter_changed = false;
    if (!ps->group || it == tables_.end()) continue;
    auto gf = ps->group->families.find(kL2vpnEvpn);
    if (gf == ps->group->families.end()) continue;
    // Every route it has or may now get is exported again; the filter decides.
    const RouteTable& routes = it->second.routes;
    routes.for_each([&](RouteId id) {
      const AttrRef* out = gf->second.find_out(id);
      if (routes.entry(id).best() || (out && *out)) gf->second.mark(id);
    });
  }
  rt_changed_.clear();
}

void Rib::note_change(Table& t, RouteId id) {
  RouteEntry& e = t.routes.entry(id);
  if (e.changed()) return;
  const Path* best = e.best();
  t.changed.push_back(
      Change{id, best ? best->peer : kLocalPeer, best ? best->attrs : AttrRef{}, best != nullptr});
  e.set_changed(true);
}

void Rib::set_path(Table& t, RouteId id, PeerId peer, FamilyCounters* c, AttrRef attrs) {
  RouteEntry& e = t.routes.entry(id);
  Path* p = e.find(peer);
  if (p && p->attrs == attrs) {
    // The same route again: nothing changes. A fresh entry is never in this case (no path).
    return;
  }
  note_change(t, id);
  bool was_accepted = false;
  if (!p) {
    p = &e.add(peer);
    if (c) ++c->received;
  } else {
    was_accepted = p->accepted();
    if (was_accepted && c) --c->accepted;
  }
  const bool accepted = static_cast<bool>(attrs);
  if (accepted && c) ++c->accepted;
  p->attrs = std::move(attrs);
  if (t.family == kIpv4RouteTarget && peer != kLocalPeer && peer != kImportedPeer &&
      accepted != was_accepted)
    rt_membership_changed(t, id, peer, accepted);
}

bool Rib::remove_path(Table& t, const Prefix& prefix, PeerId peer, FamilyCounters* c) {
  const RouteId id = t.routes.find(prefix);
  return id != kNoRoute && remove_path(t, id, peer, c);
}

bool Rib::remove_path(Table& t, RouteId id, PeerId peer, FamilyCounters* c) {
  RouteEntry& e = t.routes.entry(id);
  const Path* p = e.find(peer);
  if (!p) return false;
  note_change(t, id);
  const bool was_accepted = p->accepted();
  if (c) {
    --c->received;
    if (was_accepted) --c->accepted;
  }
  e.remove(peer);
  if (t.family == kIpv4RouteTarget && peer != kLocalPeer && peer != kImportedPeer && was_accepted)
    rt_membership_changed(t, id, peer, false);
  return true;
}

// ---- Decision -----------------------------------------------------------------------------------

// RFC 4724 §4.2: "The router MUST NOT differentiate between stale and other routing information
// during forwarding." A stale path is therefore a candidate like any other: it is not
// deprioritised, not even as a last tie-breaker (that would move traffic away from a peer whose
// forwarding state is preserved, and back again after its End-of-RIB).
Candidate Rib::candidate(const Path& p) const {
  Candidate c;
  c.attrs = p.attrs.get();
  c.peer = p.peer;
  if (p.peer == kLocalPeer || p.peer == kImportedPeer) {
    c.router_id = config_.router_id;
    return c;
  }
  const PeerState* ps = find_peer(p.peer);
  if (BUG(ps == nullptr)) return c;
  c.ebgp = !ps->info.ibgp;
  c.router_id = ps->info.router_id;
  c.peer_address = ps->info.address;
  return c;
}

void Rib::decide(Family family, Table& t) {
  for (Change& change : t.changed) {
    RouteEntry& e = t.routes.entry(change.id);
    e.set_changed(false);

    // RFC 4271 §9.1.2: the best of the accepted paths.
    scratch_candidates_.clear();
    std::vector<uint16_t>& index = scratch_index_;  // candidate -> path
    index.clear();
    auto paths = e.paths();
    for (size_t i = 0; i < paths.size(); ++i) {
      if (!paths[i].accepted()) continue;
      scratch_candidates_.push_back(candidate(paths[i]));
      index.push_back(static_cast<uint16_t>(i));
    }
    const size_t b = select_best(scratch_candidates_, config_.local_as);
    e.set_best(b < index.size() ? index[b] : RouteEntry::kNoBest);

    const Path* best = e.best();
    const bool changed =
        (best != nullptr) != change.had_best ||
        (best && (best->peer != change.old_peer || best->attrs != change.old_attrs));
    if (changed) {
      if (t.routes.kind() != KeyKind::Bytes) {
        if (config_.best_changed) config_.best_changed(family, t.routes.prefix(change.id), best);
      } else if (family == kL2vpnEvpn && config_.best_evpn_changed) {
        config_.best_evpn_changed(t.routes.key_bytes(change.id), best);
      }
      for (GroupFamily* gf : t.groups) gf->mark(change.id);
    }
    if (e.empty()) release_if_unused(t, change.id);
  }
  t.changed.clear();
  // A full-table load leaves a large list behind; do not keep it for the quiet times after.
  if (t.changed.capacity() > 4096) t.changed.shrink_to_fit();
}

void Rib::release_if_unused(Table& t, RouteId id) {
  const RouteEntry& e = t.routes.entry(id);
  if (!e.empty() || e.changed()) return;
  for (const GroupFamily* gf : t.groups) {
    if (gf->is_pending(id)) return;
    const AttrRef* out = gf->find_out(id);
    if (out && *out) return;
  }
  t.routes.erase(id);
}

void Rib::flush() {
  for (auto& [family, t] : tables_) decide(family, t);
  if (!rt_changed_.empty()) refilter();
}

}  // namespace isthmus::bgp
