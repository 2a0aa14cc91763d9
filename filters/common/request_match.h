#pragma once

// Which requests a filter applies to: `match: {prefix, headers, principals}` (all given parts
// must hold). Shared by the fault and bulkhead filters. Immutable after construction; matches()
// is safe from any thread and allocates nothing.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <re2/re2.h>

#include "config/filter_registry.h"
#include "config/types.h"

namespace strait::filters {

// What a filter knows about a request, without the HTTP library's types.
class RequestAttributes {
 public:
  virtual ~RequestAttributes() = default;
  // The path without the query.
  virtual std::string_view path() const = 0;
  // The peer's verified SPIFFE ID; empty when none.
  virtual std::string_view principal() const = 0;
  // The first value of a request header (lower-case name), or nullopt.
  virtual std::optional<std::string_view> header(std::string_view name) const = 0;
};

// enforce | dry_run: the mode every filter takes (config::FilterSettings::mode).
using FilterMode = config::FilterMode;

struct RequestMatchConfig {
  std::string prefix;                          // empty: any path
  std::vector<config::HeaderMatcher> headers;  // all of them
  std::vector<std::string> principals;         // any of them; empty: any request
};

// The one principal pattern matcher (mtls_authz uses it too): "spiffe://td/ns/web" (exact),
// "spiffe://td/ns/*" (a trailing `*` matches the rest, slashes included), "spiffe://td/ns/*/sa/web"
// (an inner `*` matches one path segment), or "*" (any verified principal). An empty principal
// matches nothing.
bool principalMatches(std::string_view pattern, std::string_view principal);

class RequestMatcher {
 public:
  explicit RequestMatcher(RequestMatchConfig config);
  bool matches(const RequestAttributes& request) const;
  const RequestMatchConfig& config() const { return config_; }

 private:
  bool headerMatches(size_t index, const RequestAttributes& request) const;

  RequestMatchConfig config_;
  std::vector<std::unique_ptr<RE2>> regexes_;  // by header index; null unless Regex
};

}  // namespace strait::filters
