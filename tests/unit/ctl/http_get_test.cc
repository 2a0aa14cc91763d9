// straitctl's HTTP client, the parsing half (ctl/http_get.h): URLs and whole responses.

#include "ctl/http_get.h"

#include <gtest/gtest.h>

namespace strait::ctl {
namespace {

TEST(HttpUrl, HostPortAndPath) {
  std::string error;
  auto url = parseHttpUrl("http://127.0.0.1:18001/status", error);
  ASSERT_TRUE(url) << error;
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, "18001");
  EXPECT_EQ(url->path, "/status");
  url = parseHttpUrl("http://[::1]:9", error);
  ASSERT_TRUE(url) << error;
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, "9");
  EXPECT_EQ(url->path, "/");
  url = parseHttpUrl("localhost", error);
  ASSERT_TRUE(url);
  EXPECT_EQ(url->port, "80");
  EXPECT_FALSE(parseHttpUrl("https://x:1", error));
  EXPECT_FALSE(parseHttpUrl("http://x:port", error));
  EXPECT_FALSE(parseHttpUrl("http://:1", error));
}

TEST(HttpResponse, ContentLength) {
  std::string error;
  auto r = parseResponse(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      "Content-Length: 2\r\n\r\n{}extra",
      error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers["content-type"], "application/json");
  EXPECT_EQ(r->body, "{}");
  EXPECT_FALSE(parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", error));
  EXPECT_NE(error.find("cut short"), std::string::npos);
}

TEST(HttpResponse, Chunked) {
  std::string error;
  auto r = parseResponse(
      "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\na;ext=1\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n",
      error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "abc0123456789");
  EXPECT_FALSE(
      parseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", error));
  EXPECT_FALSE(parseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", error));
}

TEST(HttpResponse, ToEofAndMalformed) {
  std::string error;
  auto r = parseResponse("HTTP/1.0 200 OK\r\n\r\nall of it", error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->body, "all of it");
  EXPECT_FALSE(parseResponse("", error));
  EXPECT_EQ(error, "empty response");
  EXPECT_FALSE(parseResponse("SSH-2.0-OpenSSH\r\n\r\n", error));
  EXPECT_FALSE(parseResponse("HTTP/1.1 2x0 OK\r\n\r\n", error));
  EXPECT_FALSE(parseResponse("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", error));
}

}  // namespace
}  // namespace strait::ctl
