#include "bgp/rib/route_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "bgp/rib/test_util.h"

namespace isthmus::bgp {
namespace {

using testing::pfx;

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

Prefix random_prefix(std::mt19937& rng, IpFamily family) {
  // A small space (addresses 0..255 of the test ranges, a few lengths), so that inserts hit
  // existing prefixes and erases hit present ones often.
  const auto n = static_cast<uint8_t>(rng() % 256);
  const auto len_pick = static_cast<uint8_t>(rng() % 4);
  if (family == IpFamily::V4) {
    const uint8_t len = static_cast<uint8_t>(29 + len_pick);  // 29..32
    return Prefix(IpAddress::v4(0x64400000u + (uint32_t{n} << 3)), len);
  }
  std::array<uint8_t, 16> b{0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n, 0};
  return Prefix(IpAddress::v6(b), static_cast<uint8_t>(120 + len_pick));
}

class RouteTableModel : public ::testing::TestWithParam<IpFamily> {};

// Random inserts and erases against std::map: every present prefix is found under the id it got,
// ids are unique, erased prefixes are gone, and id order agrees with prefix order (less()).
TEST_P(RouteTableModel, MatchesAMap) {
  const IpFamily family = GetParam();
  std::mt19937 rng(42);
  RouteTable t(family == IpFamily::V4 ? KeyKind::Ipv4 : KeyKind::Ipv6);
  std::map<Prefix, RouteId> model;
  for (int op = 0; op < 20000; ++op) {
    const Prefix p = random_prefix(rng, family);
    if (rng() % 3 != 0) {
      const RouteId id = t.insert(p);
      auto [it, fresh] = model.try_emplace(p, id);
      ASSERT_EQ(it->second, id) << p.to_string();
      if (fresh) t.entry(id).add(1);  // entries start empty
    } else if (auto it = model.find(p); it != model.end()) {
      t.erase(it->second);
      model.erase(it);
    }
    ASSERT_EQ(t.size(), model.size());
    if (op % 1000 != 999) continue;
    std::set<RouteId> ids;
    for (const auto& [prefix, id] : model) {
      ASSERT_EQ(t.find(prefix), id);
      ASSERT_EQ(t.prefix(id), prefix);
      ASSERT_TRUE(t.contains(id));
      ASSERT_EQ(t.entry(id).size(), 1u);
      ids.insert(id);
    }
    ASSERT_EQ(ids.size(), model.size());
    size_t visited = 0;
    t.for_each([&](RouteId id) {
      ++visited;
      EXPECT_TRUE(ids.contains(id));
    });
    ASSERT_EQ(visited, model.size());
    for (auto a = model.begin(), b = std::next(a); b != model.end(); ++a, ++b) {
      ASSERT_TRUE(t.less(a->second, b->second)) << a->first.to_string();
      ASSERT_FALSE(t.less(b->second, a->second)) << a->first.to_string();
    }
  }
  // Prefixes never inserted, and of the other family, are not found.
  EXPECT_EQ(t.find(family == IpFamily::V4 ? pfx("100.65.0.0/16") : pfx("fd01::/64")), kNoRoute);
  EXPECT_EQ(t.find(family == IpFamily::V4 ? pfx("fd00::/120") : pfx("100.64.0.0/29")), kNoRoute);
}

INSTANTIATE_TEST_SUITE_P(Families, RouteTableModel, ::testing::Values(IpFamily::V4, IpFamily::V6));

TEST(RouteTable, ErasedIdsAreReusedAndEntriesStartEmpty) {
  RouteTable t(KeyKind::Ipv4);
  const RouteId a = t.insert(pfx("100.64.1.0/24"));
  const RouteId b = t.insert(pfx("100.64.2.0/24"));
  const RouteId c = t.insert(pfx("100.64.3.0/24"));
  EXPECT_EQ(t.insert(pfx("100.64.2.0/24")), b);  // present: the same id
  t.entry(b).add(7);
  t.erase(b);
  EXPECT_FALSE(t.contains(b));
  EXPECT_EQ(t.find(pfx("100.64.2.0/24")), kNoRoute);
  const RouteId d = t.insert(pfx("100.64.4.0/24"));
  EXPECT_EQ(d, b);
  EXPECT_TRUE(t.entry(d).empty());
  EXPECT_EQ(t.prefix(d), pfx("100.64.4.0/24"));
  EXPECT_EQ(t.find(pfx("100.64.1.0/24")), a);
  EXPECT_EQ(t.find(pfx("100.64.3.0/24")), c);
  EXPECT_EQ(t.size(), 3u);
}

TEST(RouteTable, GrowsPastManyPages) {
  RouteTable t(KeyKind::Ipv4);
  constexpr uint32_t n = 50000;  // > 12 pages, several index doublings
  for (uint32_t i = 0; i < n; ++i)
    ASSERT_EQ(t.insert(Prefix(IpAddress::v4(0x64400000u + i), 32)), i);
  for (uint32_t i = 0; i < n; i += 2) t.erase(i);
  for (uint32_t i = 0; i < n; ++i)
    ASSERT_EQ(t.find(Prefix(IpAddress::v4(0x64400000u + i), 32)), i % 2 ? i : kNoRoute);
  EXPECT_EQ(t.size(), n / 2);
}

TEST(RouteTable, ByteKeys) {
  RouteTable t(KeyKind::Bytes);
  const std::vector<uint8_t> a{2, 0, 1, 0xfd, 0xe8}, b{2, 0, 1}, c{3, 9};
  const RouteId ia = t.insert(a), ib = t.insert(b), ic = t.insert(c);
  EXPECT_EQ(t.insert(a), ia);
  EXPECT_EQ(t.find(b), ib);
  EXPECT_EQ(t.find(std::vector<uint8_t>{2, 0, 1, 0}), kNoRoute);  // a zero more is another key
  EXPECT_TRUE(std::ranges::equal(t.key_bytes(ia), a));
  EXPECT_TRUE(std::ranges::equal(t.key_bytes(ic), c));
  EXPECT_TRUE(t.less(ib, ia));  // a prefix of a longer key sorts first
  EXPECT_TRUE(t.less(ia, ic));
  EXPECT_FALSE(t.less(ic, ib));
  std::vector<uint8_t> longest(RouteTable::kMaxKeyBytes, 0xff);
  const RouteId il = t.insert(longest);
  EXPECT_EQ(t.find(longest), il);
  EXPECT_TRUE(std::ranges::equal(t.key_bytes(il), longest));
  longest.push_back(0);
  EXPECT_EQ(t.find(longest), kNoRoute);                     // too long: never a key
  EXPECT_EQ(t.find(std::span<const uint8_t>{}), kNoRoute);  // empty: never a key
  EXPECT_EQ(t.find(pfx("100.64.0.0/10")), kNoRoute);        // not a prefix table
  t.erase(ia);
  EXPECT_EQ(t.find(a), kNoRoute);
  EXPECT_EQ(t.find(b), ib);
  EXPECT_EQ(t.size(), 3u);
}

TEST(PagedArray, SparseUseAllocatesOnlyWhatItStores) {
  PagedArray<uint32_t> a;
  EXPECT_EQ(a.get(100000), 0u);
  a.set(100000, 0);  // the default: nothing to store
  EXPECT_EQ(a.capacity(), 0u);
  a.set(100000, 7);
  EXPECT_EQ(a.get(100000), 7u);
  EXPECT_EQ(a.get(99999), 0u);
  EXPECT_EQ(a.get(5), 0u);  // a page before it that was never allocated
  a.ensure(5);
  EXPECT_EQ(a[5], 0u);
}

}  // namespace
}  // namespace isthmus::bgp
