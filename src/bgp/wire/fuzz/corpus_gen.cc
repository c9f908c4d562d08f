// Writes small seed inputs for every wire fuzz target, built with the encoders, into
// <dir>/<target>/seed-N, and EVPN seeds from UPDATEs captured from GoBGP 3.10 and FRR 8.4
// (evpn_capture_test.cc) into <dir>/<target>/evpn-N. Usage: bgp_wire_corpus_gen
// <repo>/tests/fuzz/corpus
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
#include "bgp/wire/evpn.h"
#include "bgp/wire/ext_community.h"
#include "bgp/wire/nlri.h"

using namespace isthmus;
using namespace isthmus::bgp;
using Bytes = std::vector<uint8_t>;
using Seg = AsPathSegment;

namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
Prefix pfx(const char* s) { return *Prefix::parse(s); }

Bytes with_options(uint8_t opts, const Bytes& b) {
  // Sized up front: GCC 12 reports a false -Warray-bounds on inserting into a one-octet vector.
  Bytes out(b.size() + 1, opts);
  std::copy(b.begin(), b.end(), out.begin() + 1);
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
  a.unknown = {UnknownAttribute{0xc0, 200, {0, 1, 2, 3, 4}}};
  a.pmsi_tunnel = PmsiTunnel::ingress_replication(100, ip("198.18.0.1"));
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

// Whole UPDATEs (from the length field on) as GoBGP 3.10 and FRR 8.4 sent them: one per route
// type, both families, withdrawals, MAC Mobility, FRR's type 5 and two-label type 2
// (tests/captures/data/).
const char* kCaptured[] = {
    // GoBGP: types 1 (per EVI, per ES with ESI Label), 2 (MAC+IPv4 two labels, MAC+IPv6, type-2
    // RD), 3 (IPv4, IPv6 with PMSI_TUNNEL), 4 (IPv4, IPv6), 5 (IPv4, IPv6), a withdrawal, an IPv6
    // next hop.
    "005e02000000474001010240020602010000fde9800e2400194604c61200020001190001c612000200640102000000"
    "aa0100070000000000000064c010100002fde900000064030c000000000008",
    "005e02000000474001010240020602010000fde9800e2400194604c61200020001190001c612000200010102000000"
    "aa01000700ffffffff000000c010100002fde90000006406010000000000c8",
    "0075020000005e4001010240020602010000fde9800e3300194604c61200020002280001c612000200640000000000"
    "000000000000000000300200000000022064400002000064001388c010180002fde900001388030c00000000000806"
    "030200000000fe",
    "007e02000000674001010240020602010000fde9800e3c00194604c61200020002310000fde9000000c80302000000"
    "bb010000090000000a3002000000000380fd0000640000000000000000000000030000c8c010180002fde9000000c8"
    "030c000000000008030d000000000000",
    "006a02000000534001010240020602010000fde9800e3000194604c61200020002250002fa56ea0000070000000000"
    "00000000000000000030020000000004206440000400012cc010100202fa56ea000007030c000000000008",
    "0062020000004b4001010240020602010000fde9800e1c00194604c61200020003110001c612000200640000000020"
    "c6120002c010100002fde900000064030c000000000008c016090006000064c6120002",
    "007a02000000634001010240020602010000fde9800e2800194604c612000200031d0001c612000200c80000000080"
    "fd000018000000000000000000000002c010100002fde9000000c8030c000000000008c0161500060000c8fd000018"
    "000000000000000000000002",
    "0054020000003d4001010240020602010000fde9800e2200194604c61200020004170001c6120002000104c6120002"
    "000000050020c6120002c010080002fde900000064",
    "006002000000494001010240020602010000fde9800e2e00194604c61200020004230001c61200020002050000fde9"
    "000000060080fd000018000000000000000000000002c010080002fde900000064",
    "006f02000000584001010240020602010000fde9800e2d00194604c61200020005220001c612000213880000000000"
    "0000000000000000001864400a0000000000001388c010180002fde900001388030c00000000000806030200000000"
    "fe",
    "007f02000000684001010240020602010000fde9800e4500194604c612000200053a0001c612000213880011223344"
    "55667788990000000040fd000064001000000000000000000000fd000018000000000000000000000002001388c010"
    "100002fde900001388030c000000000008",
    "00470200000030800f2d00194602280001c61200020064000000000000000000000000000030020000000002206440"
    "0002000064001388",
    "0072020000005b4001010240020602010000fde9800e3800194610fd00001800000000000000000000000200022100"
    "01c6120002006400000000000000000000000000003002000000000100000064c010100002fde900000064030c0000"
    "00000008",
    // FRR: type 3 with PMSI_TUNNEL, four type-2 routes in one UPDATE, MAC Mobility, withdrawals.
    "0064020000004d900e001c00194604c61200030003110001c612000300020000000020c61200034001010050020006"
    "02010000fdebc01010030c0000000000080002fdeb00000064c016090006000064c6120003",
    "00e502000000ce900e00a900194604c61200030002210001c612000300020000000000000000000000000000300200"
    "000003010000006402310001c6120003000200000000000000000000000000003002000000030280fd000064000000"
    "00000000000000003200006402250001c6120003000200000000000000000000000000003002000000030220644000"
    "2000006402210001c61200030002000000000000000000000000000030020000000302000000644001010050020006"
    "02010000fdebc01010030c0000000000080002fdeb00000064",
    "00700200000059900e002c00194604c61200030002210001c612000300020000000000000000000000000000300200"
    "0000010900000064400101005002000602010000fdebc01018030c0000000000080002fdeb00000064060000000000"
    "0001",
    "00680200000051900f004d00194602250001c612000300020000000000000000000000000000300200000003022064"
    "40002000000002210001c6120003000200000000000000000000000000003002000000030100000000",
    // FRR with an L3 VNI (frr-l3.jsonl): three type-5 routes, symmetric-IRB MAC+IP with two
    // labels and the Router's MAC, a type-5 withdrawal.
    "00d802000000c1900e008d00194604c61200030005220001c612000300010000000000000000000000000000186440"
    "150000000000001388053a0001c61200030001000000000000000000000000000040fd000064002100000000000000"
    "0000000000000000000000000000000000000000138805220001c61200030001000000000000000000000000000018"
    "6440160000000000001388400101005002000602010000fdeb80040400000000c01018030c0000000000080002fdeb"
    "000013880603020000005003",
    "00b5020000009e900e006900194604c61200030002280001c612000300030000000000000000000000000000300200"
    "00000302206440002000006400138802340001c6120003000300000000000000000000000000003002000000030280"
    "fd000064000000000000000000000032000064001388400101005002000602010000fdebc01020030c000000000008"
    "0002fdeb000000640002fdeb000013880603020000005003",
    "0042020000002b900f002700194605220001c612000300010000000000000000000000000000186440160000000000"
    "000000",
};

// A fuzz_evpn_ext_communities input: ASN 65003 and VNI 100 (FRR's auto-derived route target in
// the capture), then the communities' octets (sized up front: GCC 12 reports false -Warray-bounds
// on small vector inserts).
Bytes concat(const std::vector<ExtCommunity>& v) {
  Bytes out(7 + v.size() * 8);
  const uint8_t head[7] = {0, 0, 0xfd, 0xeb, 0, 0, 100};
  std::copy(std::begin(head), std::end(head), out.begin());
  for (size_t i = 0; i < v.size(); ++i)
    std::copy(v[i].bytes.begin(), v[i].bytes.end(),
              out.begin() + static_cast<ptrdiff_t>(7 + 8 * i));
  return out;
}

// Seeds for the EVPN targets and EVPN inputs for the existing ones, all from kCaptured.
std::map<std::string, std::vector<Bytes>> evpn_seeds() {
  std::map<std::string, std::vector<Bytes>> s;
  auto add = [&](const std::string& target, const Bytes& b) {
    auto& list = s[target];
    if (std::find(list.begin(), list.end(), b) == list.end()) list.push_back(b);
  };
  for (const char* h : kCaptured) {
    Bytes msg = hex(std::string(16, 'f') + std::string(16, 'f') + h);
    auto decoded = decode_message(msg, {});
    if (!decoded) {
      std::fprintf(stderr, "captured UPDATE does not decode: %s\n", h);
      std::exit(1);
    }
    const Update& u = std::get<DecodedUpdate>(*decoded).update;
    add("fuzz_header", with_options(0, msg));
    add("fuzz_update", with_options(0, body(msg)));
    std::vector<EvpnRoute> routes;
    if (u.mp_reach) routes = u.mp_reach->evpn;
    if (u.mp_unreach)
      routes.insert(routes.end(), u.mp_unreach->evpn.begin(), u.mp_unreach->evpn.end());
    for (const auto& r : routes) {
      Bytes nlri;
      ByteWriter w(nlri);
      encode_evpn_nlri(r, w);
      // The EVPN targets force the type octet; the input starts at the Length octet.
      add("fuzz_evpn_type" + std::to_string(r.type()), Bytes(nlri.begin() + 1, nlri.end()));
    }
    AttrSource src;
    src.attrs = u.attrs ? &*u.attrs : nullptr;
    src.mp_reach = u.mp_reach ? &*u.mp_reach : nullptr;
    src.mp_unreach = u.mp_unreach ? &*u.mp_unreach : nullptr;
    for (auto [row, name] : {std::pair{AttrType::MpReachNlri, "fuzz_attr_mp_reach"},
                             std::pair{AttrType::MpUnreachNlri, "fuzz_attr_mp_unreach"},
                             std::pair{AttrType::PmsiTunnel, "fuzz_attr_pmsi_tunnel"},
                             std::pair{AttrType::ExtCommunities, "fuzz_attr_ext_communities"}}) {
      Bytes value{0};
      ByteWriter w(value);
      if (find_attr(static_cast<uint8_t>(row))->encode(src, w)) add(name, value);
    }
    if (u.attrs && !u.attrs->ext_communities.empty())
      add("fuzz_evpn_ext_communities", concat(u.attrs->ext_communities));
  }
  // Every typed community once, with the flags set, and route targets of the three forms.
  std::vector<ExtCommunity> all = {
      MacMobility{true, 7}.encode(),
      EsiLabel{true, 0xabcdef}.encode(),
      EsImportRouteTarget{*MacAddress::parse("02:00:00:00:aa:01")}.encode(),
      RouterMac{*MacAddress::parse("02:00:00:00:00:fe")}.encode(),
      default_gateway(),
      Encapsulation{}.encode(),
      route_target_as2(65000, 100),
      route_target_ipv4(ip("198.18.0.1"), 5),
      route_target_as4(4200000000, 7),
      auto_route_target(65000, 100, AutoRtStyle::Rfc8365)};
  for (size_t i = 0; i < all.size(); i += 4)  // the target reads four communities per input
    add("fuzz_evpn_ext_communities",
        concat({all.begin() + static_cast<ptrdiff_t>(i),
                all.begin() + static_cast<ptrdiff_t>(std::min(i + 4, all.size()))}));
  // PMSI tunnels other than IPv4 ingress replication.
  add("fuzz_attr_pmsi_tunnel",
      {0, 0x01, 0x06, 0x00, 0x00, 0xc8, 0xfd, 0, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2});
  add("fuzz_attr_pmsi_tunnel", {1, 0x00, 0x02, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5, 6, 7, 8});
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
  for (const auto& [target, inputs] : evpn_seeds()) {
    auto dir = std::filesystem::path(argv[1]) / target;
    std::filesystem::create_directories(dir);
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::ofstream f(dir / ("evpn-" + std::to_string(i)), std::ios::binary);
      f.write(reinterpret_cast<const char*>(inputs[i].data()),
              static_cast<std::streamsize>(inputs[i].size()));
    }
    std::printf("%-32s %zu EVPN seeds\n", target.c_str(), inputs.size());
  }
  return 0;
}
