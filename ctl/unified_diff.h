#pragma once

// A unified diff of two texts given as lines, as `diff -u` prints it: `--- FROM` and `+++ TO`
// headers, then hunks `@@ -l,s +l,s @@` with `context` lines of unchanged text around each
// change; hunks whose context would touch are merged. The edit script is a longest common
// subsequence of the lines (so the output is minimal) after the common head and tail are set
// aside; when what is left is too large for the table (kMaxTableCells), that middle is shown as
// removed whole and added whole: still a correct diff, no longer a minimal one.

#include <cstddef>
#include <string>
#include <vector>

namespace strait::ctl {

// The LCS table's size limit, in cells of 4 bytes (16 MiB).
inline constexpr size_t kMaxTableCells = size_t{1} << 22;

// "" when the lines are equal; otherwise the headers and hunks, each line ending in "\n".
// `from` and `to` hold lines without their newlines.
std::string unifiedDiff(const std::vector<std::string>& from, const std::vector<std::string>& to,
                        const std::string& from_label, const std::string& to_label,
                        size_t context = 3);

// `text` cut at each "\n" (a last line without one counts too; "" is no line at all).
std::vector<std::string> splitLines(const std::string& text);

}  // namespace strait::ctl
