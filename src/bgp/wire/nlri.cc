// Prefix encoding (RFC 4271 §4.3, RFC 4760 §5): one length octet, then the significant octets.
#include "bgp/wire/nlri.h"

#include <fmt/format.h>

#include <array>

namespace isthmus::bgp {

Expected<void, std::string> decode_prefixes(ByteReader r, IpFamily family,
                                            std::vector<Prefix>& out) {
  const unsigned max = family == IpFamily::V4 ? 32 : 128;
  while (!r.empty()) {
    size_t at = r.position();
    uint8_t len = *r.u8();
    if (len > max)
      return unexpected(fmt::format("prefix length {} at offset {} (must be 0..{})", len, at, max));
    auto bytes = r.bytes((len + 7u) / 8);
    if (!bytes)
      return unexpected(
          fmt::format("prefix /{} at offset {} runs past the end of the field", len, at));
    std::array<uint8_t, 16> b{};
    std::copy(bytes->begin(), bytes->end(), b.begin());
    IpAddress a =
        family == IpFamily::V4 ? IpAddress::v4({b[0], b[1], b[2], b[3]}) : IpAddress::v6(b);
    out.emplace_back(a, len);  // the constructor clears the trailing bits
  }
  return {};
}

void encode_prefix(const Prefix& p, ByteWriter& w) {
  w.u8(p.length());
  w.bytes(std::span<const uint8_t>(p.address().bytes().data(), (p.length() + 7u) / 8));
}

}  // namespace isthmus::bgp
