// Suites are prefixed tls_ so that `ctest -R tls` selects them with the integration tests.
#include "proxy/tls/spiffe.h"

#include <gtest/gtest.h>

namespace strait::tls {
namespace {

TEST(tls_SpiffeIdTest, ParsesAWorkloadId) {
  auto id = parseSpiffeId("spiffe://example.org/ns/default/sa/web");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->trust_domain, "example.org");
  EXPECT_EQ(id->path, "/ns/default/sa/web");
  EXPECT_EQ(id->uri, "spiffe://example.org/ns/default/sa/web");
  EXPECT_TRUE(parseSpiffeId("spiffe://a-b_c.0/x.y-Z_9"));
}

TEST(tls_SpiffeIdTest, RejectsWhatTheStandardForbids) {
  for (const char* bad : {
           "",
           "https://example.org/ns/web",       // another scheme
           "SPIFFE://example.org/ns/web",      // the scheme is lower case
           "spiffe://",                        // nothing
           "spiffe:///ns/web",                 // empty trust domain
           "spiffe://Example.org/ns/web",      // upper case trust domain
           "spiffe://example.org:443/ns/web",  // port
           "spiffe://user@example.org/ns/web",  // user info
           "spiffe://example.org",             // no path: a trust domain, not a workload
           "spiffe://example.org/",            // empty path
           "spiffe://example.org/ns//web",     // empty segment
           "spiffe://example.org/ns/web/",     // trailing slash
           "spiffe://example.org/ns/./web",    // dot segment
           "spiffe://example.org/ns/../web",   // dot-dot segment
           "spiffe://example.org/ns/web?x=1",  // query
           "spiffe://example.org/ns/web#frag",  // fragment
           "spiffe://example.org/ns/w%20b",    // percent-encoding
           "spiffe://exa mple.org/ns/web",     // space
       }) {
    std::string why;
    EXPECT_FALSE(parseSpiffeId(bad, &why).has_value()) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

}  // namespace
}  // namespace strait::tls
