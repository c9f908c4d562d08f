// Network namespaces other than the daemon's (a container's, named by a path such as
// /var/run/netns/NAME or /proc/PID/ns/net), and tap devices for VMs.
#pragma once

#include <memory>
#include <string>

#include "core/expected.h"
#include "kernel/netlink_kernel.h"

namespace isthmus::kernel {

class Netns {
 public:
  // Opens PATH only once it is known to be a network namespace other than the daemon's, without
  // ever blocking (a FIFO or a device is never opened for what it is). Fails with
  // "network namespace PATH does not exist" when it does not (a container that is gone), and
  // says what it is when it is not a network namespace: a FIFO, a device, a directory, a file
  // outside nsfs (an unmounted /var/run/netns entry), a namespace of another kind; or when it is
  // the daemon's own (the thread's: /proc/thread-self/ns/net), whose routes are the host's.
  static Expected<Netns> open(const std::string& path);
  Netns(Netns&&) noexcept;
  Netns& operator=(Netns&&) noexcept;
  ~Netns();
  // For LinkSpec::veth_peer_netns_fd: the other end of a veth goes there.
  int fd() const { return fd_; }
  // rtnetlink inside the namespace.
  Kernel& kernel() { return *kernel_; }

 private:
  Netns(int fd, std::unique_ptr<NetlinkKernel> k) : fd_(fd), kernel_(std::move(k)) {}
  int fd_ = -1;
  std::unique_ptr<NetlinkKernel> kernel_;
};

// A persistent tap device (IFF_TAP, no packet information) in the daemon's namespace, down, for
// QEMU or libvirt to open by name (`-netdev tap,ifname=NAME,script=no`).
Expected<void> create_tap(const std::string& name);

}  // namespace isthmus::kernel
