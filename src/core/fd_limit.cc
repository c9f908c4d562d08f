#include "core/fd_limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace isthmus {

Expected<FdLimit> raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return fail(std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno));
  FdLimit out{rl.rlim_cur, rl.rlim_cur};
  // An unlimited hard limit cannot be the soft one (the kernel caps it at fs.nr_open): that is
  // left as it is, as is a soft limit that is the hard one already.
  if (rl.rlim_max == RLIM_INFINITY || rl.rlim_cur >= rl.rlim_max) return out;
  rl.rlim_cur = rl.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0)
    return fail("setrlimit(RLIMIT_NOFILE, " + std::to_string(rl.rlim_max) +
                "): " + std::strerror(errno));
  out.after = rl.rlim_cur;
  return out;
}

}  // namespace isthmus
