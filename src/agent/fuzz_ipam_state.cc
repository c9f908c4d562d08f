// Fuzzes the readers of the agent's state files (endpoints.json and its journal, which the agent
// does not trust): any bytes give a state or an error, never a crash; a state read re-encodes and
// reads back equal; the same bytes as a journal, replayed, give a state or an error.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "agent/ipam.h"

using namespace isthmus::agent::ipam;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  State replayed;
  std::string torn;
  if (auto n = replay_journal(replayed, text, torn); n && *n > size) std::abort();
  auto state = decode_state(text);
  if (!state) return 0;
  auto again = decode_state(encode_state(*state));
  if (!again || again->records != state->records || again->cursors != state->cursors) std::abort();
  return 0;
}
