// Fuzzes decode_prefixes (first octet: IPv4 or IPv6) with an encode/decode round trip.
#include "bgp/wire/fuzz/roundtrip.h"
#include "bgp/wire/nlri.h"

using namespace isthmus;
using namespace isthmus::bgp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  IpFamily family = data[0] & 1 ? IpFamily::V6 : IpFamily::V4;
  std::vector<Prefix> prefixes;
  if (!decode_prefixes(ByteReader({data + 1, size - 1}), family, prefixes)) return 0;
  std::vector<uint8_t> out;
  ByteWriter w(out);
  for (const auto& p : prefixes) encode_prefix(p, w);
  std::vector<Prefix> again;
  if (!decode_prefixes(ByteReader(out), family, again) || again != prefixes) fuzz::mismatch("NLRI");
  return 0;
}
