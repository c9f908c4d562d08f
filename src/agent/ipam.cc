// IPAM: per-node blocks of each network's subnets, round-robin allocation from a set of used
// addresses, and the attachments' records in a JSON snapshot and a journal of changes (see
// ipam.h).
#include "agent/ipam.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/json_syntax.h"

namespace isthmus::agent::ipam {

namespace {

using Json = nlohmann::json;

constexpr int kStateVersion = 1;
constexpr size_t kMaxStateFile = 64 << 20;  // far beyond any node's attachments
constexpr uint64_t kMaxBlocks = 65536;

std::string family_name(IpFamily f) { return f == IpFamily::V4 ? "IPv4" : "IPv6"; }

IpAddress from_bytes(const std::array<uint8_t, 16>& b, bool v4) {
  return v4 ? IpAddress::v4(std::array<uint8_t, 4>{b[0], b[1], b[2], b[3]}) : IpAddress::v6(b);
}

// Printable ASCII, so that the JSON file holds exactly what was asked for.
bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

// The kernel's rules for an interface name (dev_valid_name()).
bool valid_ifname(std::string_view s) {
  if (s.empty() || s.size() > 15 || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c > 0x20 && c <= 0x7e && c != '/' && c != ':'; });
}

bool valid_container_id(std::string_view s) {
  return !s.empty() && s.size() <= 256 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c <= 0x7e; });
}

// "" when the record's agent fields are acceptable, else what is wrong.
std::string check_fields(const Key& key, std::string_view netns, std::string_view host_ifname) {
  if (!valid_container_id(key.container_id))
    return "container_id \"" + key.container_id +
           "\" is not valid (1..256 printable characters, no spaces)";
  if (!valid_ifname(key.ifname))
    return "ifname \"" + key.ifname +
           "\" is not an interface name (1..15 characters, no '/', ':' or spaces)";
  if (!host_ifname.empty() && !valid_ifname(host_ifname))
    return "host_ifname \"" + std::string(host_ifname) + "\" is not an interface name";
  if (netns.size() > 4096 || !printable(netns)) return "netns is not a printable path";
  return "";
}

std::string describe(const Key& k) { return "container " + k.container_id + " ifname " + k.ifname; }

std::string blocks_text(const SubnetPool& p) {
  std::string out;
  for (const auto& b : p.blocks) out += (out.empty() ? "" : ", ") + b.to_string();
  return out;
}

std::string errno_text(int e) { return std::strerror(e); }

// Writes `data` to `path` so that a crash leaves the old file or the new one, never a mix:
// a temporary file beside it, fsync, rename over it, fsync of the directory (the rename).
Expected<void> write_atomically(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail("writing " + tmp + ": " + errno_text(errno));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return fail("writing " + tmp + ": " + errno_text(e));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return fail("fsync " + tmp + ": " + errno_text(e));
  }
  if (::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return fail("writing " + tmp + ": " + errno_text(e));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return fail("renaming " + tmp + " to " + path + ": " + errno_text(e));
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return fail("fsync " + dir + ": " + errno_text(errno));
  int rc = ::fsync(dfd);
  int e = errno;
  ::close(dfd);
  if (rc != 0) return fail("fsync " + dir + ": " + errno_text(e));
  return {};
}

// The file's bytes; nullopt when it does not exist.
Expected<std::optional<std::string>> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return fail("reading " + path + ": " + errno_text(errno));
  }
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return fail("reading " + path + ": " + errno_text(e));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxStateFile) {
      ::close(fd);
      return fail("reading " + path + ": larger than " + std::to_string(kMaxStateFile >> 20) +
                  " MiB, not a state file of ours");
    }
  }
  ::close(fd);
  return std::optional<std::string>(std::move(out));
}

// Reading a decoded document: every field's type is checked, and a failure names the field.
struct Reader {
  std::string error;
  bool fail(const std::string& where, const std::string& what) {
    if (error.empty()) error = where + ": " + what;
    return false;
  }
  const Json* field(const Json& obj, const std::string& where, const char* name, bool required) {
    auto it = obj.find(name);
    if (it == obj.end()) {
      if (required) fail(where, std::string("missing \"") + name + "\"");
      return nullptr;
    }
    return &*it;
  }
  std::optional<std::string> text(const Json& obj, const std::string& where, const char* name,
                                  bool required) {
    const Json* v = field(obj, where, name, required);
    if (!v) return required ? std::nullopt : std::optional<std::string>("");
    if (!v->is_string()) {
      fail(where + "." + name, "expected a string");
      return std::nullopt;
    }
    return v->get_ref<const std::string&>();
  }
};

std::optional<Record> decode_record(Reader& rd, const Json& e, const std::string& where) {
  if (!e.is_object()) {
    rd.fail(where, "expected an object");
    return std::nullopt;
  }
  Record r;
  auto network = rd.text(e, where, "network", true);
  auto container = rd.text(e, where, "container_id", true);
  auto ifname = rd.text(e, where, "ifname", true);
  auto netns = rd.text(e, where, "netns", false);
  auto host = rd.text(e, where, "host_ifname", false);
  auto kind = rd.text(e, where, "kind", false);
  auto mac = rd.text(e, where, "mac", false);
  if (!network || !container || !ifname || !netns || !host || !kind || !mac) return std::nullopt;
  r.key = Key{*network, *container, *ifname};
  r.netns = *netns;
  r.host_ifname = *host;
  if (network->empty() || network->size() > 15 || !printable(*network)) {
    rd.fail(where + ".network", "\"" + *network + "\" is not a network name");
    return std::nullopt;
  }
  if (auto bad = check_fields(r.key, r.netns, r.host_ifname); !bad.empty()) {
    rd.fail(where, bad);
    return std::nullopt;
  }
  if (kind->empty() || *kind == "veth") {
    r.kind = Kind::Veth;
  } else if (*kind == "tap") {
    r.kind = Kind::Tap;
  } else {
    rd.fail(where + ".kind", "\"" + *kind + "\" is not veth or tap");
    return std::nullopt;
  }
  if (!mac->empty()) {
    auto m = MacAddress::parse(*mac);
    if (!m) {
      rd.fail(where + ".mac", m.error().message);
      return std::nullopt;
    }
    r.mac = *m;
  }
  const Json* ips = rd.field(e, where, "ips", true);
  if (!ips) return std::nullopt;
  if (!ips->is_array()) {
    rd.fail(where + ".ips", "expected a list of addresses");
    return std::nullopt;
  }
  std::optional<IpAddress> v4, v6;
  for (size_t i = 0; i < ips->size(); ++i) {
    const std::string at = where + ".ips[" + std::to_string(i) + "]";
    const Json& x = (*ips)[i];
    if (!x.is_string()) {
      rd.fail(at, "expected an address");
      return std::nullopt;
    }
    auto a = IpAddress::parse(x.get_ref<const std::string&>());
    if (!a) {
      rd.fail(at, "\"" + x.get_ref<const std::string&>() + "\" is not an IP address");
      return std::nullopt;
    }
    auto& slot = a->is_v4() ? v4 : v6;
    if (slot) {
      rd.fail(at, "a second " + family_name(a->family()) + " address");
      return std::nullopt;
    }
    slot = *a;
  }
  if (v4) r.ips.push_back(*v4);
  if (v6) r.ips.push_back(*v6);
  return r;
}

}  // namespace

std::string_view kind_name(Kind k) { return k == Kind::Tap ? "tap" : "veth"; }

std::optional<IpAddress> next_address(const IpAddress& a) {
  auto b = a.bytes();
  for (size_t i = a.size(); i-- > 0;) {
    if (++b[i] != 0) return from_bytes(b, a.is_v4());
  }
  return std::nullopt;
}

IpAddress last_address(const Prefix& p) {
  auto b = p.address().bytes();
  for (size_t bit = p.length(); bit < p.max_length(); ++bit)
    b[bit / 8] = static_cast<uint8_t>(b[bit / 8] | (0x80 >> (bit % 8)));
  return from_bytes(b, p.address().is_v4());
}

bool is_reserved(const SubnetPool& pool, const IpAddress& a) {
  if (a == pool.subnet.address() || a == pool.gateway) return true;
  return a.is_v4() && a == last_address(pool.subnet);
}

Expected<Prefix> nth_block(const Prefix& subnet, uint8_t block_length, uint64_t index) {
  if (block_length < subnet.length() || block_length > subnet.max_length())
    return fail("a block of " + subnet.to_string() + " is /" + std::to_string(subnet.length()) +
                ".." + std::to_string(subnet.max_length()) + ", not /" +
                std::to_string(block_length));
  const unsigned bits = block_length - subnet.length();
  if (bits < 64 && index >= (uint64_t{1} << bits))
    return fail(subnet.to_string() + " has " + std::to_string(uint64_t{1} << bits) +
                " blocks of /" + std::to_string(block_length) + ", no block " +
                std::to_string(index));
  // Add index << (max_length - block_length) to the subnet's address.
  auto b = subnet.address().bytes();
  const unsigned shift = subnet.max_length() - block_length;
  // Bit k of index lands on address bit (max_length - 1 - shift - k) counted from the left.
  for (unsigned k = 0; k < 64 && k < bits; ++k) {
    if (!((index >> k) & 1)) continue;
    const unsigned bit = subnet.max_length() - 1 - shift - k;
    b[bit / 8] = static_cast<uint8_t>(b[bit / 8] | (0x80 >> (bit % 8)));
  }
  return Prefix(from_bytes(b, subnet.address().is_v4()), block_length);
}

Expected<std::vector<Prefix>> split_blocks(const Prefix& subnet, uint8_t block_length) {
  if (block_length < subnet.length() || block_length > subnet.max_length())
    return fail("a block of " + subnet.to_string() + " is /" + std::to_string(subnet.length()) +
                ".." + std::to_string(subnet.max_length()) + ", not /" +
                std::to_string(block_length));
  const unsigned bits = block_length - subnet.length();
  if (bits > 16)
    return fail(subnet.to_string() + " has more than " + std::to_string(kMaxBlocks) +
                " blocks of /" + std::to_string(block_length) + "; pick one with nth_block()");
  std::vector<Prefix> out;
  for (uint64_t i = 0; i < (uint64_t{1} << bits); ++i)
    out.push_back(*nth_block(subnet, block_length, i));
  return out;
}

// ---- The state file ----------------------------------------------------------------------------

namespace {

Json record_json(const Record& r) {
  Json ips = Json::array();
  for (const auto& a : r.ips) ips.push_back(a.to_string());
  Json e = {{"network", r.key.network},
            {"container_id", r.key.container_id},
            {"ifname", r.key.ifname},
            {"kind", std::string(kind_name(r.kind))},
            {"netns", r.netns},
            {"host_ifname", r.host_ifname},
            {"ips", ips}};
  if (r.mac) e["mac"] = r.mac->to_string();
  return e;
}

Json addresses_json(const std::vector<IpAddress>& list) {
  Json l = Json::array();
  for (const auto& a : list) l.push_back(a.to_string());
  return l;
}

// A list of addresses of the cursors (of the state file or a journal line).
Expected<std::vector<IpAddress>> decode_addresses(const Json& list, const std::string& where) {
  if (!list.is_array()) return fail(where + ": expected a list of addresses");
  std::vector<IpAddress> out;
  for (const auto& x : list) {
    auto a = x.is_string() ? IpAddress::parse(x.get_ref<const std::string&>())
                           : Expected<IpAddress>(fail("not a string"));
    if (!a) return fail(where + ": " + x.dump() + " is not an IP address");
    out.push_back(*a);
  }
  return out;
}

}  // namespace

std::string encode_state(const State& state) {
  Json endpoints = Json::array();
  for (const auto& [key, r] : state.records) endpoints.push_back(record_json(r));
  Json cursors = Json::object();
  for (const auto& [network, last] : state.cursors) cursors[network] = addresses_json(last);
  Json doc = {{"version", kStateVersion}, {"endpoints", endpoints}, {"cursors", cursors}};
  // Every string was checked printable when it came in; `replace` is a backstop, never a throw.
  return doc.dump(1, ' ', false, Json::error_handler_t::replace) + "\n";
}

Expected<State> decode_state(std::string_view text) {
  Json doc = Json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded()) {
    return fail(json_syntax_error(text));
  }
  if (!doc.is_object()) return fail("expected a JSON object with \"version\" and \"endpoints\"");
  auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer())
    return fail("missing \"version\" (a number)");
  if (version->get<int64_t>() != kStateVersion)
    return fail("version " + version->dump() + " is not one this isthmusd reads (" +
                std::to_string(kStateVersion) + ")");
  State state;
  Reader rd;
  auto endpoints = doc.find("endpoints");
  if (endpoints == doc.end() || !endpoints->is_array())
    return fail("missing \"endpoints\" (a list)");
  std::map<std::pair<std::string, IpAddress>, size_t> ip_index;
  std::map<Key, size_t> key_index;
  for (size_t i = 0; i < endpoints->size(); ++i) {
    const std::string where = "endpoints[" + std::to_string(i) + "]";
    auto r = decode_record(rd, (*endpoints)[i], where);
    if (!r) return fail(rd.error);
    if (auto [it, fresh] = key_index.emplace(r->key, i); !fresh)
      return fail(where + ": network " + r->key.network + " " + describe(r->key) +
                  " is listed twice (also endpoints[" + std::to_string(it->second) + "])");
    for (const auto& a : r->ips)
      if (auto [it, fresh] = ip_index.emplace(std::pair{r->key.network, a}, i); !fresh)
        return fail(where + ": " + a.to_string() + " of network " + r->key.network +
                    " is also endpoints[" + std::to_string(it->second) + "]'s");
    state.records.emplace(r->key, std::move(*r));
  }
  auto cursors = doc.find("cursors");
  if (cursors != doc.end()) {
    if (!cursors->is_object()) return fail("cursors: expected an object");
    for (const auto& [network, list] : cursors->items()) {
      auto last = decode_addresses(list, "cursors." + network);
      if (!last) return fail(last.error().message);
      state.cursors[network] = std::move(*last);
    }
  }
  return state;
}

// ---- The journal -------------------------------------------------------------------------------
//
// One change per line: {"put": [record, ...], "del": [{"network", "container_id", "ifname"}, ...],
// "cursors": {"network": [address, ...]}}, each member optional.

namespace {

std::string journal_line(const std::vector<Record>& put, const std::vector<Key>& del,
                         const std::string& network, const State& state) {
  Json line = Json::object();
  if (!put.empty()) {
    Json p = Json::array();
    for (const auto& r : put) p.push_back(record_json(r));
    line["put"] = std::move(p);
  }
  if (!del.empty()) {
    Json d = Json::array();
    for (const auto& k : del)
      d.push_back({{"network", k.network}, {"container_id", k.container_id}, {"ifname", k.ifname}});
    line["del"] = std::move(d);
  }
  if (!network.empty()) {
    auto it = state.cursors.find(network);
    line["cursors"] = {
        {network, it == state.cursors.end() ? Json::array() : addresses_json(it->second)}};
  }
  return line.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

// One line applied to `state`, or what is wrong with it.
Expected<void> apply_line(State& state, std::string_view text, const std::string& where) {
  Json line = Json::parse(text.begin(), text.end(), nullptr, false);
  if (line.is_discarded()) return fail(where + ": " + json_syntax_error(text));
  if (!line.is_object()) return fail(where + ": expected a JSON object");
  Reader rd;
  std::vector<Record> put;
  std::vector<Key> del;
  if (auto p = line.find("put"); p != line.end()) {
    if (!p->is_array()) return fail(where + ".put: expected a list");
    for (size_t i = 0; i < p->size(); ++i) {
      auto r = decode_record(rd, (*p)[i], where + ".put[" + std::to_string(i) + "]");
      if (!r) return fail(rd.error);
      put.push_back(std::move(*r));
    }
  }
  if (auto d = line.find("del"); d != line.end()) {
    if (!d->is_array()) return fail(where + ".del: expected a list");
    for (size_t i = 0; i < d->size(); ++i) {
      const std::string at = where + ".del[" + std::to_string(i) + "]";
      const Json& k = (*d)[i];
      if (!k.is_object()) return fail(at + ": expected an object");
      auto network = rd.text(k, at, "network", true);
      auto container = rd.text(k, at, "container_id", true);
      auto ifname = rd.text(k, at, "ifname", true);
      if (!network || !container || !ifname) return fail(rd.error);
      del.push_back(Key{*network, *container, *ifname});
    }
  }
  std::map<std::string, std::vector<IpAddress>> cursors;
  if (auto c = line.find("cursors"); c != line.end()) {
    if (!c->is_object()) return fail(where + ".cursors: expected an object");
    for (const auto& [network, list] : c->items()) {
      auto last = decode_addresses(list, where + ".cursors." + network);
      if (!last) return fail(last.error().message);
      cursors[network] = std::move(*last);
    }
  }
  for (const auto& k : del) state.records.erase(k);
  for (auto& r : put) state.records.insert_or_assign(r.key, std::move(r));
  for (auto& [network, last] : cursors) state.cursors[network] = std::move(last);
  return {};
}

}  // namespace

Expected<size_t> replay_journal(State& state, std::string_view text, std::string& torn) {
  torn.clear();
  size_t applied = 0;
  size_t start = 0;
  for (size_t number = 1; start < text.size(); ++number) {
    const size_t end = text.find('\n', start);
    const std::string where = "line " + std::to_string(number);
    if (end == std::string_view::npos) {
      torn = where + " is cut short (" + std::to_string(text.size() - start) +
             " bytes without a newline): a change that was never reported; ignored";
      break;
    }
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (auto ok = apply_line(state, line, where); !ok) {
      // A write cut short in the last line can also leave bytes that are no JSON.
      if (start >= text.size()) {
        torn = where + " (the last) does not parse: a change that was never reported; ignored (" +
               ok.error().message + ")";
        break;
      }
      return fail(ok.error().message);
    }
    ++applied;
  }
  return applied;
}

// ---- Ipam --------------------------------------------------------------------------------------

Ipam::Fd& Ipam::Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd >= 0) ::close(fd);
    fd = std::exchange(o.fd, -1);
  }
  return *this;
}

Ipam::Fd::~Fd() {
  if (fd >= 0) ::close(fd);
}

Expected<Ipam> Ipam::open(std::string path, std::vector<NetworkPools> networks,
                          size_t compact_every) {
  Ipam ipam;
  ipam.compact_every_ = compact_every == 0 ? 1 : compact_every;
  std::set<std::string> names;
  for (auto& n : networks) {
    if (!names.insert(n.name).second) return fail("network " + n.name + " is listed twice");
    for (auto* pool : {&n.v4, &n.v6}) {
      if (!*pool) continue;
      const bool v4 = pool == &n.v4;
      SubnetPool& p = **pool;
      const std::string what = "network " + n.name + ": ";
      if (p.subnet.address().is_v4() != v4)
        return fail(what + p.subnet.to_string() + " is not an " + (v4 ? "IPv4" : "IPv6") +
                    " subnet");
      if (!p.subnet.contains(p.gateway) || p.gateway.family() != p.subnet.family())
        return fail(what + "gateway " + p.gateway.to_string() + " is not inside " +
                    p.subnet.to_string());
      if (p.blocks.empty())
        return fail(what + "no pool in " + p.subnet.to_string() + " (give at least one block)");
      std::sort(p.blocks.begin(), p.blocks.end());
      for (size_t i = 0; i < p.blocks.size(); ++i) {
        if (p.blocks[i].family() != p.subnet.family() || !p.subnet.contains(p.blocks[i]))
          return fail(what + "pool " + p.blocks[i].to_string() + " is not inside " +
                      p.subnet.to_string());
        if (i > 0 && p.blocks[i - 1].contains(p.blocks[i]))
          return fail(what + "pool " + p.blocks[i].to_string() + " overlaps " +
                      p.blocks[i - 1].to_string());
      }
      ipam.families_[{n.name, p.subnet.family()}] = FamilyState{p, {}};
    }
  }
  ipam.networks_ = std::move(networks);
  ipam.path_ = std::move(path);
  if (ipam.path_.empty()) return ipam;

  std::error_code ec;
  auto dir = std::filesystem::path(ipam.path_).parent_path();
  if (!dir.empty()) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return fail("creating " + dir.string() + ": " + ec.message());
  }
  auto text = read_file(ipam.path_);
  if (!text) return fail(text.error().message);
  if (*text) {
    auto state = decode_state(**text);
    if (!state)
      return fail(ipam.path_ + ": " + state.error().message +
                  ". The agent's attachments and their addresses are recorded in this file, and "
                  "it does not start without them: repair the file, or remove it to start with "
                  "none (addresses of running workloads may then be handed out twice)");
    ipam.state_ = std::move(*state);
  }
  auto journal = read_file(ipam.journal_path());
  if (!journal) return fail(journal.error().message);
  if (*journal && !(*journal)->empty()) {
    auto bad = [&](const std::string& why) {
      return fail(ipam.journal_path() + ": " + why +
                  ". The agent's attachments and their addresses are recorded in this file and "
                  "in " +
                  ipam.path_ +
                  ", and it does not start without them: repair the file, or remove it to start "
                  "with what " +
                  ipam.path_ + " says (addresses handed out since may then be handed out twice)");
    };
    std::string torn;
    auto applied = replay_journal(ipam.state_, **journal, torn);
    if (!applied) return bad(applied.error().message);
    // The snapshot's checks (an address held twice, ...) on the result.
    if (auto checked = decode_state(encode_state(ipam.state_)); !checked)
      return bad("after its " + std::to_string(*applied) + " lines: " + checked.error().message);
    if (!torn.empty()) ipam.notes_.push_back(ipam.journal_path() + ": " + torn);
    // Folded into the snapshot now: the journal starts empty (and without the torn line).
    if (auto ok = ipam.compact(); !ok) return fail(ok.error().message);
  }
  ipam.index();
  return ipam;
}

void Ipam::index() {
  owners_.clear();
  for (auto& [k, fs] : families_) fs.used.clear();
  for (const auto& [key, r] : state_.records) add_record(r);
}

Ipam::FamilyState* Ipam::family(const std::string& network, IpFamily f) {
  auto it = families_.find({network, f});
  return it == families_.end() ? nullptr : &it->second;
}

const NetworkPools* Ipam::network(std::string_view name) const {
  for (const auto& n : networks_)
    if (n.name == name) return &n;
  return nullptr;
}

const Record* Ipam::find(const Key& key) const {
  auto it = state_.records.find(key);
  return it == state_.records.end() ? nullptr : &it->second;
}

void Ipam::add_record(const Record& r) {
  state_.records[r.key] = r;
  for (const auto& a : r.ips) {
    FamilyState* fs = family(r.key.network, a.family());
    if (!fs || !fs->pool.subnet.contains(a)) continue;  // stale: not part of any pool now
    fs->used.insert(a);
    owners_[{r.key.network, a}] = r.key;
  }
}

void Ipam::remove_record(const Record& r) {
  for (const auto& a : r.ips) {
    auto it = owners_.find({r.key.network, a});
    if (it == owners_.end() || it->second != r.key) continue;
    owners_.erase(it);
    if (FamilyState* fs = family(r.key.network, a.family())) fs->used.erase(a);
  }
  state_.records.erase(r.key);
}

std::vector<Key> Ipam::stale() const {
  std::vector<Key> out;
  for (const auto& [key, r] : state_.records) {
    bool ok = network(key.network) != nullptr;
    for (const auto& a : r.ips) {
      auto it = families_.find({key.network, a.family()});
      ok = ok && it != families_.end() && it->second.pool.subnet.contains(a);
    }
    if (!ok) out.push_back(key);
  }
  return out;
}

size_t Ipam::in_use(std::string_view network, IpFamily f) const {
  auto it = families_.find({std::string(network), f});
  if (it == families_.end()) return 0;
  size_t n = 0;
  for (const auto& b : it->second.pool.blocks) {
    auto lo = it->second.used.lower_bound(b.address());
    auto hi = it->second.used.upper_bound(last_address(b));
    n += static_cast<size_t>(std::distance(lo, hi));
  }
  return n;
}

std::optional<IpAddress> Ipam::cursor(const std::string& network, IpFamily f) const {
  auto it = state_.cursors.find(network);
  if (it == state_.cursors.end()) return std::nullopt;
  for (const auto& a : it->second)
    if (a.family() == f) return a;
  return std::nullopt;
}

void Ipam::set_cursor(const std::string& network, const IpAddress& a) {
  auto& list = state_.cursors[network];
  std::erase_if(list, [&](const IpAddress& x) { return x.family() == a.family(); });
  list.push_back(a);
  std::sort(list.begin(), list.end(),
            [](const IpAddress& x, const IpAddress& y) { return x.is_v4() && !y.is_v4(); });
}

Expected<IpAddress, IpamError> Ipam::pick_dynamic(const std::string& network,
                                                  const FamilyState& fs) const {
  const auto& blocks = fs.pool.blocks;
  const size_t n = blocks.size();
  // Start after the cursor: in its block, or at the first block after it (wrapping).
  size_t bi = 0;
  IpAddress start = blocks[0].address();
  if (auto cur = cursor(network, fs.pool.subnet.family())) {
    auto after =
        std::upper_bound(blocks.begin(), blocks.end(), *cur,
                         [](const IpAddress& a, const Prefix& b) { return a < b.address(); });
    const size_t i = static_cast<size_t>(after - blocks.begin());
    auto next = next_address(*cur);
    if (i > 0 && blocks[i - 1].contains(*cur) && next && blocks[i - 1].contains(*next)) {
      bi = i - 1;
      start = *next;
    } else {
      bi = i % n;
      start = blocks[bi].address();
    }
  }
  // Each block from `start`, then from its beginning, n + 1 visits: the starting block is seen
  // again from its beginning last. Only used and reserved addresses are stepped over, so the
  // cost is bounded by the addresses in use, never by the pool's size.
  for (size_t visit = 0; visit <= n; ++visit) {
    const Prefix& b = blocks[bi];
    std::optional<IpAddress> c = start;
    while (c && b.contains(*c)) {
      if (!is_reserved(fs.pool, *c) && !fs.used.contains(*c)) return *c;
      c = next_address(*c);
    }
    bi = (bi + 1) % n;
    start = blocks[bi].address();
  }
  const IpFamily f = fs.pool.subnet.family();
  return unexpected(
      IpamError{kCodePoolExhausted, "network " + network + ": no free " + family_name(f) +
                                        " address in this node's pool " + blocks_text(fs.pool) +
                                        " (" + std::to_string(in_use(network, f)) + " in use)"});
}

Expected<void, IpamError> Ipam::check_static(const Key& key, const FamilyState& fs,
                                             const IpAddress& ip) const {
  const SubnetPool& p = fs.pool;
  const std::string what = "network " + key.network + ": static IP " + ip.to_string();
  if (!p.subnet.contains(ip))
    return unexpected(
        IpamError{kCodeInvalidNetwork, what + " is not inside the subnet " + p.subnet.to_string()});
  if (ip == p.gateway)
    return unexpected(IpamError{kCodeInvalidNetwork, what + " is the gateway's"});
  if (is_reserved(p, ip))
    return unexpected(IpamError{kCodeInvalidNetwork,
                                what + (ip.is_v4() ? " is the subnet's network or broadcast address"
                                                   : " is the subnet-router anycast address")});
  if (std::none_of(p.blocks.begin(), p.blocks.end(),
                   [&](const Prefix& b) { return b.contains(ip); }))
    return unexpected(IpamError{kCodeInvalidNetwork,
                                what + " is outside this node's pool " + blocks_text(p) +
                                    " (another node may hand it out; ask for one of this pool)"});
  auto it = owners_.find({key.network, ip});
  if (it != owners_.end() && it->second != key)
    return unexpected(IpamError{kCodeInUse, what + " is in use by " + describe(it->second)});
  return {};
}

Expected<Allocation, IpamError> Ipam::allocate(const Request& req) {
  const Key& key = req.key;
  if (auto bad = check_fields(key, req.netns, req.host_ifname); !bad.empty())
    return unexpected(IpamError{kCodeInvalidFields, bad});
  const NetworkPools* net = network(key.network);
  if (!net) {
    std::string names;
    for (const auto& n : networks_) names += (names.empty() ? "" : ", ") + n.name;
    return unexpected(IpamError{kCodeInvalidNetwork,
                                "network \"" + key.network + "\" is not configured on this node (" +
                                    (names.empty() ? "no networks" : "networks: " + names) + ")"});
  }
  const std::string who = "network " + key.network + " " + describe(key);

  if (const Record* r = find(key)) {
    auto differs = [&](const std::string& what) {
      return unexpected(IpamError{kCodeInvalidFields, who + " exists with a different " + what +
                                                          " (DEL it first to change it)"});
    };
    for (const auto& ip : req.ips)
      if (std::find(r->ips.begin(), r->ips.end(), ip) == r->ips.end())
        return differs("address than " + ip.to_string());
    if (req.mac && r->mac && *req.mac != *r->mac) return differs("MAC");
    if (!req.netns.empty() && !r->netns.empty() && req.netns != r->netns) return differs("netns");
    if (!req.host_ifname.empty() && !r->host_ifname.empty() && req.host_ifname != r->host_ifname)
      return differs("host interface");
    if (req.kind != r->kind) return differs("kind");
    return Allocation{*r, true};
  }

  // Static requests, one per family.
  std::optional<IpAddress> want[2];
  for (const auto& ip : req.ips) {
    auto& slot = want[ip.is_v4() ? 0 : 1];
    if (slot)
      return unexpected(
          IpamError{kCodeInvalidNetwork,
                    who + ": two static " + family_name(ip.family()) + " addresses requested"});
    if (!family(key.network, ip.family()))
      return unexpected(IpamError{kCodeInvalidNetwork,
                                  "network " + key.network + " has no " + family_name(ip.family()) +
                                      " subnet (static IP " + ip.to_string() + ")"});
    slot = ip;
  }
  if (req.mac) {
    for (const auto& [k, r] : state_.records)
      if (k.network == key.network && r.mac == req.mac)
        return unexpected(IpamError{kCodeInUse, "network " + key.network + ": MAC " +
                                                    req.mac->to_string() + " is in use by " +
                                                    describe(k)});
  }

  Record rec{key, {}, req.mac, req.netns, req.host_ifname, req.kind};
  std::vector<IpAddress> dynamic;
  for (IpFamily f : {IpFamily::V4, IpFamily::V6}) {
    const FamilyState* fs = family(key.network, f);
    if (!fs) continue;
    const auto& w = want[f == IpFamily::V4 ? 0 : 1];
    if (w) {
      if (auto ok = check_static(key, *fs, *w); !ok) return unexpected(std::move(ok.error()));
      rec.ips.push_back(*w);
    } else {
      auto a = pick_dynamic(key.network, *fs);
      if (!a) return unexpected(std::move(a.error()));
      rec.ips.push_back(*a);
      dynamic.push_back(*a);
    }
  }

  const auto old_cursors = state_.cursors;
  add_record(rec);
  for (const auto& a : dynamic) set_cursor(key.network, a);
  if (auto saved = save({rec}, {}, dynamic.empty() ? std::string() : key.network); !saved) {
    remove_record(rec);
    state_.cursors = old_cursors;
    return unexpected(std::move(saved.error()));
  }
  return Allocation{std::move(rec), false};
}

Expected<void, IpamError> Ipam::update(const Record& record) {
  auto it = state_.records.find(record.key);
  if (it == state_.records.end())
    return unexpected(IpamError{kCodeInvalidFields, "network " + record.key.network + " " +
                                                        describe(record.key) +
                                                        " has no addresses to update"});
  if (it->second.ips != record.ips)
    return unexpected(IpamError{kCodeInvalidFields, "network " + record.key.network + " " +
                                                        describe(record.key) +
                                                        ": an update cannot change addresses"});
  if (auto bad = check_fields(record.key, record.netns, record.host_ifname); !bad.empty())
    return unexpected(IpamError{kCodeInvalidFields, bad});
  Record old = it->second;
  it->second = record;
  if (auto saved = save({record}, {}, {}); !saved) {
    state_.records[record.key] = old;
    return unexpected(std::move(saved.error()));
  }
  return {};
}

Expected<std::optional<Record>, IpamError> Ipam::release(const Key& key) {
  const Record* r = find(key);
  if (!r) return std::optional<Record>();
  Record old = *r;
  remove_record(old);
  if (auto saved = save({}, {key}, {}); !saved) {
    add_record(old);
    return unexpected(std::move(saved.error()));
  }
  return std::optional<Record>(std::move(old));
}

Expected<std::vector<Record>, IpamError> Ipam::gc(
    const std::string& network, const std::set<std::pair<std::string, std::string>>& valid) {
  std::vector<Record> removed;
  for (const auto& [key, r] : state_.records)
    if (key.network == network && !valid.contains({key.container_id, key.ifname}))
      removed.push_back(r);
  if (removed.empty()) return removed;
  std::vector<Key> keys;
  for (const auto& r : removed) {
    remove_record(r);
    keys.push_back(r.key);
  }
  if (auto saved = save({}, keys, {}); !saved) {
    for (const auto& r : removed) add_record(r);
    return unexpected(std::move(saved.error()));
  }
  return removed;
}

Expected<void, IpamError> Ipam::save(const std::vector<Record>& put, const std::vector<Key>& del,
                                     const std::string& network) {
  if (path_.empty()) return {};
  auto ok = journal_dirty_ || journal_lines_ >= compact_every_
                ? compact()
                : append(journal_line(put, del, network, state_));
  if (!ok)
    return unexpected(IpamError{kCodeIoFailure, "saving the endpoints: " + ok.error().message});
  return {};
}

// One line at the journal's end, on disk (fdatasync) before it returns. A write that fails half
// way is cut off again, so that the journal holds whole lines only; if even that fails, the next
// change compacts (a new snapshot and an empty journal).
Expected<void> Ipam::append(const std::string& line) {
  const std::string jp = journal_path();
  // A journal removed (with its directory) while open would take the lines with it: it is opened
  // again by name.
  if (journal_.fd >= 0) {
    struct stat st {};
    if (::fstat(journal_.fd, &st) != 0 || st.st_nlink == 0) journal_ = Fd();
  }
  if (journal_.fd < 0) {
    const bool existed = ::access(jp.c_str(), F_OK) == 0;
    Fd fd;
    fd.fd = ::open(jp.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd.fd < 0) return fail("opening " + jp + ": " + errno_text(errno));
    if (!existed) {
      // The new file's name on disk: the directory synced once.
      std::string dir = std::filesystem::path(jp).parent_path().string();
      if (dir.empty()) dir = ".";
      int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0 || ::fsync(dfd) != 0) {
        const int e = errno;
        if (dfd >= 0) ::close(dfd);
        return fail("fsync " + dir + ": " + errno_text(e));
      }
      ::close(dfd);
    }
    journal_ = std::move(fd);
  }
  const off_t before = ::lseek(journal_.fd, 0, SEEK_END);
  size_t done = 0;
  int err = 0;
  while (done < line.size()) {
    ssize_t n = ::write(journal_.fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (err == 0 && ::fdatasync(journal_.fd) != 0) err = errno;
  if (err != 0) {
    if (before < 0 || ::ftruncate(journal_.fd, before) != 0) journal_dirty_ = true;
    return fail("writing " + jp + ": " + errno_text(err));
  }
  ++journal_lines_;
  return {};
}

// The state as a new snapshot, then an empty journal. A crash in between leaves lines the
// snapshot has already; replaying them changes nothing.
Expected<void> Ipam::compact() {
  if (auto ok = write_atomically(path_, encode_state(state_)); !ok) return ok;
  const std::string jp = journal_path();
  journal_ = Fd();
  if (::truncate(jp.c_str(), 0) != 0 && errno != ENOENT)
    return fail("emptying " + jp + ": " + errno_text(errno));
  journal_lines_ = 0;
  journal_dirty_ = false;
  return {};
}

}  // namespace isthmus::agent::ipam
