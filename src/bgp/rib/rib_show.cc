// Rib introspection for `show` commands; kept apart from the pipeline code.
#include "bgp/rib/rib.h"

namespace isthmus::bgp {

void Rib::views(Family family, RouteId id, const RouteEntry& e, std::vector<PathView>& out) const {
  out.clear();
  const Path* best = e.best();
  for (const Path& p : e.paths())
    out.push_back(PathView{p.peer, p.attrs, &p == best, is_stale(p.peer, family, id)});
}

void Rib::for_each_route(
    Family family, const std::function<void(const Prefix&, std::span<const PathView>)>& fn) const {
  const Table* t = find_table(family);
  if (!t || t->routes.kind() == KeyKind::Bytes) return;  // EVPN: for_each_evpn_route()
  std::vector<PathView> v;
  t->routes.for_each([&](RouteId id) {
    const RouteEntry& e = t->routes.entry(id);
    if (e.empty()) return;  // kept only until the update groups have sent its withdrawal
    views(family, id, e, v);
    fn(t->routes.prefix(id), v);
  });
}

void Rib::for_each_keyed_route(
    Family family,
    const std::function<void(std::span<const uint8_t>, std::span<const PathView>)>& fn) const {
  const Table* t = find_table(family);
  if (!t || t->routes.kind() != KeyKind::Bytes) return;
  std::vector<PathView> v;
  t->routes.for_each([&](RouteId id) {
    const RouteEntry& e = t->routes.entry(id);
    if (e.empty()) return;
    views(family, id, e, v);
    fn(t->routes.key_bytes(id), v);
  });
}

void Rib::for_each_evpn_route(
    const std::function<void(std::span<const uint8_t>, std::span<const PathView>)>& fn) const {
  for_each_keyed_route(kL2vpnEvpn, fn);
}

void Rib::for_each_rtc_route(
    const std::function<void(const RtMembership&, std::span<const PathView>)>& fn) const {
  for_each_keyed_route(kIpv4RouteTarget, [&](std::span<const uint8_t> key, auto paths) {
    auto m = rtc_from_key(key);
    if (m) fn(*m, paths);
  });
}

const RtFilter* Rib::rt_filter(PeerId peer) const {
  const PeerState* ps = find_peer(peer);
  return ps && ps->group && ps->rt_constrained ? &ps->rt_filter : nullptr;
}

std::vector<PathView> Rib::lookup(Family family, const Prefix& prefix) const {
  std::vector<PathView> v;
  const Table* t = find_table(family);
  if (!t) return v;
  const RouteId id = t->routes.find(prefix);
  if (id != kNoRoute) views(family, id, t->routes.entry(id), v);
  return v;
}

std::optional<PeerCounters> Rib::counters(PeerId peer) const {
  const PeerState* ps = find_peer(peer);
  if (!ps) return std::nullopt;
  PeerCounters c = ps->counters;
  if (!ps->group) return c;  // down, with stale paths: nothing advertised
  c.split_out = ps->group->split;
  c.output_queued = lag(*ps->group, *ps);
  for (auto& [family, fc] : c.families) {
    auto it = ps->group->families.find(family);
    if (it == ps->group->families.end()) continue;
    const GroupFamily& gf = it->second;
    auto ex = gf.excluded_count.find(peer);
    fc.advertised = gf.advertised - (ex == gf.excluded_count.end() ? 0 : ex->second);
  }
  return c;
}

RibStats Rib::stats() const {
  RibStats s;
  for (const auto& entry : tables_) {
    const Table& t = entry.second;  // not a structured binding: clang 14 cannot capture one
    RibStats::Table& st = s.tables[entry.first];
    st.held = t.routes.size();
    t.routes.for_each([&](RouteId id) {
      const size_t paths = t.routes.entry(id).size();
      st.prefixes += paths > 0;
      st.paths += paths;
    });
  }
  for (const auto& [id, ps] : peers_)
    for (const auto& [family, set] : ps.stale) s.stale_paths += set.remaining;
  s.attr_sets = store_.size();
  s.attr_bytes = store_.memory_bytes();
  s.update_groups = groups_.size();
  for (const auto& g : groups_) {
    s.export_runs += g->export_runs;
    s.messages_encoded += g->messages_encoded;
    s.bytes_encoded += g->bytes_encoded;
    if (!g->queue.empty()) s.queued_bytes += g->queued - g->queue.front().start;
  }
  s.members_split = members_split_;
  s.members_merged = members_merged_;
  return s;
}

}  // namespace isthmus::bgp
