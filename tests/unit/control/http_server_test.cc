// strait-cp's HTTP server driven by real clients: curl for HTTP/1.1 and HTTP/2, a raw socket for
// what curl will not send, python's h2 for an HTTP/2 stream read and written line by line, and
// certificates made by the openssl CLI for TLS.

#include "control/http_server.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tests/unit/control/test_clients.h"
#include "tests/unit/control/test_loop.h"

namespace strait::cp {
namespace {

using test::LoopThread;
using test::RawClient;
using test::runCommand;
using test::RunningCommand;

using std::chrono::milliseconds;

constexpr size_t kMaxHeaderBytes = 4096;
// The timeouts under test; a test waits three times as long where nothing may close.
constexpr milliseconds kTimeout(100);
constexpr milliseconds kDisabled(0);
const std::string kCurl = "curl -s --max-time 20 ";
const std::string kCurlH2 = kCurl + "--http2-prior-knowledge ";
const std::string kH2Client = std::string("/usr/bin/python3 ") + STRAIT_H2_CLIENT + " ";

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(start(options())); }
  virtual HttpServerOptions options() const { return {}; }

  void TearDown() override {
    loop_.run([this] {
      parked_.clear();
      server_.reset();
      handler_ = nullptr;
    });
    EXPECT_EQ(loop_.stop(), 0) << "a libuv handle was left open";
  }

  bool start(HttpServerOptions options) {
    options.max_request_header_bytes = kMaxHeaderBytes;
    return loop_.run([&] {
      server_.reset();
      auto handler = [this](const ExchangePtr& exchange) {
        ++dispatched_;
        if (handler_) {
          handler_(exchange);
        }
      };
      server_ = std::make_unique<HttpServer>(loop_.loop(), options, handler);
      std::string error;
      bool ok = server_->listen("127.0.0.1", 0, error);
      EXPECT_TRUE(ok) << error;
      port_ = server_->port();
      return ok;
    });
  }

  // The handler runs on the loop thread, like everything it touches.
  void handle(Handler handler) {
    loop_.run([&] { handler_ = std::move(handler); });
  }

  // Keeps each exchange for the test to answer later, counting on_close calls.
  void park() {
    handle([this](const ExchangePtr& exchange) {
      parked_.push_back(exchange);
      exchange->setCallbacks(
          {.on_data = nullptr, .on_end = nullptr, .on_close = [this] { ++closes_; }});
    });
  }

  size_t parkedCount() {
    return loop_.run([this] { return parked_.size(); });
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  // Restarts the server with these timeouts (the TLS fixture's certificates kept).
  bool startWithTimeouts(milliseconds handshake, milliseconds request_header, milliseconds idle) {
    HttpServerOptions timed = options();
    timed.handshake_timeout = handshake;
    timed.request_header_timeout = request_header;
    timed.idle_timeout = idle;
    return start(timed);
  }

  // Lets `duration` pass on the loop's clock, by a timer on the loop rather than a sleep: the
  // server's timers due earlier fire first however loaded the machine is.
  void letPass(milliseconds duration) {
    struct TestTimer {
      uv_timer_t handle;
      std::shared_ptr<bool> fired;
    };
    auto fired = std::make_shared<bool>(false);
    loop_.run([&] {
      auto* timer = new TestTimer{{}, fired};
      uv_timer_init(loop_.loop(), &timer->handle);
      timer->handle.data = timer;
      uv_timer_start(
          &timer->handle,
          [](uv_timer_t* handle) {
            *static_cast<TestTimer*>(handle->data)->fired = true;
            uv_close(reinterpret_cast<uv_handle_t*>(handle),
                     [](uv_handle_t* closed) { delete static_cast<TestTimer*>(closed->data); });
          },
          static_cast<uint64_t>(duration.count()), 0);
    });
    ASSERT_TRUE(loop_.waitFor([&] { return *fired; }));
  }

  LoopThread loop_;
  std::unique_ptr<HttpServer> server_;
  Handler handler_;
  std::vector<ExchangePtr> parked_;
  int dispatched_ = 0;
  int closes_ = 0;
  uint16_t port_ = 0;
};

std::string get(const std::string& path, const std::string& extra_headers = "") {
  return "GET " + path + " HTTP/1.1\r\nhost: test\r\n" + extra_headers + "\r\n";
}

// --- HTTP/1.1 ------------------------------------------------------------------------------

TEST_F(HttpServerTest, RespondSendsStatusHeadersAndSizedBody) {
  HttpRequest seen;
  handle([&](const ExchangePtr& exchange) {
    seen = exchange->request();
    exchange->respond(201, "text/plain", "hello " + exchange->request().path);
  });

  auto result = runCommand(kCurl + "-i -H 'X-Test: abc' '" + url("/a/b?c=d") + "'");

  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.output.find("HTTP/1.1 201 Created\r\n"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("content-length: 14\r\n"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("content-type: text/plain\r\n"), std::string::npos);
  EXPECT_EQ(result.output.find("transfer-encoding"), std::string::npos);
  EXPECT_NE(result.output.find("\r\n\r\nhello /a/b?c=d"), std::string::npos);
  loop_.run([&] {
    EXPECT_EQ(seen.method, "GET");
    EXPECT_EQ(seen.path, "/a/b?c=d");
    EXPECT_EQ(seen.http_major, 1);
    EXPECT_EQ(seen.header("x-test"), "abc");
    EXPECT_EQ(seen.header("X-TEST"), "abc");
    EXPECT_EQ(seen.peer_address.rfind("127.0.0.1:", 0), 0u) << seen.peer_address;
    EXPECT_TRUE(seen.peer_uri_san.empty());
  });
}

TEST_F(HttpServerTest, KeepAliveServesRequestsOnOneConnection) {
  std::set<std::string> peers;
  handle([&](const ExchangePtr& exchange) {
    peers.insert(exchange->request().peer_address);
    exchange->respond(200, "text/plain", exchange->request().path + "\n");
  });

  auto result = runCommand(kCurl + url("/one") + " " + url("/two") + " " + url("/three"));

  EXPECT_EQ(result.output, "/one\n/two\n/three\n");
  EXPECT_EQ(loop_.run([&] { return peers.size(); }), 1u);
}

// Answers "<size>:<body>" once the request body has arrived.
void answerWithBody(const ExchangePtr& exchange) {
  auto body = std::make_shared<std::string>();
  std::weak_ptr<Exchange> weak = exchange;
  exchange->setCallbacks({.on_data = [body](std::string_view piece) { body->append(piece); },
                          .on_end =
                              [body, weak] {
                                if (auto exchange = weak.lock()) {
                                  exchange->respond(200, "text/plain",
                                                    std::to_string(body->size()) + ":" + *body);
                                }
                              },
                          .on_close = nullptr});
}

TEST_F(HttpServerTest, RequestBodyArrivesInPiecesThenEnds) {
  handle(answerWithBody);

  auto sized = runCommand(kCurl + "--data-binary 'abc=def' " + url("/sized"));
  auto chunked =
      runCommand(kCurl + "-H 'Transfer-Encoding: chunked' --data-binary 'xyz' " + url("/chunked"));

  EXPECT_EQ(sized.output, "7:abc=def");
  EXPECT_EQ(chunked.output, "3:xyz");
}

TEST_F(HttpServerTest, StreamedResponseIsChunkedAndWrittenWhenTheServerWrites) {
  park();
  // The response's transfer-encoding is printed after the body.
  RunningCommand curl(kCurl + "-N -w '%header{transfer-encoding}\\n' " + url("/stream"));
  ASSERT_TRUE(loop_.waitFor([&] { return parked_.size() == 1; }));
  loop_.run([&] { parked_[0]->start(200, {{"content-type", "application/json"}}); });

  // Each line is read before the next is written: the body leaves as it is written.
  for (int i = 0; i < 3; ++i) {
    std::string line = "{\"n\":" + std::to_string(i) + "}";
    loop_.run([&] { parked_[0]->write(line + "\n"); });
    EXPECT_EQ(curl.readLine(), line);
  }
  loop_.run([&] { parked_[0]->finish(); });
  EXPECT_EQ(curl.readLine(), "chunked");
  EXPECT_EQ(curl.wait(), 0);
  EXPECT_EQ(loop_.run([&] { return closes_; }), 0);
}

TEST_F(HttpServerTest, MalformedRequestGets400AndClose) {
  RawClient client(port_);
  ASSERT_TRUE(client.connected());
  client.send("NOT AN HTTP REQUEST\r\n\r\n");

  ASSERT_TRUE(client.readUntilClosed());
  EXPECT_EQ(client.received().rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << client.received();
  EXPECT_EQ(loop_.run([&] { return dispatched_; }), 0);
}

TEST_F(HttpServerTest, MalformedChunkedBodyClosesTheExchange) {
  park();
  RawClient client(port_);
  client.send("POST /x HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\nZZZ\r\n");

  ASSERT_TRUE(client.readUntilClosed());
  EXPECT_EQ(client.received().rfind("HTTP/1.1 400", 0), 0u) << client.received();
  EXPECT_TRUE(loop_.waitFor([&] { return closes_ == 1 && parked_[0]->closed(); }));
}

TEST_F(HttpServerTest, OversizedHeaderBlockGets431AndClose) {
  RawClient client(port_);
  client.send(get("/", "x-big: " + std::string(kMaxHeaderBytes, 'a') + "\r\n"));

  ASSERT_TRUE(client.readUntilClosed());
  EXPECT_EQ(client.received().rfind("HTTP/1.1 431 ", 0), 0u) << client.received();
  EXPECT_EQ(loop_.run([&] { return dispatched_; }), 0);
}

TEST_F(HttpServerTest, HeaderBlockJustUnderTheLimitIsServed) {
  handle([](const ExchangePtr& exchange) { exchange->respond(204, "text/plain", ""); });
  RawClient client(port_);
  client.send(get("/", "x-big: " + std::string(kMaxHeaderBytes / 2, 'a') + "\r\n"));

  EXPECT_EQ(client.readUntil("\r\n\r\n").rfind("HTTP/1.1 204 ", 0), 0u) << client.received();
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  handle([](const ExchangePtr& exchange) { exchange->respond(200, "text/plain", "bye"); });
  RawClient client(port_);
  client.send(get("/", "connection: close\r\n"));

  ASSERT_TRUE(client.readUntilClosed());
  EXPECT_NE(client.received().find("\r\nconnection: close\r\n"), std::string::npos);
  EXPECT_NE(client.received().find("\r\n\r\nbye"), std::string::npos);
}

TEST_F(HttpServerTest, PipelinedRequestWaitsForTheResponseBeforeIt) {
  park();
  RawClient client(port_);
  client.send(get("/first") + get("/second"));
  ASSERT_TRUE(loop_.waitFor([&] { return parked_.size() == 1; }));
  // The second request is in the server's buffer, not yet handed to the handler.
  EXPECT_EQ(parkedCount(), 1u);

  loop_.run([&] { parked_[0]->respond(200, "text/plain", "first-body"); });
  ASSERT_TRUE(loop_.waitFor([&] { return parked_.size() == 2; }));
  loop_.run([&] {
    EXPECT_EQ(parked_[1]->request().path, "/second");
    parked_[1]->respond(200, "text/plain", "second-body");
  });

  std::string received = client.readUntil("second-body");
  ASSERT_NE(received.find("second-body"), std::string::npos) << received;
  EXPECT_LT(received.find("first-body"), received.find("second-body"));
}

TEST_F(HttpServerTest, OnCloseWhenTheClientLeavesALongPoll) {
  park();
  RawClient client(port_);
  client.send(get("/poll"));
  ASSERT_TRUE(loop_.waitFor([&] { return parked_.size() == 1; }));

  client.close();

  ASSERT_TRUE(loop_.waitFor([&] { return closes_ == 1; }));
  loop_.run([&] {
    EXPECT_TRUE(parked_[0]->closed());
    // Answers to a departed client go nowhere.
    parked_[0]->respond(200, "text/plain", "too late");
    parked_[0]->write("more");
    parked_[0]->finish();
    EXPECT_EQ(parked_[0]->pendingBytes(), 0u);
  });
  EXPECT_TRUE(loop_.waitFor([&] { return server_->connections() == 0; }));
  EXPECT_EQ(loop_.run([&] { return closes_; }), 1);
}

// A peer that resets the connection between the server's read and its answer makes that
// write raise SIGPIPE; the server must have it ignored or the process dies. (The race itself
// cannot be staged reliably, so the disposition is checked.)
TEST_F(HttpServerTest, ListenIgnoresSigpipeUnlessTheApplicationHandlesIt) {
  struct sigaction current {};
  ASSERT_EQ(sigaction(SIGPIPE, nullptr, &current), 0);
  EXPECT_EQ(current.sa_handler, SIG_IGN);

  static void (*const kOwnHandler)(int) = [](int) {};
  signal(SIGPIPE, kOwnHandler);
  ASSERT_TRUE(start(options()));
  ASSERT_EQ(sigaction(SIGPIPE, nullptr, &current), 0);
  EXPECT_EQ(current.sa_handler, kOwnHandler);
  signal(SIGPIPE, SIG_IGN);
}

TEST_F(HttpServerTest, DroppedExchangeLeavesTheConnectionUntilThePeerCloses) {
  handle([](const ExchangePtr&) {});
  RawClient client(port_);
  client.send(get("/ignored"));
  ASSERT_TRUE(loop_.waitFor([&] { return dispatched_ == 1; }));
  EXPECT_EQ(loop_.run([&] { return server_->connections(); }), 1u);

  client.close();

  EXPECT_TRUE(loop_.waitFor([&] { return server_->connections() == 0; }));
}

TEST_F(HttpServerTest, CloseEndsLongPollsAndConnections) {
  park();
  RawClient client(port_);
  client.send(get("/poll"));
  ASSERT_TRUE(loop_.waitFor([&] { return parked_.size() == 1; }));

  loop_.run([&] { server_->close(); });

  EXPECT_EQ(loop_.run([&] { return closes_; }), 1);
  EXPECT_TRUE(client.readUntilClosed());
  EXPECT_TRUE(loop_.waitFor([&] { return server_->connections() == 0; }));
}

TEST_F(HttpServerTest, AnswerThenCloseFromInsideTheHandlerSendsTheAnswer) {
  handle([this](const ExchangePtr& exchange) {
    exchange->respond(200, "text/plain", "last answer");
    server_->close();
  });

  auto result = runCommand(kCurl + "-w '|%{http_code}' " + url("/last"));

  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.output, "last answer|200");
  EXPECT_TRUE(loop_.waitFor([&] { return server_->connections() == 0; }));
}

TEST_F(HttpServerTest, ExchangeOutlivesTheServer) {
  park();
  RawClient client(port_);
  client.send(get("/poll"));
  ASSERT_TRUE(loop_.waitFor([&] { return parked_.size() == 1; }));

  loop_.run([&] {
    server_.reset();
    EXPECT_EQ(closes_, 1);
    EXPECT_TRUE(parked_[0]->closed());
    parked_[0]->respond(200, "text/plain", "nobody listens");
  });
  EXPECT_TRUE(client.readUntilClosed());
}

// --- HTTP/2 --------------------------------------------------------------------------------

TEST_F(HttpServerTest, Http2PriorKnowledgeRequestAndResponse) {
  HttpRequest seen;
  handle([&](const ExchangePtr& exchange) {
    seen = exchange->request();
    exchange->respond(200, "text/plain", "hello " + exchange->request().path);
  });

  auto result =
      runCommand(kCurlH2 + "-H 'X-Test: abc' -w '|%{http_code}|%{http_version}' " + url("/h2?x=1"));

  EXPECT_EQ(result.output, "hello /h2?x=1|200|2");
  loop_.run([&] {
    EXPECT_EQ(seen.http_major, 2);
    EXPECT_EQ(seen.method, "GET");
    EXPECT_EQ(seen.path, "/h2?x=1");
    EXPECT_EQ(seen.header("x-test"), "abc");
    for (const auto& [name, value] : seen.headers) {
      EXPECT_NE(name[0], ':') << name;
    }
  });
}

TEST_F(HttpServerTest, Http2RequestBodyArrivesThenEnds) {
  handle(answerWithBody);

  auto result = runCommand(kCurlH2 + "--data-binary 'abc=def' " + url("/body"));

  EXPECT_EQ(result.output, "7:abc=def");
}

TEST_F(HttpServerTest, Http2StreamedResponseIsWrittenWhenTheServerWrites) {
  park();
  RunningCommand curl(kCurlH2 + "-N -w '%{http_version}\\n' " + url("/stream"));
  ASSERT_TRUE(loop_.waitFor([&] { return parked_.size() == 1; }));
  loop_.run([&] { parked_[0]->start(200, {{"content-type", "application/json"}}); });

  for (int i = 0; i < 3; ++i) {
    std::string line = "{\"n\":" + std::to_string(i) + "}";
    loop_.run([&] { parked_[0]->write(line + "\n"); });
    EXPECT_EQ(curl.readLine(), line);
  }
  loop_.run([&] { parked_[0]->finish(); });
  EXPECT_EQ(curl.readLine(), "2");
  EXPECT_EQ(curl.wait(), 0);
  EXPECT_EQ(loop_.run([&] { return closes_; }), 0);
}

// The discovery stream's shape: the response is written a line at a time, each in answer to a
// request-body line, on one stream that stays open in between.
TEST_F(HttpServerTest, Http2StreamAnswersEachRequestLine) {
  handle([](const ExchangePtr& exchange) {
    exchange->start(200, {{"content-type", "application/x-ndjson"}});
    auto partial = std::make_shared<std::string>();
    std::weak_ptr<Exchange> weak = exchange;
    exchange->setCallbacks({.on_data =
                                [partial, weak](std::string_view piece) {
                                  partial->append(piece);
                                  size_t end;
                                  while ((end = partial->find('\n')) != std::string::npos) {
                                    if (auto exchange = weak.lock()) {
                                      exchange->write("echo: " + partial->substr(0, end + 1));
                                    }
                                    partial->erase(0, end + 1);
                                  }
                                },
                            .on_end =
                                [weak] {
                                  if (auto exchange = weak.lock()) {
                                    exchange->finish();
                                  }
                                },
                            .on_close = nullptr});
  });

  auto result = runCommand(kH2Client + std::to_string(port_) + " echo");

  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.output, "echo: line 0\necho: line 1\necho: line 2\nstatus 200\n");
}

TEST_F(HttpServerTest, Http2StreamResetCallsOnCloseAndTheConnectionGoesOn) {
  handle([this](const ExchangePtr& exchange) {
    if (exchange->request().path == "/poll") {
      parked_.push_back(exchange);
      exchange->setCallbacks(
          {.on_data = nullptr, .on_end = nullptr, .on_close = [this] { ++closes_; }});
      exchange->start(200, {});
    } else {
      exchange->respond(200, "text/plain", "hello");
    }
  });

  auto result = runCommand(kH2Client + std::to_string(port_) + " reset");

  EXPECT_EQ(result.output, "hello\n");
  ASSERT_TRUE(loop_.waitFor([&] { return closes_ == 1; }));
  loop_.run([&] {
    EXPECT_TRUE(parked_[0]->closed());
    parked_[0]->write("after the reset");
    parked_[0]->finish();
  });
  EXPECT_EQ(loop_.run([&] { return closes_; }), 1);
}

TEST_F(HttpServerTest, Http2ClientGoawayClosesOnceItsStreamsAreDone) {
  park();
  RunningCommand client(kH2Client + std::to_string(port_) + " goaway");
  EXPECT_EQ(client.readLine(), "sent goaway");
  ASSERT_TRUE(loop_.waitFor([&] { return parked_.size() == 1; }));

  loop_.run([&] { parked_[0]->respond(200, "text/plain", "last answer"); });

  EXPECT_EQ(client.readLine(), "closed");
  EXPECT_EQ(client.wait(), 0);
  EXPECT_TRUE(loop_.waitFor([&] { return server_->connections() == 0; }));
}

TEST_F(HttpServerTest, Http2ServerCloseSendsGoaway) {
  park();
  RunningCommand client(kH2Client + std::to_string(port_) + " server-goaway");
  EXPECT_EQ(client.readLine(), "waiting");
  ASSERT_TRUE(loop_.waitFor([&] { return parked_.size() == 1; }));

  loop_.run([&] { server_->close(); });

  EXPECT_EQ(client.readLine(), "goaway 0");
  EXPECT_EQ(client.readLine(), "closed");
  EXPECT_EQ(loop_.run([&] { return closes_; }), 1);
}

// The handler closes the server from inside nghttp2's callback: the GOAWAY is still sent, after
// what nghttp2 had queued, before the socket closes.
TEST_F(HttpServerTest, Http2CloseFromInsideTheHandlerSendsGoaway) {
  handle([this](const ExchangePtr& exchange) {
    parked_.push_back(exchange);
    exchange->setCallbacks(
        {.on_data = nullptr, .on_end = nullptr, .on_close = [this] { ++closes_; }});
    server_->close();
  });

  auto result = runCommand(kH2Client + std::to_string(port_) + " server-goaway");

  EXPECT_EQ(result.output, "waiting\ngoaway 0\nclosed\n");
  EXPECT_EQ(loop_.run([&] { return closes_; }), 1);
}

TEST_F(HttpServerTest, Http2AnswerThenCloseFromInsideTheHandlerSendsTheAnswer) {
  handle([this](const ExchangePtr& exchange) {
    exchange->respond(200, "text/plain", "last answer");
    server_->close();
  });

  auto result = runCommand(kCurlH2 + "-w '|%{http_code}' " + url("/last"));

  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.output, "last answer|200");
  EXPECT_TRUE(loop_.waitFor([&] { return server_->connections() == 0; }));
}

TEST_F(HttpServerTest, Http2OversizedHeaderBlockGets431) {
  auto result = runCommand(kH2Client + std::to_string(port_) + " big-header");

  EXPECT_EQ(result.output, "431\n");
  EXPECT_EQ(loop_.run([&] { return dispatched_; }), 0);
}

TEST_F(HttpServerTest, Http2GarbageAfterThePrefaceClosesTheConnection) {
  RawClient client(port_);
  client.send(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string(64, '\xff'));

  EXPECT_TRUE(client.readUntilClosed());
  EXPECT_EQ(loop_.run([&] { return dispatched_; }), 0);
}

// --- Timeouts -----------------------------------------------------------------------------
// Each test leaves on only the timeout it is about, so the close it sees is that one's.

// The frame types in a run of HTTP/2 frames, in order; a partial last frame is left out.
std::vector<int> frameTypes(std::string_view bytes) {
  std::vector<int> types;
  size_t at = 0;
  while (at + 9 <= bytes.size()) {
    auto byte = [&](size_t i) { return static_cast<size_t>(static_cast<uint8_t>(bytes[at + i])); };
    size_t length = (byte(0) << 16) | (byte(1) << 8) | byte(2);
    if (at + 9 + length > bytes.size()) {
      break;
    }
    types.push_back(static_cast<int>(byte(3)));
    at += 9 + length;
  }
  return types;
}

constexpr int kGoawayFrame = 7;

TEST_F(HttpServerTest, SilentConnectionIsClosedAfterTheRequestHeaderTimeout) {
  ASSERT_TRUE(startWithTimeouts(kDisabled, kTimeout, kDisabled));
  RawClient client(port_);
  ASSERT_TRUE(client.connected());

  ASSERT_TRUE(client.readUntilClosed());
  // Nothing was asked, so nothing is answered.
  EXPECT_EQ(client.received(), "");
}

TEST_F(HttpServerTest, PartialRequestHeadGets408AndClose) {
  ASSERT_TRUE(startWithTimeouts(kDisabled, kTimeout, kDisabled));
  RawClient client(port_);
  client.send("GET /slow HTTP/1.1\r\nhost: t\r\n");

  ASSERT_TRUE(client.readUntilClosed());
  EXPECT_EQ(client.received().rfind("HTTP/1.1 408 Request Timeout\r\n", 0), 0u)
      << client.received();
  EXPECT_NE(client.received().find("\r\nconnection: close\r\n"), std::string::npos);
  EXPECT_EQ(loop_.run([&] { return dispatched_; }), 0);
}

// A slowloris: each byte of the head comes before the timeout would pass, and the deadline,
// counted from the first byte, still ends it.
TEST_F(HttpServerTest, HeadSentAByteAtATimeStillTimesOut) {
  ASSERT_TRUE(startWithTimeouts(kDisabled, kTimeout, kDisabled));
  RawClient client(port_);
  std::string head = get("/slow", "x-pad: " + std::string(1000, 'a') + "\r\n");

  for (size_t i = 0; i < head.size() - 2 && client.send(head.substr(i, 1)); ++i) {
    // Paces the client (a fifth of the timeout per byte); a close ends the loop.
    if (client.readUntilClosed(kTimeout / 5)) {
      break;
    }
  }

  ASSERT_TRUE(client.readUntilClosed());
  EXPECT_EQ(client.received().rfind("HTTP/1.1 408 ", 0), 0u) << client.received();
  EXPECT_EQ(loop_.run([&] { return dispatched_; }), 0);
}

TEST_F(HttpServerTest, PartialHeadOfAKeepAliveRequestIsTimedFromItsFirstByte) {
  ASSERT_TRUE(startWithTimeouts(kDisabled, kTimeout, kDisabled));
  handle([](const ExchangePtr& exchange) { exchange->respond(200, "text/plain", "first-body"); });
  RawClient client(port_);
  client.send(get("/first"));
  ASSERT_NE(client.readUntil("first-body").find("first-body"), std::string::npos);

  client.send("GET /second HTTP/1.1\r\n");

  ASSERT_TRUE(client.readUntilClosed());
  std::string after_first = client.received().substr(client.received().find("first-body"));
  EXPECT_NE(after_first.find("HTTP/1.1 408 "), std::string::npos) << client.received();
  EXPECT_EQ(loop_.run([&] { return dispatched_; }), 1);
}

// The head of a request waiting behind a long-poll is timed from that poll's answer, not from
// its arrival: the poll may take any time.
TEST_F(HttpServerTest, PipelinedPartialHeadIsTimedFromThePreviousResponsesEnd) {
  ASSERT_TRUE(startWithTimeouts(kDisabled, kTimeout, kDisabled));
  park();
  RawClient client(port_);
  client.send(get("/first") + "GET /second HTTP/1.1\r\n");
  ASSERT_TRUE(loop_.waitFor([&] { return parked_.size() == 1; }));

  letPass(3 * kTimeout);
  EXPECT_FALSE(client.readUntilClosed(milliseconds(1)));
  loop_.run([&] { parked_[0]->respond(200, "text/plain", "first-body"); });

  ASSERT_TRUE(client.readUntilClosed());
  const std::string& received = client.received();
  ASSERT_NE(received.find("first-body"), std::string::npos) << received;
  EXPECT_LT(received.find("first-body"), received.find("HTTP/1.1 408 ")) << received;
  EXPECT_EQ(parkedCount(), 1u);
}

TEST_F(HttpServerTest, KeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  ASSERT_TRUE(startWithTimeouts(kDisabled, kDisabled, kTimeout));
  handle([](const ExchangePtr& exchange) { exchange->respond(200, "text/plain", "answer"); });
  RawClient client(port_);
  client.send(get("/"));
  ASSERT_NE(client.readUntil("answer").find("answer"), std::string::npos);

  ASSERT_TRUE(client.readUntilClosed());
  // One response, then the close: nothing is said to an idle HTTP/1.1 client.
  EXPECT_EQ(client.received().find("HTTP/1.1", 1), std::string::npos) << client.received();
  EXPECT_TRUE(loop_.waitFor([&] { return server_->connections() == 0; }));
}

TEST_F(HttpServerTest, LongPollOutlivesTheIdleAndHeaderTimeouts) {
  ASSERT_TRUE(startWithTimeouts(kDisabled, kTimeout, kTimeout));
  park();
  RawClient client(port_);
  client.send(get("/poll"));
  ASSERT_TRUE(loop_.waitFor([&] { return parked_.size() == 1; }));

  letPass(3 * kTimeout);
  EXPECT_FALSE(client.readUntilClosed(milliseconds(1)));
  loop_.run([&] {
    EXPECT_FALSE(parked_[0]->closed());
    parked_[0]->respond(200, "text/plain", "held answer");
  });

  std::string received = client.readUntil("held answer");
  EXPECT_EQ(received.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << received;
  EXPECT_NE(received.find("content-length: 11\r\n\r\nheld answer"), std::string::npos) << received;
  EXPECT_EQ(loop_.run([&] { return closes_; }), 0);
}

TEST_F(HttpServerTest, ZeroTimeoutsLeaveASilentConnectionOpen) {
  ASSERT_TRUE(startWithTimeouts(kDisabled, kDisabled, kDisabled));
  RawClient client(port_);
  ASSERT_TRUE(client.connected());

  letPass(3 * kTimeout);

  EXPECT_FALSE(client.readUntilClosed(milliseconds(1)));
  EXPECT_EQ(loop_.run([&] { return server_->connections(); }), 1u);
}

TEST_F(HttpServerTest, Http2ConnectionWithNoStreamGetsGoawayAfterTheIdleTimeout) {
  ASSERT_TRUE(startWithTimeouts(kDisabled, kDisabled, kTimeout));
  handle([](const ExchangePtr& exchange) { exchange->respond(200, "text/plain", "hello"); });

  auto result = runCommand(kH2Client + std::to_string(port_) + " idle");

  EXPECT_EQ(result.output, "hello\ngoaway 0\nclosed\n");
  EXPECT_TRUE(loop_.waitFor([&] { return server_->connections() == 0; }));
}

TEST_F(HttpServerTest, Http2StreamOutlivesTheIdleTimeout) {
  ASSERT_TRUE(startWithTimeouts(kDisabled, kTimeout, kTimeout));
  park();
  RunningCommand curl(kCurlH2 + "-N " + url("/stream"));
  ASSERT_TRUE(loop_.waitFor([&] { return parked_.size() == 1; }));
  loop_.run([&] { parked_[0]->start(200, {}); });
  loop_.run([&] { parked_[0]->write("before\n"); });
  EXPECT_EQ(curl.readLine(), "before");

  letPass(3 * kTimeout);
  loop_.run([&] {
    EXPECT_FALSE(parked_[0]->closed());
    parked_[0]->write("after\n");
    parked_[0]->finish();
  });

  EXPECT_EQ(curl.readLine(), "after");
  EXPECT_EQ(curl.wait(), 0);
  EXPECT_EQ(loop_.run([&] { return closes_; }), 0);
}

// A HEADERS frame whose header block never ends holds the whole connection (no other frame may
// come between it and its CONTINUATION).
TEST_F(HttpServerTest, Http2UnfinishedHeaderBlockGetsGoawayAfterTheRequestHeaderTimeout) {
  ASSERT_TRUE(startWithTimeouts(kDisabled, kTimeout, kDisabled));
  RawClient client(port_);
  std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  std::string settings("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
  // Stream 1, no END_HEADERS: :method GET, :path /, :scheme http from the static table.
  std::string headers("\x00\x00\x03\x01\x00\x00\x00\x00\x01\x82\x84\x86", 12);
  client.send(preface + settings + headers);

  ASSERT_TRUE(client.readUntilClosed());
  std::vector<int> types = frameTypes(client.received());
  EXPECT_NE(std::find(types.begin(), types.end(), kGoawayFrame), types.end());
  EXPECT_EQ(loop_.run([&] { return dispatched_; }), 0);
}

// --- TLS ---------------------------------------------------------------------------------

constexpr std::string_view kClientSan = "spiffe://example.org/ns/default/sa/edge";

// A throwaway CA, a server certificate for 127.0.0.1 and a client certificate whose URI SAN is
// kClientSan, made once for the suite by the openssl CLI.
class HttpServerTlsTest : public HttpServerTest {
 protected:
  static void SetUpTestSuite() {
    char dir_template[] = "/tmp/strait-http-tls-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    std::string script = "set -e; cd " + dir_ + R"(
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=test-ca -keyout ca.key -out ca.pem \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign
      issue() {
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
          -subj /CN=$1 -keyout $1.key -out $1.csr
        printf "$2" > $1.ext
        openssl x509 -req -in $1.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
          -extfile $1.ext -out $1.pem
      }
      issue server 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
      issue client 'subjectAltName=URI:)" +
                         std::string(kClientSan) + R"(\nextendedKeyUsage=clientAuth\n'
    )";
    auto result = runCommand("(" + script + ") >/dev/null 2>&1; echo $?");
    ASSERT_EQ(result.output, "0\n") << "openssl could not make the test certificates";
  }

  static void TearDownTestSuite() { runCommand("rm -rf " + dir_); }

  HttpServerOptions options() const override {
    HttpServerOptions options;
    options.cert_file = file("server.pem");
    options.key_file = file("server.key");
    options.ca_file = file("ca.pem");
    return options;
  }

  static std::string file(const std::string& name) { return dir_ + "/" + name; }

  std::string curlTls(const std::string& flags) const {
    return kCurl + "--cacert " + file("ca.pem") + " " + flags +
           " https://127.0.0.1:" + std::to_string(port_) + "/whoami";
  }

  static std::string withClientCert() {
    return "--cert " + file("client.pem") + " --key " + file("client.key") + " ";
  }

  // Answers with the client's URI SAN and the HTTP version.
  void answerWithPeer() {
    handle([](const ExchangePtr& exchange) {
      const HttpRequest& request = exchange->request();
      exchange->respond(200, "text/plain",
                        request.peer_uri_san + " " + std::to_string(request.http_major));
    });
  }

  static std::string dir_;
};

std::string HttpServerTlsTest::dir_;

TEST_F(HttpServerTlsTest, ClientCertificateUriSanReachesTheRequestOverH2) {
  answerWithPeer();

  auto result = runCommand(curlTls(withClientCert() + "-w '|%{http_version}'"));

  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.output, std::string(kClientSan) + " 2|2");
}

TEST_F(HttpServerTlsTest, AlpnHttp11ServesHttp1) {
  answerWithPeer();

  auto result = runCommand(curlTls(withClientCert() + "--http1.1 -w '|%{http_version}'"));

  EXPECT_EQ(result.output, std::string(kClientSan) + " 1|1.1");
}

TEST_F(HttpServerTlsTest, StreamedHttp2ResponseOverTls) {
  park();
  RunningCommand curl(curlTls(withClientCert() + "-N"));
  ASSERT_TRUE(loop_.waitFor([&] { return parked_.size() == 1; }));
  loop_.run([&] { parked_[0]->start(200, {}); });

  for (int i = 0; i < 3; ++i) {
    std::string line = "line " + std::to_string(i);
    loop_.run([&] { parked_[0]->write(line + "\n"); });
    EXPECT_EQ(curl.readLine(), line);
  }
  loop_.run([&] { parked_[0]->finish(); });
  EXPECT_EQ(curl.wait(), 0);
}

TEST_F(HttpServerTlsTest, NoClientCertificateFailsTheHandshake) {
  answerWithPeer();

  auto result = runCommand(curlTls(""));

  EXPECT_NE(result.exit_code, 0);
  EXPECT_EQ(loop_.run([&] { return dispatched_; }), 0);
  EXPECT_TRUE(loop_.waitFor([&] { return server_->connections() == 0; }));
}

TEST_F(HttpServerTlsTest, PlaintextOnTheTlsPortIsClosed) {
  RawClient client(port_);
  client.send(get("/"));

  EXPECT_TRUE(client.readUntilClosed());
  EXPECT_EQ(loop_.run([&] { return dispatched_; }), 0);
}

TEST_F(HttpServerTlsTest, WithoutACaFileNoClientCertificateIsAsked) {
  HttpServerOptions no_ca = options();
  no_ca.ca_file.clear();
  ASSERT_TRUE(start(no_ca));
  answerWithPeer();

  auto result = runCommand(curlTls("--http1.1"));

  EXPECT_EQ(result.output, " 1");
}

TEST_F(HttpServerTlsTest, UnfinishedHandshakeIsClosedAfterTheHandshakeTimeout) {
  ASSERT_TRUE(startWithTimeouts(kTimeout, kDisabled, kDisabled));
  RawClient silent(port_);
  RawClient partial(port_);
  // A TLS record header (handshake, TLS 1.0 record version) with none of its ClientHello.
  partial.send(std::string("\x16\x03\x01\x00\xc8", 5));

  EXPECT_TRUE(silent.readUntilClosed());
  EXPECT_TRUE(partial.readUntilClosed());
  EXPECT_EQ(silent.received(), "");
  EXPECT_EQ(partial.received(), "");
  EXPECT_TRUE(loop_.waitFor([&] { return server_->connections() == 0; }));
}

TEST_F(HttpServerTlsTest, ListenFailsOnAMissingCertificate) {
  loop_.run([&] {
    HttpServerOptions bad = options();
    bad.cert_file = file("absent.pem");
    HttpServer server(loop_.loop(), bad, [](const ExchangePtr&) {});
    std::string error;
    EXPECT_FALSE(server.listen("127.0.0.1", 0, error));
    EXPECT_NE(error.find("absent.pem"), std::string::npos) << error;

    HttpServerOptions half = options();
    half.key_file.clear();
    HttpServer half_server(loop_.loop(), half, [](const ExchangePtr&) {});
    EXPECT_FALSE(half_server.listen("127.0.0.1", 0, error));
  });
}

}  // namespace
}  // namespace strait::cp
