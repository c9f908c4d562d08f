// Fuzzes one attribute table row, chosen at build time by ISTHMUS_ATTR_TYPE: the first input
// octet picks the session options, the rest is the attribute value. Whatever decodes must encode
// and decode back to the same value.
#include "bgp/wire/attributes.h"
#include "bgp/wire/fuzz/roundtrip.h"

using namespace isthmus;
using namespace isthmus::bgp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const AttrRow* row = find_attr(ISTHMUS_ATTR_TYPE);
  if (!row) fuzz::mismatch("no table row for ISTHMUS_ATTR_TYPE");
  auto opts = fuzz::options_from(data[0]);
  ParsedAttributes p;
  if (!row->decode(ByteReader({data + 1, size - 1}), opts, p)) return 0;
  AttrSource src;
  src.attrs = &p.attrs;
  src.mp_reach = p.mp_reach ? &*p.mp_reach : nullptr;
  src.mp_unreach = p.mp_unreach ? &*p.mp_unreach : nullptr;
  src.as4_path = p.as4_path ? &*p.as4_path : nullptr;
  src.as4_aggregator = p.as4_aggregator ? &*p.as4_aggregator : nullptr;
  src.four_octet_as = opts.four_octet_as;
  src.next_hop = true;
  std::vector<uint8_t> value;
  ByteWriter w(value);
  if (!row->encode(src, w)) fuzz::mismatch("decoded attribute does not encode");
  ParsedAttributes again;
  if (!row->decode(ByteReader(value), opts, again)) fuzz::mismatch("re-decode failed");
  if (!(again == p)) fuzz::mismatch(row->name);
  return 0;
}
