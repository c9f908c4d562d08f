// Writes small seed inputs for every wire fuzz target, built with the encoders, into
// <dir>/<target>/seed-N. Usage: bgp_wire_corpus_gen <repo>/tests/fuzz/corpus
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bgp/wire/attributes.h"
#include "bgp/wire/codec.h"
#include "bgp/wire/nlri.h"

using namespace isthmus;
using namespace isthmus::bgp;
using Bytes = std::vector<uint8_t>;
using Seg = AsPathSegment;

namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
Prefix pfx(const char* s) { return *Prefix::parse(s); }

Bytes with_options(uint8_t opts, const Bytes& b) {
  Bytes out{opts};
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// "40 01 01 00" -> bytes; spaces ignored.
Bytes hex(std::string_view h) {
  Bytes out;
  std::string digits;
  for (char c : h)
    if (std::isxdigit(static_cast<unsigned char>(c))) digits += c;
  for (size_t i = 0; i + 1 < digits.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  return out;
}

Bytes body(const Bytes& message) { return Bytes(message.begin() + kHeaderSize, message.end()); }

PathAttributes sample_attrs() {
  PathAttributes a;
  a.origin = Origin::Igp;
  a.as_path = AsPath{{Seg{Seg::Type::ConfedSequence, {64512}},
                      Seg{Seg::Type::Sequence, {65001, 70000}}, Seg{Seg::Type::Set, {1, 2}}}};
  a.next_hop = ip("198.18.0.1");
  a.med = 10;
  a.local_pref = 100;
  a.atomic_aggregate = true;
  a.aggregator = Aggregator{70001, ip("198.18.0.9")};
  a.communities = {0xfde90001, kNoExport};
  a.originator_id = 0xc6120001;
  a.cluster_list = {0xc61200fe};
  a.ext_communities = {ExtCommunity{{0x00, 0x02, 0xfd, 0xe8, 0, 0, 0, 100}},
                       ExtCommunity{{0x03, 0x0c, 0, 0, 0, 0, 0, 8}}};
  a.large_communities = {LargeCommunity{70000, 1, 2}};
  a.unknown = {UnknownAttribute{0xc0, 22, {0, 1, 2, 3, 4}}};
  return a;
}

std::map<std::string, std::vector<Bytes>> seeds() {
  std::map<std::string, std::vector<Bytes>> s;
  CodecOptions four;
  CodecOptions two;
  two.four_octet_as = false;

  // Whole messages for fuzz_header, bodies for the per-message targets.
  Bytes keepalive;
  encode_keepalive(keepalive);
  Open open;
  open.my_as = kAsTrans;
  open.hold_time = 90;
  open.bgp_id = 0xc6120001;
  open.caps.multiprotocol = {kIpv4Unicast, kIpv6Unicast, kL2vpnEvpn};
  open.caps.route_refresh = open.caps.enhanced_route_refresh = open.caps.extended_message = true;
  open.caps.four_octet_as = 70000;
  open.caps.graceful_restart = GracefulRestartCapability{true, true, 120, {{kIpv4Unicast, true}}};
  open.caps.unknown = {RawCapability{73, {4, 'h', 'o', 's', 't', 0}}};
  Bytes open_msg;
  encode_open(open, open_msg);
  Bytes notification;
  encode_notification(Notification::shutdown(cease::kAdministrativeShutdown, "maintenance"),
                      notification);
  Bytes rr;
  encode_route_refresh(RouteRefresh{kIpv6Unicast, 1}, rr);

  std::vector<Prefix> v4 = {pfx("100.64.0.0/10"), pfx("198.18.0.128/25"), pfx("0.0.0.0/0")};
  std::vector<Prefix> v6 = {pfx("fd00:db8::/32"), pfx("fd00:db8:1::/64"), pfx("::/0")};
  PathAttributes attrs = sample_attrs();
  Bytes up4, up6, up2, wd6, eor;
  encode_reach(attrs, kIpv4Unicast, v4, four, up4);
  PathAttributes attrs6 = attrs;
  attrs6.next_hop = ip("fd00:db8::1");
  attrs6.link_local_next_hop = ip("fe80::1");
  encode_reach(attrs6, kIpv6Unicast, v6, four, up6);
  encode_reach(attrs, kIpv4Unicast, v4, two, up2);
  encode_withdraw(kIpv6Unicast, v6, four, wd6);
  encode_end_of_rib(kL2vpnEvpn, eor);
  Update mixed;
  mixed.withdrawn = {pfx("198.19.0.0/24")};
  mixed.attrs = attrs;
  mixed.nlri = v4;
  mixed.mp_unreach = MpUnreach{kIpv6Unicast, v6};
  Bytes mixed_msg;
  (void)encode_update(mixed, four, mixed_msg);

  s["fuzz_header"] = {with_options(0, keepalive),    with_options(0, open_msg),
                      with_options(0, up4),          with_options(1, up2),
                      with_options(0, notification), with_options(0, rr),
                      with_options(2, up6)};
  s["fuzz_open"] = {body(open_msg), {4, 0xfd, 0xe9, 0, 0, 0, 0, 0, 1, 0}};
  s["fuzz_update"] = {with_options(0, body(up4)), with_options(0, body(up6)),
                      with_options(1, body(up2)), with_options(0, body(wd6)),
                      with_options(0, body(eor)), with_options(0, body(mixed_msg))};
  // RFC 7606 paths: treat-as-withdraw with MP_REACH still found, duplicate MP_UNREACH, attribute
  // overrun, a 2-octet peer's AS4_PATH/AS4_AGGREGATOR, an unknown optional transitive attribute.
  for (const char* h : {"00 0000 002d "
                        "40010107400200800e1c00020110fd000db80000000000000000000000010030fd000db800"
                        "01400304c6120001 18644001",
                        "00 0000 000c 800f03000201800f03000201 ",
                        "00 0000 000e 40010100400200c00808fde90064 18644001",
                        "01 0000 0037 "
                        "400101004002080203fde95ba05ba0400304c6120001c007065ba0c6120002c0110a020200"
                        "01117000011171c0120800011172c6120002 18644001",
                        "00 0000 0017 40010100400200400304c6120001c063020102e0160109 18644001"})
    s["fuzz_update"].push_back(hex(h));
  s["fuzz_notification"] = {body(notification), {4, 0}, {1, 2, 0x10, 0x01}};
  s["fuzz_route_refresh"] = {body(rr), {0, 1, 0, 1}, {0, 1, 1, 1, 9}};

  auto prefixes = [](uint8_t family, const std::vector<Prefix>& v) {
    Bytes out{family};
    ByteWriter w(out);
    for (const auto& p : v) encode_prefix(p, w);
    return out;
  };
  s["fuzz_nlri"] = {prefixes(0, v4), prefixes(1, v6)};

  // One value per attribute row, written by the row's own encoder (both AS widths where it
  // matters); MP_REACH/MP_UNREACH from a sample of each.
  MpReach reach6{kIpv6Unicast, {ip("fd00:db8::1"), ip("fe80::1")}, v6};
  MpReach reach4{kIpv4Unicast, {ip("198.18.0.1")}, v4};
  MpUnreach unreach6{kIpv6Unicast, v6};
  MpUnreach eor_evpn{kL2vpnEvpn, {}};
  AsPath as4 = attrs.as_path;
  Aggregator as4_agg{70001, ip("198.18.0.9")};
  for (const auto& row : attr_table()) {
    std::string name = "fuzz_attr_";
    for (const char* c = row.name; *c; ++c) name += static_cast<char>(std::tolower(*c));
    // Target names follow CMake's list, which uses short names for a few rows.
    if (name == "fuzz_attr_multi_exit_disc") name = "fuzz_attr_med";
    if (name == "fuzz_attr_mp_reach_nlri") name = "fuzz_attr_mp_reach";
    if (name == "fuzz_attr_mp_unreach_nlri") name = "fuzz_attr_mp_unreach";
    if (name == "fuzz_attr_extended_communities") name = "fuzz_attr_ext_communities";
    if (name == "fuzz_attr_large_community") name = "fuzz_attr_large_communities";
    for (uint8_t opts : {uint8_t{0}, uint8_t{1}}) {
      AttrSource src;
      src.attrs = &attrs;
      src.four_octet_as = opts == 0;
      src.next_hop = true;
      src.as4_path = &as4;
      src.as4_aggregator = &as4_agg;
      for (int variant = 0; variant < 2; ++variant) {
        src.mp_reach = variant ? &reach4 : &reach6;
        src.mp_unreach = variant ? &eor_evpn : &unreach6;
        Bytes value{opts};
        ByteWriter w(value);
        auto& list = s[name];
        if (row.encode(src, w) && std::find(list.begin(), list.end(), value) == list.end())
          list.push_back(value);
      }
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus root>\n", argv[0]);
    return 2;
  }
  for (const auto& [target, inputs] : seeds()) {
    auto dir = std::filesystem::path(argv[1]) / target;
    std::filesystem::create_directories(dir);
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::ofstream f(dir / ("seed-" + std::to_string(i)), std::ios::binary);
      f.write(reinterpret_cast<const char*>(inputs[i].data()),
              static_cast<std::streamsize>(inputs[i].size()));
    }
    std::printf("%-32s %zu seeds\n", target.c_str(), inputs.size());
  }
  return 0;
}
