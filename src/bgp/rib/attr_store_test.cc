#include "bgp/rib/attr_store.h"

#include <gtest/gtest.h>

#include "bgp/rib/test_util.h"

namespace isthmus::bgp {
namespace {

using testing::attrs;

TEST(AttrStore, EqualValuesShareOneNode) {
  AttrStore store;
  AttrRef a = store.intern(attrs({65001}));
  AttrRef b = store.intern(attrs({65001}));
  AttrRef c = store.intern(attrs({65002}));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_NE(a, c);
  EXPECT_EQ(store.size(), 2u);
  EXPECT_EQ(a.use_count(), 2u);
  EXPECT_EQ(*a, attrs({65001}));
}

TEST(AttrStore, FreedWithTheLastReference) {
  AttrStore store;
  {
    AttrRef a = store.intern(attrs({65001}));
    AttrRef copy = a;
    AttrRef moved = std::move(copy);
    EXPECT_EQ(a.use_count(), 2u);
    a.reset();
    EXPECT_EQ(store.size(), 1u);
    EXPECT_EQ(moved.use_count(), 1u);
  }
  EXPECT_EQ(store.size(), 0u);
}

TEST(AttrStore, EveryFieldTakesPart) {
  AttrStore store;
  PathAttributes base = attrs({65001});
  std::vector<PathAttributes> variants(8, base);
  variants[1].med = 0;
  variants[2].local_pref = 100;
  variants[3].communities = {kNoExport};
  variants[4].originator_id = 7;
  variants[5].cluster_list = {7};
  variants[6].next_hop = testing::ip("198.18.1.2");
  variants[7].origin = Origin::Incomplete;
  std::vector<AttrRef> refs;
  for (const auto& v : variants) refs.push_back(store.intern(v));
  EXPECT_EQ(store.size(), variants.size());
  for (size_t i = 0; i < variants.size(); ++i)
    EXPECT_EQ(hash_attrs(variants[i]), hash_attrs(PathAttributes(variants[i])));
}

}  // namespace
}  // namespace isthmus::bgp
