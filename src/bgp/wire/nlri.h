// Prefix encoding shared by the NLRI and Withdrawn Routes fields (RFC 4271 §4.3) and by
// MP_REACH_NLRI / MP_UNREACH_NLRI for the unicast families (RFC 4760 §5). No ADD-PATH (RFC 7911)
// and no labelled or VPN prefixes yet.
#pragma once

#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/expected.h"
#include "core/ip.h"

namespace isthmus::bgp {

// Appends every prefix of `r` to `out`. RFC 4271 §4.3: "Length: ... the length in bits of the IP
// address prefix"; "Prefix: ... followed by enough trailing bits to make the end of the field fall
// on an octet boundary" (the trailing bits are ignored). A length above 32/128 or a prefix running
// past the field is a syntax error (RFC 7606 §5.3), reported with a reason.
Expected<void, std::string> decode_prefixes(ByteReader r, IpFamily family,
                                            std::vector<Prefix>& out);

// Octets the prefix takes on the wire: the length octet plus ceil(length / 8).
inline size_t prefix_wire_size(const Prefix& p) { return 1 + (p.length() + 7u) / 8; }
void encode_prefix(const Prefix& p, ByteWriter& w);

}  // namespace isthmus::bgp
