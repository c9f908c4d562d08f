// Community values as users write them: RFC 1997 standard communities ("65000:100" and the
// well-known names), RFC 8092 large communities ("65000:1:2") and RFC 4360 / RFC 5668 extended
// route-target and route-origin communities ("rt:65000:100", "soo:198.18.0.1:5").
// Gaps: other extended community types (encapsulation, MAC mobility, ...) have no text form here.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "bgp/wire/types.h"
#include "core/expected.h"

namespace isthmus::bgp::policy {

using CommunityValue = std::variant<Community, LargeCommunity, ExtCommunity>;

// Parses one community. Errors read "\"65536:1\" is not a community (...)" so that a caller can
// prefix the field path.
Expected<CommunityValue> parse_community(std::string_view text);

// "65000:100", "no-export", "65000:1:2", "rt:65000:100"; extended communities of other types as
// "ext:0x0102030405060708".
std::string to_string(const CommunityValue& c);

}  // namespace isthmus::bgp::policy
