// Unit tests for ByteReader / ByteWriter: big-endian values, bounds, sub-readers, patching.
#include "core/bytes.h"

#include <gtest/gtest.h>

#include <vector>

namespace isthmus {
namespace {

TEST(ByteReader, ReadsBigEndian) {
  const std::vector<uint8_t> data{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
                                  0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12};
  ByteReader r(data);
  EXPECT_EQ(r.u8(), 0x01);
  EXPECT_EQ(r.u16(), 0x0203);
  EXPECT_EQ(r.u24(), 0x040506u);
  EXPECT_EQ(r.u32(), 0x0708090au);
  EXPECT_EQ(r.u64(), 0x0b0c0d0e0f101112ull);
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.position(), data.size());
}

TEST(ByteReader, HighBitsDoNotSignExtend) {
  const std::vector<uint8_t> data{0xff, 0xfe, 0xff, 0xff, 0xff, 0xfd};
  ByteReader r(data);
  EXPECT_EQ(r.u16(), 0xfffe);
  EXPECT_EQ(r.u32(), 0xfffffffdu);
}

TEST(ByteReader, ReadingPastTheEndIsNulloptAndConsumesNothing) {
  const std::vector<uint8_t> data{0xaa, 0xbb, 0xcc};
  ByteReader r(data);
  EXPECT_EQ(r.u32(), std::nullopt);
  EXPECT_EQ(r.u64(), std::nullopt);
  EXPECT_EQ(r.bytes(4), std::nullopt);
  EXPECT_EQ(r.take(4), std::nullopt);
  EXPECT_EQ((r.array<4>()), std::nullopt);
  EXPECT_FALSE(r.skip(4));
  EXPECT_EQ(r.remaining(), 3u);
  EXPECT_EQ(r.u24(), 0xaabbccu);
  EXPECT_EQ(r.u8(), std::nullopt);
  EXPECT_EQ(r.u16(), std::nullopt);
  EXPECT_EQ(r.u24(), std::nullopt);
  EXPECT_TRUE(r.empty());
  EXPECT_TRUE(r.skip(0));
  auto none = r.bytes(0);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(ByteReader, HugeLengthsDoNotOverflow) {
  const std::vector<uint8_t> data{1, 2, 3};
  ByteReader r(data);
  ASSERT_TRUE(r.u8());
  EXPECT_EQ(r.bytes(SIZE_MAX), std::nullopt);
  EXPECT_EQ(r.take(SIZE_MAX), std::nullopt);
  EXPECT_FALSE(r.skip(SIZE_MAX));
  EXPECT_EQ(r.remaining(), 2u);
}

TEST(ByteReader, EmptyReader) {
  ByteReader r;
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.u8(), std::nullopt);
  EXPECT_TRUE(r.rest().empty());
}

TEST(ByteReader, TakeGivesABoundedSubReader) {
  // A TLV: type 1, length 2, value 0x1234, then a trailing byte the sub-reader must not see.
  const std::vector<uint8_t> data{0x01, 0x02, 0x12, 0x34, 0x99};
  ByteReader r(data);
  ASSERT_EQ(r.u8(), 1);
  auto len = r.u8();
  ASSERT_EQ(len, 2);
  auto value = r.take(*len);
  ASSERT_TRUE(value);
  EXPECT_EQ(r.position(), 4u);  // the outer reader moved past the value
  EXPECT_EQ(value->remaining(), 2u);
  EXPECT_EQ(value->position(), 0u);
  EXPECT_EQ(value->u8(), 0x12);
  EXPECT_EQ(value->u16(), std::nullopt);  // only one byte left inside; 0x99 is outside
  EXPECT_EQ(value->u8(), 0x34);
  EXPECT_TRUE(value->empty());
  EXPECT_EQ(r.u8(), 0x99);
}

TEST(ByteReader, BytesArrayRestAndSkip) {
  const std::vector<uint8_t> data{1, 2, 3, 4, 5, 6};
  ByteReader r(data);
  EXPECT_TRUE(r.skip(1));
  auto a = r.array<2>();
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, (std::array<uint8_t, 2>{2, 3}));
  auto rest = r.rest();
  EXPECT_EQ(std::vector<uint8_t>(rest.begin(), rest.end()), (std::vector<uint8_t>{4, 5, 6}));
  EXPECT_EQ(r.position(), 3u);  // rest() does not consume
  auto b = r.bytes(3);
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)[2], 6);
  EXPECT_TRUE(r.empty());
}

TEST(ByteWriter, WritesBigEndian) {
  ByteWriter w;
  w.u8(0x01);
  w.u16(0x0203);
  w.u24(0x040506);
  w.u32(0x0708090a);
  w.u64(0x0b0c0d0e0f101112ull);
  const std::vector<uint8_t> bytes{3, 4};
  w.bytes(bytes);
  w.zeros(2);
  EXPECT_EQ(w.size(), 22u);
  EXPECT_EQ(w.release(),
            (std::vector<uint8_t>{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
                                  0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 3,    4,    0,    0}));
}

TEST(ByteWriter, AppendsToACallersVector) {
  std::vector<uint8_t> out{0xee};
  ByteWriter w(out);
  w.u16(0xabcd);
  EXPECT_EQ(out, (std::vector<uint8_t>{0xee, 0xab, 0xcd}));
  EXPECT_EQ(w.size(), 3u);
}

TEST(ByteWriter, PatchLengthFieldAfterTheFact) {
  ByteWriter w;
  w.u8(2);  // type
  size_t len_pos = w.size();
  w.u16(0);  // length, unknown yet
  w.u32(0xdeadbeef);
  w.u8(0x7f);
  w.patch_u16(len_pos, static_cast<uint16_t>(w.size() - len_pos - 2));
  w.patch_u8(0, 9);
  EXPECT_EQ(w.data(), (std::vector<uint8_t>{9, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x7f}));
}

#ifndef NDEBUG
TEST(ByteWriterDeathTest, PatchPastTheEndIsABug) {
  ByteWriter w;
  w.u16(0);
  EXPECT_DEATH(w.patch_u16(1, 5), "BUG");
  EXPECT_DEATH(w.patch_u8(2, 5), "BUG");
}
#endif

TEST(ByteWriterReader, RoundTrip) {
  ByteWriter w;
  w.u32(4294967295u);
  w.u24(0xffffff);
  w.u16(0);
  auto bytes = w.release();
  ByteReader r(bytes);
  EXPECT_EQ(r.u32(), 4294967295u);
  EXPECT_EQ(r.u24(), 0xffffffu);
  EXPECT_EQ(r.u16(), 0);
  EXPECT_TRUE(r.empty());
}

}  // namespace
}  // namespace isthmus
