#include "kernel/firewall.h"

#include <nftables/libnftables.h>

#include <string_view>

namespace isthmus::kernel {
namespace {

// nft's error buffer as one line: its lines joined with "; ", without the lines of carets and
// tildes that point into the input (the input line before them says where).
std::string one_line(std::string_view text) {
  std::string out;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (line.find_first_not_of(" \t^~") == std::string_view::npos) continue;
    if (!out.empty()) out += "; ";
    out += line;
  }
  return out;
}

}  // namespace

Expected<std::unique_ptr<NftFirewall>> NftFirewall::open() {
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (!ctx) return fail("nft: cannot create a libnftables context (out of memory)");
  if (nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
    nft_ctx_free(ctx);
    return fail("nft: cannot buffer libnftables' output");
  }
  return std::unique_ptr<NftFirewall>(new NftFirewall(ctx));
}

NftFirewall::~NftFirewall() { nft_ctx_free(ctx_); }

Expected<std::string> NftFirewall::run(const std::string& commands, const std::string& what) {
  const int rc = nft_run_cmd_from_buffer(ctx_, commands.c_str());
  // Both buffers are emptied by reading them: read both whatever the outcome.
  std::string out = nft_ctx_get_output_buffer(ctx_);
  std::string err = one_line(nft_ctx_get_error_buffer(ctx_));
  if (rc != 0)
    return fail("nft: " + what + ": " + (err.empty() ? "failed, without a message" : err));
  return out;
}

Expected<void> NftFirewall::replace_table(const FirewallTable& table, const std::string& body) {
  const std::string t = "table " + table.to_string();
  // One batch: declared (so that the delete finds it), deleted, added with its contents.
  auto r = run(t + "\ndelete " + t + "\n" + t + " {\n" + body + "}\n",
               "replace table " + table.to_string());
  if (!r) return unexpected(std::move(r.error()));
  return {};
}

Expected<void> NftFirewall::delete_table(const FirewallTable& table) {
  const std::string t = "table " + table.to_string();
  auto r = run(t + "\ndelete " + t + "\n", "delete table " + table.to_string());
  if (!r) return unexpected(std::move(r.error()));
  return {};
}

Expected<void> NftFirewall::apply(const FirewallTable& table, const std::string& commands,
                                  const std::string& what) {
  auto r = run(commands, what + " (table " + table.to_string() + ")");
  if (!r) return unexpected(std::move(r.error()));
  return {};
}

Expected<void> FakeFirewall::apply(const FirewallTable& table, const std::string& commands,
                                   const std::string& what) {
  if (!failure_.empty())
    return fail("nft: " + what + " (table " + table.to_string() +
                "): " + std::exchange(failure_, ""));
  log_.push_back("apply " + table.to_string() + ": " + commands);
  return {};
}

Expected<void> FakeFirewall::replace_table(const FirewallTable& table, const std::string& body) {
  if (!failure_.empty())
    return fail("nft: replace table " + table.to_string() + ": " + std::exchange(failure_, ""));
  tables_[table] = body;
  log_.push_back("replace " + table.to_string());
  return {};
}

Expected<void> FakeFirewall::delete_table(const FirewallTable& table) {
  if (!failure_.empty())
    return fail("nft: delete table " + table.to_string() + ": " + std::exchange(failure_, ""));
  tables_.erase(table);
  log_.push_back("delete " + table.to_string());
  return {};
}

}  // namespace isthmus::kernel
