// The agent's nftables table through libnftables (kernel::NftFirewall) on the real kernel, in a
// network namespace of this process's own (unshare): nft takes the ruleset the agent generates,
// replaces it whole, reports its errors with nft's words, and leaves other tables alone.
#include <gtest/gtest.h>
#include <sched.h>

#include <cerrno>
#include <cstring>

#include "agent/firewall.h"

namespace isthmus::agent {
namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

class FirewallNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0)
        << "unshare(CLONE_NEWNET): " << std::strerror(errno) << " (the kernel tests need root)";
    auto f = kernel::NftFirewall::open();
    ASSERT_TRUE(f.has_value()) << f.error().message;
    fw_ = std::move(*f);
  }
  std::string list(const std::string& table) {
    auto out = fw_->run("list table " + table, "list");
    return out ? *out : "error: " + out.error().message;
  }
  std::unique_ptr<kernel::NftFirewall> fw_;
};

DesiredState two_tenants() {
  DesiredState d;
  NetworkState blue{.vni = 100, .gateways = {{ip("100.64.1.1"), 24}, {ip("fd00:64:1::1"), 64}}};
  blue.table = kTableBase + 5001;
  blue.nat_outgoing = true;
  blue.flood = {ip("198.18.0.3")};
  NetworkState orange{.vni = 400, .gateways = {{ip("100.64.1.1"), 24}}};
  orange.table = kTableBase + 5002;
  d.networks = {blue, orange};
  d.l3vnis.push_back({.vni = 5001, .table = kTableBase + 5001});
  d.l3vnis.push_back({.vni = 5002, .table = kTableBase + 5002});
  return d;
}

TEST_F(FirewallNetnsTest, TheAgentsRulesetIsTakenWholeAndReplaced) {
  ASSERT_TRUE(fw_->run("add table inet other\nadd chain inet other c", "setup").has_value());
  const DesiredState d = two_tenants();
  const std::vector<Prefix> underlay{*Prefix::parse("198.18.0.0/24"),
                                     *Prefix::parse("fd00:18::/64")};
  auto ok = fw_->replace_table(kFirewallTable, firewall_ruleset(firewall_state(d, underlay)));
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  std::string t = list("inet isthmus");
  EXPECT_NE(t.find("masquerade"), std::string::npos) << t;
  EXPECT_NE(t.find("jump nat_outgoing"), std::string::npos) << t;
  EXPECT_NE(t.find("198.18.0.0/24"), std::string::npos) << t;
  // The same again (a restarted agent): one transaction, no error that the table exists.
  ok = fw_->replace_table(kFirewallTable, firewall_ruleset(firewall_state(d, underlay)));
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  // Without NAT: the NAT chains are gone, not merged with the old contents.
  DesiredState plain = d;
  plain.networks[0].nat_outgoing = false;
  ok = fw_->replace_table(kFirewallTable, firewall_ruleset(firewall_state(plain, underlay)));
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  t = list("inet isthmus");
  EXPECT_EQ(t.find("masquerade"), std::string::npos) << t;
  EXPECT_NE(t.find("ct mark set iifname map @vrf_marks"), std::string::npos) << t;
  // A body nft refuses: nft's own message, and the table as it was.
  auto bad = fw_->replace_table(kFirewallTable, "\tchain c {\n\t\tnonsense here\n\t}\n");
  ASSERT_FALSE(bad.has_value());
  EXPECT_TRUE(bad.error().message.starts_with("nft: replace table inet isthmus: Error: "))
      << bad.error().message;
  EXPECT_EQ(bad.error().message.find('\n'), std::string::npos) << bad.error().message;
  EXPECT_EQ(list("inet isthmus"), t);
  // Deleted, twice (nothing there is no error); the other table stays.
  ASSERT_TRUE(fw_->delete_table(kFirewallTable).has_value());
  ok = fw_->delete_table(kFirewallTable);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_TRUE(list("inet isthmus").starts_with("error: nft: list: Error: "));
  EXPECT_NE(list("inet other").find("chain c"), std::string::npos);
}

}  // namespace
}  // namespace isthmus::agent
