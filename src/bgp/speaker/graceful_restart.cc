// Graceful restart decisions (see graceful_restart.h).
#include "bgp/speaker/graceful_restart.h"

#include <algorithm>

namespace isthmus::bgp::gr {

std::optional<GracefulRestartCapability> local_capability(const GracefulRestartConfig& config,
                                                          const OwnRestart& own) {
  if (!config.helper) return std::nullopt;
  GracefulRestartCapability c;
  c.restarting = own.restarting;
  c.notification = true;
  c.restart_time = std::min<uint16_t>(config.restart_time, 0x0fff);
  for (Family f : own.families) c.families.push_back({f, own.forwarding_preserved});
  return c;
}

std::optional<LongLivedGracefulRestartCapability> local_long_lived_capability(
    const GracefulRestartConfig& config, const OwnRestart& own) {
  if (!config.helper) return std::nullopt;
  LongLivedGracefulRestartCapability c;
  if (config.long_lived_stale_time > 0)
    for (Family f : own.families)
      c.families.push_back({f, own.forwarding_preserved,
                            std::min<uint32_t>(config.long_lived_stale_time, 0xffffff)});
  return c;
}

std::string family_names(std::span<const Family> families) {
  std::string s;
  for (auto f : families) s += (s.empty() ? "" : ",") + f.name();
  return s;
}

bool notification_negotiated(const Capabilities& ours, const Capabilities& theirs) {
  return ours.graceful_restart && ours.graceful_restart->notification && theirs.graceful_restart &&
         theirs.graceful_restart->notification;
}

bool keeps_routes(const SessionEnd& end, bool notification_negotiated) {
  // RFC 4724 §4.2: "termination of the TCP session"; RFC 8538 §4: also a NOTIFICATION sent or
  // received other than a Hard Reset, when the N bit was exchanged.
  if (!end.notification) return true;
  if (end.hard_reset) return false;
  return notification_negotiated;
}

std::vector<Family> retained_families(bool helper, const Capabilities& ours,
                                      const session::Negotiated& n, const SessionEnd& end) {
  const auto& theirs = n.remote_open.caps.graceful_restart;
  if (!helper || !theirs) return {};
  if (!keeps_routes(end, notification_negotiated(ours, n.remote_open.caps))) return {};
  // RFC 4724 §4.2: "for all the address families that were previously received in the Graceful
  // Restart Capability" and that the session carried.
  std::vector<Family> out;
  auto keep = [&](Family f) {
    if (std::find(n.families.begin(), n.families.end(), f) != n.families.end() &&
        std::find(out.begin(), out.end(), f) == out.end())
      out.push_back(f);
  };
  for (const auto& pf : theirs->families) keep(pf.family);
  // RFC 9494: a family of the LLGR Capability is kept too, as long-lived stale once the Restart
  // Time is over (at once when it is not in the Graceful Restart Capability).
  if (const auto& llgr = n.remote_open.caps.long_lived_graceful_restart)
    for (const auto& pf : llgr->families)
      if (pf.stale_time > 0) keep(pf.family);
  return out;
}

bool sends_hard_reset(const Notification& n, bool notification_negotiated, bool hard_admin_reset) {
  if (!notification_negotiated || n.code != ErrorCode::Cease) return false;
  switch (n.subcode) {
    case cease::kMaxPrefixes:
    case cease::kAdministrativeShutdown:
    case cease::kPeerDeconfigured:
      return true;
    case cease::kAdministrativeReset:
      return hard_admin_reset;
    default:
      // Connection Rejected, Other Configuration Change, Connection Collision Resolution, Out of
      // Resources, BFD Down: graceful. A Hard Reset is not wrapped again.
      return false;
  }
}

Notification hard_reset(const Notification& inner) {
  Notification n{ErrorCode::Cease, cease::kHardReset, {}};
  n.data.reserve(2 + inner.data.size());
  n.data.push_back(static_cast<uint8_t>(inner.code));
  n.data.push_back(inner.subcode);
  n.data.insert(n.data.end(), inner.data.begin(), inner.data.end());
  return n;
}

bool is_hard_reset(const Notification& n) {
  return n.code == ErrorCode::Cease && n.subcode == cease::kHardReset;
}

std::optional<Notification> hard_reset_inner(const Notification& n) {
  if (!is_hard_reset(n) || n.data.size() < 2) return std::nullopt;
  return Notification{static_cast<ErrorCode>(n.data[0]), n.data[1],
                      std::vector<uint8_t>(n.data.begin() + 2, n.data.end())};
}

std::string describe(const Notification& n) {
  auto inner = hard_reset_inner(n);
  if (!inner) return n.describe();
  return Notification{n.code, n.subcode, {}}.describe() + " (" + inner->describe() + ")";
}

}  // namespace isthmus::bgp::gr
