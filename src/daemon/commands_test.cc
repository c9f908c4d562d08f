// The EVPN control commands against a speaker that never starts (no sockets): argument checks,
// answers, and what they do to the EVPN service.
#include "daemon/commands.h"

#include <gtest/gtest.h>

#include "ctl/commands.h"
#include "ctl/format.h"
#include "daemon/build.h"

namespace isthmus::daemon {
namespace {

class EvpnCommandsTest : public ::testing::Test {
 protected:
  EvpnCommandsTest() {
    auto cfg = config::parse_config(R"(
control_socket: /nonexistent/isthmusd.sock
bgp: { asn: 65000, router_id: 198.18.0.1 }
evpn:
  vtep: 198.18.0.1
  vnis: [{ vni: 100 }]
  duplicate_detection: { max_moves: 2, window: 60 }
vrfs: [{ name: tenant1, l3vni: 1000 }]
)",
                                    "test.yaml");
    EXPECT_TRUE(cfg.has_value()) << cfg.error().message;
    cfg_ = *cfg;
    bgp::SpeakerConfig sc;
    sc.asn = 65000;
    sc.router_id = 0xc6120001;
    speaker_ = std::make_unique<bgp::Speaker>(loop_, std::move(sc));
    evpn_ = std::make_unique<evpn::Instance>(speaker_->rib(), build_evpn_config(cfg_),
                                             evpn_hooks(*speaker_, evpn_ptr_));
    evpn_ptr_ = evpn_.get();
    attach_evpn(*speaker_, *evpn_);
    evpn_->start();
  }
  ~EvpnCommandsTest() override { speaker_.reset(); }

  std::string ok(std::vector<std::string> args) {
    auto r = run_command(*speaker_, *evpn_, args);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    return r && r->is_string() ? r->get<std::string>() : (r ? r->dump() : "");
  }
  std::string error(std::vector<std::string> args) {
    auto r = run_command(*speaker_, *evpn_, args);
    EXPECT_FALSE(r.has_value());
    return r ? "" : r.error().message;
  }

  config::Config cfg_;
  EventLoop loop_;
  evpn::Instance* evpn_ptr_ = nullptr;
  std::unique_ptr<evpn::Instance> evpn_;  // outlives the speaker, as in isthmusd
  std::unique_ptr<bgp::Speaker> speaker_;
};

TEST_F(EvpnCommandsTest, MacAddAndDel) {
  EXPECT_EQ(ok({"evpn", "mac", "add", "100", "02:00:00:00:00:01", "100.64.0.1"}),
            "VNI 100: 02:00:00:00:00:01 100.64.0.1 advertised from 198.18.0.1 (sequence 0)");
  EXPECT_EQ(ok({"evpn", "mac", "add", "100", "02:00:00:00:00:02", "sticky"}),
            "VNI 100: 02:00:00:00:00:02 advertised from 198.18.0.1 (sequence 0, sticky)");
  auto j = run_command(*speaker_, *evpn_, {"show", "evpn", "mac", "vni", "100"});
  ASSERT_TRUE(j.has_value());
  ASSERT_EQ((*j)["macs"].size(), 2u);
  EXPECT_EQ((*j)["macs"][0]["flags"], nlohmann::json({"local"}));
  EXPECT_EQ((*j)["macs"][0]["ips"], nlohmann::json({"100.64.0.1"}));
  EXPECT_EQ((*j)["macs"][0]["local_mac"]["state"], "local");
  EXPECT_EQ((*j)["macs"][1]["flags"], nlohmann::json({"local", "sticky"}));
  auto v = run_command(*speaker_, *evpn_, {"show", "evpn", "vni"});
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ((*v)[0]["local_macs"], 2);
  EXPECT_EQ(ok({"evpn", "mac", "del", "100", "02:00:00:00:00:01"}),
            "VNI 100: 02:00:00:00:00:01 no longer advertised");
  EXPECT_EQ(ok({"evpn", "mac", "del", "100", "02:00:00:00:00:01"}),
            "VNI 100: 02:00:00:00:00:01 was not a local MAC");
}

TEST_F(EvpnCommandsTest, MacErrors) {
  EXPECT_EQ(error({"evpn", "mac", "add", "100"}),
            "expected: evpn mac add|del VNI MAC [IP] [sticky]");
  EXPECT_EQ(error({"evpn", "mac", "del", "100", "02:00:00:00:00:01", "sticky"}),
            "\"sticky\" is not a valid IP address");
  EXPECT_EQ(error({"evpn", "mac", "add", "100", "02:00:00:00:00:01", "sticky", "sticky"}),
            "expected: evpn mac add|del VNI MAC [IP] [sticky]");
  EXPECT_EQ(error({"evpn", "mac", "add", "x", "02:00:00:00:00:01"}), "vni: \"x\" is not a number");
  EXPECT_EQ(error({"evpn", "mac", "add", "200", "02:00:00:00:00:01"}),
            "no EVPN instance for VNI 200 (see show evpn vni)");
  EXPECT_EQ(error({"evpn", "mac", "add", "100", "ff:ff:ff:ff:ff:ff"}),
            "ff:ff:ff:ff:ff:ff is a multicast or broadcast address, not a host's MAC");
  EXPECT_NE(error({"evpn", "mac", "add", "100", "02:00:00:00:00"}).find("MAC address: "),
            std::string::npos);
  EXPECT_EQ(error({"show", "evpn", "mac", "vni", "7"}),
            "no EVPN instance for VNI 7 (see show evpn vni)");
}

TEST_F(EvpnCommandsTest, ClearDupAddr) {
  EXPECT_EQ(error({"clear", "evpn", "dup-addr"}),
            "expected: clear evpn dup-addr vni VNI [mac MAC]");
  EXPECT_EQ(error({"clear", "evpn", "dup-addr", "vni", "100", "max", "02:00:00:00:00:01"}),
            "expected: clear evpn dup-addr vni VNI [mac MAC]");
  EXPECT_EQ(error({"clear", "evpn", "dup-addr", "vni", "100", "mac", "02:00:00:00:00:01"}),
            "VNI 100: 02:00:00:00:00:01 is not a local MAC (see show evpn mac vni 100)");
  EXPECT_EQ(ok({"clear", "evpn", "dup-addr", "vni", "100"}), "VNI 100: 0 duplicate MACs cleared");
  ok({"evpn", "mac", "add", "100", "02:00:00:00:00:01"});
  EXPECT_EQ(ok({"clear", "evpn", "dup-addr", "vni", "100", "mac", "02:00:00:00:00:01"}),
            "VNI 100: 02:00:00:00:00:01 was not a duplicate");
}

TEST_F(EvpnCommandsTest, Prefixes) {
  EXPECT_EQ(ok({"evpn", "prefix", "add", "1000", "100.64.10.0/24"}),
            "L3 VNI 1000: 100.64.10.0/24 advertised from 198.18.0.1");
  EXPECT_EQ(ok({"evpn", "prefix", "add", "1000", "100.64.10.0/24"}),
            "L3 VNI 1000: 100.64.10.0/24 was already advertised from 198.18.0.1");
  EXPECT_EQ(error({"evpn", "prefix", "add", "1000", "100.64.10.1/24"}),
            "\"100.64.10.1/24\" has host bits set (did you mean 100.64.10.0/24?)");
  EXPECT_EQ(error({"evpn", "prefix", "add", "100", "100.64.10.0/24"}),
            "no IP-VRF for L3 VNI 100 (see show evpn ip-vrf)");
  EXPECT_EQ(error({"evpn", "prefix", "add", "1000"}), "expected: evpn prefix add|del L3VNI PREFIX");
  auto j = run_command(*speaker_, *evpn_, {"show", "evpn", "ip-vrf"});
  ASSERT_TRUE(j.has_value());
  ASSERT_EQ(j->size(), 1u);
  EXPECT_EQ((*j)[0]["name"], "tenant1");  // vrfs[0].name
  EXPECT_EQ((*j)[0]["vni"], 1000);
  EXPECT_EQ((*j)[0]["rd"], "198.18.0.1:2");  // after the MAC-VRF's 198.18.0.1:1
  EXPECT_EQ((*j)[0]["router_mac"], "02:00:c6:12:00:01");
  EXPECT_EQ((*j)[0]["local_prefixes"], 1);
  EXPECT_EQ(ctl::format_text({"show", "evpn", "ip-vrf"}, *j),
            "VRF               L3 VNI  RD                     Router MAC         Local  Remote  "
            "Import RTs\n"
            "tenant1             1000  198.18.0.1:2           02:00:c6:12:00:01      1       0  "
            "rt:65000:1000\n");
  auto p = run_command(*speaker_, *evpn_, {"show", "evpn", "prefix", "vni", "1000"});
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ((*p)["name"], "tenant1");
  EXPECT_TRUE(ctl::format_text({"show", "evpn", "prefix", "vni", "1000"}, *p)
                  .starts_with("VRF tenant1, L3 VNI 1000 (RD 198.18.0.1:2, Router MAC "
                               "02:00:c6:12:00:01)\n"));
  EXPECT_EQ(ok({"evpn", "prefix", "del", "1000", "100.64.10.0/24"}),
            "L3 VNI 1000: 100.64.10.0/24 no longer advertised");
  EXPECT_EQ(error({"show", "evpn", "prefix", "vni", "100"}),
            "no IP-VRF for L3 VNI 100 (see show evpn ip-vrf)");
}

// Every command of ctl/commands.h, sent as its example, reaches its handler: the BGP speaker's
// and EVPN's are answered (an error, if any, is not about the words or their syntax), the
// agent's say the role is missing here.
TEST_F(EvpnCommandsTest, EveryCommandOfTheTableReachesItsHandler) {
  for (const ctl::Command& c : ctl::commands()) {
    const auto args = ctl::example_args(c);
    auto r = run_command(*speaker_, *evpn_, args);
    if (c.needs_agent) {
      ASSERT_FALSE(r.has_value()) << c.example;
      EXPECT_EQ(r.error().message, ctl::needs_agent_role(c));
      continue;
    }
    if (r) continue;
    const std::string& e = r.error().message;
    EXPECT_FALSE(e.starts_with("unknown command")) << c.example << ": " << e;
    EXPECT_FALSE(e.starts_with("expected:")) << c.example << ": " << e;
    EXPECT_FALSE(e.starts_with("too many words")) << c.example << ": " << e;
  }
  // Those that need no neighbor and no IP-VRF prefix succeed.
  for (auto id :
       {ctl::CommandId::ShowBgpSummary, ctl::CommandId::ShowBgpUnicast,
        ctl::CommandId::ShowBgpUnicastShort, ctl::CommandId::ShowBgpEvpn,
        ctl::CommandId::ShowBgpRtc, ctl::CommandId::ShowEvpnVni, ctl::CommandId::ShowEvpnMac,
        ctl::CommandId::ShowEvpnIpVrf, ctl::CommandId::ShowEvpnPrefix})
    ok(ctl::example_args(ctl::command(id)));
  EXPECT_EQ(error({"show", "network"}),
            "show network: a command of the node agent role, which this isthmusd does not run "
            "(its configuration has no agent: section)");
}

// Words no command of the table begins with are an unknown command, answered with the nearest
// commands; a command's own words with arguments it does not take are answered with its synopsis.
TEST_F(EvpnCommandsTest, WordsNotInTheTableAreUnknown) {
  const std::vector<std::vector<std::string>> unknown = {
      {},
      {"frobnicate"},
      {"show"},
      {"show", "bgp"},
      {"show", "bgp", "frobnicate"},
      {"show", "bgp", "l2vpn"},
      {"show", "evpn"},
      {"show", "evpn", "macs", "vni", "100"},
      {"show", "kernel", "routes"},
      {"show", "networks"},
      {"clear", "bgp", "neighbour", "198.18.0.2"},
      {"evpn", "vni"},
      {"endpoint"},
      {"endpoint", "list"}};
  for (const auto& args : unknown) {
    const std::string e = error(args);
    EXPECT_EQ(e, ctl::unknown_command(args));
    EXPECT_TRUE(e.starts_with("unknown command \"")) << e;
  }
  EXPECT_EQ(error({"show", "bgp", "frobnicate"})
                .rfind("unknown command \"show bgp frobnicate\"; try: show bgp summary, ", 0),
            0u);
  EXPECT_EQ(error({"show", "bgp", "summary", "now"}), "expected: show bgp summary");
  EXPECT_EQ(error({"show", "bgp", "ipv4", "rtc", "all"}), "expected: show bgp ipv4 rtc");
  EXPECT_EQ(error({"show", "evpn", "vni", "100"}), "expected: show evpn vni");
  EXPECT_EQ(error({"show", "bgp", "neighbor", "198.18.0.2", "routes"}),
            "expected: show bgp neighbor|neighbors [ADDRESS]");
  EXPECT_EQ(error({"clear", "bgp", "neighbor"}),
            "expected: clear bgp neighbor ADDRESS [hard | graceful | soft [in|out]]");
  EXPECT_EQ(error({"show", "bgp", "l2vpn", "evpn", "vni"}),
            "expected: show bgp l2vpn evpn [route-type N] [vni V]");
  EXPECT_EQ(error({"show", "bgp", "neighbors", "198.18.0.9"}), "no BGP neighbor 198.18.0.9");
}

// isthmusctl renders every answer of the daemon as text by the command that was sent, whichever
// of its spellings ("neighbor" or "neighbors"): no answer makes it throw (and abort).
TEST_F(EvpnCommandsTest, EveryAnswerRendersAsText) {
  std::vector<std::vector<std::string>> sent;
  for (const ctl::Command& c : ctl::commands()) sent.push_back(ctl::example_args(c));
  sent.push_back({"show", "bgp", "neighbor"});
  sent.push_back({"show", "bgp", "neighbors"});
  for (const auto& args : sent) {
    auto r = run_command(*speaker_, *evpn_, args);
    if (!r) continue;
    EXPECT_NO_THROW(ctl::format_text(args, *r)) << args.size() << " words: " << r->dump();
  }
  auto neighbors = run_command(*speaker_, *evpn_, {"show", "bgp", "neighbors"});
  ASSERT_TRUE(neighbors.has_value());
  EXPECT_EQ(ctl::format_text({"show", "bgp", "neighbors"}, *neighbors),
            ctl::format_text({"show", "bgp", "neighbor"}, *neighbors));
}

}  // namespace
}  // namespace isthmus::daemon
