// Fuzzes what the RIB does with a decoded UPDATE: decode (first octet: the sending sessions'
// options, as fuzz_update), the routes into a Rib as from an iBGP route-reflector client and
// from an eBGP peer (as the speaker hands them over, the negotiated families only), then out
// again to peers of every kind (route-reflector clients and a non-client, eBGP with and without
// 4-octet AS, with and without extended messages, one RT-constrained), encoded by the real codec;
// then both sources go down. Whatever was decoded is reflected without a BUG (core/bug.h) or a
// sanitizer error, and every message each peer is sent decodes, with its session's options, as an
// UPDATE without errors. No add-path: the RIB does not support it (rib.h).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "bgp/rib/rib.h"
#include "bgp/wire/codec.h"
#include "bgp/wire/fuzz/roundtrip.h"
#include "core/bug.h"
#include "core/log.h"

using namespace isthmus;
using namespace isthmus::bgp;

namespace {

constexpr uint32_t kLocalAs = 65000;
const std::vector<Family> kAll = {kIpv4Unicast, kIpv6Unicast, kL2vpnEvpn, kIpv4RouteTarget};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "fuzz_update_rib: %s\n", what.c_str());
  std::abort();
}

IpAddress address(const char* s) {
  auto a = IpAddress::parse(s);
  if (!a) die("bad address");
  return *a;
}

PeerInfo make_peer(PeerId id, uint32_t as, bool four_octet_as, bool extended_message,
                   std::vector<Family> families, bool rr_client = false) {
  PeerInfo p;
  p.id = id;
  p.address = address(("198.18.0." + std::to_string(id)).c_str());
  p.remote_as = as;
  p.router_id = 0xc6120000 + id;
  p.ibgp = as == kLocalAs;
  p.rr_client = p.ibgp && rr_client;
  p.local_address = address("198.18.0.254");
  p.local_address_v6 = address("fd00::fe");
  p.four_octet_as = four_octet_as;
  p.extended_message = extended_message;
  p.families = std::move(families);
  if (!p.ibgp) {  // RFC 8212: nothing in or out of an eBGP session without a policy
    p.import_policy = [](const PolicyRoute&, PathAttributes&) { return true; };
    p.export_policy = [](const PolicyRoute&, PathAttributes&) { return true; };
    p.import_policy_per_prefix = p.export_policy_per_prefix = false;
    p.export_policy_id = "accept";
  }
  return p;
}

// As Peer::on_update hands a decoded UPDATE to the RIB.
void apply(Rib& rib, PeerId id, const Update& u) {
  auto negotiated = [](Family f) { return std::find(kAll.begin(), kAll.end(), f) != kAll.end(); };
  if (!u.withdrawn.empty()) rib.withdraw(id, kIpv4Unicast, u.withdrawn);
  if (u.mp_unreach && negotiated(u.mp_unreach->family)) {
    if (!u.mp_unreach->withdrawn.empty())
      rib.withdraw(id, u.mp_unreach->family, u.mp_unreach->withdrawn);
    if (!u.mp_unreach->evpn.empty()) rib.withdraw_evpn(id, u.mp_unreach->evpn);
    if (!u.mp_unreach->rtc.empty()) rib.withdraw_rtc(id, u.mp_unreach->rtc);
  }
  if (!u.attrs) return;
  if (!u.nlri.empty()) rib.update(id, kIpv4Unicast, u.nlri, *u.attrs);
  if (!u.mp_reach || !negotiated(u.mp_reach->family)) return;
  if (u.mp_reach->family == kL2vpnEvpn)
    rib.update_evpn(id, u.mp_reach->evpn, *u.attrs);
  else if (u.mp_reach->family == kIpv4RouteTarget)
    rib.update_rtc(id, u.mp_reach->rtc, *u.attrs);
  else if (!u.mp_reach->nlri.empty())
    rib.update(id, u.mp_reach->family, u.mp_reach->nlri, *u.attrs);
}

// Everything queued for the peer, each message decoded as the peer decodes it.
void drain(Rib& rib, const PeerInfo& p) {
  const CodecOptions opts{.four_octet_as = p.four_octet_as, .extended_message = p.extended_message};
  std::vector<uint8_t> out;
  while (rib.has_output(p.id) && rib.take_output(p.id, out, 1 << 16) > 0) {
  }
  size_t at = 0;
  while (at < out.size()) {
    if (out.size() - at < kHeaderSize) die("a message cut short");
    const size_t len = size_t{out[at + 16]} << 8 | out[at + 17];
    if (len < kHeaderSize || len > out.size() - at) die("a bad message length");
    if (len > opts.max_message_size()) die("a message over the session's size");
    auto m = decode_message(std::span(out).subspan(at, len), opts);
    if (!m) die("peer " + std::to_string(p.id) + " resets: " + m.error().describe());
    auto* u = std::get_if<DecodedUpdate>(&*m);
    if (!u) die("not an UPDATE");
    if (u->action != AttrAction::None)
      die("peer " + std::to_string(p.id) +
          " finds an error: " + (u->errors.empty() ? std::string("?") : u->errors.front().reason));
    at += len;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The warnings of the inputs that are meant to be refused would only slow the fuzzer down.
  static const bool quiet = (log::set_level(log::Level::Error), true);
  (void)quiet;
  if (size < 1) return 0;
  const CodecOptions in = fuzz::options_from(data[0]);
  auto d = decode_update(std::span<const uint8_t>(data + 1, size - 1), in);
  if (!d) return 0;

  const uint64_t bugs = bug_count();
  RibConfig config;
  config.local_as = kLocalAs;
  config.router_id = 0xc61200fe;
  config.max_member_lag = 1;  // peer 9 lags behind peer 3: split out and back
  Rib rib(config);
  const std::vector<PeerInfo> peers = {
      // The sources, with the options the UPDATE was decoded with.
      make_peer(1, kLocalAs, in.four_octet_as, in.extended_message, kAll, true),
      make_peer(2, 64512, in.four_octet_as, in.extended_message, kAll),
      // Route-reflector clients without and with extended messages, a non-client.
      make_peer(3, kLocalAs, true, false, {kIpv4Unicast, kIpv6Unicast, kL2vpnEvpn}, true),
      make_peer(4, kLocalAs, true, true, {kIpv4Unicast, kIpv6Unicast, kL2vpnEvpn}, true),
      make_peer(5, kLocalAs, true, false, {kIpv4Unicast, kIpv6Unicast, kL2vpnEvpn}),
      // eBGP: a 2-octet AS session (AS4_PATH), 4-octet with extended messages, RT-constrained.
      make_peer(6, 64513, false, false, {kIpv4Unicast, kIpv6Unicast, kL2vpnEvpn}),
      make_peer(7, 4200000000, true, true, {kIpv4Unicast, kIpv6Unicast, kL2vpnEvpn}),
      make_peer(8, 64514, true, false, kAll),
      // Peer 3's kind, reading one message per round: a lagging member of its group.
      make_peer(9, kLocalAs, true, false, {kIpv4Unicast, kIpv6Unicast, kL2vpnEvpn}, true),
  };
  for (const auto& p : peers) rib.peer_up(p);
  std::vector<uint8_t> lagging;
  auto drain_all = [&] {
    rib.flush();
    for (const auto& p : peers) {
      if (p.id != 9) drain(rib, p);
      if (p.id == 9 && rib.has_output(9)) rib.take_output(9, lagging, 1);
    }
  };
  drain_all();
  apply(rib, 1, d->update);
  drain_all();
  apply(rib, 2, d->update);
  drain_all();
  rib.peer_down(1);
  drain_all();
  rib.peer_down(2);
  drain_all();
  drain(rib, peers.back());
  if (bug_count() != bugs) die("BUG");
  return 0;
}
