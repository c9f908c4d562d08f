#include "evpn/instance.h"

#include <gtest/gtest.h>

#include "bgp/wire/ext_community.h"

namespace isthmus::evpn {
namespace {

using bgp::MacMobility;
using bgp::PathAttributes;
using namespace std::chrono_literals;

IpAddress ip(std::string_view s) { return *IpAddress::parse(s); }
MacAddress mac(std::string_view s) { return *MacAddress::parse(s); }

const IpAddress kVtep = IpAddress::v4(0xc61200fe);  // 198.18.0.254, this VTEP
const MacAddress kMac = *MacAddress::parse("02:00:00:00:00:01");

// A Rib with two remote VTEPs (peers 1 and 2 at 198.18.0.1 and .2) and an Instance fed from its
// best_evpn_changed callback, as the daemon wires them; time is the test's.
class InstanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (bgp::PeerId id : {1u, 2u}) {
      bgp::PeerInfo p;
      p.id = id;
      p.address = IpAddress::v4(0xc6120000 + id);
      p.remote_as = 65000;
      p.router_id = 0xc6120000 + id;
      p.ibgp = true;
      p.rr_client = true;
      p.local_address = kVtep;
      p.families = {bgp::kL2vpnEvpn};
      rib_.peer_up(p);
    }
    make(true);
  }

  void make(bool vtep, DuplicateDetection dd = {}) {
    InstanceConfig c;
    c.mac_vrfs.push_back(resolve(100, std::nullopt, {}, {}, 65000, kVtep, 1));
    c.mac_vrfs.push_back(resolve(200, std::nullopt, {}, {}, 65000, kVtep, 2));
    c.mac_vrfs[0].l3_vni = l3_vni_of_100_;
    c.ip_vrfs.push_back(resolve_ip_vrf(1000, std::nullopt, {}, {}, std::nullopt, 65000, kVtep, 3));
    c.ip_vrfs.back().name = "tenant1";  // as daemon/build.cc names it from vrfs[].name
    c.ip_vrfs.back().subnets = subnets_of_1000_;
    if (vtep) c.vtep = kVtep;
    c.duplicate_detection = dd;
    Hooks h;
    h.wake = [this] { ++wakes_; };
    h.rib_changed = [this] { ++rib_changes_; };
    h.now = [this] { return now_; };
    Observer o;
    o.remote_mac = [this](const MacEvent& e) {
      static const char* kinds[] = {"added", "moved", "updated", "removed"};
      std::string s = std::string(kinds[static_cast<int>(e.kind)]) + " " + std::to_string(e.vni) +
                      " " + e.mac.to_string();
      if (e.entry)
        s += " " + e.entry->vtep.to_string() + " seq " + std::to_string(e.entry->sequence);
      events_.push_back(s);
    };
    o.flood_list = [this](uint32_t vni, const std::vector<IpAddress>& vteps) {
      std::string s = "flood " + std::to_string(vni);
      for (const auto& a : vteps) s += " " + a.to_string();
      events_.push_back(s);
    };
    o.local_mac_moved = [this](uint32_t vni, const MacAddress& m, const IpAddress& to,
                               uint32_t seq) {
      events_.push_back("moved-away " + std::to_string(vni) + " " + m.to_string() + " " +
                        to.to_string() + " seq " + std::to_string(seq));
    };
    o.duplicate = [this](uint32_t vni, const MacAddress& m) {
      events_.push_back("duplicate " + std::to_string(vni) + " " + m.to_string());
    };
    o.sticky_conflict = [this](uint32_t vni, const MacAddress& m, const IpAddress& at) {
      events_.push_back("conflict " + std::to_string(vni) + " " + m.to_string() + " " +
                        at.to_string());
    };
    o.remote_prefix = [this](uint32_t vni, const Prefix& p, const std::vector<RemotePrefix>& r) {
      std::string s = "prefix " + std::to_string(vni) + " " + p.to_string();
      for (const auto& x : r)
        s += " " + x.vtep.to_string() + (x.router_mac ? " " + x.router_mac->to_string() : "");
      events_.push_back(s);
    };
    inst_ = std::make_unique<Instance>(rib_, std::move(c), std::move(h), std::move(o));
  }

  // The daemon's loop: flush, then the posted run_pending(), until nothing is left.
  void settle() {
    for (int i = 0; i < 10; ++i) {
      rib_.flush();
      if (!inst_->has_pending()) return;
      inst_->run_pending();
    }
    FAIL() << "does not settle";
  }

  void advertise(bgp::PeerId peer, const MacAddress& m, std::optional<IpAddress> addr,
                 std::optional<MacMobility> mobility = std::nullopt, uint32_t vni = 100) {
    bgp::EvpnMacIp r;
    r.rd = bgp::RouteDistinguisher::ipv4(IpAddress::v4(0xc6120000 + peer), 1);
    r.mac = m;
    r.ip = addr;
    r.label1 = vni;
    PathAttributes a;
    a.next_hop = IpAddress::v4(0xc6120000 + peer);
    a.local_pref = 100;
    a.ext_communities.push_back(bgp::route_target_as2(65000, vni));
    if (mobility) a.ext_communities.push_back(mobility->encode());
    rib_.update_evpn(peer, std::vector{bgp::EvpnRoute{r}}, a);
  }
  void withdraw(bgp::PeerId peer, const MacAddress& m, std::optional<IpAddress> addr) {
    bgp::EvpnMacIp r;
    r.rd = bgp::RouteDistinguisher::ipv4(IpAddress::v4(0xc6120000 + peer), 1);
    r.mac = m;
    r.ip = addr;
    rib_.withdraw_evpn(peer, std::vector{bgp::EvpnRoute{r}});
  }
  void imet(bgp::PeerId peer, uint32_t vni) {
    bgp::EvpnImet r;
    r.rd = bgp::RouteDistinguisher::ipv4(IpAddress::v4(0xc6120000 + peer), 1);
    r.originator = IpAddress::v4(0xc6120000 + peer);
    PathAttributes a;
    a.next_hop = r.originator;
    a.ext_communities.push_back(bgp::route_target_as2(65000, vni));
    rib_.update_evpn(peer, std::vector{bgp::EvpnRoute{r}}, a);
  }
  void withdraw_imet(bgp::PeerId peer) {
    bgp::EvpnImet r;
    r.rd = bgp::RouteDistinguisher::ipv4(IpAddress::v4(0xc6120000 + peer), 1);
    r.originator = IpAddress::v4(0xc6120000 + peer);
    rib_.withdraw_evpn(peer, std::vector{bgp::EvpnRoute{r}});
  }

  // Our route for (MAC, IP) in the Loc-RIB as originated (nullopt: not originated).
  std::optional<bgp::EvpnMacIp> our_route(const MacAddress& m, const IpAddress& addr,
                                          std::vector<bgp::ExtCommunity>* communities) {
    const auto want =
        bgp::evpn_key(mac_route(*inst_->find_vrf(100), nullptr, kVtep, m, addr, 0).first);
    std::optional<bgp::EvpnMacIp> out;
    rib_.for_each_evpn_route([&](std::span<const uint8_t> key, std::span<const bgp::PathView> ps) {
      if (!std::equal(key.begin(), key.end(), want->bytes().begin(), want->bytes().end())) return;
      for (const auto& p : ps) {
        if (p.peer != bgp::kLocalPeer || !p.attrs) continue;
        auto r = bgp::evpn_route(key, p.attrs->evpn_nlri.value_or(bgp::EvpnNlriData{}));
        if (r) out = std::get<bgp::EvpnMacIp>(r->route);
        *communities = p.attrs->ext_communities;
      }
    });
    return out;
  }

  // Our route for (MAC, IP) in the Loc-RIB: its MAC Mobility (sequence 0, not sticky when it
  // has none), nullopt when we do not originate it.
  std::optional<MacMobility> ours(const MacAddress& m, std::optional<IpAddress> addr = {},
                                  uint32_t vni = 100) {
    const auto want =
        bgp::evpn_key(mac_route(*inst_->find_vrf(vni), nullptr, kVtep, m, addr, 0).first);
    std::optional<MacMobility> out;
    rib_.for_each_evpn_route([&](std::span<const uint8_t> key, std::span<const bgp::PathView> ps) {
      if (!std::equal(key.begin(), key.end(), want->bytes().begin(), want->bytes().end())) return;
      for (const auto& p : ps) {
        if (p.peer != bgp::kLocalPeer || !p.attrs) continue;
        out = MacMobility{};
        for (const auto& c : p.attrs->ext_communities)
          if (auto mm = MacMobility::decode(c)) out = *mm;
      }
    });
    return out;
  }

  MacRow row(const MacAddress& m, uint32_t vni = 100) {
    auto rows = inst_->macs(vni);
    EXPECT_TRUE(rows.has_value());
    for (auto& r : *rows)
      if (r.mac == m) return r;
    ADD_FAILURE() << m.to_string() << " not in VNI " << vni;
    return {};
  }

  std::vector<std::string> take_events() { return std::exchange(events_, {}); }

  // Moves kMac away to peer 1 (with the next sequence) and back here, once each.
  void flap(uint32_t& seq) {
    advertise(1, kMac, std::nullopt, MacMobility{false, ++seq});
    settle();
    auto r = inst_->add_local_mac(100, kMac, std::nullopt);
    ASSERT_TRUE(r.has_value());
    if (r->advertised) seq = r->sequence;
    settle();
  }

  bgp::RibConfig config() {
    bgp::RibConfig c;
    c.local_as = 65000;
    c.router_id = 0xc61200fe;
    c.best_evpn_changed = [this](std::span<const uint8_t> key, const bgp::Path* best) {
      if (inst_) inst_->best_evpn_changed(key, best);
    };
    return c;
  }
  std::unique_ptr<Instance> inst_;
  bgp::Rib rib_{config()};
  Clock::time_point now_{};
  int wakes_ = 0;
  uint32_t l3_vni_of_100_ = 0;  // MAC-VRF 100's IP-VRF (symmetric IRB)
  std::vector<Prefix> subnets_of_1000_;
  int rib_changes_ = 0;
  std::vector<std::string> events_;
};

TEST_F(InstanceTest, RemoteMacsAndFloodListFromTheLocRib) {
  advertise(1, kMac, std::nullopt);
  advertise(1, kMac, ip("100.64.0.1"));
  advertise(2, mac("02:00:00:00:00:02"), std::nullopt, std::nullopt, 200);  // VNI 200's RT
  imet(1, 100);
  imet(2, 100);
  rib_.flush();
  // Inside the flush only queued: one wake-up for the batch, nothing applied yet.
  EXPECT_EQ(wakes_, 1);
  EXPECT_TRUE(inst_->has_pending());
  EXPECT_TRUE(inst_->macs(100)->empty());
  inst_->run_pending();
  EXPECT_EQ(take_events(), (std::vector<std::string>{
                               "added 100 02:00:00:00:00:01 198.18.0.1 seq 0",
                               "added 200 02:00:00:00:00:02 198.18.0.2 seq 0",
                               "flood 100 198.18.0.1 198.18.0.2",
                           }));
  const MacRow r = row(kMac);
  EXPECT_FALSE(r.local);
  EXPECT_EQ(r.winner.vtep, ip("198.18.0.1"));
  EXPECT_EQ(r.winner.ips, std::vector{ip("100.64.0.1")});
  EXPECT_EQ(r.winner.routes, 2u);  // MAC-only and MAC/IP: one advertisement
  EXPECT_EQ(r.advertisements, 1u);
  EXPECT_EQ(inst_->route_count(100), 4u);
  EXPECT_EQ(inst_->route_count(200), 1u);
  EXPECT_EQ(*inst_->flood_list(100), (std::vector{ip("198.18.0.1"), ip("198.18.0.2")}));

  // The IP goes: updated; the MAC goes: removed; a VTEP leaves the flood list.
  withdraw(1, kMac, ip("100.64.0.1"));
  settle();
  EXPECT_EQ(take_events(),
            std::vector<std::string>{"updated 100 02:00:00:00:00:01 198.18.0.1 seq 0"});
  withdraw(1, kMac, std::nullopt);
  withdraw_imet(1);
  settle();
  EXPECT_EQ(take_events(),
            (std::vector<std::string>{"removed 100 02:00:00:00:00:01", "flood 100 198.18.0.2"}));
  EXPECT_EQ(inst_->route_count(100), 1u);
}

// The same route (same key) with another route target leaves one VNI for the other.
TEST_F(InstanceTest, RouteTargetChangeMovesTheRouteBetweenVnis) {
  advertise(1, kMac, std::nullopt, std::nullopt, 100);
  settle();
  advertise(1, kMac, std::nullopt, std::nullopt, 200);
  settle();
  EXPECT_EQ(take_events(), (std::vector<std::string>{
                               "added 100 02:00:00:00:00:01 198.18.0.1 seq 0",
                               "removed 100 02:00:00:00:00:01",
                               "added 200 02:00:00:00:00:01 198.18.0.1 seq 0",
                           }));
  EXPECT_TRUE(inst_->macs(100)->empty());
  EXPECT_EQ(inst_->route_count(100), 0u);
  EXPECT_EQ(row(kMac, 200).winner.vtep, ip("198.18.0.1"));
}

TEST_F(InstanceTest, RemoteMacMovesBetweenVteps) {
  advertise(2, kMac, std::nullopt);
  settle();
  // RFC 7432 §15.1: equal sequence numbers, the lower VTEP address wins.
  advertise(1, kMac, std::nullopt);
  settle();
  EXPECT_EQ(row(kMac).winner.vtep, ip("198.18.0.1"));
  EXPECT_EQ(row(kMac).advertisements, 2u);
  // A higher sequence number wins.
  advertise(2, kMac, std::nullopt, MacMobility{false, 1});
  settle();
  EXPECT_EQ(take_events(), (std::vector<std::string>{
                               "added 100 02:00:00:00:00:01 198.18.0.2 seq 0",
                               "moved 100 02:00:00:00:00:01 198.18.0.1 seq 0",
                               "moved 100 02:00:00:00:00:01 198.18.0.2 seq 1",
                           }));
  // The static (sticky) advertisement wins whatever the sequence numbers.
  advertise(1, kMac, std::nullopt, MacMobility{true, 0});
  settle();
  EXPECT_EQ(row(kMac).winner.vtep, ip("198.18.0.1"));
  EXPECT_TRUE(row(kMac).winner.sticky);
}

TEST_F(InstanceTest, ImetPerVni) {
  inst_->start();
  settle();
  EXPECT_EQ(rib_changes_, 2);  // one per VNI
  size_t imets = 0;
  rib_.for_each_evpn_route([&](std::span<const uint8_t> key, std::span<const bgp::PathView> ps) {
    if (key[0] == 3 && ps.size() == 1 && ps[0].peer == bgp::kLocalPeer) ++imets;
  });
  EXPECT_EQ(imets, 2u);
  // Our own type-3 routes are imported (counted) but are not remote VTEPs.
  EXPECT_EQ(inst_->route_count(100), 1u);
  EXPECT_TRUE(inst_->flood_list(100)->empty());
  ASSERT_TRUE(inst_->leave_flood_list(200).has_value());
  settle();
  EXPECT_EQ(inst_->route_count(200), 0u);
  EXPECT_FALSE(inst_->join_flood_list(300).has_value());
}

TEST_F(InstanceTest, LocalMacAndMacIp) {
  auto r = inst_->add_local_mac(100, kMac, std::nullopt);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->advertised);
  EXPECT_EQ(r->sequence, 0u);
  ASSERT_TRUE(inst_->add_local_mac(100, kMac, ip("100.64.0.9")).has_value());
  EXPECT_EQ(rib_changes_, 2);
  settle();
  EXPECT_EQ(ours(kMac), MacMobility{});  // sequence 0: no MAC Mobility community
  EXPECT_EQ(ours(kMac, ip("100.64.0.9")), MacMobility{});
  const MacRow row1 = row(kMac);
  EXPECT_TRUE(row1.local);
  EXPECT_EQ(row1.winner.vtep, kVtep);
  EXPECT_EQ(row1.winner.ips, std::vector{ip("100.64.0.9")});
  EXPECT_TRUE(take_events().empty());  // nothing remote

  EXPECT_EQ(*inst_->remove_local_mac(100, kMac, ip("100.64.0.9")), true);
  settle();
  EXPECT_FALSE(ours(kMac, ip("100.64.0.9")).has_value());
  EXPECT_TRUE(ours(kMac).has_value());
  EXPECT_EQ(*inst_->remove_local_mac(100, kMac, ip("100.64.0.9")), false);
  EXPECT_EQ(*inst_->remove_local_mac(100, kMac, std::nullopt), true);
  settle();
  EXPECT_FALSE(ours(kMac).has_value());
  EXPECT_TRUE(inst_->macs(100)->empty());
  EXPECT_EQ(*inst_->remove_local_mac(100, kMac, std::nullopt), false);
}

TEST_F(InstanceTest, PreciseErrors) {
  EXPECT_EQ(inst_->add_local_mac(300, kMac, std::nullopt).error().message,
            "no EVPN instance for VNI 300 (see show evpn vni)");
  EXPECT_EQ(inst_->add_local_mac(100, mac("01:00:5e:00:00:01"), std::nullopt).error().message,
            "01:00:5e:00:00:01 is a multicast or broadcast address, not a host's MAC");
  EXPECT_EQ(inst_->add_local_mac(100, mac("ff:ff:ff:ff:ff:ff"), std::nullopt).error().message,
            "ff:ff:ff:ff:ff:ff is a multicast or broadcast address, not a host's MAC");
  EXPECT_EQ(inst_->add_local_mac(100, MacAddress{}, std::nullopt).error().message,
            "00:00:00:00:00:00 is not a host's MAC");
  EXPECT_EQ(inst_->add_local_mac(100, kMac, ip("224.0.0.1")).error().message,
            "224.0.0.1 is not a host address");
  EXPECT_EQ(inst_->add_local_mac(100, kMac, ip("::")).error().message, ":: is not a host address");
  EXPECT_EQ(inst_->remove_local_mac(300, kMac, std::nullopt).error().message,
            "no EVPN instance for VNI 300 (see show evpn vni)");
  EXPECT_EQ(inst_->clear_duplicate(100, kMac).error().message,
            "VNI 100: 02:00:00:00:00:01 is not a local MAC (see show evpn mac vni 100)");
  EXPECT_EQ(inst_->macs(7).error().message, "no EVPN instance for VNI 7 (see show evpn vni)");
  make(false);
  EXPECT_EQ(inst_->add_local_mac(100, kMac, std::nullopt).error().message,
            "this speaker is not a VTEP (evpn.vtep is not set)");
}

// RFC 7432 §15.1: a MAC that appears here while another VTEP advertises it goes out with that
// VTEP's sequence + 1, and wins: the remote entry leaves the observer's table.
TEST_F(InstanceTest, LocalMacTakesOverWithTheNextSequence) {
  advertise(1, kMac, std::nullopt, MacMobility{false, 4});
  advertise(2, kMac, std::nullopt, MacMobility{false, 2});
  settle();
  take_events();
  auto r = inst_->add_local_mac(100, kMac, ip("100.64.0.9"));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->advertised);
  EXPECT_EQ(r->sequence, 5u);
  EXPECT_EQ(r->note, "taken over from 198.18.0.1");
  EXPECT_EQ(take_events(), std::vector<std::string>{"removed 100 02:00:00:00:00:01"});
  settle();
  EXPECT_EQ(ours(kMac, ip("100.64.0.9")), (MacMobility{false, 5}));
  const MacRow row1 = row(kMac);
  EXPECT_TRUE(row1.local);
  EXPECT_EQ(row1.winner.sequence, 5u);
  EXPECT_EQ(row1.advertisements, 3u);
  EXPECT_EQ(inst_->local_mac(100, kMac)->moves.size(), 1u);
}

// RFC 7432 §15.1: another VTEP advertises our MAC with a higher sequence: it moved there; we
// withdraw and tell the observer. Learned here again, it goes out with the next sequence.
TEST_F(InstanceTest, LocalMacMovesAwayAndBack) {
  ASSERT_TRUE(inst_->add_local_mac(100, kMac, std::nullopt).has_value());
  settle();
  advertise(1, kMac, std::nullopt, MacMobility{false, 1});
  rib_.flush();
  // Decided outside the flush: our route is still there until run_pending().
  EXPECT_TRUE(ours(kMac).has_value());
  inst_->run_pending();
  settle();
  EXPECT_FALSE(ours(kMac).has_value());
  EXPECT_EQ(take_events(), (std::vector<std::string>{
                               "moved-away 100 02:00:00:00:00:01 198.18.0.1 seq 1",
                               "added 100 02:00:00:00:00:01 198.18.0.1 seq 1",
                           }));
  EXPECT_EQ(inst_->local_mac(100, kMac)->state, LocalMac::State::MovedAway);
  const MacRow away = row(kMac);
  EXPECT_FALSE(away.local);
  EXPECT_EQ(away.winner.vtep, ip("198.18.0.1"));
  EXPECT_EQ(away.winner.sequence, 1u);

  auto r = inst_->add_local_mac(100, kMac, std::nullopt);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->sequence, 2u);
  settle();
  EXPECT_EQ(ours(kMac), (MacMobility{false, 2}));
  EXPECT_EQ(take_events(), std::vector<std::string>{"removed 100 02:00:00:00:00:01"});
  EXPECT_EQ(inst_->local_mac(100, kMac)->moves.size(), 2u);
}

// RFC 7432 §15.1: equal sequence numbers: the lower VTEP address wins, and ours (198.18.0.254)
// is the higher one.
TEST_F(InstanceTest, EqualSequenceLowerVtepWins) {
  ASSERT_TRUE(inst_->add_local_mac(100, kMac, std::nullopt).has_value());
  settle();
  advertise(1, kMac, std::nullopt);
  settle();
  EXPECT_FALSE(ours(kMac).has_value());
  EXPECT_EQ(inst_->local_mac(100, kMac)->state, LocalMac::State::MovedAway);
  // A remote advertisement with a lower sequence does not take it away.
  auto r = inst_->add_local_mac(100, kMac, std::nullopt);
  EXPECT_EQ(r->sequence, 1u);
  settle();
  advertise(2, kMac, std::nullopt);  // sequence 0 from another VTEP: stale
  settle();
  EXPECT_EQ(ours(kMac), (MacMobility{false, 1}));
  EXPECT_TRUE(row(kMac).local);
}

// RFC 7432 §15.1 duplicate detection: the 5th move within 180 s freezes the MAC: no withdrawal,
// no new sequence, an alert; clearing it lets the MAC (attached here) take over again.
TEST_F(InstanceTest, FlappingMacBecomesDuplicateAndIsCleared) {
  ASSERT_TRUE(inst_->add_local_mac(100, kMac, std::nullopt).has_value());
  settle();
  take_events();
  uint32_t seq = 0;
  flap(seq);  // moves 1 (away) and 2 (back)
  now_ += 30s;
  flap(seq);  // 3 and 4
  EXPECT_FALSE(inst_->local_mac(100, kMac)->duplicate);
  EXPECT_EQ(ours(kMac), (MacMobility{false, 4}));
  take_events();
  now_ += 30s;
  // The 5th move (away, to sequence 5): detected, frozen, our route stays as it was.
  advertise(1, kMac, std::nullopt, MacMobility{false, 5});
  settle();
  const LocalMac* l = inst_->local_mac(100, kMac);
  EXPECT_TRUE(l->duplicate);
  EXPECT_EQ(l->state, LocalMac::State::Local);
  EXPECT_EQ(ours(kMac), (MacMobility{false, 4}));
  auto ev = take_events();
  EXPECT_EQ(ev.front(), "duplicate 100 02:00:00:00:00:01");
  // The remote VTEP wins anyway (higher sequence): the observer programs it.
  EXPECT_EQ(ev.back(), "added 100 02:00:00:00:00:01 198.18.0.1 seq 5");
  EXPECT_FALSE(row(kMac).local);
  EXPECT_TRUE(row(kMac).local_mac->duplicate);

  // Frozen: learning it here again does not bump the sequence.
  auto r = inst_->add_local_mac(100, kMac, std::nullopt);
  EXPECT_EQ(r->sequence, 4u);
  EXPECT_EQ(r->note,
            "duplicate MAC (moved 5 times within 180 s), frozen until clear evpn dup-addr vni "
            "100 mac 02:00:00:00:00:01");
  advertise(1, kMac, std::nullopt, MacMobility{false, 6});
  settle();
  EXPECT_EQ(ours(kMac), (MacMobility{false, 4}));
  EXPECT_TRUE(inst_->local_mac(100, kMac)->duplicate);

  // Cleared: attached here, it takes over with the next sequence.
  EXPECT_EQ(*inst_->clear_duplicate(100, std::nullopt), 1u);
  settle();
  l = inst_->local_mac(100, kMac);
  EXPECT_FALSE(l->duplicate);
  EXPECT_TRUE(l->moves.empty());
  EXPECT_EQ(ours(kMac), (MacMobility{false, 7}));
  EXPECT_TRUE(row(kMac).local);
  EXPECT_EQ(*inst_->clear_duplicate(100, kMac), 0u);  // nothing left to clear
  // And moves count from zero again.
  seq = 7;
  flap(seq);
  EXPECT_EQ(inst_->local_mac(100, kMac)->moves.size(), 2u);
  EXPECT_FALSE(inst_->local_mac(100, kMac)->duplicate);
}

// Moves spread wider than the window never make a duplicate.
TEST_F(InstanceTest, MovesOutsideTheWindowAreForgotten) {
  ASSERT_TRUE(inst_->add_local_mac(100, kMac, std::nullopt).has_value());
  settle();
  uint32_t seq = 0;
  for (int i = 0; i < 6; ++i) {
    flap(seq);
    now_ += 100s;  // 2 moves per 100 s: at most 4 within 180 s
  }
  EXPECT_FALSE(inst_->local_mac(100, kMac)->duplicate);
  EXPECT_EQ(ours(kMac), (MacMobility{false, 12}));
}

TEST_F(InstanceTest, DuplicateDetectionConfigurable) {
  make(true, DuplicateDetection{.enabled = true, .max_moves = 2, .window = 10s});
  ASSERT_TRUE(inst_->add_local_mac(100, kMac, std::nullopt).has_value());
  settle();
  uint32_t seq = 0;
  flap(seq);
  EXPECT_TRUE(inst_->local_mac(100, kMac)->duplicate);

  make(true, DuplicateDetection{.enabled = false});
  ASSERT_TRUE(inst_->add_local_mac(100, mac("02:00:00:00:00:07"), std::nullopt).has_value());
  settle();
  for (int i = 0; i < 10; ++i) {
    advertise(2, mac("02:00:00:00:00:07"), std::nullopt, MacMobility{false, 2u * i + 1});
    settle();
    ASSERT_TRUE(inst_->add_local_mac(100, mac("02:00:00:00:00:07"), std::nullopt).has_value());
    settle();
  }
  EXPECT_FALSE(inst_->local_mac(100, mac("02:00:00:00:00:07"))->duplicate);
  EXPECT_EQ(ours(mac("02:00:00:00:00:07")), (MacMobility{false, 20}));
}

// RFC 7432 §15.2: a static (sticky) MAC is advertised with the flag and never moves.
TEST_F(InstanceTest, StickyMacNeverMoves) {
  auto r = inst_->add_local_mac(100, kMac, ip("100.64.0.5"), true);
  ASSERT_TRUE(r.has_value());
  settle();
  EXPECT_EQ(ours(kMac, ip("100.64.0.5")), (MacMobility{true, 0}));
  advertise(1, kMac, std::nullopt, MacMobility{false, 10});
  settle();
  EXPECT_EQ(ours(kMac, ip("100.64.0.5")), (MacMobility{true, 0}));
  EXPECT_EQ(inst_->local_mac(100, kMac)->state, LocalMac::State::Local);
  EXPECT_TRUE(row(kMac).local);
  EXPECT_TRUE(row(kMac).winner.sticky);
  // Nothing remote to program, no move, no alert.
  EXPECT_TRUE(take_events().empty());
}

// RFC 7432 §15.2: a MAC learned here that another VTEP advertises as static is a conflict: the
// operator is told and our (non-sticky) route is not sent until the static one goes.
TEST_F(InstanceTest, RemoteStickyMacIsAConflict) {
  advertise(1, kMac, std::nullopt, MacMobility{true, 0});
  settle();
  take_events();
  auto r = inst_->add_local_mac(100, kMac, std::nullopt);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->advertised);
  EXPECT_EQ(r->note, "VTEP 198.18.0.1 advertises it as static (sticky, RFC 7432 §15.2)");
  settle();
  EXPECT_FALSE(ours(kMac).has_value());
  EXPECT_EQ(take_events(), std::vector<std::string>{"conflict 100 02:00:00:00:00:01 198.18.0.1"});
  EXPECT_TRUE(inst_->local_mac(100, kMac)->conflict);

  withdraw(1, kMac, std::nullopt);
  settle();
  EXPECT_EQ(ours(kMac), MacMobility{});
  EXPECT_FALSE(inst_->local_mac(100, kMac)->conflict);
  EXPECT_TRUE(row(kMac).local);
  EXPECT_EQ(take_events(), std::vector<std::string>{"removed 100 02:00:00:00:00:01"});

  // Appearing while we advertise it: withdrawn, reported.
  advertise(2, kMac, std::nullopt, MacMobility{true, 0});
  settle();
  EXPECT_FALSE(ours(kMac).has_value());
  EXPECT_EQ(inst_->local_mac(100, kMac)->state, LocalMac::State::Conflict);
  EXPECT_EQ(take_events().front(), "conflict 100 02:00:00:00:00:01 198.18.0.2");
}

// An observer set later hears what changes from then on.
TEST_F(InstanceTest, ObserverSetLater) {
  advertise(1, kMac, std::nullopt);
  settle();
  take_events();
  std::vector<std::string> seen;
  Observer o;
  o.remote_mac = [&](const MacEvent& e) { seen.push_back(e.mac.to_string()); };
  inst_->set_observer(std::move(o));
  advertise(1, mac("02:00:00:00:00:02"), std::nullopt);
  settle();
  EXPECT_EQ(seen, std::vector<std::string>{"02:00:00:00:00:02"});
  EXPECT_TRUE(events_.empty());  // the old observer is gone
  EXPECT_EQ(inst_->macs(100)->size(), 2u);
}

// The observer may call back into the Instance: the agent learns the MAC again right away.
TEST_F(InstanceTest, ObserverMayCallBack) {
  InstanceConfig c;
  c.mac_vrfs.push_back(resolve(100, std::nullopt, {}, {}, 65000, kVtep, 1));
  c.vtep = kVtep;
  Observer o;
  int moved = 0;
  o.local_mac_moved = [&](uint32_t vni, const MacAddress& m, const IpAddress&, uint32_t) {
    if (++moved == 1) {
      ASSERT_TRUE(inst_->add_local_mac(vni, m, std::nullopt).has_value());
    }
  };
  inst_ = std::make_unique<Instance>(rib_, std::move(c), Hooks{}, std::move(o));
  ASSERT_TRUE(inst_->add_local_mac(100, kMac, std::nullopt).has_value());
  settle();
  advertise(1, kMac, std::nullopt, MacMobility{false, 3});
  settle();
  EXPECT_EQ(moved, 1);
  EXPECT_EQ(ours(kMac), (MacMobility{false, 4}));
}

// ---- IP-VRFs: type-5 routes, RFC 9136 §4.4.1 (interface-less) ----

TEST(IpVrf, ResolveAndRoute) {
  const IpVrf v = resolve_ip_vrf(1000, std::nullopt, {}, {}, std::nullopt, 65000, kVtep, 3);
  EXPECT_EQ(v.name, "");  // the caller names it (daemon/build.cc: vrfs[].name)
  EXPECT_EQ(v.vni, 1000u);
  EXPECT_EQ(v.rd.to_string(), "198.18.0.254:3");
  EXPECT_EQ(v.import_rts, std::vector{bgp::route_target_as2(65000, 1000)});
  EXPECT_EQ(v.export_rts, v.import_rts);
  EXPECT_EQ(v.router_mac, mac("02:00:c6:12:00:fe"));  // from the router ID
  const IpVrf w = resolve_ip_vrf(1001, *bgp::RouteDistinguisher::parse("65000:1001"), {}, {},
                                 mac("02:aa:00:00:00:01"), 65000, kVtep, 4);
  EXPECT_EQ(w.rd.to_string(), "65000:1001");
  EXPECT_EQ(w.router_mac, mac("02:aa:00:00:00:01"));

  auto [route, attrs] = ip_prefix_route(v, kVtep, *Prefix::parse("100.64.10.0/24"));
  const auto& p = std::get<bgp::EvpnIpPrefix>(route.route);
  EXPECT_EQ(p.rd, v.rd);
  EXPECT_TRUE(p.esi.is_zero());
  EXPECT_EQ(p.ethernet_tag, 0u);
  EXPECT_EQ(p.prefix, *Prefix::parse("100.64.10.0/24"));
  EXPECT_EQ(p.gateway, ip("0.0.0.0"));
  EXPECT_EQ(p.label, 1000u);
  EXPECT_EQ(attrs.next_hop, kVtep);
  EXPECT_EQ(attrs.ext_communities,
            (std::vector{bgp::route_target_as2(65000, 1000), bgp::Encapsulation{}.encode(),
                         bgp::RouterMac{v.router_mac}.encode()}));
  auto [route6, attrs6] = ip_prefix_route(v, kVtep, *Prefix::parse("fd00:10::/64"));
  EXPECT_EQ(std::get<bgp::EvpnIpPrefix>(route6.route).gateway, ip("::"));
  EXPECT_EQ(attrs6.next_hop, kVtep);
}

TEST_F(InstanceTest, IpVrfKeepsItsName) {
  ASSERT_EQ(inst_->config().ip_vrfs.size(), 1u);
  EXPECT_EQ(inst_->config().ip_vrfs[0].name, "tenant1");
  ASSERT_NE(inst_->find_ip_vrf(1000), nullptr);
  EXPECT_EQ(inst_->find_ip_vrf(1000)->name, "tenant1");
  EXPECT_EQ(inst_->find_ip_vrf(100), nullptr);  // an L2 VNI
}

TEST_F(InstanceTest, PrefixOrigination) {
  const Prefix p = *Prefix::parse("100.64.10.0/24");
  EXPECT_EQ(*inst_->add_prefix(1000, p), true);
  EXPECT_EQ(*inst_->add_prefix(1000, p), false);  // already
  EXPECT_EQ(*inst_->add_prefix(1000, *Prefix::parse("fd00:10::/64")), true);
  EXPECT_EQ(rib_changes_, 2);
  settle();
  const auto key = bgp::evpn_key(ip_prefix_route(*inst_->find_ip_vrf(1000), kVtep, p).first);
  size_t ours = 0;
  rib_.for_each_evpn_route([&](std::span<const uint8_t> k, std::span<const bgp::PathView> ps) {
    if (k[0] != 5) return;
    ASSERT_EQ(ps.size(), 1u);
    EXPECT_EQ(ps[0].peer, bgp::kLocalPeer);
    if (std::equal(k.begin(), k.end(), key->bytes().begin(), key->bytes().end())) {
      EXPECT_EQ(ps[0].attrs->evpn_nlri->label1, 1000u);
      EXPECT_EQ(ps[0].attrs->next_hop, kVtep);
    }
    ++ours;
  });
  EXPECT_EQ(ours, 2u);
  auto rows = inst_->prefixes(1000);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].prefix, p);
  EXPECT_TRUE((*rows)[0].local);
  EXPECT_TRUE((*rows)[0].remote.empty());  // our own route is not remote

  EXPECT_EQ(*inst_->remove_prefix(1000, p), true);
  EXPECT_EQ(*inst_->remove_prefix(1000, p), false);
  settle();
  ours = 0;
  rib_.for_each_evpn_route([&](std::span<const uint8_t> k, std::span<const bgp::PathView> ps) {
    if (k[0] == 5 && !ps.empty()) ++ours;
  });
  EXPECT_EQ(ours, 1u);

  EXPECT_EQ(inst_->add_prefix(100, p).error().message,
            "no IP-VRF for L3 VNI 100 (see show evpn ip-vrf)");
  EXPECT_EQ(inst_->prefixes(7).error().message, "no IP-VRF for L3 VNI 7 (see show evpn ip-vrf)");
  make(false);
  EXPECT_EQ(inst_->add_prefix(1000, p).error().message,
            "this speaker is not a VTEP (evpn.vtep is not set)");
}

TEST_F(InstanceTest, RemotePrefixesByRouteTarget) {
  auto type5 = [&](bgp::PeerId peer, uint32_t rt, bool withdraw) {
    bgp::EvpnIpPrefix r;
    r.rd = bgp::RouteDistinguisher::ipv4(IpAddress::v4(0xc6120000 + peer), 9);
    r.prefix = *Prefix::parse("100.64.20.0/24");
    r.label = rt;
    if (withdraw) {
      rib_.withdraw_evpn(peer, std::vector{bgp::EvpnRoute{r}});
      return;
    }
    PathAttributes a;
    a.next_hop = IpAddress::v4(0xc6120000 + peer);
    a.ext_communities = {bgp::route_target_as2(65000, rt), bgp::Encapsulation{}.encode(),
                         bgp::RouterMac{mac("02:00:00:00:aa:0" + std::to_string(peer))}.encode()};
    rib_.update_evpn(peer, std::vector{bgp::EvpnRoute{r}}, a);
  };
  type5(2, 1000, false);
  type5(1, 1000, false);
  type5(1, 2000, false);  // replaces peer 1's route (same key): RT 65000:2000 only
  settle();
  // Peer 1's route carries no RT of the IP-VRF: not imported.
  EXPECT_EQ(take_events(), (std::vector<std::string>{
                               "prefix 1000 100.64.20.0/24 198.18.0.2 02:00:00:00:aa:02",
                           }));
  type5(1, 1000, false);
  settle();
  EXPECT_EQ(take_events(),
            (std::vector<std::string>{"prefix 1000 100.64.20.0/24 198.18.0.1 02:00:00:00:aa:01 "
                                      "198.18.0.2 02:00:00:00:aa:02"}));
  auto rows = inst_->prefixes(1000);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_FALSE((*rows)[0].local);
  ASSERT_EQ((*rows)[0].remote.size(), 2u);
  EXPECT_EQ((*rows)[0].remote[0].label, 1000u);
  type5(1, 0, true);
  type5(2, 0, true);
  settle();
  EXPECT_EQ(take_events(), (std::vector<std::string>{"prefix 1000 100.64.20.0/24"}));
  EXPECT_TRUE(inst_->prefixes(1000)->empty());
}

// RFC 9135 §5.1.1: a network in an IP-VRF advertises its MAC/IP routes with the L3 VNI as second
// label, the IP-VRF's route target and our Router's MAC; its MAC-only routes are bridged only.
TEST_F(InstanceTest, SymmetricIrbMacIpRoutesCarryTheL3Vni) {
  l3_vni_of_100_ = 1000;
  make(true);
  ASSERT_TRUE(inst_->add_local_mac(100, kMac, ip("100.64.1.5")).has_value());
  ASSERT_TRUE(inst_->add_local_mac(100, kMac, std::nullopt).has_value());
  settle();
  std::vector<bgp::ExtCommunity> cs;
  auto r = our_route(kMac, ip("100.64.1.5"), &cs);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->label1, 100u);
  EXPECT_EQ(r->label2, std::optional<uint32_t>(1000));
  const IpVrf* l3 = inst_->find_ip_vrf(1000);
  ASSERT_NE(l3, nullptr);
  auto has = [&](const bgp::ExtCommunity& c) {
    return std::find(cs.begin(), cs.end(), c) != cs.end();
  };
  EXPECT_TRUE(has(bgp::route_target_as2(65000, 100)));
  EXPECT_TRUE(has(bgp::route_target_as2(65000, 1000)));
  EXPECT_TRUE(has(bgp::RouterMac{l3->router_mac}.encode()));

  auto [mac_only, attrs] = mac_route(*inst_->find_vrf(100), l3, kVtep, kMac, std::nullopt, 0);
  EXPECT_FALSE(std::get<bgp::EvpnMacIp>(mac_only.route).label2.has_value());
  EXPECT_EQ(std::count_if(attrs.ext_communities.begin(), attrs.ext_communities.end(),
                          [](const auto& c) { return bgp::RouterMac::decode(c).has_value(); }),
            0);
  // A network outside any IP-VRF: one label, no Router's MAC.
  ASSERT_TRUE(inst_->add_local_mac(200, kMac, ip("100.64.2.5")).has_value());
  auto [plain, plain_attrs] =
      mac_route(*inst_->find_vrf(200), nullptr, kVtep, kMac, ip("100.64.2.5"), 0);
  EXPECT_FALSE(std::get<bgp::EvpnMacIp>(plain.route).label2.has_value());
}

// RFC 9135 §5.1.2: a remote MAC/IP route with a second label and the route target of an IP-VRF
// is a host route of the IP-VRF through its VTEP and Router's MAC, whether or not this VTEP has
// the network; without the second label it is bridged only.
TEST_F(InstanceTest, SymmetricIrbHostRoutesFromMacIpRoutes) {
  auto type2 = [&](bgp::PeerId peer, std::string_view addr, std::optional<uint32_t> l3,
                   uint32_t l2) {
    bgp::EvpnMacIp r;
    r.rd = bgp::RouteDistinguisher::ipv4(IpAddress::v4(0xc6120000 + peer), 1);
    r.mac = mac("02:00:00:00:bb:0" + std::to_string(peer));
    r.ip = ip(addr);
    r.label1 = l2;
    r.label2 = l3;
    PathAttributes a;
    a.next_hop = IpAddress::v4(0xc6120000 + peer);
    a.ext_communities = {bgp::route_target_as2(65000, l2), bgp::Encapsulation{}.encode()};
    if (l3)
      for (auto c : {bgp::route_target_as2(65000, *l3),
                     bgp::RouterMac{mac("02:00:00:00:aa:0" + std::to_string(peer))}.encode()})
        a.ext_communities.push_back(c);
    rib_.update_evpn(peer, std::vector{bgp::EvpnRoute{r}}, a);
  };
  type2(1, "100.64.1.7", 1000, 100);    // a network this VTEP has
  type2(2, "fd00:64:9::7", 1000, 900);  // one it does not
  settle();
  auto events = take_events();
  EXPECT_NE(std::find(events.begin(), events.end(),
                      "prefix 1000 100.64.1.7/32 198.18.0.1 02:00:00:00:aa:01"),
            events.end());
  EXPECT_NE(std::find(events.begin(), events.end(),
                      "prefix 1000 fd00:64:9::7/128 198.18.0.2 02:00:00:00:aa:02"),
            events.end());
  auto rows = inst_->prefixes(1000);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].remote[0].label, 1000u);
  // The same route without the second label (and RT): the host route goes.
  type2(1, "100.64.1.7", std::nullopt, 100);
  settle();
  events = take_events();
  EXPECT_NE(std::find(events.begin(), events.end(), "prefix 1000 100.64.1.7/32"), events.end());
  EXPECT_EQ(inst_->prefixes(1000)->size(), 1u);
  // Withdrawn: nothing left.
  bgp::EvpnMacIp w;
  w.rd = bgp::RouteDistinguisher::ipv4(IpAddress::v4(0xc6120002), 1);
  w.mac = mac("02:00:00:00:bb:02");
  w.ip = ip("fd00:64:9::7");
  rib_.withdraw_evpn(2, std::vector{bgp::EvpnRoute{w}});
  settle();
  EXPECT_TRUE(inst_->prefixes(1000)->empty());
}

// RFC 9136 §4.4.1: start() advertises the subnets of the tenant's networks as type-5 routes.
TEST_F(InstanceTest, StartAdvertisesTheSubnetsOfTheTenant) {
  subnets_of_1000_ = {*Prefix::parse("100.64.1.0/24"), *Prefix::parse("fd00:64:1::/64")};
  make(true);
  inst_->start();
  settle();
  auto rows = inst_->prefixes(1000);
  ASSERT_TRUE(rows.has_value());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_TRUE((*rows)[0].local);
  EXPECT_TRUE((*rows)[1].local);
  EXPECT_EQ((*rows)[0].prefix.to_string(), "100.64.1.0/24");
  make(false);  // not a VTEP: nothing advertised
  inst_->start();
  EXPECT_TRUE(inst_->prefixes(1000)->empty());
}

// Routes a dataplane cannot use are kept and shown with the reason, never half-used: a type-5
// route with a gateway address (RFC 9136 §4.4.2) or an ESI, or one without a Router's MAC.
TEST_F(InstanceTest, UnusableTenantRoutesSayWhy) {
  auto type5 = [&](bgp::PeerId peer, std::string_view prefix, std::string_view gateway, bool esi,
                   bool router_mac) {
    bgp::EvpnIpPrefix r;
    r.rd = bgp::RouteDistinguisher::ipv4(IpAddress::v4(0xc6120000 + peer), 9);
    r.prefix = *Prefix::parse(prefix);
    r.gateway = ip(gateway);
    if (esi) r.esi = bgp::Esi::arbitrary({1, 2, 3, 4, 5, 6, 7, 8, 9});
    r.label = 1000;
    PathAttributes a;
    a.next_hop = IpAddress::v4(0xc6120000 + peer);
    a.ext_communities = {bgp::route_target_as2(65000, 1000), bgp::Encapsulation{}.encode()};
    if (router_mac) a.ext_communities.push_back(bgp::RouterMac{mac("02:00:00:00:aa:01")}.encode());
    rib_.update_evpn(peer, std::vector{bgp::EvpnRoute{r}}, a);
  };
  type5(1, "100.64.20.0/24", "100.64.9.1", false, true);
  type5(1, "100.64.21.0/24", "0.0.0.0", true, true);
  type5(1, "100.64.22.0/24", "0.0.0.0", false, false);
  type5(1, "100.64.23.0/24", "0.0.0.0", false, true);
  settle();
  auto rows = inst_->prefixes(1000);
  ASSERT_EQ(rows->size(), 4u);
  ASSERT_EQ((*rows)[0].remote.size(), 1u);
  EXPECT_EQ((*rows)[0].remote[0].unusable,
            "gateway address 100.64.9.1 (the gateway-address model, RFC 9136 §4.4.2, is not "
            "supported)");
  EXPECT_TRUE((*rows)[1].remote[0].unusable.starts_with("ESI ")) << (*rows)[1].remote[0].unusable;
  EXPECT_EQ((*rows)[2].remote[0].unusable, "no Router's MAC extended community (RFC 9135 §8.1)");
  EXPECT_EQ((*rows)[3].remote[0].unusable, "");
}

TEST(RtMemberships, OnePerDistinctImportRouteTarget) {
  InstanceConfig c;
  c.mac_vrfs.push_back(
      resolve(100, std::nullopt, {}, {}, 65000, *IpAddress::parse("198.18.0.1"), 1));
  c.mac_vrfs.push_back(
      resolve(200, std::nullopt, {}, {}, 65000, *IpAddress::parse("198.18.0.1"), 2));
  c.mac_vrfs[1].import_rts.push_back(c.mac_vrfs[0].import_rts[0]);  // shared: listed once
  IpVrf l3;
  l3.vni = 5000;
  l3.import_rts = {bgp::route_target_as2(65000, 5000)};
  c.ip_vrfs.push_back(l3);
  auto m = rt_memberships(c, 65000);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0], bgp::RtMembership::of(65000, bgp::route_target_as2(65000, 100).bytes));
  EXPECT_EQ(m[1], bgp::RtMembership::of(65000, bgp::route_target_as2(65000, 200).bytes));
  EXPECT_EQ(m[2], bgp::RtMembership::of(65000, bgp::route_target_as2(65000, 5000).bytes));
  EXPECT_EQ(rt_membership_attributes().next_hop, IpAddress::v4(0));
}

}  // namespace
}  // namespace isthmus::evpn
