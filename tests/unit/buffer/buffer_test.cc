#include "strait/buffer/buffer.h"

#include <gtest/gtest.h>

#include <string>

namespace strait::buffer {
namespace {

TEST(BufferTest, AddDrainAndCopyOut) {
  Buffer b;
  b.add("hello ");
  b.add("world");
  EXPECT_EQ(b.length(), 11u);
  EXPECT_EQ(b.toString(), "hello world");
  b.drain(6);
  EXPECT_EQ(b.toString(), "world");
  b.drain(100);
  EXPECT_TRUE(b.empty());
}

TEST(BufferTest, LargeAddsSpanSlicesAndKeepOrder) {
  Buffer b;
  std::string big;
  for (int i = 0; i < 100000; i++) {
    big.push_back(static_cast<char>('a' + i % 26));
  }
  b.add(big);
  b.add("tail");
  EXPECT_EQ(b.length(), big.size() + 4);
  EXPECT_EQ(b.toString(), big + "tail");
  RawSlice slices[16];
  size_t n = b.frontSlices(slices, 16);
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    total += slices[i].len;
  }
  EXPECT_EQ(total, b.length());
}

TEST(BufferTest, AddCopyLeavesTheSourceWhole) {
  Buffer source;
  std::string big(3 * Buffer::kSliceSize + 17, 'x');
  big[0] = 'a';
  big.back() = 'z';
  source.add(big);
  source.drain(1);  // a source whose first slice is partly read
  Buffer copy;
  copy.add("head:");
  copy.addCopy(source);
  EXPECT_EQ(copy.toString(), "head:" + big.substr(1));
  EXPECT_EQ(source.toString(), big.substr(1));
  Buffer empty;
  copy.addCopy(empty);
  EXPECT_EQ(copy.length(), 5 + big.size() - 1);
}

TEST(BufferTest, MoveAllAndPart) {
  Buffer a;
  Buffer b;
  a.add("0123456789");
  b.add("ab");
  b.move(a, 4);
  EXPECT_EQ(b.toString(), "ab0123");
  EXPECT_EQ(a.toString(), "456789");
  b.move(a);
  EXPECT_EQ(b.toString(), "ab0123456789");
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.length(), 0u);
}

TEST(BufferTest, MoveConstructionTransfersOwnership) {
  Buffer a;
  a.add(std::string(40000, 'x'));
  Buffer b(std::move(a));
  EXPECT_EQ(b.length(), 40000u);
  EXPECT_EQ(a.length(), 0u);  // NOLINT(bugprone-use-after-move): documented empty state
  a.add("y");
  EXPECT_EQ(a.toString(), "y");
}

TEST(BufferTest, DrainAcrossSliceBoundaries) {
  Buffer b;
  std::string data(Buffer::kSliceSize * 3 + 17, 'z');
  data[Buffer::kSliceSize] = 'A';
  b.add(data);
  b.drain(Buffer::kSliceSize);
  char first;
  b.copyOut(1, &first);
  EXPECT_EQ(first, 'A');
  EXPECT_EQ(b.length(), Buffer::kSliceSize * 2 + 17);
}

}  // namespace
}  // namespace strait::buffer
