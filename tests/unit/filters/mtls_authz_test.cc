// mtls_authz: principal patterns, rule order, default deny, the 403 it sends, dry run, config
// errors with positions.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/loader.h"
#include "filters/builtin.h"
#include "filters/mtls_authz/authz_filter.h"
#include "tests/mocks/test_process.h"

namespace strait::filters::authz {
namespace {

using ::testing::ElementsAre;

TEST(PrincipalPatternTest, ExactPrefixSegmentAndAny) {
  const std::string web = "spiffe://example.org/ns/default/sa/web";
  EXPECT_TRUE(principalMatches(web, web));
  EXPECT_FALSE(principalMatches(web, web + "2"));
  EXPECT_FALSE(principalMatches(web, "spiffe://example.org/ns/default/sa/we"));
  EXPECT_TRUE(principalMatches("spiffe://example.org/ns/default/*", web));
  EXPECT_FALSE(principalMatches("spiffe://example.org/ns/batch/*", web));
  EXPECT_TRUE(principalMatches("spiffe://example.org/ns/*/sa/web", web));
  EXPECT_FALSE(principalMatches("spiffe://example.org/ns/*/sa/web",
                                "spiffe://example.org/ns/a/b/sa/web"));  // one segment only
  EXPECT_FALSE(principalMatches("spiffe://example.org/ns/*/sa/web",
                                "spiffe://example.org/ns/default/sa/db"));
  EXPECT_TRUE(principalMatches("*", web));
  // No identity matches no pattern, not even "*".
  EXPECT_FALSE(principalMatches("*", ""));
  // A trust domain is not a prefix of another: example.org.evil is not example.org.
  EXPECT_FALSE(principalMatches("spiffe://example.org/*", "spiffe://example.org.evil/x"));
}

config::BootstrapSharedPtr load(const std::string& filter_config, std::vector<std::string>* errors) {
  registerBuiltinFilters();
  auto result = config::loadString(
      "listeners:\n"
      "  - name: l\n"
      "    http:\n"
      "      filters:\n"
      "        - name: mtls_authz\n"
      "          config:\n" +
          filter_config,
      "t.yaml");
  if (errors != nullptr) {
    for (const auto& e : result.errors) {
      errors->push_back(e.toString());
    }
  }
  return result.ok() ? result.bootstrap : nullptr;
}

class AuthzTest : public ::testing::Test {
 protected:
  strait::testing::TestProcess process_;
  void build(const std::string& filter_config) {
    config_ = load(filter_config, nullptr);
    ASSERT_NE(config_, nullptr);
    const auto& settings = static_cast<const AuthzSettings&>(
        *config_->listeners[0].http.filters[0].settings);
    http::FilterFactoryContext context{store_, "l", "mtls_authz", nullptr, process_.context};
    factory_ = std::make_unique<AuthzFactory>(settings, context);
  }
  Decision decide(const std::string& method, const std::string& path,
                  const std::string& principal, std::vector<http::HeaderEntry> headers = {}) {
    http::RequestHeaders request;
    request.method = method;
    request.path = path;
    request.authority = "api";
    for (auto& h : headers) {
      request.headers.add(h.name, h.value);
    }
    return factory_->decide(request, principal);
  }

  stats::Store store_{1};
  config::BootstrapSharedPtr config_;
  std::unique_ptr<AuthzFactory> factory_;
};

const char* kPolicy =
    "            default: deny\n"
    "            rules:\n"
    "              - name: no-admin\n"
    "                action: deny\n"
    "                paths: [{prefix: /admin}]\n"
    "              - name: web-reads\n"
    "                action: allow\n"
    "                principals: [\"spiffe://example.org/ns/default/sa/web\", "
    "\"spiffe://example.org/ns/batch/*\"]\n"
    "                methods: [GET, HEAD]\n"
    "                paths: [{prefix: /api/}, {exact: /status}]\n"
    "              - name: canary-writes\n"
    "                action: allow\n"
    "                principals: [\"*\"]\n"
    "                methods: [POST]\n"
    "                headers: [{name: x-canary, exact: \"1\"}]\n";

TEST_F(AuthzTest, FirstMatchingRuleDecidesElseDefault) {
  build(kPolicy);
  const std::string web = "spiffe://example.org/ns/default/sa/web";
  const std::string job = "spiffe://example.org/ns/batch/sa/job";
  const std::string other = "spiffe://example.org/ns/default/sa/db";

  Decision d = decide("GET", "/api/users?limit=1", web);
  EXPECT_TRUE(d.allowed);
  ASSERT_NE(d.rule, nullptr);
  EXPECT_EQ(d.rule->name, "web-reads");
  EXPECT_TRUE(decide("HEAD", "/status", job).allowed);
  EXPECT_FALSE(decide("GET", "/status/x", job).allowed);  // exact path only
  EXPECT_FALSE(decide("DELETE", "/api/users", web).allowed);
  EXPECT_FALSE(decide("GET", "/api/users", other).allowed);

  // The deny rule comes first: it wins even for an allowed principal.
  d = decide("GET", "/admin/api/", web);
  EXPECT_FALSE(d.allowed);
  ASSERT_NE(d.rule, nullptr);
  EXPECT_EQ(d.rule->name, "no-admin");

  // Any verified principal with the header; none without an identity.
  EXPECT_TRUE(decide("POST", "/x", other, {{"x-canary", "1"}}).allowed);
  EXPECT_FALSE(decide("POST", "/x", other, {{"x-canary", "0"}}).allowed);
  d = decide("POST", "/x", "", {{"x-canary", "1"}});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "no_principal");
  d = decide("GET", "/api/users", other);
  EXPECT_EQ(d.reason, "default");
  EXPECT_EQ(d.rule, nullptr);
}

TEST_F(AuthzTest, DefaultIsDenyWhenNotGiven) {
  build("            rules: [{name: r, action: allow, paths: [{prefix: /open}]}]\n");
  EXPECT_TRUE(decide("GET", "/open/x", "").allowed);  // a rule without principals needs none
  EXPECT_FALSE(decide("GET", "/closed", "spiffe://example.org/x").allowed);
}

TEST_F(AuthzTest, DefaultAllow) {
  build("            default: allow\n"
        "            rules: [{name: r, action: deny, principals: [\"spiffe://other.org/*\"]}]\n");
  EXPECT_TRUE(decide("GET", "/", "spiffe://example.org/a").allowed);
  EXPECT_TRUE(decide("GET", "/", "").allowed);
  EXPECT_FALSE(decide("GET", "/", "spiffe://other.org/a").allowed);
}

TEST(AuthzConfigTest, ErrorsHavePositions) {
  std::vector<std::string> errors;
  EXPECT_EQ(load("            default: maybe\n"
                 "            rules:\n"
                 "              - {name: a, action: permit, principals: [\"example.org/web\"]}\n"
                 "              - {name: b, action: allow, paths: [{prefix: /a, exact: /b}], "
                 "methds: [GET]}\n",
                 &errors),
            nullptr);
  EXPECT_THAT(
      errors,
      ElementsAre(
          R"(t.yaml:7:22: listeners[0].http.filters[0].config.default: expected one of allow, deny, got "maybe")",
          R"(t.yaml:9:35: listeners[0].http.filters[0].config.rules[0].action: expected one of allow, deny, got "permit")",
          R"(t.yaml:9:56: listeners[0].http.filters[0].config.rules[0].principals[0]: expected a SPIFFE ID pattern (spiffe://trust-domain/path, `*` for any segment or, at the end, the rest) or "*", got "example.org/web")",
          R"(t.yaml:10:50: listeners[0].http.filters[0].config.rules[1].paths[0]: expected exactly one of exact, prefix)",
          R"(t.yaml:10:76: listeners[0].http.filters[0].config.rules[1].methds: unknown key "methds" (did you mean "methods"?))"));
}

TEST(AuthzConfigTest, InnerWildcardMustBeAWholeSegment) {
  std::vector<std::string> errors;
  EXPECT_EQ(load("            rules: [{name: a, action: allow, principals: "
                 "[\"spiffe://example.org/ns/web-*/sa\"]}]\n",
                 &errors),
            nullptr);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], ::testing::HasSubstr("principals[0]: expected a SPIFFE ID pattern"));
}

}  // namespace
}  // namespace strait::filters::authz
