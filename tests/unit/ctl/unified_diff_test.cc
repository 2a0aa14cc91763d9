// straitctl diff's unified diff (ctl/unified_diff.h): hunk headers and context as `diff -u`
// prints them, hunks merged when their context touches, the too-large fallback still correct.

#include "ctl/unified_diff.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace strait::ctl {
namespace {

std::vector<std::string> numbered(size_t count, const std::string& prefix = "") {
  std::vector<std::string> out;
  for (size_t i = 1; i <= count; i++) {
    out.push_back(prefix + std::to_string(i));
  }
  return out;
}

// The lines of a diff that start with `mark`, the headers aside.
size_t countLines(const std::string& diff, char mark) {
  size_t n = 0;
  for (const std::string& line : splitLines(diff)) {
    bool header = line.rfind("--- ", 0) == 0 || line.rfind("+++ ", 0) == 0;
    if (!header && !line.empty() && line[0] == mark) {
      n++;
    }
  }
  return n;
}

TEST(UnifiedDiff, EqualTextsGiveNothing) {
  EXPECT_EQ(unifiedDiff(numbered(5), numbered(5), "a", "b"), "");
  EXPECT_EQ(unifiedDiff({}, {}, "a", "b"), "");
}

TEST(UnifiedDiff, OneChangedLineWithThreeLinesOfContext) {
  std::vector<std::string> to = numbered(10);
  to[4] = "five";
  EXPECT_EQ(unifiedDiff(numbered(10), to, "strait-cp/x", "edge-1/x"),
            "--- strait-cp/x\n"
            "+++ edge-1/x\n"
            "@@ -2,7 +2,7 @@\n"
            " 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
}

TEST(UnifiedDiff, RangesOfOneLineAndOfNoLine) {
  EXPECT_EQ(unifiedDiff({"a"}, {"b"}, "f", "t"), "--- f\n+++ t\n@@ -1 +1 @@\n-a\n+b\n");
  // A side with no line in the hunk names the line it follows, 0 at the start.
  EXPECT_EQ(unifiedDiff({}, {"a", "b"}, "f", "t"), "--- f\n+++ t\n@@ -0,0 +1,2 @@\n+a\n+b\n");
  EXPECT_EQ(unifiedDiff({"a", "b"}, {}, "f", "t"), "--- f\n+++ t\n@@ -1,2 +0,0 @@\n-a\n-b\n");
  EXPECT_EQ(unifiedDiff({"a", "b"}, {"a", "b", "c"}, "f", "t"),
            "--- f\n+++ t\n@@ -1,2 +1,3 @@\n a\n b\n+c\n");
}

TEST(UnifiedDiff, ChangesSixLinesApartShareAHunkAndSevenApartDoNot) {
  std::vector<std::string> near = numbered(20);
  near[2] = "x";  // line 3
  near[9] = "y";  // line 10: lines 4..9 between, 6 of them
  std::string one = unifiedDiff(numbered(20), near, "f", "t");
  EXPECT_EQ(std::count(one.begin(), one.end(), '@'), 4) << one;
  EXPECT_NE(one.find("@@ -1,13 +1,13 @@\n"), std::string::npos) << one;

  std::vector<std::string> far = numbered(20);
  far[2] = "x";
  far[10] = "y";  // 7 lines between
  std::string two = unifiedDiff(numbered(20), far, "f", "t");
  EXPECT_EQ(std::count(two.begin(), two.end(), '@'), 8) << two;
  EXPECT_NE(two.find("@@ -1,6 +1,6 @@\n"), std::string::npos) << two;
  EXPECT_NE(two.find("@@ -8,7 +8,7 @@\n"), std::string::npos) << two;
}

TEST(UnifiedDiff, KeepsALongestCommonSubsequence) {
  // An inserted line and a removed one: the lines in common stay context.
  std::string diff = unifiedDiff({"a", "b", "c", "d"}, {"a", "x", "b", "d"}, "f", "t");
  EXPECT_EQ(diff, "--- f\n+++ t\n@@ -1,4 +1,4 @@\n a\n+x\n b\n-c\n d\n");
}

TEST(UnifiedDiff, TooLargeAMiddleIsRemovedAndAddedWhole) {
  // 2100 x 2100 lines that all differ: over kMaxTableCells, so no table; the shared line in the
  // middle is not found, but the diff is still a correct one.
  std::vector<std::string> from = numbered(2100, "a");
  std::vector<std::string> to = numbered(2100, "b");
  from[1000] = to[1000] = "shared";
  ASSERT_GT(2101u * 2101u, kMaxTableCells);
  std::string diff = unifiedDiff(from, to, "f", "t");
  EXPECT_EQ(countLines(diff, '-'), 2100u);
  EXPECT_EQ(countLines(diff, '+'), 2100u);
  EXPECT_NE(diff.find("@@ -1,2100 +1,2100 @@\n"), std::string::npos);
  // Below the limit the shared line is context.
  from.resize(1000 + 1 + 500);
  to.resize(1000 + 1 + 500);
  diff = unifiedDiff(from, to, "f", "t");
  EXPECT_EQ(countLines(diff, '-'), 1500u);
  EXPECT_NE(diff.find("\n shared\n"), std::string::npos);
}

TEST(UnifiedDiff, SplitLines) {
  EXPECT_EQ(splitLines(""), std::vector<std::string>{});
  EXPECT_EQ(splitLines("a\nb\n"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(splitLines("a\n\nb"), (std::vector<std::string>{"a", "", "b"}));
}

}  // namespace
}  // namespace strait::ctl
