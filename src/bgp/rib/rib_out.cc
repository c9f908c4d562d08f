// Rib output: update groups, export (RFC 4271 §9.1.3, RFC 4456 §6, RFC 8212), encoding once per
// group, and the pull of encoded chunks by each member. See update_group.h for the design.
#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>

#include "bgp/rib/rib.h"
#include "bgp/wire/nlri.h"
#include "core/bug.h"
#include "core/log.h"

namespace isthmus::bgp {

// ---- Groups -------------------------------------------------------------------------------------

GroupKey group_key(const PeerInfo& peer) {
  GroupKey k;
  k.ibgp = peer.ibgp;
  k.rr_client = peer.ibgp && peer.rr_client;
  k.next_hop_self = peer.next_hop_self;
  k.remote_as = peer.ibgp ? 0 : peer.remote_as;
  k.local_address = peer.local_address;
  k.local_address_v4 = peer.local_address_v4;
  k.local_address_v6 = peer.local_address_v6;
  k.local_link_local = peer.local_link_local;
  k.has_export_policy = static_cast<bool>(peer.export_policy);
  k.export_policy_id = peer.export_policy ? peer.export_policy_id : std::string();
  if (peer.export_policy && peer.export_policy_id.empty()) k.unshared = peer.id;
  k.four_octet_as = peer.four_octet_as;
  k.extended_message = peer.extended_message;
  k.long_lived_graceful_restart = peer.long_lived_graceful_restart;
  k.families = peer.families;
  std::sort(k.families.begin(), k.families.end());
  k.families.erase(std::unique(k.families.begin(), k.families.end()), k.families.end());
  // RFC 4684: the peer's own route targets filter its EVPN routes; no one else shares them.
  auto has = [&](Family f) { return std::binary_search(k.families.begin(), k.families.end(), f); };
  if (has(kIpv4RouteTarget) && has(kL2vpnEvpn)) {
    k.rt_constrained = true;
    k.unshared = peer.id;
  }
  return k;
}

bool Rib::in_group(const UpdateGroup& g, PeerId peer) const {
  const PeerState* ps = peer == kLocalPeer ? nullptr : find_peer(peer);
  return ps && ps->group == &g;
}

bool UpdateGroup::has_pending() const {
  return std::any_of(families.begin(), families.end(),
                     [](const auto& f) { return !f.second.pending.empty(); });
}

UpdateGroup& Rib::join_group(const PeerInfo& peer, bool& created) {
  GroupKey key = group_key(peer);
  for (auto& g : groups_) {
    if (g->key == key) {
      created = false;
      return *g;
    }
  }
  auto g = std::make_unique<UpdateGroup>();
  g->id = next_group_id_++;
  g->proto = peer;
  g->target = ExportTarget{.ibgp = peer.ibgp,
                           .rr_client = key.rr_client,
                           .next_hop_self = peer.next_hop_self,
                           .remote_as = key.remote_as,
                           .local_address = peer.local_address,
                           .local_address_v4 = peer.local_address_v4,
                           .local_address_v6 = peer.local_address_v6,
                           .local_link_local = peer.local_link_local,
                           .local_as = config_.local_as,
                           .cluster_id = config_.cluster_id,
                           .router_id = config_.router_id};
  g->codec =
      CodecOptions{.four_octet_as = peer.four_octet_as, .extended_message = peer.extended_message};
  for (Family f : key.families) table(f).groups.push_back(&g->families[f]);
  g->key = std::move(key);
  created = true;
  groups_.push_back(std::move(g));
  return *groups_.back();
}

void Rib::leave_group(PeerState& ps) {
  UpdateGroup* g = ps.group;
  ps.group = nullptr;
  ps.eor_deferred.clear();
  if (BUG(g == nullptr)) return;
  std::erase(g->members, ps.info.id);
  for (auto& [family, gf] : g->families) gf.excluded_count.erase(ps.info.id);
  if (!g->members.empty()) {
    trim(*g);
    return;
  }
  log::debug("bgp rib: update group {} is empty, removed", g->id);
  remove_group(*g);
}

void Rib::remove_group(UpdateGroup& g) {
  for (auto& [family, gf] : g.families) {
    Table& t = table(family);
    std::erase(t.groups, &gf);
    // Routes without paths that only this group still held (pending withdrawals) go now.
    for (RouteId id : gf.pending) release_if_unused(t, id);
  }
  if (g.split) --split_groups_;
  std::erase_if(groups_, [&g](const auto& p) { return p.get() == &g; });
}

void Rib::split_out(UpdateGroup& g, PeerState& ps) {
  const PeerId peer = ps.info.id;
  const uint64_t behind = lag(g, ps);
  auto owned = std::make_unique<UpdateGroup>();
  UpdateGroup& n = *owned;
  n.id = next_group_id_++;
  n.key = g.key;
  n.key.unshared = peer;  // no one joins it
  n.split = true;
  n.proto = ps.info;
  n.target = g.target;
  n.codec = g.codec;
  n.members = {peer};
  // The group's Adj-RIB-Out and pending routes: what the member has once it has read what is
  // queued, and what is still to be exported.
  for (auto& [family, gf] : g.families) {
    GroupFamily& nf = n.families[family];
    nf.out = gf.out.copy();
    nf.excluded = gf.excluded.copy();
    nf.advertised = gf.advertised;
    nf.pending = gf.pending;
    nf.pending_bits = gf.pending_bits;
    nf.too_large = gf.too_large.copy();
    nf.too_large_count = gf.too_large_count;
    if (auto it = gf.excluded_count.find(peer); it != gf.excluded_count.end())
      nf.excluded_count[peer] = it->second;
    gf.excluded_count.erase(peer);
    table(family).groups.push_back(&nf);
  }
  // What it has not read: its own chunks move, the shared ones are copied. The chunk filters
  // name peers, so they mean the same in the new group.
  Cursor cursor;
  for (uint64_t seq = ps.cursor.seq; seq < g.end_seq(); ++seq) {
    Chunk& c = g.queue[seq - g.base_seq];
    if (!c.for_peer(peer)) continue;
    if (n.queue.empty() && seq == ps.cursor.seq) cursor.offset = ps.cursor.offset;
    Chunk mine;
    mine.start = n.queued;
    mine.only = c.only;
    mine.except = c.except;
    if (c.only == peer) {
      mine.bytes.swap(c.bytes);
    } else {
      mine.bytes = c.bytes;
    }
    n.queued += mine.bytes.size();
    n.queue.push_back(std::move(mine));
  }
  std::erase(g.members, peer);
  ps.group = &n;
  ps.cursor = cursor;
  ps.counters.update_group = n.id;
  ++ps.counters.times_split;
  ++split_groups_;
  ++members_split_;
  log::info(
      "bgp rib: neighbor {} lags {} octets behind update group {} (limit {}): split out into "
      "group {} until it has caught up",
      ps.info.address.to_string(), behind, g.id, config_.max_member_lag, n.id);
  groups_.push_back(std::move(owned));
}

void Rib::merge_caught_up() {
  if (split_groups_ == 0) return;
  for (size_t i = 0; i < groups_.size();) {
    UpdateGroup& s = *groups_[i];
    PeerState* ps = s.split && s.members.size() == 1 ? find_peer(s.members.front()) : nullptr;
    if (ps && ps->cursor.seq == s.end_seq() && !s.has_pending() && merge(s, *ps)) continue;
    ++i;
  }
}

bool Rib::merge(UpdateGroup& s, PeerState& ps) {
  const PeerId peer = ps.info.id;
  GroupKey key = s.key;
  key.unshared = kLocalPeer;
  UpdateGroup* m = nullptr;
  for (auto& g : groups_)
    if (g.get() != &s && g->key == key) m = g.get();
  if (!m) {
    // The group it left is gone (its other members left): it is the group now.
    s.key = std::move(key);
    s.split = false;
    --split_groups_;
    log::info("bgp rib: neighbor {} caught up; its update group {} is open to others again",
              ps.info.address.to_string(), s.id);
    return false;
  }
  // Both have exported every change with the same key, so their Adj-RIBs-Out are the same, but
  // for split horizon: to `m` the member's own routes went to everyone, as it was not in it.
  if (m->has_pending()) return false;
  for (auto& [family, mf] : m->families) {
    const GroupFamily& sf = s.families.at(family);
    const RouteId end = std::max(mf.out.capacity(), sf.out.capacity());
    for (RouteId id = 0; id < end; ++id) {
      const AttrRef* a = sf.find_out(id);
      const AttrRef* b = mf.find_out(id);
      const bool has_a = a && *a, has_b = b && *b;
      if (has_a != has_b || (has_a && *a != *b)) return false;
      if (!has_a) continue;
      const PeerId excluded = mf.excluded.get(id);
      if (sf.excluded.get(id) == peer && excluded != peer && in_group(*m, excluded)) return false;
    }
  }
  for (auto& [family, mf] : m->families) {
    const GroupFamily& sf = s.families.at(family);
    size_t own = 0;
    for (RouteId id = 0; id < mf.out.capacity(); ++id) {
      if (!mf.out[id]) continue;
      if (sf.excluded.get(id) == peer) {
        mf.excluded.set(id, peer);
        ++own;
      } else if (mf.excluded.get(id) == peer) {
        mf.excluded.set(id, kLocalPeer);
      }
    }
    if (own > 0) mf.excluded_count[peer] = own;
  }
  m->members.push_back(peer);
  ps.group = m;
  ps.cursor = Cursor{m->end_seq(), 0};
  ps.counters.update_group = m->id;
  ++members_merged_;
  log::info("bgp rib: neighbor {} caught up: back from update group {} in group {}",
            ps.info.address.to_string(), s.id, m->id);
  s.members.clear();
  remove_group(s);
  return true;
}

void Rib::exclude_own_routes(UpdateGroup& g, PeerId peer) {
  for (auto& [family, gf] : g.families) {
    const RouteTable& routes = table(family).routes;
    size_t excluded = 0;
    const RouteId end = std::min(gf.out.capacity(), routes.end());
    for (RouteId id = 0; id < end; ++id) {
      if (!gf.out[id]) continue;
      const Path* best = routes.entry(id).best();
      if (best && best->peer == peer) gf.excluded.set(id, peer);
      if (gf.excluded.get(id) == peer) ++excluded;
    }
    if (excluded > 0) gf.excluded_count[peer] = excluded;
  }
}

// ---- Export -------------------------------------------------------------------------------------

AttrRef Rib::export_route(UpdateGroup& g, Family family, const PolicyRoute& route,
                          const Path& best) {
  // RFC 9494: long-lived stale routes go only to neighbors that sent the LLGR capability; the
  // others get a withdrawal (stale is the least preferred, so there is no other path to send).
  if (!g.key.long_lived_graceful_restart && llgr_stale(*best.attrs)) return {};
  if (family == kL2vpnEvpn && g.key.rt_constrained) {
    // RFC 4684 §3: only the routes with a route target the peer imports.
    const PeerState* ps = find_peer(g.key.unshared);
    if (!ps || !ps->rt_filter.allows(best.attrs->ext_communities)) return {};
  }
  ExportSource from;
  from.peer = best.peer;
  from.router_id = config_.router_id;
  if (best.peer != kLocalPeer && best.peer != kImportedPeer) {
    const PeerState* ps = find_peer(best.peer);
    if (BUG(ps == nullptr)) return {};
    from.ibgp = ps->info.ibgp;
    from.rr_client = ps->info.rr_client;
    from.router_id = ps->info.router_id;
  }
  ++g.export_runs;
  scratch_attrs_ = *best.attrs;
  if (!export_rewrite(from, g.target, family, scratch_attrs_)) return {};
  // RFC 8212: without an export policy, nothing goes to an external peer.
  if (!g.proto.export_policy) {
    if (!g.target.ibgp) return {};
  } else if (!g.proto.export_policy(route, scratch_attrs_) ||
             !resolve_self_next_hop(g.target, family, scratch_attrs_)) {
    return {};
  }
  return store_.intern(scratch_attrs_);
}

// ---- Size ---------------------------------------------------------------------------------------

bool Rib::fits(const UpdateGroup& g, const Table& t, RouteId id, const AttrRef& attrs,
               std::unordered_map<const void*, size_t>& room) const {
  auto [it, fresh] = room.try_emplace(attrs.id(), 0);
  if (fresh) it->second = reach_room(*attrs, t.family, g.codec);
  const size_t left = it->second;
  constexpr size_t kLongestNlri = 257;    // an EVPN route: type, length, 255 octets
  if (left >= kLongestNlri) return true;  // every route fits: the common case, nothing to build
  if (t.routes.kind() != KeyKind::Bytes) return prefix_wire_size(t.routes.prefix(id)) <= left;
  if (t.family == kIpv4RouteTarget) {
    auto m = rtc_from_key(t.routes.key_bytes(id));
    return m && rtc_nlri_wire_size(*m) <= left;
  }
  auto r = evpn_route(t.routes.key_bytes(id), attrs->evpn_nlri.value_or(EvpnNlriData{}));
  return r && evpn_nlri_wire_size(*r) <= left;
}

void Rib::note_too_large(const UpdateGroup& g, Family family, const Table& t, RouteId id) {
  const std::string route =
      t.routes.kind() != KeyKind::Bytes ? t.routes.prefix(id).to_string() : "a route";
  for (PeerId m : g.members)
    if (PeerState* ps = find_peer(m)) count_too_large(*ps, 1, family, route);
}

void Rib::count_too_large(PeerState& ps, uint64_t n, Family family, const std::string& route) {
  if (n == 0) return;
  const bool first = ps.counters.routes_too_large == 0;
  ps.counters.routes_too_large += n;
  if (!first) return;
  log::warn(
      "bgp rib: neighbor {}: {} {} not sent: its attributes do not fit a {}-octet UPDATE (the "
      "session has no extended messages, RFC 8654); such routes are withdrawn from the "
      "neighbor, and only counted from now on (show bgp neighbor)",
      ps.info.address.to_string(), family.name(), route,
      CodecOptions{.four_octet_as = ps.info.four_octet_as,
                   .extended_message = ps.info.extended_message}
          .max_message_size());
}

// ---- Encoding -----------------------------------------------------------------------------------

namespace {

// The UPDATE contents for one chunk filter: withdrawn routes, and routes per attribute set in
// first-seen order (so that output is deterministic). Routes are RouteIds of the family's table,
// turned into NLRI only when encoded.
struct Batch {
  std::vector<RouteId> withdrawn;
  std::vector<std::pair<AttrRef, std::vector<RouteId>>> reach;
  std::unordered_map<const void*, size_t> reach_index;
  size_t last = 0;  // reach[last] took the previous route: consecutive routes mostly share it

  void add_reach(const AttrRef& attrs, RouteId id) {
    if (reach.empty() || reach[last].first != attrs) {
      auto [it, fresh] = reach_index.try_emplace(attrs.id(), reach.size());
      if (fresh) reach.emplace_back(attrs, std::vector<RouteId>{});
      last = it->second;
    }
    reach[last].second.push_back(id);
  }
};

// Keyed by (only, except). Node-based: a Batch& stays valid while others are added.
using Batches = std::map<std::pair<PeerId, PeerId>, Batch>;

void encode_batches(UpdateEncoder& enc, UpdateGroup& g, Family family, const RouteTable& routes,
                    Batches& batches, std::vector<Chunk>& out) {
  const bool evpn = family == kL2vpnEvpn;
  const bool rtc = family == kIpv4RouteTarget;
  std::vector<Prefix> nlri;
  auto prefixes = [&](const std::vector<RouteId>& ids) -> std::span<const Prefix> {
    nlri.clear();
    for (RouteId id : ids) nlri.push_back(routes.prefix(id));
    return nlri;
  };
  // EVPN: the route from its key and the path's other NLRI fields (labels are not looked at in
  // a withdrawal, RFC 7432 §7: zero).
  std::vector<EvpnRoute> evpn_nlri;
  auto evpn_routes = [&](const std::vector<RouteId>& ids,
                         const EvpnNlriData& data) -> std::span<const EvpnRoute> {
    evpn_nlri.clear();
    for (RouteId id : ids) {
      auto r = evpn_route(routes.key_bytes(id), data);
      if (!BUG(!r)) evpn_nlri.push_back(std::move(*r));
    }
    return evpn_nlri;
  };
  std::vector<RtMembership> rtc_nlri;
  auto rtc_routes = [&](const std::vector<RouteId>& ids) -> std::span<const RtMembership> {
    rtc_nlri.clear();
    for (RouteId id : ids) {
      auto m = rtc_from_key(routes.key_bytes(id));
      if (!BUG(!m)) rtc_nlri.push_back(*m);
    }
    return rtc_nlri;
  };
  for (auto& [filter, b] : batches) {
    Chunk c;
    c.only = filter.first;
    c.except = filter.second;
    if (!b.withdrawn.empty()) {
      g.messages_encoded += evpn ? enc.withdraw_evpn(evpn_routes(b.withdrawn, {}), g.codec, c.bytes)
                            : rtc ? enc.withdraw_rtc(rtc_routes(b.withdrawn), g.codec, c.bytes)
                                  : enc.withdraw(family, prefixes(b.withdrawn), g.codec, c.bytes);
    }
    for (const auto& [attrs, ids] : b.reach) {
      g.messages_encoded +=
          evpn ? enc.reach_evpn(*attrs, evpn_routes(ids, attrs->evpn_nlri.value_or(EvpnNlriData{})),
                                g.codec, c.bytes)
          : rtc ? enc.reach_rtc(*attrs, rtc_routes(ids), g.codec, c.bytes)
                : enc.reach(*attrs, family, prefixes(ids), g.codec, c.bytes);
    }
    out.push_back(std::move(c));
  }
}

// Export results of one encode_pending() run by (best path attributes, source peer). Export
// depends on the prefix only through a per-prefix policy; without one the result is reused.
class ExportMemo {
 public:
  const AttrRef* find(const void* attrs, PeerId peer) {
    if (last_ && attrs == last_attrs_ && peer == last_peer_) return last_;
    auto it = map_.find({attrs, peer});
    if (it == map_.end()) return nullptr;
    remember(attrs, peer, &it->second);
    return last_;
  }
  void add(const void* attrs, PeerId peer, AttrRef result) {
    auto [it, fresh] = map_.emplace(std::make_pair(attrs, peer), std::move(result));
    remember(attrs, peer, &it->second);
  }

 private:
  void remember(const void* attrs, PeerId peer, const AttrRef* r) {
    last_attrs_ = attrs;
    last_peer_ = peer;
    last_ = r;
  }
  std::map<std::pair<const void*, PeerId>, AttrRef> map_;
  const void* last_attrs_ = nullptr;
  PeerId last_peer_ = kLocalPeer;
  const AttrRef* last_ = nullptr;
};

}  // namespace

void Rib::push_chunk(UpdateGroup& g, Chunk chunk) {
  if (chunk.bytes.empty()) return;
  g.bytes_encoded += chunk.bytes.size();
  ++g.chunks_encoded;
  chunk.start = g.queued;
  g.queued += chunk.bytes.size();
  g.queue.push_back(std::move(chunk));
}

void Rib::encode_pending(UpdateGroup& g) {
  for (auto& [family, gf] : g.families) {
    if (gf.pending.empty()) continue;
    Table& t = table(family);
    Batches batches;
    Batch& to_all = batches[{kLocalPeer, kLocalPeer}];
    auto batch = [&](PeerId only, PeerId except) -> Batch& {
      return only == kLocalPeer && except == kLocalPeer ? to_all : batches[{only, except}];
    };
    ExportMemo memo;
    const bool memoize = !g.proto.export_policy || !g.proto.export_policy_per_prefix;
    // RFC 4684 §3.2: a client's own membership goes back to it (as ours, see export_rewrite), so
    // that it sends us the routes other clients of the same route target need.
    const bool horizon = !(family == kIpv4RouteTarget && g.target.rr_client);
    std::vector<RouteId> gone;  // routes without paths: released once their withdrawal is encoded
    std::unordered_map<const void*, size_t> room;  // fits()

    for (RouteId id : gf.pending) {
      gf.unmark(id);
      const RouteEntry& e = t.routes.entry(id);
      const Path* best = e.best();
      AttrRef na;  // new attributes for the group
      if (best) {
        const AttrRef* m = memoize ? memo.find(best->attrs.id(), best->peer) : nullptr;
        if (m) {
          na = *m;
        } else {
          const bool ip = t.routes.kind() != KeyKind::Bytes;
          // EVPN: the policy sees the route rebuilt from its key and the path's other fields.
          std::optional<EvpnRoute> evpn;
          if (family == kL2vpnEvpn && g.proto.export_policy)
            evpn =
                evpn_route(t.routes.key_bytes(id), best->attrs->evpn_nlri.value_or(EvpnNlriData{}));
          na = export_route(g, family,
                            {ip ? t.routes.prefix(id) : Prefix(), evpn ? &*evpn : nullptr}, *best);
          if (memoize) memo.add(best->attrs.id(), best->peer, na);
        }
        // RFC 8654 §4, RFC 7606: a route that cannot be encoded for these sessions goes as a
        // withdrawal, so that no member keeps an older version of it.
        if (na && !fits(g, t, id, na, room)) {
          note_too_large(g, family, t, id);
          na = AttrRef{};
          if (!gf.too_large.get(id)) {
            gf.too_large.set(id, true);
            ++gf.too_large_count;
          }
        } else if (gf.too_large.get(id)) {
          gf.too_large.set(id, false);
          --gf.too_large_count;
        }
      } else if (gf.too_large.get(id)) {
        gf.too_large.set(id, false);
        --gf.too_large_count;
      }
      // Split horizon: the member the route came from does not get it.
      const PeerId ne = na && horizon && in_group(g, best->peer) ? best->peer : kLocalPeer;

      const AttrRef* out = gf.find_out(id);
      const AttrRef oa = out ? *out : AttrRef{};
      PeerId oe = oa ? gf.excluded.get(id) : kLocalPeer;
      if (!in_group(g, oe)) oe = kLocalPeer;

      if (na != oa) {
        // Everyone but the new source gets the change; the old source had nothing.
        if (na)
          batch(kLocalPeer, ne).add_reach(na, id);
        else
          batch(kLocalPeer, oe).withdrawn.push_back(id);
        // The new source had the old route: take it back.
        if (na && ne != kLocalPeer && ne != oe && oa) batch(ne, kLocalPeer).withdrawn.push_back(id);
      } else if (na && ne != oe) {
        // Same route, other source: the old source now gets it, the new one loses it.
        if (oe != kLocalPeer) batch(oe, kLocalPeer).add_reach(na, id);
        if (ne != kLocalPeer) batch(ne, kLocalPeer).withdrawn.push_back(id);
      }

      if (oa && oe != kLocalPeer) --gf.excluded_count[oe];
      if (na && ne != kLocalPeer) ++gf.excluded_count[ne];
      if (na || oa) gf.excluded.set(id, ne);
      if (na) {
        gf.out.ensure(id);
        if (!oa) ++gf.advertised;
        gf.out[id] = std::move(na);
      } else if (oa) {
        gf.out[id] = AttrRef{};
        --gf.advertised;
      }
      if (e.empty()) gone.push_back(id);
    }
    gf.pending.clear();
    // A full-table load leaves a large list behind; do not keep it for the quiet times after.
    if (gf.pending.capacity() > 4096) gf.pending.shrink_to_fit();

    std::vector<Chunk> chunks;
    encode_batches(*encoder_, g, family, t.routes, batches, chunks);
    for (auto& c : chunks) push_chunk(g, std::move(c));
    for (RouteId id : gone) release_if_unused(t, id);
  }
}

void Rib::dump(UpdateGroup& g, Family family, PeerId peer) {
  auto it = g.families.find(family);
  if (it == g.families.end()) return;
  const GroupFamily& gf = it->second;
  const RouteTable& routes = table(family).routes;
  Batches batches;
  Batch& b = batches[{peer, kLocalPeer}];
  const RouteId end = std::min(gf.out.capacity(), routes.end());
  for (RouteId id = 0; id < end; ++id)
    if (gf.out[id] && gf.excluded.get(id) != peer) b.add_reach(gf.out[id], id);
  for (auto& [attrs, ids] : b.reach)
    std::sort(ids.begin(), ids.end(), [&](RouteId x, RouteId y) { return routes.less(x, y); });
  std::vector<Chunk> chunks;
  encode_batches(*encoder_, g, family, routes, batches, chunks);
  for (auto& c : chunks) push_chunk(g, std::move(c));
}

// ---- Output -------------------------------------------------------------------------------------

namespace {

// The length field of the BGP header at `offset` (RFC 4271 §4.1).
size_t message_length(const std::vector<uint8_t>& bytes, size_t offset) {
  if (offset + kHeaderSize > bytes.size()) return 0;
  return size_t{bytes[offset + 16]} << 8 | bytes[offset + 17];
}

}  // namespace

bool Rib::has_output(PeerId peer) const {
  const PeerState* ps = find_peer(peer);
  if (!ps || !ps->group) return false;
  const UpdateGroup& g = *ps->group;
  for (uint64_t seq = ps->cursor.seq; seq < g.end_seq(); ++seq) {
    const Chunk& c = g.queue[seq - g.base_seq];
    if (c.for_peer(peer) && (seq != ps->cursor.seq || ps->cursor.offset < c.bytes.size()))
      return true;
  }
  return g.has_pending();
}

size_t Rib::take_output(PeerId peer, std::vector<uint8_t>& out, size_t max_bytes) {
  PeerState* ps = find_peer(peer);
  if (!ps || !ps->group) return 0;
  UpdateGroup& g = *ps->group;
  Cursor& cur = ps->cursor;
  size_t written = 0;
  bool budget_left = true;
  while (budget_left) {
    if (cur.seq == g.end_seq()) {
      // Caught up: export and encode what changed since, once for the whole group.
      if (!g.has_pending()) break;
      encode_pending(g);  // clears every pending list, so this runs at most once per call
      if (cur.seq == g.end_seq()) break;
    }
    const Chunk& c = g.queue[cur.seq - g.base_seq];
    if (c.for_peer(peer)) budget_left = take_messages(c, cur, max_bytes, written, out, *ps);
    if (budget_left) cur = Cursor{cur.seq + 1, 0};
  }
  ps->counters.bytes_out += written;
  trim(g);
  merge_caught_up();
  return written;
}

bool Rib::take_messages(const Chunk& c, Cursor& cur, size_t max_bytes, size_t& written,
                        std::vector<uint8_t>& out, PeerState& ps) {
  while (cur.offset < c.bytes.size()) {
    const size_t len = message_length(c.bytes, cur.offset);
    if (BUG(len < kHeaderSize || cur.offset + len > c.bytes.size())) {
      cur.offset = c.bytes.size();  // a broken encoder: skip the rest of the chunk
      break;
    }
    // Always at least one message per call, so that a small budget still makes progress.
    if (written > 0 && written + len > max_bytes) return false;
    out.insert(out.end(), c.bytes.begin() + static_cast<ptrdiff_t>(cur.offset),
               c.bytes.begin() + static_cast<ptrdiff_t>(cur.offset + len));
    written += len;
    cur.offset += len;
    ++ps.counters.messages_out;
  }
  return true;
}

uint64_t Rib::lag(const UpdateGroup& g, const PeerState& ps) {
  if (ps.cursor.seq >= g.end_seq()) return 0;
  return g.queued - g.queue[ps.cursor.seq - g.base_seq].start - ps.cursor.offset;
}

void Rib::trim(UpdateGroup& g) {
  // A member further behind the one ahead of everyone than the limit holds the chunks between
  // them for itself alone: it is split out.
  if (config_.max_member_lag > 0 && g.members.size() > 1 && !g.queue.empty() &&
      g.queued - g.queue.front().start > config_.max_member_lag) {
    uint64_t least = ~uint64_t{0};
    for (PeerId m : g.members)
      if (const PeerState* ps = find_peer(m)) least = std::min(least, lag(g, *ps));
    std::vector<PeerState*> behind;
    for (PeerId m : g.members)
      if (PeerState* ps = find_peer(m); ps && lag(g, *ps) - least > config_.max_member_lag)
        behind.push_back(ps);
    for (PeerState* ps : behind) split_out(g, *ps);
  }
  uint64_t low = g.end_seq();
  for (PeerId m : g.members) {
    const PeerState* ps = find_peer(m);
    if (ps) low = std::min(low, ps->cursor.seq);
  }
  while (g.base_seq < low && !g.queue.empty()) {
    g.queue.pop_front();
    ++g.base_seq;
  }
}

}  // namespace isthmus::bgp
