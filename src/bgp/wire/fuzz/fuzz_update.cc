// Fuzzes decode_update (first octet: session options, e.g. a 2-octet AS peer; then the body),
// with an encode/decode round trip.
#include "bgp/wire/fuzz/roundtrip.h"

using namespace isthmus::bgp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  auto opts = fuzz::options_from(data[0]);
  auto d = decode_update(std::span<const uint8_t>(data + 1, size - 1), opts);
  if (d) fuzz::check_update(*d, opts);
  return 0;
}
