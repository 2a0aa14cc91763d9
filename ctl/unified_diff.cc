#include "ctl/unified_diff.h"

#include <algorithm>
#include <cstdint>

namespace strait::ctl {

namespace {

enum class Op { Same, Removed, Added };

// The edit script that turns `a` into `b`, one Op per line of the output. Removals come before
// the additions that replace them, as `diff -u` prints them.
std::vector<Op> editScript(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  size_t head = 0;
  while (head < a.size() && head < b.size() && a[head] == b[head]) {
    head++;
  }
  size_t tail = 0;
  while (tail < a.size() - head && tail < b.size() - head &&
         a[a.size() - 1 - tail] == b[b.size() - 1 - tail]) {
    tail++;
  }
  size_t na = a.size() - head - tail;
  size_t nb = b.size() - head - tail;
  std::vector<Op> ops(head, Op::Same);
  size_t i = 0;
  size_t j = 0;
  if (na > 0 && nb > 0 && na + 1 <= kMaxTableCells / (nb + 1)) {
    // lcs[i][j]: the length of a longest common subsequence of the middles from line i of a's
    // and line j of b's; walked from the start, it says at each step which side to advance.
    std::vector<uint32_t> lcs((na + 1) * (nb + 1), 0);
    auto at = [&](size_t x, size_t y) -> uint32_t& { return lcs[x * (nb + 1) + y]; };
    for (size_t x = na; x-- > 0;) {
      for (size_t y = nb; y-- > 0;) {
        at(x, y) = a[head + x] == b[head + y] ? at(x + 1, y + 1) + 1
                                              : std::max(at(x + 1, y), at(x, y + 1));
      }
    }
    while (i < na && j < nb) {
      if (a[head + i] == b[head + j]) {
        ops.push_back(Op::Same);
        i++;
        j++;
      } else if (at(i + 1, j) >= at(i, j + 1)) {
        ops.push_back(Op::Removed);
        i++;
      } else {
        ops.push_back(Op::Added);
        j++;
      }
    }
  }
  // What is left of either middle (all of both when the table would be too large).
  ops.insert(ops.end(), na - i, Op::Removed);
  ops.insert(ops.end(), nb - j, Op::Added);
  ops.insert(ops.end(), tail, Op::Same);
  return ops;
}

// A hunk header's range: `before` lines precede the hunk, `count` are in it. As diff -u writes
// it: "l" for one line, "l,s" otherwise, and for an empty range the line it follows.
std::string range(size_t before, size_t count) {
  if (count == 1) {
    return std::to_string(before + 1);
  }
  return std::to_string(count == 0 ? before : before + 1) + "," + std::to_string(count);
}

}  // namespace

std::string unifiedDiff(const std::vector<std::string>& from, const std::vector<std::string>& to,
                        const std::string& from_label, const std::string& to_label,
                        size_t context) {
  std::vector<Op> ops = editScript(from, to);
  std::vector<size_t> changes;  // the indices of the ops that are not Same
  // from_at[k], to_at[k]: the lines of each side before op k.
  std::vector<size_t> from_at(ops.size() + 1, 0);
  std::vector<size_t> to_at(ops.size() + 1, 0);
  for (size_t k = 0; k < ops.size(); k++) {
    if (ops[k] != Op::Same) {
      changes.push_back(k);
    }
    from_at[k + 1] = from_at[k] + (ops[k] != Op::Added ? 1 : 0);
    to_at[k + 1] = to_at[k] + (ops[k] != Op::Removed ? 1 : 0);
  }
  if (changes.empty()) {
    return "";
  }
  std::string out = "--- " + from_label + "\n+++ " + to_label + "\n";
  size_t c = 0;
  while (c < changes.size()) {
    size_t first = changes[c];
    size_t last = first;
    // The next change joins this hunk when the unchanged lines between would be context of both.
    while (c + 1 < changes.size() && changes[c + 1] - last - 1 <= 2 * context) {
      last = changes[++c];
    }
    c++;
    size_t begin = first > context ? first - context : 0;
    size_t end = std::min(ops.size(), last + 1 + context);
    out += "@@ -" + range(from_at[begin], from_at[end] - from_at[begin]) + " +" +
           range(to_at[begin], to_at[end] - to_at[begin]) + " @@\n";
    for (size_t k = begin; k < end; k++) {
      switch (ops[k]) {
        case Op::Same:
          out += " " + from[from_at[k]] + "\n";
          break;
        case Op::Removed:
          out += "-" + from[from_at[k]] + "\n";
          break;
        case Op::Added:
          out += "+" + to[to_at[k]] + "\n";
          break;
      }
    }
  }
  return out;
}

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

}  // namespace strait::ctl
