// AS_PATH helpers the RIB needs (RFC 4271 §5.1.2, §9.1.2.2; RFC 5065 §5.3). Kept here so that the
// RIB does not depend on codec internals; they match the AsPath members declared in wire/types.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "bgp/wire/types.h"

namespace isthmus::bgp {

// RFC 4271 §9.1.2.2 a): an AS_SET counts 1; confederation segments count 0 (RFC 5065 §5.3).
size_t as_path_length(const AsPath& p);
bool as_path_contains(const AsPath& p, uint32_t asn);
// RFC 4271 §9.1.2.2 c): the neighbouring AS is the first AS of the path (leading confederation
// segments skipped). None for an empty path or one that starts with an AS_SET.
std::optional<uint32_t> as_path_neighbor(const AsPath& p);
// RFC 4271 §5.1.2: prepend to the leading AS_SEQUENCE, opening a new one when it is full (255).
void as_path_prepend(AsPath& p, uint32_t asn);

}  // namespace isthmus::bgp
