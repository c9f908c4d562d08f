// Tests for IPAM: allocation (IPv4, IPv6, dual-stack, static, exhaustion, round robin), release,
// GC, the state file (round trip, restart, corrupt files) and disjoint per-node blocks.
#include "agent/ipam.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace isthmus::agent::ipam {
namespace {

IpAddress A(std::string_view s) { return *IpAddress::parse(s); }
Prefix P(std::string_view s) { return *Prefix::parse(s); }

SubnetPool pool(std::string_view subnet, std::string_view gateway,
                std::vector<std::string_view> blocks = {}) {
  SubnetPool p{P(subnet), A(gateway), {}};
  if (blocks.empty()) p.blocks.push_back(p.subnet);
  for (auto b : blocks) p.blocks.push_back(P(b));
  return p;
}

NetworkPools blue_v4(std::vector<std::string_view> blocks = {}) {
  return {"blue", pool("100.64.1.0/24", "100.64.1.1", blocks), std::nullopt};
}

Request req(std::string container, std::string network = "blue", std::string ifname = "eth0") {
  Request r;
  r.key = Key{std::move(network), std::move(container), std::move(ifname)};
  r.netns = "/var/run/netns/test";
  return r;
}

Ipam open_ok(std::vector<NetworkPools> networks, std::string path = "") {
  auto ipam = Ipam::open(std::move(path), std::move(networks));
  EXPECT_TRUE(ipam) << (ipam ? "" : ipam.error().message);
  return std::move(*ipam);
}

std::vector<IpAddress> ips(Ipam& ipam, const Request& r) {
  auto a = ipam.allocate(r);
  EXPECT_TRUE(a) << (a ? "" : a.error().message);
  return a ? a->record.ips : std::vector<IpAddress>{};
}

IpamError error_of(Ipam& ipam, const Request& r) {
  auto a = ipam.allocate(r);
  EXPECT_FALSE(a);
  return a ? IpamError{} : a.error();
}

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ipam_test.XXXXXX").string();
    char* d = mkdtemp(tmpl.data());
    EXPECT_NE(d, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

TEST(Ipam, Ipv4SkipsNetworkGatewayAndBroadcast) {
  Ipam ipam = open_ok({{"blue", pool("100.64.1.0/29", "100.64.1.1"), std::nullopt}});
  std::vector<IpAddress> got;
  for (int i = 0; i < 5; ++i) got.push_back(ips(ipam, req("c" + std::to_string(i)))[0]);
  EXPECT_EQ(got, (std::vector<IpAddress>{A("100.64.1.2"), A("100.64.1.3"), A("100.64.1.4"),
                                         A("100.64.1.5"), A("100.64.1.6")}));
  auto e = error_of(ipam, req("c5"));
  EXPECT_EQ(e.code, kCodePoolExhausted);
  EXPECT_EQ(e.message,
            "network blue: no free IPv4 address in this node's pool 100.64.1.0/29 (5 in use)");
}

TEST(Ipam, GatewayInTheMiddleIsSkipped) {
  Ipam ipam = open_ok({{"blue", pool("100.64.1.0/29", "100.64.1.3"), std::nullopt}});
  EXPECT_EQ(ips(ipam, req("a"))[0], A("100.64.1.1"));
  EXPECT_EQ(ips(ipam, req("b"))[0], A("100.64.1.2"));
  EXPECT_EQ(ips(ipam, req("c"))[0], A("100.64.1.4"));
}

TEST(Ipam, Ipv6SkipsSubnetRouterAnycastAndGateway) {
  Ipam ipam = open_ok({{"blue", std::nullopt, pool("fd00:64:1::/64", "fd00:64:1::1")}});
  EXPECT_EQ(ips(ipam, req("a")), std::vector<IpAddress>{A("fd00:64:1::2")});
  EXPECT_EQ(ips(ipam, req("b")), std::vector<IpAddress>{A("fd00:64:1::3")});
  // A /126 pool: ::0 (subnet-router anycast) and ::1 (gateway) reserved, 2 left.
  Ipam small = open_ok({{"blue", std::nullopt, pool("fd00:64:1::/126", "fd00:64:1::1")}});
  EXPECT_EQ(ips(small, req("a"))[0], A("fd00:64:1::2"));
  EXPECT_EQ(ips(small, req("b"))[0], A("fd00:64:1::3"));
  EXPECT_EQ(error_of(small, req("c")).message,
            "network blue: no free IPv6 address in this node's pool fd00:64:1::/126 (2 in use)");
}

TEST(Ipam, DualStackGivesOneOfEachIpv4First) {
  Ipam ipam = open_ok(
      {{"blue", pool("100.64.1.0/24", "100.64.1.1"), pool("fd00:64:1::/64", "fd00:64:1::1")}});
  EXPECT_EQ(ips(ipam, req("a")), (std::vector<IpAddress>{A("100.64.1.2"), A("fd00:64:1::2")}));
  // A static IPv6 and a dynamic IPv4.
  Request r = req("b");
  r.ips = {A("fd00:64:1::99")};
  EXPECT_EQ(ips(ipam, r), (std::vector<IpAddress>{A("100.64.1.3"), A("fd00:64:1::99")}));
}

TEST(Ipam, RepeatedAddReturnsTheSameAddresses) {
  Ipam ipam = open_ok({blue_v4()});
  auto first = ipam.allocate(req("a"));
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->existed);
  auto again = ipam.allocate(req("a"));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->existed);
  EXPECT_EQ(again->record, first->record);
  // Another ifname of the same container is another attachment.
  EXPECT_EQ(ips(ipam, req("a", "blue", "eth1"))[0], A("100.64.1.3"));
  // Asking for a different address or namespace is not a repeat.
  Request other = req("a");
  other.ips = {A("100.64.1.50")};
  auto e = error_of(ipam, other);
  EXPECT_EQ(e.code, kCodeInvalidFields);
  EXPECT_EQ(e.message,
            "network blue container a ifname eth0 exists with a different address than "
            "100.64.1.50 (DEL it first to change it)");
  other = req("a");
  other.netns = "/var/run/netns/other";
  EXPECT_EQ(error_of(ipam, other).code, kCodeInvalidFields);
  other = req("a");
  other.ips = {A("100.64.1.2")};  // the address it has
  EXPECT_TRUE(ipam.allocate(other));
  EXPECT_EQ(ipam.records().size(), 2u);
}

TEST(Ipam, StaticAddresses) {
  Ipam ipam = open_ok({blue_v4({"100.64.1.0/25"})});
  Request r = req("a");
  r.ips = {A("100.64.1.40")};
  EXPECT_EQ(ips(ipam, r), std::vector<IpAddress>{A("100.64.1.40")});

  auto expect = [&](std::string_view ip, int code, const std::string& message) {
    Request x = req("b");
    x.ips = {A(ip)};
    auto e = error_of(ipam, x);
    EXPECT_EQ(e.code, code) << ip;
    EXPECT_EQ(e.message, message);
  };
  expect("100.64.1.40", kCodeInUse,
         "network blue: static IP 100.64.1.40 is in use by container a ifname eth0");
  expect("100.64.2.40", kCodeInvalidNetwork,
         "network blue: static IP 100.64.2.40 is not inside the subnet 100.64.1.0/24");
  expect("100.64.1.1", kCodeInvalidNetwork, "network blue: static IP 100.64.1.1 is the gateway's");
  expect("100.64.1.0", kCodeInvalidNetwork,
         "network blue: static IP 100.64.1.0 is the subnet's network or broadcast address");
  expect("100.64.1.255", kCodeInvalidNetwork,
         "network blue: static IP 100.64.1.255 is the subnet's network or broadcast address");
  expect("100.64.1.200", kCodeInvalidNetwork,
         "network blue: static IP 100.64.1.200 is outside this node's pool 100.64.1.0/25 "
         "(another node may hand it out; ask for one of this pool)");
  expect("fd00::5", kCodeInvalidNetwork, "network blue has no IPv6 subnet (static IP fd00::5)");
  Request two = req("b");
  two.ips = {A("100.64.1.41"), A("100.64.1.42")};
  EXPECT_EQ(error_of(ipam, two).code, kCodeInvalidNetwork);
  // A dynamic allocation steps over the static address.
  for (int i = 2; i < 40; ++i) ips(ipam, req("d" + std::to_string(i)));
  EXPECT_EQ(ips(ipam, req("next"))[0], A("100.64.1.41"));
}

TEST(Ipam, StaticMacInUse) {
  Ipam ipam = open_ok({blue_v4()});
  Request r = req("a");
  r.mac = *MacAddress::parse("02:00:00:00:00:40");
  ASSERT_TRUE(ipam.allocate(r));
  Request b = req("b");
  b.mac = r.mac;
  auto e = error_of(ipam, b);
  EXPECT_EQ(e.code, kCodeInUse);
  EXPECT_EQ(e.message, "network blue: MAC 02:00:00:00:00:40 is in use by container a ifname eth0");
}

TEST(Ipam, InvalidRequests) {
  Ipam ipam = open_ok({blue_v4(), {"red", pool("100.64.2.0/24", "100.64.2.1"), std::nullopt}});
  auto e = error_of(ipam, req("a", "green"));
  EXPECT_EQ(e.code, kCodeInvalidNetwork);
  EXPECT_EQ(e.message, "network \"green\" is not configured on this node (networks: blue, red)");
  EXPECT_EQ(error_of(ipam, req("")).code, kCodeInvalidFields);
  EXPECT_EQ(error_of(ipam, req("a", "blue", "a/b")).code, kCodeInvalidFields);
  EXPECT_EQ(error_of(ipam, req("a", "blue", "eth0-too-long-name")).code, kCodeInvalidFields);
  Request r = req("a");
  r.netns = "bad\nnetns";
  EXPECT_EQ(error_of(ipam, r).code, kCodeInvalidFields);
  EXPECT_TRUE(ipam.records().empty());
}

TEST(Ipam, ExhaustionOfASmallPoolAndAllOrNothing) {
  NetworkPools net{"blue", pool("100.64.1.0/24", "100.64.1.1", {"100.64.1.64/30"}),
                   pool("fd00:64:1::/64", "fd00:64:1::1")};
  Ipam ipam = open_ok({net});
  for (int i = 0; i < 4; ++i) ips(ipam, req("c" + std::to_string(i)));
  auto e = error_of(ipam, req("c4"));
  EXPECT_EQ(e.code, kCodePoolExhausted);
  EXPECT_EQ(e.message,
            "network blue: no free IPv4 address in this node's pool 100.64.1.64/30 (4 in use)");
  // The IPv6 address the failed request would have had is still free.
  EXPECT_EQ(ipam.in_use("blue", IpFamily::V6), 4u);
  EXPECT_EQ(ipam.records().size(), 4u);
  // Several blocks: all of them are named.
  Ipam two = open_ok({blue_v4({"100.64.1.68/31", "100.64.1.64/31"})});
  for (int i = 0; i < 4; ++i) ips(two, req("c" + std::to_string(i)));
  EXPECT_EQ(error_of(two, req("x")).message,
            "network blue: no free IPv4 address in this node's pool 100.64.1.64/31, "
            "100.64.1.68/31 (4 in use)");
}

TEST(Ipam, ReleaseAndRoundRobin) {
  Ipam ipam = open_ok({{"blue", pool("100.64.1.0/29", "100.64.1.1"), std::nullopt}});
  EXPECT_EQ(ips(ipam, req("a"))[0], A("100.64.1.2"));
  EXPECT_EQ(ips(ipam, req("b"))[0], A("100.64.1.3"));
  auto released = ipam.release(Key{"blue", "a", "eth0"});
  ASSERT_TRUE(released);
  ASSERT_TRUE(released->has_value());
  EXPECT_EQ((*released)->ips[0], A("100.64.1.2"));
  // Idempotent.
  auto again = ipam.release(Key{"blue", "a", "eth0"});
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->has_value());
  // The released address is not reused at once: .4, .5, .6, then wrap to .2.
  EXPECT_EQ(ips(ipam, req("c"))[0], A("100.64.1.4"));
  EXPECT_EQ(ips(ipam, req("d"))[0], A("100.64.1.5"));
  EXPECT_EQ(ips(ipam, req("e"))[0], A("100.64.1.6"));
  EXPECT_EQ(ips(ipam, req("f"))[0], A("100.64.1.2"));
  ASSERT_TRUE(ipam.release(Key{"blue", "d", "eth0"}));
  EXPECT_EQ(ips(ipam, req("g"))[0], A("100.64.1.5"));
}

TEST(Ipam, RoundRobinAcrossBlocks) {
  Ipam ipam = open_ok({blue_v4({"100.64.1.128/31", "100.64.1.64/31"})});
  std::vector<IpAddress> got;
  for (int i = 0; i < 4; ++i) got.push_back(ips(ipam, req("c" + std::to_string(i)))[0]);
  EXPECT_EQ(got, (std::vector<IpAddress>{A("100.64.1.64"), A("100.64.1.65"), A("100.64.1.128"),
                                         A("100.64.1.129")}));
  ASSERT_TRUE(ipam.release(Key{"blue", "c1", "eth0"}));
  EXPECT_EQ(ips(ipam, req("x"))[0], A("100.64.1.65"));
}

TEST(Ipam, GarbageCollection) {
  Ipam ipam = open_ok({blue_v4(), {"red", pool("100.64.2.0/24", "100.64.2.1"), std::nullopt}});
  ips(ipam, req("keep"));
  ips(ipam, req("keep", "blue", "eth1"));
  ips(ipam, req("gone"));
  ips(ipam, req("gone", "red"));
  auto removed = ipam.gc("blue", {{"keep", "eth0"}});
  ASSERT_TRUE(removed);
  ASSERT_EQ(removed->size(), 2u);
  EXPECT_EQ((*removed)[0].key, (Key{"blue", "gone", "eth0"}));
  EXPECT_EQ((*removed)[1].key, (Key{"blue", "keep", "eth1"}));
  EXPECT_EQ(ipam.records().size(), 2u);
  EXPECT_NE(ipam.find(Key{"red", "gone", "eth0"}), nullptr);
  EXPECT_EQ(ipam.in_use("blue", IpFamily::V4), 1u);
  auto nothing = ipam.gc("blue", {{"keep", "eth0"}});
  ASSERT_TRUE(nothing);
  EXPECT_TRUE(nothing->empty());
}

TEST(Ipam, UpdateKeepsTheAddresses) {
  TempDir dir;
  Ipam ipam = open_ok({blue_v4()}, dir.file("endpoints.json"));
  auto a = ipam.allocate(req("a"));
  ASSERT_TRUE(a);
  Record r = a->record;
  r.mac = *MacAddress::parse("02:00:00:00:00:40");
  r.host_ifname = "veth1a2b3c4d";
  ASSERT_TRUE(ipam.update(r));
  EXPECT_EQ(*ipam.find(r.key), r);
  EXPECT_EQ(open_ok({blue_v4()}, dir.file("endpoints.json")).find(r.key)->host_ifname,
            "veth1a2b3c4d");
  Record moved = r;
  moved.ips = {A("100.64.1.77")};
  EXPECT_EQ(ipam.update(moved).error().code, kCodeInvalidFields);
  Record absent = r;
  absent.key.container_id = "nobody";
  EXPECT_EQ(ipam.update(absent).error().code, kCodeInvalidFields);
}

TEST(IpamState, SurvivesARestartAndContinuesWithoutDuplicates) {
  TempDir dir;
  const std::string path = dir.file("state/endpoints.json");  // the directory is created
  NetworkPools net{"blue", pool("100.64.1.0/24", "100.64.1.1", {"100.64.1.64/26"}),
                   pool("fd00:64:1::/64", "fd00:64:1::1")};
  std::map<Key, Record> before;
  {
    Ipam ipam = open_ok({net}, path);
    for (int i = 0; i < 10; ++i) ips(ipam, req("c" + std::to_string(i)));
    Request tap = req("vm1", "blue", "tap0");
    tap.kind = Kind::Tap;
    tap.netns = "";
    tap.host_ifname = "tap0";
    tap.mac = *MacAddress::parse("02:00:00:00:00:41");
    ips(ipam, tap);
    ASSERT_TRUE(ipam.release(Key{"blue", "c3", "eth0"}));
    before = ipam.records();
  }
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  Ipam again = open_ok({net}, path);
  EXPECT_EQ(again.records(), before);
  EXPECT_EQ(again.find(Key{"blue", "vm1", "tap0"})->kind, Kind::Tap);
  // The cursor survived: the next address follows the last one handed out (.74), not the
  // released .67; nothing is handed out twice.
  auto next = ips(again, req("new"));
  EXPECT_EQ(next, (std::vector<IpAddress>{A("100.64.1.75"), A("fd00:64:1::d")}));
  std::set<IpAddress> seen;
  for (const auto& [k, r] : again.records())
    for (const auto& a : r.ips) EXPECT_TRUE(seen.insert(a).second) << a.to_string();
}

TEST(IpamState, FileFormat) {
  TempDir dir;
  const std::string path = dir.file("endpoints.json");
  Ipam ipam = open_ok({blue_v4()}, path);
  Request r = req("c0ffee");
  r.mac = *MacAddress::parse("02:00:00:00:00:40");
  r.host_ifname = "veth1a2b3c4d";
  ips(ipam, r);
  // The change is a line of the journal; the snapshot is written when the journal is folded in
  // (at open, and every kCompactEvery lines).
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(slurp(path + ".journal"),
            R"({"cursors":{"blue":["100.64.1.2"]},"put":[{"container_id":"c0ffee",)"
            R"("host_ifname":"veth1a2b3c4d","ifname":"eth0","ips":["100.64.1.2"],"kind":"veth",)"
            R"("mac":"02:00:00:00:00:40","netns":"/var/run/netns/test","network":"blue"}]})"
            "\n");
  EXPECT_EQ(std::filesystem::status(path + ".journal").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  ASSERT_TRUE(ipam.release(Key{"blue", "c0ffee", "eth0"}));
  EXPECT_EQ(ipam.journal_lines(), 2u);
  ips(ipam, r);
  Ipam again = open_ok({blue_v4()}, path);
  EXPECT_EQ(slurp(path + ".journal"), "");
  EXPECT_EQ(slurp(path), R"({
 "cursors": {
  "blue": [
   "100.64.1.3"
  ]
 },
 "endpoints": [
  {
   "container_id": "c0ffee",
   "host_ifname": "veth1a2b3c4d",
   "ifname": "eth0",
   "ips": [
    "100.64.1.3"
   ],
   "kind": "veth",
   "mac": "02:00:00:00:00:40",
   "netns": "/var/run/netns/test",
   "network": "blue"
  }
 ],
 "version": 1
}
)");
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST(IpamState, CorruptFileIsAPreciseErrorAndIsLeftAlone) {
  TempDir dir;
  const std::string path = dir.file("endpoints.json");
  auto expect = [&](std::string_view text, const std::string& message) {
    write(path, text);
    auto ipam = Ipam::open(path, {blue_v4()});
    ASSERT_FALSE(ipam) << text;
    EXPECT_EQ(ipam.error().message,
              path + ": " + message +
                  ". The agent's attachments and their addresses are recorded in this file, and "
                  "it does not start without them: repair the file, or remove it to start with "
                  "none (addresses of running workloads may then be handed out twice)");
    EXPECT_EQ(slurp(path), text);
  };
  expect("{\"version\": 1,\n \"endpoints\": [\n  {\"network\": \"blue\", ",
         "parse error at line 3, column 23: syntax error while parsing object key - unexpected "
         "end of input; expected string literal");
  expect("",
         "parse error at line 1, column 1: syntax error while parsing value - unexpected end "
         "of input; expected '[', '{', or a literal");
  expect("[]", "expected a JSON object with \"version\" and \"endpoints\"");
  expect("{\"version\": 2, \"endpoints\": []}", "version 2 is not one this isthmusd reads (1)");
  expect("{\"version\": 1}", "missing \"endpoints\" (a list)");
  expect("{\"version\": 1, \"endpoints\": [{\"network\": \"blue\", \"container_id\": \"a\"}]}",
         "endpoints[0]: missing \"ifname\"");
  expect(R"({"version": 1, "endpoints": [{"network": "blue", "container_id": "a",
             "ifname": "eth0", "ips": ["100.64.1.300"]}]})",
         "endpoints[0].ips[0]: \"100.64.1.300\" is not an IP address");
  expect(R"({"version": 1, "endpoints": [{"network": "blue", "container_id": 7,
             "ifname": "eth0", "ips": []}]})",
         "endpoints[0].container_id: expected a string");
  expect(R"({"version": 1, "endpoints": [
             {"network": "blue", "container_id": "a", "ifname": "eth0", "ips": ["100.64.1.2"]},
             {"network": "blue", "container_id": "b", "ifname": "eth0", "ips": ["100.64.1.2"]}]})",
         "endpoints[1]: 100.64.1.2 of network blue is also endpoints[0]'s");
  expect(R"({"version": 1, "endpoints": [
             {"network": "blue", "container_id": "a", "ifname": "eth0", "ips": []},
             {"network": "blue", "container_id": "a", "ifname": "eth0", "ips": []}]})",
         "endpoints[1]: network blue container a ifname eth0 is listed twice (also endpoints[0])");
  expect(R"({"version": 1, "endpoints": [{"network": "blue", "container_id": "a",
             "ifname": "eth0", "kind": "vhost", "ips": []}]})",
         "endpoints[0].kind: \"vhost\" is not veth or tap");
}

TEST(IpamState, UnreadableFileAndLeftoverTemporary) {
  TempDir dir;
  // A directory where the file should be: reading fails, with the reason.
  std::filesystem::create_directory(dir.file("endpoints.json"));
  auto bad = Ipam::open(dir.file("endpoints.json"), {blue_v4()});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "reading " + dir.file("endpoints.json") + ": Is a directory");
  // A temporary file of a write that never got renamed is ignored and replaced.
  write(dir.file("other.json.tmp"), "{garbage");
  Ipam ipam = open_ok({blue_v4()}, dir.file("other.json"));
  ips(ipam, req("a"));
  // Replaced when the journal is folded into the snapshot (here: at the next open).
  EXPECT_EQ(open_ok({blue_v4()}, dir.file("other.json")).records().size(), 1u);
  EXPECT_FALSE(std::filesystem::exists(dir.file("other.json.tmp")));
}

TEST(IpamState, AFailedWriteChangesNothing) {
  TempDir dir;
  const std::string sub = dir.file("state");
  Ipam ipam = open_ok({blue_v4()}, sub + "/endpoints.json");
  ips(ipam, req("a"));
  // The directory goes away and a file takes its place: every write fails.
  std::filesystem::remove_all(sub);
  write(sub, "not a directory");
  auto e = error_of(ipam, req("b"));
  EXPECT_EQ(e.code, kCodeIoFailure);
  EXPECT_EQ(e.message,
            "saving the endpoints: opening " + sub + "/endpoints.json.journal: Not a directory");
  EXPECT_EQ(ipam.records().size(), 1u);
  EXPECT_EQ(ipam.release(Key{"blue", "a", "eth0"}).error().code, kCodeIoFailure);
  EXPECT_EQ(ipam.records().size(), 1u);
  EXPECT_EQ(ipam.in_use("blue", IpFamily::V4), 1u);
  EXPECT_EQ(ipam.gc("blue", {}).error().code, kCodeIoFailure);
  EXPECT_EQ(ipam.records().size(), 1u);
  // The failed allocation did not move the cursor.
  std::filesystem::remove(sub);
  std::filesystem::create_directory(sub);
  EXPECT_EQ(ips(ipam, req("b"))[0], A("100.64.1.3"));
}

constexpr size_t kEvery = 16;  // journal lines between snapshots in these tests

NetworkPools blue_v6() { return {"blue", std::nullopt, pool("fd00:64:1::/64", "fd00:64:1::1")}; }

// Every change is a journal line; every so many lines (kCompactEvery; here kEvery) the journal is
// folded into the snapshot, and what the two say is the state.
TEST(IpamState, TheJournalIsFoldedIntoTheSnapshotNowAndThen) {
  TempDir dir;
  const std::string path = dir.file("endpoints.json");
  std::map<Key, Record> before;
  {
    auto opened = Ipam::open(path, {blue_v6()}, kEvery);
    ASSERT_TRUE(opened);
    Ipam& ipam = *opened;
    for (size_t i = 0; i < kEvery; ++i) ips(ipam, req("c" + std::to_string(i)));
    EXPECT_EQ(ipam.journal_lines(), kEvery);
    EXPECT_FALSE(std::filesystem::exists(path));
    ASSERT_TRUE(ipam.release(Key{"blue", "c7", "eth0"}));  // the snapshot, with this release
    EXPECT_EQ(ipam.journal_lines(), 0u);
    EXPECT_EQ(slurp(path + ".journal"), "");
    ASSERT_TRUE(decode_state(slurp(path)));
    EXPECT_EQ(decode_state(slurp(path))->records.size(), kEvery - 1);
    ips(ipam, req("late"));
    EXPECT_EQ(ipam.journal_lines(), 1u);
    before = ipam.records();
  }
  Ipam again = open_ok({blue_v6()}, path);
  EXPECT_EQ(again.records(), before);
  EXPECT_TRUE(again.notes().empty());
}

// A last line cut short (a write that never finished, so a change never reported) is ignored
// with a note; a bad line before others is an error that names the file and the line.
TEST(IpamState, ATornLastLineIsIgnoredABadLineBeforeIsAnError) {
  TempDir dir;
  const std::string path = dir.file("endpoints.json");
  std::map<Key, Record> before;
  {
    Ipam ipam = open_ok({blue_v4()}, path);
    ips(ipam, req("a"));
    ips(ipam, req("b"));
    before = ipam.records();
  }
  const std::string lines = slurp(path + ".journal");
  for (const std::string& tail : {std::string(R"({"put":[{"container_id":"c","host_i)"),
                                  std::string("\0\0\0\0", 4), std::string("{\"put\": 5}\n")}) {
    write(path + ".journal", lines + tail);
    Ipam ipam = open_ok({blue_v4()}, path);
    EXPECT_EQ(ipam.records(), before) << tail;
    ASSERT_EQ(ipam.notes().size(), 1u) << tail;
    EXPECT_NE(ipam.notes()[0].find(path + ".journal: line 3 "), std::string::npos)
        << ipam.notes()[0];
    EXPECT_NE(ipam.notes()[0].find("a change that was never reported; ignored"), std::string::npos)
        << ipam.notes()[0];
    // Folded in: the journal is empty, the torn line gone.
    EXPECT_EQ(slurp(path + ".journal"), "");
    std::filesystem::remove(path);
  }
  EXPECT_EQ(open_ok({blue_v4()}, path).records().size(), 0u);  // nothing left to read
  write(path + ".journal", lines);
  write(path + ".journal", "{\"put\": 5}\n" + lines);
  auto bad = Ipam::open(path, {blue_v4()});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.rfind(path + ".journal: line 1.put: expected a list. ", 0), 0u)
      << bad.error().message;
  EXPECT_EQ(slurp(path + ".journal"), "{\"put\": 5}\n" + lines);  // left alone
  // Lines that give an address to two attachments.
  write(path + ".journal",
        lines + lines.substr(0, lines.find('\n') + 1).replace(lines.find("\"a\""), 3, "\"z\""));
  bad = Ipam::open(path, {blue_v4()});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("after its 3 lines: "), std::string::npos)
      << bad.error().message;
}

// kill -9 at any moment: every allocation reported before it is there after a restart.
TEST(IpamState, EveryReportedAllocationSurvivesKill9) {
  TempDir dir;
  const std::string path = dir.file("endpoints.json");
  int acks[2];
  ASSERT_EQ(pipe(acks), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(acks[0]);
    auto ipam = Ipam::open(path, {blue_v6()}, kEvery);
    if (!ipam) _exit(2);
    for (uint32_t i = 0;; ++i) {
      if (!ipam->allocate(req("c" + std::to_string(i)))) _exit(3);
      if (::write(acks[1], &i, sizeof i) != sizeof i) _exit(4);
    }
  }
  ::close(acks[1]);
  // Past a compaction or two, then at a random moment.
  std::mt19937 rng(static_cast<uint32_t>(::getpid()));
  const auto stop_after = static_cast<uint32_t>(20 * kEvery + rng() % (10 * kEvery));
  uint32_t last = 0;
  uint32_t count = 0;
  while (count <= stop_after && ::read(acks[0], &last, sizeof last) == sizeof last) ++count;
  ::kill(child, SIGKILL);
  while (::read(acks[0], &last, sizeof last) == sizeof last) ++count;
  ::close(acks[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child ended on its own: " << status;
  ASSERT_GT(count, stop_after);
  Ipam ipam = open_ok({blue_v6()}, path);
  for (uint32_t i = 0; i < count; ++i)
    ASSERT_NE(ipam.find(Key{"blue", "c" + std::to_string(i), "eth0"}), nullptr) << i;
  EXPECT_GE(ipam.records().size(), count);
  EXPECT_LE(ipam.records().size(), count + 1);  // at most one written, not yet reported
}

TEST(IpamState, RecordsOfUnconfiguredNetworksAreKeptAndReported) {
  TempDir dir;
  const std::string path = dir.file("endpoints.json");
  {
    Ipam ipam =
        open_ok({blue_v4(), {"red", pool("100.64.2.0/24", "100.64.2.1"), std::nullopt}}, path);
    ips(ipam, req("a"));
    ips(ipam, req("b", "red"));
  }
  // red is gone and blue's subnet changed.
  Ipam ipam = open_ok({{"blue", pool("100.64.9.0/24", "100.64.9.1"), std::nullopt}}, path);
  EXPECT_EQ(ipam.records().size(), 2u);
  EXPECT_EQ(ipam.stale(), (std::vector<Key>{{"blue", "a", "eth0"}, {"red", "b", "eth0"}}));
  EXPECT_EQ(ips(ipam, req("c"))[0], A("100.64.9.2"));
  auto gone = ipam.release(Key{"red", "b", "eth0"});
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->has_value());
  EXPECT_EQ(ipam.stale(), (std::vector<Key>{{"blue", "a", "eth0"}}));
}

TEST(Ipam, TwoNodesWithDisjointBlocksNeverOverlap) {
  const Prefix subnet = P("100.64.0.0/22");
  const Prefix subnet6 = P("fd00:64::/64");
  auto node = [&](uint64_t index) {
    NetworkPools n{"blue", SubnetPool{subnet, A("100.64.0.1"), {*nth_block(subnet, 23, index)}},
                   SubnetPool{subnet6, A("fd00:64::1"), {*nth_block(subnet6, 65, index)}}};
    return open_ok({n});
  };
  Ipam a = node(0), b = node(1);
  std::mt19937 rng(7);
  std::set<IpAddress> ever_a, ever_b;
  std::vector<Key> live_a, live_b;
  for (int i = 0; i < 2000; ++i) {
    for (auto [ipam, live, ever] :
         {std::tuple{&a, &live_a, &ever_a}, std::tuple{&b, &live_b, &ever_b}}) {
      if (!live->empty() && rng() % 3 == 0) {
        size_t k = rng() % live->size();
        ASSERT_TRUE(ipam->release((*live)[k]));
        live->erase(live->begin() + static_cast<std::ptrdiff_t>(k));
        continue;
      }
      Request r = req("c" + std::to_string(i));
      auto got = ipam->allocate(r);
      if (!got) {
        EXPECT_EQ(got.error().code, kCodePoolExhausted);
        continue;
      }
      live->push_back(r.key);
      for (const auto& ip : got->record.ips) ever->insert(ip);
    }
  }
  EXPECT_GT(ever_a.size(), 500u);
  for (const auto& ip : ever_a) EXPECT_FALSE(ever_b.contains(ip)) << ip.to_string();
}

TEST(Ipam, LargeIpv6PoolIsNeverIterated) {
  // A /64 pool: 2^64 addresses; every allocation steps over the used ones only.
  Ipam ipam = open_ok({{"blue", std::nullopt, pool("fd00:64:1::/64", "fd00:64:1::1")}});
  for (int i = 0; i < 5000; ++i) ASSERT_EQ(ips(ipam, req("c" + std::to_string(i))).size(), 1u);
  // Static at the very top of the pool, then the cursor wraps from there.
  Request top = req("top");
  top.ips = {A("fd00:64:1::ffff:ffff:ffff:fffe")};
  ASSERT_EQ(ips(ipam, top)[0], A("fd00:64:1::ffff:ffff:ffff:fffe"));
  EXPECT_EQ(ipam.in_use("blue", IpFamily::V6), 5001u);
}

TEST(Ipam, OpenChecksTheNetworks) {
  auto bad = [](NetworkPools n) {
    auto ipam = Ipam::open("", {std::move(n)});
    EXPECT_FALSE(ipam);
    return ipam ? std::string() : ipam.error().message;
  };
  EXPECT_EQ(bad(blue_v4({"100.64.2.0/25"})),
            "network blue: pool 100.64.2.0/25 is not inside 100.64.1.0/24");
  EXPECT_EQ(bad(blue_v4({"100.64.1.0/25", "100.64.1.64/26"})),
            "network blue: pool 100.64.1.64/26 overlaps 100.64.1.0/25");
  EXPECT_EQ(bad({"blue", pool("100.64.1.0/24", "100.64.2.1"), std::nullopt}),
            "network blue: gateway 100.64.2.1 is not inside 100.64.1.0/24");
  EXPECT_EQ(bad({"blue", std::nullopt, pool("100.64.1.0/24", "100.64.1.1")}),
            "network blue: 100.64.1.0/24 is not an IPv6 subnet");
}

TEST(Blocks, SplitAndPickByIndex) {
  auto blocks = split_blocks(P("100.64.0.0/22"), 24);
  ASSERT_TRUE(blocks);
  EXPECT_EQ(*blocks, (std::vector<Prefix>{P("100.64.0.0/24"), P("100.64.1.0/24"),
                                          P("100.64.2.0/24"), P("100.64.3.0/24")}));
  EXPECT_EQ(*split_blocks(P("100.64.0.0/22"), 22), std::vector<Prefix>{P("100.64.0.0/22")});
  EXPECT_EQ(*nth_block(P("fd00:64::/48"), 64, 5), P("fd00:64:0:5::/64"));
  EXPECT_EQ(*nth_block(P("fd00:64::/64"), 112, 0x12345), P("fd00:64::1:2345:0/112"));
  EXPECT_EQ(*nth_block(P("100.64.0.0/10"), 26, 65535), P("100.127.255.192/26"));
  EXPECT_EQ(nth_block(P("100.64.0.0/22"), 24, 4).error().message,
            "100.64.0.0/22 has 4 blocks of /24, no block 4");
  EXPECT_EQ(split_blocks(P("100.64.0.0/22"), 21).error().message,
            "a block of 100.64.0.0/22 is /22..32, not /21");
  EXPECT_EQ(split_blocks(P("fd00:64::/48"), 80).error().message,
            "fd00:64::/48 has more than 65536 blocks of /80; pick one with nth_block()");
  EXPECT_EQ(split_blocks(P("100.64.0.0/10"), 26)->size(), 65536u);
}

TEST(Blocks, AddressArithmetic) {
  EXPECT_EQ(next_address(A("100.64.0.255")), A("100.64.1.0"));
  EXPECT_EQ(next_address(A("255.255.255.255")), std::nullopt);
  EXPECT_EQ(next_address(A("fd00::ffff")), A("fd00::1:0"));
  EXPECT_EQ(last_address(P("100.64.1.64/26")), A("100.64.1.127"));
  EXPECT_EQ(last_address(P("fd00:64:1::/64")), A("fd00:64:1:0:ffff:ffff:ffff:ffff"));
}

}  // namespace
}  // namespace isthmus::agent::ipam
