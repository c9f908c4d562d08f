#include "bgp/speaker/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

namespace isthmus::bgp {

namespace {

Unexpected<Error> sys_fail(const std::string& what) {
  return fail(what + ": " + std::strerror(errno));
}

socklen_t to_sockaddr(const SocketAddress& a, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (a.address.is_v4()) {
    auto* s = reinterpret_cast<sockaddr_in*>(&ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(a.port);
    std::memcpy(&s->sin_addr, a.address.bytes().data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
  s->sin6_family = AF_INET6;
  s->sin6_port = htons(a.port);
  std::memcpy(&s->sin6_addr, a.address.bytes().data(), 16);
  return sizeof(sockaddr_in6);
}

SocketAddress from_sockaddr(const sockaddr_storage& ss) {
  SocketAddress a;
  if (ss.ss_family == AF_INET) {
    auto* s = reinterpret_cast<const sockaddr_in*>(&ss);
    std::array<uint8_t, 4> b;
    std::memcpy(b.data(), &s->sin_addr, 4);
    a.address = IpAddress::v4(b);
    a.port = ntohs(s->sin_port);
  } else {
    auto* s = reinterpret_cast<const sockaddr_in6*>(&ss);
    std::array<uint8_t, 16> b;
    std::memcpy(b.data(), &s->sin6_addr, 16);
    // An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d.
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b.data(), kMapped, 12) == 0) {
      a.address = IpAddress::v4({b[12], b[13], b[14], b[15]});
    } else {
      a.address = IpAddress::v6(b);
    }
    a.port = ntohs(s->sin6_port);
  }
  return a;
}

int family_of(const IpAddress& a) { return a.is_v4() ? AF_INET : AF_INET6; }

}  // namespace

std::string SocketAddress::to_string() const {
  if (address.is_v4()) return address.to_string() + ":" + std::to_string(port);
  return "[" + address.to_string() + "]:" + std::to_string(port);
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Expected<Fd> listen_tcp(const SocketAddress& at) {
  Fd fd(::socket(family_of(at.address), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return sys_fail("socket");
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (at.address.is_v6()) {
    // "::" listens dual-stack; a specific IPv6 address only on IPv6.
    int v6only = at.address.is_unspecified() ? 0 : 1;
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
  }
  sockaddr_storage ss;
  socklen_t len = to_sockaddr(at, ss);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return sys_fail("cannot listen on " + at.to_string() + ": bind");
  if (::listen(fd.get(), 128) != 0) return sys_fail("cannot listen on " + at.to_string());
  return fd;
}

Expected<Fd> connect_tcp(const SocketAddress& to, const std::optional<IpAddress>& local,
                         const TtlPolicy& ttl, const std::string& md5_password) {
  Fd fd(::socket(family_of(to.address), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return sys_fail("socket");
  if (!md5_password.empty()) {
    auto r = set_md5(fd.get(), to.address, to.address.is_v4() ? 32 : 128, md5_password);
    if (!r) return unexpected(r.error());
  }
  if (auto r = set_ttl(fd.get(), to.address.family(), ttl); !r) return unexpected(r.error());
  if (local) {
    sockaddr_storage ss;
    socklen_t len = to_sockaddr({*local, 0}, ss);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
      return sys_fail("cannot bind to local address " + local->to_string());
  }
  sockaddr_storage ss;
  socklen_t len = to_sockaddr(to, ss);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS)
    return sys_fail("connect to " + to.to_string());
  set_nodelay(fd.get());
  return fd;
}

Expected<void> connect_result(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return sys_fail("getsockopt");
  if (err != 0) return fail(std::strerror(err));
  return {};
}

Expected<Fd> accept_tcp(int listen_fd, SocketAddress& peer) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  Fd fd(::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC));
  if (!fd) return sys_fail("accept");
  peer = from_sockaddr(ss);
  set_nodelay(fd.get());
  return fd;
}

Expected<void> set_md5(int fd, const IpAddress& peer, uint8_t prefix_len,
                       const std::string& password) {
  if (password.size() > TCP_MD5SIG_MAXKEYLEN)
    return fail("TCP-MD5 password longer than " + std::to_string(TCP_MD5SIG_MAXKEYLEN) + " bytes");
  tcp_md5sig sig{};
  SocketAddress a{peer, 0};
  sockaddr_storage ss;
  to_sockaddr(a, ss);
  // A key on an IPv6 (dual-stack) listening socket for an IPv4 peer uses the mapped address.
  int sock_family = 0;
  socklen_t flen = sizeof sock_family;
  getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &sock_family, &flen);
  if (sock_family == AF_INET6 && peer.is_v4()) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    std::array<uint8_t, 16> b{};
    b[10] = b[11] = 0xff;
    std::memcpy(b.data() + 12, peer.bytes().data(), 4);
    std::memset(&ss, 0, sizeof ss);
    s6->sin6_family = AF_INET6;
    std::memcpy(&s6->sin6_addr, b.data(), 16);
    // The kernel takes the prefix length of a mapped IPv4 address in IPv4 terms (<= 32).
  }
  std::memcpy(&sig.tcpm_addr, &ss, sizeof ss);
  sig.tcpm_keylen = static_cast<uint16_t>(password.size());
  std::memcpy(sig.tcpm_key, password.data(), password.size());
  int opt = TCP_MD5SIG;
  uint8_t full = peer.is_v4() ? 32 : 128;
  if (prefix_len != full) {
    sig.tcpm_flags = TCP_MD5SIG_FLAG_PREFIX;
    sig.tcpm_prefixlen = prefix_len;
    opt = TCP_MD5SIG_EXT;
  }
  if (setsockopt(fd, IPPROTO_TCP, opt, &sig, sizeof sig) != 0)
    return sys_fail("TCP-MD5 for " + peer.to_string() + "/" + std::to_string(prefix_len));
  return {};
}

Expected<void> set_ttl(int fd, IpFamily family, const TtlPolicy& ttl) {
  if (family == IpFamily::V4) {
    if (ttl.send_ttl > 0 && setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl.send_ttl, sizeof(int)) != 0)
      return sys_fail("IP_TTL");
    if (ttl.min_ttl > 0 && setsockopt(fd, IPPROTO_IP, IP_MINTTL, &ttl.min_ttl, sizeof(int)) != 0)
      return sys_fail("IP_MINTTL");
  } else {
    if (ttl.send_ttl > 0 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl.send_ttl, sizeof(int)) != 0)
      return sys_fail("IPV6_UNICAST_HOPS");
    if (ttl.min_ttl > 0 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_MINHOPCOUNT, &ttl.min_ttl, sizeof(int)) != 0)
      return sys_fail("IPV6_MINHOPCOUNT");
  }
  return {};
}

Expected<SocketAddress> local_address(int fd) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return sys_fail("getsockname");
  return from_sockaddr(ss);
}

Expected<SocketAddress> remote_address(int fd) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return sys_fail("getpeername");
  return from_sockaddr(ss);
}

void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

namespace {

// The addresses (with their prefix lengths) of the interface that holds `local`; empty when no
// interface does.
std::vector<std::pair<IpAddress, uint8_t>> interface_addresses(const IpAddress& local) {
  std::vector<std::pair<IpAddress, uint8_t>> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  auto address_of = [](const sockaddr* sa) -> std::optional<IpAddress> {
    if (!sa) return std::nullopt;
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) return std::nullopt;
    sockaddr_storage ss{};
    std::memcpy(&ss, sa, sa->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    return from_sockaddr(ss).address;
  };
  std::string ifname;
  for (auto* i = list; i; i = i->ifa_next)
    if (auto a = address_of(i->ifa_addr); a && *a == local) ifname = i->ifa_name;
  for (auto* i = list; i && !ifname.empty(); i = i->ifa_next) {
    if (ifname != i->ifa_name) continue;
    auto a = address_of(i->ifa_addr);
    if (!a) continue;
    // The netmask is an address of the same family whose leading one bits are the length.
    uint8_t len = 0;
    if (auto mask = address_of(i->ifa_netmask); mask && mask->family() == a->family())
      for (size_t b = 0; b < a->size(); ++b)
        len = static_cast<uint8_t>(len + std::popcount(mask->bytes()[b]));
    out.emplace_back(*a, len);
  }
  freeifaddrs(list);
  return out;
}

}  // namespace

std::optional<IpAddress> sibling_address(const IpAddress& local, IpFamily want) {
  std::optional<IpAddress> best;
  for (const auto& [a, len] : interface_addresses(local)) {
    if (a.family() != want) continue;
    if (!best || (best->is_link_local() && !a.is_link_local())) best = a;
  }
  return best;
}

std::optional<IpAddress> link_local_address(const IpAddress& local, const IpAddress& peer,
                                            bool single_hop) {
  auto addresses = interface_addresses(local);
  bool on_link = single_hop;
  std::optional<IpAddress> link_local;
  for (const auto& [a, len] : addresses) {
    if (a.is_v6() && a.is_link_local() && !link_local) link_local = a;
    // A connected subnet of the interface (not the host route of a /32 or /128 address).
    if (a.family() == peer.family() && len < a.size() * 8 && Prefix(a, len).contains(peer))
      on_link = true;
  }
  return on_link ? link_local : std::nullopt;
}

}  // namespace isthmus::bgp
