// Helpers shared by the message encoders: the 19-octet header (RFC 4271 §4.1).
#pragma once

#include "bgp/wire/types.h"
#include "core/bytes.h"

namespace isthmus::bgp {

// Writes the marker, a length placeholder and the type; returns the header's offset.
size_t begin_message(MessageType type, ByteWriter& w);
// Sets the length field from everything written since begin_message().
void finish_message(size_t mark, ByteWriter& w);

}  // namespace isthmus::bgp
