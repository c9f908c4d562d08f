// Fuzzes the reader of the agent's state file (endpoints.json, which the agent does not trust):
// any bytes give a state or an error, never a crash; a state read re-encodes and reads back equal.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agent/ipam.h"

using namespace isthmus::agent::ipam;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto state = decode_state(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!state) return 0;
  auto again = decode_state(encode_state(*state));
  if (!again || again->records != state->records || again->cursors != state->cursors) std::abort();
  return 0;
}
