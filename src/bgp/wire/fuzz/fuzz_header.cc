// Fuzzes decode_header and decode_message (first octet: session options), with round trips.
#include "bgp/wire/fuzz/roundtrip.h"

using namespace isthmus::bgp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  auto opts = fuzz::options_from(data[0]);
  std::span<const uint8_t> bytes(data + 1, size - 1);
  if (bytes.size() >= kHeaderSize) (void)decode_header(bytes, opts);
  auto m = decode_message(bytes, opts);
  if (m) fuzz::check_message(*m, opts);
  return 0;
}
