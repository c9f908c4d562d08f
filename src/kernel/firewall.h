// The kernel's packet filtering and NAT (nftables) as the agent uses it: one table of its own,
// whose whole contents are replaced in one transaction, or which is deleted. Nothing outside
// that table is read or changed. Two implementations: NftFirewall (libnftables, the real thing)
// and FakeFirewall (the tables in memory, for the agent's unit tests).
//
// A failure names the operation, the table and nft's own message ("nft: replace table inet
// isthmus: Error: Could not process rule: No such file or directory; add chain ...").
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/expected.h"

struct nft_ctx;

namespace isthmus::kernel {

// A table: its family ("inet", "ip", "ip6", ...) and name.
struct FirewallTable {
  std::string family;
  std::string name;
  std::string to_string() const { return family + " " + name; }
  auto operator<=>(const FirewallTable&) const = default;
};

class Firewall {
 public:
  virtual ~Firewall() = default;
  // After one transaction the table holds exactly `body`: its sets, maps and chains in nft
  // syntax, without the `table FAMILY NAME { ... }` around them. The transaction declares the
  // table (so that it exists), deletes it and adds it again with `body`: the kernel applies it
  // whole or not at all, so packets meet either the old table or the new one, never none (a
  // restarted agent adopts its table without a gap by replacing it with the same contents).
  virtual Expected<void> replace_table(const FirewallTable& table, const std::string& body) = 0;
  // Deletes the table with everything in it; a table that is not there is no error.
  virtual Expected<void> delete_table(const FirewallTable& table) = 0;
  // nft commands (adding or deleting set elements of the table) as one transaction: all or
  // nothing. `what` names them in the error.
  virtual Expected<void> apply(const FirewallTable& table, const std::string& commands,
                               const std::string& what) = 0;
};

// libnftables: each call is one run of nft's parser over the commands, sent to the kernel as one
// nf_tables batch (NFNL_MSG_BATCH_BEGIN .. END, all or nothing).
class NftFirewall final : public Firewall {
 public:
  static Expected<std::unique_ptr<NftFirewall>> open();
  ~NftFirewall() override;
  NftFirewall(const NftFirewall&) = delete;
  NftFirewall& operator=(const NftFirewall&) = delete;

  Expected<void> replace_table(const FirewallTable& table, const std::string& body) override;
  Expected<void> delete_table(const FirewallTable& table) override;
  Expected<void> apply(const FirewallTable& table, const std::string& commands,
                       const std::string& what) override;
  // Runs nft commands (a test's `list table ...`) and returns their output.
  Expected<std::string> run(const std::string& commands, const std::string& what);

 private:
  explicit NftFirewall(nft_ctx* ctx) : ctx_(ctx) {}
  nft_ctx* ctx_;
};

// The tables in memory. A body is taken as it is (nft's parser is not modelled): the agent's
// tests read back what it asked for; whether nft takes it is the netns tests' business.
class FakeFirewall final : public Firewall {
 public:
  Expected<void> replace_table(const FirewallTable& table, const std::string& body) override;
  Expected<void> delete_table(const FirewallTable& table) override;
  // Recorded, not applied: "apply bridge isthmus: COMMANDS" in the log.
  Expected<void> apply(const FirewallTable& table, const std::string& commands,
                       const std::string& what) override;

  const std::map<FirewallTable, std::string>& tables() const { return tables_; }
  // The next call fails with `reason` (once).
  void fail_next(std::string reason) { failure_ = std::move(reason); }
  // Every call made (not the failed ones): "replace inet isthmus", "delete inet isthmus".
  const std::vector<std::string>& log() const { return log_; }
  void clear_log() { log_.clear(); }

 private:
  std::map<FirewallTable, std::string> tables_;
  std::string failure_;
  std::vector<std::string> log_;
};

}  // namespace isthmus::kernel
