// RouteEntry: a one-inline small vector of paths (see route_table.h).
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

RouteEntry::~RouteEntry() {
  std::destroy_n(data(), size_);
  if (cap_ > 1) ::operator delete(heap());
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

}  // namespace isthmus::bgp
