#pragma once

// Settings of the `mtls_authz` filter (docs/config.md, "mtls_authz"): ordered rules that allow or
// deny by the peer's SPIFFE ID, method, path and headers; the first rule that matches decides,
// and `default` decides when none does.

#include <string>
#include <vector>

#include "config/filter_registry.h"
#include "config/types.h"
#include "filters/common/request_match.h"

namespace strait::filters::authz {

enum class Action { Allow, Deny };

// A principal pattern: "spiffe://td/ns/web" (exact), "spiffe://td/ns/*" (prefix: `*` at the end
// matches the rest, slashes included), "spiffe://td/ns/*/sa/web" (`*` inside matches one path
// segment), or "*" (any verified principal).
struct PrincipalPattern {
  std::string text;
};

struct PathMatch {
  enum class Kind { Exact, Prefix };
  Kind kind = Kind::Prefix;
  std::string value;
};

struct Rule {
  std::string name;
  Action action = Action::Allow;
  std::vector<PrincipalPattern> principals;  // any of; empty: any request, identified or not
  std::vector<std::string> methods;          // any of; empty: any
  std::vector<PathMatch> paths;              // any of; empty: any
  std::vector<config::HeaderMatcher> headers;  // all of
};

struct AuthzSettings : config::FilterSettings {
  Action default_action = Action::Deny;  // zero trust: what no rule allows is denied
  std::vector<Rule> rules;
};

// Registers the config parser under "mtls_authz".
void registerAuthzParser();

// True when `principal` matches `pattern` (see PrincipalPattern). An empty principal matches
// nothing. One implementation, shared with the fault and bulkhead matchers (filters/common).
using filters::principalMatches;

}  // namespace strait::filters::authz
