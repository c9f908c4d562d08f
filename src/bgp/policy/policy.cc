// Compiling policy definitions into index-resolved tables, and evaluating them per route.
#include "bgp/policy/policy.h"

#include <algorithm>
#include <unordered_map>

#include "bgp/wire/ext_community.h"

namespace isthmus::bgp::policy {

namespace detail {

// A set of community values split by kind and sorted, for binary search per route community.
struct CommunitySet {
  std::vector<Community> standard;
  std::vector<LargeCommunity> large;
  std::vector<ExtCommunity> ext;
  bool match_all = false;

  bool empty() const { return standard.empty() && large.empty() && ext.empty(); }
};

struct CompiledPrefixEntry {
  Prefix prefix;
  uint8_t min_len = 0, max_len = 0;
  bool permit = true;
};

struct Tables {
  std::vector<std::vector<CompiledPrefixEntry>> prefix_lists;
  std::vector<CommunitySet> community_lists;
};

inline constexpr uint32_t kNone = UINT32_MAX;

struct CompiledTerm {
  // Match
  uint32_t prefix_list = kNone;
  uint32_t community_list = kNone;
  CommunitySet inline_communities;
  std::optional<uint32_t> as_path_contains;
  std::optional<Origin> origin;
  std::optional<Prefix> next_hop_in;
  uint8_t evpn_route_types = 0;             // bit N: route type N (1-5)
  std::vector<uint32_t> vnis;               // sorted
  std::vector<ExtCommunity> route_targets;  // sorted
  // Set
  std::optional<uint32_t> local_pref;
  std::optional<uint32_t> med;
  bool replace_communities = false;
  std::vector<Community> set_standard;
  std::vector<LargeCommunity> set_large;
  CommunitySet remove;
  CommunitySet add;
  uint8_t prepend_count = 0;
  uint32_t prepend_asn = 0;
  std::optional<IpAddress> next_hop;
  bool next_hop_self = false;
  Verdict verdict = Verdict::Next;
};

}  // namespace detail

using detail::CommunitySet;
using detail::CompiledTerm;

namespace {

CommunitySet make_set(const std::vector<CommunityValue>& values, bool match_all) {
  CommunitySet s;
  s.match_all = match_all;
  for (const auto& v : values) {
    if (auto* c = std::get_if<Community>(&v)) s.standard.push_back(*c);
    if (auto* l = std::get_if<LargeCommunity>(&v)) s.large.push_back(*l);
    if (auto* e = std::get_if<ExtCommunity>(&v)) s.ext.push_back(*e);
  }
  auto tidy = [](auto& vec) {
    std::sort(vec.begin(), vec.end());
    vec.erase(std::unique(vec.begin(), vec.end()), vec.end());
  };
  tidy(s.standard);
  tidy(s.large);
  tidy(s.ext);
  return s;
}

template <class T>
bool any_in(const std::vector<T>& route, const std::vector<T>& sorted) {
  for (const auto& c : route)
    if (std::binary_search(sorted.begin(), sorted.end(), c)) return true;
  return false;
}

template <class T>
bool all_in(const std::vector<T>& wanted, const std::vector<T>& route) {
  for (const auto& c : wanted)
    if (std::find(route.begin(), route.end(), c) == route.end()) return false;
  return true;
}

bool matches(const CommunitySet& s, const PathAttributes& a) {
  if (s.match_all)
    return all_in(s.standard, a.communities) && all_in(s.large, a.large_communities) &&
           all_in(s.ext, a.ext_communities);
  return any_in(a.communities, s.standard) || any_in(a.large_communities, s.large) ||
         any_in(a.ext_communities, s.ext);
}

template <class T>
void remove_in(std::vector<T>& route, const std::vector<T>& sorted) {
  if (sorted.empty()) return;
  std::erase_if(route,
                [&](const T& c) { return std::binary_search(sorted.begin(), sorted.end(), c); });
}

template <class T>
void add_missing(std::vector<T>& route, const std::vector<T>& values) {
  for (const auto& c : values)
    if (std::find(route.begin(), route.end(), c) == route.end()) route.push_back(c);
}

// First matching entry decides; no match is deny.
bool prefix_list_permits(const std::vector<detail::CompiledPrefixEntry>& list, const Prefix& p) {
  for (const auto& e : list) {
    if (p.length() < e.min_len || p.length() > e.max_len) continue;
    if (!e.prefix.contains(p)) continue;
    return e.permit;
  }
  return false;
}

bool term_matches(const CompiledTerm& t, const detail::Tables& tables, const Prefix& prefix,
                  const EvpnRoute* evpn, const PathAttributes& a) {
  // A prefix list is about IP prefixes: an EVPN route (whose `prefix` is a placeholder) never
  // matches it, not even 0.0.0.0/0 le 32.
  if (t.prefix_list != detail::kNone &&
      (evpn || !prefix_list_permits(tables.prefix_lists[t.prefix_list], prefix)))
    return false;
  // EVPN terms never match an IP route.
  if (t.evpn_route_types != 0 &&
      (!evpn || evpn->type() > 5 || !(t.evpn_route_types >> evpn->type() & 1)))
    return false;
  if (!t.vnis.empty()) {
    const auto vni = evpn ? evpn_vni(*evpn, a) : std::nullopt;
    if (!vni || !std::binary_search(t.vnis.begin(), t.vnis.end(), *vni)) return false;
  }
  if (!t.route_targets.empty() && !any_in(a.ext_communities, t.route_targets)) return false;
  if (t.community_list != detail::kNone && !matches(tables.community_lists[t.community_list], a))
    return false;
  if (!t.inline_communities.empty() && !matches(t.inline_communities, a)) return false;
  if (t.as_path_contains && !a.as_path.contains(*t.as_path_contains)) return false;
  if (t.origin && a.origin != *t.origin) return false;
  if (t.next_hop_in && !t.next_hop_in->contains(a.next_hop)) return false;
  return true;
}

void run_actions(const CompiledTerm& t, PathAttributes& a) {
  if (t.replace_communities) {
    a.communities = t.set_standard;
    a.large_communities = t.set_large;
  }
  remove_in(a.communities, t.remove.standard);
  remove_in(a.large_communities, t.remove.large);
  remove_in(a.ext_communities, t.remove.ext);
  add_missing(a.communities, t.add.standard);
  add_missing(a.large_communities, t.add.large);
  add_missing(a.ext_communities, t.add.ext);
  if (t.local_pref) a.local_pref = t.local_pref;
  if (t.med) a.med = t.med;
  for (uint8_t i = 0; i < t.prepend_count; ++i) a.as_path.prepend(t.prepend_asn);
  // A new next hop makes a link-local second next hop (RFC 2545 §3) that belonged to the old one
  // meaningless.
  if (t.next_hop) {
    a.next_hop = *t.next_hop;
    a.link_local_next_hop.reset();
  }
  if (t.next_hop_self) {
    // "This speaker", resolved per session on export (bgp/rib/export.h).
    a.next_hop = a.next_hop.is_v4() ? IpAddress::v4(0u) : IpAddress::v6({});
    a.link_local_next_hop.reset();
  }
}

std::string where(const PolicyDefinition& p, size_t index, const Term& t) {
  std::string s = "policy \"" + p.name + "\" term " + std::to_string(index + 1);
  if (!t.name.empty()) s += " (\"" + t.name + "\")";
  return s;
}

}  // namespace

Expected<void> check_entry(const PrefixListEntry& e) {
  unsigned len = e.prefix.length(), max = e.prefix.max_length();
  if (e.ge && *e.ge < len)
    return fail("ge " + std::to_string(*e.ge) + " is shorter than the prefix length " +
                std::to_string(len));
  if (e.ge && *e.ge > max)
    return fail("ge " + std::to_string(*e.ge) + " is longer than " + std::to_string(max));
  if (e.le && *e.le < len)
    return fail("le " + std::to_string(*e.le) + " is shorter than the prefix length " +
                std::to_string(len));
  if (e.le && *e.le > max)
    return fail("le " + std::to_string(*e.le) + " is longer than " + std::to_string(max));
  if (e.ge && e.le && *e.ge > *e.le)
    return fail("ge " + std::to_string(*e.ge) + " is greater than le " + std::to_string(*e.le));
  return {};
}

Expected<void> check_evpn_route_type(uint64_t type) {
  if (type < 1 || type > 5)
    return fail("route type " + std::to_string(type) +
                " is not an EVPN route type (expected 1-5: 1 Ethernet A-D, 2 MAC/IP, 3 inclusive "
                "multicast, 4 Ethernet segment, 5 IP prefix)");
  return {};
}

Expected<void> check_vni(uint64_t vni) {
  if (vni > kMaxLabelField)
    return fail("VNI " + std::to_string(vni) + " does not fit 24 bits (expected 0..16777215)");
  return {};
}

std::optional<size_t> next_hop_self_term(const PolicyDefinition& p) {
  for (size_t i = 0; i < p.terms.size(); ++i)
    if (p.terms[i].set.next_hop_self) return i;
  return std::nullopt;
}

std::optional<Origin> parse_origin(std::string_view text) {
  if (text == "igp") return Origin::Igp;
  if (text == "egp") return Origin::Egp;
  if (text == "incomplete") return Origin::Incomplete;
  return std::nullopt;
}

Policy::Policy(std::string name, std::shared_ptr<const detail::Tables> tables,
               std::vector<detail::CompiledTerm> terms, bool accept_at_end)
    : name_(std::move(name)),
      tables_(std::move(tables)),
      terms_(std::move(terms)),
      accept_at_end_(accept_at_end) {
  for (const auto& t : terms_) {
    if (t.prefix_list != detail::kNone || t.evpn_route_types != 0 || !t.vnis.empty())
      uses_prefix_ = true;
    if (t.next_hop_self) sets_next_hop_self_ = true;
  }
}
Policy::~Policy() = default;
Policy::Policy(Policy&&) noexcept = default;
Policy& Policy::operator=(Policy&&) noexcept = default;

bool Policy::apply(const Prefix& prefix, PathAttributes& attrs, const EvpnRoute* evpn) const {
  for (const auto& t : terms_) {
    if (!term_matches(t, *tables_, prefix, evpn, attrs)) continue;
    run_actions(t, attrs);
    if (t.verdict == Verdict::Accept) return true;
    if (t.verdict == Verdict::Reject) return false;
  }
  return accept_at_end_;
}

PolicySet::PolicySet() {
  auto empty = std::make_shared<const detail::Tables>();
  policies_.push_back(std::make_shared<const Policy>(std::string(kAcceptAll), empty,
                                                     std::vector<CompiledTerm>{}, true));
  policies_.push_back(std::make_shared<const Policy>(std::string(kRejectAll), empty,
                                                     std::vector<CompiledTerm>{}, false));
}

std::shared_ptr<const Policy> PolicySet::find(std::string_view name) const {
  for (const auto& p : policies_)
    if (p->name() == name) return p;
  return nullptr;
}

std::vector<std::string> PolicySet::names() const {
  std::vector<std::string> out;
  for (const auto& p : policies_) out.push_back(p->name());
  return out;
}

Expected<PolicySet> compile(const Definitions& defs, uint32_t local_as) {
  std::vector<std::string> errors;
  auto tables = std::make_shared<detail::Tables>();
  std::unordered_map<std::string, uint32_t> prefix_index, community_index;

  for (const auto& pl : defs.prefix_lists) {
    if (!prefix_index.emplace(pl.name, static_cast<uint32_t>(tables->prefix_lists.size())).second)
      errors.push_back("prefix list \"" + pl.name + "\" is defined twice");
    std::vector<detail::CompiledPrefixEntry> entries;
    for (size_t i = 0; i < pl.entries.size(); ++i) {
      const auto& e = pl.entries[i];
      if (auto ok = check_entry(e); !ok)
        errors.push_back("prefix list \"" + pl.name + "\" entry " + std::to_string(i + 1) + " (" +
                         e.prefix.to_string() + "): " + ok.error().message);
      uint8_t len = e.prefix.length();
      uint8_t min = e.ge.value_or(len);
      uint8_t max = e.le.value_or(e.ge ? e.prefix.max_length() : len);
      entries.push_back({e.prefix, min, max, e.action == ListAction::Permit});
    }
    tables->prefix_lists.push_back(std::move(entries));
  }

  for (const auto& cl : defs.community_lists) {
    if (!community_index.emplace(cl.name, static_cast<uint32_t>(tables->community_lists.size()))
             .second)
      errors.push_back("community list \"" + cl.name + "\" is defined twice");
    if (cl.members.empty()) errors.push_back("community list \"" + cl.name + "\" is empty");
    tables->community_lists.push_back(make_set(cl.members, cl.match_all));
  }

  PolicySet set;
  for (const auto& pd : defs.policies) {
    if (set.find(pd.name)) {
      errors.push_back(pd.name == kAcceptAll || pd.name == kRejectAll
                           ? "policy \"" + pd.name + "\" is built in and cannot be redefined"
                           : "policy \"" + pd.name + "\" is defined twice");
      continue;
    }
    std::vector<CompiledTerm> terms;
    for (size_t i = 0; i < pd.terms.size(); ++i) {
      const Term& t = pd.terms[i];
      CompiledTerm c;
      const Match& m = t.match;
      if (!m.prefix_list.empty()) {
        auto it = prefix_index.find(m.prefix_list);
        if (it == prefix_index.end())
          errors.push_back(where(pd, i, t) + ": no prefix list named \"" + m.prefix_list + "\"");
        else
          c.prefix_list = it->second;
      }
      if (!m.community_list.empty()) {
        auto it = community_index.find(m.community_list);
        if (it == community_index.end())
          errors.push_back(where(pd, i, t) + ": no community list named \"" + m.community_list +
                           "\"");
        else
          c.community_list = it->second;
      }
      c.inline_communities = make_set(m.communities, false);
      c.as_path_contains = m.as_path_contains;
      c.origin = m.origin;
      c.next_hop_in = m.next_hop;
      for (uint8_t type : m.evpn_route_types) {
        if (auto ok = check_evpn_route_type(type); !ok)
          errors.push_back(where(pd, i, t) + ": " + ok.error().message);
        else
          c.evpn_route_types |= static_cast<uint8_t>(1u << type);
      }
      for (uint32_t vni : m.vnis) {
        if (auto ok = check_vni(vni); !ok)
          errors.push_back(where(pd, i, t) + ": " + ok.error().message);
        else
          c.vnis.push_back(vni);
      }
      std::sort(c.vnis.begin(), c.vnis.end());
      c.vnis.erase(std::unique(c.vnis.begin(), c.vnis.end()), c.vnis.end());
      for (const auto& rt : m.route_targets) {
        if (!is_route_target(rt))
          errors.push_back(where(pd, i, t) + ": " + rt.to_string() + " is not a route target");
        else
          c.route_targets.push_back(rt);
      }
      std::sort(c.route_targets.begin(), c.route_targets.end());
      c.route_targets.erase(std::unique(c.route_targets.begin(), c.route_targets.end()),
                            c.route_targets.end());

      const Set& s = t.set;
      c.local_pref = s.local_pref;
      c.med = s.med;
      if (s.communities) {
        c.replace_communities = true;
        auto replacement = make_set(*s.communities, false);
        if (!replacement.ext.empty())
          errors.push_back(where(pd, i, t) +
                           ": set communities cannot replace extended communities (route "
                           "targets); use add_communities / remove_communities for them");
        // Keep the order the user wrote, without duplicates.
        for (const auto& v : *s.communities) {
          if (auto* sc = std::get_if<Community>(&v)) add_missing(c.set_standard, {*sc});
          if (auto* lc = std::get_if<LargeCommunity>(&v)) add_missing(c.set_large, {*lc});
        }
      }
      c.remove = make_set(s.remove_communities, false);
      // Additions keep the order written.
      for (const auto& v : s.add_communities) {
        if (auto* sc = std::get_if<Community>(&v)) add_missing(c.add.standard, {*sc});
        if (auto* lc = std::get_if<LargeCommunity>(&v)) add_missing(c.add.large, {*lc});
        if (auto* ec = std::get_if<ExtCommunity>(&v)) add_missing(c.add.ext, {*ec});
      }
      c.prepend_count = s.prepend_count;
      c.prepend_asn = s.prepend_asn.value_or(local_as);
      if (s.prepend_count > 0 && c.prepend_asn == 0)
        errors.push_back(where(pd, i, t) + ": prepend needs an AS number (no local AS known)");
      if (s.next_hop && s.next_hop_self)
        errors.push_back(where(pd, i, t) + ": next_hop cannot be both an address and self");
      c.next_hop = s.next_hop;
      c.next_hop_self = s.next_hop_self;
      c.verdict = t.verdict;
      terms.push_back(std::move(c));
    }
    set.policies_.push_back(
        std::make_shared<const Policy>(pd.name, tables, std::move(terms), false));
  }

  if (!errors.empty()) {
    std::string joined;
    for (const auto& e : errors) joined += (joined.empty() ? "" : "\n") + e;
    return fail(joined);
  }
  return set;
}

}  // namespace isthmus::bgp::policy
