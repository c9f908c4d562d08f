// RouteEntry (a one-inline small vector of paths) and RouteTable (see route_table.h).
#include "bgp/rib/route_table.h"

#include <cstring>
#include <memory>

#include "core/bug.h"

namespace isthmus::bgp {

RouteEntry::RouteEntry(RouteEntry&& o) noexcept
    : size_(o.size_), cap_(o.cap_), best_(o.best_), changed_(o.changed_) {
  if (o.cap_ <= 1) {
    if (o.size_ == 1) new (storage_) Path(std::move(o.data()[0]));
    if (o.size_ == 1) o.data()[0].~Path();
  } else {
    set_heap(o.heap());
  }
  o.size_ = 0;
  o.cap_ = 1;
  o.best_ = kNoBest;
}

RouteEntry::~RouteEntry() { clear(); }

void RouteEntry::clear() {
  std::destroy_n(data(), size_);
  if (cap_ > 1) ::operator delete(heap());
  size_ = 0;
  cap_ = 1;
  best_ = kNoBest;
  changed_ = false;
}

Path* RouteEntry::find(PeerId peer) {
  for (auto& p : paths())
    if (p.peer == peer) return &p;
  return nullptr;
}

const Path* RouteEntry::find(PeerId peer) const {
  for (const auto& p : paths())
    if (p.peer == peer) return &p;
  return nullptr;
}

Path& RouteEntry::add(PeerId peer) {
  BUG(find(peer) != nullptr);
  if (size_ == cap_) {
    if (cap_ >= 0x8000) PANIC("more than 32768 paths for one prefix");
    const uint16_t cap = static_cast<uint16_t>(cap_ * 2);
    auto* fresh = static_cast<Path*>(::operator new(sizeof(Path) * cap));
    Path* old = data();
    std::uninitialized_move_n(old, size_, fresh);
    std::destroy_n(old, size_);
    if (cap_ > 1) ::operator delete(old);
    set_heap(fresh);
    cap_ = cap;
  }
  Path* slot = new (data() + size_) Path();
  slot->peer = peer;
  ++size_;
  return *slot;
}

bool RouteEntry::remove(PeerId peer) {
  Path* p = find(peer);
  if (!p) return false;
  Path* last = data() + size_ - 1;
  if (p != last) *p = std::move(*last);
  last->~Path();
  --size_;
  best_ = kNoBest;
  // Back inline when one path is left, so that a route that once had two paths costs no more.
  if (cap_ > 1 && size_ <= 1) {
    Path* h = heap();
    if (size_ == 1) {
      new (storage_) Path(std::move(h[0]));
      h[0].~Path();
    }
    ::operator delete(h);
    cap_ = 1;
  }
  return true;
}

// ---- RouteTable ---------------------------------------------------------------------------------

// The last key word is never 0 in a live record: for prefixes it carries the length and a live
// marker (1 in its low byte), for byte keys their count in its top octet. A free record is zero.
RouteTable::RouteTable(KeyKind kind)
    : kind_(kind),
      key_words_(kind == KeyKind::Ipv4   ? 1
                 : kind == KeyKind::Ipv6 ? 3
                                         : kMaxKeyWords),
      stride_(sizeof(RouteEntry) + key_words_ * sizeof(uint64_t)) {
  static_assert(sizeof(RouteEntry) % alignof(uint64_t) == 0);
}

RouteTable::~RouteTable() {
  const RouteId capacity = static_cast<RouteId>(pages_.size() << kPageBits);
  for (RouteId id = 0; id < capacity; ++id) entry_at(record(id))->~RouteEntry();
}

RouteTable::Key RouteTable::key_of(const Prefix& p) const {
  Key k;
  const uint64_t tail = uint64_t{p.length()} << 8 | 1;
  if (kind_ == KeyKind::Ipv4) {
    k.w[0] = uint64_t{p.address().v4_host_order()} << 32 | tail;
  } else {
    std::memcpy(k.w, p.address().bytes().data(), 16);
    k.w[2] = tail;
  }
  return k;
}

std::optional<RouteTable::Key> RouteTable::key_of(std::span<const uint8_t> bytes) {
  if (bytes.empty() || bytes.size() > kMaxKeyBytes) return std::nullopt;
  Key k;
  auto* octets = reinterpret_cast<uint8_t*>(k.w);
  std::memcpy(octets, bytes.data(), bytes.size());
  octets[kMaxKeyBytes] = static_cast<uint8_t>(bytes.size());
  return k;
}

uint64_t RouteTable::hash(const Key& k) const {
  uint64_t h = k.w[0] * 0x9e3779b97f4a7c15ULL;
  for (size_t i = 1; i < key_words_; ++i) h = (h ^ (h >> 29) ^ k.w[i]) * 0xd6e8feb86659fd93ULL;
  return h ^ (h >> 32);
}

bool RouteTable::key_equal(std::byte* r, const Key& k) const {
  const uint64_t* w = key_at(r);
  for (size_t i = 0; i < key_words_; ++i)
    if (w[i] != k.w[i]) return false;
  return true;
}

Prefix RouteTable::prefix(RouteId id) const {
  if (BUG(kind_ == KeyKind::Bytes)) return Prefix();
  const uint64_t* w = key_at(record(id));
  const uint64_t tail = w[key_words_ - 1];
  const auto length = static_cast<uint8_t>(tail >> 8);
  if (kind_ == KeyKind::Ipv4)
    return Prefix(IpAddress::v4(static_cast<uint32_t>(tail >> 32)), length);
  std::array<uint8_t, 16> b;
  std::memcpy(b.data(), w, 16);
  return Prefix(IpAddress::v6(b), length);
}

std::span<const uint8_t> RouteTable::key_bytes(RouteId id) const {
  if (BUG(kind_ != KeyKind::Bytes)) return {};
  const auto* octets = reinterpret_cast<const uint8_t*>(key_at(record(id)));
  return {octets, octets[kMaxKeyBytes]};
}

bool RouteTable::less(RouteId a, RouteId b) const {
  const uint64_t* x = key_at(record(a));
  const uint64_t* y = key_at(record(b));
  switch (kind_) {
    case KeyKind::Ipv4:  // address, then length, as one number
      return x[0] < y[0];
    case KeyKind::Ipv6:  // the address bytes in network order as two words, then the length
      for (size_t i = 0; i < 2; ++i)
        if (x[i] != y[i]) return __builtin_bswap64(x[i]) < __builtin_bswap64(y[i]);
      return x[2] < y[2];
    case KeyKind::Bytes: {  // zero-padded bytes, then the count: byte-string order
      const auto* p = reinterpret_cast<const uint8_t*>(x);
      const auto* q = reinterpret_cast<const uint8_t*>(y);
      const int c = std::memcmp(p, q, kMaxKeyBytes);
      return c != 0 ? c < 0 : p[kMaxKeyBytes] < q[kMaxKeyBytes];
    }
  }
  return false;
}

size_t RouteTable::probe(const Key& k, uint32_t t) const {
  const size_t mask = index_.size() - 1;
  for (size_t i = t & mask;; i = (i + 1) & mask) {
    const uint64_t b = index_[i];
    if (b == 0 || (bucket_tag(b) == t && key_equal(record(bucket_id(b)), k))) return i;
  }
}

RouteId RouteTable::find(const Prefix& prefix) const {
  const bool v4 = prefix.family() == IpFamily::V4;
  if (kind_ != (v4 ? KeyKind::Ipv4 : KeyKind::Ipv6)) return kNoRoute;
  return find_key(key_of(prefix));
}

RouteId RouteTable::insert(const Prefix& prefix) {
  const bool v4 = prefix.family() == IpFamily::V4;
  if (BUG(kind_ != (v4 ? KeyKind::Ipv4 : KeyKind::Ipv6))) return kNoRoute;
  return insert_key(key_of(prefix));
}

RouteId RouteTable::find(std::span<const uint8_t> key) const {
  const auto k = kind_ == KeyKind::Bytes ? key_of(key) : std::nullopt;
  return k ? find_key(*k) : kNoRoute;
}

RouteId RouteTable::insert(std::span<const uint8_t> key) {
  const auto k = kind_ == KeyKind::Bytes ? key_of(key) : std::nullopt;
  if (BUG(!k)) return kNoRoute;
  return insert_key(*k);
}

RouteId RouteTable::find_key(const Key& k) const {
  if (index_.empty()) return kNoRoute;
  const uint64_t b = index_[probe(k, tag(hash(k)))];
  return b == 0 ? kNoRoute : bucket_id(b);
}

RouteId RouteTable::insert_key(const Key& k) {
  // Grow at a load factor of 3/4: linear probing stays short and a miss ends at an empty bucket.
  if ((size_ + 1) * 4 > index_.size() * 3) grow();
  const uint32_t t = tag(hash(k));
  const size_t i = probe(k, t);
  if (index_[i] != 0) return bucket_id(index_[i]);
  RouteId id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {
    if (end_ == kNoRoute) PANIC("route table full");
    id = end_++;
    if (id >> kPageBits >= pages_.size()) {
      const size_t n = size_t{1} << kPageBits;
      auto page = std::make_unique<std::byte[]>(n * stride_);  // zeroed: every key word 0, free
      for (size_t j = 0; j < n; ++j) new (page.get() + j * stride_) RouteEntry();
      pages_.push_back(std::move(page));
    }
  }
  std::memcpy(key_at(record(id)), k.w, key_words_ * sizeof(uint64_t));
  index_[i] = bucket(t, id);
  ++size_;
  return id;
}

void RouteTable::erase(RouteId id) {
  if (BUG(!contains(id))) return;
  std::byte* r = record(id);
  Key k;
  std::memcpy(k.w, key_at(r), key_words_ * sizeof(uint64_t));
  const size_t mask = index_.size() - 1;
  size_t i = probe(k, tag(hash(k)));
  if (BUG(index_[i] == 0 || bucket_id(index_[i]) != id)) return;
  // Backward-shift deletion: move later members of the probe run into the hole when their home
  // bucket is not after it, so that no lookup ever stops early at a false empty bucket.
  for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
    const uint64_t b = index_[j];
    if (b == 0) break;
    const size_t home = bucket_tag(b) & mask;
    // b may move to i when i lies cyclically within [home, j).
    if (((j - home) & mask) >= ((j - i) & mask)) {
      index_[i] = b;
      i = j;
    }
  }
  index_[i] = 0;
  entry_at(r)->clear();
  std::memset(key_at(r), 0, key_words_ * sizeof(uint64_t));
  --size_;
  if (id + 1 == end_) {
    --end_;
  } else {
    free_.push_back(id);
  }
}

void RouteTable::grow() {
  std::vector<uint64_t> old = std::move(index_);
  index_.assign(old.empty() ? 64 : old.size() * 2, 0);
  const size_t mask = index_.size() - 1;
  for (uint64_t b : old) {
    if (b == 0) continue;
    size_t i = bucket_tag(b) & mask;
    while (index_[i] != 0) i = (i + 1) & mask;
    index_[i] = b;
  }
}

}  // namespace isthmus::bgp
