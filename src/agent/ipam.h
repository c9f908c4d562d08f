// IPAM: this node's addresses of the virtual networks, and the record of every local
// attachment (the agent's endpoints), persisted so that both survive an agent restart.
//
// Model. A network has an IPv4 and/or an IPv6 subnet with its anycast gateway, and this node owns
// some blocks of each subnet (config `pool` / `pool6`; default the whole subnet). The node hands
// out addresses only from its blocks, without asking anyone: nodes whose blocks are disjoint never
// hand out the same address. Never handed out: the subnet's own address (IPv4 network address,
// IPv6 subnet-router anycast, RFC 4291 §2.6.1), the IPv4 broadcast address and the gateway.
// (RFC 2526's reserved anycast addresses at the top of an IPv6 subnet are not held back.)
//
// An attachment (network, container_id, ifname) gets one address per family the network has
// (none on a network without subnets: an L2-only network still has its records).
// Dynamic addresses come round robin: the next free address after the last one handed out,
// wrapping, so that a released address is not reused at once. Pools are never iterated: a set of
// the addresses in use is searched from that cursor (an IPv6 /64 has 2^64 addresses).
// Static addresses must be inside this node's blocks: anywhere else in the subnet another node
// may hand the same address out, and nothing here could see it (code 7 otherwise).
//
// Persistence. A snapshot, one JSON file per node (`<agent.state_dir>/endpoints.json`), and a
// journal beside it (`endpoints.json.journal`): every change is one line appended to the journal
// and fdatasync'd before the change is reported, so that what the two say covers everything
// handed out, also after kill -9 or a power loss. The journal is folded into the snapshot
// (rewritten atomically: temporary file, fsync, rename, fsync of the directory; then the journal
// is emptied) at open() and after every kCompactEvery lines: a change costs one short write and
// one fdatasync, not a rewrite of every record. A crash between the two leaves lines
// the snapshot has already: replaying them changes nothing. A journal's last line that is cut
// short (a write that did not finish) was never reported: it is ignored, and notes() says so. A
// missing snapshot is a first start. A snapshot or a journal (other than its last line) that
// cannot be read or parsed is an error naming the file and the fault, and open() fails:
// the agent does not start rather than forget attachments whose addresses are still in use (it
// would hand them out again). The operator fixes or removes the file; nothing is moved aside.
// Records of networks no longer configured, or whose addresses are outside the configured subnets,
// are kept, not used for allocation, and listed by stale(): the agent decides (DEL and GC remove
// them as usual).
//
// Pure logic plus the file: no kernel, no event loop; one thread (the agent's) uses it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/expected.h"
#include "core/ip.h"

namespace isthmus::agent::ipam {

// The CNI error codes of docs/agent-api.md that IPAM gives.
inline constexpr int kCodeInvalidFields = 4;    // a missing or malformed container_id, ifname, ...
inline constexpr int kCodeIoFailure = 5;        // the state file could not be written
inline constexpr int kCodeInvalidNetwork = 7;   // unknown network, static IP outside the pool, ...
inline constexpr int kCodePoolExhausted = 100;  // no free address in this node's pool
inline constexpr int kCodeInUse = 101;          // a static IP held by another attachment

struct IpamError {
  int code = 0;
  std::string message;
};

// One family of a network: the subnet, its gateway and the blocks this node allocates from.
struct SubnetPool {
  Prefix subnet = {};
  IpAddress gateway = {};
  std::vector<Prefix> blocks = {};  // inside subnet, disjoint, not empty
};

struct NetworkPools {
  std::string name;
  std::optional<SubnetPool> v4 = {};
  std::optional<SubnetPool> v6 = {};
};

// An attachment as CNI identifies it.
struct Key {
  std::string network;
  std::string container_id;
  std::string ifname;
  auto operator<=>(const Key&) const = default;
  bool operator==(const Key&) const = default;
};

enum class Kind : uint8_t { Veth, Tap };
std::string_view kind_name(Kind k);  // "veth", "tap"

// What the node knows of one attachment; persisted, so that the agent can rebuild its endpoints
// after a restart and DEL works without the container's namespace. IPAM owns `ips`; the other
// fields are the agent's (set by allocate() from the request, changed with update()).
struct Record {
  Key key = {};
  std::vector<IpAddress> ips = {};     // IPv4 first, then IPv6; one of each family the network has
  std::optional<MacAddress> mac = {};  // the workload's MAC, once known
  std::string netns = {};              // the container's namespace path; empty for a tap
  std::string host_ifname = {};        // the host end of the veth, or the tap
  Kind kind = Kind::Veth;
  bool operator==(const Record&) const = default;
};

struct Request {
  Key key = {};
  // Static addresses: at most one per family, inside this node's pool. A family of the network
  // without one here gets a dynamic address.
  std::vector<IpAddress> ips = {};
  std::optional<MacAddress> mac = {};
  std::string netns = {};
  std::string host_ifname = {};
  Kind kind = Kind::Veth;
};

struct Allocation {
  Record record = {};
  bool existed = false;  // the attachment had its addresses already (a repeated ADD)
};

// Deterministic blocks of a subnet for a controller or a future `pool: auto`: the subnet cut into
// prefixes of `block_length`, in address order. At most 65536 blocks; an error otherwise, or when
// block_length is shorter than the subnet's or longer than the family allows.
Expected<std::vector<Prefix>> split_blocks(const Prefix& subnet, uint8_t block_length);
// The `index`th (from 0) of those blocks, without listing them: node N of a cluster takes block N.
Expected<Prefix> nth_block(const Prefix& subnet, uint8_t block_length, uint64_t index);

// The next address (+1), or nullopt past the family's last address.
std::optional<IpAddress> next_address(const IpAddress& a);
// The last address of a prefix (all host bits set).
IpAddress last_address(const Prefix& p);
// Network/subnet-router address, IPv4 broadcast, gateway.
bool is_reserved(const SubnetPool& pool, const IpAddress& a);

// The state file's contents: records and the round-robin cursors.
struct State {
  std::map<Key, Record> records;
  // Per network, the last dynamic address handed out per family (for round robin after restart).
  std::map<std::string, std::vector<IpAddress>> cursors;
};
// The JSON text of a state, and back. decode_state() takes untrusted text: any bytes give a
// state or an error that says where and what is wrong (fuzz_ipam_state).
std::string encode_state(const State& state);
Expected<State> decode_state(std::string_view text);

// The journal's text applied to `state` in order; the number of lines applied. Any bytes give
// that or an error naming the line (fuzz_ipam_state). A last line that is cut short or does not
// parse is not applied and is described in `torn` (left empty otherwise).
Expected<size_t> replay_journal(State& state, std::string_view text, std::string& torn);

inline constexpr std::string_view kStateFileName = "endpoints.json";
inline constexpr std::string_view kJournalSuffix = ".journal";
// The journal is folded into the snapshot after this many lines.
inline constexpr size_t kCompactEvery = 1024;

class Ipam {
 public:
  // Reads `path` (a missing file: no attachments yet) and checks the networks (blocks inside
  // their subnets, disjoint). An empty path keeps everything in memory (tests). Creates the
  // file's directory when missing. Errors: an unreadable or corrupt file, an invalid network.
  // `compact_every`: journal lines between snapshots (tests make it small).
  static Expected<Ipam> open(std::string path, std::vector<NetworkPools> networks,
                             size_t compact_every = kCompactEvery);

  // Addresses for an attachment, persisted before it returns. For an attachment that exists
  // already: its record (existed = true) when the request agrees with it (static IPs among its
  // addresses, same MAC, netns, host_ifname, kind where the request gives them), else code 4.
  // All or nothing: when one family fails, nothing is allocated.
  Expected<Allocation, IpamError> allocate(const Request& request);
  // Replaces the agent's fields of an existing record (mac, netns, host_ifname, kind); the
  // addresses must be the record's, and the attachment must exist (code 4 otherwise).
  Expected<void, IpamError> update(const Record& record);
  // Forgets the attachment and frees its addresses; the record it had, nullopt if none
  // (idempotent). Errors: code 5 when the file could not be written (nothing changed then).
  Expected<std::optional<Record>, IpamError> release(const Key& key);
  // CNI GC: removes every attachment of `network` whose (container_id, ifname) is not in
  // `valid`; the records removed.
  Expected<std::vector<Record>, IpamError> gc(
      const std::string& network, const std::set<std::pair<std::string, std::string>>& valid);

  const std::map<Key, Record>& records() const { return state_.records; }
  const Record* find(const Key& key) const;
  // Records whose network is not configured, or with an address outside its configured subnets.
  std::vector<Key> stale() const;
  const NetworkPools* network(std::string_view name) const;
  const std::vector<NetworkPools>& networks() const { return networks_; }
  // Addresses in use within this node's blocks of `network`'s family (for messages, status).
  size_t in_use(std::string_view network, IpFamily family) const;
  const std::string& path() const { return path_; }
  // What open() found worth a log line (a journal's last line cut short).
  const std::vector<std::string>& notes() const { return notes_; }
  // Lines in the journal now (for tests).
  size_t journal_lines() const { return journal_lines_; }

 private:
  // The journal's descriptor: closed with the Ipam, moved with it.
  struct Fd {
    int fd = -1;
    Fd() = default;
    Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
    Fd& operator=(Fd&& o) noexcept;
    ~Fd();
  };
  struct FamilyState {
    SubnetPool pool;
    std::set<IpAddress> used;  // addresses of records inside the subnet
  };
  Ipam() = default;
  // Persists one change: the records written (or rewritten), the keys removed, and the cursors
  // of `network` (when not empty). A journal line, or a new snapshot when it is time to compact.
  Expected<void, IpamError> save(const std::vector<Record>& put, const std::vector<Key>& del,
                                 const std::string& network);
  Expected<void> append(const std::string& line);
  Expected<void> compact();
  std::string journal_path() const { return path_ + std::string(kJournalSuffix); }
  // Rebuilds the used sets from the records.
  void index();
  FamilyState* family(const std::string& network, IpFamily f);
  Expected<IpAddress, IpamError> pick_dynamic(const std::string& network,
                                              const FamilyState& fs) const;
  Expected<void, IpamError> check_static(const Key& key, const FamilyState& fs,
                                         const IpAddress& ip) const;
  void add_record(const Record& r);
  void remove_record(const Record& r);
  std::optional<IpAddress> cursor(const std::string& network, IpFamily f) const;
  void set_cursor(const std::string& network, const IpAddress& a);

  std::string path_;
  std::vector<NetworkPools> networks_;
  std::map<std::pair<std::string, IpFamily>, FamilyState> families_;
  // Who holds an address: (network, address) -> key.
  std::map<std::pair<std::string, IpAddress>, Key> owners_;
  State state_;
  Fd journal_;
  size_t journal_lines_ = 0;
  size_t compact_every_ = kCompactEvery;
  bool journal_dirty_ = false;  // a failed append may have left part of a line: compact next
  std::vector<std::string> notes_;
};

}  // namespace isthmus::agent::ipam
