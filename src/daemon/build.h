// Turns the checked configuration into what the speaker runs with: compiled policies bound to
// sessions, the listen endpoint, originated routes.
#pragma once

#include "bgp/policy/policy.h"
#include "bgp/speaker/config.h"
#include "config/config.h"
#include "core/expected.h"
#include "evpn/mac_vrf.h"

namespace isthmus::daemon {

Expected<bgp::SpeakerConfig> build_speaker_config(const config::Config& cfg,
                                                  const bgp::policy::PolicySet& policies);

// The MAC-VRFs of `evpn.vnis`, with RDs and route targets derived where the config leaves them.
std::vector<evpn::MacVrf> build_mac_vrfs(const config::Config& cfg);

}  // namespace isthmus::daemon
