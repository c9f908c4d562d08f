// bgp_blast: the benchmark's traffic generator and sink. A minimal blocking BGP speaker built on
// the project's codec. It is deliberately simple: one session, no RIB.
//
//   bgp_blast send --connect 127.0.0.1:1790 --asn 65001 --peer-as 65000 --prefixes 1000000
//                  [--paths 2000] [--router-id 198.18.0.11] [--next-hop 198.18.0.11]
//   bgp_blast recv --connect 127.0.0.1:1791 --asn 65002 --peer-as 65000 --prefixes 1000000
//   (--listen ADDR:PORT instead of --connect to wait for the speaker under test to connect)
//
// send: establishes, prints {"event":"established"}, waits until --start-file exists (if given),
// then sends N IPv4 prefixes (100.64.0.0/10 cut into /30s) spread over --paths distinct AS paths
// and prints {"event":"sent","t_start":..,"t_end":..} (CLOCK_REALTIME seconds); it then keeps the
// session up (answering keepalives) until killed.
// recv: establishes, counts distinct prefixes announced (minus withdrawn) and prints
// {"event":"complete","t":..,"prefixes":N} the moment it holds N; then keeps the session up.
// --family evpn: L2VPN EVPN instead of IPv4 unicast; the N routes are MAC/IP advertisements
// (RFC 7432 §7.2, MAC+IPv4), attribute set k being VNI 100+k with its RD and route target.
// --vni V --next-hops A,B,..: (EVPN, the node agent benchmark) every route in VNI V, as if
// advertised by remote VTEPs A, B, ..: the routes dealt in runs over the next hops, each with RD
// <next hop>:V and route target <asn>:V; first one IMET route (type 3, RFC 7432 §7.3, ingress
// replication) per next hop, so that every VTEP is in the VNI's flood list.
// --l3vni L --next-hops A,B,..: (EVPN, the tenant benchmark) the N routes are IP prefix routes
// (type 5, RFC 9136) of the IP-VRF with L3 VNI L: prefix i is the i-th /30 of 100.64.0.0/10 (as
// in IPv4 mode), dealt in runs over the next hops as if advertised by those remote VTEPs, each
// with RD <next hop>:L, label L, route target <asn>:L, the VXLAN encapsulation and the Router's
// MAC 02:00:<next hop's four octets> (RFC 9135 §8.1, isthmusd's default router MAC). No IMET
// route: a VTEP needs none to route a prefix. recv counts these /30s too.
// --chunk C --gap-ms T: (send) the routes in chunks of at most C, written out one by one with a
// pause of T ms after each (answering keepalives meanwhile): routes that trickle in.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "bgp/wire/codec.h"
#include "bgp/wire/evpn.h"
#include "bgp/wire/ext_community.h"

using namespace isthmus;
using namespace isthmus::bgp;

namespace {

constexpr uint16_t kHoldTime = 180;  // ours; the session's is the smaller of both sides'

struct Options {
  std::string mode;
  std::string connect, listen;
  uint32_t asn = 65001, peer_as = 65000;
  uint32_t router_id = 0xC612000B;
  std::string next_hop = "198.18.0.11";
  size_t prefixes = 100000;
  size_t paths = 2000;
  std::string start_file;   // send: wait until this file exists
  bool evpn = false;        // --family evpn: EVPN type-2 routes instead of IPv4 prefixes
  uint32_t vni = 0;         // --vni: all routes in this VNI (0: VNI 100+k per attribute set)
  uint32_t l3vni = 0;       // --l3vni: type-5 routes of this L3 VNI instead of type-2
  size_t chunk = SIZE_MAX;  // --chunk: at most this many routes per run of UPDATEs
  int gap_ms = 0;           // --gap-ms: the pause after each chunk
  std::vector<std::string> next_hops;  // --next-hops: the remote VTEPs (with --vni or --l3vni)
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "bgp_blast: %s\n", msg.c_str());
  std::exit(1);
}

double now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

sockaddr_in parse_endpoint(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) die("endpoint \"" + s + "\" needs ADDR:PORT");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::stoi(s.substr(colon + 1))));
  if (inet_pton(AF_INET, s.substr(0, colon).c_str(), &a.sin_addr) != 1)
    die("bad IPv4 address in \"" + s + "\"");
  return a;
}

int open_session_socket(const Options& o) {
  if (!o.connect.empty()) {
    auto a = parse_endpoint(o.connect);
    for (int attempt = 0; attempt < 600; ++attempt) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
      close(fd);
      usleep(100000);
    }
    die("cannot connect to " + o.connect);
  }
  auto a = parse_endpoint(o.listen);
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(ls, 1) != 0)
    die("cannot listen on " + o.listen);
  int fd = accept(ls, nullptr, nullptr);
  close(ls);
  if (fd < 0) die("accept failed");
  return fd;
}

class Session {
 public:
  explicit Session(int fd) : fd_(fd) {
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  void write_all(const std::vector<uint8_t>& b) {
    size_t off = 0;
    while (off < b.size()) {
      ssize_t n = ::write(fd_, b.data() + off, b.size() - off);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
          drain(0);
          continue;
        }
        die(std::string("write: ") + std::strerror(errno));
      }
      off += static_cast<size_t>(n);
    }
  }
  // Reads what is available (waiting up to timeout_ms) and handles every whole message.
  void drain(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) {
      keepalive_if_due();
      return;
    }
    size_t have = in_.size();
    in_.resize(have + (1 << 20));
    ssize_t n = ::read(fd_, in_.data() + have, 1 << 20);
    if (n <= 0) die("session closed by the peer");
    in_.resize(have + static_cast<size_t>(n));
    size_t off = 0;
    while (in_.size() - off >= kHeaderSize) {
      auto h = decode_header({in_.data() + off, in_.size() - off}, codec_);
      if (!h) die("bad header: " + h.error().describe());
      if (in_.size() - off < h->length) break;
      auto m = decode_message({in_.data() + off, h->length}, codec_);
      if (!m) die("bad message: " + m.error().describe());
      on_message(*m);
      off += h->length;
    }
    in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(off));
    keepalive_if_due();
  }
  void on_message(DecodedMessage& m) {
    if (std::holds_alternative<Open>(m)) {
      open_ = std::get<Open>(m);
      std::vector<uint8_t> ka;
      encode_keepalive(ka);
      write_all(ka);
    } else if (std::holds_alternative<Keepalive>(m)) {
      if (!established_ && open_) established_ = true;
    } else if (std::holds_alternative<Notification>(m)) {
      die("NOTIFICATION received: " + std::get<Notification>(m).describe());
    } else if (auto* u = std::get_if<DecodedUpdate>(&m)) {
      for (auto& p : u->update.withdrawn) hold(p, false);
      for (auto& p : u->update.nlri) hold(p, true);
      if (u->update.mp_unreach)
        for (auto& r : u->update.mp_unreach->evpn) hold_evpn(r, false);
      if (u->update.mp_reach)
        for (auto& r : u->update.mp_reach->evpn) hold_evpn(r, true);
    }
  }
  // A KEEPALIVE every third of the negotiated hold time (RFC 4271 §4.4; FRR's datacenter
  // defaults hold a session for 9 s only), none with a hold time of 0.
  void keepalive_if_due() {
    if (!established_ || !open_) return;
    const int hold = std::min<int>(kHoldTime, open_->hold_time);
    if (hold == 0) return;
    auto t = std::chrono::steady_clock::now();
    if (t - last_keepalive_ < std::chrono::seconds(hold) / 3) return;
    last_keepalive_ = t;
    std::vector<uint8_t> ka;
    encode_keepalive(ka);
    write_all(ka);
  }
  void establish(const Options& o) {
    Open open;
    open.my_as = o.asn > 0xffff ? kAsTrans : static_cast<uint16_t>(o.asn);
    open.hold_time = kHoldTime;
    open.bgp_id = o.router_id;
    open.caps.multiprotocol = {o.evpn ? kL2vpnEvpn : kIpv4Unicast};
    open.caps.four_octet_as = o.asn;
    open.caps.route_refresh = true;
    std::vector<uint8_t> b;
    encode_open(open, b);
    write_all(b);
    while (!established_) drain(1000);
    codec_.four_octet_as = open_->caps.four_octet_as.has_value();
    std::printf("{\"event\":\"established\",\"t\":%.6f}\n", now());
    std::fflush(stdout);
  }
  size_t held() const { return held_count_ + held_other_.size(); }
  // The sender's prefixes (/30s of 100.64.0.0/10) are counted in a bitmap so that the receiver
  // is never the bottleneck; anything else in a set.
  void hold(const Prefix& p, bool present) {
    uint32_t a = p.address().is_v4() ? p.address().v4_host_order() : 0;
    if (p.length() == 30 && (a & 0xffc00000u) == 0x64400000u) {
      size_t i = (a - 0x64400000u) >> 2;
      if (bitmap_.empty()) bitmap_.resize(1u << 20);
      if (bitmap_[i] != present) {
        bitmap_[i] = present;
        held_count_ += present ? 1 : static_cast<size_t>(-1);
      }
      return;
    }
    if (present) {
      held_other_.insert(p);
    } else {
      held_other_.erase(p);
    }
  }
  // EVPN MAC/IP routes of the sender (MAC 02:00:<index as 4 octets>) in the same bitmap; its IP
  // prefix routes as the IPv4 prefixes.
  void hold_evpn(const EvpnRoute& r, bool present) {
    if (const auto* p = std::get_if<EvpnIpPrefix>(&r.route)) {
      hold(p->prefix, present);
      return;
    }
    const auto* m = std::get_if<EvpnMacIp>(&r.route);
    if (!m || m->mac.bytes[0] != 0x02 || m->mac.bytes[1] != 0) return;
    const size_t i = size_t{m->mac.bytes[2]} << 24 | size_t{m->mac.bytes[3]} << 16 |
                     size_t{m->mac.bytes[4]} << 8 | m->mac.bytes[5];
    if (i >= (1u << 20)) return;
    if (bitmap_.empty()) bitmap_.resize(1u << 20);
    if (bitmap_[i] != present) {
      bitmap_[i] = present;
      held_count_ += present ? 1 : static_cast<size_t>(-1);
    }
  }
  const CodecOptions& codec() const { return codec_; }

 private:
  int fd_;
  std::vector<uint8_t> in_;
  CodecOptions codec_;
  std::optional<Open> open_;
  bool established_ = false;
  std::vector<bool> bitmap_;
  size_t held_count_ = 0;
  std::unordered_set<Prefix> held_other_;
  std::chrono::steady_clock::time_point last_keepalive_ = std::chrono::steady_clock::now();
};

// Prefix i: the i-th /30 of 100.64.0.0/10 (2^20 of them).
Prefix prefix_of(size_t i) {
  return Prefix(IpAddress::v4(0x64400000u + static_cast<uint32_t>(i) * 4), 30);
}

// Path k: the sender's AS, then 1..4 private 4-octet ASNs derived from k (never the ASNs of
// the speakers in the benchmark); origin, MED and communities vary too.
PathAttributes attrs_of(const Options& o, size_t k) {
  PathAttributes a;
  a.origin = static_cast<Origin>(k % 3);
  AsPathSegment seg;
  seg.asns.push_back(o.asn);
  for (size_t d = 0; d <= k % 4; ++d)
    seg.asns.push_back(static_cast<uint32_t>(4200000000u + (k * 7 + d * 131) % 1000));
  a.as_path.segments.push_back(seg);
  a.next_hop = *IpAddress::parse(o.next_hop);
  if (k % 5 == 0) a.med = static_cast<uint32_t>(k % 100);
  if (k % 3 == 0) a.communities.push_back(static_cast<Community>(o.asn << 16 | (k % 50)));
  return a;
}

// EVPN route i: a MAC/IP advertisement (RFC 7432 §7.2) of MAC 02:00:<i> with IPv4 address
// 100.64.0.0 + i, in VNI 100 + k for attribute set k: RD <router-id>:<k>, label = VNI,
// route target <asn>:<VNI>, VXLAN encapsulation.
EvpnRoute evpn_route_of(const Options& o, size_t i, size_t k) {
  EvpnMacIp m;
  m.rd = o.vni != 0
             ? RouteDistinguisher::ipv4(*IpAddress::parse(o.next_hops[k]),
                                        static_cast<uint16_t>(o.vni))
             : RouteDistinguisher::ipv4(IpAddress::v4(o.router_id), static_cast<uint16_t>(k));
  m.mac.bytes = {0x02,
                 0x00,
                 static_cast<uint8_t>(i >> 24),
                 static_cast<uint8_t>(i >> 16),
                 static_cast<uint8_t>(i >> 8),
                 static_cast<uint8_t>(i)};
  m.ip = IpAddress::v4(0x64400000u + static_cast<uint32_t>(i));
  m.label1 = o.vni != 0 ? o.vni : static_cast<uint32_t>(100 + k);
  return EvpnRoute{m};
}

PathAttributes evpn_attrs_of(const Options& o, size_t k) {
  PathAttributes a;
  a.origin = Origin::Igp;
  a.next_hop = *IpAddress::parse(o.vni != 0 ? o.next_hops[k] : o.next_hop);
  a.local_pref = 100;
  const uint32_t vni = o.vni != 0 ? o.vni : static_cast<uint32_t>(100 + k);
  a.ext_communities = {route_target_as2(static_cast<uint16_t>(o.asn), vni),
                       Encapsulation{}.encode()};
  return a;
}

// --l3vni: route i, the IP prefix route of prefix_of(i) advertised by next hop k.
EvpnRoute ip_prefix_route_of(const Options& o, size_t i, size_t k) {
  EvpnIpPrefix r;
  r.rd =
      RouteDistinguisher::ipv4(*IpAddress::parse(o.next_hops[k]), static_cast<uint16_t>(o.l3vni));
  r.prefix = prefix_of(i);
  r.gateway = IpAddress::v4(0u);
  r.label = o.l3vni;
  return EvpnRoute{r};
}

PathAttributes ip_prefix_attrs_of(const Options& o, size_t k) {
  PathAttributes a;
  a.origin = Origin::Igp;
  a.next_hop = *IpAddress::parse(o.next_hops[k]);
  a.local_pref = 100;
  RouterMac rmac;
  const auto& b = a.next_hop.bytes();
  rmac.mac.bytes = {0x02, 0x00, b[0], b[1], b[2], b[3]};
  a.ext_communities = {route_target_as2(static_cast<uint16_t>(o.asn), o.l3vni),
                       Encapsulation{}.encode(), rmac.encode()};
  return a;
}

// --vni: remote VTEP k's IMET route (RFC 7432 §7.3, §11.2: ingress replication to the VTEP).
void encode_imet(const Options& o, size_t k, const CodecOptions& codec, std::vector<uint8_t>& out) {
  const IpAddress vtep = *IpAddress::parse(o.next_hops[k]);
  EvpnImet m;
  m.rd = RouteDistinguisher::ipv4(vtep, static_cast<uint16_t>(o.vni));
  m.originator = vtep;
  PathAttributes a = evpn_attrs_of(o, k);
  a.pmsi_tunnel = PmsiTunnel::ingress_replication(o.vni, vtep);
  const std::vector<EvpnRoute> routes{EvpnRoute{m}};
  encode_evpn_reach(a, routes, codec, out);
}

void run_send(const Options& o) {
  Session s(open_session_socket(o));
  s.establish(o);
  while (!o.start_file.empty() && access(o.start_file.c_str(), F_OK) != 0) s.drain(10);
  double t0 = now();
  // Prefixes are dealt to paths in runs so that every UPDATE carries many prefixes.
  const size_t paths = o.vni != 0 || o.l3vni != 0 ? o.next_hops.size() : o.paths;
  size_t per_path = (o.prefixes + paths - 1) / paths;
  std::vector<Prefix> batch;
  std::vector<EvpnRoute> evpn;
  std::vector<uint8_t> out;
  if (o.vni != 0)
    for (size_t k = 0; k < paths; ++k) encode_imet(o, k, s.codec(), out);
  for (size_t k = 0, i = 0; k < paths; ++k)
    for (const size_t end = std::min(o.prefixes, (k + 1) * per_path); i < end;) {
      batch.clear();
      evpn.clear();
      for (const size_t stop = i + std::min(o.chunk, end - i); i < stop; ++i) {
        if (o.l3vni != 0)
          evpn.push_back(ip_prefix_route_of(o, i, k));
        else if (o.evpn)
          evpn.push_back(evpn_route_of(o, i, k));
        else
          batch.push_back(prefix_of(i));
      }
      if (o.l3vni != 0)
        encode_evpn_reach(ip_prefix_attrs_of(o, k), evpn, s.codec(), out);
      else if (o.evpn)
        encode_evpn_reach(evpn_attrs_of(o, k), evpn, s.codec(), out);
      else
        encode_reach(attrs_of(o, k), kIpv4Unicast, batch, s.codec(), out);
      if (out.size() > (1 << 20) || o.gap_ms > 0) {
        s.write_all(out);
        out.clear();
      }
      if (o.gap_ms > 0 && i < o.prefixes) {  // --gap-ms: a pause after each chunk
        const double resume = now() + o.gap_ms / 1000.0;
        for (double t = now(); t < resume; t = now())
          s.drain(static_cast<int>((resume - t) * 1000) + 1);
      }
    }
  s.write_all(out);
  double t1 = now();
  std::printf("{\"event\":\"sent\",\"t_start\":%.6f,\"t_end\":%.6f,\"prefixes\":%zu}\n", t0, t1,
              o.prefixes);
  std::fflush(stdout);
  for (;;) s.drain(1000);
}

void run_recv(const Options& o) {
  Session s(open_session_socket(o));
  s.establish(o);
  bool done = false;
  for (;;) {
    s.drain(1000);
    if (!done && s.held() >= o.prefixes) {
      done = true;
      std::printf("{\"event\":\"complete\",\"t\":%.6f,\"prefixes\":%zu}\n", now(), s.held());
      std::fflush(stdout);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (argc < 2) die("usage: bgp_blast send|recv [options] (see the source's header)");
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (++i == argc) die(a + " needs a value");
      return argv[i];
    };
    if (a == "--connect")
      o.connect = next();
    else if (a == "--listen")
      o.listen = next();
    else if (a == "--asn")
      o.asn = static_cast<uint32_t>(std::stoul(next()));
    else if (a == "--peer-as")
      o.peer_as = static_cast<uint32_t>(std::stoul(next()));
    else if (a == "--prefixes")
      o.prefixes = std::stoul(next());
    else if (a == "--paths")
      o.paths = std::stoul(next());
    else if (a == "--next-hop")
      o.next_hop = next();
    else if (a == "--router-id")
      o.router_id = IpAddress::parse(next())->v4_host_order();
    else if (a == "--start-file")
      o.start_file = next();
    else if (a == "--vni")
      o.vni = static_cast<uint32_t>(std::stoul(next()));
    else if (a == "--chunk")
      o.chunk = std::max<size_t>(1, std::stoul(next()));
    else if (a == "--gap-ms")
      o.gap_ms = std::stoi(next());
    else if (a == "--l3vni")
      o.l3vni = static_cast<uint32_t>(std::stoul(next()));
    else if (a == "--next-hops") {
      const std::string v = next();
      for (size_t at = 0; at <= v.size();) {
        const size_t comma = std::min(v.find(',', at), v.size());
        o.next_hops.push_back(v.substr(at, comma - at));
        at = comma + 1;
      }
    } else if (a == "--family") {
      const std::string f = next();
      if (f != "evpn" && f != "ipv4") die("--family: ipv4 or evpn");
      o.evpn = f == "evpn";
    } else
      die("unknown option " + a);
  }
  if (o.connect.empty() == o.listen.empty()) die("give exactly one of --connect or --listen");
  if (o.vni != 0 && (!o.evpn || o.next_hops.empty()))
    die("--vni needs --family evpn and --next-hops");
  if (o.l3vni != 0 && (!o.evpn || o.next_hops.empty() || o.vni != 0))
    die("--l3vni needs --family evpn and --next-hops, and excludes --vni");
  if (o.l3vni > 0xffffff) die("--l3vni: a VNI has 24 bits");
  for (const auto& n : o.next_hops)
    if (!IpAddress::parse(n)) die("--next-hops: \"" + n + "\" is not an IP address");
  if (o.l3vni != 0)
    for (const auto& n : o.next_hops)
      if (!IpAddress::parse(n)->is_v4()) die("--l3vni: the next hops are IPv4 VTEPs");
  if (o.prefixes > (1u << 20)) die("at most 1048576 prefixes (the /30s of 100.64.0.0/10)");
  if (o.mode == "send")
    run_send(o);
  else if (o.mode == "recv")
    run_recv(o);
  else
    die("mode must be send or recv");
}
