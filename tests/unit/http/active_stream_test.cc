// ActiveStream, the downstream side of one request (issue 10, item 2), over fakes: a worker
// context of fake dispatcher, scripted randomness and fake clusters (strait/http/worker_context.h),
// a downstream that records what the stream encoded and wrote (DownstreamStream), and a real
// snapshot built from YAML for the listener's routes and stats.

#include "proxy/http/active_stream.h"

#include <gtest/gtest.h>

#include <functional>

#include "config/loader.h"
#include "proxy/server/snapshot.h"
#include "tests/mocks/fake_connection.h"
#include "tests/mocks/fake_dispatcher.h"
#include "tests/mocks/fake_upstream.h"
#include "tests/mocks/scripted_random.h"
#include "tests/mocks/test_process.h"

namespace strait::http {
namespace {

using strait::testing::FakeClient;
using strait::testing::FakeCluster;
using strait::testing::FakeClusterManager;

const char* const kConfig =
    "listeners:\n"
    "  - name: main\n"
    "    address: 127.0.0.1\n"
    "    port: 0\n"
    "    virtual_hosts:\n"
    "      - name: default\n"
    "        domains: [\"*\"]\n"
    "        routes:\n"
    "          - match: {prefix: /api}\n"
    "            route: {cluster: backend, timeout: 1s}\n"
    "clusters:\n"
    "  - name: backend\n"
    "    connect_timeout: 1s\n"
    "    endpoints:\n"
    "      - {address: 127.0.0.1, port: 9001}\n";

// The downstream of one stream: encodings are written as readable markers ("headers 200;",
// "data hello end;") so a test reads what went out, in order, from `written`.
class FakeDownstream : public DownstreamStream {
 public:
  FakeDownstream(WorkerContext& worker, event::TimerFactory& timers)
      : worker_(worker), listener_(worker.snapshot->findListener("main")), timers_(timers, stream) {}

  WorkerContext& worker() override { return worker_; }
  const ListenerRuntime& listener() const override { return *listener_; }
  const SnapshotViewSharedPtr& snapshot() const override { return worker_.snapshot; }
  const std::string& remoteAddress() const override { return connection_.remoteAddress(); }
  const network::Connection& connection() const override { return connection_; }
  void encode100Continue(buffer::Buffer& out) override { out.add("100;"); }
  void encodeHeaders(const ResponseHeaders& headers, bool end_stream, bool close,
                     buffer::Buffer& out) override {
    response_headers = headers.headers;
    close_after = close;
    out.add("headers " + std::to_string(headers.status) + (end_stream ? " end" : "") + ";");
  }
  void encodeData(buffer::Buffer& data, bool end_stream, buffer::Buffer& out) override {
    out.add("data " + data.toString() + (end_stream ? " end" : "") + ";");
    data.clear();
  }
  void writeDownstream(buffer::Buffer& data) override {
    written += data.toString();
    data.clear();
    if (on_write) {
      on_write();
    }
  }
  bool closeAfterResponse() const override { return close_after; }
  bool remoteClosed() const override { return remote_closed; }
  void setRemoteClosed() override { remote_closed = true; }
  void readDisable(bool disable) override { read_disables += disable ? 1 : -1; }
  StreamTimers& timers() override { return timers_; }
  void onStreamComplete(bool) override { completed++; }
  void onStreamReset(network::CloseType) override { resets++; }

  std::unique_ptr<ActiveStream> stream;
  std::string written;
  std::function<void()> on_write;
  HeaderMap response_headers;
  bool close_after = false;
  bool remote_closed = false;
  int read_disables = 0;
  int completed = 0;
  int resets = 0;

 private:
  WorkerContext& worker_;
  const ListenerRuntime* listener_;
  strait::testing::FakeConnection connection_;
  StreamTimers timers_;
};

class ActiveStreamTest : public ::testing::Test {
 protected:
  ActiveStreamTest() {
    config::LoadResult loaded = config::loadString(kConfig, "test.yaml");
    EXPECT_TRUE(loaded.ok());
    std::string error;
    snapshot_ = server::buildSnapshot(loaded.bootstrap, nullptr, store_, process_.context, 1,
                                      server::SnapshotSource{}, error);
    EXPECT_NE(snapshot_, nullptr) << error;
    cluster_config_.name = "backend";
    cluster_ = std::make_unique<FakeCluster>(cluster_config_, store_, 2);
    worker_.snapshot = snapshot_;
    downstream_ = std::make_unique<FakeDownstream>(worker_, process_.dispatcher);
  }

  // A GET on `path`, its head and its end, as the codec delivers them.
  void get(const std::string& path) {
    request_.method = "GET";
    request_.path = path;
    request_.authority = "example.com";
    downstream_->stream = std::make_unique<ActiveStream>(*downstream_);
    downstream_->stream->decodeHeaders(request_, http1::MessageInfo{});
    if (downstream_->stream != nullptr) {
      downstream_->stream->decodeComplete();
    }
  }
  const ListenerStats& stats() { return downstream_->listener().stats; }
  uint64_t counter(const stats::Counter& c) { return store_.counterValue(c); }
  uint64_t byClass(int cls) { return counter(stats().rq_by_class.by_class[cls - 1]); }

  stats::Store store_{1};
  strait::testing::TestProcess process_;
  strait::testing::ScriptedRandom random_;
  FakeClusterManager clusters_;
  config::Cluster cluster_config_;
  std::unique_ptr<FakeCluster> cluster_;
  server::SnapshotSharedPtr snapshot_;
  WorkerContext worker_{process_.dispatcher, store_.shard(0), random_, clusters_, nullptr};
  std::unique_ptr<FakeDownstream> downstream_;
  RequestHeaders request_;
};

TEST_F(ActiveStreamTest, ARoutedRequestIsNormalisedProxiedAndCountedBeforeItsLastBytesLeave) {
  clusters_.add("backend", *cluster_);
  random_.push({0x0123456789abcdefULL, 0xfedcba9876543210ULL});  // the request id's draws
  request_.headers.add("connection", "keep-alive, x-nominated");
  request_.headers.add("x-nominated", "1");
  request_.headers.add("te", "trailers");
  request_.headers.add("keep-alive", "timeout=5");
  request_.headers.add("x-end-to-end", "yes");
  std::vector<uint64_t> counted_at_write;
  downstream_->on_write = [&] { counted_at_write.push_back(byClass(2)); };
  get("/api/items");
  EXPECT_EQ(store_.gaugeValue(stats().rq_active), 1);
  FakeClient& client = cluster_->pool(0).connect();
  EXPECT_EQ(client.request_path, "/api/items");
  const HeaderMap& sent = request_.headers;
  EXPECT_EQ(sent.get("x-nominated"), nullptr);
  EXPECT_EQ(sent.get("connection"), nullptr);
  EXPECT_EQ(sent.get("te"), nullptr);
  EXPECT_EQ(sent.get("keep-alive"), nullptr);
  ASSERT_NE(sent.get("x-end-to-end"), nullptr);
  ASSERT_NE(sent.get("x-forwarded-for"), nullptr);
  EXPECT_EQ(*sent.get("x-forwarded-for"), "127.0.0.1");
  ASSERT_NE(sent.get("x-forwarded-proto"), nullptr);
  EXPECT_EQ(*sent.get("x-forwarded-proto"), "http");
  ASSERT_NE(sent.get("x-request-id"), nullptr);
  EXPECT_EQ(*sent.get("x-request-id"), "01234567-89ab-4def-bedc-ba9876543210");  // v4, variant 1

  client.respond(200, "hello");
  EXPECT_EQ(downstream_->written, "headers 200;data hello;data  end;");
  EXPECT_EQ(downstream_->completed, 1);
  // One write (the batch of the upstream read), and the request was counted before it.
  EXPECT_EQ(counted_at_write, std::vector<uint64_t>{1});
  EXPECT_EQ(byClass(2), 1u);
  EXPECT_EQ(store_.gaugeValue(stats().rq_active), 0);
  EXPECT_EQ(downstream_->stream->responseFlags(), "");
}

TEST_F(ActiveStreamTest, AnUnknownRouteIs404NoRouteAndNeverReachesACluster) {
  clusters_.add("backend", *cluster_);
  get("/elsewhere");
  EXPECT_EQ(downstream_->written, "headers 404;data no route matched\n end;");
  EXPECT_EQ(downstream_->stream->responseFlags(), "NR");
  EXPECT_EQ(counter(stats().rq_no_route), 1u);
  EXPECT_EQ(byClass(4), 1u);
  EXPECT_EQ(cluster_->pool(0).requests + cluster_->pool(1).requests, 0u);
  EXPECT_EQ(downstream_->completed, 1);
  EXPECT_EQ(store_.gaugeValue(stats().rq_active), 0);
}

TEST_F(ActiveStreamTest, ARouteToAClusterTheWorkerDoesNotHaveIs503NoCluster) {
  get("/api");
  EXPECT_EQ(downstream_->written, "headers 503;data cluster not found: backend\n end;");
  EXPECT_EQ(downstream_->stream->responseFlags(), "NC");
  EXPECT_EQ(byClass(5), 1u);
}

TEST_F(ActiveStreamTest, AnUpstreamConnectFailureIs503WithItsReason) {
  clusters_.add("backend", *cluster_);
  get("/api");
  cluster_->pool(0).refuse(upstream::UpstreamFailure::ConnectFailure, "connection refused");
  EXPECT_EQ(downstream_->written,
            "headers 503;data upstream connect error: connection refused\n end;");
  EXPECT_EQ(downstream_->stream->responseFlags(), "UF");
  EXPECT_EQ(counter(stats().rq_upstream_unavailable), 1u);
  EXPECT_EQ(byClass(5), 1u);
  EXPECT_EQ(downstream_->completed, 1);
}

TEST_F(ActiveStreamTest, AnUpstreamResetMidResponseResetsTheStreamAndCountsNoResponse) {
  clusters_.add("backend", *cluster_);
  get("/api");
  FakeClient& client = cluster_->pool(0).connect();
  client.respond(200, "part", /*end=*/false);
  EXPECT_EQ(downstream_->written, "headers 200;data part;");
  client.fail(upstream::UpstreamFailure::Reset);
  EXPECT_EQ(downstream_->resets, 1);
  EXPECT_EQ(downstream_->completed, 0);
  EXPECT_EQ(downstream_->stream->responseFlags(), "UR");
  EXPECT_EQ(store_.gaugeValue(stats().rq_active), 0);
  for (int cls = 1; cls <= 5; cls++) {
    EXPECT_EQ(byClass(cls), 0u) << cls << "xx";
  }
}

TEST_F(ActiveStreamTest, TheRouteTimeoutBeforeAResponseIs504) {
  clusters_.add("backend", *cluster_);
  get("/api");
  FakeClient& client = cluster_->pool(0).connect();
  process_.dispatcher.advance(std::chrono::milliseconds(1000));
  EXPECT_TRUE(client.reset);
  EXPECT_EQ(downstream_->written, "headers 504;data upstream request timeout\n end;");
  EXPECT_EQ(downstream_->stream->responseFlags(), "UT");
  EXPECT_EQ(byClass(5), 1u);
}

}  // namespace
}  // namespace strait::http
