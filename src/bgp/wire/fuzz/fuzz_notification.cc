// Fuzzes decode_notification (message body) with a round trip and describe().
#include "bgp/wire/fuzz/roundtrip.h"

using namespace isthmus::bgp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto m = decode_notification(std::span<const uint8_t>(data, size));
  if (!m) return 0;
  (void)m->describe();
  fuzz::check_notification(*m);
  return 0;
}
