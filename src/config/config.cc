// YAML -> Config. Every problem is reported with file, line, field path, the offending value and
// what is expected; parsing goes on after an error so that one run shows them all.
// yaml-cpp throws on syntax errors; that is caught here and turned into an error value.
#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "bgp/wire/ext_community.h"

namespace isthmus::config {

namespace {

namespace policy = bgp::policy;

// Families the speaker implements, in the order error messages list them.
constexpr std::string_view kSupportedFamilies[] = {"ipv4-unicast", "ipv6-unicast", "l2vpn-evpn",
                                                   "ipv4-rtc"};

constexpr uint32_t kAsTrans = 23456;  // RFC 6793 §9
constexpr size_t kMaxPasswordLength = 80;

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
// neighbouring characters each cost 1 ("cuont" is 1 away from "count").
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// " (did you mean \"x\"?)" for a near miss among `known`, else " (expected one of: a, b)"
// (or `none` when there is nothing to choose from).
std::string suggest(std::string_view wrong, const std::vector<std::string>& known,
                    std::string_view list_intro, std::string_view none = {}) {
  // Only near misses: one edit for short words, two for longer ones.
  size_t best_distance = wrong.size() >= 5 ? 3 : 2;
  const std::string* best = nullptr;
  for (const auto& k : known) {
    size_t d = edit_distance(wrong, k);
    if (d < best_distance) {
      best_distance = d;
      best = &k;
    }
  }
  if (best) return " (did you mean \"" + *best + "\"?)";
  if (known.empty()) return std::string(none);
  std::string out = " (" + std::string(list_intro) + ": ";
  for (size_t i = 0; i < known.size(); ++i) out += (i ? ", " : "") + known[i];
  return out + ")";
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// How a value is shown in a message: numbers bare, other text quoted, structures by kind.
std::string show(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return all_digits(n.Scalar()) ? n.Scalar() : "\"" + n.Scalar() + "\"";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "an empty value";
  }
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

std::string index_path(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string key_path(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

class Parser {
 public:
  explicit Parser(std::string_view source) : source_(source) {}

  using Handler = std::function<void(const YAML::Node&, const std::string&)>;
  struct Field {
    std::string_view key;
    Handler handle;
    // A key that no longer exists: the error says what to write instead (no handler).
    const char* removed = nullptr;
  };

  Expected<Config> run(std::string_view yaml);

 private:
  // ---- Messages ----
  std::string at(const YAML::Node& n) const {
    return source_ + ":" + std::to_string(n.Mark().line + 1);
  }
  void error(const YAML::Node& n, const std::string& path, const std::string& msg) {
    errors_.push_back({n.Mark().line, at(n) + ": " + (path.empty() ? "" : path + ": ") + msg});
  }
  void warn(const YAML::Node& n, const std::string& path, const std::string& msg) {
    warnings_.push_back({n.Mark().line, at(n) + ": " + (path.empty() ? "" : path + ": ") + msg});
  }

  // ---- Structure ----
  bool expect_map(const YAML::Node& n, const std::string& path) {
    if (n.IsMap()) return true;
    error(n, path, "expected a mapping (key: value), got " + show(n));
    return false;
  }
  bool expect_list(const YAML::Node& n, const std::string& path) {
    if (n.IsSequence()) return true;
    error(n, path, "expected a list, got " + show(n));
    return false;
  }
  // Hands each key of a mapping to its field's handler; unknown and repeated keys are errors.
  void fields(const YAML::Node& map, const std::string& path, const std::vector<Field>& known);
  void agent(const YAML::Node& n, const std::string& path);
  void network(const YAML::Node& n, const std::string& path);
  // Network and VRF names (`what`: "a network", "a VRF"): one rule for both.
  std::optional<std::string> name(const YAML::Node& n, const std::string& path, const char* what);
  std::optional<Prefix> subnet(const YAML::Node& n, const std::string& path, bool v6);
  std::vector<Prefix> pool(const YAML::Node& n, const std::string& path);
  // After the subnet and gateway: checks `pool` (or `pool6`) against them, or defaults it to
  // the whole subnet when not `given`.
  void check_pool(const YAML::Node& n, const std::string& path, const char* key,
                  const std::optional<Prefix>& sub, const std::optional<IpAddress>& gw,
                  std::vector<Prefix>& pool, bool given);
  // The keys MAC-VRFs and VRFs share: rd, import_rts, export_rts.
  template <typename V>
  std::vector<Field> rd_rt_fields(V& m);
  // Reports every key of `required` that `map` lacks.
  bool require(const YAML::Node& map, const std::string& path,
               std::initializer_list<std::string_view> required) {
    bool ok = true;
    for (auto key : required) {
      if (map[std::string(key)]) continue;
      error(map, path, "missing required key \"" + std::string(key) + "\"");
      ok = false;
    }
    return ok;
  }

  // ---- Scalars; each reports its own error and returns nullopt ----
  std::optional<std::string> text(const YAML::Node& n, const std::string& path) {
    if (n.IsScalar()) return n.Scalar();
    error(n, path, "expected text, got " + show(n));
    return std::nullopt;
  }
  std::optional<uint64_t> number(const YAML::Node& n, const std::string& path, uint64_t lo,
                                 uint64_t hi, std::string_view what,
                                 std::string_view expected = {});
  std::optional<uint32_t> asn(const YAML::Node& n, const std::string& path);
  std::optional<uint16_t> seconds(const YAML::Node& n, const std::string& path, uint16_t lo,
                                  std::string_view what);
  std::optional<bool> boolean(const YAML::Node& n, const std::string& path) {
    bool b = false;
    if (n.IsScalar() && YAML::convert<bool>::decode(n, b)) return b;
    error(n, path, show(n) + " is not true or false");
    return std::nullopt;
  }
  std::optional<IpAddress> address(const YAML::Node& n, const std::string& path) {
    auto s = text(n, path);
    if (!s) return std::nullopt;
    auto a = IpAddress::parse(*s);
    if (!a) {
      error(n, path, "\"" + *s + "\" is not an IP address");
      return std::nullopt;
    }
    return *a;
  }
  std::optional<IpAddress> ipv4(const YAML::Node& n, const std::string& path,
                                std::string_view why) {
    auto s = text(n, path);
    if (!s) return std::nullopt;
    auto a = IpAddress::parse(*s);
    if (!a || !a->is_v4()) {
      error(n, path, "\"" + *s + "\" is not an IPv4 address" + std::string(why));
      return std::nullopt;
    }
    return *a;
  }
  std::optional<Prefix> prefix(const YAML::Node& n, const std::string& path) {
    auto s = text(n, path);
    if (!s) return std::nullopt;
    auto p = Prefix::parse(*s);
    if (!p) {
      error(n, path, p.error().message);
      return std::nullopt;
    }
    return *p;
  }
  std::optional<policy::CommunityValue> community(const YAML::Node& n, const std::string& path) {
    auto s = text(n, path);
    if (!s) return std::nullopt;
    auto c = policy::parse_community(*s);
    if (!c) {
      error(n, path, c.error().message);
      return std::nullopt;
    }
    return *c;
  }
  // A list of scalars, or one scalar standing for a list of one: `vni: 100` or `vni: [100, 200]`.
  template <class F>
  void for_each_item(const YAML::Node& n, const std::string& path, std::string_view what, F f) {
    if (n.IsScalar()) {
      f(n, path);
      return;
    }
    if (!expect_list(n, path)) return;
    if (n.size() == 0)
      error(n, path, "an empty list (give at least one " + std::string(what) + ")");
    for (size_t i = 0; i < n.size(); ++i) f(n[i], index_path(path, i));
  }
  std::vector<policy::CommunityValue> communities(const YAML::Node& n, const std::string& path) {
    std::vector<policy::CommunityValue> out;
    if (!expect_list(n, path)) return out;
    for (size_t i = 0; i < n.size(); ++i)
      if (auto c = community(n[i], index_path(path, i))) out.push_back(*c);
    return out;
  }

  // ---- Sections ----
  void top(const YAML::Node& root);
  void bgp(const YAML::Node& n, const std::string& path);
  void listen(const YAML::Node& n, const std::string& path);
  // What a neighbor or range said explicitly, for defaults and checks that need bgp.asn and
  // the session defaults, which may come later in the file.
  struct PeerRaw {
    YAML::Node node;
    std::string path;
    std::optional<uint16_t> hold_time, keepalive, connect_retry;
    bool families_given = false;
    bool key_ok = false;  // the address (neighbor) or prefix (range) parsed
  };
  void peer_fields(PeerSettings& p, PeerRaw& raw, std::vector<Field>& out);
  std::optional<uint16_t> hold_time(const YAML::Node& n, const std::string& path);
  void graceful_restart(const YAML::Node& n, const std::string& path, PeerSettings& p);
  void max_prefixes(const YAML::Node& n, const std::string& path, PeerSettings& p);
  void neighbor(const YAML::Node& n, const std::string& path);
  void neighbor_range(const YAML::Node& n, const std::string& path);
  void originate(const YAML::Node& n, const std::string& path);
  void evpn(const YAML::Node& n, const std::string& path);
  void duplicate_detection(const YAML::Node& n, const std::string& path);
  void mac_vrf(const YAML::Node& n, const std::string& path);
  void vrf(const YAML::Node& n, const std::string& path);
  std::vector<bgp::ExtCommunity> route_targets(const YAML::Node& n, const std::string& path);
  void prefix_lists(const YAML::Node& n, const std::string& path);
  void community_lists(const YAML::Node& n, const std::string& path);
  void policies(const YAML::Node& n, const std::string& path);
  void term(const YAML::Node& n, const std::string& path, policy::Term& t);
  void match(const YAML::Node& n, const std::string& path, policy::Match& m);
  void then(const YAML::Node& n, const std::string& path, policy::Term& t);

  // ---- Checks that need the whole file ----
  void finish_bgp(const YAML::Node& n, const std::string& path);
  void finish_peer(PeerSettings& p, const PeerRaw& raw, IpFamily transport);
  void check_references();
  // A VRF's L3 VNI is not also an L2 VNI (evpn.vnis, networks), in whatever order the file
  // has them: reported at the VRF's l3vni.
  void check_l3vnis();
  void check_vrf_neighbors();

  std::string source_;
  Config cfg_;
  // (line, message): reported in line order, however late a check ran.
  using Messages = std::vector<std::pair<int, std::string>>;
  Messages errors_, warnings_;
  static std::vector<std::string> in_line_order(Messages m) {
    std::stable_sort(m.begin(), m.end(),
                     [](const auto& x, const auto& y) { return x.first < y.first; });
    std::vector<std::string> out;
    for (auto& [line, text] : m) out.push_back(std::move(text));
    return out;
  }
  bool bgp_keepalive_given_ = false;
  // Parallel to cfg_.bgp.neighbors / neighbor_ranges.
  std::vector<PeerRaw> neighbor_raw_, range_raw_;
  // Parallel to cfg_.vrfs: each entry's node and path.
  std::vector<std::pair<YAML::Node, std::string>> vrf_raw_;
  // Names used before their definitions may have been read; checked at the end.
  struct Reference {
    YAML::Node node;
    std::string path;
    std::string name;
    bool import = false;  // a policy named as `import:`
  };
  std::vector<Reference> policy_refs_;
  std::vector<Reference> prefix_list_refs_, community_list_refs_;
  // Per policy name: where its terms set `next_hop: self` (export-only).
  std::map<std::string, std::vector<Reference>> next_hop_self_;
  std::string current_policy_;  // the policy whose terms are being read
};

void Parser::fields(const YAML::Node& map, const std::string& path,
                    const std::vector<Field>& known) {
  if (!expect_map(map, path)) return;
  std::set<std::string> seen;
  // yaml-cpp's iterator hands out a temporary pair: copy the nodes (they are handles).
  for (auto it = map.begin(); it != map.end(); ++it) {
    YAML::Node k = it->first;
    YAML::Node value = it->second;
    if (!k.IsScalar()) {
      error(k, path, "keys must be plain words, got " + show(k));
      continue;
    }
    const std::string& key = k.Scalar();
    std::string p = key_path(path, key);
    if (!seen.insert(key).second) {
      error(k, p, "repeated key (each key may appear once)");
      continue;
    }
    const Field* f = nullptr;
    for (const auto& field : known)
      if (field.key == key) f = &field;
    if (f && f->removed) {
      error(k, p, f->removed);
      continue;
    }
    if (f && value.IsNull()) {
      // Reported at the key: an empty value's own position is wherever the next token starts.
      error(k, p, "has no value");
      continue;
    }
    if (f) {
      f->handle(value, p);
      continue;
    }
    std::vector<std::string> names;
    for (const auto& field : known)
      if (!field.removed) names.emplace_back(field.key);
    std::string msg = "unknown key" + suggest(key, names, "expected one of");
    error(k, p, msg);
  }
}

std::optional<uint64_t> Parser::number(const YAML::Node& n, const std::string& path, uint64_t lo,
                                       uint64_t hi, std::string_view what,
                                       std::string_view expected) {
  std::string range =
      expected.empty() ? std::to_string(lo) + ".." + std::to_string(hi) : std::string(expected);
  if (n.IsScalar() && all_digits(n.Scalar()) && n.Scalar().size() <= 19) {
    uint64_t v = 0;
    const std::string& s = n.Scalar();
    std::from_chars(s.data(), s.data() + s.size(), v);
    if (v >= lo && v <= hi) return v;
  }
  error(n, path, show(n) + " is not " + std::string(what) + " (expected " + range + ")");
  return std::nullopt;
}

std::optional<uint32_t> Parser::asn(const YAML::Node& n, const std::string& path) {
  auto v = number(n, path, 1, 4294967295u, "an AS number");
  if (!v) return std::nullopt;
  if (*v == kAsTrans) {
    error(n, path,
          "23456 is AS_TRANS, a placeholder for 4-octet AS numbers (RFC 6793), not a real AS");
    return std::nullopt;
  }
  return static_cast<uint32_t>(*v);
}

std::optional<uint16_t> Parser::seconds(const YAML::Node& n, const std::string& path, uint16_t lo,
                                        std::string_view what) {
  auto v = number(n, path, lo, 65535, what);
  if (!v) return std::nullopt;
  return static_cast<uint16_t>(*v);
}

Expected<Config> Parser::run(std::string_view yaml) {
  cfg_.source = source_;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return fail(source_ + ":" + std::to_string(e.mark.line + 1) + ":" +
                std::to_string(e.mark.column + 1) + ": not valid YAML: " + e.msg);
  }
  if (!root || root.IsNull()) return fail(source_ + ": the configuration is empty");
  try {
    top(root);
  } catch (const YAML::Exception& e) {
    // Every node access above checks the node's type first; this is a backstop.
    errors_.push_back(
        {e.mark.line, source_ + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg});
  }
  if (errors_.empty()) {
    // The checks above cover everything compile() checks; this is a backstop.
    auto compiled = policy::compile(cfg_.policy, cfg_.bgp.asn);
    if (!compiled) errors_.push_back({INT_MAX, source_ + ": " + compiled.error().message});
  }
  if (!errors_.empty()) return fail(join(in_line_order(std::move(errors_)), "\n"));
  cfg_.warnings = in_line_order(std::move(warnings_));
  return std::move(cfg_);
}

void Parser::top(const YAML::Node& root) {
  if (!expect_map(root, "")) return;
  fields(root, "",
         {
             {"control_socket",
              [&](auto& n, auto& p) {
                if (auto s = text(n, p)) {
                  if (s->empty() || s->size() > 107)
                    error(n, p, "a unix socket path must be 1..107 characters long");
                  else
                    cfg_.control_socket = *s;
                }
              }},
             {"log_level",
              [&](auto& n, auto& p) {
                auto s = text(n, p);
                if (!s) return;
                if (*s == "debug")
                  cfg_.log_level = log::Level::Debug;
                else if (*s == "info")
                  cfg_.log_level = log::Level::Info;
                else if (*s == "warn")
                  cfg_.log_level = log::Level::Warn;
                else if (*s == "error")
                  cfg_.log_level = log::Level::Error;
                else
                  error(n, p,
                        show(n) + " is not a log level (expected debug, info, warn or error)");
              }},
             {"bgp", [&](auto& n, auto& p) { bgp(n, p); }},
             {"evpn", [&](auto& n, auto& p) { evpn(n, p); }},
             {"agent", [&](auto& n, auto& p) { agent(n, p); }},
             {"networks",
              [&](auto& n, auto& p) {
                if (!expect_list(n, p)) return;
                for (size_t i = 0; i < n.size(); ++i) network(n[i], index_path(p, i));
              }},
             {"vrfs",
              [&](auto& n, auto& p) {
                if (!expect_list(n, p)) return;
                for (size_t i = 0; i < n.size(); ++i) vrf(n[i], index_path(p, i));
              }},
             {"prefix_lists", [&](auto& n, auto& p) { prefix_lists(n, p); }},
             {"community_lists", [&](auto& n, auto& p) { community_lists(n, p); }},
             {"policies", [&](auto& n, auto& p) { policies(n, p); }},
         });
  if (!root["bgp"]) {
    error(root, "",
          "missing required key \"bgp\" (the route reflector and the node agent both run one)");
    return;
  }
  if (root["networks"] && !root["agent"] && !cfg_.networks.empty())
    error(root["networks"], "networks",
          "networks need an agent: section (the node agent puts them in the kernel)");
  check_l3vnis();
  check_vrf_neighbors();
  check_references();
}

// ---- bgp: ----------------------------------------------------------------------------------

void Parser::bgp(const YAML::Node& n, const std::string& path) {
  fields(n, path,
         {
             {"asn",
              [&](auto& v, auto& p) {
                if (auto a = asn(v, p)) cfg_.bgp.asn = *a;
              }},
             {"router_id",
              [&](auto& v, auto& p) {
                auto a = ipv4(v, p, " (a BGP identifier is 32 bits, RFC 6286)");
                if (a && a->is_unspecified())
                  error(v, p, "0.0.0.0 is not a valid BGP identifier (RFC 6286 §2.1)");
                else if (a)
                  cfg_.bgp.router_id = *a;
              }},
             {"cluster_id",
              [&](auto& v, auto& p) {
                if (auto a = ipv4(v, p, " (a cluster ID is 32 bits, RFC 4456)"))
                  cfg_.bgp.cluster_id = *a;
              }},
             {"listen", [&](auto& v, auto& p) { listen(v, p); }},
             {"hold_time",
              [&](auto& v, auto& p) {
                if (auto h = hold_time(v, p)) cfg_.bgp.hold_time = *h;
              }},
             {"keepalive",
              [&](auto& v, auto& p) {
                bgp_keepalive_given_ = true;
                if (auto k = seconds(v, p, 0, "a keepalive interval in seconds"))
                  cfg_.bgp.keepalive = *k;
              }},
             {"connect_retry",
              [&](auto& v, auto& p) {
                if (auto c = seconds(v, p, 1, "a retry interval in seconds"))
                  cfg_.bgp.connect_retry = *c;
              }},
             {"neighbors",
              [&](auto& v, auto& p) {
                if (!expect_list(v, p)) return;
                for (size_t i = 0; i < v.size(); ++i) neighbor(v[i], index_path(p, i));
              }},
             {"neighbor_ranges",
              [&](auto& v, auto& p) {
                if (!expect_list(v, p)) return;
                for (size_t i = 0; i < v.size(); ++i) neighbor_range(v[i], index_path(p, i));
              }},
             {"originate",
              [&](auto& v, auto& p) {
                if (!expect_list(v, p)) return;
                for (size_t i = 0; i < v.size(); ++i) originate(v[i], index_path(p, i));
              }},
             {"update_group_max_lag",
              [&](auto& v, auto& p) {
                if (auto l = number(v, p, 65536, uint64_t{1} << 32, "a size in octets"))
                  cfg_.bgp.update_group_max_lag = *l;
              }},
         });
  if (!n.IsMap()) return;
  require(n, path, {"asn", "router_id"});
  if (!n["cluster_id"]) cfg_.bgp.cluster_id = cfg_.bgp.router_id;
  finish_bgp(n, path);
}

void Parser::listen(const YAML::Node& n, const std::string& path) {
  if (n.IsScalar()) {
    if (auto on = boolean(n, path)) cfg_.bgp.listen.enabled = *on;
    return;
  }
  fields(n, path,
         {
             {"address",
              [&](auto& v, auto& p) {
                if (auto a = address(v, p)) cfg_.bgp.listen.address = *a;
              }},
             {"port",
              [&](auto& v, auto& p) {
                if (auto port = number(v, p, 0, 65535, "a port"))
                  cfg_.bgp.listen.port = static_cast<uint16_t>(*port);
              }},
         });
}

std::optional<uint16_t> Parser::hold_time(const YAML::Node& n, const std::string& path) {
  // RFC 4271 §4.2: the Hold Time MUST be either zero or at least three seconds.
  constexpr std::string_view kRange = "0 or 3..65535 seconds, RFC 4271 §4.2";
  auto v = number(n, path, 0, 65535, "a hold time", kRange);
  if (!v) return std::nullopt;
  if (*v == 1 || *v == 2) {
    error(n, path, show(n) + " is not a hold time (expected " + std::string(kRange) + ")");
    return std::nullopt;
  }
  return static_cast<uint16_t>(*v);
}

void Parser::graceful_restart(const YAML::Node& n, const std::string& path, PeerSettings& p) {
  GracefulRestart& gr = p.graceful_restart;
  if (n.IsScalar()) {
    if (auto on = boolean(n, path)) gr.enabled = *on;
    return;
  }
  fields(n, path,
         {
             {"enabled",
              [&](auto& v, auto& kp) {
                if (auto on = boolean(v, kp)) gr.enabled = *on;
              }},
             // RFC 4724 §3: the Restart Time field is 12 bits.
             {"restart_time",
              [&](auto& v, auto& kp) {
                if (auto t = number(v, kp, 0, 4095, "a restart time",
                                    "0..4095 seconds, 12 bits in the capability, RFC 4724 §3"))
                  gr.restart_time = static_cast<uint16_t>(*t);
              }},
             {"stale_routes_time",
              [&](auto& v, auto& kp) {
                if (auto t = seconds(v, kp, 1, "a stale routes time in seconds"))
                  gr.stale_routes_time = *t;
              }},
             // RFC 9494: the Long-lived Stale Time field is 24 bits.
             {"long_lived_stale_time",
              [&](auto& v, auto& kp) {
                if (auto t = number(v, kp, 0, 16777215, "a long-lived stale time",
                                    "0..16777215 seconds, 24 bits in the capability, RFC 9494"))
                  gr.long_lived_stale_time = static_cast<uint32_t>(*t);
              }},
         });
}

void Parser::max_prefixes(const YAML::Node& n, const std::string& path, PeerSettings& p) {
  MaxPrefixes& m = p.max_prefixes;
  auto limit = [&](const YAML::Node& v, const std::string& kp) {
    return number(v, kp, 1, 4294967295u, "a number of prefixes", "1..4294967295");
  };
  if (n.IsScalar()) {
    if (auto l = limit(n, path)) m.all = static_cast<uint32_t>(*l);
    return;
  }
  std::vector<Field> known = {
      {"warning",
       [&](auto& v, auto& kp) {
         if (auto w = number(v, kp, 1, 100, "a percentage", "1..100"))
           m.warning_percent = static_cast<uint8_t>(*w);
       }},
      {"restart",
       [&](auto& v, auto& kp) {
         if (auto r = seconds(v, kp, 0, "a restart time in seconds")) m.restart = *r;
       }},
  };
  for (std::string_view name : kSupportedFamilies)
    known.push_back({name, [&, name](auto& v, auto& kp) {
                       if (auto l = limit(v, kp))
                         m.families[*bgp::Family::from_name(std::string(name))] =
                             static_cast<uint32_t>(*l);
                     }});
  fields(n, path, known);
}

void Parser::peer_fields(PeerSettings& p, PeerRaw& raw, std::vector<Field>& out) {
  auto flag = [&](std::string_view key, bool& target) {
    out.push_back({key, [&](auto& v, auto& path) {
                     if (auto b = boolean(v, path)) target = *b;
                   }});
  };
  out.push_back({"remote_as", [&](auto& v, auto& path) {
                   if (auto a = asn(v, path)) p.remote_as = *a;
                 }});
  out.push_back({"local_address", [&](auto& v, auto& path) {
                   if (auto a = address(v, path)) p.local_address = *a;
                 }});
  out.push_back({"description", [&](auto& v, auto& path) {
                   if (auto t = text(v, path)) p.description = *t;
                 }});
  flag("route_reflector_client", p.route_reflector_client);
  flag("next_hop_self", p.next_hop_self);
  flag("shutdown", p.shutdown);
  out.push_back({"graceful_restart", [&](auto& v, auto& path) { graceful_restart(v, path, p); }});
  out.push_back({"max_prefixes", [&](auto& v, auto& path) { max_prefixes(v, path, p); }});
  out.push_back({"families", [&](auto& v, auto& path) {
                   raw.families_given = true;
                   if (!expect_list(v, path)) return;
                   if (v.size() == 0) error(v, path, "name at least one address family");
                   for (size_t i = 0; i < v.size(); ++i) {
                     std::string ip = index_path(path, i);
                     auto name = text(v[i], ip);
                     if (!name) continue;
                     auto f = bgp::Family::from_name(*name);
                     bool supported =
                         std::find(std::begin(kSupportedFamilies), std::end(kSupportedFamilies),
                                   *name) != std::end(kSupportedFamilies);
                     if (!f || !supported) {
                       std::vector<std::string> names(std::begin(kSupportedFamilies),
                                                      std::end(kSupportedFamilies));
                       error(v[i], ip,
                             show(v[i]) + " is not a supported address family (expected one of: " +
                                 join(names, ", ") + ")");
                       continue;
                     }
                     if (std::find(p.families.begin(), p.families.end(), *f) != p.families.end()) {
                       error(v[i], ip, show(v[i]) + " is listed twice");
                       continue;
                     }
                     p.families.push_back(*f);
                   }
                 }});
  for (const auto& field : {std::pair<std::string_view, std::string*>{"import", &p.import_policy},
                            std::pair<std::string_view, std::string*>{"export", &p.export_policy}})
    out.push_back({field.first, [this, target = field.second, import = field.first == "import"](
                                    auto& v, auto& path) {
                     if (auto t = text(v, path)) {
                       *target = *t;
                       policy_refs_.push_back({v, path, *t, import});
                     }
                   }});
  out.push_back({"password", [&](auto& v, auto& path) {
                   auto t = text(v, path);
                   if (!t) return;
                   // The key itself is never echoed into a message.
                   if (t->size() > kMaxPasswordLength)
                     error(v, path,
                           "the key is " + std::to_string(t->size()) +
                               " characters long; TCP-MD5 keys are at most 80 (RFC 2385)");
                   else
                     p.password = *t;
                 }});
  out.push_back({"ttl_security", [&](auto& v, auto& path) {
                   bool on = false;
                   if (v.IsScalar() && YAML::convert<bool>::decode(v, on)) {
                     p.ttl_security = on ? 1 : 0;
                     return;
                   }
                   if (auto hops = number(v, path, 1, 254, "a hop count", "true, false or 1..254"))
                     p.ttl_security = static_cast<uint8_t>(*hops);
                 }});
  out.push_back({"ebgp_multihop", [&](auto& v, auto& path) {
                   if (auto ttl = number(v, path, 1, 255, "a TTL"))
                     p.ebgp_multihop = static_cast<uint8_t>(*ttl);
                 }});
  out.push_back({"hold_time", [&](auto& v, auto& path) { raw.hold_time = hold_time(v, path); }});
  out.push_back({"min_hold_time", [&](auto& v, auto& path) {
                   if (auto t = seconds(v, path, 0, "a hold time in seconds")) p.min_hold_time = *t;
                 }});
  out.push_back({"send_hold_time", [&](auto& v, auto& path) {
                   if (auto t = seconds(v, path, 1, "a send hold time in seconds"))
                     p.send_hold_time = *t;
                 }});
  out.push_back({"keepalive", [&](auto& v, auto& path) {
                   raw.keepalive = seconds(v, path, 0, "a keepalive interval in seconds");
                 }});
  out.push_back({"connect_retry", [&](auto& v, auto& path) {
                   raw.connect_retry = seconds(v, path, 1, "a retry interval in seconds");
                 }});
}

void Parser::neighbor(const YAML::Node& n, const std::string& path) {
  Neighbor nb;
  PeerRaw raw{n, path, {}, {}, {}, false, false};
  std::vector<Field> known = {
      {"address",
       [&](auto& v, auto& p) {
         auto a = address(v, p);
         if (a && a->is_unspecified()) {
           error(v, p, a->to_string() + " is not a neighbor address");
         } else if (a) {
           nb.address = *a;
           raw.key_ok = true;
         }
       }},
      {"port",
       [&](auto& v, auto& p) {
         if (auto port = number(v, p, 1, 65535, "a port")) nb.port = static_cast<uint16_t>(*port);
       }},
      {"passive",
       [&](auto& v, auto& p) {
         if (auto b = boolean(v, p)) nb.passive = *b;
       }},
      {"vrf",
       [&](auto& v, auto& p) {
         if (auto t = name(v, p, "a VRF")) nb.vrf = *t;
       }},
      {"interface",
       [&](auto& v, auto& p) {
         auto t = text(v, p);
         if (t && (t->empty() || t->size() > 15))
           error(v, p, "an interface name is 1..15 characters long");
         else if (t)
           nb.interface = *t;
       }},
  };
  peer_fields(nb.peer, raw, known);
  fields(n, path, known);
  if (n.IsMap()) require(n, path, {"address", "remote_as"});
  cfg_.bgp.neighbors.push_back(std::move(nb));
  neighbor_raw_.push_back(std::move(raw));
}

void Parser::neighbor_range(const YAML::Node& n, const std::string& path) {
  NeighborRange r;
  PeerRaw raw{n, path, {}, {}, {}, false, false};
  std::vector<Field> known = {
      {"prefix",
       [&](auto& v, auto& p) {
         if (auto pf = prefix(v, p)) {
           r.prefix = *pf;
           raw.key_ok = true;
         }
       }},
      {"max",
       [&](auto& v, auto& p) {
         if (auto m = number(v, p, 1, 65535, "a session limit")) r.max = static_cast<uint32_t>(*m);
       }},
      {"restart_wait",
       [&](auto& v, auto& p) {
         if (auto w = seconds(v, p, 0, "a wait in seconds")) r.restart_wait = *w;
       }},
  };
  peer_fields(r.peer, raw, known);
  for (std::string_view key : {"address", "port", "passive", "vrf", "interface"})
    known.push_back({key, [&](auto& v, auto& p) {
                       error(v, p,
                             "applies to neighbors only (a range accepts connections from any "
                             "address in its prefix and never connects)");
                     }});
  fields(n, path, known);
  if (n.IsMap()) require(n, path, {"prefix", "remote_as"});
  cfg_.bgp.neighbor_ranges.push_back(std::move(r));
  range_raw_.push_back(std::move(raw));
}

// ---- evpn: ----------------------------------------------------------------------------------

// ---- agent: and networks: ----------------------------------------------------------------------

void Parser::agent(const YAML::Node& n, const std::string& path) {
  Agent a;
  fields(n, path,
         {
             {"vtep",
              [&](auto& v, auto& p) {
                fields(v, p,
                       {
                           {"address",
                            [&](auto& x, auto& q) {
                              auto addr = address(x, q);
                              if (addr && (addr->is_unspecified() || addr->is_link_local()))
                                error(x, q, addr->to_string() + " is not a VTEP address");
                              else if (addr)
                                a.vtep = *addr;
                            }},
                           {"interface",
                            [&](auto& x, auto& q) {
                              auto t = text(x, q);
                              if (t && (t->empty() || t->size() > 15))
                                error(x, q, "an interface name is 1..15 characters long");
                              else if (t)
                                a.vtep_interface = *t;
                            }},
                       });
              }},
             {"api_socket",
              [&](auto& v, auto& p) {
                if (auto s = text(v, p)) {
                  if (s->empty() || s->size() > 107)
                    error(v, p, "a unix socket path must be 1..107 characters long");
                  else
                    a.api_socket = *s;
                }
              }},
             {"state_dir",
              [&](auto& v, auto& p) {
                if (auto s = text(v, p)) {
                  if (s->empty() || s->front() != '/' || s->size() > 4000)
                    error(v, p, show(v) + " is not an absolute directory path");
                  else
                    a.state_dir = *s;
                }
              }},
             {"gateway_mac",
              [&](auto& v, auto& p) {
                auto t = text(v, p);
                if (!t) return;
                auto m = MacAddress::parse(*t);
                if (!m)
                  error(v, p, m.error().message);
                else if ((m->bytes[0] & 1) != 0 || *m == MacAddress{})
                  error(v, p, m->to_string() + " is not a unicast MAC address");
                else
                  a.gateway_mac = *m;
              }},
             {"reconcile_interval",
              [&](auto& v, auto& p) {
                if (auto x = number(v, p, 0, 86400, "a reconcile interval in seconds"))
                  a.reconcile_interval = static_cast<uint32_t>(*x);
              }},
             {"port_security",
              [&](auto& v, auto& p) {
                if (auto on = boolean(v, p)) a.port_security = *on;
              }},
         });
  cfg_.agent = a;
}

// Network and VRF names: 1..15 letters, digits, '-' or '_'.
std::optional<std::string> Parser::name(const YAML::Node& n, const std::string& path,
                                        const char* what) {
  auto t = text(n, path);
  if (!t) return std::nullopt;
  const bool ok = !t->empty() && t->size() <= 15 && std::all_of(t->begin(), t->end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
  if (ok) return t;
  error(n, path, show(n) + " is not " + what + " name (1..15 letters, digits, - or _)");
  return std::nullopt;
}

void Parser::network(const YAML::Node& n, const std::string& path) {
  Network net;
  bool vni_ok = false;
  bool pool_given = false, pool6_given = false;
  fields(n, path,
         {
             {"name",
              [&](auto& v, auto& p) {
                if (auto t = name(v, p, "a network")) net.name = *t;
              }},
             {"vni",
              [&](auto& v, auto& p) {
                if (auto x = number(v, p, 1, 16777215, "a VXLAN network identifier")) {
                  net.vni = static_cast<uint32_t>(*x);
                  vni_ok = true;
                }
              }},
             {"subnet", [&](auto& v, auto& p) { net.subnet = subnet(v, p, false); }},
             {"gateway", [&](auto& v, auto& p) { net.gateway = address(v, p); }},
             {"subnet6", [&](auto& v, auto& p) { net.subnet6 = subnet(v, p, true); }},
             {"gateway6", [&](auto& v, auto& p) { net.gateway6 = address(v, p); }},
             {"pool",
              [&](auto& v, auto& p) {
                pool_given = true;
                net.pool = pool(v, p);
              }},
             {"pool6",
              [&](auto& v, auto& p) {
                pool6_given = true;
                net.pool6 = pool(v, p);
              }},
             {"vrf",
              [&](auto& v, auto& p) {
                if (auto t = name(v, p, "a VRF")) net.vrf = *t;
              }},
             {"nat_outgoing",
              [&](auto& v, auto& p) {
                if (auto b = boolean(v, p)) net.nat_outgoing = *b;
              }},
             {"max_macs",
              [&](auto& v, auto& p) {
                if (auto x = number(v, p, 1, 1000000, "a number of MACs"))
                  net.max_macs = static_cast<uint32_t>(*x);
              }},
         });
  if (!n.IsMap() || !require(n, path, {"name", "vni"}) || !vni_ok || net.name.empty()) return;
  if (net.vrf.empty()) net.vrf = net.name;
  if (net.nat_outgoing && !net.subnet && !net.subnet6)
    error(n["nat_outgoing"], key_path(path, "nat_outgoing"),
          "nat_outgoing without subnet or subnet6 (a network without them is not routed)");
  // A gateway belongs inside its subnet, and is not the subnet's own (network) address.
  auto gateway = [&](const char* key, const std::optional<Prefix>& sub,
                     std::optional<IpAddress>& gw) {
    if (!sub) {
      if (gw) error(n[key], key_path(path, key), std::string(key) + " without its subnet");
      gw.reset();
      return;
    }
    if (!gw) {
      auto bytes = sub->address().bytes();
      bytes[sub->address().size() - 1] |= 1;
      gw = sub->address().is_v4()
               ? IpAddress::v4(std::array<uint8_t, 4>{bytes[0], bytes[1], bytes[2], bytes[3]})
               : IpAddress::v6(bytes);
      return;
    }
    if (gw->is_v4() != sub->address().is_v4() || !sub->contains(*gw) || *gw == sub->address())
      error(n[key], key_path(path, key),
            gw->to_string() + " is not an address of " + sub->to_string());
  };
  gateway("gateway", net.subnet, net.gateway);
  gateway("gateway6", net.subnet6, net.gateway6);
  check_pool(n, path, "pool", net.subnet, net.gateway, net.pool, pool_given);
  check_pool(n, path, "pool6", net.subnet6, net.gateway6, net.pool6, pool6_given);
  std::vector<std::string> missing;
  if (net.subnet && !pool_given) missing.push_back("pool");
  if (net.subnet6 && !pool6_given) missing.push_back("pool6");
  if (!missing.empty())
    warn(n, path,
         "network " + net.name + " has no " + join(missing, " or ") +
             ": this node hands out addresses from the whole subnet; when the network spans "
             "several nodes, give each node a pool of its own (disjoint blocks of the subnet), "
             "or they hand out the same addresses");
  // Subnets may overlap only between networks of different VRFs: in one VRF both would be
  // routes of the same table. In different VRFs they are apart (each its own table and rules).
  auto overlap = [&](const char* key, const std::optional<Prefix>& mine,
                     const std::optional<Prefix>& theirs, const Network& other) {
    if (!mine || !theirs || !(mine->contains(*theirs) || theirs->contains(*mine))) return;
    error(n[key], key_path(path, key),
          mine->to_string() + " overlaps network " + other.name + "'s " + theirs->to_string() +
              " in the same VRF " + net.vrf +
              " (subnets may overlap only between networks of different VRFs)");
  };
  for (const auto& other : cfg_.networks) {
    if (other.name == net.name) {
      error(n["name"], key_path(path, "name"), "network " + net.name + " is listed twice");
      continue;
    }
    if (other.vni == net.vni)
      error(n["vni"], key_path(path, "vni"),
            "VNI " + std::to_string(net.vni) + " is already network " + other.name + "'s");
    if (other.vrf == net.vrf) {
      overlap("subnet", net.subnet, other.subnet, other);
      overlap("subnet6", net.subnet6, other.subnet6, other);
    }
  }
  cfg_.networks.push_back(std::move(net));
}

std::vector<Prefix> Parser::pool(const YAML::Node& n, const std::string& path) {
  std::vector<Prefix> out;
  for_each_item(n, path, "prefix", [&](const YAML::Node& v, const std::string& p) {
    if (auto x = prefix(v, p)) out.push_back(*x);
  });
  return out;
}

// Addresses of `subnet` that are never handed out: the network address (IPv6: the
// subnet-router anycast address, RFC 4291 §2.6.1), the IPv4 broadcast address and the gateway.
static bool reserved_address(const Prefix& subnet, const IpAddress& gateway, const IpAddress& a) {
  if (a == subnet.address() || a == gateway) return true;
  if (!a.is_v4()) return false;
  const uint32_t host = subnet.length() >= 32 ? 0 : (uint32_t{0xffffffff} >> subnet.length());
  return a.v4_host_order() == (subnet.address().v4_host_order() | host);
}

void Parser::check_pool(const YAML::Node& n, const std::string& path, const char* key,
                        const std::optional<Prefix>& sub, const std::optional<IpAddress>& gw,
                        std::vector<Prefix>& pool, bool given) {
  const std::string p = key_path(path, key);
  const bool v6 = std::string_view(key) == "pool6";
  if (!sub) {
    if (given) error(n[key], p, std::string(key) + (v6 ? " without subnet6" : " without subnet"));
    pool.clear();
    return;
  }
  if (!given) {
    pool = {*sub};
    return;
  }
  const YAML::Node list = n[key];
  std::vector<Prefix> ok;
  for (size_t i = 0; i < pool.size(); ++i) {
    const Prefix& b = pool[i];
    const YAML::Node at = list.IsSequence() && i < list.size() ? list[i] : list;
    const std::string where = list.IsSequence() ? index_path(p, i) : p;
    if (b.address().is_v4() == v6) {
      error(at, where, b.to_string() + (v6 ? " is not an IPv6 prefix" : " is not an IPv4 prefix"));
      continue;
    }
    if (!sub->contains(b)) {
      error(at, where, b.to_string() + " is not inside the subnet " + sub->to_string());
      continue;
    }
    // A block of at most 4 addresses may hold nothing but reserved ones.
    bool usable = b.max_length() - b.length() > 2;
    for (uint32_t k = 0; !usable && k < (1u << (b.max_length() - b.length())); ++k) {
      auto bytes = b.address().bytes();
      bytes[b.address().size() - 1] = static_cast<uint8_t>(bytes[b.address().size() - 1] + k);
      IpAddress a =
          v6 ? IpAddress::v6(bytes)
             : IpAddress::v4(std::array<uint8_t, 4>{bytes[0], bytes[1], bytes[2], bytes[3]});
      usable = !reserved_address(*sub, gw.value_or(sub->address()), a);
    }
    if (!usable) {
      error(at, where,
            b.to_string() + " holds only reserved addresses (network, broadcast, gateway)");
      continue;
    }
    bool overlaps = false;
    for (const auto& o : ok)
      if (o.contains(b) || b.contains(o)) {
        error(at, where, b.to_string() + " overlaps " + o.to_string() + " of the same pool");
        overlaps = true;
        break;
      }
    if (!overlaps) ok.push_back(b);
  }
  pool = std::move(ok);
}

std::optional<Prefix> Parser::subnet(const YAML::Node& n, const std::string& path, bool v6) {
  auto p = prefix(n, path);
  if (!p) return std::nullopt;
  if (p->address().is_v4() == v6) {
    error(n, path, p->to_string() + (v6 ? " is not an IPv6 subnet" : " is not an IPv4 subnet"));
    return std::nullopt;
  }
  if (p->length() > (v6 ? 126 : 30)) {
    error(n, path, p->to_string() + " has no room for a gateway and workloads");
    return std::nullopt;
  }
  return p;
}

void Parser::evpn(const YAML::Node& n, const std::string& path) {
  fields(n, path,
         {
             {"vtep",
              [&](auto& v, auto& p) {
                auto a = address(v, p);
                if (a && a->is_unspecified())
                  error(v, p, a->to_string() + " is not a VTEP address");
                else if (a)
                  cfg_.evpn.vtep = *a;
              }},
             {"vnis",
              [&](auto& v, auto& p) {
                if (!expect_list(v, p)) return;
                for (size_t i = 0; i < v.size(); ++i) mac_vrf(v[i], index_path(p, i));
              }},
             {"duplicate_detection", [&](auto& v, auto& p) { duplicate_detection(v, p); }},
             {"ip_vrfs", nullptr,
              "replaced by the top-level vrfs: list; write vrfs: [{ name: NAME, l3vni: 5001 }] "
              "and name it in networks[].vrf"},
         });
}

void Parser::duplicate_detection(const YAML::Node& n, const std::string& path) {
  auto& d = cfg_.evpn.duplicate_detection;
  if (n.IsScalar()) {  // duplicate_detection: false
    if (auto on = boolean(n, path)) d.enabled = *on;
    return;
  }
  fields(n, path,
         {
             {"enabled",
              [&](auto& v, auto& p) {
                if (auto b = boolean(v, p)) d.enabled = *b;
              }},
             {"max_moves",
              [&](auto& v, auto& p) {
                if (auto x = number(v, p, 2, 1000, "a number of moves", "2..1000"))
                  d.max_moves = static_cast<uint32_t>(*x);
              }},
             {"window",
              [&](auto& v, auto& p) {
                if (auto x = number(v, p, 2, 1800, "a window in seconds", "2..1800 seconds"))
                  d.window = static_cast<uint32_t>(*x);
              }},
         });
}

template <typename V>
std::vector<Parser::Field> Parser::rd_rt_fields(V& m) {
  return {
      {"rd",
       [&](auto& v, auto& p) {
         auto t = text(v, p);
         if (!t) return;
         auto rd = bgp::RouteDistinguisher::parse(*t);
         if (rd)
           m.rd = *rd;
         else
           error(v, p, rd.error().message);
       }},
      {"import_rts", [&](auto& v, auto& p) { m.import_rts = route_targets(v, p); }},
      {"export_rts", [&](auto& v, auto& p) { m.export_rts = route_targets(v, p); }},
  };
}

void Parser::mac_vrf(const YAML::Node& n, const std::string& path) {
  MacVrf m;
  bool vni_ok = false;
  std::vector<Field> known = {
      {"vni",
       [&](auto& v, auto& p) {
         if (auto x = number(v, p, 1, 16777215, "a VXLAN network identifier")) {
           m.vni = static_cast<uint32_t>(*x);
           vni_ok = true;
         }
       }},
  };
  for (auto& f : rd_rt_fields(m)) known.push_back(std::move(f));
  fields(n, path, known);
  if (!n.IsMap() || !require(n, path, {"vni"}) || !vni_ok) return;
  for (const auto& other : cfg_.evpn.vnis)
    if (other.vni == m.vni) {
      error(n["vni"], key_path(path, "vni"), "VNI " + std::to_string(m.vni) + " is listed twice");
      return;
    }
  cfg_.evpn.vnis.push_back(std::move(m));
}

// ---- vrfs: -------------------------------------------------------------------------------------

void Parser::vrf(const YAML::Node& n, const std::string& path) {
  Vrf m;
  bool vni_ok = false;
  std::vector<Field> known = {
      {"name",
       [&](auto& v, auto& p) {
         if (auto t = name(v, p, "a VRF")) m.name = *t;
       }},
      {"l3vni",
       [&](auto& v, auto& p) {
         if (auto x = number(v, p, 1, 16777215, "a VXLAN network identifier")) {
           m.l3vni = static_cast<uint32_t>(*x);
           vni_ok = true;
         }
       }},
  };
  for (auto& f : rd_rt_fields(m)) known.push_back(std::move(f));
  known.push_back({"router_mac", [&](auto& v, auto& p) {
                     auto t = text(v, p);
                     if (!t) return;
                     auto mac = MacAddress::parse(*t);
                     if (!mac)
                       error(v, p, mac.error().message);
                     else if (mac->bytes[0] & 1)
                       error(v, p,
                             mac->to_string() + " is a multicast address, not a router's MAC");
                     else if (*mac == MacAddress{})
                       error(v, p, "00:00:00:00:00:00 is not a router's MAC");
                     else
                       m.router_mac = *mac;
                   }});
  fields(n, path, known);
  if (!n.IsMap() || !require(n, path, {"name", "l3vni"}) || !vni_ok || m.name.empty()) return;
  for (const auto& other : cfg_.vrfs) {
    if (other.name == m.name) {
      error(n["name"], key_path(path, "name"), "VRF " + m.name + " is listed twice");
      return;
    }
    if (other.l3vni == m.l3vni) {
      error(n["l3vni"], key_path(path, "l3vni"),
            "VNI " + std::to_string(m.l3vni) + " is already VRF " + other.name + "'s L3 VNI");
      return;
    }
  }
  cfg_.vrfs.push_back(std::move(m));
  vrf_raw_.emplace_back(n, path);
}

void Parser::check_l3vnis() {
  for (size_t i = 0; i < cfg_.vrfs.size(); ++i) {
    const Vrf& v = cfg_.vrfs[i];
    const auto& [node, path] = vrf_raw_[i];
    const std::string vni = "VNI " + std::to_string(v.l3vni);
    const auto& vnis = cfg_.evpn.vnis;
    const auto& nets = cfg_.networks;
    auto mac_vrf =
        std::find_if(vnis.begin(), vnis.end(), [&](const MacVrf& m) { return m.vni == v.l3vni; });
    auto net =
        std::find_if(nets.begin(), nets.end(), [&](const Network& n) { return n.vni == v.l3vni; });
    if (mac_vrf != vnis.end())
      error(node["l3vni"], key_path(path, "l3vni"),
            vni + " is already the VNI of a MAC-VRF (evpn.vnis); an L3 VNI is not also an L2 VNI");
    else if (net != nets.end())
      error(node["l3vni"], key_path(path, "l3vni"),
            vni + " is already the VNI of network " + net->name +
                "; an L3 VNI is not also an L2 VNI");
  }
}

// A neighbor of a tenant (`vrf`): a VRF of `vrfs:` on a node agent, unicast families only,
// directly connected on an interface of its own.
void Parser::check_vrf_neighbors() {
  const auto& neighbors = cfg_.bgp.neighbors;
  for (size_t i = 0; i < neighbors.size() && i < neighbor_raw_.size(); ++i) {
    const Neighbor& nb = neighbors[i];
    const PeerRaw& raw = neighbor_raw_[i];
    const YAML::Node& n = raw.node;
    if (nb.vrf.empty()) {
      if (!nb.interface.empty())
        error(n["interface"], key_path(raw.path, "interface"),
              "applies to a neighbor of a VRF only (set vrf: too)");
      continue;
    }
    const std::string vrf_path = key_path(raw.path, "vrf");
    if (!cfg_.find_vrf(nb.vrf)) {
      std::vector<std::string> names;
      for (const Vrf& v : cfg_.vrfs) names.push_back(v.name);
      error(n["vrf"], vrf_path,
            "no VRF named \"" + nb.vrf +
                "\" in vrfs:" + suggest(nb.vrf, names, "declared", " (there is no vrfs: section)"));
      continue;
    }
    if (!cfg_.agent) {
      error(n["vrf"], vrf_path,
            "a neighbor of a VRF needs an agent: section (its routes go into the tenant's table "
            "in the kernel)");
      continue;
    }
    if (nb.interface.empty()) {
      if (!n["interface"])  // else its own error says what is wrong with it
        error(n, raw.path,
              "a neighbor of a VRF needs interface: the link to it, which belongs to VRF " +
                  nb.vrf + " (what arrives on it is routed in the tenant's table)");
      continue;
    }
    for (bgp::Family f : nb.peer.families)
      if (f != bgp::kIpv4Unicast && f != bgp::kIpv6Unicast)
        error(n["families"], key_path(raw.path, "families"),
              std::string(f.name()) +
                  " is not a family of a VRF's neighbor (ipv4-unicast and ipv6-unicast only)");
    if (nb.peer.route_reflector_client)
      error(n["route_reflector_client"], key_path(raw.path, "route_reflector_client"),
            "a neighbor of a VRF is not a route reflector client");
    if (nb.peer.ebgp_multihop > 1 || nb.peer.ttl_security > 1)
      error(n, raw.path,
            "a neighbor of a VRF is directly connected on its interface (no ebgp_multihop or "
            "ttl_security beyond 1 hop)");
    for (size_t j = 0; j < i; ++j)
      if (neighbors[j].interface == nb.interface && neighbors[j].vrf != nb.vrf)
        error(n["interface"], key_path(raw.path, "interface"),
              nb.interface + " is already VRF " + neighbors[j].vrf + "'s, by " +
                  neighbor_raw_[j].path + " (an interface belongs to one VRF)");
  }
}

std::vector<bgp::ExtCommunity> Parser::route_targets(const YAML::Node& n, const std::string& path) {
  std::vector<bgp::ExtCommunity> out;
  if (!expect_list(n, path)) return out;
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string p = index_path(path, i);
    auto t = text(n[i], p);
    if (!t) continue;
    auto rt = bgp::parse_route_target(*t);
    if (rt)
      out.push_back(*rt);
    else
      error(n[i], p, rt.error().message);
  }
  if (n.size() == 0)
    error(n, path, "an empty list; leave the key out for the derived route target");
  return out;
}

void Parser::originate(const YAML::Node& n, const std::string& path) {
  Originate o;
  bool prefix_ok = false;
  fields(n, path,
         {
             {"prefix",
              [&](auto& v, auto& p) {
                if (auto pf = prefix(v, p)) {
                  o.prefix = *pf;
                  prefix_ok = true;
                }
              }},
             {"communities",
              [&](auto& v, auto& p) {
                for (const auto& c : communities(v, p)) {
                  if (auto* sc = std::get_if<bgp::Community>(&c)) o.communities.push_back(*sc);
                  if (auto* lc = std::get_if<bgp::LargeCommunity>(&c))
                    o.large_communities.push_back(*lc);
                  if (auto* ec = std::get_if<bgp::ExtCommunity>(&c))
                    o.ext_communities.push_back(*ec);
                }
              }},
             {"med",
              [&](auto& v, auto& p) {
                if (auto m = number(v, p, 0, 4294967295u, "a MED"))
                  o.med = static_cast<uint32_t>(*m);
              }},
             {"local_pref",
              [&](auto& v, auto& p) {
                if (auto l = number(v, p, 0, 4294967295u, "a LOCAL_PREF"))
                  o.local_pref = static_cast<uint32_t>(*l);
              }},
             {"next_hop",
              [&](auto& v, auto& p) {
                if (auto a = address(v, p)) o.next_hop = *a;
              }},
         });
  if (!n.IsMap() || !require(n, path, {"prefix"}) || !prefix_ok) return;
  if (o.next_hop && o.next_hop->family() != o.prefix.family())
    error(n["next_hop"], key_path(path, "next_hop"),
          o.next_hop->to_string() + " is not of the same family as the prefix " +
              o.prefix.to_string());
  for (size_t i = 0; i < cfg_.bgp.originate.size(); ++i) {
    if (cfg_.bgp.originate[i].prefix != o.prefix) continue;
    error(n["prefix"], key_path(path, "prefix"),
          o.prefix.to_string() + " is already originated by bgp.originate[" + std::to_string(i) +
              "]");
    break;
  }
  cfg_.bgp.originate.push_back(std::move(o));
}

// Defaults and checks that need the whole bgp: section.
void Parser::finish_bgp(const YAML::Node& n, const std::string& path) {
  Bgp& b = cfg_.bgp;
  if (!bgp_keepalive_given_) {
    b.keepalive = static_cast<uint16_t>(b.hold_time / 3);
  } else if (b.hold_time == 0 ? b.keepalive != 0 : b.keepalive >= b.hold_time) {
    error(n["keepalive"], key_path(path, "keepalive"),
          std::to_string(b.keepalive) + " does not fit hold_time " + std::to_string(b.hold_time) +
              (b.hold_time == 0 ? " (with hold_time 0 keepalive must be 0)"
                                : " (keepalive must be less than hold_time; usually a third)"));
  }

  for (size_t i = 0; i < b.neighbors.size(); ++i) {
    Neighbor& nb = b.neighbors[i];
    const PeerRaw& raw = neighbor_raw_[i];
    if (!raw.key_ok) continue;
    finish_peer(nb.peer, raw, nb.address.family());
    if (nb.peer.local_address && nb.peer.local_address->family() != nb.address.family())
      error(raw.node["local_address"], key_path(raw.path, "local_address"),
            nb.peer.local_address->to_string() + " is not of the same family as the address " +
                nb.address.to_string());
    for (size_t j = 0; j < i; ++j) {
      if (b.neighbors[j].address != nb.address || !neighbor_raw_[j].key_ok) continue;
      error(raw.node["address"], key_path(raw.path, "address"),
            nb.address.to_string() + " is already configured as " + neighbor_raw_[j].path);
      break;
    }
    if (nb.address == b.router_id)
      warn(raw.node["address"], key_path(raw.path, "address"),
           nb.address.to_string() + " is this speaker's own router_id");
  }

  for (size_t i = 0; i < b.neighbor_ranges.size(); ++i) {
    NeighborRange& r = b.neighbor_ranges[i];
    const PeerRaw& raw = range_raw_[i];
    if (!raw.key_ok) continue;
    finish_peer(r.peer, raw, r.prefix.family());
    if (r.peer.local_address && r.peer.local_address->family() != r.prefix.family())
      error(raw.node["local_address"], key_path(raw.path, "local_address"),
            r.peer.local_address->to_string() + " is not of the same family as the prefix " +
                r.prefix.to_string());
    for (size_t j = 0; j < i; ++j) {
      if (b.neighbor_ranges[j].prefix != r.prefix || !range_raw_[j].key_ok) continue;
      error(raw.node["prefix"], key_path(raw.path, "prefix"),
            r.prefix.to_string() + " is already configured as " + range_raw_[j].path);
      break;
    }
  }
}

void Parser::finish_peer(PeerSettings& p, const PeerRaw& raw, IpFamily transport) {
  const Bgp& b = cfg_.bgp;
  const YAML::Node& n = raw.node;
  p.ibgp = b.asn != 0 && p.remote_as == b.asn;

  // Timers: the neighbor's own values, else the bgp: defaults. A neighbor that sets only its
  // hold time gets a third of it as keepalive.
  p.hold_time = raw.hold_time.value_or(b.hold_time);
  if (raw.keepalive) {
    p.keepalive = *raw.keepalive;
    if (p.hold_time == 0 ? p.keepalive != 0 : p.keepalive >= p.hold_time)
      error(n["keepalive"], key_path(raw.path, "keepalive"),
            std::to_string(p.keepalive) + " does not fit hold_time " + std::to_string(p.hold_time) +
                (p.hold_time == 0 ? " (with hold_time 0 keepalive must be 0)"
                                  : " (keepalive must be less than hold_time; usually a third)"));
  } else {
    p.keepalive = raw.hold_time ? static_cast<uint16_t>(p.hold_time / 3) : b.keepalive;
    if (p.hold_time == 0) p.keepalive = 0;
    if (p.hold_time != 0 && p.keepalive >= p.hold_time)
      p.keepalive = static_cast<uint16_t>(p.hold_time / 3);
  }
  p.connect_retry = raw.connect_retry.value_or(b.connect_retry);

  if (!raw.families_given)
    p.families = {transport == IpFamily::V4 ? bgp::kIpv4Unicast : bgp::kIpv6Unicast};

  if (p.remote_as == 0) return;  // already reported; the checks below need it
  std::string as_text = "remote_as " + std::to_string(p.remote_as);
  if (p.route_reflector_client && !p.ibgp)
    error(n["route_reflector_client"], key_path(raw.path, "route_reflector_client"),
          "only an iBGP neighbor can be a route reflector client (" + as_text +
              " differs from bgp.asn " + std::to_string(b.asn) + ")");
  if (p.ebgp_multihop && p.ibgp)
    error(n["ebgp_multihop"], key_path(raw.path, "ebgp_multihop"),
          "applies to eBGP neighbors only (" + as_text + " is bgp.asn)");
  if (p.ebgp_multihop && p.ttl_security)
    error(n, raw.path,
          "ttl_security and ebgp_multihop cannot both be set (GTSM sends with TTL 255 and checks "
          "the hop count on receipt, RFC 5082)");
  if (!p.ibgp && !p.shutdown) {
    // RFC 8212: without policies an eBGP session exchanges no routes.
    std::string missing = p.import_policy.empty() && p.export_policy.empty() ? "import or export"
                          : p.import_policy.empty()                          ? "import"
                          : p.export_policy.empty()                          ? "export"
                                                                             : "";
    if (!missing.empty())
      warn(n, raw.path,
           "eBGP neighbor without " + missing + " policy: no routes will be " +
               (missing == "import"   ? "accepted"
                : missing == "export" ? "sent"
                                      : "exchanged") +
               " (RFC 8212); name a policy, e.g. accept-all");
  }
}

// ---- prefix_lists:, community_lists:, policies: -----------------------------------------------

void Parser::prefix_lists(const YAML::Node& n, const std::string& path) {
  if (!expect_map(n, path)) return;
  for (auto it = n.begin(); it != n.end(); ++it) {
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    auto name = text(key, path);
    if (!name) continue;
    std::string lp = key_path(path, *name);
    policy::PrefixList list{*name, {}};
    if (expect_list(value, lp)) {
      for (size_t i = 0; i < value.size(); ++i) {
        YAML::Node e = value[i];
        std::string ep = index_path(lp, i);
        policy::PrefixListEntry entry;
        bool ok = true;
        auto length = [&](auto& v, auto& p) -> std::optional<uint8_t> {
          auto l = number(v, p, 0, 128, "a prefix length");
          if (!l) ok = false;
          return l ? std::optional<uint8_t>(static_cast<uint8_t>(*l)) : std::nullopt;
        };
        fields(e, ep,
               {
                   {"prefix",
                    [&](auto& v, auto& p) {
                      if (auto pf = prefix(v, p))
                        entry.prefix = *pf;
                      else
                        ok = false;
                    }},
                   {"ge", [&](auto& v, auto& p) { entry.ge = length(v, p); }},
                   {"le", [&](auto& v, auto& p) { entry.le = length(v, p); }},
                   {"action",
                    [&](auto& v, auto& p) {
                      auto a = text(v, p);
                      if (a && *a == "permit")
                        entry.action = policy::ListAction::Permit;
                      else if (a && *a == "deny")
                        entry.action = policy::ListAction::Deny;
                      else if (a)
                        error(v, p, show(v) + " is not an action (expected permit or deny)");
                    }},
               });
        if (!e.IsMap() || !require(e, ep, {"prefix"}) || !ok) continue;
        if (auto c = policy::check_entry(entry); !c) error(e, ep, c.error().message);
        list.entries.push_back(entry);
      }
    }
    cfg_.policy.prefix_lists.push_back(std::move(list));
  }
}

void Parser::community_lists(const YAML::Node& n, const std::string& path) {
  if (!expect_map(n, path)) return;
  for (auto it = n.begin(); it != n.end(); ++it) {
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    auto name = text(key, path);
    if (!name) continue;
    std::string lp = key_path(path, *name);
    policy::CommunityList list{*name, {}, false};
    const YAML::Node& v = value;
    if (v.IsSequence()) {
      list.members = communities(v, lp);
    } else {
      fields(v, lp,
             {
                 {"members", [&](auto& m, auto& p) { list.members = communities(m, p); }},
                 {"match",
                  [&](auto& m, auto& p) {
                    auto t = text(m, p);
                    if (t && (*t == "any" || *t == "all"))
                      list.match_all = *t == "all";
                    else if (t)
                      error(m, p, show(m) + " is not a match mode (expected any or all)");
                  }},
             });
      if (v.IsMap()) require(v, lp, {"members"});
    }
    if (v.IsSequence() && v.size() == 0) error(v, lp, "a community list needs at least one member");
    cfg_.policy.community_lists.push_back(std::move(list));
  }
}

void Parser::policies(const YAML::Node& n, const std::string& path) {
  if (!expect_map(n, path)) return;
  for (auto it = n.begin(); it != n.end(); ++it) {
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    auto name = text(key, path);
    if (!name) continue;
    std::string pp = key_path(path, *name);
    if (*name == policy::kAcceptAll || *name == policy::kRejectAll) {
      error(key, pp, "\"" + *name + "\" is built in and cannot be redefined");
      continue;
    }
    policy::PolicyDefinition def{*name, {}};
    current_policy_ = *name;
    if (expect_list(value, pp)) {
      for (size_t i = 0; i < value.size(); ++i) {
        policy::Term t;
        term(value[i], index_path(pp, i), t);
        def.terms.push_back(std::move(t));
      }
      if (!def.terms.empty() && def.terms.back().verdict == policy::Verdict::Next)
        warn(value[value.size() - 1], index_path(pp, value.size() - 1),
             "the last term neither accepts nor rejects: routes reaching it are changed and then "
             "rejected (a policy ends with reject)");
    }
    cfg_.policy.policies.push_back(std::move(def));
  }
}

void Parser::term(const YAML::Node& n, const std::string& path, policy::Term& t) {
  fields(n, path,
         {
             {"name",
              [&](auto& v, auto& p) {
                if (auto s = text(v, p)) t.name = *s;
              }},
             {"match", [&](auto& v, auto& p) { match(v, p, t.match); }},
             {"then", [&](auto& v, auto& p) { then(v, p, t); }},
         });
  if (n.IsMap()) require(n, path, {"then"});
}

void Parser::match(const YAML::Node& n, const std::string& path, policy::Match& m) {
  fields(n, path,
         {
             {"prefix_list",
              [&](auto& v, auto& p) {
                if (auto s = text(v, p)) {
                  m.prefix_list = *s;
                  prefix_list_refs_.push_back({v, p, *s});
                }
              }},
             {"community",
              [&](auto& v, auto& p) {
                if (v.IsSequence()) {
                  m.communities = communities(v, p);
                  if (v.size() == 0) error(v, p, "an inline community list needs a member");
                } else if (auto s = text(v, p)) {
                  m.community_list = *s;
                  community_list_refs_.push_back({v, p, *s});
                }
              }},
             {"as_path_contains",
              [&](auto& v, auto& p) {
                if (auto a = number(v, p, 1, 4294967295u, "an AS number"))
                  m.as_path_contains = static_cast<uint32_t>(*a);
              }},
             {"origin",
              [&](auto& v, auto& p) {
                auto s = text(v, p);
                if (!s) return;
                m.origin = policy::parse_origin(*s);
                if (!m.origin)
                  error(v, p, show(v) + " is not an origin (expected igp, egp or incomplete)");
              }},
             {"next_hop",
              [&](auto& v, auto& p) {
                if (auto pf = prefix(v, p)) m.next_hop = *pf;
              }},
             {"evpn_route_type",
              [&](auto& v, auto& p) {
                for_each_item(
                    v, p, "route type", [&](const YAML::Node& item, const std::string& ip) {
                      if (auto t = number(item, ip, 1, 5, "an EVPN route type",
                                          "1-5: 1 Ethernet A-D, 2 MAC/IP, 3 inclusive multicast, 4 "
                                          "Ethernet segment, 5 IP prefix"))
                        m.evpn_route_types.push_back(static_cast<uint8_t>(*t));
                    });
              }},
             {"vni",
              [&](auto& v, auto& p) {
                for_each_item(v, p, "VNI", [&](const YAML::Node& item, const std::string& ip) {
                  if (auto x =
                          number(item, ip, 0, bgp::kMaxLabelField, "a VNI", "0..16777215, 24 bits"))
                    m.vnis.push_back(static_cast<uint32_t>(*x));
                });
              }},
             {"route_target",
              [&](auto& v, auto& p) {
                for_each_item(v, p, "route target",
                              [&](const YAML::Node& item, const std::string& ip) {
                                auto t = text(item, ip);
                                if (!t) return;
                                auto rt = bgp::parse_route_target(*t);
                                if (rt)
                                  m.route_targets.push_back(*rt);
                                else
                                  error(item, ip, rt.error().message);
                              });
              }},
         });
}

void Parser::then(const YAML::Node& n, const std::string& path, policy::Term& t) {
  auto verdict = [&](const YAML::Node& v, const std::string& p) {
    auto s = text(v, p);
    if (s && *s == "accept")
      t.verdict = policy::Verdict::Accept;
    else if (s && *s == "reject")
      t.verdict = policy::Verdict::Reject;
    else if (s)
      error(v, p, show(v) + " is not an action (expected accept or reject)");
  };
  if (n.IsScalar()) {
    verdict(n, path);
    return;
  }
  policy::Set& s = t.set;
  fields(n, path,
         {
             {"action", verdict},
             {"local_pref",
              [&](auto& v, auto& p) {
                if (auto l = number(v, p, 0, 4294967295u, "a LOCAL_PREF"))
                  s.local_pref = static_cast<uint32_t>(*l);
              }},
             {"med",
              [&](auto& v, auto& p) {
                if (auto m = number(v, p, 0, 4294967295u, "a MED"))
                  s.med = static_cast<uint32_t>(*m);
              }},
             {"communities",
              [&](auto& v, auto& p) {
                s.communities = communities(v, p);
                for (size_t i = 0; v.IsSequence() && i < v.size(); ++i) {
                  auto c = v[i].IsScalar() ? policy::parse_community(v[i].Scalar())
                                           : Expected<policy::CommunityValue>(fail(""));
                  if (c && std::holds_alternative<bgp::ExtCommunity>(*c))
                    error(v[i], index_path(p, i),
                          "setting communities cannot replace extended communities (route "
                          "targets); use add_communities / remove_communities for them");
                }
              }},
             {"add_communities", [&](auto& v, auto& p) { s.add_communities = communities(v, p); }},
             {"remove_communities",
              [&](auto& v, auto& p) { s.remove_communities = communities(v, p); }},
             {"prepend",
              [&](auto& v, auto& p) {
                auto count = [&](const YAML::Node& c, const std::string& cp) {
                  if (auto k = number(c, cp, 1, 32, "a prepend count"))
                    s.prepend_count = static_cast<uint8_t>(*k);
                };
                if (v.IsScalar()) {
                  count(v, p);
                  return;
                }
                s.prepend_count = 1;
                fields(v, p,
                       {
                           {"count", count},
                           {"asn",
                            [&](auto& a, auto& ap) {
                              if (auto x = asn(a, ap)) s.prepend_asn = *x;
                            }},
                       });
              }},
             {"next_hop",
              [&](auto& v, auto& p) {
                if (v.IsScalar() && v.Scalar() == "self") {
                  s.next_hop_self = true;
                  next_hop_self_[current_policy_].push_back({v, p, current_policy_});
                  return;
                }
                auto str = text(v, p);
                if (!str) return;
                auto a = IpAddress::parse(*str);
                if (!a)
                  error(v, p, show(v) + " is not an IP address or \"self\"");
                else
                  s.next_hop = *a;
              }},
         });
}

void Parser::check_references() {
  std::vector<std::string> policies{std::string(policy::kAcceptAll),
                                    std::string(policy::kRejectAll)};
  for (const auto& p : cfg_.policy.policies) policies.push_back(p.name);
  for (const auto& r : policy_refs_) {
    if (std::find(policies.begin(), policies.end(), r.name) == policies.end()) {
      error(r.node, r.path,
            "no policy named \"" + r.name + "\"" + suggest(r.name, policies, "defined"));
      continue;
    }
    // `next_hop: self` names our address on the session a route is sent to: on import there is
    // no such session.
    auto self = next_hop_self_.find(r.name);
    if (r.import && self != next_hop_self_.end() && !self->second.empty()) {
      const Reference& use = self->second.front();
      error(r.node, r.path,
            "policy \"" + r.name + "\" sets next_hop: self (" + use.path + ", line " +
                std::to_string(use.node.Mark().line + 1) +
                "), which only applies to routes sent: use it as an export policy");
    }
  }

  auto check = [&](const std::vector<Reference>& refs, const std::vector<std::string>& names,
                   std::string_view kind, std::string_view section) {
    for (const auto& r : refs) {
      if (std::find(names.begin(), names.end(), r.name) != names.end()) continue;
      error(r.node, r.path,
            "no " + std::string(kind) + " named \"" + r.name + "\"" +
                suggest(r.name, names, "defined",
                        " (there is no " + std::string(section) + ": section)"));
    }
  };
  std::vector<std::string> names;
  for (const auto& l : cfg_.policy.prefix_lists) names.push_back(l.name);
  check(prefix_list_refs_, names, "prefix list", "prefix_lists");
  names.clear();
  for (const auto& l : cfg_.policy.community_lists) names.push_back(l.name);
  check(community_list_refs_, names, "community list", "community_lists");
}

}  // namespace

const Vrf* Config::find_vrf(std::string_view name) const {
  for (const Vrf& v : vrfs)
    if (v.name == name) return &v;
  return nullptr;
}

Expected<Config> parse_config(std::string_view yaml, std::string_view source_name) {
  return Parser(source_name).run(yaml);
}

Expected<Config> load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail(path + ": cannot read the file: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail(path + ": cannot read the file: " + std::strerror(errno));
  return parse_config(text.str(), path);
}

}  // namespace isthmus::config
