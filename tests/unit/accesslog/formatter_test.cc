#include "proxy/accesslog/formatter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace strait::accesslog {
namespace {

using ::testing::HasSubstr;

std::string escaped(std::string_view in) {
  std::string out;
  appendJsonEscaped(out, in);
  return out;
}

// 2026-12-02T00:23:10.123Z
SystemTime sampleTime() {
  return SystemTime(std::chrono::milliseconds(1796170990123LL));
}

Entry proxiedEntry() {
  Entry e;
  e.start_time = sampleTime();
  e.method = "GET";
  e.authority = "example.com";
  e.path = "/a?b=c";
  e.protocol = "HTTP/1.1";
  e.status = 200;
  e.bytes_received = 5;
  e.bytes_sent = 1234;
  e.duration_us = 12345;
  e.upstream_service_time_us = 2001;
  e.upstream_host_address = "127.0.0.1";
  e.upstream_host_port = 8080;
  e.upstream_cluster = "backend";
  e.route_name = "api";
  e.request_id = "3b1f8e2a-0000-4000-8000-000000000000";
  e.downstream_remote_address = "10.0.0.1:55555";
  e.user_agent = "curl/7.88.1";
  e.x_forwarded_for = "10.0.0.1";
  e.attempts = 2;
  e.winning_attempt = 2;
  return e;
}

TEST(AccessLogEscapeTest, QuotesBackslashAndControlCharacters) {
  EXPECT_EQ(escaped("plain text"), "plain text");
  EXPECT_EQ(escaped("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(escaped("\n\r\t\b\f"), "\\n\\r\\t\\b\\f");
  EXPECT_EQ(escaped(std::string_view("\x00\x01\x1f\x7f", 4)), "\\u0000\\u0001\\u001f\\u007f");
}

TEST(AccessLogEscapeTest, ValidUtf8IsKept) {
  EXPECT_EQ(escaped("caf\xc3\xa9"), "caf\xc3\xa9");            // é, 2 bytes
  EXPECT_EQ(escaped("\xe2\x82\xac"), "\xe2\x82\xac");          // €, 3 bytes
  EXPECT_EQ(escaped("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");  // 😀, 4 bytes
  EXPECT_EQ(escaped("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf");  // U+10FFFF
}

TEST(AccessLogEscapeTest, InvalidUtf8BytesAreEscapedOneByOne) {
  EXPECT_EQ(escaped("\xff"), "\\u00ff");
  EXPECT_EQ(escaped("a\x80z"), "a\\u0080z");                    // stray continuation byte
  EXPECT_EQ(escaped("\xc0\xaf"), "\\u00c0\\u00af");             // overlong '/'
  EXPECT_EQ(escaped("\xed\xa0\x80"), "\\u00ed\\u00a0\\u0080");  // a surrogate
  EXPECT_EQ(escaped("\xf4\x90\x80\x80"), "\\u00f4\\u0090\\u0080\\u0080");  // > U+10FFFF
  EXPECT_EQ(escaped("\xe2\x82"), "\\u00e2\\u0082");                        // truncated at the end
  EXPECT_EQ(escaped("\xc3("), "\\u00c3(");                                 // lead byte, then ASCII
}

TEST(AccessLogEscapeTest, EveryByteYieldsOneValidJsonLine) {
  std::string all;
  for (int i = 0; i < 256; i++) {
    all += static_cast<char>(i);
  }
  Entry e = proxiedEntry();
  e.path = all;
  e.user_agent = all;
  std::string line;
  formatJson(e, line);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  nlohmann::json parsed = nlohmann::json::parse(line);  // throws on invalid JSON or UTF-8
  EXPECT_EQ(parsed["path"].get<std::string>().size(), all.size() + 128 /* 2-byte U+0080.. */);
}

TEST(AccessLogTimeTest, Rfc3339WithMilliseconds) {
  std::string out;
  appendRfc3339(out, sampleTime());
  EXPECT_EQ(out, "2026-12-02T00:23:10.123Z");
  out.clear();
  appendRfc3339(out, SystemTime(std::chrono::milliseconds(951782400000LL)));  // leap day
  EXPECT_EQ(out, "2000-02-29T00:00:00.000Z");
  out.clear();
  appendRfc3339(out, SystemTime(std::chrono::milliseconds(0)));
  EXPECT_EQ(out, "1970-01-01T00:00:00.000Z");
}

TEST(AccessLogJsonTest, EveryKeyPresentWithItsValue) {
  std::string line;
  formatJson(proxiedEntry(), line);
  nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j.size(), 20u);
  EXPECT_EQ(j["start_time"], "2026-12-02T00:23:10.123Z");
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["authority"], "example.com");
  EXPECT_EQ(j["path"], "/a?b=c");
  EXPECT_EQ(j["protocol"], "HTTP/1.1");
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["response_flags"], "-");
  EXPECT_EQ(j["bytes_received"], 5);
  EXPECT_EQ(j["bytes_sent"], 1234);
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 12.345);
  EXPECT_DOUBLE_EQ(j["upstream_service_time_ms"].get<double>(), 2.001);
  EXPECT_EQ(j["upstream_host"], "127.0.0.1:8080");
  EXPECT_EQ(j["upstream_cluster"], "backend");
  EXPECT_EQ(j["route"], "api");
  EXPECT_EQ(j["request_id"], "3b1f8e2a-0000-4000-8000-000000000000");
  EXPECT_EQ(j["downstream_remote_address"], "10.0.0.1:55555");
  EXPECT_EQ(j["user_agent"], "curl/7.88.1");
  EXPECT_EQ(j["x_forwarded_for"], "10.0.0.1");
  EXPECT_EQ(j["attempts"], 2);
  EXPECT_EQ(j["winning_attempt"], 2);  // a hedge (the second attempt) answered
}

TEST(AccessLogJsonTest, DirectResponseHasNullUpstreamFields) {
  Entry e;
  e.start_time = sampleTime();
  e.method = "GET";
  e.path = "/health";
  e.protocol = "HTTP/1.1";
  e.status = 404;
  e.response_flags = "NR";
  e.duration_us = 7;
  std::string line;
  formatJson(e, line);
  nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j.size(), 20u);
  EXPECT_TRUE(j["upstream_host"].is_null());
  EXPECT_TRUE(j["upstream_service_time_ms"].is_null());
  EXPECT_TRUE(j["upstream_cluster"].is_null());
  EXPECT_TRUE(j["route"].is_null());
  EXPECT_TRUE(j["authority"].is_null());
  EXPECT_TRUE(j["request_id"].is_null());
  EXPECT_EQ(j["response_flags"], "NR");
  EXPECT_EQ(j["status"], 404);
  EXPECT_EQ(j["attempts"], 0);
  EXPECT_EQ(j["winning_attempt"], 0);
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 0.007);
}

TEST(AccessLogJsonTest, Ipv6UpstreamInBrackets) {
  Entry e = proxiedEntry();
  e.upstream_host_address = "::1";
  std::string line;
  formatJson(e, line);
  EXPECT_EQ(nlohmann::json::parse(line)["upstream_host"], "[::1]:8080");
}

TEST(AccessLogJsonTest, AppendsToWhatTheBufferHolds) {
  std::string buffer;
  formatJson(proxiedEntry(), buffer);
  size_t first = buffer.size();
  formatJson(proxiedEntry(), buffer);
  EXPECT_EQ(buffer.size(), 2 * first);
  EXPECT_EQ(buffer.substr(0, first), buffer.substr(first));
}

TEST(AccessLogTextTest, EnvoyLikeLine) {
  std::string line;
  formatText(proxiedEntry(), line);
  EXPECT_EQ(line,
            "[2026-12-02T00:23:10.123Z] \"GET /a?b=c HTTP/1.1\" 200 - 5 1234 12.345 2.001 "
            "\"10.0.0.1\" \"curl/7.88.1\" \"3b1f8e2a-0000-4000-8000-000000000000\" "
            "\"example.com\" \"127.0.0.1:8080\" backend api 10.0.0.1:55555 2 2\n");
}

TEST(AccessLogTextTest, MissingFieldsAreDashesAndValuesCannotBreakTheLine) {
  Entry e;
  e.start_time = sampleTime();
  e.status = 400;
  e.response_flags = "DPE";
  e.user_agent = "evil\"\n[fake] line";
  std::string line;
  formatText(e, line);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_EQ(line,
            "[2026-12-02T00:23:10.123Z] \"- - -\" 400 DPE 0 0 0.000 - \"-\" "
            "\"evil\\\"\\n[fake] line\" \"-\" \"-\" \"-\" - - - 0 0\n");
}

TEST(AccessLogFormatTest, DispatchesOnFormat) {
  std::string json;
  std::string text;
  format(Format::Json, proxiedEntry(), json);
  format(Format::Text, proxiedEntry(), text);
  EXPECT_EQ(json.front(), '{');
  EXPECT_THAT(text, HasSubstr("\"GET /a?b=c HTTP/1.1\""));
}

}  // namespace
}  // namespace strait::accesslog
