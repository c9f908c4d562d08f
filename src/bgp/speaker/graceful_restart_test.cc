// Graceful restart rules: our capability and its encoding (RFC 4724 §3, RFC 8538 §2), when a
// session's end keeps the peer's routes (RFC 4724 §4.2, RFC 8538 §4), which Cease goes out as a
// Hard Reset (RFC 8538 §5) and how one is encoded (RFC 8538 §3).
#include "bgp/speaker/graceful_restart.h"

#include <gtest/gtest.h>

#include "bgp/wire/codec.h"

namespace isthmus::bgp::gr {
namespace {

Capabilities with_gr(bool notification, std::vector<Family> families = {}) {
  Capabilities c;
  GracefulRestartCapability g;
  g.notification = notification;
  g.restart_time = 90;
  for (auto f : families) g.families.push_back({f, true});
  c.graceful_restart = g;
  return c;
}

Capabilities ours() {
  Capabilities c;
  c.graceful_restart = local_capability({});
  return c;
}

session::Negotiated negotiated(Capabilities theirs, std::vector<Family> families) {
  session::Negotiated n;
  n.remote_open.caps = std::move(theirs);
  n.families = std::move(families);
  return n;
}

TEST(GracefulRestartCapability, OursIsHelperOnlyWithTheNBit) {
  EXPECT_FALSE(local_capability({.helper = false}).has_value());
  auto c = local_capability({.helper = true, .restart_time = 30, .stale_routes_time = 5});
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(c->restarting);
  EXPECT_TRUE(c->notification);
  EXPECT_EQ(c->restart_time, 30);
  EXPECT_TRUE(c->families.empty());
  EXPECT_EQ(local_capability({})->restart_time, 120);  // the default
}

TEST(GracefulRestartCapability, OursWithPreservedForwardingState) {
  // RFC 4724 §3: the families whose forwarding state outlives a restart, with the F bit when it
  // did, and the R bit while restarting.
  OwnRestart own{{kL2vpnEvpn}, true, true};
  auto c = local_capability({}, own);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->restarting);
  EXPECT_TRUE(c->notification);
  ASSERT_EQ(c->families.size(), 1u);
  EXPECT_EQ(c->families[0].family, kL2vpnEvpn);
  EXPECT_TRUE(c->families[0].forwarding_preserved);
  // A fresh start: the family is listed, without the F bit, and no R bit.
  c = local_capability({}, {{kL2vpnEvpn}, false, false});
  EXPECT_FALSE(c->restarting);
  EXPECT_FALSE(c->families[0].forwarding_preserved);
  // Graceful restart off for the session: no capability at all.
  EXPECT_FALSE(local_capability({.helper = false}, own).has_value());
  // On the wire: flags R=1 N=1, Restart Time 120, then AFI 25 SAFI 70 with F (0x80).
  Open o;
  o.my_as = 65000;
  o.hold_time = 90;
  o.bgp_id = 0xc6120001;
  o.caps.graceful_restart = local_capability({}, own);
  std::vector<uint8_t> bytes;
  encode_open(o, bytes);
  const std::vector<uint8_t> cap = {64, 6, 0xc0, 120, 0, 25, 70, 0x80};
  EXPECT_NE(std::search(bytes.begin(), bytes.end(), cap.begin(), cap.end()), bytes.end());
}

TEST(GracefulRestartCapability, OnTheWire) {
  // RFC 4724 §3 / RFC 8538 §2: code 64, length 2, flags R=0 N=1 then 12 bits of Restart Time.
  Open o;
  o.my_as = 65000;
  o.hold_time = 90;
  o.bgp_id = 0xc6120001;
  o.caps.graceful_restart = local_capability({.helper = true, .restart_time = 4095});
  std::vector<uint8_t> bytes;
  encode_open(o, bytes);
  const std::vector<uint8_t> cap = {64, 2, 0x4f, 0xff};
  EXPECT_NE(std::search(bytes.begin(), bytes.end(), cap.begin(), cap.end()), bytes.end());
  auto back = decode_message(bytes, {});
  ASSERT_TRUE(back);
  const auto& g = std::get<Open>(*back).caps.graceful_restart;
  ASSERT_TRUE(g.has_value());
  EXPECT_TRUE(g->notification);
  EXPECT_FALSE(g->restarting);
  EXPECT_EQ(g->restart_time, 4095);

  o.caps.graceful_restart = local_capability({.helper = true, .restart_time = 120});
  bytes.clear();
  encode_open(o, bytes);
  const std::vector<uint8_t> cap120 = {64, 2, 0x40, 120};
  EXPECT_NE(std::search(bytes.begin(), bytes.end(), cap120.begin(), cap120.end()), bytes.end());
}

TEST(GracefulRestartNotification, NegotiatedOnlyWhenBothSetN) {
  EXPECT_TRUE(notification_negotiated(with_gr(true), with_gr(true)));
  EXPECT_FALSE(notification_negotiated(with_gr(true), with_gr(false)));
  EXPECT_FALSE(notification_negotiated(with_gr(false), with_gr(true)));
  EXPECT_FALSE(notification_negotiated(with_gr(true), Capabilities{}));
  EXPECT_FALSE(notification_negotiated(Capabilities{}, with_gr(true)));
}

TEST(GracefulRestartRetention, KeepsRoutes) {
  // TCP failure (no NOTIFICATION): RFC 4724 §4.2, with or without N.
  EXPECT_TRUE(keeps_routes({}, false));
  EXPECT_TRUE(keeps_routes({}, true));
  // A NOTIFICATION: only with N (RFC 8538 §4), never a Hard Reset (§3.2).
  EXPECT_FALSE(keeps_routes({.notification = true}, false));
  EXPECT_TRUE(keeps_routes({.notification = true}, true));
  EXPECT_FALSE(keeps_routes({.notification = true, .hard_reset = true}, true));
  EXPECT_FALSE(keeps_routes({.notification = true, .hard_reset = true}, false));
}

TEST(GracefulRestartRetention, Families) {
  const std::vector<Family> v4{kIpv4Unicast};
  // The peer's capability lists IPv4 and IPv6; the session carried IPv4 only.
  auto n = negotiated(with_gr(true, {kIpv4Unicast, kIpv6Unicast}), v4);
  EXPECT_EQ(retained_families(true, ours(), n, {}), v4);
  EXPECT_EQ(retained_families(true, ours(), n, {.notification = true}), v4);
  EXPECT_TRUE(
      retained_families(true, ours(), n, {.notification = true, .hard_reset = true}).empty());
  EXPECT_TRUE(retained_families(false, ours(), n, {}).empty());  // helper off

  // The peer did not set N: a NOTIFICATION ends it (RFC 4724 as before), TCP loss does not.
  auto no_n = negotiated(with_gr(false, {kIpv4Unicast}), v4);
  EXPECT_EQ(retained_families(true, ours(), no_n, {}), v4);
  EXPECT_TRUE(retained_families(true, ours(), no_n, {.notification = true}).empty());

  // We did not set N (our capability without it): the same.
  Capabilities ours_no_n = with_gr(false);
  EXPECT_TRUE(retained_families(true, ours_no_n, n, {.notification = true}).empty());

  // No capability from the peer, or one without families: nothing to keep.
  EXPECT_TRUE(retained_families(true, ours(), negotiated({}, v4), {}).empty());
  EXPECT_TRUE(retained_families(true, ours(), negotiated(with_gr(true), v4), {}).empty());
}

// RFC 9494: our LLGR Capability lists the families of our Graceful Restart Capability with the
// configured Long-lived Stale Time; with none configured, or no such family, it goes out empty.
TEST(LongLivedGracefulRestart, OurCapability) {
  OwnRestart own{{kL2vpnEvpn}, true, false};
  auto c = local_long_lived_capability({}, own);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->families.size(), 1u);
  EXPECT_EQ(c->families[0],
            (LongLivedGracefulRestartCapability::PerFamily{kL2vpnEvpn, true, 86400}));
  EXPECT_TRUE(local_long_lived_capability({.long_lived_stale_time = 0}, own)->families.empty());
  EXPECT_TRUE(local_long_lived_capability({})->families.empty());
  EXPECT_FALSE(local_long_lived_capability({.helper = false}, own).has_value());
  // Beyond 24 bits: the largest value the field holds.
  EXPECT_EQ(
      local_long_lived_capability({.long_lived_stale_time = 1u << 30}, own)->families[0].stale_time,
      0xffffffu);
}

// RFC 9494: a family of the peer's LLGR Capability with a non-zero Long-lived Stale Time is
// kept too, even when its Graceful Restart Capability does not list it; the same rules of
// NOTIFICATION and Hard Reset apply.
TEST(LongLivedGracefulRestart, RetainedFamilies) {
  const std::vector<Family> both{kIpv4Unicast, kL2vpnEvpn};
  Capabilities theirs = with_gr(true, {kIpv4Unicast});
  theirs.long_lived_graceful_restart =
      LongLivedGracefulRestartCapability{{{kL2vpnEvpn, true, 3600}, {kIpv6Unicast, true, 60}}};
  auto n = negotiated(theirs, both);
  EXPECT_EQ(retained_families(true, ours(), n, {}), both);  // IPv6 was not carried
  EXPECT_TRUE(
      retained_families(true, ours(), n, {.notification = true, .hard_reset = true}).empty());
  // A Long-lived Stale Time of zero keeps nothing beyond the Graceful Restart Capability.
  theirs.long_lived_graceful_restart = LongLivedGracefulRestartCapability{{{kL2vpnEvpn, true, 0}}};
  EXPECT_EQ(retained_families(true, ours(), negotiated(theirs, both), {}),
            std::vector<Family>{kIpv4Unicast});
}

TEST(GracefulRestartHardReset, WhichCeaseIsSentAsHardReset) {
  auto cease = [](uint8_t sub) { return Notification{ErrorCode::Cease, sub, {}}; };
  // RFC 8538 §5.
  EXPECT_TRUE(sends_hard_reset(cease(cease::kMaxPrefixes), true, false));
  EXPECT_TRUE(sends_hard_reset(cease(cease::kAdministrativeShutdown), true, false));
  EXPECT_TRUE(sends_hard_reset(cease(cease::kPeerDeconfigured), true, false));
  EXPECT_TRUE(sends_hard_reset(cease(cease::kAdministrativeReset), true, true));
  EXPECT_FALSE(sends_hard_reset(cease(cease::kAdministrativeReset), true, false));
  for (uint8_t sub : {cease::kConnectionRejected, cease::kOtherConfigurationChange,
                      cease::kConnectionCollisionResolution, cease::kOutOfResources,
                      cease::kHardReset, uint8_t{10}})
    EXPECT_FALSE(sends_hard_reset(cease(sub), true, true)) << int{sub};
  // Errors, the hold timer's included (RFC 8538 §4), stay what they are.
  EXPECT_FALSE(sends_hard_reset({ErrorCode::HoldTimerExpired, 0, {}}, true, true));
  EXPECT_FALSE(sends_hard_reset({ErrorCode::UpdateMessage, 3, {}}, true, true));
  EXPECT_FALSE(sends_hard_reset({ErrorCode::FsmError, 3, {}}, true, true));
  // §3.1: not to a peer that did not send the N bit.
  EXPECT_FALSE(sends_hard_reset(cease(cease::kAdministrativeShutdown), false, true));
  EXPECT_FALSE(sends_hard_reset(cease(cease::kAdministrativeReset), false, true));
}

TEST(GracefulRestartHardReset, Encoding) {
  Notification inner = Notification::shutdown(cease::kAdministrativeReset, "maint");
  Notification hr = hard_reset(inner);
  EXPECT_TRUE(is_hard_reset(hr));
  EXPECT_FALSE(is_hard_reset(inner));
  EXPECT_EQ(hr.code, ErrorCode::Cease);
  EXPECT_EQ(hr.subcode, 9);
  // RFC 8538 §3: ErrCode, Subcode, then the encapsulated data.
  EXPECT_EQ(hr.data, (std::vector<uint8_t>{6, 4, 5, 'm', 'a', 'i', 'n', 't'}));
  std::vector<uint8_t> bytes;
  encode_notification(hr, bytes);
  ASSERT_EQ(bytes.size(), 19u + 2 + 8);
  EXPECT_EQ(bytes[18], 3);  // NOTIFICATION
  EXPECT_EQ((std::vector<uint8_t>(bytes.begin() + 19, bytes.end())),
            (std::vector<uint8_t>{6, 9, 6, 4, 5, 'm', 'a', 'i', 'n', 't'}));
  auto back = decode_message(bytes, {});
  ASSERT_TRUE(back);
  auto got = hard_reset_inner(std::get<Notification>(*back));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, inner);
  EXPECT_EQ(describe(std::get<Notification>(*back)),
            "Cease/Hard Reset (Cease/Administrative Reset (\"maint\"))");

  // A Hard Reset wrapping a Hold Timer Expired with no data; one too short to hold a code.
  EXPECT_EQ(hard_reset({ErrorCode::HoldTimerExpired, 0, {}}).data, (std::vector<uint8_t>{4, 0}));
  Notification short_one{ErrorCode::Cease, cease::kHardReset, {6}};
  EXPECT_FALSE(hard_reset_inner(short_one).has_value());
  EXPECT_EQ(describe(short_one), "Cease/Hard Reset (data 06)");
  EXPECT_FALSE(hard_reset_inner(inner).has_value());
  EXPECT_EQ(describe(inner), inner.describe());
}

}  // namespace
}  // namespace isthmus::bgp::gr
