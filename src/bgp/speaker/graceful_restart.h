// Graceful restart decisions of the receiving speaker ("helper", RFC 4724 §4.2) with RFC 8538
// (Notification Message Support for BGP Graceful Restart: the N bit and the Hard Reset Cease
// subcode). Pure functions over capabilities and notifications, so the rules are unit-tested
// without sockets or timers; speaker/peer.cc applies them.
//
// RFC 8538 in short: when both OPENs carry the N bit, a session that ends with a NOTIFICATION
// (sent or received, the hold timer's included) is handled like a TCP failure: the peer's routes
// stay as stale (§4). Only a Cease/Hard Reset (subcode 9, the original NOTIFICATION in its data,
// §3) ends the session for good. Which Cease a speaker sends as a Hard Reset is §5's table.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bgp/session/fsm.h"
#include "bgp/speaker/config.h"
#include "bgp/wire/types.h"

namespace isthmus::bgp::gr {

// What our OPEN says of our own restart (RFC 4724 §3): the families whose forwarding state
// outlives isthmusd (none: a helper-only speaker), whether it was kept this time (F bit), and
// whether we are restarting now (R bit).
struct OwnRestart {
  std::vector<Family> families;
  bool forwarding_preserved = false;
  bool restarting = false;
};

// Our Graceful Restart Capability: none when graceful restart is off for the session; otherwise
// the configured Restart Time, the N bit (RFC 8538 §2), the R bit and one entry per family of
// `own` (with its F bit).
std::optional<GracefulRestartCapability> local_capability(const GracefulRestartConfig& config,
                                                          const OwnRestart& own = {});

// RFC 9494: our LLGR Capability, beside the Graceful Restart Capability (none when that is off):
// the configured Long-lived Stale Time for each family of `own`, with its F bit; no family when
// the time is 0 (the capability then says only that we understand LLGR_STALE, so that peers
// send us their long-lived stale routes).
std::optional<LongLivedGracefulRestartCapability> local_long_lived_capability(
    const GracefulRestartConfig& config, const OwnRestart& own = {});

// "l2vpn-evpn,ipv4-rtc", for logs.
std::string family_names(std::span<const Family> families);

// RFC 8538 §2: the N bit is in both OPENs.
bool notification_negotiated(const Capabilities& ours, const Capabilities& theirs);

// How an Established session ended.
struct SessionEnd {
  bool notification = false;  // a NOTIFICATION was sent or received on it
  bool hard_reset = false;    // that NOTIFICATION was a Cease/Hard Reset (RFC 8538 §3)
};

// Whether the end keeps the peer's routes as stale: always after a TCP failure (RFC 4724 §4.2);
// after a NOTIFICATION only when the N bit was negotiated and it was not a Hard Reset
// (RFC 8538 §3.2, §4).
bool keeps_routes(const SessionEnd& end, bool notification_negotiated);

// The families whose routes stay as stale when the session `n` (negotiated with `ours` as our
// capabilities) ends as `end`: those of the peer's Graceful Restart Capability, and those of its
// LLGR Capability with a Long-lived Stale Time (RFC 9494), that the session carried. Empty when the
// helper is off, the peer did not advertise the capability, or keeps_routes() says no.
std::vector<Family> retained_families(bool helper, const Capabilities& ours,
                                      const session::Negotiated& n, const SessionEnd& end);

// RFC 8538 §5: whether a NOTIFICATION we are about to send goes out as a Hard Reset. Only with
// the N bit negotiated (§3.1: not to a peer that did not send it), only for Cease: Maximum
// Number of Prefixes Reached, Administrative Shutdown and Peer De-configured always;
// Administrative Reset as the operator chose (`hard_admin_reset`, "provide user control"); the
// other subcodes (and every error code, Hold Timer Expired included, §4) are graceful.
bool sends_hard_reset(const Notification& n, bool notification_negotiated, bool hard_admin_reset);

// RFC 8538 §3.1: Cease/Hard Reset whose data is the original error code, subcode and data.
Notification hard_reset(const Notification& inner);
bool is_hard_reset(const Notification& n);
// The NOTIFICATION a Hard Reset carries; none when `n` is not one or its data is too short.
std::optional<Notification> hard_reset_inner(const Notification& n);
// Notification::describe(), with a Hard Reset's inner NOTIFICATION spelled out:
// "Cease/Hard Reset (Cease/Administrative Reset ("maintenance"))".
std::string describe(const Notification& n);

}  // namespace isthmus::bgp::gr
