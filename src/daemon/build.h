// Turns the checked configuration into what the speaker runs with: compiled policies bound to
// sessions, the listen endpoint, originated routes.
#pragma once

#include "bgp/policy/policy.h"
#include "bgp/speaker/config.h"
#include "bgp/speaker/speaker.h"
#include "config/config.h"
#include "core/expected.h"
#include "evpn/instance.h"

namespace isthmus::daemon {

Expected<bgp::SpeakerConfig> build_speaker_config(const config::Config& cfg,
                                                  const bgp::policy::PolicySet& policies);

// The MAC-VRFs of `evpn.vnis`, with RDs and route targets derived where the config leaves them.
// A route reflector without a node agent (a neighbor or range is a route-reflector client)
// programs no forwarding state, so a restart of it loses none: it restarts gracefully (RFC 4724
// §4.1) for every family it carries, with the F bit, and its End-of-RIBs wait until it has
// relearned its clients' routes. Sets `speaker.forwarding` and returns true when that applies.
bool reflector_forwarding(bgp::SpeakerConfig& speaker);

std::vector<evpn::MacVrf> build_mac_vrfs(const config::Config& cfg);

// The EVPN service's configuration: MAC-VRFs, VTEP, duplicate MAC detection.
evpn::InstanceConfig build_evpn_config(const config::Config& cfg);

// Feeds `evpn` from the speaker's Loc-RIB (best_evpn_changed) and lets it run its deferred work
// on the speaker's event loop and ask for RIB flushes. Call before the speaker starts; the
// Instance must outlive the speaker's RIB callbacks (destroy the speaker first).
void attach_evpn(bgp::Speaker& speaker, evpn::Instance& evpn);
// The Hooks that attach_evpn() expects the Instance to be built with: `wake` posts run_pending()
// to the loop (once per batch), `rib_changed` requests a speaker flush. `instance` is filled in
// by the caller once the Instance exists.
evpn::Hooks evpn_hooks(bgp::Speaker& speaker, evpn::Instance*& instance);

}  // namespace isthmus::daemon
