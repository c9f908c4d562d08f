// Fuzzes what a runtime hands isthmus-cni on stdin (the network configuration with its prevResult,
// runtimeConfig and args) and what the agent answers, with a round trip of every parsed result
// through the 1.1.0 format and a rendering in every supported version.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cni/agent_client.h"
#include "cni/config.h"
#include "cni/types.h"

using namespace isthmus::cni;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)error_version_of(text);
  (void)parse_cni_args(text);
  (void)parse_agent_response(text);
  auto conf = parse_netconf(text);
  if (!conf || !conf->prev_result) return 0;
  auto r = parse_result(*conf->prev_result, conf->cni_version, "prevResult");
  if (!r) return 0;
  for (auto v : supported_versions()) (void)render_result(*r, v);
  auto rendered = render_result(*r, "1.1.0");
  if (!rendered) std::abort();
  auto again = parse_result(*rendered, "1.1.0", "rendered");
  if (!again || !(*again == *r)) std::abort();
  (void)merge_results(*r, *again);
  return 0;
}
