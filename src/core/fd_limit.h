// The process's limit of open descriptors (RLIMIT_NOFILE). Each client of the daemon's sockets,
// BGP session, namespace and netlink socket is one; the soft limit a service manager or a shell
// starts it with (often 1024) is raised to the hard one at start.
#pragma once

#include <cstdint>

#include "core/expected.h"

namespace isthmus {

struct FdLimit {
  uint64_t before = 0;  // the soft limit found
  uint64_t after = 0;   // the soft limit now (the hard one, unless that is unlimited: see .cc)
};

// Raises the soft limit to the hard one; fails with the reason setrlimit gives.
Expected<FdLimit> raise_fd_limit();

}  // namespace isthmus
