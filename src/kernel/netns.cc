#include "kernel/netns.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/bug.h"

namespace isthmus::kernel {

namespace {
std::string errno_text(int e) { return std::strerror(e); }

// What a file that is not a regular one is, for an error.
const char* file_kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

const char* namespace_kind(int type) {
  switch (type) {
    case CLONE_NEWNS:
      return "a mount namespace";
    case CLONE_NEWUTS:
      return "a UTS namespace";
    case CLONE_NEWIPC:
      return "an IPC namespace";
    case CLONE_NEWUSER:
      return "a user namespace";
    case CLONE_NEWPID:
      return "a PID namespace";
    case CLONE_NEWCGROUP:
      return "a cgroup namespace";
    default:
      return "a namespace of another kind";
  }
}

// Whether the open namespace `fd` is a network namespace, and not the daemon's.
Expected<void> check_netns(int fd, const std::string& path) {
  const std::string what = "network namespace " + path;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(what + ": " + errno_text(errno));
  if (!S_ISREG(st.st_mode))
    return fail(what + " is " + file_kind(st.st_mode) + ", not a network namespace");
  struct statfs fs {};
  if (::fstatfs(fd, &fs) != 0) return fail(what + ": " + errno_text(errno));
  if (fs.f_type != NSFS_MAGIC)
    return fail(what + " is not a network namespace: a file outside nsfs (a namespace is " +
                "/proc/PID/ns/net, or a file a namespace is bind-mounted on)");
  const int type = ::ioctl(fd, NS_GET_NSTYPE);
  if (type < 0) return fail(what + ": cannot tell its kind (NS_GET_NSTYPE): " + errno_text(errno));
  if (type != CLONE_NEWNET)
    return fail(what + " is " + namespace_kind(type) + ", not a network namespace");
  struct stat own {};
  if (::stat("/proc/thread-self/ns/net", &own) != 0)
    return fail(what +
                ": the agent's own namespace: /proc/thread-self/ns/net: " + errno_text(errno));
  if (own.st_dev == st.st_dev && own.st_ino == st.st_ino)
    return fail(what + " is the agent's own network namespace (the host's), not a workload's");
  return {};
}
}  // namespace

Expected<Netns> Netns::open(const std::string& path) {
  if (path.empty()) return fail("no network namespace given");
  // Looked at before it is opened: a FIFO, a device or a directory is never opened (opening a
  // FIFO waits for a writer, a device's open may do anything); O_NONBLOCK covers a file swapped
  // for a FIFO in between, and what was opened is checked again.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int e = errno;
    if (e == ENOENT) return fail("network namespace " + path + " does not exist");
    return fail("network namespace " + path + ": " + errno_text(e));
  }
  if (!S_ISREG(st.st_mode))
    return fail("network namespace " + path + " is " + file_kind(st.st_mode) +
                ", not a network namespace");
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT) return fail("network namespace " + path + " does not exist");
    return fail("network namespace " + path + ": " + errno_text(e));
  }
  if (auto ok = check_netns(fd, path); !ok) {
    ::close(fd);
    return unexpected(std::move(ok.error()));
  }
  auto k = NetlinkKernel::open_in(fd);
  if (!k) {
    ::close(fd);
    return fail("network namespace " + path + ": " + k.error().message);
  }
  return Netns(fd, std::move(*k));
}

Netns::Netns(Netns&& o) noexcept : fd_(std::exchange(o.fd_, -1)), kernel_(std::move(o.kernel_)) {}

Netns& Netns::operator=(Netns&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    kernel_ = std::move(o.kernel_);
  }
  return *this;
}

Netns::~Netns() {
  if (fd_ >= 0) ::close(fd_);
}

Expected<void> create_tap(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ)
    return fail("tap name \"" + name + "\" must have 1.." + std::to_string(IFNAMSIZ - 1) +
                " characters");
  const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return fail("tap " + name + ": /dev/net/tun: " + errno_text(errno));
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::memcpy(ifr.ifr_name, name.c_str(), name.size());
  if (::ioctl(fd, TUNSETIFF, &ifr) != 0 || ::ioctl(fd, TUNSETPERSIST, 1) != 0) {
    const int e = errno;
    ::close(fd);
    return fail("tap " + name + ": " + errno_text(e));
  }
  ::close(fd);
  return {};
}

}  // namespace isthmus::kernel
