#pragma once

// Access log line formatting: pure functions from an Entry to the bytes of one line (ending in
// '\n'), appended to a caller-owned buffer so that a worker reusing one buffer allocates nothing
// per line in the steady state. No nlohmann, no printf on this path.

#include <string>
#include <string_view>

#include "strait/accesslog/entry.h"
#include "strait/accesslog/sink.h"

namespace strait::accesslog {

// Appends `in` as the inside of a JSON string: '"' and '\\' escaped, control characters as
// \n, \r, \t, \b, \f or \u00XX, valid UTF-8 sequences kept as they are, and every byte that is
// not part of a valid UTF-8 sequence (stray continuation bytes, overlong forms, surrogates,
// code points above U+10FFFF, truncated sequences) as \u00XX, so the line is always valid JSON
// and valid UTF-8, and no input can end the line early.
void appendJsonEscaped(std::string& out, std::string_view in);

// Appends `t` as RFC 3339 UTC with milliseconds: "2026-12-02T00:23:10.123Z".
void appendRfc3339(std::string& out, SystemTime t);

// One JSON object with every key always present, then '\n'.
void formatJson(const Entry& entry, std::string& out);

// One Envoy-like text line, then '\n':
// [START] "METHOD PATH PROTOCOL" STATUS FLAGS BYTES_RECEIVED BYTES_SENT DURATION_MS
// UPSTREAM_MS "X-FORWARDED-FOR" "USER-AGENT" "REQUEST-ID" "AUTHORITY" "UPSTREAM_HOST"
// CLUSTER ROUTE DOWNSTREAM_ADDRESS ATTEMPTS WINNING_ATTEMPT
void formatText(const Entry& entry, std::string& out);

inline void format(Format format, const Entry& entry, std::string& out) {
  if (format == Format::Json) {
    formatJson(entry, out);
  } else {
    formatText(entry, out);
  }
}

}  // namespace strait::accesslog
