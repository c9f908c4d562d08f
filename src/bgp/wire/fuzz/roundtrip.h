// Round-trip invariants shared by the fuzz targets: whatever decodes must encode and decode back
// to the same value. A mismatch aborts, so that fuzzing finds encoder bugs too.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <variant>

#include "bgp/wire/codec.h"

namespace isthmus::bgp::fuzz {

[[noreturn]] inline void mismatch(const char* what) {
  std::fprintf(stderr, "round-trip mismatch: %s\n", what);
  std::abort();
}

inline const DecodedMessage& decode_or_die(const std::vector<uint8_t>& bytes,
                                           const CodecOptions& opts, DecodedMessage& keep) {
  auto m = decode_message(bytes, opts);
  if (!m) mismatch(("re-decode failed: " + m.error().describe()).c_str());
  keep = std::move(*m);
  return keep;
}

inline void check_open(const Open& m) {
  std::vector<uint8_t> out;
  encode_open(m, out);
  DecodedMessage keep;
  const auto& d = decode_or_die(out, CodecOptions{}, keep);
  if (!(std::get<Open>(d) == m)) mismatch("OPEN");
}

inline void check_notification(const Notification& m) {
  if (m.data.size() > kMaxMessageSize - kHeaderSize - 2) return;  // the encoder cuts it
  std::vector<uint8_t> out;
  encode_notification(m, out);
  DecodedMessage keep;
  const auto& d = decode_or_die(out, CodecOptions{}, keep);
  if (!(std::get<Notification>(d) == m)) mismatch("NOTIFICATION");
}

inline void check_route_refresh(const RouteRefresh& m) {
  std::vector<uint8_t> out;
  encode_route_refresh(m, out);
  DecodedMessage keep;
  const auto& d = decode_or_die(out, CodecOptions{}, keep);
  if (!(std::get<RouteRefresh>(d) == m)) mismatch("ROUTE-REFRESH");
}

inline void check_update(const DecodedUpdate& d, const CodecOptions& opts) {
  std::vector<uint8_t> out;
  if (!encode_update(d.update, opts, out)) return;  // may not fit once re-encoded
  DecodedMessage keep;
  const auto& again = std::get<DecodedUpdate>(decode_or_die(out, opts, keep));
  Update want = d.update;
  if (want.attrs)  // RFC 4271 §5: passed-on optional transitive attributes get the Partial bit
    for (auto& u : want.attrs->unknown)
      if ((u.flags & 0xc0) == 0xc0) u.flags |= attr_flag::kPartial;
  if (!(again.update == want)) mismatch("UPDATE");
  if (!again.errors.empty())
    mismatch(("UPDATE re-decode error: " + again.errors[0].reason).c_str());
}

inline void check_message(const DecodedMessage& m, const CodecOptions& opts) {
  if (auto* o = std::get_if<Open>(&m)) check_open(*o);
  if (auto* u = std::get_if<DecodedUpdate>(&m)) check_update(*u, opts);
  if (auto* n = std::get_if<Notification>(&m)) check_notification(*n);
  if (auto* r = std::get_if<RouteRefresh>(&m)) check_route_refresh(*r);
}

// The first input octet picks the session options.
inline CodecOptions options_from(uint8_t b) {
  CodecOptions o;
  o.four_octet_as = !(b & 1);
  o.extended_message = b & 2;
  return o;
}

}  // namespace isthmus::bgp::fuzz
