#include "bgp/session/fsm.h"

#include <gtest/gtest.h>

#include "bgp/speaker/max_prefixes.h"

namespace isthmus::bgp::session {
namespace {

LocalConfig config() {
  LocalConfig c;
  c.local_as = 65000;
  c.router_id = 0xC6120001;  // 198.18.0.1
  c.remote_as = 65001;
  c.hold_time = 90;
  c.capabilities.multiprotocol = {kIpv4Unicast, kIpv6Unicast};
  c.capabilities.four_octet_as = 65000;
  c.capabilities.route_refresh = true;
  return c;
}

Open peer_open(uint32_t asn = 65001, uint16_t hold = 30, uint32_t id = 0xC6120002) {
  Open o;
  o.my_as = asn > 0xffff ? kAsTrans : static_cast<uint16_t>(asn);
  o.hold_time = hold;
  o.bgp_id = id;
  o.caps.multiprotocol = {kIpv4Unicast};
  o.caps.four_octet_as = asn;
  return o;
}

template <class T>
const T* find(const Effects& effects) {
  for (auto& e : effects)
    if (auto* p = std::get_if<T>(&e)) return p;
  return nullptr;
}

ConnectionFsm established() {
  ConnectionFsm fsm(config());
  fsm.handle(TcpEstablished{});
  fsm.handle(OpenReceived{peer_open()});
  fsm.handle(KeepaliveReceived{});
  return fsm;
}

TEST(Fsm, TcpUpSendsOpenWithLargeHoldTimer) {
  ConnectionFsm fsm(config());
  auto out = fsm.handle(TcpEstablished{});
  EXPECT_EQ(fsm.state(), State::OpenSent);
  auto* open = find<SendOpen>(out);
  ASSERT_NE(open, nullptr);
  EXPECT_EQ(open->open.my_as, 65000);
  EXPECT_EQ(open->open.hold_time, 90);
  auto* t = find<StartTimer>(out);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->timer, Timer::Hold);
  EXPECT_EQ(t->after, std::chrono::seconds(240));  // RFC 4271 §8.2.2: "a large value"
}

TEST(Fsm, FourOctetLocalAsSendsAsTrans) {
  auto c = config();
  c.local_as = 4200000001;
  ConnectionFsm fsm(c);
  auto out = fsm.handle(TcpEstablished{});
  EXPECT_EQ(find<SendOpen>(out)->open.my_as, kAsTrans);
}

TEST(Fsm, OpenNegotiatesHoldTimeAndFamilies) {
  ConnectionFsm fsm(config());
  fsm.handle(TcpEstablished{});
  auto out = fsm.handle(OpenReceived{peer_open(65001, 30)});
  EXPECT_EQ(fsm.state(), State::OpenConfirm);
  EXPECT_NE(find<SendKeepalive>(out), nullptr);
  ASSERT_TRUE(fsm.negotiated());
  EXPECT_EQ(fsm.negotiated()->hold_time, 30);
  EXPECT_EQ(fsm.negotiated()->keepalive, 10);
  EXPECT_EQ(fsm.negotiated()->families, std::vector<Family>{kIpv4Unicast});
  EXPECT_TRUE(fsm.negotiated()->four_octet_as);
}

TEST(Fsm, KeepaliveInOpenConfirmEstablishes) {
  ConnectionFsm fsm(config());
  fsm.handle(TcpEstablished{});
  fsm.handle(OpenReceived{peer_open()});
  auto out = fsm.handle(KeepaliveReceived{});
  EXPECT_EQ(fsm.state(), State::Established);
  EXPECT_NE(find<SessionEstablished>(out), nullptr);
}

TEST(Fsm, WrongPeerAsIsBadPeerAs) {
  ConnectionFsm fsm(config());
  fsm.handle(TcpEstablished{});
  auto out = fsm.handle(OpenReceived{peer_open(65099)});
  auto* n = find<SendNotification>(out);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->notification.code, ErrorCode::OpenMessage);
  EXPECT_EQ(n->notification.subcode, open_error::kBadPeerAs);
  EXPECT_NE(find<CloseConnection>(out), nullptr);
  EXPECT_EQ(fsm.state(), State::Idle);
}

TEST(Fsm, HoldTimeOfOneOrTwoIsUnacceptable) {
  for (uint16_t hold : {uint16_t{1}, uint16_t{2}}) {
    ConnectionFsm fsm(config());
    fsm.handle(TcpEstablished{});
    auto out = fsm.handle(OpenReceived{peer_open(65001, hold)});
    ASSERT_NE(find<SendNotification>(out), nullptr);
    EXPECT_EQ(find<SendNotification>(out)->notification.subcode, open_error::kUnacceptableHoldTime);
  }
}

// RFC 4271 §6.2 leaves the acceptable Hold Time to local policy: below min_hold_time, and 0 (a
// peer that never sends keepalives could go silent unnoticed), is Unacceptable Hold Time.
TEST(Fsm, HoldTimeBelowTheMinimumOrZeroIsUnacceptable) {
  auto c = config();
  c.min_hold_time = 9;
  for (uint16_t hold : {uint16_t{0}, uint16_t{3}, uint16_t{8}}) {
    ConnectionFsm fsm(c);
    fsm.handle(TcpEstablished{});
    auto out = fsm.handle(OpenReceived{peer_open(65001, hold)});
    ASSERT_NE(find<SendNotification>(out), nullptr) << hold;
    EXPECT_EQ(find<SendNotification>(out)->notification.subcode, open_error::kUnacceptableHoldTime);
  }
  ConnectionFsm ok(c);
  ok.handle(TcpEstablished{});
  EXPECT_EQ(find<SendNotification>(ok.handle(OpenReceived{peer_open(65001, 9)})), nullptr);
  // Our own hold time 0: the session has no hold timer whatever the peer says.
  c.hold_time = 0;
  ConnectionFsm none(c);
  none.handle(TcpEstablished{});
  EXPECT_EQ(find<SendNotification>(none.handle(OpenReceived{peer_open(65001, 0)})), nullptr);
}

TEST(Fsm, IbgpPeerWithOurIdentifierIsRejected) {
  auto c = config();
  c.remote_as = 65000;
  ConnectionFsm fsm(c);
  fsm.handle(TcpEstablished{});
  auto out = fsm.handle(OpenReceived{peer_open(65000, 90, c.router_id)});
  ASSERT_NE(find<SendNotification>(out), nullptr);
  EXPECT_EQ(find<SendNotification>(out)->notification.subcode, open_error::kBadBgpIdentifier);
}

TEST(Fsm, ZeroHoldTimeMeansNoTimers) {
  ConnectionFsm fsm(config());
  fsm.handle(TcpEstablished{});
  auto out = fsm.handle(OpenReceived{peer_open(65001, 0)});
  EXPECT_EQ(fsm.negotiated()->hold_time, 0);
  EXPECT_EQ(fsm.negotiated()->keepalive, 0);
  for (auto& e : out) EXPECT_FALSE(std::holds_alternative<StartTimer>(e));
}

TEST(Fsm, HoldTimerExpirySendsNotification) {
  auto fsm = established();
  auto out = fsm.handle(TimerExpired{Timer::Hold});
  ASSERT_NE(find<SendNotification>(out), nullptr);
  EXPECT_EQ(find<SendNotification>(out)->notification.code, ErrorCode::HoldTimerExpired);
  ASSERT_NE(find<CloseConnection>(out), nullptr);
  EXPECT_TRUE(find<CloseConnection>(out)->was_established);
}

TEST(Fsm, KeepaliveTimerSendsAndRestarts) {
  auto fsm = established();
  auto out = fsm.handle(TimerExpired{Timer::Keepalive});
  EXPECT_NE(find<SendKeepalive>(out), nullptr);
  ASSERT_NE(find<StartTimer>(out), nullptr);
  EXPECT_EQ(find<StartTimer>(out)->timer, Timer::Keepalive);
}

TEST(Fsm, UpdateRestartsHoldTimer) {
  auto fsm = established();
  auto out = fsm.handle(UpdateReceived{});
  ASSERT_NE(find<StartTimer>(out), nullptr);
  EXPECT_EQ(find<StartTimer>(out)->timer, Timer::Hold);
  EXPECT_EQ(fsm.state(), State::Established);
}

TEST(Fsm, UnexpectedMessagesAreFsmErrorsNamingTheState) {
  {
    ConnectionFsm fsm(config());
    fsm.handle(TcpEstablished{});
    auto out = fsm.handle(UpdateReceived{});
    EXPECT_EQ(find<SendNotification>(out)->notification.code, ErrorCode::FsmError);
    EXPECT_EQ(find<SendNotification>(out)->notification.subcode, fsm_error::kUnexpectedInOpenSent);
  }
  {
    ConnectionFsm fsm(config());
    fsm.handle(TcpEstablished{});
    fsm.handle(OpenReceived{peer_open()});
    auto out = fsm.handle(UpdateReceived{});
    EXPECT_EQ(find<SendNotification>(out)->notification.subcode,
              fsm_error::kUnexpectedInOpenConfirm);
  }
  {
    auto fsm = established();
    auto out = fsm.handle(OpenReceived{peer_open()});
    EXPECT_EQ(find<SendNotification>(out)->notification.subcode,
              fsm_error::kUnexpectedInEstablished);
  }
}

TEST(Fsm, NotificationClosesWithoutReply) {
  auto fsm = established();
  auto out =
      fsm.handle(NotificationReceived{{ErrorCode::Cease, cease::kAdministrativeShutdown, {}}});
  EXPECT_EQ(find<SendNotification>(out), nullptr);
  ASSERT_NE(find<CloseConnection>(out), nullptr);
  EXPECT_EQ(fsm.state(), State::Idle);
}

TEST(Fsm, ManualStopSendsCeaseWithReason) {
  auto fsm = established();
  auto out = fsm.handle(ManualStop{cease::kAdministrativeShutdown, "maintenance", std::nullopt});
  auto* n = find<SendNotification>(out);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->notification.code, ErrorCode::Cease);
  EXPECT_EQ(n->notification.subcode, cease::kAdministrativeShutdown);
  ASSERT_FALSE(n->notification.data.empty());
  EXPECT_EQ(n->notification.data[0], 11);  // RFC 9003: length octet, then the UTF-8 text
}

// RFC 4486 §4: a Cease whose subcode defines its data carries that data, not a text.
TEST(Fsm, ManualStopWithDataSendsItAsIs) {
  auto fsm = established();
  const std::vector<uint8_t> data = max_prefixes_data(kL2vpnEvpn, 1000);
  EXPECT_EQ(data, (std::vector<uint8_t>{0, 25, 70, 0, 0, 0x03, 0xe8}));
  auto out = fsm.handle(ManualStop{cease::kMaxPrefixes, "too many", data});
  auto* n = find<SendNotification>(out);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->notification.subcode, cease::kMaxPrefixes);
  EXPECT_EQ(n->notification.data, data);
  EXPECT_EQ(fsm.state(), State::Idle);
}

TEST(Fsm, EventsAfterCloseAreIgnored) {
  auto fsm = established();
  fsm.handle(TcpClosed{});
  EXPECT_TRUE(fsm.handle(KeepaliveReceived{}).empty());
}

TEST(Fsm, CollisionKeepsConnectionOfHigherIdentifier) {
  EXPECT_TRUE(keep_outbound_on_collision(2, 1));
  EXPECT_FALSE(keep_outbound_on_collision(1, 2));
}

}  // namespace
}  // namespace isthmus::bgp::session
