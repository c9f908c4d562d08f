// A stand-in UpdateEncoder for tests and the benchmark: real BGP framing (marker, length, type
// UPDATE) around a simple body that FakeEncoder::decode reads back, attributes by reference to
// what was encoded. Lets the RIB be tested before and independently of bgp/wire.
#pragma once

#include <span>
#include <vector>

#include "bgp/rib/encoder.h"

namespace isthmus::bgp::testing {

struct FakeMessage {
  enum class Kind : uint8_t { Reach = 1, Withdraw = 2, EndOfRib = 3 };
  Kind kind = Kind::Reach;
  Family family;
  PathAttributes attrs;  // Reach only
  std::vector<Prefix> prefixes;
  std::vector<EvpnRoute> evpn;    // L2VPN EVPN
  std::vector<RtMembership> rtc;  // RT-constraint
};

class FakeEncoder final : public UpdateEncoder {
 public:
  size_t reach(const PathAttributes& attrs, Family family, std::span<const Prefix> nlri,
               const CodecOptions& opts, std::vector<uint8_t>& out) override;
  size_t withdraw(Family family, std::span<const Prefix> withdrawn, const CodecOptions& opts,
                  std::vector<uint8_t>& out) override;
  void end_of_rib(Family family, std::vector<uint8_t>& out) override;
  size_t reach_evpn(const PathAttributes& attrs, std::span<const EvpnRoute> routes,
                    const CodecOptions& opts, std::vector<uint8_t>& out) override;
  size_t withdraw_evpn(std::span<const EvpnRoute> routes, const CodecOptions& opts,
                       std::vector<uint8_t>& out) override;
  size_t reach_rtc(const PathAttributes& attrs, std::span<const RtMembership> routes,
                   const CodecOptions& opts, std::vector<uint8_t>& out) override;
  size_t withdraw_rtc(std::span<const RtMembership> routes, const CodecOptions& opts,
                      std::vector<uint8_t>& out) override;

  // Every message in `bytes` (which must hold whole messages).
  std::vector<FakeMessage> decode(std::span<const uint8_t> bytes) const;

  size_t reach_calls = 0;
  size_t withdraw_calls = 0;
  size_t messages = 0;

 private:
  size_t pack(FakeMessage::Kind kind, uint32_t attrs_index, Family family,
              std::span<const Prefix> nlri, const CodecOptions& opts, std::vector<uint8_t>& out);
  // EVPN and RT-constraint messages carry an index into routes_.
  size_t pack_routes(FakeMessage::Kind kind, Family family, uint32_t attrs_index,
                     FakeMessage routes, std::vector<uint8_t>& out);
  std::vector<PathAttributes> attrs_;
  std::vector<FakeMessage> routes_;
};

}  // namespace isthmus::bgp::testing
