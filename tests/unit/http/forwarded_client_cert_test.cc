// Suites are prefixed tls_ so that `ctest -R tls` selects them with the other TLS tests.
#include "proxy/http/forwarded_client_cert.h"

#include <gtest/gtest.h>

#include "tests/mocks/fake_connection.h"

namespace strait::http {
namespace {

using strait::testing::FakeConnection;

network::TlsInfo mtls() {
  network::TlsInfo info;
  info.peer_principal = "spiffe://example.org/ns/default/sa/web";
  info.peer_certificate_sha256 = "ab12";
  info.local_principal = "spiffe://example.org/ns/edge/sa/gateway";
  return info;
}

std::vector<std::string> xfcc(const HeaderMap& headers) {
  std::vector<std::string> out;
  for (const auto& e : headers.entries()) {
    if (e.name == "x-forwarded-client-cert") {
      out.push_back(e.value);
    }
  }
  return out;
}

TEST(tls_ForwardedClientCertTest, SanitizeReplacesWhatTheClientSent) {
  network::TlsInfo info = mtls();
  FakeConnection connection(&info);
  HeaderMap headers;
  headers.add("x-forwarded-client-cert", "URI=spiffe://example.org/ns/admin");
  headers.add("x-forwarded-client-cert", "Hash=00");
  applyForwardedClientCert(config::ForwardClientCert::Sanitize, connection, headers);
  EXPECT_EQ(xfcc(headers), std::vector<std::string>{
                               "By=spiffe://example.org/ns/edge/sa/gateway;"
                               "URI=spiffe://example.org/ns/default/sa/web;Hash=ab12"});
}

TEST(tls_ForwardedClientCertTest, AppendForwardKeepsTheIncomingElements) {
  network::TlsInfo info = mtls();
  info.local_principal.clear();  // our certificate has no SPIFFE ID: no By=
  FakeConnection connection(&info);
  HeaderMap headers;
  headers.add("x-forwarded-client-cert", "By=a;URI=b");
  applyForwardedClientCert(config::ForwardClientCert::AppendForward, connection, headers);
  EXPECT_EQ(xfcc(headers), std::vector<std::string>{
                               "By=a;URI=b,URI=spiffe://example.org/ns/default/sa/web;Hash=ab12"});
}

TEST(tls_ForwardedClientCertTest, WithoutAClientCertificateTheHeaderIsDropped) {
  network::TlsInfo no_peer;  // TLS, but the client sent no certificate
  FakeConnection tls(&no_peer);
  FakeConnection plain(nullptr);
  for (auto mode : {config::ForwardClientCert::Sanitize, config::ForwardClientCert::AppendForward}) {
    for (FakeConnection* connection : {&tls, &plain}) {
      HeaderMap headers;
      headers.add("x-forwarded-client-cert", "URI=spoofed");
      applyForwardedClientCert(mode, *connection, headers);
      EXPECT_TRUE(xfcc(headers).empty());
    }
  }
}

}  // namespace
}  // namespace strait::http
