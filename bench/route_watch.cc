// route_watch: the tenant benchmark's probe of a host's kernel. It counts, from the kernel's own
// netlink route events (no polling: a dump of a 100k-route table holds the RTNL lock the daemon
// under test needs), the IPv4 routes of one routing table whose destination is a /30 of
// 100.64.0.0/10: the prefixes bgp_blast sends (bench/bgp_blast.cc, --l3vni).
//
//   route_watch --table T --routes N
//     prints {"event":"ready",..} once it listens, {"event":"progress",..} every second, and
//     {"event":"complete","t":..,"routes":..} the moment table T holds at least N such routes
//     (CLOCK_REALTIME seconds), then exits.
//
// It reads the table once at start (what is there already counts) and again whenever the kernel
// dropped events (ENOBUFS: its receive buffer, 256 MB, overran). Exit status 1 on an error.
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "route_watch: %s\n", msg.c_str());
  std::exit(1);
}

double now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

constexpr uint32_t kBase = 0x64400000u;  // 100.64.0.0/10, cut into 2^20 /30s

class Count {
 public:
  explicit Count(uint32_t table) : table_(table), held_(1u << 20) {}

  // One route message (RTM_NEWROUTE or RTM_DELROUTE); anything else is ignored.
  void on_message(const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWROUTE && h->nlmsg_type != RTM_DELROUTE) return;
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) return;
    const auto* r = static_cast<const rtmsg*>(NLMSG_DATA(h));
    if (r->rtm_family != AF_INET || r->rtm_dst_len != 30) return;
    uint32_t table = r->rtm_table, dst = 0;
    bool have_dst = false;
    int len = static_cast<int>(RTM_PAYLOAD(h));
    for (const rtattr* a = RTM_RTA(r); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      if (a->rta_type == RTA_TABLE && RTA_PAYLOAD(a) == 4) std::memcpy(&table, RTA_DATA(a), 4);
      if (a->rta_type == RTA_DST && RTA_PAYLOAD(a) == 4) {
        std::memcpy(&dst, RTA_DATA(a), 4);
        dst = ntohl(dst);
        have_dst = true;
      }
    }
    if (table != table_ || !have_dst || (dst & 0xffc00000u) != kBase) return;
    const size_t i = (dst - kBase) >> 2;
    const bool present = h->nlmsg_type == RTM_NEWROUTE;
    if (held_[i] != present) {
      held_[i] = present;
      count_ += present ? 1 : static_cast<size_t>(-1);
    }
  }
  void clear() {
    held_.assign(held_.size(), false);
    count_ = 0;
  }
  size_t count() const { return count_; }

 private:
  uint32_t table_;
  std::vector<bool> held_;
  size_t count_ = 0;
};

int open_socket(uint32_t groups) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) die(std::string("socket: ") + std::strerror(errno));
  sockaddr_nl a{};
  a.nl_family = AF_NETLINK;
  a.nl_groups = groups;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    die(std::string("bind: ") + std::strerror(errno));
  return fd;
}

// Feeds every message of the datagrams in buf[0, n) to the count; false at NLMSG_DONE.
bool feed(Count& c, const char* buf, ssize_t n) {
  int left = static_cast<int>(n);
  for (auto* h = reinterpret_cast<const nlmsghdr*>(buf); NLMSG_OK(h, left);
       h = NLMSG_NEXT(h, left)) {
    if (h->nlmsg_type == NLMSG_DONE) return false;
    if (h->nlmsg_type == NLMSG_ERROR) {
      const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
      if (e->error != 0) die(std::string("netlink: ") + std::strerror(-e->error));
      return false;
    }
    c.on_message(h);
  }
  return true;
}

// The whole IPv4 route table of the namespace (every table), counted afresh.
void read_all(Count& c) {
  int fd = open_socket(0);
  struct {
    nlmsghdr h;
    rtmsg r;
  } req{};
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = RTM_GETROUTE;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.h.nlmsg_seq = 1;
  req.r.rtm_family = AF_INET;
  if (send(fd, &req, sizeof req, 0) < 0) die(std::string("send: ") + std::strerror(errno));
  c.clear();
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      die(std::string("recv (dump): ") + std::strerror(errno));
    }
    if (!feed(c, buf.data(), n)) break;
  }
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t table = 0;
  size_t routes = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 == argc) die(a + " needs a value (see the source's header)");
    if (a == "--table")
      table = static_cast<uint32_t>(std::stoul(argv[++i], nullptr, 0));
    else if (a == "--routes")
      routes = std::stoul(argv[++i]);
    else
      die("unknown option " + a + " (see the source's header)");
  }
  if (table == 0 || routes == 0) die("--table and --routes are needed");
  // The monitor first: nothing that changes after the first read is missed.
  int mon = open_socket(RTMGRP_IPV4_ROUTE);
  int size = 256 << 20;
  setsockopt(mon, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  Count c(table);
  read_all(c);
  std::printf("{\"event\":\"ready\",\"t\":%.6f,\"routes\":%zu}\n", now(), c.count());
  std::fflush(stdout);
  size_t resyncs = 0;
  double last_progress = now();
  std::vector<char> buf(1 << 20);
  while (c.count() < routes) {
    pollfd p{mon, POLLIN, 0};
    if (poll(&p, 1, 1000) < 0 && errno != EINTR) die(std::string("poll: ") + std::strerror(errno));
    for (;;) {
      ssize_t n = recv(mon, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        if (errno != ENOBUFS) die(std::string("recv: ") + std::strerror(errno));
        ++resyncs;  // the kernel dropped events: count again from the table
        read_all(c);
        continue;
      }
      feed(c, buf.data(), n);
    }
    if (now() - last_progress >= 1) {
      last_progress = now();
      std::printf("{\"event\":\"progress\",\"t\":%.6f,\"routes\":%zu}\n", last_progress, c.count());
      std::fflush(stdout);
    }
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  std::printf("{\"event\":\"complete\",\"t\":%.6f,\"routes\":%zu,\"resyncs\":%zu,\"cpu\":%.2f}\n",
              now(), c.count(), resyncs, cpu);
  return 0;
}
