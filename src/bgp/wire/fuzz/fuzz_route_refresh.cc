// Fuzzes decode_route_refresh (message body) with a round trip.
#include "bgp/wire/fuzz/roundtrip.h"

using namespace isthmus::bgp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto m = decode_route_refresh(std::span<const uint8_t>(data, size));
  if (!m) return 0;
  if (size == 4) fuzz::check_route_refresh(*m);  // ORF octets after the fixed part are ignored
  return 0;
}
