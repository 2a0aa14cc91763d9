#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/upstream/options.h"

namespace strait::testupstream {

// The parts of one request the upstream keeps: the target and the headers, stored in one
// reusable arena so that a keep-alive connection allocates nothing per request once warm.
class RequestRecord {
 public:
  void reset();
  void appendUrl(const char* data, size_t len) { url_.append(data, len); }
  void appendHeaderName(const char* data, size_t len);
  void appendHeaderValue(const char* data, size_t len);

  std::string_view url() const { return url_; }
  std::string_view path() const;
  std::string_view query() const;
  size_t headerCount() const { return headers_.size(); }
  std::string_view headerName(size_t i) const;
  std::string_view headerValue(size_t i) const;
  // The first header with this name (case-insensitive), or an empty view.
  std::string_view findHeader(std::string_view name) const;

 private:
  struct HeaderRef {
    size_t nameOffset{0};
    size_t nameLength{0};
    size_t valueOffset{0};
    size_t valueLength{0};
  };

  std::string url_;
  std::string arena_;
  std::vector<HeaderRef> headers_;
  bool lastWasValue_{true};
};

enum class ResetMode { None, Immediate, AfterHeaders };

// What the response to one request should look like: the command-line defaults, overridden by
// x-upstream-* headers, overridden by query parameters.
struct ResponseControl {
  int status{200};
  bool statusGiven{false};
  uint64_t bodySize{0};
  uint64_t delayMs{0};
  // Set when the request itself asked for a delay: then it is this request's service time.
  bool delayGiven{false};
  // Only /__control reads it: the new capacity of the capacity model.
  uint64_t capacity{0};
  bool capacityGiven{false};
  ResetMode reset{ResetMode::None};
  bool chunked{false};
  bool close{false};
};

ResponseControl resolveControl(const Options& options, const RequestRecord& request);

bool equalsIgnoreCase(std::string_view a, std::string_view b);
const char* reasonPhrase(int status);
void appendNumber(std::string& out, uint64_t value);
// Appends text as a JSON string literal (with quotes). Valid UTF-8 passes through; any other
// byte above 0x7f is escaped as \u00XX so the document stays valid JSON.
void appendJsonString(std::string& out, std::string_view text);

}  // namespace strait::testupstream
