#include "kernel/netns.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/bug.h"

namespace isthmus::kernel {

namespace {
std::string errno_text(int e) { return std::strerror(e); }
}  // namespace

Expected<Netns> Netns::open(const std::string& path) {
  if (path.empty()) return fail("no network namespace given");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT) return fail("network namespace " + path + " does not exist");
    return fail("network namespace " + path + ": " + errno_text(e));
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
