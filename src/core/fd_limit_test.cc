#include "core/fd_limit.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace isthmus {
namespace {

// A soft limit below the hard one is raised to it, and what it was is reported.
TEST(FdLimit, RaisesTheSoftLimitToTheHardOne) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_GT(saved.rlim_max, 128u) << "the test needs a hard limit over 128";
  rlimit low = saved;
  low.rlim_cur = 128;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  auto r = raise_fd_limit();
  rlimit now{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  // Raised already: nothing to do.
  auto again = raise_fd_limit();
  ::setrlimit(RLIMIT_NOFILE, &saved);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->before, 128u);
  if (saved.rlim_max == RLIM_INFINITY) {
    EXPECT_EQ(now.rlim_cur, 128u);
    EXPECT_EQ(r->after, 128u);
  } else {
    EXPECT_EQ(now.rlim_cur, saved.rlim_max);
    EXPECT_EQ(r->after, saved.rlim_max);
  }
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->before, again->after);
}

}  // namespace
}  // namespace isthmus
