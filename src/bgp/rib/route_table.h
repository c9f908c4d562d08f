// Adj-RIB-In and Loc-RIB of one address family in one structure: per prefix, the path each peer
// sent (after import policy) and which of them is best. RFC 4271 §3.2 allows the three RIBs to be
// one table as long as the behaviour is the same; keeping Adj-RIB-In post-policy only means a
// policy change needs ROUTE-REFRESH from the peer (RFC 2918), not a stored pre-policy copy.
//
// Memory per prefix (x86-64, libstdc++): hash node 8 (next) + 18 (Prefix) + 6 pad + 24
// (RouteEntry, one path inline) = 56 -> 64 with malloc, + 8 bucket pointer. A second path moves
// the paths to a heap array of 16 bytes each. Attributes are shared (AttrStore).
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <new>
#include <span>
#include <unordered_map>
#include <utility>

#include "bgp/rib/attr_store.h"
#include "bgp/rib/decision.h"
#include "core/ip.h"

namespace isthmus::bgp {

// One peer's path for a prefix. `attrs` empty: the peer sent the prefix but import rejected it
// (loop or policy); it is kept for the received/accepted counters and is never a candidate.
struct Path {
  AttrRef attrs;
  PeerId peer = kLocalPeer;
  bool accepted() const { return static_cast<bool>(attrs); }
};
static_assert(sizeof(Path) == 16);

// The paths of one prefix: a small vector with one path inline, plus the best-path index.
class RouteEntry {
 public:
  static constexpr uint16_t kNoBest = 0xffff;

  RouteEntry() = default;
  RouteEntry(const RouteEntry&) = delete;
  RouteEntry& operator=(const RouteEntry&) = delete;
  RouteEntry(RouteEntry&& o) noexcept;
  RouteEntry& operator=(RouteEntry&&) = delete;
  ~RouteEntry();

  std::span<Path> paths() { return {data(), size_}; }
  std::span<const Path> paths() const { return {data(), size_}; }
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }

  Path* find(PeerId peer);
  const Path* find(PeerId peer) const;
  // Adds a path for `peer` (which must not have one yet) and returns it.
  Path& add(PeerId peer);
  // Removes `peer`'s path, if any. The best index is cleared.
  bool remove(PeerId peer);

  const Path* best() const { return best_ == kNoBest ? nullptr : &data()[best_]; }
  void set_best(size_t index) { best_ = index < size_ ? static_cast<uint16_t>(index) : kNoBest; }

  // Set while the entry waits in the changed list of its table.
  bool changed() const { return changed_; }
  void set_changed(bool c) { changed_ = c; }

 private:
  Path* data() { return cap_ <= 1 ? std::launder(reinterpret_cast<Path*>(storage_)) : heap(); }
  const Path* data() const {
    return cap_ <= 1 ? std::launder(reinterpret_cast<const Path*>(storage_)) : heap();
  }
  Path* heap() const {
    Path* p;
    std::memcpy(&p, storage_, sizeof(p));
    return p;
  }
  void set_heap(Path* p) { std::memcpy(storage_, &p, sizeof(p)); }

  alignas(Path) unsigned char storage_[sizeof(Path)];  // one Path inline, or a Path* to the heap
  uint16_t size_ = 0;
  uint16_t cap_ = 1;  // 1 = inline
  uint16_t best_ = kNoBest;
  bool changed_ = false;
};
static_assert(sizeof(RouteEntry) == 24);

struct PrefixHash {
  size_t operator()(const Prefix& p) const noexcept { return std::hash<Prefix>{}(p); }
};

// Equality as two word compares (IpAddress::operator==), without the three-way comparison.
struct PrefixEq {
  bool operator()(const Prefix& a, const Prefix& b) const noexcept {
    return a.length() == b.length() && a.address() == b.address();
  }
};

// noexcept hash: libstdc++ then does not store the hash in each node (8 bytes saved).
using RouteMap = std::unordered_map<Prefix, RouteEntry, PrefixHash, PrefixEq>;

}  // namespace isthmus::bgp
