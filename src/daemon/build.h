// Turns the checked configuration into what the speaker runs with: compiled policies bound to
// sessions, the listen endpoint, originated routes.
#pragma once

#include "bgp/policy/policy.h"
#include "bgp/speaker/config.h"
#include "config/config.h"
#include "core/expected.h"

namespace isthmus::daemon {

Expected<bgp::SpeakerConfig> build_speaker_config(const config::Config& cfg,
                                                  const bgp::policy::PolicySet& policies);

}  // namespace isthmus::daemon
