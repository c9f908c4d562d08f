#include "bgp/rib/route_table.h"

#include <gtest/gtest.h>

#include "bgp/rib/test_util.h"

namespace isthmus::bgp {
namespace {

TEST(RouteEntry, GrowsToTheHeapAndComesBackInline) {
  AttrStore store;
  AttrRef a = store.intern(testing::attrs({65001}));
  {
    RouteEntry e;
    EXPECT_TRUE(e.empty());
    for (PeerId p = 1; p <= 5; ++p) e.add(p).attrs = a;
    EXPECT_EQ(e.size(), 5u);
    EXPECT_EQ(a.use_count(), 6u);
    e.set_best(2);
    EXPECT_EQ(e.best()->peer, 3u);
    EXPECT_TRUE(e.remove(3));
    EXPECT_EQ(e.best(), nullptr);  // removing clears the best index
    EXPECT_FALSE(e.remove(3));
    EXPECT_EQ(e.find(3), nullptr);
    for (PeerId p : {1u, 2u, 4u}) EXPECT_TRUE(e.remove(p));
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(e.paths()[0].peer, 5u);
    EXPECT_EQ(a.use_count(), 2u);

    RouteEntry moved(std::move(e));
    EXPECT_EQ(moved.size(), 1u);
    EXPECT_TRUE(e.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
    moved.add(6);
    RouteEntry moved_heap(std::move(moved));
    EXPECT_EQ(moved_heap.size(), 2u);
    EXPECT_NE(moved_heap.find(6), nullptr);
  }
  EXPECT_EQ(a.use_count(), 1u);
}

}  // namespace
}  // namespace isthmus::bgp
