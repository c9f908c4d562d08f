// TCP sockets for BGP sessions: non-blocking connect and listen, TCP-MD5 (RFC 2385), GTSM
// (RFC 5082) and eBGP TTL handling. Thin wrappers over the socket API returning Expected.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>

#include "core/expected.h"
#include "core/ip.h"

namespace isthmus::bgp {

struct SocketAddress {
  IpAddress address;
  uint16_t port = 0;
  std::string to_string() const;  // "198.18.0.2:179", "[fd00::2]:179"
};

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  ~Fd();
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// TTL policy of a session. RFC 5082 GTSM: send with TTL 255 and accept only TTL >= 255-hops+1.
struct TtlPolicy {
  int send_ttl = 0;  // 0 = kernel default
  int min_ttl = 0;   // 0 = no check
};

Expected<Fd> listen_tcp(const SocketAddress& at);
// Starts a non-blocking connect; completion is reported by EPOLLOUT and connect_result().
Expected<Fd> connect_tcp(const SocketAddress& to, const std::optional<IpAddress>& local,
                         const TtlPolicy& ttl, const std::string& md5_password);
// SO_ERROR after a non-blocking connect.
Expected<void> connect_result(int fd);
Expected<Fd> accept_tcp(int listen_fd, SocketAddress& peer);

// RFC 2385: the key for one peer address (or prefix, for dynamic neighbors) on a socket.
// An empty password removes the key.
Expected<void> set_md5(int fd, const IpAddress& peer, uint8_t prefix_len,
                       const std::string& password);
Expected<void> set_ttl(int fd, IpFamily family, const TtlPolicy& ttl);
Expected<SocketAddress> local_address(int fd);
Expected<SocketAddress> remote_address(int fd);
void set_nodelay(int fd);
// An address of family `want` on the interface that holds `local`, preferring global addresses
// over link-local ones: the next hop for routes of the other family (RFC 2545 §3).
std::optional<IpAddress> sibling_address(const IpAddress& local, IpFamily want);
// Our IPv6 link-local address on the interface that holds `local`, when the peer at `peer` is
// on that link: `single_hop` says the session is known to be (eBGP without multihop, GTSM with
// one hop), otherwise `peer` must lie in one of the interface's connected subnets. RFC 2545 §3
// sends it as the second next hop of IPv6 routes whose next hop is ours. None: no such address,
// or the peer is not on the link.
std::optional<IpAddress> link_local_address(const IpAddress& local, const IpAddress& peer,
                                            bool single_hop);

}  // namespace isthmus::bgp
