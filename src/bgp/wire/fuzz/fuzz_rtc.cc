// Fuzzes decode_rtc_nlris (RFC 4684 §4 route target membership NLRI) with an encode/decode round
// trip, and the RIB key of each membership.
#include "bgp/wire/fuzz/roundtrip.h"
#include "bgp/wire/rtc.h"

using namespace isthmus;
using namespace isthmus::bgp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<RtMembership> routes;
  if (!decode_rtc_nlris(ByteReader({data, size}), routes)) return 0;
  std::vector<uint8_t> out;
  ByteWriter w(out);
  for (const auto& m : routes) {
    encode_rtc_nlri(m, w);
    auto back = rtc_from_key(rtc_key(m));
    if (!back || *back != m) fuzz::mismatch("route target membership key");
    (void)m.to_string();
  }
  std::vector<RtMembership> again;
  if (!decode_rtc_nlris(ByteReader(out), again) || again != routes)
    fuzz::mismatch("route target membership NLRI");
  return 0;
}
