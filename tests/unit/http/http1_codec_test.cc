#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/http1_codec_impl.h"
#include "strait/http/http1_codec.h"

// Counts heap allocations so the steady-state test can assert the hot path makes none. The
// replacement pair is malloc/free on both sides; GCC cannot see that and warns after inlining.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
std::atomic<uint64_t> g_allocations{0};

void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) {
    return p;
  }
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
#pragma GCC diagnostic pop

namespace strait::http::http1 {
namespace {

using Status = DispatchResult::Status;

// One request as the server callbacks saw it.
struct SeenRequest {
  RequestHeaders headers;
  MessageInfo info;
  std::string body;
  bool complete = false;
};

// Records every server callback so tests can assert on what the codec reported.
class ServerRecorder : public ServerCallbacks {
 public:
  void onRequestHeaders(RequestHeaders& headers, const MessageInfo& info) override {
    requests.emplace_back();
    requests.back().headers = headers;
    requests.back().info = info;
  }
  void onRequestBody(const char* data, size_t len) override {
    ASSERT_FALSE(requests.empty());
    requests.back().body.append(data, len);
  }
  void onRequestComplete() override {
    ASSERT_FALSE(requests.empty());
    requests.back().complete = true;
  }
  void onRequestError(uint16_t status, std::string_view reason) override {
    ++errors;
    error_status = status;
    error_reason = std::string(reason);
  }

  std::vector<SeenRequest> requests;
  int errors = 0;
  uint16_t error_status = 0;
  std::string error_reason;
};

class ServerCodecTest : public testing::Test {
 protected:
  void SetUp() override { codec_ = createServerCodec(recorder_, limits_); }
  void recreate() { codec_ = createServerCodec(recorder_, limits_); }

  DispatchResult dispatch(std::string_view s) { return codec_->dispatch(s.data(), s.size()); }

  // Feeds the bytes one at a time, as a slow client would; stops at the first non-Ok result.
  DispatchResult dispatchByteByByte(std::string_view s) {
    size_t total = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      DispatchResult r = codec_->dispatch(s.data() + i, 1);
      total += r.consumed;
      if (r.status != Status::Ok) {
        return {r.status, total};
      }
    }
    return {Status::Ok, total};
  }

  void expectError(std::string_view input, uint16_t status, std::string_view reason) {
    DispatchResult r = dispatch(input);
    EXPECT_EQ(r.status, Status::Error) << input;
    EXPECT_EQ(recorder_.errors, 1) << input;
    EXPECT_EQ(recorder_.error_status, status) << input;
    EXPECT_EQ(recorder_.error_reason, reason) << input;
    // Further input is refused without a second report.
    EXPECT_EQ(dispatch("GET / HTTP/1.1\r\n").status, Status::Error);
    EXPECT_EQ(recorder_.errors, 1);
  }

  std::string encodeResponse(const ResponseHeaders& h, bool end_stream, bool close = false) {
    buffer::Buffer out;
    codec_->encodeHeaders(h, end_stream, close, out);
    return out.toString();
  }
  std::string encodeData(std::string_view body, bool end_stream) {
    buffer::Buffer data;
    data.add(body);
    buffer::Buffer out;
    codec_->encodeData(data, end_stream, out);
    EXPECT_TRUE(data.empty());
    return out.toString();
  }
  bool closeAfterResponse() const {
    return static_cast<ServerCodecImpl*>(codec_.get())->closeAfterResponse();
  }

  CodecLimits limits_;
  ServerRecorder recorder_;
  std::unique_ptr<ServerCodec> codec_;
};

const std::string kSimpleGet =
    "GET /a/b?c=d HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: test\r\n"
    "X-Mixed-Case:   padded value  \r\n\r\n";

TEST_F(ServerCodecTest, SimpleGet) {
  DispatchResult r = dispatch(kSimpleGet);
  EXPECT_EQ(r.status, Status::Paused);
  EXPECT_EQ(r.consumed, kSimpleGet.size());
  ASSERT_EQ(recorder_.requests.size(), 1u);
  const SeenRequest& req = recorder_.requests[0];
  EXPECT_EQ(req.headers.method, "GET");
  EXPECT_EQ(req.headers.path, "/a/b?c=d");
  EXPECT_EQ(req.headers.authority, "example.com:8080");
  EXPECT_EQ(req.headers.scheme, "");
  EXPECT_EQ(req.headers.version_major, 1);
  EXPECT_EQ(req.headers.version_minor, 1);
  EXPECT_EQ(req.headers.headers.get("host"), nullptr);
  ASSERT_EQ(req.headers.headers.size(), 2u);
  ASSERT_NE(req.headers.headers.get("user-agent"), nullptr);
  EXPECT_EQ(*req.headers.headers.get("user-agent"), "test");
  ASSERT_NE(req.headers.headers.get("x-mixed-case"), nullptr);
  EXPECT_EQ(*req.headers.headers.get("x-mixed-case"), "padded value");
  EXPECT_TRUE(req.info.keep_alive);
  EXPECT_FALSE(req.info.has_body);
  EXPECT_FALSE(req.info.chunked);
  EXPECT_FALSE(req.info.content_length.has_value());
  EXPECT_TRUE(req.complete);
  EXPECT_FALSE(codec_->messageInProgress());
  EXPECT_EQ(recorder_.errors, 0);
}

TEST_F(ServerCodecTest, ByteByByte) {
  const std::string req =
      "POST /upload HTTP/1.1\r\nHost: h\r\nA-Long-Header-Name: some longer value here\r\n"
      "Content-Length: 5\r\n\r\nhello";
  DispatchResult r = dispatchByteByByte(req);
  EXPECT_EQ(r.status, Status::Paused);
  EXPECT_EQ(r.consumed, req.size());
  ASSERT_EQ(recorder_.requests.size(), 1u);
  const SeenRequest& seen = recorder_.requests[0];
  EXPECT_EQ(seen.headers.method, "POST");
  EXPECT_EQ(seen.headers.path, "/upload");
  EXPECT_EQ(seen.headers.authority, "h");
  ASSERT_NE(seen.headers.headers.get("a-long-header-name"), nullptr);
  EXPECT_EQ(*seen.headers.headers.get("a-long-header-name"), "some longer value here");
  EXPECT_EQ(seen.body, "hello");
  EXPECT_EQ(seen.info.content_length, 5u);
  EXPECT_TRUE(seen.complete);
}

TEST_F(ServerCodecTest, MessageInProgressDuringRequest) {
  EXPECT_FALSE(codec_->messageInProgress());
  EXPECT_EQ(dispatch("GET / HTTP/1.1\r\n").status, Status::Ok);
  EXPECT_TRUE(codec_->messageInProgress());
  EXPECT_EQ(dispatch("Host: h\r\n\r\n").status, Status::Paused);
  EXPECT_FALSE(codec_->messageInProgress());
}

TEST_F(ServerCodecTest, KeepAliveTwoRequests) {
  EXPECT_EQ(dispatch(kSimpleGet).status, Status::Paused);
  // Without resume() nothing more is parsed.
  EXPECT_EQ(dispatch("GET /x HTTP/1.1\r\n").consumed, 0u);
  codec_->resume();
  const std::string second = "GET /second HTTP/1.1\r\nHost: other\r\n\r\n";
  DispatchResult r = dispatch(second);
  EXPECT_EQ(r.status, Status::Paused);
  EXPECT_EQ(r.consumed, second.size());
  ASSERT_EQ(recorder_.requests.size(), 2u);
  EXPECT_EQ(recorder_.requests[1].headers.path, "/second");
  EXPECT_EQ(recorder_.requests[1].headers.authority, "other");
  // The header map was cleared between requests, not appended to.
  EXPECT_EQ(recorder_.requests[1].headers.headers.size(), 0u);
}

TEST_F(ServerCodecTest, Pipelining) {
  const std::string first = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string second = "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  const std::string both = first + second;
  DispatchResult r = dispatch(both);
  EXPECT_EQ(r.status, Status::Paused);
  EXPECT_EQ(r.consumed, first.size());
  ASSERT_EQ(recorder_.requests.size(), 1u);
  codec_->resume();
  r = codec_->dispatch(both.data() + first.size(), both.size() - first.size());
  EXPECT_EQ(r.status, Status::Paused);
  EXPECT_EQ(r.consumed, second.size());
  ASSERT_EQ(recorder_.requests.size(), 2u);
  EXPECT_EQ(recorder_.requests[1].headers.path, "/2");
  EXPECT_EQ(recorder_.requests[1].body, "abc");
}

TEST_F(ServerCodecTest, ChunkedBody) {
  const std::string req =
      "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n"
      "6;a;b\r\n world\r\n"
      "0\r\n\r\n";
  DispatchResult r = dispatch(req);
  EXPECT_EQ(r.status, Status::Paused);
  EXPECT_EQ(r.consumed, req.size());
  ASSERT_EQ(recorder_.requests.size(), 1u);
  EXPECT_EQ(recorder_.requests[0].body, "hello world");
  EXPECT_TRUE(recorder_.requests[0].info.chunked);
  EXPECT_TRUE(recorder_.requests[0].info.has_body);
  EXPECT_TRUE(recorder_.requests[0].complete);
  EXPECT_EQ(recorder_.errors, 0);
}

TEST_F(ServerCodecTest, ChunkedBodyWithTrailersLeavesHeadersAlone) {
  const std::string req =
      "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n";
  EXPECT_EQ(dispatchByteByByte(req).status, Status::Paused);
  ASSERT_EQ(recorder_.requests.size(), 1u);
  EXPECT_EQ(recorder_.requests[0].body, "abc");
  EXPECT_EQ(recorder_.requests[0].headers.headers.get("x-trailer"), nullptr);
}

TEST_F(ServerCodecTest, ContentLengthBody) {
  const std::string req = "PUT /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world";
  DispatchResult r = dispatch(req);
  EXPECT_EQ(r.status, Status::Paused);
  EXPECT_EQ(r.consumed, req.size());
  ASSERT_EQ(recorder_.requests.size(), 1u);
  EXPECT_EQ(recorder_.requests[0].body, "hello world");
  EXPECT_EQ(recorder_.requests[0].info.content_length, 11u);
  EXPECT_TRUE(recorder_.requests[0].info.has_body);
  EXPECT_FALSE(recorder_.requests[0].info.chunked);
}

TEST_F(ServerCodecTest, Http10WithoutKeepAlive) {
  EXPECT_EQ(dispatch("GET / HTTP/1.0\r\n\r\n").status, Status::Paused);
  ASSERT_EQ(recorder_.requests.size(), 1u);
  EXPECT_FALSE(recorder_.requests[0].info.keep_alive);
  EXPECT_EQ(recorder_.requests[0].headers.version_minor, 0);
  ResponseHeaders resp;
  resp.headers.add("content-length", "2");
  EXPECT_EQ(encodeResponse(resp, false),
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n");
  EXPECT_TRUE(closeAfterResponse());
}

TEST_F(ServerCodecTest, Http10WithKeepAlive) {
  EXPECT_EQ(dispatch("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").status, Status::Paused);
  ASSERT_EQ(recorder_.requests.size(), 1u);
  EXPECT_TRUE(recorder_.requests[0].info.keep_alive);
  ResponseHeaders resp;
  resp.headers.add("content-length", "2");
  EXPECT_EQ(encodeResponse(resp, false),
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\n");
  EXPECT_FALSE(closeAfterResponse());
}

TEST_F(ServerCodecTest, Http10CloseDelimitedResponse) {
  EXPECT_EQ(dispatch("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").status, Status::Paused);
  ResponseHeaders resp;
  EXPECT_EQ(encodeResponse(resp, false), "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n");
  EXPECT_EQ(encodeData("body", true), "body");
  EXPECT_TRUE(closeAfterResponse());
}

TEST_F(ServerCodecTest, ConnectionClose) {
  EXPECT_EQ(dispatch("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").status,
            Status::Paused);
  ASSERT_EQ(recorder_.requests.size(), 1u);
  EXPECT_FALSE(recorder_.requests[0].info.keep_alive);
  ResponseHeaders resp;
  EXPECT_EQ(encodeResponse(resp, true),
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
  EXPECT_TRUE(closeAfterResponse());
}

TEST_F(ServerCodecTest, HeadRequestAndResponse) {
  EXPECT_EQ(dispatch("HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n").status, Status::Paused);
  ASSERT_EQ(recorder_.requests.size(), 1u);
  EXPECT_EQ(recorder_.requests[0].headers.method, "HEAD");
  ResponseHeaders resp;
  resp.headers.add("content-length", "1234");
  EXPECT_EQ(encodeResponse(resp, false), "HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n");
  EXPECT_EQ(encodeData("should not be sent", true), "");
}

TEST_F(ServerCodecTest, ExpectContinue) {
  EXPECT_EQ(dispatch("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
                     "Content-Length: 2\r\n\r\n")
                .status,
            Status::Ok);
  ASSERT_EQ(recorder_.requests.size(), 1u);
  EXPECT_TRUE(recorder_.requests[0].info.expect_continue);
  EXPECT_EQ(recorder_.requests[0].headers.headers.get("expect"), nullptr);
  buffer::Buffer out;
  codec_->encode100Continue(out);
  EXPECT_EQ(out.toString(), "HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_EQ(dispatch("ok").status, Status::Paused);
  EXPECT_EQ(recorder_.requests[0].body, "ok");
}

TEST_F(ServerCodecTest, UpgradeWebsocket) {
  const std::string head =
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
  const std::string input = head + "\x81\x05hello";
  DispatchResult r = dispatch(input);
  EXPECT_EQ(r.status, Status::Upgraded);
  EXPECT_EQ(r.consumed, head.size());
  ASSERT_EQ(recorder_.requests.size(), 1u);
  EXPECT_TRUE(recorder_.requests[0].info.upgrade);
  EXPECT_TRUE(recorder_.requests[0].complete);
  ASSERT_NE(recorder_.requests[0].headers.headers.get("upgrade"), nullptr);
  EXPECT_EQ(*recorder_.requests[0].headers.headers.get("upgrade"), "websocket");

  ResponseHeaders resp;
  resp.status = 101;
  resp.headers.add("upgrade", "websocket");
  resp.headers.add("connection", "Upgrade");
  resp.headers.add("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(encodeResponse(resp, false),
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
            "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nconnection: upgrade\r\n\r\n");
}

TEST_F(ServerCodecTest, UpgradeByteByByte) {
  const std::string head =
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: "
      "websocket\r\n\r\n";
  DispatchResult r = dispatchByteByByte(head);
  EXPECT_EQ(r.status, Status::Upgraded);
  EXPECT_EQ(r.consumed, head.size());
  // After the upgrade the codec takes no more bytes: they are tunnel data.
  EXPECT_EQ(dispatch("xyz").status, Status::Upgraded);
  EXPECT_EQ(dispatch("xyz").consumed, 0u);
}

TEST_F(ServerCodecTest, ConnectIsAnUpgrade) {
  const std::string head = "CONNECT backend:443 HTTP/1.1\r\nHost: backend:443\r\n\r\n";
  DispatchResult r = dispatch(head + "\x16\x03\x01");
  EXPECT_EQ(r.status, Status::Upgraded);
  EXPECT_EQ(r.consumed, head.size());
  ASSERT_EQ(recorder_.requests.size(), 1u);
  EXPECT_EQ(recorder_.requests[0].headers.method, "CONNECT");
  EXPECT_EQ(recorder_.requests[0].headers.path, "backend:443");
  EXPECT_TRUE(recorder_.requests[0].info.upgrade);
}

TEST_F(ServerCodecTest, UpgradeWithoutConnectionTokenIsPlainRequest) {
  EXPECT_EQ(dispatch("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n").status,
            Status::Paused);
  ASSERT_EQ(recorder_.requests.size(), 1u);
  EXPECT_FALSE(recorder_.requests[0].info.upgrade);
}

TEST_F(ServerCodecTest, DataAfterConnectionCloseRejected) {
  const std::string first = "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  const std::string both = first + "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
  DispatchResult r = dispatch(both);
  EXPECT_EQ(r.status, Status::Paused);
  EXPECT_EQ(r.consumed, first.size());
  codec_->resume();
  EXPECT_EQ(codec_->dispatch(both.data() + first.size(), both.size() - first.size()).status,
            Status::Error);
  EXPECT_EQ(recorder_.requests.size(), 1u);
  EXPECT_EQ(recorder_.error_status, 400);
}

// Callbacks that look at the request without copying it, for the allocation test.
class CountingCallbacks : public ServerCallbacks {
 public:
  void onRequestHeaders(RequestHeaders& headers, const MessageInfo&) override {
    header_count += headers.headers.size();
  }
  void onRequestBody(const char*, size_t len) override { body_bytes += len; }
  void onRequestComplete() override { ++completes; }
  void onRequestError(uint16_t, std::string_view) override { ++errors; }
  size_t header_count = 0;
  size_t body_bytes = 0;
  int completes = 0;
  int errors = 0;
};

TEST(ServerCodecSteadyState, NoAllocationPerRequest) {
  CountingCallbacks callbacks;
  auto codec = createServerCodec(callbacks, CodecLimits{});
  // Short names and values stay in std::string's inline storage, as most request headers do.
  const std::string req =
      "POST /api/v1?x=1 HTTP/1.1\r\nHost: svc:8080\r\nAccept: */*\r\n"
      "Content-Length: 4\r\nX-Id: 12345\r\n\r\nbody";
  ResponseHeaders resp;
  resp.headers.add("content-type", "text/plain");
  resp.headers.add("content-length", "2");
  auto exchange = [&] {
    DispatchResult r = codec->dispatch(req.data(), req.size());
    EXPECT_EQ(r.status, Status::Paused);
    buffer::Buffer out;
    codec->encodeHeaders(resp, false, false, out);
    buffer::Buffer body;
    body.add(std::string_view("ok"));
    codec->encodeData(body, true, out);
    EXPECT_EQ(out.length(), 66u);  // 17 + 26 + 19 + 2 head bytes, 2 body bytes
    codec->resume();
  };
  for (int i = 0; i < 3; ++i) {
    exchange();  // warm up: header vector capacity, scratch string, slice pool
  }
  uint64_t before = g_allocations.load();
  for (int i = 0; i < 100; ++i) {
    exchange();
  }
  EXPECT_EQ(g_allocations.load() - before, 0u);
  EXPECT_EQ(callbacks.completes, 103);
  EXPECT_EQ(callbacks.body_bytes, 103u * 4);
  EXPECT_EQ(callbacks.errors, 0);
}

// Bad input: every case reports exactly one error with its status and reason.

TEST_F(ServerCodecTest, InvalidMethod) {
  expectError("G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid_method");
}

TEST_F(ServerCodecTest, InvalidUrl) {
  expectError("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400, "malformed_start_line");
}

TEST_F(ServerCodecTest, InvalidUrlControlCharacter) {
  expectError(std::string_view("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "invalid_url");
}

TEST_F(ServerCodecTest, InvalidVersion) {
  expectError("GET / HTTP/1.7\r\nHost: h\r\n\r\n", 400, "invalid_version");
}

TEST_F(ServerCodecTest, Http2VersionRejected) {
  expectError("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 400, "unsupported_version");
}

TEST_F(ServerCodecTest, InvalidHeaderToken) {
  expectError("GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n", 400, "invalid_header");
}

TEST_F(ServerCodecTest, InvalidHeaderValueCharacter) {
  expectError(std::string_view("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n"), 400,
              "invalid_header");
}

TEST_F(ServerCodecTest, ContentLengthWithTransferEncoding) {
  expectError(
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
      "content_length_with_transfer_encoding");
}

TEST_F(ServerCodecTest, TransferEncodingWithContentLength) {
  expectError(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400,
      "content_length_with_transfer_encoding");
}

TEST_F(ServerCodecTest, DuplicateContentLengthEqualValues) {
  expectError("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
              400, "duplicate_content_length");
}

TEST_F(ServerCodecTest, InvalidContentLength) {
  expectError("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3x\r\n\r\nabc", 400,
              "invalid_content_length");
}

TEST_F(ServerCodecTest, ContentLengthList) {
  expectError("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc", 400,
              "invalid_content_length");
}

TEST_F(ServerCodecTest, NegativeContentLength) {
  expectError("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400,
              "invalid_content_length");
}

TEST_F(ServerCodecTest, ContentLengthOverflow) {
  expectError("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400,
              "invalid_content_length");
}

TEST_F(ServerCodecTest, ObsFold) {
  expectError("GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n  b\r\n\r\n", 400, "obs_fold");
  EXPECT_TRUE(recorder_.requests.empty());
}

TEST_F(ServerCodecTest, ObsFoldTab) {
  expectError("GET / HTTP/1.1\r\nX-Folded: a\r\n\tb\r\nHost: h\r\n\r\n", 400, "obs_fold");
}

TEST_F(ServerCodecTest, ObsFoldAfterEmptyValue) {
  expectError("GET / HTTP/1.1\r\nHost: h\r\nX-Folded:\r\n b\r\n\r\n", 400, "obs_fold");
}

TEST_F(ServerCodecTest, ObsFoldByteByByte) {
  DispatchResult r = dispatchByteByByte("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  b\r\n\r\n");
  EXPECT_EQ(r.status, Status::Error);
  EXPECT_EQ(recorder_.errors, 1);
  EXPECT_EQ(recorder_.error_reason, "obs_fold");
}

TEST_F(ServerCodecTest, ObsFoldAtDispatchBoundary) {
  EXPECT_EQ(dispatch("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n").status, Status::Ok);
  EXPECT_EQ(dispatch("  b\r\n\r\n").status, Status::Error);
  EXPECT_EQ(recorder_.error_reason, "obs_fold");
}

TEST_F(ServerCodecTest, ValueSplitAtSpaceIsNotObsFold) {
  // A value cut between dispatches right before an inner space continues, it does not fold.
  EXPECT_EQ(dispatch("GET / HTTP/1.1\r\nHost: h\r\nX: a").status, Status::Ok);
  EXPECT_EQ(dispatch("  b").status, Status::Ok);
  EXPECT_EQ(dispatch("\r\n\r\n").status, Status::Paused);
  ASSERT_EQ(recorder_.requests.size(), 1u);
  ASSERT_NE(recorder_.requests[0].headers.headers.get("x"), nullptr);
  EXPECT_EQ(*recorder_.requests[0].headers.headers.get("x"), "a  b");
}

TEST_F(ServerCodecTest, ObsFoldAfterEmptyValueAtBoundary) {
  EXPECT_EQ(dispatch("GET / HTTP/1.1\r\nHost: h\r\nX:\r\n").status, Status::Ok);
  EXPECT_EQ(dispatch(" b\r\n\r\n").status, Status::Error);
  EXPECT_EQ(recorder_.error_reason, "obs_fold");
}

TEST_F(ServerCodecTest, EmptyHeaderValue) {
  EXPECT_EQ(dispatchByteByByte("GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nY:   \r\n\r\n").status,
            Status::Paused);
  ASSERT_EQ(recorder_.requests.size(), 1u);
  ASSERT_NE(recorder_.requests[0].headers.headers.get("x-empty"), nullptr);
  EXPECT_EQ(*recorder_.requests[0].headers.headers.get("x-empty"), "");
  ASSERT_NE(recorder_.requests[0].headers.headers.get("y"), nullptr);
  EXPECT_EQ(*recorder_.requests[0].headers.headers.get("y"), "");
}

TEST_F(ServerCodecTest, WhitespaceBeforeColon) {
  DispatchResult r = dispatch("GET / HTTP/1.1\r\nHost : h\r\n\r\n");
  EXPECT_EQ(r.status, Status::Error);
  EXPECT_EQ(recorder_.error_status, 400);
}

TEST_F(ServerCodecTest, MissingHost) {
  expectError("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, "missing_host");
}

TEST_F(ServerCodecTest, Http10WithoutHostIsFine) {
  EXPECT_EQ(dispatch("GET / HTTP/1.0\r\n\r\n").status, Status::Paused);
  EXPECT_EQ(recorder_.errors, 0);
}

TEST_F(ServerCodecTest, MultipleHost) {
  expectError("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "multiple_host");
}

TEST_F(ServerCodecTest, TransferEncodingInHttp10) {
  expectError("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
              "transfer_encoding_in_http10");
}

TEST_F(ServerCodecTest, BadChunkSize) {
  expectError("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
              "invalid_chunk_size");
}

TEST_F(ServerCodecTest, ChunkMissingCrlf) {
  DispatchResult r = dispatch(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n");
  EXPECT_EQ(r.status, Status::Error);
  EXPECT_EQ(recorder_.errors, 1);
  EXPECT_EQ(recorder_.error_status, 400);
  ASSERT_EQ(recorder_.requests.size(), 1u);
  EXPECT_FALSE(recorder_.requests[0].complete);
}

TEST_F(ServerCodecTest, TransferEncodingGzip) {
  expectError("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
              "unsupported_transfer_encoding");
}

TEST_F(ServerCodecTest, TransferEncodingChunkedThenGzip) {
  expectError("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501,
              "unsupported_transfer_encoding");
}

TEST_F(ServerCodecTest, TransferEncodingGzipThenChunked) {
  expectError("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
              "unsupported_transfer_encoding");
}

TEST_F(ServerCodecTest, TransferEncodingTwice) {
  expectError(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
      "Transfer-Encoding: chunked\r\n\r\n",
      501, "unsupported_transfer_encoding");
}

TEST_F(ServerCodecTest, TransferEncodingChunkedCaseInsensitive) {
  EXPECT_EQ(
      dispatch("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n").status,
      Status::Paused);
  EXPECT_EQ(recorder_.errors, 0);
}

TEST_F(ServerCodecTest, HeadersTooLarge) {
  limits_.max_header_bytes = 100;
  recreate();
  std::string req = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(200, 'a');
  // Reported while the value is still arriving: no end of headers needed.
  expectError(req, 431, "headers_too_large");
}

TEST_F(ServerCodecTest, HeadersTooLargeAcrossManyHeaders) {
  limits_.max_header_bytes = 64;
  recreate();
  // Each "a: b" costs 1 + 1 + 4 bytes; 11 of them plus host exceed 64.
  std::string req = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 11; ++i) {
    req += "a: b\r\n";
  }
  expectError(req, 431, "headers_too_large");
}

TEST_F(ServerCodecTest, HeadersAtLimitAccepted) {
  limits_.max_header_bytes = 4 + 4 + 1;  // "host" + "h" + 4
  recreate();
  EXPECT_EQ(dispatch("GET / HTTP/1.1\r\nHost: h\r\n\r\n").status, Status::Paused);
  EXPECT_EQ(recorder_.errors, 0);
}

TEST_F(ServerCodecTest, TooManyHeaders) {
  limits_.max_headers = 3;
  recreate();
  expectError("GET / HTTP/1.1\r\nHost: h\r\na: 1\r\nb: 2\r\nc: 3\r\n", 431, "too_many_headers");
}

TEST_F(ServerCodecTest, UriTooLong) {
  limits_.max_uri_bytes = 16;
  recreate();
  expectError("GET /" + std::string(100, 'x'), 414, "uri_too_long");
}

TEST_F(ServerCodecTest, UriTooLongByteByByte) {
  limits_.max_uri_bytes = 16;
  recreate();
  DispatchResult r = dispatchByteByByte("GET /" + std::string(100, 'x') + " HTTP/1.1\r\n");
  EXPECT_EQ(r.status, Status::Error);
  EXPECT_EQ(recorder_.error_status, 414);
  EXPECT_EQ(recorder_.error_reason, "uri_too_long");
}

TEST_F(ServerCodecTest, ContentLengthOverBodyLimit) {
  limits_.max_body_bytes = 10;
  recreate();
  expectError("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", 413, "body_too_large");
  EXPECT_TRUE(recorder_.requests.empty());
}

TEST_F(ServerCodecTest, ChunkedOverBodyLimit) {
  limits_.max_body_bytes = 10;
  recreate();
  DispatchResult r = dispatch(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n");
  EXPECT_EQ(r.status, Status::Error);
  EXPECT_EQ(recorder_.errors, 1);
  EXPECT_EQ(recorder_.error_status, 413);
  EXPECT_EQ(recorder_.error_reason, "body_too_large");
  ASSERT_EQ(recorder_.requests.size(), 1u);
  EXPECT_EQ(recorder_.requests[0].body, "12345678");
  EXPECT_FALSE(recorder_.requests[0].complete);
}

TEST_F(ServerCodecTest, BodyAtLimitAccepted) {
  limits_.max_body_bytes = 3;
  recreate();
  EXPECT_EQ(dispatch("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc").status,
            Status::Paused);
  EXPECT_EQ(recorder_.errors, 0);
}

TEST_F(ServerCodecTest, ErrorReplyClosesConnection) {
  EXPECT_EQ(dispatch("GET / HTTP/1.1\r\n\r\n").status, Status::Error);
  ResponseHeaders resp;
  resp.status = 400;
  resp.headers.add("content-length", "11");
  EXPECT_EQ(encodeResponse(resp, false),
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\nconnection: close\r\n\r\n");
  EXPECT_TRUE(closeAfterResponse());
}

// Response encoding.

class ServerEncodeTest : public ServerCodecTest {
 protected:
  void SetUp() override {
    ServerCodecTest::SetUp();
    ASSERT_EQ(dispatch("GET / HTTP/1.1\r\nHost: h\r\n\r\n").status, Status::Paused);
  }
};

TEST_F(ServerEncodeTest, ContentLengthResponse) {
  ResponseHeaders resp;
  resp.headers.add("content-type", "text/plain");
  resp.headers.add("content-length", "5");
  EXPECT_EQ(encodeResponse(resp, false),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\n");
  EXPECT_EQ(encodeData("hello", true), "hello");
  EXPECT_FALSE(closeAfterResponse());
}

TEST_F(ServerEncodeTest, EndStreamGetsContentLengthZero) {
  ResponseHeaders resp;
  resp.status = 404;
  EXPECT_EQ(encodeResponse(resp, true), "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
}

TEST_F(ServerEncodeTest, ChunkedFraming) {
  ResponseHeaders resp;
  EXPECT_EQ(encodeResponse(resp, false), "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
  EXPECT_EQ(encodeData("hello", false), "5\r\nhello\r\n");
  EXPECT_EQ(encodeData(std::string(26, 'z'), false), "1a\r\n" + std::string(26, 'z') + "\r\n");
  EXPECT_EQ(encodeData("", false), "");
  EXPECT_EQ(encodeData("end", true), "3\r\nend\r\n0\r\n\r\n");
}

TEST_F(ServerEncodeTest, ChunkedEmptyEnd) {
  ResponseHeaders resp;
  encodeResponse(resp, false);
  EXPECT_EQ(encodeData("", true), "0\r\n\r\n");
}

TEST_F(ServerEncodeTest, NoContentHasNoContentLength) {
  ResponseHeaders resp;
  resp.status = 204;
  resp.headers.add("content-length", "0");
  EXPECT_EQ(encodeResponse(resp, true), "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(encodeData("x", true), "");
}

TEST_F(ServerEncodeTest, NotModifiedNotChunked) {
  ResponseHeaders resp;
  resp.status = 304;
  EXPECT_EQ(encodeResponse(resp, false), "HTTP/1.1 304 Not Modified\r\n\r\n");
}

TEST_F(ServerEncodeTest, HopByHopStripped) {
  ResponseHeaders resp;
  resp.headers.add("connection", "keep-alive, x-foo");
  resp.headers.add("keep-alive", "timeout=5");
  resp.headers.add("proxy-connection", "keep-alive");
  resp.headers.add("transfer-encoding", "chunked");
  resp.headers.add("upgrade", "h2c");
  resp.headers.add("te", "trailers");
  resp.headers.add("trailer", "x-checksum");
  resp.headers.add("x-kept", "yes");
  resp.headers.add("content-length", "0");
  EXPECT_EQ(encodeResponse(resp, true),
            "HTTP/1.1 200 OK\r\nx-kept: yes\r\ncontent-length: 0\r\n\r\n");
}

TEST_F(ServerEncodeTest, CloseConnectionFlag) {
  ResponseHeaders resp;
  resp.status = 503;
  EXPECT_EQ(encodeResponse(resp, true, true),
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
  EXPECT_TRUE(closeAfterResponse());
}

TEST_F(ServerEncodeTest, UnknownStatusPhrase) {
  ResponseHeaders resp;
  resp.status = 299;
  EXPECT_EQ(encodeResponse(resp, true), "HTTP/1.1 299 Unknown\r\ncontent-length: 0\r\n\r\n");
}

// Client side.

class ClientRecorder : public ClientCallbacks {
 public:
  void onResponseHeaders(ResponseHeaders& headers, const MessageInfo& info) override {
    ++header_calls;
    this->headers = headers;
    this->info = info;
  }
  void onResponseBody(const char* data, size_t len) override { body.append(data, len); }
  void onResponseComplete() override { ++completes; }
  void onResponseError(std::string_view reason) override {
    ++errors;
    error_reason = std::string(reason);
  }

  int header_calls = 0;
  ResponseHeaders headers;
  MessageInfo info;
  std::string body;
  int completes = 0;
  int errors = 0;
  std::string error_reason;
};

class ClientCodecTest : public testing::Test {
 protected:
  void SetUp() override { codec_ = createClientCodec(recorder_); }

  std::string sendRequest(std::string_view method, const MessageInfo& info = MessageInfo{}) {
    RequestHeaders req;
    req.method = std::string(method);
    req.path = "/p?q=1";
    req.authority = "upstream:8080";
    req.headers.add("accept", "*/*");
    buffer::Buffer out;
    codec_->encodeHeaders(req, info, out);
    return out.toString();
  }
  DispatchResult dispatch(std::string_view s) { return codec_->dispatch(s.data(), s.size()); }

  ClientRecorder recorder_;
  std::unique_ptr<ClientCodec> codec_;
};

TEST_F(ClientCodecTest, EncodeRequest) {
  RequestHeaders req;
  req.method = "POST";
  req.path = "/submit";
  req.authority = "svc.local";
  req.headers.add("content-type", "application/json");
  req.headers.add("connection", "keep-alive");
  req.headers.add("keep-alive", "timeout=5");
  req.headers.add("te", "trailers");
  req.headers.add("content-length", "999");
  MessageInfo info;
  info.content_length = 4;
  buffer::Buffer out;
  codec_->encodeHeaders(req, info, out);
  EXPECT_EQ(out.toString(),
            "POST /submit HTTP/1.1\r\nhost: svc.local\r\ncontent-type: application/json\r\n"
            "content-length: 4\r\n\r\n");
  buffer::Buffer body;
  body.add(std::string_view("data"));
  buffer::Buffer out2;
  codec_->encodeData(body, true, out2);
  EXPECT_EQ(out2.toString(), "data");
}

TEST_F(ClientCodecTest, EncodeChunkedRequest) {
  MessageInfo info;
  info.chunked = true;
  EXPECT_EQ(sendRequest("PUT", info),
            "PUT /p?q=1 HTTP/1.1\r\nhost: upstream:8080\r\naccept: */*\r\n"
            "transfer-encoding: chunked\r\n\r\n");
  buffer::Buffer body;
  body.add(std::string_view("abc"));
  buffer::Buffer out;
  codec_->encodeData(body, true, out);
  EXPECT_EQ(out.toString(), "3\r\nabc\r\n0\r\n\r\n");
}

TEST_F(ClientCodecTest, ContentLengthResponse) {
  sendRequest("GET");
  const std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Up: Yes \r\n\r\nhello";
  DispatchResult r = dispatch(resp);
  EXPECT_EQ(r.status, Status::Paused);
  EXPECT_EQ(r.consumed, resp.size());
  EXPECT_EQ(recorder_.header_calls, 1);
  EXPECT_EQ(recorder_.headers.status, 200);
  ASSERT_NE(recorder_.headers.headers.get("x-up"), nullptr);
  EXPECT_EQ(*recorder_.headers.headers.get("x-up"), "Yes");
  EXPECT_EQ(recorder_.info.content_length, 5u);
  EXPECT_TRUE(recorder_.info.keep_alive);
  EXPECT_TRUE(recorder_.info.has_body);
  EXPECT_EQ(recorder_.body, "hello");
  EXPECT_EQ(recorder_.completes, 1);

  // The connection is reused for a second exchange.
  codec_->resume();
  sendRequest("GET");
  EXPECT_EQ(dispatch("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").status, Status::Paused);
  EXPECT_EQ(recorder_.headers.status, 404);
  EXPECT_EQ(recorder_.completes, 2);
}

TEST_F(ClientCodecTest, ChunkedResponse) {
  sendRequest("GET");
  const std::string resp =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
      "chunked\r\n\r\n4;x=y\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n";
  size_t total = 0;
  for (char c : resp) {
    DispatchResult r = codec_->dispatch(&c, 1);
    total += r.consumed;
  }
  EXPECT_EQ(total, resp.size());
  EXPECT_TRUE(recorder_.info.chunked);
  EXPECT_TRUE(recorder_.info.keep_alive);
  EXPECT_EQ(recorder_.body, "wikipedia");
  EXPECT_EQ(recorder_.completes, 1);
}

TEST_F(ClientCodecTest, CloseDelimitedResponseCompletedByEof) {
  sendRequest("GET");
  EXPECT_EQ(dispatch("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome bytes").status,
            Status::Ok);
  EXPECT_FALSE(recorder_.info.keep_alive);
  EXPECT_TRUE(recorder_.info.has_body);
  EXPECT_EQ(dispatch(" and more").status, Status::Ok);
  EXPECT_EQ(recorder_.completes, 0);
  EXPECT_TRUE(codec_->onEof());
  EXPECT_EQ(recorder_.completes, 1);
  EXPECT_EQ(recorder_.body, "some bytes and more");
  EXPECT_EQ(recorder_.errors, 0);
}

TEST_F(ClientCodecTest, ConnectionCloseResponse) {
  sendRequest("GET");
  EXPECT_EQ(dispatch("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx").status,
            Status::Paused);
  EXPECT_FALSE(recorder_.info.keep_alive);
  EXPECT_FALSE(codec_->onEof());
  EXPECT_EQ(recorder_.errors, 0);
}

TEST_F(ClientCodecTest, HeadResponseHasNoBody) {
  sendRequest("HEAD");
  const std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
  DispatchResult r = dispatch(resp);
  EXPECT_EQ(r.status, Status::Paused);
  EXPECT_EQ(r.consumed, resp.size());
  EXPECT_EQ(recorder_.info.content_length, 1000u);
  EXPECT_FALSE(recorder_.info.has_body);
  EXPECT_TRUE(recorder_.info.keep_alive);
  EXPECT_EQ(recorder_.completes, 1);
  EXPECT_EQ(recorder_.body, "");
}

TEST_F(ClientCodecTest, HeadResponseWithoutLengthStaysKeepAlive) {
  sendRequest("HEAD");
  EXPECT_EQ(dispatch("HTTP/1.1 200 OK\r\n\r\n").status, Status::Paused);
  EXPECT_TRUE(recorder_.info.keep_alive);
  EXPECT_EQ(recorder_.completes, 1);
}

TEST_F(ClientCodecTest, ContinueThenOk) {
  MessageInfo info;
  info.content_length = 2;
  info.expect_continue = true;
  EXPECT_EQ(sendRequest("POST", info),
            "POST /p?q=1 HTTP/1.1\r\nhost: upstream:8080\r\naccept: */*\r\ncontent-length: 2\r\n"
            "expect: 100-continue\r\n\r\n");
  const std::string resp =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
  DispatchResult r = dispatch(resp);
  EXPECT_EQ(r.status, Status::Paused);
  EXPECT_EQ(r.consumed, resp.size());
  EXPECT_EQ(recorder_.header_calls, 1);
  EXPECT_EQ(recorder_.headers.status, 201);
  EXPECT_EQ(recorder_.headers.headers.get("link"), nullptr);
  EXPECT_EQ(recorder_.body, "ok");
  EXPECT_EQ(recorder_.completes, 1);
}

TEST_F(ClientCodecTest, SwitchingProtocols) {
  MessageInfo info;
  info.upgrade = true;
  RequestHeaders req;
  req.method = "GET";
  req.path = "/ws";
  req.authority = "u";
  req.headers.add("upgrade", "websocket");
  req.headers.add("connection", "upgrade");
  buffer::Buffer out;
  codec_->encodeHeaders(req, info, out);
  EXPECT_EQ(out.toString(),
            "GET /ws HTTP/1.1\r\nhost: u\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n");
  const std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  DispatchResult r = dispatch(head + "\x81\x02hi");
  EXPECT_EQ(r.status, Status::Upgraded);
  EXPECT_EQ(r.consumed, head.size());
  EXPECT_EQ(recorder_.headers.status, 101);
  EXPECT_TRUE(recorder_.info.upgrade);
  EXPECT_EQ(recorder_.completes, 1);
  EXPECT_FALSE(codec_->onEof());
  EXPECT_EQ(recorder_.errors, 0);
}

TEST_F(ClientCodecTest, InvalidResponse) {
  sendRequest("GET");
  EXPECT_EQ(dispatch("HTTP/1.1 2x0 OK\r\n\r\n").status, Status::Error);
  EXPECT_EQ(recorder_.errors, 1);
  EXPECT_EQ(recorder_.error_reason, "invalid_status");
  EXPECT_EQ(dispatch("more").status, Status::Error);
  EXPECT_FALSE(codec_->onEof());
  EXPECT_EQ(recorder_.errors, 1);
}

TEST_F(ClientCodecTest, GarbageResponse) {
  sendRequest("GET");
  EXPECT_EQ(dispatch("SSH-2.0-OpenSSH\r\n").status, Status::Error);
  EXPECT_EQ(recorder_.errors, 1);
}

TEST_F(ClientCodecTest, TruncatedBodyThenEof) {
  sendRequest("GET");
  EXPECT_EQ(dispatch("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").status, Status::Ok);
  EXPECT_FALSE(codec_->onEof());
  EXPECT_EQ(recorder_.completes, 0);
  EXPECT_EQ(recorder_.errors, 1);
  EXPECT_EQ(recorder_.error_reason, "truncated_response");
}

TEST_F(ClientCodecTest, TruncatedHeadersThenEof) {
  sendRequest("GET");
  EXPECT_EQ(dispatch("HTTP/1.1 200 OK\r\nContent-Le").status, Status::Ok);
  EXPECT_FALSE(codec_->onEof());
  EXPECT_EQ(recorder_.header_calls, 0);
  EXPECT_EQ(recorder_.errors, 1);
  EXPECT_EQ(recorder_.error_reason, "truncated_response");
}

TEST_F(ClientCodecTest, EofWhenIdleIsNotAnError) {
  sendRequest("GET");
  EXPECT_FALSE(codec_->onEof());
  EXPECT_EQ(recorder_.errors, 0);
}

TEST_F(ClientCodecTest, ResponseHeadersTooLarge) {
  sendRequest("GET");
  std::string resp = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(200 * 1024, 'a');
  EXPECT_EQ(dispatch(resp).status, Status::Error);
  EXPECT_EQ(recorder_.errors, 1);
  EXPECT_EQ(recorder_.error_reason, "headers_too_large");
}

TEST_F(ClientCodecTest, TooManyResponseHeaders) {
  sendRequest("GET");
  std::string resp = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 201; ++i) {
    resp += "a: b\r\n";
  }
  EXPECT_EQ(dispatch(resp).status, Status::Error);
  EXPECT_EQ(recorder_.error_reason, "too_many_headers");
}

TEST_F(ClientCodecTest, ObsFoldResponse) {
  sendRequest("GET");
  EXPECT_EQ(dispatch("HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n").status,
            Status::Error);
  EXPECT_EQ(recorder_.error_reason, "obs_fold");
}

TEST_F(ClientCodecTest, NoContentResponse) {
  sendRequest("DELETE");
  EXPECT_EQ(dispatch("HTTP/1.1 204 No Content\r\n\r\n").status, Status::Paused);
  EXPECT_FALSE(recorder_.info.has_body);
  EXPECT_TRUE(recorder_.info.keep_alive);
  EXPECT_EQ(recorder_.completes, 1);
}

}  // namespace
}  // namespace strait::http::http1
