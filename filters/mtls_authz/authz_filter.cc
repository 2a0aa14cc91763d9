#include "filters/mtls_authz/authz_filter.h"

#include <algorithm>

namespace strait::filters::authz {

namespace {

class AuthzFilter : public http::StreamFilter {
 public:
  explicit AuthzFilter(const AuthzFactory& factory) : factory_(factory) {}

  void setCallbacks(http::StreamFilterCallbacks& callbacks) override { callbacks_ = &callbacks; }

  http::FilterStatus decodeHeaders(http::RequestHeaders& headers, bool) override {
    const std::string& principal = callbacks_->principal();
    Decision decision = factory_.decide(headers, principal);
    const AuthzStats& stats = factory_.stats();
    stats::Shard& shard = callbacks_->statsShard();
    if (decision.allowed) {
      shard.inc(stats.allowed);
      return http::FilterStatus::Continue;
    }
    if (factory_.settings().mode == config::FilterMode::DryRun) {
      shard.inc(stats.dry_run_denied);
      return http::FilterStatus::Continue;
    }
    std::string reason;
    if (decision.reason == "no_principal") {
      shard.inc(stats.denied_no_principal);
      reason = "no_principal";
    } else if (decision.rule != nullptr) {
      shard.inc(stats.denied_rule);
      reason = "denied_by_rule:" + decision.rule->name;
    } else {
      shard.inc(stats.denied_default);
      reason = "default_deny";
    }
    callbacks_->sendLocalReply(403, "access denied: " + reason, "UA",
                               {{"x-strait-authz-reason", reason}});
    return http::FilterStatus::StopIteration;
  }

 private:
  const AuthzFactory& factory_;
  http::StreamFilterCallbacks* callbacks_ = nullptr;
};

}  // namespace

AuthzFactory::AuthzFactory(const AuthzSettings& settings, http::FilterFactoryContext& context)
    : settings_(settings) {
  for (const Rule& rule : settings_.rules) {
    CompiledRule compiled{&rule, {}};
    for (const config::HeaderMatcher& header : rule.headers) {
      auto matcher = std::make_unique<router::HeaderMatcherImpl>(header);
      matcher->init("mtls_authz rule " + rule.name, nullptr);  // regexes were checked at load
      compiled.headers.push_back(std::move(matcher));
    }
    rules_.push_back(std::move(compiled));
  }
  const stats::Labels labels{{"listener", context.listener}};
  auto denied = [&](const char* reason) {
    return context.store.counter("strait_dp_authz_denied_total",
                                 "Requests mtls_authz refused (403), by reason.",
                                 {{"listener", context.listener}, {"reason", reason}});
  };
  stats_.allowed = context.store.counter("strait_dp_authz_allowed_total",
                                         "Requests mtls_authz let through.", labels);
  stats_.denied_rule = denied("rule");
  stats_.denied_default = denied("default");
  stats_.denied_no_principal = denied("no_principal");
  stats_.dry_run_denied = context.store.counter(
      "strait_dp_authz_dry_run_denied_total",
      "Requests mtls_authz would have refused; let through because mode is dry_run.", labels);
}

http::StreamFilterPtr AuthzFactory::createFilter() const {
  return std::make_unique<AuthzFilter>(*this);
}

bool AuthzFactory::ruleMatches(const CompiledRule& compiled, const http::RequestHeaders& request,
                               std::string_view principal) const {
  const Rule& rule = *compiled.rule;
  if (!rule.principals.empty() &&
      std::none_of(rule.principals.begin(), rule.principals.end(),
                   [&](const PrincipalPattern& p) { return principalMatches(p.text, principal); })) {
    return false;
  }
  if (!rule.methods.empty() &&
      std::find(rule.methods.begin(), rule.methods.end(), request.method) == rule.methods.end()) {
    return false;
  }
  if (!rule.paths.empty()) {
    // The path without its query: "/api/x?y" is "/api/x" for authorization.
    std::string_view path = request.path;
    path = path.substr(0, path.find('?'));
    bool any = std::any_of(rule.paths.begin(), rule.paths.end(), [&](const PathMatch& m) {
      return m.kind == PathMatch::Kind::Exact ? path == m.value : path.starts_with(m.value);
    });
    if (!any) {
      return false;
    }
  }
  return std::all_of(compiled.headers.begin(), compiled.headers.end(),
                     [&](const auto& matcher) { return matcher->matches(request); });
}

Decision AuthzFactory::decide(const http::RequestHeaders& request,
                              std::string_view principal) const {
  for (const CompiledRule& compiled : rules_) {
    if (ruleMatches(compiled, request, principal)) {
      bool allowed = compiled.rule->action == Action::Allow;
      return {allowed, "rule", compiled.rule};
    }
  }
  if (settings_.default_action == Action::Allow) {
    return {true, "default", nullptr};
  }
  // Nothing allowed it; without an identity, that is the reason worth reporting.
  return {false, principal.empty() ? "no_principal" : "default", nullptr};
}

void registerAuthzFilter() {
  registerAuthzParser();
  http::registerFilterFactory(
      "mtls_authz", [](const config::FilterSettings& settings, http::FilterFactoryContext& context)
                        -> http::FilterFactoryPtr {
        return std::make_shared<AuthzFactory>(static_cast<const AuthzSettings&>(settings),
                                              context);
      });
}

}  // namespace strait::filters::authz
