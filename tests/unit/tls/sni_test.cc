// Suites are prefixed tls_ so that `ctest -R tls` selects them with the integration tests.
#include "proxy/tls/sni.h"

#include <gtest/gtest.h>

namespace strait::tls {
namespace {

// 0: exact api.example.com, 1: wildcard *.example.com, 2: fallback, 3: exact + another wildcard.
CertificateSelector selector() {
  return CertificateSelector({{"api.example.com"},
                              {"*.example.com"},
                              {},
                              {"www.other.org", "*.svc.example.com"}});
}

TEST(tls_CertificateSelectorTest, ExactNameWinsOverWildcard) {
  EXPECT_EQ(selector().select("api.example.com"), 0u);
  EXPECT_EQ(selector().select("www.other.org"), 3u);
}

TEST(tls_CertificateSelectorTest, WildcardCoversExactlyOneLabel) {
  EXPECT_EQ(selector().select("foo.example.com"), 1u);
  EXPECT_EQ(selector().select("x.svc.example.com"), 3u);
  EXPECT_EQ(selector().select("a.b.example.com"), 2u);  // two labels: no wildcard match
  EXPECT_EQ(selector().select("example.com"), 2u);      // zero labels: neither
}

TEST(tls_CertificateSelectorTest, CaseAndTrailingDotAreIgnored) {
  EXPECT_EQ(selector().select("API.Example.COM"), 0u);
  EXPECT_EQ(selector().select("api.example.com."), 0u);
  EXPECT_EQ(selector().select("Foo.EXAMPLE.com"), 1u);
}

TEST(tls_CertificateSelectorTest, UnknownOrMissingNameGetsTheFallback) {
  EXPECT_EQ(selector().select(""), 2u);
  EXPECT_EQ(selector().select("nothing.net"), 2u);
  EXPECT_EQ(selector().select("."), 2u);
  EXPECT_EQ(selector().fallback(), 2u);
}

TEST(tls_CertificateSelectorTest, WithoutFallbackTheFirstCertificateServes) {
  CertificateSelector s({{"a.example.com"}, {"b.example.com"}});
  EXPECT_EQ(s.select("b.example.com"), 1u);
  EXPECT_EQ(s.select("c.example.com"), 0u);
}

TEST(tls_CertificateSelectorTest, FirstCertificateClaimingANameKeepsIt) {
  CertificateSelector s({{"a.example.com"}, {"a.example.com", "*.example.com"}, {"*.example.com"}});
  EXPECT_EQ(s.select("a.example.com"), 0u);
  EXPECT_EQ(s.select("z.example.com"), 1u);
}

}  // namespace
}  // namespace strait::tls
