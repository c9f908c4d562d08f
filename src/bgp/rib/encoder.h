// How the Adj-RIB-Out becomes bytes. The RIB calls these functions and nothing else of the
// codec, so a test can swap in its own encoder and the RIB can be built before the codec links.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "bgp/wire/codec.h"
#include "bgp/wire/types.h"

namespace isthmus::bgp {

class UpdateEncoder {
 public:
  virtual ~UpdateEncoder() = default;
  // Whole UPDATE messages (header included) appended to `out`, each at most
  // opts.max_message_size() bytes; returns the number of messages.
  virtual size_t reach(const PathAttributes& attrs, Family family, std::span<const Prefix> nlri,
                       const CodecOptions& opts, std::vector<uint8_t>& out) = 0;
  virtual size_t withdraw(Family family, std::span<const Prefix> withdrawn,
                          const CodecOptions& opts, std::vector<uint8_t>& out) = 0;
  virtual void end_of_rib(Family family, std::vector<uint8_t>& out) = 0;
  // L2VPN EVPN (RFC 7432).
  virtual size_t reach_evpn(const PathAttributes& attrs, std::span<const EvpnRoute> routes,
                            const CodecOptions& opts, std::vector<uint8_t>& out) = 0;
  virtual size_t withdraw_evpn(std::span<const EvpnRoute> routes, const CodecOptions& opts,
                               std::vector<uint8_t>& out) = 0;
  // IPv4 RT-constraint (RFC 4684).
  virtual size_t reach_rtc(const PathAttributes& attrs, std::span<const RtMembership> routes,
                           const CodecOptions& opts, std::vector<uint8_t>& out) = 0;
  virtual size_t withdraw_rtc(std::span<const RtMembership> routes, const CodecOptions& opts,
                              std::vector<uint8_t>& out) = 0;
};

// The bgp/wire codec (encode_reach, encode_withdraw, encode_end_of_rib): the default encoder.
UpdateEncoder& wire_encoder();

}  // namespace isthmus::bgp
