// Fuzzes decode_evpn_nlri for one route type, chosen at build time by ISTHMUS_EVPN_ROUTE_TYPE: the
// first input octet is the NLRI Length octet (so lengths that do not fit the type are tried), the
// rest the route-type-specific value. Whatever decodes must encode to bytes that decode to the
// same route with the same key; the text forms of its RD and ESI must parse back.
#include "bgp/wire/evpn.h"
#include "bgp/wire/fuzz/roundtrip.h"

using namespace isthmus;
using namespace isthmus::bgp;

namespace {

void check_rd_esi(const EvpnRoute& route) {
  if (const RouteDistinguisher* rd = route.rd(); rd && rd->type() <= 2) {
    auto again = RouteDistinguisher::parse(rd->to_string());
    if (!again || !(*again == *rd)) fuzz::mismatch("RouteDistinguisher text");
  }
  std::visit(
      [](const auto& r) {
        if constexpr (requires { r.esi; }) {
          auto again = Esi::parse(r.esi.to_string());
          if (!again || !(*again == r.esi)) fuzz::mismatch("Esi text");
          (void)r.esi.describe();
        }
      },
      route.route);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::vector<uint8_t> nlri;
  nlri.reserve(size + 1);
  nlri.push_back(ISTHMUS_EVPN_ROUTE_TYPE);
  nlri.insert(nlri.end(), data, data + size);
  ByteReader r(nlri);
  auto route = decode_evpn_nlri(r);
  if (!route) {
    if (route.error().empty()) fuzz::mismatch("error without a reason");
    return 0;
  }
  if (route->type() != ISTHMUS_EVPN_ROUTE_TYPE) fuzz::mismatch("route type");
  std::vector<uint8_t> out;
  ByteWriter w(out);
  encode_evpn_nlri(*route, w);
  if (out.size() != evpn_nlri_wire_size(*route)) fuzz::mismatch("evpn_nlri_wire_size");
  ByteReader again_reader(out);
  auto again = decode_evpn_nlri(again_reader);
  if (!again) fuzz::mismatch(("re-decode failed: " + again.error()).c_str());
  if (!again_reader.empty()) fuzz::mismatch("re-decode left octets");
  if (!(*again == *route)) fuzz::mismatch("EVPN route");
  auto key = evpn_key(*route);
  if (key.has_value() != route->known()) fuzz::mismatch("key of a known type");
  if (key && !(*key == *evpn_key(*again))) fuzz::mismatch("EVPN key");
  if (key && key->bytes().size() > EvpnKey::kCapacity) fuzz::mismatch("key size");
  (void)route->describe();
  check_rd_esi(*route);
  return 0;
}
