// Interned path attributes: one immutable PathAttributes per distinct value, shared by every route
// that carries it and freed with its last reference. Owned by one RIB, used on the RIB's thread
// only (the reference count is not atomic).
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_set>
#include <utility>

#include "bgp/wire/types.h"

namespace isthmus::bgp {

// A hash of the whole value, consistent with PathAttributes::operator==.
size_t hash_attrs(const PathAttributes& a) noexcept;

class AttrStore;

namespace detail {
struct AttrNode {
  PathAttributes attrs;
  size_t hash = 0;
  uint32_t refs = 0;
  AttrStore* store = nullptr;
};
}  // namespace detail

// A counted handle to interned attributes: 8 bytes, copied freely. Two handles from one store are
// equal exactly when their attributes are equal, so comparing handles compares values.
class AttrRef {
 public:
  AttrRef() = default;
  AttrRef(const AttrRef& o) noexcept : n_(o.n_) {
    if (n_) ++n_->refs;
  }
  AttrRef(AttrRef&& o) noexcept : n_(std::exchange(o.n_, nullptr)) {}
  AttrRef& operator=(const AttrRef& o) noexcept {
    AttrRef copy(o);
    std::swap(n_, copy.n_);
    return *this;
  }
  AttrRef& operator=(AttrRef&& o) noexcept {
    AttrRef moved(std::move(o));
    std::swap(n_, moved.n_);
    return *this;
  }
  ~AttrRef() { reset(); }

  void reset() noexcept;
  explicit operator bool() const { return n_ != nullptr; }
  const PathAttributes& operator*() const { return n_->attrs; }
  const PathAttributes* operator->() const { return &n_->attrs; }
  const PathAttributes* get() const { return n_ ? &n_->attrs : nullptr; }
  uint32_t use_count() const { return n_ ? n_->refs : 0; }
  // An identity usable as a map key for as long as this handle lives.
  const void* id() const { return n_; }

  bool operator==(const AttrRef& o) const { return n_ == o.n_; }

 private:
  friend class AttrStore;
  explicit AttrRef(detail::AttrNode* n) noexcept : n_(n) { ++n_->refs; }
  detail::AttrNode* n_ = nullptr;
};

class AttrStore {
 public:
  AttrStore() = default;
  AttrStore(const AttrStore&) = delete;
  AttrStore& operator=(const AttrStore&) = delete;
  // Every AttrRef must be gone by now (BUG otherwise; the nodes are then leaked, not freed).
  ~AttrStore();

  AttrRef intern(const PathAttributes& a);
  AttrRef intern(PathAttributes&& a);

  // Distinct attribute sets alive.
  size_t size() const { return set_.size(); }
  // Rough heap use of the interned values, for `show` and the memory benchmark.
  size_t memory_bytes() const;

 private:
  friend class AttrRef;
  struct Probe {
    const PathAttributes* attrs;
    size_t hash;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(const detail::AttrNode* n) const noexcept { return n->hash; }
    size_t operator()(const Probe& p) const noexcept { return p.hash; }
  };
  struct Eq {
    using is_transparent = void;
    bool operator()(const detail::AttrNode* a, const detail::AttrNode* b) const { return a == b; }
    bool operator()(const Probe& p, const detail::AttrNode* n) const {
      return p.hash == n->hash && *p.attrs == n->attrs;
    }
    bool operator()(const detail::AttrNode* n, const Probe& p) const { return (*this)(p, n); }
  };
  template <class A>
  AttrRef intern_impl(A&& a);
  void release(detail::AttrNode* n) noexcept;

  std::unordered_set<detail::AttrNode*, Hash, Eq> set_;
};

inline void AttrRef::reset() noexcept {
  if (n_ && --n_->refs == 0) n_->store->release(n_);
  n_ = nullptr;
}

}  // namespace isthmus::bgp
