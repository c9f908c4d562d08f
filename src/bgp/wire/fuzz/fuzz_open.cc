// Fuzzes decode_open (message body) with an encode/decode round trip.
#include "bgp/wire/fuzz/roundtrip.h"

using namespace isthmus::bgp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto m = decode_open(std::span<const uint8_t>(data, size));
  if (m) fuzz::check_open(*m);
  return 0;
}
