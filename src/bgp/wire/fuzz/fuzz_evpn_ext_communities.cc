// Fuzzes the typed EVPN extended communities (ext_community.h) and route target text: the first
// seven octets are an ASN and a VNI for the auto-derived route targets, the rest up to four 8-octet
// communities (more would only repeat the same paths). Each community a typed reader accepts must
// encode to one that reads back the same; route targets must print and parse back.
#include "bgp/wire/ext_community.h"
#include "bgp/wire/fuzz/roundtrip.h"

using namespace isthmus;
using namespace isthmus::bgp;

namespace {

template <class T>
void round_trip(const ExtCommunity& c, const char* what) {
  auto v = T::decode(c);
  if (!v) return;
  auto again = T::decode(v->encode());
  if (!again || !(*again == *v)) fuzz::mismatch(what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 7) return 0;
  uint32_t asn =
      uint32_t{data[0]} << 24 | uint32_t{data[1]} << 16 | uint32_t{data[2]} << 8 | data[3];
  uint32_t vni = uint32_t{data[4]} << 16 | uint32_t{data[5]} << 8 | data[6];
  for (auto style : {AutoRtStyle::Frr, AutoRtStyle::Rfc8365}) {
    ExtCommunity rt = auto_route_target(asn, vni, style);
    if (!is_route_target(rt)) fuzz::mismatch("auto route target type");
    if ((uint32_t{rt.bytes[5]} << 16 | uint32_t{rt.bytes[6]} << 8 | rt.bytes[7]) != vni)
      fuzz::mismatch("auto route target VNI");
  }
  for (size_t i = 7; i + 8 <= size && i < 7 + 4 * 8; i += 8) {
    ExtCommunity c;
    std::copy(data + i, data + i + 8, c.bytes.begin());
    std::string text = c.to_string();
    if (text.empty()) fuzz::mismatch("empty text");
    round_trip<Encapsulation>(c, "Encapsulation");
    round_trip<MacMobility>(c, "MacMobility");
    round_trip<EsiLabel>(c, "EsiLabel");
    round_trip<EsImportRouteTarget>(c, "EsImportRouteTarget");
    round_trip<RouterMac>(c, "RouterMac");
    if (is_default_gateway(c) && !is_default_gateway(default_gateway()))
      fuzz::mismatch("default gateway");
    if (is_route_target(c)) {
      // "rt:65000:100" parses back; a 4-octet ASN that fits two octets prints without the "L"
      // that would keep its type, so compare values for that one.
      auto back = parse_route_target(text);
      if (!back) fuzz::mismatch(("route target text: " + text).c_str());
      bool small_as4 = c.type() == ext_type::kFourOctetAs && c.bytes[2] == 0 && c.bytes[3] == 0;
      if (!small_as4 && !(back->bytes == c.bytes)) fuzz::mismatch("route target round trip");
    }
  }
  return 0;
}
