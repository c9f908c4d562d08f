// Fuzzes the configuration parser: any YAML text gives a configuration or an error that says
// where and what (every line of it prefixed with the source name), never a crash or an
// exception.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/config.h"

using namespace isthmus;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  auto cfg = config::parse_config(yaml, "fuzz.yaml");
  if (!cfg) {
    if (!cfg.error().message.starts_with("fuzz.yaml")) std::abort();
    return 0;
  }
  // A configuration that parsed is checked: its policies compile (config.h).
  if (!bgp::policy::compile(cfg->policy, cfg->bgp.asn)) std::abort();
  return 0;
}
