// Adj-RIB-In and Loc-RIB of one address family in one structure: per prefix, the path each peer
// sent (after import policy) and which of them is best. RFC 4271 §3.2 allows the three RIBs to be
// one table as long as the behaviour is the same; keeping Adj-RIB-In post-policy only means a
// policy change needs ROUTE-REFRESH from the peer (RFC 2918), not a stored pre-policy copy.
//
// One path is stored inline in the entry; a second moves the paths to a heap array of 16 bytes
// each. Attributes are shared (AttrStore).
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <utility>
#include <vector>

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
  // Removes every path.
  void clear();

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

// Storage that never moves its elements: fixed-size pages, allocated (value-initialised) as the
// index range grows. Index i stays valid and at the same address until the array is destroyed.
// get()/set() use it sparsely: a page is only allocated when a non-default value is stored in it.
template <class T, unsigned kPageBits = 12>
class PagedArray {
 public:
  static constexpr uint32_t kPageSize = uint32_t{1} << kPageBits;

  PagedArray() = default;
  PagedArray(PagedArray&&) noexcept = default;
  PagedArray& operator=(PagedArray&&) noexcept = default;
  // A copy is explicit (an update group split in two): it can be large.
  PagedArray copy() const {
    PagedArray c;
    c.pages_.resize(pages_.size());
    for (size_t p = 0; p < pages_.size(); ++p) {
      if (!pages_[p]) continue;
      c.pages_[p] = std::make_unique<T[]>(kPageSize);
      std::copy(pages_[p].get(), pages_[p].get() + kPageSize, c.pages_[p].get());
    }
    return c;
  }

  T& operator[](uint32_t i) { return pages_[i >> kPageBits][i & (kPageSize - 1)]; }
  const T& operator[](uint32_t i) const { return pages_[i >> kPageBits][i & (kPageSize - 1)]; }
  // Indices below capacity() are valid for operator[] (when ensure() made them so).
  uint32_t capacity() const { return static_cast<uint32_t>(pages_.size()) << kPageBits; }
  // Makes every index up to i valid (also pages that sparse use left out).
  void ensure(uint32_t i) {
    const size_t last = i >> kPageBits;
    if (last < pages_.size() && pages_[last]) return;
    if (last >= pages_.size()) pages_.resize(last + 1);
    for (auto& p : pages_)
      if (!p) p = std::make_unique<T[]>(kPageSize);
  }
  // Sparse use: T{} where nothing was stored.
  T get(uint32_t i) const {
    const size_t p = i >> kPageBits;
    return p < pages_.size() && pages_[p] ? pages_[p][i & (kPageSize - 1)] : T{};
  }
  void set(uint32_t i, T v) {
    const size_t p = i >> kPageBits;
    if (p >= pages_.size() || !pages_[p]) {
      if (v == T{}) return;
      if (p >= pages_.size()) pages_.resize(p + 1);
      pages_[p] = std::make_unique<T[]>(kPageSize);
    }
    pages_[p][i & (kPageSize - 1)] = std::move(v);
  }
  void clear() { pages_.clear(); }

 private:
  std::vector<std::unique_ptr<T[]>> pages_;
};

// Names a prefix of one RouteTable for as long as the prefix is in it. Ids are dense (reused after
// erase), so per-route state elsewhere (an update group's Adj-RIB-Out, pending bits) is a plain
// array indexed by RouteId instead of another hash table keyed by prefix.
using RouteId = uint32_t;
inline constexpr RouteId kNoRoute = ~RouteId{0};

// What a table is keyed by: an IPv4 or IPv6 prefix, or an opaque byte string of up to
// kMaxKeyBytes (an EVPN route key: route type, RD and the fields RFC 7432 §7 makes the prefix).
enum class KeyKind : uint8_t { Ipv4, Ipv6, Bytes };

// The routes of one address family: key -> (RouteId, RouteEntry).
//
// Records live in pages and never move. A record is the RouteEntry followed by the key packed
// into 64-bit words: one for IPv4 (address, length, a live marker), three for IPv6, five for byte
// keys (the bytes, zero-padded, and their count in the last octet), so a record is 32 bytes for
// IPv4, 48 for IPv6 and 64 for byte keys. The prefix index is a flat open-addressing table (linear
// probing, backward-shift deletion) of 8-byte buckets holding 32 bits of the prefix's hash and
// the RouteId: growing it touches no record, and a lookup costs one bucket line plus the record
// it finds. With the index at a load factor of 3/8 to 3/4, an IPv4 route costs 43 to 53 bytes.
class RouteTable {
 public:
  static constexpr size_t kMaxKeyBytes = 39;

  explicit RouteTable(KeyKind kind = KeyKind::Ipv4);
  ~RouteTable();
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  KeyKind kind() const { return kind_; }

  // IPv4 and IPv6 tables. A prefix of the other family is never found (and a BUG to insert).
  RouteId find(const Prefix& prefix) const;
  // The prefix's id, adding an empty entry when it is not in the table yet.
  RouteId insert(const Prefix& prefix);
  Prefix prefix(RouteId id) const;

  // Byte-key tables: 1 to kMaxKeyBytes bytes (others are never found, and a BUG to insert).
  RouteId find(std::span<const uint8_t> key) const;
  RouteId insert(std::span<const uint8_t> key);
  std::span<const uint8_t> key_bytes(RouteId id) const;

  // Removes the key; its id may be handed out again by insert().
  void erase(RouteId id);
  // Key order without building the keys: prefix order (address, then length) or byte order.
  bool less(RouteId a, RouteId b) const;
  RouteEntry& entry(RouteId id) { return *entry_at(record(id)); }
  const RouteEntry& entry(RouteId id) const { return *entry_at(record(id)); }
  bool contains(RouteId id) const { return id < end_ && live(record(id)); }

  size_t size() const { return size_; }
  // Every id in the table is below end().
  RouteId end() const { return end_; }
  // fn(id) for every prefix in the table, in id order.
  template <class F>
  void for_each(F&& fn) const {
    for (RouteId id = 0; id < end_; ++id)
      if (live(record(id))) fn(id);
  }

 private:
  static constexpr unsigned kPageBits = 12;
  static constexpr size_t kMaxKeyWords = 5;
  static_assert(kMaxKeyBytes + 1 == kMaxKeyWords * sizeof(uint64_t));
  struct Key {
    uint64_t w[kMaxKeyWords] = {};
  };
  Key key_of(const Prefix& p) const;
  static std::optional<Key> key_of(std::span<const uint8_t> bytes);
  RouteId find_key(const Key& k) const;
  RouteId insert_key(const Key& k);
  uint64_t hash(const Key& k) const;
  std::byte* record(RouteId id) const {
    return pages_[id >> kPageBits].get() + size_t{id & ((1u << kPageBits) - 1)} * stride_;
  }
  static RouteEntry* entry_at(std::byte* r) {
    return std::launder(reinterpret_cast<RouteEntry*>(r));
  }
  static uint64_t* key_at(std::byte* r) {
    return std::launder(reinterpret_cast<uint64_t*>(r + sizeof(RouteEntry)));
  }
  bool live(std::byte* r) const { return key_at(r)[key_words_ - 1] != 0; }
  bool key_equal(std::byte* r, const Key& k) const;
  static uint32_t tag(uint64_t h) { return static_cast<uint32_t>(h >> 32); }
  // Bucket: tag << 32 | (id + 1); 0 is empty. The home bucket is tag & mask.
  static uint64_t bucket(uint32_t t, RouteId id) { return uint64_t{t} << 32 | (uint64_t{id} + 1); }
  static RouteId bucket_id(uint64_t b) { return static_cast<RouteId>(b) - 1; }
  static uint32_t bucket_tag(uint64_t b) { return static_cast<uint32_t>(b >> 32); }
  // The bucket holding the key, or the empty bucket where it would go.
  size_t probe(const Key& k, uint32_t t) const;
  void grow();

  KeyKind kind_;
  size_t key_words_;
  size_t stride_;  // bytes per record
  std::vector<std::unique_ptr<std::byte[]>> pages_;
  std::vector<RouteId> free_;  // erased ids below end_
  RouteId end_ = 0;
  size_t size_ = 0;
  std::vector<uint64_t> index_;  // size a power of two, or empty
};

}  // namespace isthmus::bgp
