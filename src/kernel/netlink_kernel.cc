#include "kernel/netlink_kernel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <linux/filter.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <iterator>
#include <optional>
#include <vector>

#include "core/bug.h"

namespace isthmus::kernel {

namespace {

std::string errno_text(int e) { return std::strerror(e); }

// Large enough for any one message the kernel sends (it fills a dump reply up to 32 KiB).
constexpr size_t kReceiveBuffer = 32768;

// Walks the messages of one recv() buffer. Returns false at NLMSG_DONE or an ACK/error (`ack`
// set), true when more is to come.
struct Walk {
  bool done = false;
  std::optional<nl::Ack> ack;
};

Expected<Walk> walk(std::span<const uint8_t> buf, uint32_t seq, uint32_t portid,
                    const std::function<Expected<void>(std::span<const uint8_t>)>* fn) {
  Walk w;
  size_t at = 0;
  while (buf.size() - at >= sizeof(nlmsghdr)) {
    nlmsghdr h;
    std::memcpy(&h, buf.data() + at, sizeof h);
    if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > buf.size() - at)
      return fail(fmt::format("netlink reply: message length {} with {} octets left", h.nlmsg_len,
                              buf.size() - at));
    auto msg = buf.subspan(at, h.nlmsg_len);
    at += std::min<size_t>(NLMSG_ALIGN(h.nlmsg_len), buf.size() - at);
    if (h.nlmsg_seq != seq || h.nlmsg_pid != portid) continue;  // a stale reply
    if (h.nlmsg_type == NLMSG_DONE) {
      w.done = true;
      if (auto ack = nl::parse_done(msg); ack.error != 0) w.ack = std::move(ack);
      return w;
    }
    if (h.nlmsg_type == NLMSG_ERROR) {
      auto ack = nl::parse_ack(msg);
      if (!ack) return unexpected(std::move(ack.error()));
      w.ack = *ack;
      w.done = true;
      return w;
    }
    if (h.nlmsg_type == NLMSG_NOOP) continue;
    if (fn) {
      if (auto ok = (*fn)(msg); !ok) return unexpected(std::move(ok.error()));
    }
  }
  return w;
}

}  // namespace

// ---- NetlinkSocket
// -------------------------------------------------------------------------------

Expected<NetlinkSocket> NetlinkSocket::open(unsigned groups) {
  mnl_socket* nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (!nl) return fail("netlink: cannot open a NETLINK_ROUTE socket: " + errno_text(errno));
  if (mnl_socket_bind(nl, groups, MNL_SOCKET_AUTOPID) < 0) {
    const int e = errno;
    mnl_socket_close(nl);
    return fail("netlink: cannot bind: " + errno_text(e));
  }
  // The kernel's own words on errors (netlink(7), extended ACK), and no copy of our request in
  // them.
  int on = 1;
  mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &on, sizeof on);
  mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &on, sizeof on);
  // Room for the failures of a whole batch (send_batch), and for event bursts.
  int size = groups != 0 ? 4 << 20 : 8 << 20;
  setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  if (groups != 0) {
    // Events come in bursts (a bridge going away takes its FDB with it): a large buffer.
    fcntl(mnl_socket_get_fd(nl), F_SETFL, fcntl(mnl_socket_get_fd(nl), F_GETFL) | O_NONBLOCK);
  }
  return NetlinkSocket(nl, mnl_socket_get_portid(nl));
}

NetlinkSocket::NetlinkSocket(NetlinkSocket&& o) noexcept
    : nl_(std::exchange(o.nl_, nullptr)), portid_(o.portid_), seq_(o.seq_) {}

NetlinkSocket& NetlinkSocket::operator=(NetlinkSocket&& o) noexcept {
  if (this != &o) {
    if (nl_) mnl_socket_close(nl_);
    nl_ = std::exchange(o.nl_, nullptr);
    portid_ = o.portid_;
    seq_ = o.seq_;
  }
  return *this;
}

NetlinkSocket::~NetlinkSocket() {
  if (nl_) mnl_socket_close(nl_);
}

int NetlinkSocket::fd() const { return mnl_socket_get_fd(nl_); }

Expected<void> NetlinkSocket::exchange(
    nl::Message& m, const std::string& what,
    const std::function<Expected<void>(std::span<const uint8_t>)>* fn) {
  nlmsghdr* h = m.header();
  h->nlmsg_seq = ++seq_;
  if (mnl_socket_sendto(nl_, h, h->nlmsg_len) < 0)
    return fail(fmt::format("{}: netlink send: {}", what, errno_text(errno)));
  std::vector<uint8_t> buf(kReceiveBuffer);
  while (true) {
    const ssize_t n = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(fmt::format("{}: netlink receive: {}", what, errno_text(errno)));
    }
    auto w = walk({buf.data(), static_cast<size_t>(n)}, seq_, portid_, fn);
    if (!w) return fail(what + ": " + w.error().message);
    if (!w->done) continue;
    if (w->ack && w->ack->error != 0) {
      std::string text = what + ": " + errno_text(-w->ack->error);
      if (!w->ack->message.empty()) text += " (" + w->ack->message + ")";
      return fail(std::move(text));
    }
    return {};
  }
}

Expected<void> NetlinkSocket::request(nl::Message& m, const std::string& what) {
  return exchange(m, what, nullptr);
}

Expected<void> NetlinkSocket::query(
    nl::Message& m, const std::string& what,
    const std::function<Expected<void>(std::span<const uint8_t>)>& fn) {
  return exchange(m, what, &fn);
}

Expected<void> NetlinkSocket::send_batch(size_t count,
                                         const std::function<nl::Message(size_t)>& build,
                                         const std::function<void(size_t, std::string)>& failed) {
  // Well under the socket's send buffer (the kernel refuses a datagram larger than it).
  constexpr size_t kDatagram = 56 * 1024;
  std::vector<uint8_t> out;
  out.reserve(kDatagram + 4096);
  std::vector<uint8_t> buf(kReceiveBuffer);
  size_t next = 0;
  std::optional<nl::Message> m;  // made, not in a datagram yet
  while (next < count) {
    out.clear();
    const size_t first = next;
    const uint32_t first_seq = seq_ + 1;
    while (next < count) {
      if (!m) m.emplace(build(next));
      nlmsghdr* h = m->header();
      if (out.size() + NLMSG_ALIGN(h->nlmsg_len) > kDatagram) break;
      h->nlmsg_flags = static_cast<uint16_t>(h->nlmsg_flags & ~NLM_F_ACK);
      h->nlmsg_seq = ++seq_;
      const auto* p = reinterpret_cast<const uint8_t*>(h);
      out.insert(out.end(), p, p + h->nlmsg_len);
      out.resize(out.size() + (NLMSG_ALIGN(h->nlmsg_len) - h->nlmsg_len), 0);
      m.reset();
      ++next;
    }
    nlmsghdr barrier{};
    barrier.nlmsg_len = sizeof barrier;
    barrier.nlmsg_type = NLMSG_NOOP;
    barrier.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    barrier.nlmsg_seq = ++seq_;
    const auto* bp = reinterpret_cast<const uint8_t*>(&barrier);
    out.insert(out.end(), bp, bp + sizeof barrier);
    if (mnl_socket_sendto(nl_, out.data(), out.size()) < 0)
      return fail(fmt::format("netlink send of {} changes: {}", next - first, errno_text(errno)));
    bool lost = false;
    for (bool done = false; !done;) {
      if (lost) {  // the barrier's ACK may be lost too: do not wait for it forever
        pollfd p{fd(), POLLIN, 0};
        if (poll(&p, 1, 1000) <= 0) break;
      }
      const ssize_t n = recv(fd(), buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == ENOBUFS) {  // replies were dropped: which changes failed is unknown
          lost = true;
          continue;
        }
        return fail("netlink receive: " + errno_text(errno));
      }
      size_t at = 0;
      const size_t len = static_cast<size_t>(n);
      while (len - at >= sizeof(nlmsghdr)) {
        nlmsghdr h;
        std::memcpy(&h, buf.data() + at, sizeof h);
        if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > len - at) break;
        auto msg = std::span<const uint8_t>(buf.data() + at, h.nlmsg_len);
        at += std::min<size_t>(NLMSG_ALIGN(h.nlmsg_len), len - at);
        if (h.nlmsg_pid != portid_ || h.nlmsg_type != NLMSG_ERROR) continue;
        if (h.nlmsg_seq == barrier.nlmsg_seq) {
          done = true;
          continue;
        }
        if (h.nlmsg_seq < first_seq || h.nlmsg_seq >= barrier.nlmsg_seq) continue;  // stale
        auto ack = nl::parse_ack(msg);
        const size_t i = first + (h.nlmsg_seq - first_seq);
        if (!ack) {
          failed(i, ack.error().message);
        } else if (ack->error != 0) {
          std::string text = errno_text(-ack->error);
          if (!ack->message.empty()) text += " (" + ack->message + ")";
          failed(i, std::move(text));
        }
      }
    }
    if (lost)
      for (size_t i = first; i < next; ++i)
        failed(i, "netlink: the kernel's replies were lost (receive buffer overran)");
  }
  return {};
}

Expected<bool> NetlinkSocket::drain(const std::function<void(std::span<const uint8_t>)>& fn) {
  std::vector<uint8_t> buf(kReceiveBuffer);
  bool lost = false;
  while (true) {
    const ssize_t n = recv(fd(), buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return !lost;
      if (errno == ENOBUFS) {
        // Overrun: events were dropped. What is queued still comes, so that the socket has room
        // again before the caller reads the kernel's state.
        lost = true;
        continue;
      }
      return fail("netlink monitor: " + errno_text(errno));
    }
    size_t at = 0;
    const size_t len = static_cast<size_t>(n);
    while (len - at >= sizeof(nlmsghdr)) {
      nlmsghdr h;
      std::memcpy(&h, buf.data() + at, sizeof h);
      if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > len - at) break;  // torn: drop the rest
      fn({buf.data() + at, h.nlmsg_len});
      at += std::min<size_t>(NLMSG_ALIGN(h.nlmsg_len), len - at);
    }
  }
}

Expected<void> Monitor::set_receive_buffer(int bytes) {
  if (setsockopt(sock_.fd(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
    return fail("netlink monitor: receive buffer: " + errno_text(errno));
  return {};
}

// ---- NetlinkKernel
// -------------------------------------------------------------------------------

Expected<std::unique_ptr<NetlinkKernel>> NetlinkKernel::open() {
  auto s = NetlinkSocket::open();
  if (!s) return unexpected(std::move(s.error()));
  return std::unique_ptr<NetlinkKernel>(new NetlinkKernel(std::move(*s)));
}

Expected<std::unique_ptr<NetlinkKernel>> NetlinkKernel::open_in(int netns_fd) {
  // A netlink socket belongs to the namespace of the thread that made it: make it there and
  // come back.
  const int home = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) return fail("cannot open our own network namespace: " + errno_text(errno));
  if (::setns(netns_fd, CLONE_NEWNET) != 0) {
    const int e = errno;
    ::close(home);
    return fail("cannot enter the network namespace: " + errno_text(e));
  }
  auto s = NetlinkSocket::open();
  if (::setns(home, CLONE_NEWNET) != 0) PANIC("cannot return to the daemon's network namespace");
  ::close(home);
  if (!s) return unexpected(std::move(s.error()));
  return std::unique_ptr<NetlinkKernel>(new NetlinkKernel(std::move(*s)));
}

std::string NetlinkKernel::link_name(int ifindex) { return fmt::format("link {}", ifindex); }

namespace {

template <typename T, typename Parse>
Expected<std::vector<T>> collect(NetlinkSocket& s, nl::Message m, const std::string& what,
                                 Parse parse) {
  std::vector<T> out;
  auto ok = s.query(m, what, [&](std::span<const uint8_t> msg) -> Expected<void> {
    auto v = parse(msg);
    if (!v) return unexpected(std::move(v.error()));
    if constexpr (std::is_same_v<std::decay_t<decltype(*v)>, std::optional<T>>) {
      if (*v) out.push_back(std::move(**v));
    } else {
      out.push_back(std::move(*v));
    }
    return {};
  });
  if (!ok) return unexpected(std::move(ok.error()));
  return out;
}

std::string ip_text(const IpAddress& a) { return a.to_string(); }

}  // namespace

Expected<std::vector<Link>> NetlinkKernel::links() {
  return collect<Link>(sock_, nl::dump(RTM_GETLINK, AF_UNSPEC), "RTM_GETLINK dump", nl::parse_link);
}

Expected<Link> NetlinkKernel::link(const std::string& name) {
  nl::Message m(RTM_GETLINK, NLM_F_ACK);  // the reply, then an ACK that ends the exchange
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(m.header(), sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(m.header(), IFLA_IFNAME, name.c_str());
  auto v = collect<Link>(sock_, m, "RTM_GETLINK " + name, nl::parse_link);
  if (!v) return unexpected(std::move(v.error()));
  if (v->size() != 1) return fail(fmt::format("RTM_GETLINK {}: {} answers", name, v->size()));
  return std::move(v->front());
}

Expected<std::optional<Link>> NetlinkKernel::find_link(const std::string& name) {
  // The kernel answers ENODEV for an unknown name; the name is checked the way the kernel does,
  // so that an invalid one is "none" and not an error either.
  if (name.empty() || name.size() > 15) return std::optional<Link>();  // IFNAMSIZ - 1
  auto l = link(name);
  if (l) return std::optional<Link>(std::move(*l));
  if (l.error().message.find(errno_text(ENODEV)) != std::string::npos) return std::optional<Link>();
  return unexpected(std::move(l.error()));
}

Expected<Link> NetlinkKernel::add_link(const LinkSpec& spec) {
  auto m = nl::new_link(spec);
  if (auto ok = sock_.request(m, fmt::format("RTM_NEWLINK {} ({})", spec.name, spec.kind)); !ok)
    return unexpected(std::move(ok.error()));
  auto l = link(spec.name);
  // The kernel sets IFLA_IFALIAS only on an existing link, not at creation.
  if (l && l->alias != spec.alias) {
    if (auto ok = set_link(l->index, {.alias = spec.alias}); !ok)
      return unexpected(std::move(ok.error()));
    l->alias = spec.alias;
  }
  return l;
}

Expected<void> NetlinkKernel::set_link(int ifindex, const LinkChange& change) {
  auto m = nl::set_link(ifindex, change);
  return sock_.request(m, "RTM_NEWLINK " + link_name(ifindex));
}

Expected<void> NetlinkKernel::set_bridge_port(int ifindex, const BridgePortInfo& port) {
  auto m = nl::set_bridge_port(ifindex, port);
  return sock_.request(m, "RTM_NEWLINK bridge port " + link_name(ifindex));
}

Expected<void> NetlinkKernel::delete_link(int ifindex) {
  auto m = nl::del_link(ifindex);
  return sock_.request(m, "RTM_DELLINK " + link_name(ifindex));
}

Expected<std::vector<Address>> NetlinkKernel::addresses() {
  return collect<Address>(sock_, nl::dump(RTM_GETADDR, AF_UNSPEC), "RTM_GETADDR dump",
                          nl::parse_address);
}

Expected<void> NetlinkKernel::add_address(const Address& a) {
  auto m = nl::new_address(a);
  return sock_.request(m, fmt::format("RTM_NEWADDR {} on {}", a.to_string(), link_name(a.ifindex)));
}

Expected<void> NetlinkKernel::delete_address(const Address& a) {
  auto m = nl::del_address(a);
  return sock_.request(m, fmt::format("RTM_DELADDR {} on {}", a.to_string(), link_name(a.ifindex)));
}

namespace {

// NETLINK_GET_STRICT_CHK on the request socket for one filtered dump, off again after it (the
// other requests are built for the kernel's lax checking). `on`: the kernel has it (4.20).
class StrictChecking {
 public:
  explicit StrictChecking(int fd) : fd_(fd) {
    int one = 1;
    on = setsockopt(fd_, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one) == 0;
  }
  ~StrictChecking() {
    int zero = 0;
    if (on) setsockopt(fd_, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &zero, sizeof zero);
  }
  StrictChecking(const StrictChecking&) = delete;
  StrictChecking& operator=(const StrictChecking&) = delete;
  bool on = false;

 private:
  int fd_;
};

}  // namespace

Expected<std::vector<Route>> NetlinkKernel::routes(uint32_t table) {
  // Only the table's routes, not every table's (main may hold a full routing table): the kernel
  // filters a route dump by RTA_TABLE on a socket with NETLINK_GET_STRICT_CHK, per family (with
  // AF_UNSPEC every family's dump sees the request, and MPLS refuses RTA_TABLE). Without strict
  // checking (a kernel before 4.20) it sends every table, and the filter below does the work.
  int on = 1;
  const bool strict =
      setsockopt(sock_.fd(), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &on, sizeof on) == 0;
  std::vector<Route> out;
  Expected<void> status;
  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
    auto v = collect<Route>(sock_, nl::dump_routes(family, table),
                            fmt::format("RTM_GETROUTE dump of table {}", table), nl::parse_route);
    if (!v) {
      // "ipv4: FIB table does not exist": a table is made with its first route.
      if (strict && v.error().message.find(errno_text(ENOENT)) != std::string::npos) continue;
      status = unexpected(std::move(v.error()));
      break;
    }
    out.insert(out.end(), v->begin(), v->end());
  }
  int off = 0;
  if (strict) setsockopt(sock_.fd(), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &off, sizeof off);
  if (!status) return unexpected(std::move(status.error()));
  std::erase_if(out, [&](const Route& r) { return r.table != table; });
  return out;
}

Expected<void> NetlinkKernel::replace_route(const Route& r) {
  auto m = nl::replace_route(r);
  return sock_.request(m, "RTM_NEWROUTE " + r.dst.to_string());
}

Expected<void> NetlinkKernel::add_route(const Route& r) {
  auto m = nl::add_route(r);
  return sock_.request(m, "RTM_NEWROUTE " + r.dst.to_string());
}

Expected<void> NetlinkKernel::delete_route(const Route& r) {
  auto m = nl::del_route(r);
  return sock_.request(m, "RTM_DELROUTE " + r.dst.to_string());
}

Expected<std::vector<Rule>> NetlinkKernel::rules() {
  std::vector<Rule> out;
  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
    auto v =
        collect<Rule>(sock_, nl::dump(RTM_GETRULE, family), "RTM_GETRULE dump", nl::parse_rule);
    if (!v) return unexpected(std::move(v.error()));
    out.insert(out.end(), v->begin(), v->end());
  }
  return out;
}

Expected<void> NetlinkKernel::add_rule(const Rule& r) {
  auto m = nl::add_rule(r);
  return sock_.request(m, "RTM_NEWRULE " + r.to_string());
}

Expected<void> NetlinkKernel::delete_rule(const Rule& r) {
  auto m = nl::del_rule(r);
  return sock_.request(m, "RTM_DELRULE " + r.to_string());
}

Expected<std::string> NetlinkKernel::sysctl(const std::string& key) {
  const std::string path = "/proc/sys/" + key;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("sysctl " + key + ": " + errno_text(errno));
  char buf[256];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  const int e = errno;
  ::close(fd);
  if (n < 0) return fail("sysctl " + key + ": " + errno_text(e));
  std::string v(buf, static_cast<size_t>(n));
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
  return v;
}

Expected<void> NetlinkKernel::set_sysctl(const std::string& key, const std::string& value) {
  const std::string path = "/proc/sys/" + key;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail("sysctl " + key + ": " + errno_text(errno));
  const ssize_t n = ::write(fd, value.data(), value.size());
  const int e = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size()))
    return fail("sysctl " + key + "=" + value + ": " + errno_text(e));
  return {};
}

Expected<std::vector<Neighbour>> NetlinkKernel::neighbours() {
  std::vector<Neighbour> out;
  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
    auto v = collect<Neighbour>(sock_, nl::dump(RTM_GETNEIGH, family), "RTM_GETNEIGH dump",
                                nl::parse_neighbour);
    if (!v) return unexpected(std::move(v.error()));
    out.insert(out.end(), v->begin(), v->end());
  }
  return out;
}

Expected<std::vector<Neighbour>> NetlinkKernel::neighbours_of(int ifindex) {
  StrictChecking strict(sock_.fd());
  if (!strict.on) return Kernel::neighbours_of(ifindex);  // the whole table, filtered here
  std::vector<Neighbour> out;
  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
    auto v = collect<Neighbour>(sock_, nl::dump_neighbours(family, ifindex, 0),
                                fmt::format("RTM_GETNEIGH dump of {}", link_name(ifindex)),
                                nl::parse_neighbour);
    if (!v) return unexpected(std::move(v.error()));
    out.insert(out.end(), v->begin(), v->end());
  }
  std::erase_if(out, [&](const Neighbour& n) { return n.ifindex != ifindex; });
  return out;
}

Expected<void> NetlinkKernel::replace_neighbour(const Neighbour& n) {
  auto m = nl::replace_neighbour(n);
  return sock_.request(m,
                       fmt::format("RTM_NEWNEIGH {} on {}", ip_text(n.ip), link_name(n.ifindex)));
}

Expected<void> NetlinkKernel::delete_neighbour(const Neighbour& n) {
  auto m = nl::del_neighbour(n);
  return sock_.request(m,
                       fmt::format("RTM_DELNEIGH {} on {}", ip_text(n.ip), link_name(n.ifindex)));
}

Expected<std::vector<FdbEntry>> NetlinkKernel::fdb() {
  return collect<FdbEntry>(sock_, nl::dump(RTM_GETNEIGH, AF_BRIDGE), "RTM_GETNEIGH AF_BRIDGE dump",
                           nl::parse_fdb);
}

Expected<std::vector<FdbEntry>> NetlinkKernel::bridge_fdb(int bridge) {
  StrictChecking strict(sock_.fd());
  if (!strict.on) return Kernel::bridge_fdb(bridge);
  return collect<FdbEntry>(sock_, nl::dump_neighbours(AF_BRIDGE, 0, bridge),
                           fmt::format("RTM_GETNEIGH AF_BRIDGE dump of {}", link_name(bridge)),
                           nl::parse_fdb);
}

Expected<std::vector<FdbEntry>> NetlinkKernel::device_fdb(int ifindex) {
  StrictChecking strict(sock_.fd());
  if (!strict.on) return Kernel::device_fdb(ifindex);
  auto v = collect<FdbEntry>(sock_, nl::dump_neighbours(AF_BRIDGE, ifindex, 0),
                             fmt::format("RTM_GETNEIGH AF_BRIDGE dump of {}", link_name(ifindex)),
                             nl::parse_fdb);
  if (!v) return unexpected(std::move(v.error()));
  std::erase_if(*v, [&](const FdbEntry& e) { return e.ifindex != ifindex; });
  return v;
}

Expected<void> NetlinkKernel::add_fdb(const FdbEntry& e, bool append) {
  auto m = nl::add_fdb(e, append);
  return sock_.request(
      m, fmt::format("RTM_NEWNEIGH fdb {}{} on {}", e.mac.to_string(),
                     e.dst ? " dst " + e.dst->to_string() : "", link_name(e.ifindex)));
}

Expected<void> NetlinkKernel::delete_fdb(const FdbEntry& e) {
  auto m = nl::del_fdb(e);
  return sock_.request(
      m, fmt::format("RTM_DELNEIGH fdb {}{} on {}", e.mac.to_string(),
                     e.dst ? " dst " + e.dst->to_string() : "", link_name(e.ifindex)));
}

std::vector<ChangeError> NetlinkKernel::apply(std::span<const EntryChange> changes) {
  auto build = [&](size_t i) {
    const EntryChange& c = changes[i];
    switch (c.kind) {
      case EntryChange::Kind::AddFdb:
        return nl::add_fdb(c.fdb, false);
      case EntryChange::Kind::AppendFdb:
        return nl::add_fdb(c.fdb, true);
      case EntryChange::Kind::DeleteFdb:
        return nl::del_fdb(c.fdb);
      case EntryChange::Kind::ReplaceNeighbour:
        return nl::replace_neighbour(c.neighbour);
      case EntryChange::Kind::ReplaceRoute:
        return nl::replace_route(c.route);
      case EntryChange::Kind::DeleteRoute:
        return nl::del_route(c.route);
      case EntryChange::Kind::DeleteNeighbour:
        break;
    }
    return nl::del_neighbour(c.neighbour);
  };
  auto what = [&](const EntryChange& c) {
    switch (c.kind) {
      case EntryChange::Kind::AddFdb:
      case EntryChange::Kind::AppendFdb:
      case EntryChange::Kind::DeleteFdb:
        return fmt::format("{} fdb {}{} on {}",
                           c.kind == EntryChange::Kind::DeleteFdb ? "RTM_DELNEIGH" : "RTM_NEWNEIGH",
                           c.fdb.mac.to_string(), c.fdb.dst ? " dst " + c.fdb.dst->to_string() : "",
                           link_name(c.fdb.ifindex));
      case EntryChange::Kind::ReplaceRoute:
        return "RTM_NEWROUTE " + c.route.dst.to_string();
      case EntryChange::Kind::DeleteRoute:
        return "RTM_DELROUTE " + c.route.dst.to_string();
      case EntryChange::Kind::ReplaceNeighbour:
      case EntryChange::Kind::DeleteNeighbour:
        break;
    }
    return fmt::format(
        "{} {} on {}",
        c.kind == EntryChange::Kind::DeleteNeighbour ? "RTM_DELNEIGH" : "RTM_NEWNEIGH",
        ip_text(c.neighbour.ip), link_name(c.neighbour.ifindex));
  };
  std::vector<ChangeError> out;
  auto ok = sock_.send_batch(changes.size(), build, [&](size_t i, std::string reason) {
    out.push_back({i, Error{what(changes[i]) + ": " + reason}});
  });
  if (!ok) {
    // Nothing more is known: every change not reported yet counts as failed.
    std::vector<bool> reported(changes.size());
    for (const auto& e : out) reported[e.index] = true;
    for (size_t i = 0; i < changes.size(); ++i)
      if (!reported[i]) out.push_back({i, Error{what(changes[i]) + ": " + ok.error().message}});
  }
  return out;
}

// ---- Monitor ------------------------------------------------------------------------------------

Expected<Monitor> Monitor::open(bool ignore_extern_adds) {
  auto s =
      NetlinkSocket::open(RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR);
  if (!s) return unexpected(std::move(s.error()));
  if (ignore_extern_adds) {
    // Classic BPF over each event (one netlink message): drop RTM_NEWNEIGH whose ndm_flags have
    // NTF_EXT_LEARNED, keep everything else. Loads are big-endian: the host-order type is
    // compared as htons().
    sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, offsetof(nlmsghdr, nlmsg_type)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htons(RTM_NEWNEIGH), 0, 3),
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, sizeof(nlmsghdr) + offsetof(ndmsg, ndm_flags)),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, NTF_EXT_LEARNED, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0),           // drop
        BPF_STMT(BPF_RET | BPF_K, 0xffffffff),  // keep
    };
    sock_fprog prog{static_cast<unsigned short>(std::size(code)), code};
    if (setsockopt(s->fd(), SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0)
      return fail("netlink monitor: cannot attach the event filter: " + errno_text(errno));
  }
  return Monitor(std::move(*s));
}

Expected<bool> Monitor::read(const std::function<void(const Event&)>& fn,
                             const std::function<void(const Error&)>& bad) {
  return sock_.drain([&](std::span<const uint8_t> msg) {
    auto e = nl::parse_event(msg);
    if (!e) {
      bad(e.error());
      return;
    }
    if (*e) fn(**e);
  });
}

}  // namespace isthmus::kernel
