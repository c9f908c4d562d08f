// Routing policy: prefix lists, community lists and policies made of ordered terms, evaluated
// on import (Adj-RIB-In -> Loc-RIB) and export (Loc-RIB -> Adj-RIB-Out).
// Definitions are plain data (filled by src/config); compile() checks them and resolves every
// name to an index, so that apply() does no string work and no allocation beyond what the
// actions themselves need.
// Covers: RFC 1997 / RFC 8092 / RFC 4360 community matching and setting, AS_PATH prepending
// (RFC 4271 §5.1.2), LOCAL_PREF, MULTI_EXIT_DISC, NEXT_HOP. RFC 8212 (no policy on an eBGP
// session means no routes) is decided by the config, which then names `reject-all`. EVPN routes
// (RFC 7432, RFC 9136) are matched by route type, VNI (RFC 8365 §5.1.3) and route target.
// Gaps: AS-path regular expressions, matching on route-distinguisher, ESI, MAC or the IP prefix
// of an EVPN route, route-target constraint (RFC 4684).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bgp/policy/community.h"
#include "bgp/wire/types.h"
#include "core/expected.h"
#include "core/ip.h"

namespace isthmus::bgp::policy {

// Names of the policies every PolicySet has; they cannot be redefined.
inline constexpr std::string_view kAcceptAll = "accept-all";
inline constexpr std::string_view kRejectAll = "reject-all";

// ---- Definitions: what a user wrote ------------------------------------------------------------

enum class ListAction : uint8_t { Permit, Deny };

// A prefix matches an entry when it lies inside `prefix` and its length is in [ge, le]. Without
// ge and le only `prefix` itself matches; with ge only the range is [ge, max]; with le only
// [prefix length, le]. The first matching entry decides; no match at all counts as deny.
struct PrefixListEntry {
  Prefix prefix;
  std::optional<uint8_t> ge;
  std::optional<uint8_t> le;
  ListAction action = ListAction::Permit;
};

struct PrefixList {
  std::string name;
  std::vector<PrefixListEntry> entries;
};

// Matches a route carrying any of `members` (or all of them with match_all).
struct CommunityList {
  std::string name;
  std::vector<CommunityValue> members;
  bool match_all = false;
};

// Every condition given must hold; an empty Match matches every route. Conditions on the IP
// prefix (prefix_list) never match an EVPN route; conditions on the EVPN route (evpn_route_types,
// vnis) never match a route of another family. The others look at attributes only and apply to
// every family.
struct Match {
  std::string prefix_list;                   // a PrefixList name; the list must permit the prefix
  std::string community_list;                // a CommunityList name
  std::vector<CommunityValue> communities;   // inline: the route carries any of these
  std::optional<uint32_t> as_path_contains;  // the ASN appears anywhere in AS_PATH
  std::optional<Origin> origin;
  std::optional<Prefix> next_hop;  // the next hop lies inside this prefix
  // EVPN: the route is of one of these types (1-5).
  std::vector<uint8_t> evpn_route_types;
  // EVPN: the route's VNI (bgp::evpn_vni: the label of types 1, 2 and 5, the PMSI_TUNNEL label of
  // type 3; a type-4 route has none and never matches) is one of these (24 bits).
  std::vector<uint32_t> vnis;
  // The route carries any of these Route Target extended communities (RFC 4360 §4, RFC 5668).
  std::vector<ExtCommunity> route_targets;
};

// Actions on the attributes, applied in this order: communities (set, then remove, then add),
// local_pref, med, prepend, next hop.
struct Set {
  std::optional<uint32_t> local_pref;
  std::optional<uint32_t> med;
  // Replaces all standard and large communities. Extended communities (route targets drive EVPN
  // import) are never replaced wholesale: use add/remove for them.
  std::optional<std::vector<CommunityValue>> communities;
  std::vector<CommunityValue> add_communities;     // added once each, any kind
  std::vector<CommunityValue> remove_communities;  // any kind
  uint8_t prepend_count = 0;                       // prepend this many times
  std::optional<uint32_t> prepend_asn;             // default: the local AS given to compile()
  std::optional<IpAddress> next_hop;
  // `next_hop: self`: the next hop becomes the unspecified address of its family (0.0.0.0 or ::);
  // on export the RIB replaces that with our own address on the session the route goes to
  // (resolve_self_next_hop, bgp/rib/export.h). Meaningless on import: the configuration refuses
  // a policy with it as an import policy.
  bool next_hop_self = false;
};

// What a matching term does after its Set: nothing more (go on to the next term), or decide.
enum class Verdict : uint8_t { Next, Accept, Reject };

struct Term {
  std::string name;  // for humans and errors only; may be empty
  Match match;
  Set set;
  Verdict verdict = Verdict::Next;
};

// Terms are tried in order. A route that falls off the end is rejected.
struct PolicyDefinition {
  std::string name;
  std::vector<Term> terms;
};

struct Definitions {
  std::vector<PrefixList> prefix_lists;
  std::vector<CommunityList> community_lists;
  std::vector<PolicyDefinition> policies;
};

// Checks one prefix-list entry: prefix length <= ge <= le <= max length. The error reads like
// "ge 8 is shorter than the prefix length 10" for a caller to prefix with its location.
Expected<void> check_entry(const PrefixListEntry& e);

// Checks an EVPN route type (1-5) and a VNI (24 bits). Errors read like "route type 6 is not an
// EVPN route type (expected 1-5)".
Expected<void> check_evpn_route_type(uint64_t type);
Expected<void> check_vni(uint64_t vni);

// "igp", "egp", "incomplete".
std::optional<Origin> parse_origin(std::string_view text);

// The index of the first term that sets `next_hop: self`, if any (such a policy can only be an
// export policy).
std::optional<size_t> next_hop_self_term(const PolicyDefinition& p);

// ---- Compiled form -----------------------------------------------------------------------------

namespace detail {
struct Tables;
struct CompiledTerm;
}  // namespace detail

// Immutable once compiled: one Policy may be applied from several threads at once.
class Policy {
 public:
  const std::string& name() const { return name_; }
  // True: accept the route, with `attrs` possibly changed. False: reject; `attrs` may then have
  // been partly changed, so apply a policy to a copy when the original must be kept. `evpn` is
  // the route when it is an EVPN route (its fields outside the key are those of this path;
  // `prefix` is then unused), nullptr for an IP route.
  bool apply(const Prefix& prefix, PathAttributes& attrs, const EvpnRoute* evpn = nullptr) const;
  // Whether the outcome can depend on the route itself: its prefix (a prefix-list match) or its
  // EVPN route type and VNI. When it cannot, callers evaluate the policy once per attribute set
  // instead of once per route.
  bool uses_prefix() const { return uses_prefix_; }
  // Whether a term sets `next_hop: self` (an export-only action).
  bool sets_next_hop_self() const { return sets_next_hop_self_; }

  Policy(std::string name, std::shared_ptr<const detail::Tables> tables,
         std::vector<detail::CompiledTerm> terms, bool accept_at_end);
  ~Policy();
  Policy(Policy&&) noexcept;
  Policy& operator=(Policy&&) noexcept;

 private:
  std::string name_;
  std::shared_ptr<const detail::Tables> tables_;
  std::vector<detail::CompiledTerm> terms_;
  bool accept_at_end_ = false;
  bool uses_prefix_ = false;
  bool sets_next_hop_self_ = false;
};

// The compiled policies of one configuration, built-ins included. Sessions keep the
// shared_ptr they looked up, so a reload can build a new set while old sessions finish.
class PolicySet {
 public:
  PolicySet();
  // nullptr when there is no policy of that name.
  std::shared_ptr<const Policy> find(std::string_view name) const;
  // Every name, built-ins first, then in definition order.
  std::vector<std::string> names() const;

 private:
  friend Expected<PolicySet> compile(const Definitions& defs, uint32_t local_as);
  std::vector<std::shared_ptr<const Policy>> policies_;
};

// Checks the definitions and resolves names. `local_as` is prepended when a term gives no ASN.
// All problems are reported, one per line.
Expected<PolicySet> compile(const Definitions& defs, uint32_t local_as);

}  // namespace isthmus::bgp::policy
