#pragma once

// The `mtls_authz` filter: decides per request, from the peer's verified SPIFFE ID (the TLS
// layer's principal), the method, the path and headers, whether the request may reach the
// application. Denied: 403 `access denied: <reason>` with `x-strait-authz-reason`, flag UA, and
// nothing is forwarded. Dry run: the decision is evaluated and counted, never enforced.
//
// Scope: the factory (settings, compiled header matchers, stats handles) is per listener per
// config snapshot, read-only, shared by the workers; the per-stream filter holds nothing across
// requests.

#include <memory>
#include <string>
#include <vector>

#include "filters/mtls_authz/authz_config.h"
#include "proxy/router/route_table_impl.h"
#include "strait/http/filter.h"

namespace strait::filters::authz {

struct Decision {
  bool allowed = false;
  std::string_view reason;     // "rule", "default" or "no_principal"
  const Rule* rule = nullptr;  // the rule that decided, or null for the default
};

struct AuthzStats {
  stats::Counter allowed;
  stats::Counter denied_rule;
  stats::Counter denied_default;
  stats::Counter denied_no_principal;
  stats::Counter dry_run_denied;
};

class AuthzFactory : public http::FilterFactory {
 public:
  AuthzFactory(const AuthzSettings& settings, http::FilterFactoryContext& context);
  http::StreamFilterPtr createFilter() const override;

  // The decision for one request (pure; exposed for tests).
  Decision decide(const http::RequestHeaders& request, std::string_view principal) const;
  const AuthzSettings& settings() const { return settings_; }
  const AuthzStats& stats() const { return stats_; }

 private:
  struct CompiledRule {
    const Rule* rule;
    std::vector<std::unique_ptr<router::HeaderMatcherImpl>> headers;
  };
  bool ruleMatches(const CompiledRule& rule, const http::RequestHeaders& request,
                   std::string_view principal) const;

  const AuthzSettings& settings_;
  std::vector<CompiledRule> rules_;
  AuthzStats stats_;
};

void registerAuthzFilter();

}  // namespace strait::filters::authz
