// UpdateEncoder over the bgp/wire codec.
#include "bgp/rib/encoder.h"

namespace isthmus::bgp {
namespace {

class WireEncoder final : public UpdateEncoder {
 public:
  size_t reach(const PathAttributes& attrs, Family family, std::span<const Prefix> nlri,
               const CodecOptions& opts, std::vector<uint8_t>& out) override {
    return encode_reach(attrs, family, nlri, opts, out);
  }
  size_t withdraw(Family family, std::span<const Prefix> withdrawn, const CodecOptions& opts,
                  std::vector<uint8_t>& out) override {
    return encode_withdraw(family, withdrawn, opts, out);
  }
  void end_of_rib(Family family, std::vector<uint8_t>& out) override {
    encode_end_of_rib(family, out);
  }
  size_t reach_evpn(const PathAttributes& attrs, std::span<const EvpnRoute> routes,
                    const CodecOptions& opts, std::vector<uint8_t>& out) override {
    return encode_evpn_reach(attrs, routes, opts, out);
  }
  size_t withdraw_evpn(std::span<const EvpnRoute> routes, const CodecOptions& opts,
                       std::vector<uint8_t>& out) override {
    return encode_evpn_withdraw(routes, opts, out);
  }
  size_t reach_rtc(const PathAttributes& attrs, std::span<const RtMembership> routes,
                   const CodecOptions& opts, std::vector<uint8_t>& out) override {
    return encode_rtc_reach(attrs, routes, opts, out);
  }
  size_t withdraw_rtc(std::span<const RtMembership> routes, const CodecOptions& opts,
                      std::vector<uint8_t>& out) override {
    return encode_rtc_withdraw(routes, opts, out);
  }
};

}  // namespace

UpdateEncoder& wire_encoder() {
  static WireEncoder encoder;  // stateless
  return encoder;
}

}  // namespace isthmus::bgp
