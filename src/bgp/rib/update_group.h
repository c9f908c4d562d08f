// Update groups: peers whose export is the same share one Adj-RIB-Out, one export computation
// and one encoding per change. Each member reads the group's queue of encoded chunks at its own
// pace through a cursor; a chunk is freed once every member has read past it.
//
// A member that reads more slowly than the others holds every chunk queued after its cursor. Once
// that is more than RibConfig::max_member_lag octets, it is split out: it gets a group of its own
// with a copy of the group's Adj-RIB-Out and pending routes, and the chunks it has not read
// (those for it only are moved, the shared ones copied), and the group frees them. Alone, it
// encodes only what it pulls (once per route however often the route changed), so what it holds
// is bounded by the lag limit and the table, not by the churn. Once it has caught up while the
// group it left has nothing pending, their Adj-RIBs-Out are the same and it goes back.
//
// Split horizon inside a group: a route is never sent back to the member it came from. The
// group's Adj-RIB-Out remembers, per route, which member (if any) was left out
// (GroupFamily::excluded); chunks carry a filter (for everyone but X, or for X only) so that the
// excluded member gets a withdraw of what it had, or the route once it is no longer its source.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "bgp/rib/attr_store.h"
#include "bgp/rib/export.h"
#include "bgp/rib/peer.h"
#include "bgp/rib/route_table.h"
#include "bgp/wire/codec.h"

namespace isthmus::bgp {

// Everything that makes two peers' UPDATEs differ.
struct GroupKey {
  bool ibgp = false;
  bool rr_client = false;
  bool next_hop_self = false;
  uint32_t remote_as = 0;  // eBGP only (sender-side loop check); 0 for iBGP
  IpAddress local_address;
  std::optional<IpAddress> local_address_v4;
  std::optional<IpAddress> local_address_v6;
  std::optional<IpAddress> local_link_local;
  bool has_export_policy = false;
  std::string export_policy_id;
  PeerId unshared = kLocalPeer;  // a group of one: its policy has no id, or rt_constrained
  // RFC 4684: the peer's EVPN routes are filtered by the route targets it imports.
  bool rt_constrained = false;
  bool four_octet_as = true;
  bool extended_message = false;
  bool long_lived_graceful_restart = false;
  std::vector<Family> families;  // sorted
  bool operator==(const GroupKey&) const = default;
};
GroupKey group_key(const PeerInfo& peer);

// Encoded UPDATEs (whole messages) for some or all members.
struct Chunk {
  std::vector<uint8_t> bytes;
  uint64_t start = 0;          // the group's bytes queued before this chunk (UpdateGroup::queued)
  PeerId only = kLocalPeer;    // nonzero: for this member only
  PeerId except = kLocalPeer;  // nonzero: for every member but this one
  bool for_peer(PeerId p) const { return only != kLocalPeer ? only == p : except != p; }
};

struct Cursor {
  uint64_t seq = 0;   // chunk sequence number
  size_t offset = 0;  // bytes of that chunk already taken
};

// One family of a group. Per-route state is indexed by the RouteId of the family's RouteTable: a
// RouteId stays in the table while any group still has it pending or advertised (see
// Rib::release_if_unused), so an id here always names the same prefix.
struct GroupFamily {
  PagedArray<AttrRef> out;  // Adj-RIB-Out: what the group advertised; empty: nothing
  // Sparse: the member that did not get the route because it is the route's source.
  PagedArray<PeerId> excluded;
  size_t advertised = 0;         // non-empty entries of `out`
  std::vector<RouteId> pending;  // Loc-RIB changes not yet exported, each once
  std::vector<uint64_t> pending_bits;
  std::unordered_map<PeerId, size_t> excluded_count;  // per member: advertised routes it lacks
  // Sparse: routes withdrawn from the group because they do not fit its UPDATEs (RFC 8654 §4),
  // so that a member joining later is counted for them too.
  PagedArray<bool> too_large;
  size_t too_large_count = 0;

  const AttrRef* find_out(RouteId id) const { return id < out.capacity() ? &out[id] : nullptr; }
  bool is_pending(RouteId id) const {
    return id / 64 < pending_bits.size() && (pending_bits[id / 64] >> (id % 64) & 1) != 0;
  }
  void mark(RouteId id) {
    if (id / 64 >= pending_bits.size()) pending_bits.resize(id / 64 + 1 + pending_bits.size() / 2);
    uint64_t& w = pending_bits[id / 64];
    const uint64_t bit = uint64_t{1} << (id % 64);
    if (w & bit) return;
    w |= bit;
    pending.push_back(id);
  }
  void unmark(RouteId id) { pending_bits[id / 64] &= ~(uint64_t{1} << (id % 64)); }
};

struct UpdateGroup {
  uint32_t id = 0;
  GroupKey key;
  PeerInfo proto;  // the first member: its export policy and addresses serve the group
  ExportTarget target;
  CodecOptions codec;
  std::vector<PeerId> members;
  std::map<Family, GroupFamily> families;
  std::deque<Chunk> queue;
  uint64_t base_seq = 0;  // sequence number of queue.front()
  uint64_t queued = 0;    // bytes ever queued: a member lags by `queued` minus what it has read
  // A member that lagged too far behind its group (RibConfig::max_member_lag), alone in a group
  // of its own until it has caught up; then it goes back to the group of `key.unshared` unset.
  bool split = false;

  // Counters: how much work was done once for all members.
  uint64_t export_runs = 0;
  uint64_t chunks_encoded = 0;
  uint64_t messages_encoded = 0;
  uint64_t bytes_encoded = 0;

  uint64_t end_seq() const { return base_seq + queue.size(); }
  bool has_pending() const;
};

}  // namespace isthmus::bgp
