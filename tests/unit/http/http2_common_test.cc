// Protocol selection by preface and ALPN, and HTTP/2 header translation.

#include <gtest/gtest.h>

#include <string>

#include "proxy/http/http2_headers.h"
#include "proxy/http/protocol_select.h"

namespace strait::http {
namespace {

TEST(PrefaceTest, TheWholePrefaceSelectsHttp2) {
  EXPECT_EQ(matchHttp2Preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), PrefaceMatch::Http2);
  // Frames after the preface in the same read do not matter.
  EXPECT_EQ(matchHttp2Preface(std::string(kHttp2Preface) + "\x00\x00\x12\x04"),
            PrefaceMatch::Http2);
}

TEST(PrefaceTest, APrefixWaitsForMore) {
  EXPECT_EQ(matchHttp2Preface(""), PrefaceMatch::NeedMore);
  EXPECT_EQ(matchHttp2Preface("P"), PrefaceMatch::NeedMore);
  EXPECT_EQ(matchHttp2Preface("PRI * HTTP/2.0\r\n"), PrefaceMatch::NeedMore);
  EXPECT_EQ(matchHttp2Preface(kHttp2Preface.substr(0, 23)), PrefaceMatch::NeedMore);
}

TEST(PrefaceTest, AnythingElseIsHttp1AsSoonAsItDiffers) {
  EXPECT_EQ(matchHttp2Preface("GET / HTTP/1.1\r\n"), PrefaceMatch::Http1);
  EXPECT_EQ(matchHttp2Preface("G"), PrefaceMatch::Http1);
  EXPECT_EQ(matchHttp2Preface("POST"), PrefaceMatch::Http1);
  EXPECT_EQ(matchHttp2Preface("PUT /x HTTP/1.1"), PrefaceMatch::Http1);
  // Close but not the preface (HTTP/1.1 PRI, or a wrong tail).
  EXPECT_EQ(matchHttp2Preface("PRI * HTTP/1.1\r\n"), PrefaceMatch::Http1);
  EXPECT_EQ(matchHttp2Preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r!"), PrefaceMatch::Http1);
}

TEST(AlpnTest, OnlyH2SelectsHttp2) {
  EXPECT_EQ(protocolFromAlpn("h2"), DownstreamProtocol::Http2);
  EXPECT_EQ(protocolFromAlpn("http/1.1"), DownstreamProtocol::Http1);
  EXPECT_EQ(protocolFromAlpn("http/1.0"), DownstreamProtocol::Http1);
  EXPECT_EQ(protocolFromAlpn(""), DownstreamProtocol::Http1);
  EXPECT_EQ(protocolFromAlpn("h2c"), DownstreamProtocol::Http1);
}

TEST(Http2HeadersTest, PseudoHeadersFillTheRequestLine) {
  RequestHeaders request;
  http2::addRequestField(request, ":method", "POST");
  http2::addRequestField(request, ":scheme", "http");
  http2::addRequestField(request, ":authority", "api.example.com:8080");
  http2::addRequestField(request, ":path", "/v1/items?x=1");
  http2::addRequestField(request, "te", "trailers");
  http2::addRequestField(request, "cookie", "a=1");
  http2::addRequestField(request, "cookie", "b=2");
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.scheme, "http");
  EXPECT_EQ(request.authority, "api.example.com:8080");
  EXPECT_EQ(request.path, "/v1/items?x=1");
  ASSERT_EQ(request.headers.size(), 3u);
  EXPECT_EQ(*request.headers.get("te"), "trailers");
  EXPECT_EQ(request.headers.count("cookie"), 2u);
  EXPECT_EQ(request.headers.get(":method"), nullptr);
}

TEST(Http2HeadersTest, HostStandsInForAMissingAuthorityOnly) {
  RequestHeaders alone;
  http2::addRequestField(alone, "host", "h.example");
  EXPECT_EQ(alone.authority, "h.example");
  EXPECT_TRUE(alone.headers.empty());

  RequestHeaders both;
  http2::addRequestField(both, ":authority", "a.example");
  http2::addRequestField(both, "host", "h.example");
  EXPECT_EQ(both.authority, "a.example");
  EXPECT_TRUE(both.headers.empty());
}

TEST(Http2HeadersTest, ResponseDropsConnectionSpecificHeadersAndLowercases) {
  ResponseHeaders response;
  response.status = 404;
  response.headers.add("content-type", "text/plain");
  response.headers.add("connection", "keep-alive");
  response.headers.add("keep-alive", "timeout=5");
  response.headers.add("transfer-encoding", "chunked");
  response.headers.add("upgrade", "h2c");
  response.headers.add("proxy-connection", "close");
  response.headers.add("X-Mixed-Case", "v");
  response.headers.add("set-cookie", "a=1");
  response.headers.add("set-cookie", "b=2");
  http2::FieldList fields;
  http2::responseFields(response, fields);
  ASSERT_EQ(fields.fields.size(), 5u);
  EXPECT_EQ(fields.fields[0], std::make_pair(std::string_view(":status"), std::string_view("404")));
  EXPECT_EQ(fields.fields[1].first, "content-type");
  EXPECT_EQ(fields.fields[2].first, "x-mixed-case");
  EXPECT_EQ(fields.fields[2].second, "v");
  EXPECT_EQ(fields.fields[3].second, "a=1");
  EXPECT_EQ(fields.fields[4].second, "b=2");
}

TEST(Http2HeadersTest, FieldSizeCountsTheRfcOverhead) {
  EXPECT_EQ(http2::fieldListSize("ab", "cde"), 37u);
}

}  // namespace
}  // namespace strait::http
