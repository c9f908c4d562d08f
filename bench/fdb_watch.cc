// fdb_watch: the node agent benchmark's probe of a host's kernel. It counts, from the kernel's
// own netlink events (no polling, so it costs the host under test nearly nothing), the remote
// MACs of a VXLAN device (FDB entries of the device itself with a remote VTEP, NTF_SELF + NDA_DST,
// not the 00:00:00:00:00:00 flood entries) and the neighbour entries of its bridge.
//
//   fdb_watch --vxlan vxlan100 --bridge br100 --macs N [--ips M]
//     prints {"event":"complete","t":..,"macs":..,"ips":..} the moment the kernel holds at least
//     N remote MACs and M neighbours (CLOCK_REALTIME seconds), then exits.
//   fdb_watch --vxlan vxlan100 --bridge br100 --trace
//     prints {"event":"mac","t":..,"mac":..,"dst":..} for every remote MAC that appears and
//     {"event":"ip","t":..,"ip":..,"mac":..} for every neighbour with a MAC, until killed.
//
// It reads the kernel's tables once at start (what is there already counts) and again whenever
// the kernel dropped events (the socket's buffer overran; its buffer is large so that this does
// not happen: a dump of 100k FDB entries takes the kernel seconds, with the RTNL lock held).
// Exit status 1 on a netlink error.
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <set>
#include <string>

#include "kernel/netlink_kernel.h"

using namespace isthmus;
using namespace isthmus::kernel;

namespace {

struct Options {
  std::string vxlan, bridge;
  size_t macs = 0, ips = 0;
  bool trace = false;
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "fdb_watch: %s\n", msg.c_str());
  std::exit(1);
}

double now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class Watch {
 public:
  Watch(const Options& o, int vxlan, int bridge) : o_(o), vxlan_(vxlan), bridge_(bridge) {}

  void on_fdb(bool removed, const FdbEntry& e) {
    if (e.ifindex != vxlan_ || !e.self || !e.dst || e.mac == MacAddress{}) return;
    if (removed) {
      macs_.erase(e.mac);
    } else if (macs_.insert(e.mac).second && o_.trace) {
      std::printf("{\"event\":\"mac\",\"t\":%.6f,\"mac\":\"%s\",\"dst\":\"%s\"}\n", now(),
                  e.mac.to_string().c_str(), e.dst->to_string().c_str());
    }
  }
  void on_neighbour(bool removed, const Neighbour& n) {
    if (n.ifindex != bridge_ || !n.mac) return;
    if (removed) {
      ips_.erase(n.ip);
    } else if (ips_.insert(n.ip).second && o_.trace) {
      std::printf("{\"event\":\"ip\",\"t\":%.6f,\"ip\":\"%s\",\"mac\":\"%s\"}\n", now(),
                  n.ip.to_string().c_str(), n.mac->to_string().c_str());
    }
  }
  // The whole tables again (start, and after the kernel dropped events).
  void read_all(NetlinkKernel& k) {
    auto fdb = k.fdb();
    auto neighbours = k.neighbours();
    if (!fdb || !neighbours) die(!fdb ? fdb.error().message : neighbours.error().message);
    macs_.clear();
    ips_.clear();
    for (const auto& e : *fdb) on_fdb(false, e);
    for (const auto& n : *neighbours) on_neighbour(false, n);
  }
  bool complete() const { return !o_.trace && macs_.size() >= o_.macs && ips_.size() >= o_.ips; }
  size_t macs() const { return macs_.size(); }
  size_t ips() const { return ips_.size(); }

 private:
  const Options& o_;
  int vxlan_, bridge_;
  std::set<MacAddress> macs_;
  std::set<IpAddress> ips_;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (++i == argc) die(a + " needs a value");
      return argv[i];
    };
    if (a == "--vxlan")
      o.vxlan = next();
    else if (a == "--bridge")
      o.bridge = next();
    else if (a == "--macs")
      o.macs = std::stoul(next());
    else if (a == "--ips")
      o.ips = std::stoul(next());
    else if (a == "--trace")
      o.trace = true;
    else
      die("unknown option " + a + " (see the source's header)");
  }
  if (o.vxlan.empty() || o.bridge.empty()) die("--vxlan and --bridge are needed");
  // The monitor first: nothing that changes after the first read is missed.
  auto monitor = Monitor::open();
  if (!monitor) die(monitor.error().message);
  int size = 256 << 20;  // room for every event of a run: no overrun, no re-read
  setsockopt(monitor->fd(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  auto k = NetlinkKernel::open();
  if (!k) die(k.error().message);
  auto vx = (*k)->link(o.vxlan);
  auto br = (*k)->link(o.bridge);
  if (!vx || !br) die(!vx ? vx.error().message : br.error().message);
  // Only the events counted reach this process (classic BPF on each message): neighbour
  // messages of the VXLAN device's own table (NTF_SELF) and of the bridge's neighbour table, not
  // the bridge's FDB entries nor anything else. Ifindex and flags are read in host order.
  const auto vx_index = static_cast<uint32_t>(vx->index),
             br_index = static_cast<uint32_t>(br->index);
  const uint32_t ifindex_at = sizeof(nlmsghdr) + offsetof(ndmsg, ndm_ifindex);
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, offsetof(nlmsghdr, nlmsg_type)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htons(RTM_NEWNEIGH), 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htons(RTM_DELNEIGH), 0, 6),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ifindex_at),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(br_index), 3, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(vx_index), 0, 3),
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, sizeof(nlmsghdr) + offsetof(ndmsg, ndm_flags)),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, NTF_SELF, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0xffffffff),  // keep
      BPF_STMT(BPF_RET | BPF_K, 0),           // drop
  };
  sock_fprog prog{static_cast<unsigned short>(std::size(code)), code};
  if (setsockopt(monitor->fd(), SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0)
    die(std::string("cannot attach the socket filter: ") + std::strerror(errno));
  Watch w(o, vx->index, br->index);
  w.read_all(**k);
  std::printf("{\"event\":\"ready\",\"t\":%.6f,\"macs\":%zu,\"ips\":%zu}\n", now(), w.macs(),
              w.ips());
  std::fflush(stdout);
  size_t resyncs = 0;
  double last_progress = now();
  while (!w.complete()) {
    pollfd p{monitor->fd(), POLLIN, 0};
    if (poll(&p, 1, 1000) < 0 && errno != EINTR) die(std::string("poll: ") + std::strerror(errno));
    auto ok = monitor->read(
        [&](const Event& e) {
          if (const auto* f = std::get_if<FdbEvent>(&e)) w.on_fdb(f->removed, f->entry);
          if (const auto* n = std::get_if<NeighbourEvent>(&e))
            w.on_neighbour(n->removed, n->neighbour);
        },
        [](const Error&) {});
    if (!ok) die(ok.error().message);
    if (!*ok) {  // the kernel dropped events: count again from its tables
      ++resyncs;
      w.read_all(**k);
    }
    if (o.trace) std::fflush(stdout);
    if (!o.trace && now() - last_progress >= 1) {
      last_progress = now();
      std::printf("{\"event\":\"progress\",\"t\":%.6f,\"macs\":%zu,\"ips\":%zu}\n", last_progress,
                  w.macs(), w.ips());
      std::fflush(stdout);
    }
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  std::printf(
      "{\"event\":\"complete\",\"t\":%.6f,\"macs\":%zu,\"ips\":%zu,\"resyncs\":%zu,"
      "\"cpu\":%.2f}\n",
      now(), w.macs(), w.ips(), resyncs, cpu);
  return 0;
}
