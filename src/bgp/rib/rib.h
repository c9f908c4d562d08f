// The route pipeline of one BGP instance (docs/architecture.md, "The RIB"): UPDATE -> Adj-RIB-In
// (import policy) -> Loc-RIB (best path) -> Adj-RIB-Out (export policy, shared per update group) ->
// encoded once -> peers. RFC 4271 §9 (decision process, §9.1.3 dissemination), RFC 4456 (route
// reflection), RFC 8212 (no eBGP routes without policy), RFC 4724 §2 (End-of-RIB on session
// start), RFC 2918 (ROUTE-REFRESH: re-send Adj-RIB-Out), RFC 4724 §4.2 (stale paths of a
// restarting peer, the receiving speaker's side; the timers are the speaker's).
// Gaps: no add-path, no confederations, no next-hop tracking, no RFC 7313 BoRR/EoRR markers, no
// soft-reconfiguration inbound (refresh the peer instead).
//
// Threading: one thread (the speaker's) calls everything. Input calls (update, withdraw,
// originate, peer_down) only record changes; flush() runs the decision process and hands the
// changes to the update groups; output is pulled with take_output() when a socket is writable,
// and the export is computed and encoded then, once per group, so a prefix that changed many
// times before anyone pulled goes out once with its latest state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "bgp/rib/attr_store.h"
#include "bgp/rib/decision.h"
#include "bgp/rib/encoder.h"
#include "bgp/rib/peer.h"
#include "bgp/rib/route_table.h"
#include "bgp/rib/rt_filter.h"
#include "bgp/rib/update_group.h"

namespace isthmus::bgp {

struct RibConfig {
  uint32_t local_as = 0;
  uint32_t router_id = 0;   // host order
  uint32_t cluster_id = 0;  // RFC 4456 CLUSTER_ID; 0 means router_id
  // Where UPDATEs are encoded; nullptr = the bgp/wire codec. Must outlive the Rib.
  UpdateEncoder* encoder = nullptr;
  // Called from flush() for every prefix whose best path changed (nullptr best: no route left).
  // For Loc-RIB consumers such as the EVPN importer. Must not call back into the Rib.
  std::function<void(Family, const Prefix&, const Path* best)> best_changed;
  // The same for L2VPN EVPN routes, by key (evpn_key()).
  std::function<void(std::span<const uint8_t> key, const Path* best)> best_evpn_changed;
  // Octets an update group keeps queued for its slowest member before that member is split out
  // into a group of its own (update_group.h); 0: never.
  size_t max_member_lag = size_t{4} << 20;
};

// One path of a prefix, for `show`.
struct PathView {
  PeerId peer = kLocalPeer;
  AttrRef attrs;  // empty: received but rejected by import
  bool best = false;
  bool stale = false;  // RFC 4724 §4.2: kept from a restarting peer, not yet refreshed
};

struct FamilyCounters {
  uint64_t received = 0;      // prefixes in Adj-RIB-In now (accepted or not)
  uint64_t accepted = 0;      // of which import accepted
  uint64_t advertised = 0;    // prefixes in this peer's Adj-RIB-Out now (queued or sent)
  uint64_t updates_in = 0;    // prefixes announced, ever
  uint64_t withdraws_in = 0;  // prefixes withdrawn, ever
};

struct PeerCounters {
  std::map<Family, FamilyCounters> families;
  uint64_t messages_out = 0;
  uint64_t bytes_out = 0;
  // Routes withdrawn from the peer (or never sent) because their attributes, as exported to it,
  // do not fit an UPDATE of its session (RFC 8654 §4: no extended messages). Only the first is
  // logged.
  uint64_t routes_too_large = 0;
  uint32_t update_group = 0;
  bool split_out = false;  // alone in a group of its own for lagging behind its group
  uint64_t times_split = 0;
  uint64_t output_queued = 0;  // octets encoded for it and not yet taken (its lag)
};

struct RibStats {
  struct Table {
    size_t prefixes = 0;  // with at least one path
    size_t paths = 0;
    size_t held =
        0;  // entries, with those kept (without paths) until every group sent the withdrawal
  };
  std::map<Family, Table> tables;
  size_t stale_paths = 0;  // RFC 4724: retained from restarting peers, over all families
  size_t attr_sets = 0;
  size_t attr_bytes = 0;
  size_t update_groups = 0;
  uint64_t export_runs = 0;  // summed over groups
  uint64_t messages_encoded = 0;
  uint64_t bytes_encoded = 0;
  size_t queued_bytes = 0;      // encoded and not yet read by every member, over all groups
  uint64_t members_split = 0;   // members split out of their group for lagging, ever
  uint64_t members_merged = 0;  // of which went back once caught up
};

class Rib {
 public:
  explicit Rib(RibConfig config);
  ~Rib();
  Rib(const Rib&) = delete;
  Rib& operator=(const Rib&) = delete;

  // ---- Sessions ----
  // The peer is Established: it joins (or founds) its update group, and its whole Adj-RIB-Out is
  // queued, then End-of-RIB for each negotiated family (RFC 4724 §2). Runs flush() first. A peer
  // that went down with stale paths comes back under the same id: `peer` replaces its PeerInfo,
  // and its stale paths stay until refreshed, end_of_rib() or purge_stale().
  void peer_up(const PeerInfo& peer);
  // The session is gone and its output is dropped. The paths of the families in `retain` stay
  // in Adj-RIB-In/Loc-RIB marked stale (RFC 4724 §4.2: the peer restarts gracefully) and keep
  // being used and advertised like any other; the paths of the other families leave now
  // (flush() propagates). Paths that were still stale from an earlier restart are removed
  // ("a route previously marked as stale MUST be deleted"). The peer's PeerInfo stays valid
  // until its last stale path is gone.
  void peer_down(PeerId peer, std::span<const Family> retain = {});
  // RFC 4724 §4.2: the restarted peer's End-of-RIB for `family` removes its paths of that family
  // that it did not send again. Returns how many went.
  size_t end_of_rib(PeerId peer, Family family);
  // Removes the peer's remaining stale paths (restart timer or stale-path timer expired, or the
  // new OPEN lacks graceful restart, the family or its F bit). Returns how many went.
  size_t purge_stale(PeerId peer);
  size_t purge_stale(PeerId peer, Family family);
  // RFC 9494: the Restart Time ran out and the peer's family has a Long-lived Stale Time. Its
  // stale paths get the LLGR_STALE community (so that they are least preferred, and go only to
  // peers that sent the LLGR capability) and stay stale until refreshed, end_of_rib() or
  // purge_stale(); those with NO_LLGR go now.
  struct LongLivedStale {
    size_t kept = 0;
    size_t removed = 0;
  };
  LongLivedStale enter_long_lived_stale(PeerId peer, Family family);
  // Prefixes of the family in the peer's Adj-RIB-In (accepted or not, stale included): what a
  // maximum-prefix limit counts (RFC 4486).
  uint64_t received(PeerId peer, Family family) const;
  // Stale paths of the peer (of one family), for logs and tests.
  size_t stale_count(PeerId peer) const;
  size_t stale_count(PeerId peer, Family family) const;
  // ROUTE-REFRESH received (RFC 2918 §4): the family's Adj-RIB-Out is queued again.
  void refresh(PeerId peer, Family family);

  // ---- Input (from decoded UPDATEs) ----
  void update(PeerId peer, Family family, std::span<const Prefix> nlri,
              const PathAttributes& attrs);
  void withdraw(PeerId peer, Family family, std::span<const Prefix> withdrawn);
  // A whole decoded UPDATE (after RFC 7606 handling: treat-as-withdraw has already moved its
  // NLRI to the withdrawn lists): withdrawals first, then announcements, each family through
  // withdraw()/update(). End-of-RIB is the speaker's business (end_of_rib_family()).
  void apply(PeerId peer, const Update& update);
  // L2VPN EVPN (RFC 7432): routes keyed by evpn_key(); the fields outside the key (labels, ESI,
  // gateway) are kept per path in PathAttributes::evpn_nlri. Routes of unknown type have no key
  // and are skipped (RFC 7606 §5.4). Import and export policies see the attributes and a default
  // Prefix: prefix-list terms do not apply to EVPN routes.
  void update_evpn(PeerId peer, std::span<const EvpnRoute> routes, const PathAttributes& attrs);
  void withdraw_evpn(PeerId peer, std::span<const EvpnRoute> routes);
  // Locally originated routes (peer 0). A next hop of 0.0.0.0 or :: means "this speaker" and is
  // filled per peer on export.
  void originate(Family family, const Prefix& prefix, const PathAttributes& attrs);
  void withdraw_originated(Family family, const Prefix& prefix);
  // A route imported from another table (kImportedPeer): one path per prefix, which replaces the
  // previous one. A next hop of 0.0.0.0 or :: is filled per peer on export, as for originate().
  void import(Family family, const Prefix& prefix, const PathAttributes& attrs);
  void withdraw_imported(Family family, const Prefix& prefix);
  // A locally originated EVPN route (peer 0); its non-key NLRI fields go with the attributes.
  void originate_evpn(const EvpnRoute& route, const PathAttributes& attrs);
  void withdraw_originated_evpn(const EvpnRoute& route);
  // IPv4 RT-constraint (RFC 4684): route target membership routes, keyed by rtc_key(). What a
  // peer sends is its filter for the L2VPN EVPN routes we send it, when the session negotiated
  // both families (rt_filter()); such a peer is an update group of its own, and its EVPN
  // End-of-RIB waits for its RT-constraint End-of-RIB (RFC 4684 §6), or release_end_of_rib().
  // To route-reflector clients memberships go as our own (RFC 4684 §3.2, export.h), also back
  // to the client they came from: a client sends us the routes of a route target only when it
  // holds a membership for it from us.
  void update_rtc(PeerId peer, std::span<const RtMembership> routes, const PathAttributes& attrs);
  void withdraw_rtc(PeerId peer, std::span<const RtMembership> routes);
  void originate_rtc(const RtMembership& route, const PathAttributes& attrs);
  void withdraw_originated_rtc(const RtMembership& route);
  // Sends the EVPN End-of-RIB held back for the peer's RT-constraint End-of-RIB (the speaker's
  // timer ran out). Returns false when none was held back.
  bool release_end_of_rib(PeerId peer);

  // RFC 4724 §4.1: a restarting speaker defers its End-of-RIBs until its own routes are complete
  // (End-of-RIB from every peer, or the selection deferral timer). While held, a peer that comes
  // up gets its routes at once (they refresh what it kept as stale) but no End-of-RIB, which
  // would make it drop the routes we have not relearned yet; releasing sends every End-of-RIB
  // held back.
  void hold_end_of_rib(bool hold);

  // After each batch of input: best paths of changed prefixes, changes to the update groups.
  void flush();

  // ---- Output (pulled) ----
  // May be true although take_output() then finds nothing (changes that cancelled out).
  bool has_output(PeerId peer) const;
  // Appends whole BGP messages for `peer` to `out`, up to max_bytes (at least one message if
  // any is waiting, so a small budget still makes progress). Returns the bytes appended.
  size_t take_output(PeerId peer, std::vector<uint8_t>& out, size_t max_bytes);

  // ---- Introspection (rib_show.cc) ----
  // Every prefix of a family with its paths, in no particular order.
  void for_each_route(
      Family family, const std::function<void(const Prefix&, std::span<const PathView>)>& fn) const;
  std::vector<PathView> lookup(Family family, const Prefix& prefix) const;
  // Every EVPN route with its paths; each path's full NLRI is evpn_route(key, *attrs->evpn_nlri).
  void for_each_evpn_route(
      const std::function<void(std::span<const uint8_t> key, std::span<const PathView>)>& fn) const;
  // Every RT-constraint route with its paths.
  void for_each_rtc_route(
      const std::function<void(const RtMembership&, std::span<const PathView>)>& fn) const;
  // The filter of the EVPN routes sent to the peer; nullptr when its session is not constrained.
  const RtFilter* rt_filter(PeerId peer) const;
  std::optional<PeerCounters> counters(PeerId peer) const;
  RibStats stats() const;
  const RibConfig& config() const { return config_; }
  // The Loc-RIB consumer of EVPN routes (RibConfig::best_evpn_changed), for a consumer made after
  // the Rib (the EVPN service of the daemon). Set it before the first flush() that matters: it
  // sees changes from then on.
  void set_best_changed(std::function<void(Family, const Prefix&, const Path* best)> fn) {
    config_.best_changed = std::move(fn);
  }
  void set_best_evpn_changed(
      std::function<void(std::span<const uint8_t> key, const Path* best)> fn) {
    config_.best_evpn_changed = std::move(fn);
  }

 private:
  // RFC 4724 §4.2: the routes of one family whose path from a restarting peer is stale. A
  // sorted array of RouteIds (4 bytes a route) that exists only while a restart is in progress;
  // a route the peer sends again is marked refreshed in the parallel bit vector. An id stays
  // valid while it is stale: the stale path keeps the route in the table.
  struct StaleSet {
    std::vector<RouteId> ids;  // sorted
    std::vector<bool> refreshed;
    size_t remaining = 0;  // routes not refreshed
    bool contains(RouteId id) const;
    void refresh(RouteId id);
  };
  struct PeerState {
    PeerInfo info;
    UpdateGroup* group = nullptr;  // nullptr: the session is down, stale paths remain
    Cursor cursor;
    PeerCounters counters;
    std::map<Family, StaleSet> stale;  // empty unless a graceful restart is in progress
    // RFC 4684: the route targets the peer imports (its accepted membership routes), the filter
    // of the EVPN routes sent to it when `rt_constrained`.
    RtFilter rt_filter;
    bool rt_constrained = false;
    bool rt_filter_changed = false;    // queued in rt_changed_
    bool evpn_eor_held = false;        // EVPN End-of-RIB waits for its RT-constraint End-of-RIB
    std::vector<Family> eor_deferred;  // End-of-RIBs waiting for hold_end_of_rib(false)
  };
  // The best path of a prefix before its first change since the last flush(). An entry waiting
  // here (RouteEntry::changed()) is never erased, so `id` stays valid.
  struct Change {
    RouteId id = kNoRoute;
    PeerId old_peer = kLocalPeer;
    AttrRef old_attrs;
    bool had_best = false;
  };
  struct Table {
    explicit Table(Family f)
        : family(f),
          routes(f.afi == Afi::L2vpn || f.safi == Safi::RouteTarget ? KeyKind::Bytes
                 : f.afi == Afi::Ipv6                               ? KeyKind::Ipv6
                                                                    : KeyKind::Ipv4) {}
    Family family;
    RouteTable routes;
    std::vector<Change> changed;
    std::vector<GroupFamily*> groups;  // the update groups that export this family
  };

  // rib.cc: import and decision.
  Table& table(Family family) { return tables_.try_emplace(family, family).first->second; }
  const Table* find_table(Family family) const;
  PeerState* find_peer(PeerId peer);
  const PeerState* find_peer(PeerId peer) const;
  bool import_loop(const PeerInfo& peer, const PathAttributes& attrs) const;
  // The attributes of an UPDATE as imported before any policy: empty when the whole UPDATE is
  // rejected (loop, RFC 8212), LOCAL_PREF dropped from external peers.
  AttrRef import_base(const PeerInfo& peer, const PathAttributes& attrs);
  // The import policy applied to `base` (empty: rejected).
  AttrRef import_policy(const PeerInfo& peer, const PolicyRoute& route, const AttrRef& base);
  void note_change(Table& t, RouteId id);
  // A path of the peer's in the RT-constraint table became accepted or went (`added`).
  void rt_membership_changed(const Table& t, RouteId id, PeerId peer, bool added);
  // The EVPN routes of the peers whose filter changed are exported to them again.
  void refilter();
  void send_evpn_end_of_rib(PeerState& ps);
  void set_path(Table& t, RouteId id, PeerId peer, FamilyCounters* c, AttrRef attrs);
  // Returns false when the peer had no path for the prefix.
  bool remove_path(Table& t, RouteId id, PeerId peer, FamilyCounters* c);
  bool remove_path(Table& t, const Prefix& prefix, PeerId peer, FamilyCounters* c);
  // Erases the route when it has no paths, waits for no decision, and no update group has it
  // pending or advertised: only then may its RouteId name another prefix.
  void release_if_unused(Table& t, RouteId id);
  Candidate candidate(const Path& p) const;
  void decide(Family family, Table& t);
  size_t purge(PeerState& ps, Family family);
  // A down peer whose last stale path went is forgotten.
  void forget_if_gone(PeerId peer);
  bool is_stale(PeerId peer, Family family, RouteId id) const;
  void unmark_stale(PeerState& ps, Family family, RouteId id);
  // rib_show.cc
  void for_each_keyed_route(
      Family family,
      const std::function<void(std::span<const uint8_t>, std::span<const PathView>)>& fn) const;
  void views(Family family, RouteId id, const RouteEntry& e, std::vector<PathView>& out) const;

  // rib_out.cc: update groups, export, encoding, output.
  UpdateGroup& join_group(const PeerInfo& peer, bool& created);
  void leave_group(PeerState& ps);
  // A restarted peer rejoining an existing group: routes it is the source of are excluded.
  void exclude_own_routes(UpdateGroup& g, PeerId peer);
  bool in_group(const UpdateGroup& g, PeerId peer) const;
  void encode_pending(UpdateGroup& g);
  AttrRef export_route(UpdateGroup& g, Family family, const PolicyRoute& route, const Path& best);
  // Whether route `id` of `t` with the exported attributes `attrs` fits an UPDATE of the group's
  // sessions; `room` caches encode room by attribute set for one encode_pending() run.
  bool fits(const UpdateGroup& g, const Table& t, RouteId id, const AttrRef& attrs,
            std::unordered_map<const void*, size_t>& room) const;
  // A route of `family` did not fit: counted for every member, logged for each once.
  void note_too_large(const UpdateGroup& g, Family family, const Table& t, RouteId id);
  // `n` more routes not sent to the peer for their size; the first one logged (`route`).
  static void count_too_large(PeerState& ps, uint64_t n, Family family, const std::string& route);
  void dump(UpdateGroup& g, Family family, PeerId peer);
  void push_chunk(UpdateGroup& g, Chunk chunk);
  // Appends whole messages of `c` from the cursor within the budget; false when it ran out.
  static bool take_messages(const Chunk& c, Cursor& cur, size_t max_bytes, size_t& written,
                            std::vector<uint8_t>& out, PeerState& ps);
  void trim(UpdateGroup& g);
  // Octets queued in the member's group that it has not read.
  static uint64_t lag(const UpdateGroup& g, const PeerState& ps);
  // The member leaves `g` for a group of its own that continues where it is.
  void split_out(UpdateGroup& g, PeerState& ps);
  // Split groups whose member caught up go back to their group (or become it, when it is gone).
  void merge_caught_up();
  bool merge(UpdateGroup& split, PeerState& ps);
  void remove_group(UpdateGroup& g);

  AttrStore store_;  // first: destroyed last, after every AttrRef
  RibConfig config_;
  UpdateEncoder* encoder_;
  std::map<Family, Table> tables_;
  std::unordered_map<PeerId, PeerState> peers_;
  std::vector<std::unique_ptr<UpdateGroup>> groups_;
  uint32_t next_group_id_ = 1;
  size_t split_groups_ = 0;  // groups with `split` set
  uint64_t members_split_ = 0;
  uint64_t members_merged_ = 0;
  std::vector<PeerId> rt_changed_;  // peers whose rt_filter changed since the last flush()
  std::vector<Candidate> scratch_candidates_;
  std::vector<uint16_t> scratch_index_;
  PathAttributes scratch_attrs_;
  bool hold_end_of_rib_ = false;
};

}  // namespace isthmus::bgp
