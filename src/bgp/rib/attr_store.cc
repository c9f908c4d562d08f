// Interned path attributes (see attr_store.h).
#include "bgp/rib/attr_store.h"

#include "core/bug.h"

namespace isthmus::bgp {
namespace {

size_t mix(size_t h, size_t v) noexcept {
  // boost-style combine, widened to 64 bits.
  return h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

template <class T>
size_t hash_span(size_t h, const std::vector<T>& v) noexcept {
  // Only for element types without padding (uint32_t, 8-byte arrays, three uint32_t).
  return mix(h, hash_bytes(v.data(), v.size() * sizeof(T), v.size()));
}

size_t hash_ip(size_t h, const IpAddress& a) noexcept { return mix(h, std::hash<IpAddress>{}(a)); }

}  // namespace

size_t hash_attrs(const PathAttributes& a) noexcept {
  static_assert(sizeof(LargeCommunity) == 12 && sizeof(ExtCommunity) == 8);
  size_t h = static_cast<size_t>(a.origin);
  for (const auto& seg : a.as_path.segments) {
    h = mix(h, static_cast<size_t>(seg.type));
    h = hash_span(h, seg.asns);
  }
  h = hash_ip(h, a.next_hop);
  if (a.link_local_next_hop) h = hash_ip(h, *a.link_local_next_hop);
  h = mix(h, a.med ? *a.med + 1ULL : 0);
  h = mix(h, a.local_pref ? *a.local_pref + 1ULL : 0);
  h = mix(h, a.atomic_aggregate);
  if (a.aggregator) h = hash_ip(mix(h, a.aggregator->asn), a.aggregator->address);
  h = hash_span(h, a.communities);
  h = mix(h, a.originator_id ? *a.originator_id + 1ULL : 0);
  h = hash_span(h, a.cluster_list);
  h = hash_span(h, a.ext_communities);
  h = hash_span(h, a.large_communities);
  for (const auto& u : a.unknown) {
    h = mix(h, size_t{u.flags} << 8 | u.type);
    h = hash_span(h, u.value);
  }
  if (a.evpn_nlri) {
    const auto& d = *a.evpn_nlri;
    h = mix(h, hash_bytes(d.esi.bytes.data(), d.esi.bytes.size(), d.label1));
    h = mix(h, d.label2 ? *d.label2 + 1ULL : 0);
    h = hash_ip(h, d.gateway);
  }
  if (a.pmsi_tunnel) {
    const auto& t = *a.pmsi_tunnel;
    h = mix(h, size_t{t.flags} << 40 | size_t{t.tunnel_type} << 32 | t.label);
    h = hash_span(h, t.tunnel_id);
  }
  return h;
}

AttrStore::~AttrStore() {
  // Outstanding references would dangle; leak the nodes rather than free them under a user.
  BUG(!set_.empty());
}

template <class A>
AttrRef AttrStore::intern_impl(A&& a) {
  Probe probe{&a, hash_attrs(a)};
  if (auto it = set_.find(probe); it != set_.end()) return AttrRef(*it);
  auto* n = new detail::AttrNode{std::forward<A>(a), probe.hash, 0, this};
  set_.insert(n);
  return AttrRef(n);
}

AttrRef AttrStore::intern(const PathAttributes& a) { return intern_impl(a); }
AttrRef AttrStore::intern(PathAttributes&& a) { return intern_impl(std::move(a)); }

void AttrStore::release(detail::AttrNode* n) noexcept {
  set_.erase(n);
  delete n;
}

size_t AttrStore::memory_bytes() const {
  size_t total = set_.bucket_count() * sizeof(void*);
  for (const auto* n : set_) {
    const auto& a = n->attrs;
    total += sizeof(*n) + 16 /* set node */;
    for (const auto& s : a.as_path.segments) total += sizeof(s) + s.asns.capacity() * 4;
    total += a.communities.capacity() * sizeof(Community);
    total += a.cluster_list.capacity() * 4;
    total += a.ext_communities.capacity() * sizeof(ExtCommunity);
    total += a.large_communities.capacity() * sizeof(LargeCommunity);
    for (const auto& u : a.unknown) total += sizeof(u) + u.value.capacity();
    if (a.pmsi_tunnel) total += a.pmsi_tunnel->tunnel_id.capacity();
  }
  return total;
}

}  // namespace isthmus::bgp
