// The router of one stream over fake pools and a simulated clock: which attempt's response goes
// downstream, when an attempt is retried, what each timeout does, and what the request body
// looks like on each attempt.

#include "proxy/http/router.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/mocks/fake_dispatcher.h"
#include "tests/mocks/fake_upstream.h"
#include "tests/mocks/scripted_random.h"

namespace strait::http {
namespace {

using strait::testing::FakeClient;
using strait::testing::FakeCluster;
using strait::testing::FakeDispatcher;
using strait::testing::FakePool;
using upstream::UpstreamFailure;
using namespace std::chrono_literals;

class FakeRouteEntry : public router::RouteEntry {
 public:
  explicit FakeRouteEntry(config::Route route) : route_(std::move(route)) {}
  const config::Route& route() const override { return route_; }
  const config::VirtualHost& virtualHost() const override { return vhost_; }
  const std::string& pickCluster(uint64_t) const override { return route_.route->cluster; }
  std::string redirectLocation(const RequestHeaders&) const override { return {}; }
  std::string rewritePath(std::string_view path) const override { return std::string(path); }

 private:
  config::Route route_;
  config::VirtualHost vhost_;
};

// The stream side: records what the router reports, as one line per event.
class RecordingStream : public RouterCallbacks {
 public:
  explicit RecordingStream(FakeDispatcher& dispatcher) : dispatcher_(dispatcher) {
    request.method = "GET";
    request.path = "/items";
    request.authority = "backend";
  }

  event::Dispatcher& routerDispatcher() override { return dispatcher_; }
  RandomGenerator& routerRandom() override { return random; }
  stats::Shard& routerShard() override { return store.shard(0); }
  RequestHeaders& routerRequest() override { return request; }
  const std::string& routerPeerAddress() const override { return peer_; }
  event::Timer& routerRouteTimer() override { return timer(route_timer_, "route"); }
  event::Timer& routerPerTryTimer() override { return timer(per_try_timer_, "per_try"); }
  void routerDownstreamReadDisable(bool disable) override {
    downstream_read_disables += disable ? 1 : -1;
  }
  void onRouterResponseHeaders(ResponseHeaders& headers, const http1::MessageInfo&) override {
    log.push_back("headers " + std::to_string(headers.status));
  }
  void onRouterResponseData(const char* data, size_t len) override {
    log.push_back("data " + std::string(data, len));
  }
  void onRouterResponseTrailers(HeaderMap&) override { log.push_back("trailers"); }
  void onRouterResponseComplete() override { log.push_back("complete"); }
  void onRouterTunnelData(const char* data, size_t len) override {
    log.push_back("tunnel " + std::string(data, len));
  }
  void onRouterTunnelClosed() override { log.push_back("tunnel closed"); }
  void onRouterReadBegin() override {}
  void onRouterReadEnd() override {}
  void onRouterLocalReply(const LocalReply& reply) override {
    log.push_back("reply " + std::to_string(reply.status) + " " + std::string(reply.flag) +
                  " " + std::string(reply.body));
  }
  void onRouterResponseReset(std::string_view flag) override {
    log.push_back("reset " + std::string(flag));
  }
  void onRouterFlag(std::string_view flag) override { log.push_back("flag " + std::string(flag)); }
  bool routerOverloaded() const override { return overloaded; }

  // The timers fire the router's handlers, as StreamTimers does.
  void bind(Router& router) { router_ = &router; }

  std::vector<std::string> log;
  RequestHeaders request;
  strait::testing::ScriptedRandom random;
  stats::Store store{1};
  int downstream_read_disables = 0;
  bool overloaded = false;  // as a filter's markOverloaded() would set it

 private:
  event::Timer& timer(event::TimerPtr& slot, const char* which) {
    if (slot == nullptr) {
      bool route = std::string_view(which) == "route";
      slot = dispatcher_.createTimer([this, route]() {
        if (route) {
          router_->onRouteTimeout();
        } else {
          router_->onPerTryTimeout();
        }
      });
    }
    return *slot;
  }

  FakeDispatcher& dispatcher_;
  std::string peer_ = "192.0.2.7";
  Router* router_ = nullptr;
  event::TimerPtr route_timer_;
  event::TimerPtr per_try_timer_;
};

config::Route routeTo(std::string cluster, std::chrono::milliseconds timeout,
                      std::optional<config::RetryPolicy> retry = std::nullopt) {
  config::Route route;
  route.name = "items";
  config::RouteAction action;
  action.cluster = std::move(cluster);
  action.timeout = timeout;
  action.retry = std::move(retry);
  route.route = std::move(action);
  return route;
}

config::RetryPolicy retryOn(std::vector<config::RetryOn> on, uint32_t attempts = 1) {
  config::RetryPolicy policy;
  policy.on = std::move(on);
  policy.attempts = attempts;
  policy.backoff_base = 10ms;
  policy.backoff_max = 10ms;
  return policy;
}

// A router over a cluster of `hosts` fake pools; the test drives it.
struct Harness {
  explicit Harness(config::Route route, size_t hosts = 2,
                   http1::MessageInfo request_info = {})
      : entry(std::move(route)),
        info(request_info),
        stream(dispatcher),
        cluster(cluster_config, stream.store, hosts),
        hedge(entry.route().route->hedge.has_value()
                  ? std::make_unique<upstream::HedgeController>(
                        *entry.route().route->hedge,
                        stream.store.gauge("strait_dp_route_hedge_delay_microseconds", "test"))
                  : nullptr),
        router(stream, entry, cluster, info, hedge.get()) {
    stream.bind(router);
  }

  void start(bool request_complete = true) {
    buffer::Buffer early_body;
    buffer::Buffer early_tunnel;
    router.start(request_complete, early_body, early_tunnel);
  }
  uint64_t counter(const stats::Counter& c) { return stream.store.counterValue(c); }
  int64_t gauge(const stats::Gauge& g) { return stream.store.gaugeValue(g); }
  const upstream::ClusterStats& stats() { return router.clusterInfo().stats; }

  strait::testing::SimulatedTimeSource time;
  FakeDispatcher dispatcher{time};
  FakeRouteEntry entry;
  http1::MessageInfo info;
  config::Cluster cluster_config = [] {
    config::Cluster c;
    c.name = "backend";
    return c;
  }();
  RecordingStream stream;
  FakeCluster cluster;
  std::unique_ptr<upstream::HedgeController> hedge;
  Router router;
};

TEST(RouterTest, OneAttemptForwardsTheResponseAndCountsItOnce) {
  Harness h(routeTo("backend", 1000ms));
  h.start();
  ASSERT_EQ(h.cluster.pool(0).waiting(), 1u);
  EXPECT_EQ(h.cluster.streams, 1);  // the router holds its cluster
  FakeClient& client = h.cluster.pool(0).connect();
  EXPECT_TRUE(client.headers_sent);
  EXPECT_EQ(client.request_path, "/items");
  EXPECT_EQ(h.gauge(h.stats().rq_active), 1);
  EXPECT_EQ(h.cluster.pool(0).host().activeRequests(), 1u);

  client.respond(200, "hello");
  EXPECT_EQ(h.stream.log, (std::vector<std::string>{"headers 200", "data hello", "complete"}));
  EXPECT_EQ(h.router.state(), Router::State::Done);
  EXPECT_EQ(h.gauge(h.stats().rq_active), 0);
  EXPECT_EQ(h.cluster.pool(0).host().activeRequests(), 0u);
  EXPECT_EQ(h.cluster.pool(0).host().requestsTotal(), 1u);
  EXPECT_EQ(h.counter(h.stats().rq_by_class.by_class[1]), 1u);  // 2xx
  EXPECT_EQ(h.router.attempts(), 1u);
  EXPECT_FALSE(client.reset);
  EXPECT_EQ(h.dispatcher.enabledTimers(), 0u);  // the route timeout was stopped
}

TEST(RouterTest, A5xxIsRetriedOnTheOtherHostAndTheSecondAttemptAnswers) {
  Harness h(routeTo("backend", 1000ms, retryOn({config::RetryOn::FiveXx})));
  h.start();
  FakeClient& first = h.cluster.pool(0).connect();
  first.respond(503, "busy");
  // The 503 is not forwarded: its exchange is reset and a retry waits for its backoff.
  EXPECT_TRUE(h.stream.log.empty());
  EXPECT_TRUE(first.reset);
  EXPECT_EQ(h.router.state(), Router::State::Backoff);
  EXPECT_EQ(h.counter(h.stats().rq_retry), 1u);
  EXPECT_EQ(h.counter(h.stats().rq_by_class.by_class[4]), 0u);  // a dropped 5xx is not counted
  EXPECT_EQ(h.gauge(h.stats().rq_active), 0);

  h.dispatcher.advance(10ms);
  ASSERT_EQ(h.cluster.pool(1).waiting(), 1u);  // the other host: the previous one is excluded
  FakeClient& second = h.cluster.pool(1).connect();
  second.respond(200, "ok");
  EXPECT_EQ(h.stream.log, (std::vector<std::string>{"headers 200", "data ok", "complete"}));
  EXPECT_EQ(h.router.attempts(), 2u);
  EXPECT_EQ(h.router.lastHost(), &h.cluster.pool(1).host());
  EXPECT_EQ(h.counter(h.stats().rq_by_class.by_class[1]), 1u);
}

// Two attempts in flight at once (the hedging mechanism): the second's head arrives first, so it
// wins and the first is reset; each was counted in flight once and both have left.
TEST(RouterTest, TwoAttemptsInFlightTheSecondAnswersFirstAndTheFirstIsReset) {
  Harness h(routeTo("backend", 1000ms));
  h.start();
  FakeClient& first = h.cluster.pool(0).connect();
  ASSERT_TRUE(h.router.startParallelAttempt());
  ASSERT_EQ(h.cluster.pool(1).waiting(), 1u);  // on the other host
  FakeClient& second = h.cluster.pool(1).connect();
  EXPECT_EQ(h.gauge(h.stats().rq_active), 2);
  EXPECT_EQ(h.router.attempts(), 2u);
  second.respond(200, "from two");
  EXPECT_TRUE(first.reset);
  EXPECT_FALSE(second.reset);
  EXPECT_EQ(h.stream.log, (std::vector<std::string>{"headers 200", "data from two", "complete"}));
  EXPECT_EQ(h.gauge(h.stats().rq_active), 0);
  EXPECT_EQ(h.counter(h.stats().rq_by_class.by_class[1]), 1u);  // only the winner's response
  EXPECT_EQ(h.router.lastHost(), &h.cluster.pool(1).host());
}

TEST(RouterTest, AnAttemptFailingWhileAnotherIsInFlightEndsOnlyItself) {
  Harness h(routeTo("backend", 1000ms));
  h.start();
  FakeClient& first = h.cluster.pool(0).connect();
  ASSERT_TRUE(h.router.startParallelAttempt());
  h.cluster.pool(1).refuse(UpstreamFailure::ConnectFailure);
  EXPECT_TRUE(h.stream.log.empty());  // no 503: the first attempt may still answer
  EXPECT_EQ(h.router.state(), Router::State::Attempting);
  first.respond(200, "ok");
  EXPECT_EQ(h.stream.log, (std::vector<std::string>{"headers 200", "data ok", "complete"}));
}

TEST(RouterTest, NoParallelAttemptForABodyThatIsNotKeptOrOnceResponding) {
  http1::MessageInfo info;
  info.content_length = 4;
  Harness with_body(routeTo("backend", 1000ms), 2, info);
  with_body.start(false);
  EXPECT_FALSE(with_body.router.startParallelAttempt());  // no retry policy: no kept copy

  Harness h(routeTo("backend", 1000ms));
  h.start();
  h.cluster.pool(0).connect().respond(200, "part", /*end=*/false);
  EXPECT_FALSE(h.router.startParallelAttempt());
  EXPECT_EQ(h.cluster.pool(1).requests, 0u);
}

TEST(RouterTest, RetriesStopAtTheirLimitAndTheLastFailureIsForwarded) {
  Harness h(routeTo("backend", 1000ms, retryOn({config::RetryOn::FiveXx}, 1)));
  h.start();
  h.cluster.pool(0).connect().respond(500);
  h.dispatcher.advance(10ms);
  h.cluster.pool(1).connect().respond(502, "bad");
  EXPECT_EQ(h.stream.log,
            (std::vector<std::string>{"flag URX", "headers 502", "data bad", "complete"}));
  EXPECT_EQ(h.counter(h.stats().rq_retry), 1u);
  EXPECT_EQ(h.cluster.pool(1).host().requestErrors(), 1u);
}

TEST(RouterTest, APerTryTimeoutResetsTheAttemptAndTheNextOneWins) {
  auto policy = retryOn({config::RetryOn::FiveXx});
  policy.per_try_timeout = 100ms;
  Harness h(routeTo("backend", 1000ms, policy));
  h.start();
  FakeClient& slow = h.cluster.pool(0).connect();
  h.dispatcher.advance(99ms);
  EXPECT_FALSE(slow.reset);
  h.dispatcher.advance(1ms);
  EXPECT_TRUE(slow.reset);  // the per-try timeout gave the first attempt up
  EXPECT_EQ(h.counter(h.stats().rq_timeout), 1u);
  EXPECT_EQ(h.counter(h.stats().rq_retry), 1u);
  h.dispatcher.advance(10ms);  // the backoff (the scripted random draws 0: at once)
  FakeClient& fast = h.cluster.pool(1).connect();
  fast.respond(200, "fast");
  EXPECT_EQ(h.stream.log, (std::vector<std::string>{"headers 200", "data fast", "complete"}));
  EXPECT_EQ(h.router.attempts(), 2u);
  EXPECT_EQ(h.cluster.pool(0).host().activeRequests(), 0u);
}

TEST(RouterTest, APerTryTimeoutWithoutRetriesLeftAnswers504) {
  config::RetryPolicy policy = retryOn({config::RetryOn::FiveXx}, 1);
  policy.per_try_timeout = 50ms;
  Harness h(routeTo("backend", 1000ms, policy));
  h.start();
  h.cluster.pool(0).connect();
  h.dispatcher.advance(50ms);
  h.dispatcher.advance(10ms);  // the backoff
  h.cluster.pool(1).connect();
  h.dispatcher.advance(50ms);
  ASSERT_EQ(h.stream.log.size(), 2u);
  EXPECT_EQ(h.stream.log[0], "flag URX");
  EXPECT_EQ(h.stream.log[1], "reply 504 UT upstream per-try timeout");
  EXPECT_EQ(h.counter(h.stats().rq_timeout), 2u);
}

// `attempts: 0`: no retry, but the one attempt still has its per-try timeout (as in Envoy).
TEST(RouterTest, APerTryTimeoutAppliesWithZeroRetryAttempts) {
  config::RetryPolicy policy = retryOn({config::RetryOn::FiveXx}, 0);
  policy.per_try_timeout = 50ms;
  Harness h(routeTo("backend", 1000ms, policy));
  h.start();
  FakeClient& client = h.cluster.pool(0).connect();
  h.dispatcher.advance(49ms);
  EXPECT_TRUE(h.stream.log.empty());
  h.dispatcher.advance(1ms);
  EXPECT_TRUE(client.reset);
  ASSERT_EQ(h.stream.log.size(), 1u);
  EXPECT_EQ(h.stream.log[0], "reply 504 UT upstream per-try timeout");
  EXPECT_EQ(h.counter(h.stats().rq_timeout), 1u);
  EXPECT_EQ(h.counter(h.stats().rq_retry), 0u);
}

// Each attempt has its own per-try deadline: a parallel attempt started 30 ms after the first
// outlives the first one's deadline, and the first timing out alone neither retries nor answers.
TEST(RouterTest, EachParallelAttemptHasItsOwnPerTryDeadline) {
  config::RetryPolicy policy = retryOn({config::RetryOn::FiveXx}, 1);
  policy.per_try_timeout = 50ms;
  Harness h(routeTo("backend", 1000ms, policy));
  h.start();
  FakeClient& first = h.cluster.pool(0).connect();
  h.dispatcher.advance(30ms);
  ASSERT_TRUE(h.router.startParallelAttempt());
  FakeClient& second = h.cluster.pool(1).connect();
  h.dispatcher.advance(20ms);  // the first attempt's deadline
  EXPECT_TRUE(first.reset);
  EXPECT_FALSE(second.reset);
  EXPECT_EQ(h.counter(h.stats().rq_timeout), 1u);
  EXPECT_EQ(h.counter(h.stats().rq_retry), 0u);  // the second one is still in flight
  EXPECT_EQ(h.router.state(), Router::State::Attempting);
  EXPECT_TRUE(h.stream.log.empty());
  h.dispatcher.advance(29ms);  // 1 ms before the second one's deadline
  EXPECT_FALSE(second.reset);
  second.respond(200, "second");
  EXPECT_EQ(h.stream.log, (std::vector<std::string>{"headers 200", "data second", "complete"}));
  EXPECT_EQ(h.dispatcher.enabledTimers(), 0u);  // no per-try timer left armed
}

// When the last attempt in flight reaches its deadline the request is retried (here: no retry
// left, so 504), once, however many attempts timed out.
TEST(RouterTest, ParallelAttemptsAllTimingOutAnswer504Once) {
  config::RetryPolicy policy = retryOn({config::RetryOn::FiveXx}, 0);
  policy.per_try_timeout = 50ms;
  Harness h(routeTo("backend", 1000ms, policy));
  h.start();
  FakeClient& first = h.cluster.pool(0).connect();
  h.dispatcher.advance(10ms);
  ASSERT_TRUE(h.router.startParallelAttempt());
  FakeClient& second = h.cluster.pool(1).connect();
  h.dispatcher.advance(40ms);
  EXPECT_TRUE(first.reset);
  EXPECT_TRUE(h.stream.log.empty());
  h.dispatcher.advance(10ms);
  EXPECT_TRUE(second.reset);
  EXPECT_EQ(h.stream.log, (std::vector<std::string>{"reply 504 UT upstream per-try timeout"}));
  EXPECT_EQ(h.counter(h.stats().rq_timeout), 2u);
}

// What the attempts cost upstream: the replayed body counts once per attempt; the discarded 5xx
// is not read, the winner's body is.
TEST(RouterTest, UpstreamBytesCountEveryAttempt) {
  http1::MessageInfo info;
  info.content_length = 4;
  auto policy = retryOn({config::RetryOn::FiveXx});
  policy.non_idempotent = true;
  Harness h(routeTo("backend", 1000ms, policy), 2, info);
  h.stream.request.method = "POST";
  h.start(false);
  FakeClient& first = h.cluster.pool(0).connect();
  h.router.decodeData("abcd", 4);
  h.router.decodeComplete();
  first.respond(503, "busy");
  h.dispatcher.advance(10ms);
  FakeClient& second = h.cluster.pool(1).connect();
  second.respond(200, "ok");
  EXPECT_EQ(second.body, "abcd");
  EXPECT_EQ(h.router.upstreamBytesSent(), 8u);
  EXPECT_EQ(h.router.upstreamBytesReceived(), 2u);
}

TEST(RouterTest, ThePerTryTimeoutNoLongerAppliesOnceTheResponseIsOnItsWay) {
  config::RetryPolicy policy = retryOn({config::RetryOn::FiveXx});
  policy.per_try_timeout = 50ms;
  Harness h(routeTo("backend", 1000ms, policy));
  h.start();
  FakeClient& client = h.cluster.pool(0).connect();
  client.respond(200, "part", /*end=*/false);
  h.dispatcher.advance(200ms);
  EXPECT_FALSE(client.reset);
  EXPECT_EQ(h.stream.log, (std::vector<std::string>{"headers 200", "data part"}));
}

TEST(RouterTest, TheRouteTimeoutCoversEveryAttempt) {
  auto policy = retryOn({config::RetryOn::ConnectFailure}, 5);
  Harness h(routeTo("backend", 300ms, policy));
  h.start();
  h.dispatcher.advance(100ms);
  h.cluster.pool(0).refuse(UpstreamFailure::ConnectFailure);
  h.dispatcher.advance(10ms);
  h.dispatcher.advance(100ms);
  h.cluster.pool(1).refuse(UpstreamFailure::ConnectFailure);
  h.dispatcher.advance(10ms);
  ASSERT_EQ(h.cluster.pool(0).waiting(), 1u);  // the third attempt, still connecting
  EXPECT_TRUE(h.stream.log.empty());
  h.dispatcher.advance(80ms);  // 300 ms since the start, whatever the attempts
  EXPECT_EQ(h.stream.log, (std::vector<std::string>{"reply 504 UT upstream request timeout"}));
  EXPECT_EQ(h.cluster.pool(0).waiting(), 0u);  // the connecting attempt was withdrawn
  EXPECT_EQ(h.cluster.pool(0).cancelled, 1u);
  EXPECT_EQ(h.router.attempts(), 3u);
  EXPECT_EQ(h.counter(h.stats().rq_retry), 2u);
}

TEST(RouterTest, TheRouteTimeoutAfterTheResponseStartedResetsTheStream) {
  Harness h(routeTo("backend", 100ms));
  h.start();
  FakeClient& client = h.cluster.pool(0).connect();
  client.respond(200, "part", /*end=*/false);
  h.dispatcher.advance(100ms);
  EXPECT_TRUE(client.reset);
  EXPECT_EQ(h.stream.log, (std::vector<std::string>{"headers 200", "data part", "reset UT"}));
  EXPECT_EQ(h.cluster.pool(0).host().requestErrors(), 1u);
}

TEST(RouterTest, EachAttemptSendsTheWholeBodyFromTheOneKeptCopy) {
  http1::MessageInfo info;
  info.content_length = 11;
  auto policy = retryOn({config::RetryOn::Reset});
  policy.non_idempotent = true;
  Harness h(routeTo("backend", 1000ms, policy), 2, info);
  h.stream.request.method = "POST";
  h.start(/*request_complete=*/false);
  h.router.decodeData("hello ", 6);  // before any attempt is attached
  FakeClient& first = h.cluster.pool(0).connect();
  EXPECT_EQ(first.body, "hello ");
  h.router.decodeData("world", 5);  // while attached
  h.router.decodeComplete();
  EXPECT_EQ(first.body, "hello world");
  EXPECT_TRUE(first.ended);
  first.fail(UpstreamFailure::Reset);
  h.dispatcher.advance(10ms);
  FakeClient& second = h.cluster.pool(1).connect();
  EXPECT_EQ(second.body, "hello world");  // replayed whole
  EXPECT_TRUE(second.ended);
  EXPECT_EQ(second.request_info.content_length, 11u);
  second.respond(201);
  EXPECT_EQ(h.stream.log, (std::vector<std::string>{"headers 201", "complete"}));
}

TEST(RouterTest, ABodyLargerThanTheReplayLimitIsNotRetriedOnceSent) {
  http1::MessageInfo info;
  info.content_length = 20;
  auto policy = retryOn({config::RetryOn::Reset});
  policy.non_idempotent = true;
  policy.max_body_bytes = 8;
  Harness h(routeTo("backend", 1000ms, policy), 2, info);
  h.stream.request.method = "PUT";
  h.start(false);
  FakeClient& first = h.cluster.pool(0).connect();
  h.router.decodeData("0123456789", 10);
  h.router.decodeData("abcdefghij", 10);
  h.router.decodeComplete();
  EXPECT_EQ(first.body, "0123456789abcdefghij");
  first.fail(UpstreamFailure::Reset);
  EXPECT_EQ(h.stream.log,
            (std::vector<std::string>{"reply 503 UR upstream reset before response: reset by peer"}));
  EXPECT_EQ(h.counter(h.stats().rq_retry), 0u);
}

// The body outgrows the replay limit while a retry waits out its backoff: the retry still sends
// the whole body, each byte once (the kept copy plus what came meanwhile), and is the last try.
TEST(RouterTest, ABodyOutgrowingTheReplayLimitDuringABackoffIsSentOnceByTheRetry) {
  http1::MessageInfo info;
  info.content_length = 20;
  auto policy = retryOn({config::RetryOn::Reset}, 2);
  policy.non_idempotent = true;
  policy.max_body_bytes = 8;
  Harness h(routeTo("backend", 1000ms, policy), 2, info);
  h.stream.request.method = "PUT";
  h.start(false);
  FakeClient& first = h.cluster.pool(0).connect();
  h.router.decodeData("01234", 5);
  EXPECT_EQ(first.body, "01234");
  first.fail(UpstreamFailure::Reset);  // retried after the backoff
  h.router.decodeData("56789", 5);     // over max_body_bytes: no more replay copy
  h.router.decodeData("abcdefghij", 10);
  h.router.decodeComplete();
  h.dispatcher.advance(10ms);
  FakeClient& second = h.cluster.pool(1).connect();
  EXPECT_EQ(second.body, "0123456789abcdefghij");
  EXPECT_TRUE(second.ended);
  second.fail(UpstreamFailure::Reset);
  ASSERT_FALSE(h.stream.log.empty());
  EXPECT_EQ(h.stream.log.back(), "reply 503 UR upstream reset before response: reset by peer");
  EXPECT_EQ(h.counter(h.stats().rq_retry), 1u);
}

TEST(RouterTest, AConnectFailureWithoutARetryPolicyAnswers503) {
  Harness h(routeTo("backend", 1000ms));
  h.start();
  h.cluster.pool(0).refuse(UpstreamFailure::ConnectFailure, "connection refused");
  EXPECT_EQ(h.stream.log,
            (std::vector<std::string>{"reply 503 UF upstream connect error: connection refused"}));
  EXPECT_EQ(h.router.state(), Router::State::Done);
}

TEST(RouterTest, AResetOnAReusedConnectionIsTriedOnceMoreAtOnce) {
  Harness h(routeTo("backend", 1000ms));
  h.start();
  h.cluster.pool(0).connect(/*reused=*/true).fail(UpstreamFailure::Reset);
  // No retry policy, no backoff: the request never reached the application.
  EXPECT_EQ(h.router.attempts(), 2u);
  EXPECT_EQ(h.counter(h.stats().rq_retry), 1u);
  FakeClient& fresh = h.cluster.pool(1).connect();
  fresh.respond(200);
  EXPECT_EQ(h.stream.log, (std::vector<std::string>{"headers 200", "complete"}));
}

TEST(RouterTest, AClusterWithoutHostsAnswers503NoHealthyUpstream) {
  Harness h(routeTo("backend", 1000ms), /*hosts=*/0);
  h.start();
  EXPECT_EQ(h.stream.log, (std::vector<std::string>{"reply 503 UH no healthy upstream"}));
}

TEST(RouterTest, ResetWithdrawsTheWaitingAttemptAndGivesTheSlotBack) {
  Harness h(routeTo("backend", 1000ms));
  h.start();
  EXPECT_EQ(h.router.clusterInfo().resources->requests().active(), 1u);
  h.router.reset();
  EXPECT_EQ(h.cluster.pool(0).cancelled, 1u);
  EXPECT_EQ(h.router.clusterInfo().resources->requests().active(), 0u);
  EXPECT_EQ(h.dispatcher.enabledTimers(), 0u);
  EXPECT_TRUE(h.stream.log.empty());
}

TEST(RouterTest, DownstreamBackpressurePausesTheAttemptAndReleasesItOnReturn) {
  Harness h(routeTo("backend", 1000ms));
  h.start();
  FakeClient& client = h.cluster.pool(0).connect();
  h.router.onDownstreamWriteHigh();
  h.router.onDownstreamWriteHigh();  // counted once
  h.router.setFilterPaused(true);
  EXPECT_EQ(client.read_disables, 2);
  client.respond(200);
  // The connection went back to its pool unpaused.
  EXPECT_EQ(client.read_disables, 0);
}

// ---- hedging (route `hedge`) ------------------------------------------------------------------

config::Route hedgedRoute(std::chrono::milliseconds delay, uint32_t max_attempts = 2,
                          double max_extra_load = 1.0) {
  config::Route route = routeTo("backend", 1000ms);
  config::HedgePolicy hedge;
  hedge.delay = delay;
  hedge.max_attempts = max_attempts;
  hedge.max_extra_load = max_extra_load;
  route.route->hedge = hedge;
  return route;
}

TEST(RouterHedgeTest, AHedgeGoesAfterTheDelayToAnotherHostWinsAndTheFirstIsCancelled) {
  Harness h(hedgedRoute(20ms));
  h.start();
  FakeClient& first = h.cluster.pool(0).connect();
  h.dispatcher.advance(19ms);
  EXPECT_EQ(h.cluster.pool(1).requests, 0u);  // not yet
  h.dispatcher.advance(1ms);
  ASSERT_EQ(h.cluster.pool(1).waiting(), 1u);  // the hedge, on the other host
  EXPECT_EQ(h.counter(h.stats().hedges_sent), 1u);
  EXPECT_EQ(h.router.attempts(), 2u);
  FakeClient& second = h.cluster.pool(1).connect();
  second.respond(200, "fast");
  EXPECT_TRUE(first.reset);  // cancelled at once
  EXPECT_FALSE(second.reset);
  EXPECT_EQ(h.stream.log,
            (std::vector<std::string>{"flag HD", "headers 200", "data fast", "complete"}));
  EXPECT_EQ(h.counter(h.stats().hedges_won), 1u);
  EXPECT_EQ(h.counter(h.stats().hedges_cancelled), 1u);
  EXPECT_EQ(h.router.winningAttempt(), 2u);
  // The cancelled attempt is no failure of its host, and its response was never counted.
  EXPECT_EQ(h.cluster.pool(0).host().requestErrors(), 0u);
  EXPECT_EQ(h.counter(h.stats().rq_by_class.by_class[1]), 1u);
  EXPECT_EQ(h.gauge(h.stats().rq_active), 0);
  EXPECT_EQ(h.dispatcher.enabledTimers(), 0u);
  // The hedge's retry-budget token was given back.
  EXPECT_EQ(h.router.clusterInfo().resources->retries().active(), 0u);
}

TEST(RouterHedgeTest, AnAnswerBeforeTheDelaySendsNoHedge) {
  Harness h(hedgedRoute(20ms));
  h.start();
  h.cluster.pool(0).connect().respond(200, "ok");
  EXPECT_EQ(h.router.winningAttempt(), 1u);
  h.dispatcher.advance(50ms);
  EXPECT_EQ(h.cluster.pool(1).requests, 0u);
  EXPECT_EQ(h.counter(h.stats().hedges_sent), 0u);
  EXPECT_EQ(h.dispatcher.enabledTimers(), 0u);
}

TEST(RouterHedgeTest, TheFirstAttemptStillWinsWhenItAnswersFirst) {
  Harness h(hedgedRoute(20ms));
  h.start();
  FakeClient& first = h.cluster.pool(0).connect();
  h.dispatcher.advance(20ms);
  FakeClient& second = h.cluster.pool(1).connect();
  first.respond(200, "slow but first");
  EXPECT_TRUE(second.reset);
  EXPECT_EQ(h.stream.log,
            (std::vector<std::string>{"headers 200", "data slow but first", "complete"}));
  EXPECT_EQ(h.counter(h.stats().hedges_won), 0u);
  EXPECT_EQ(h.counter(h.stats().hedges_cancelled), 1u);
  EXPECT_EQ(h.router.winningAttempt(), 1u);
}

TEST(RouterHedgeTest, A5xxDoesNotWinOverAnAttemptStillPending) {
  Harness h(hedgedRoute(20ms));
  h.start();
  FakeClient& first = h.cluster.pool(0).connect();
  h.dispatcher.advance(20ms);
  FakeClient& second = h.cluster.pool(1).connect();
  second.respond(503, "broken");
  EXPECT_TRUE(h.stream.log.empty());  // the first may still answer
  EXPECT_TRUE(second.reset);
  EXPECT_EQ(h.cluster.pool(1).host().requestErrors(), 1u);  // a real failure of that host
  first.respond(200, "ok");
  EXPECT_EQ(h.stream.log, (std::vector<std::string>{"headers 200", "data ok", "complete"}));
  EXPECT_EQ(h.router.winningAttempt(), 1u);
}

TEST(RouterHedgeTest, The5xxOfTheLastAttemptInFlightIsTheAnswer) {
  Harness h(hedgedRoute(20ms));
  h.start();
  FakeClient& first = h.cluster.pool(0).connect();
  h.dispatcher.advance(20ms);
  FakeClient& second = h.cluster.pool(1).connect();
  second.respond(503, "broken");
  first.respond(502, "also broken");
  EXPECT_EQ(h.stream.log,
            (std::vector<std::string>{"headers 502", "data also broken", "complete"}));
}

TEST(RouterHedgeTest, UpToMaxAttemptsEachAfterTheDelayOnAnotherHost) {
  Harness h(hedgedRoute(10ms, 3, 2.0), 3);  // two hedges per request: 200%
  h.start();
  h.cluster.pool(0).connect();
  h.dispatcher.advance(10ms);
  h.cluster.pool(1).connect();
  h.dispatcher.advance(10ms);
  FakeClient& third = h.cluster.pool(2).connect();
  h.dispatcher.advance(50ms);
  EXPECT_EQ(h.counter(h.stats().hedges_sent), 2u);  // max_attempts 3: the original + 2
  EXPECT_EQ(h.router.attempts(), 3u);
  third.respond(200, "third");
  EXPECT_EQ(h.counter(h.stats().hedges_cancelled), 2u);
  EXPECT_EQ(h.router.winningAttempt(), 3u);
  EXPECT_EQ(h.router.clusterInfo().resources->retries().active(), 0u);
}

TEST(RouterHedgeTest, ANonIdempotentMethodIsNotHedgedUnlessThePolicySaysSo) {
  Harness post(hedgedRoute(10ms));
  post.stream.request.method = "POST";
  post.start();
  post.cluster.pool(0).connect();
  post.dispatcher.advance(50ms);
  EXPECT_EQ(post.counter(post.stats().hedges_sent), 0u);
  EXPECT_EQ(post.cluster.pool(1).requests, 0u);

  config::Route route = hedgedRoute(10ms);
  route.route->hedge->non_idempotent = true;
  Harness allowed(route);
  allowed.stream.request.method = "POST";
  allowed.start();
  allowed.cluster.pool(0).connect();
  allowed.dispatcher.advance(10ms);
  EXPECT_EQ(allowed.counter(allowed.stats().hedges_sent), 1u);
}

TEST(RouterHedgeTest, TheBodyIsReplayedToTheHedgeAndABodyOverTheBufferIsNotHedged) {
  http1::MessageInfo info;
  info.content_length = 4;
  Harness h(hedgedRoute(10ms), 2, info);
  h.stream.request.method = "PUT";
  h.start(false);
  FakeClient& first = h.cluster.pool(0).connect();
  h.router.decodeData("abcd", 4);
  h.router.decodeComplete();
  EXPECT_EQ(first.body, "abcd");
  h.dispatcher.advance(10ms);
  FakeClient& second = h.cluster.pool(1).connect();
  EXPECT_EQ(second.body, "abcd");  // from the kept copy

  config::Route small = hedgedRoute(10ms);
  small.route->hedge->max_body_bytes = 3;
  Harness big(small, 2, info);
  big.stream.request.method = "PUT";
  big.start(false);
  big.cluster.pool(0).connect();
  big.router.decodeData("abcd", 4);
  big.router.decodeComplete();
  big.dispatcher.advance(50ms);
  EXPECT_EQ(big.counter(big.stats().hedges_sent), 0u);
  EXPECT_EQ(big.cluster.pool(1).requests, 0u);
}

TEST(RouterHedgeTest, NoHedgeWhenTheExtraLoadBudgetIsUsedUp) {
  // 5% of one request in the window is less than one hedge.
  Harness h(hedgedRoute(10ms, 2, 0.05));
  h.start();
  h.cluster.pool(0).connect();
  h.dispatcher.advance(10ms);
  EXPECT_EQ(h.counter(h.stats().hedges_sent), 0u);
  EXPECT_EQ(h.counter(h.stats().hedge_budget_exhausted), 1u);
  EXPECT_EQ(h.cluster.pool(1).requests, 0u);
  EXPECT_EQ(h.router.clusterInfo().resources->retries().active(), 0u);
}

TEST(RouterHedgeTest, NoHedgeWhileAFilterSaysTheUpstreamIsOverloaded) {
  Harness h(hedgedRoute(10ms));
  h.stream.overloaded = true;
  h.start();
  h.cluster.pool(0).connect();
  h.dispatcher.advance(10ms);
  EXPECT_EQ(h.counter(h.stats().hedges_sent), 0u);
  EXPECT_EQ(h.counter(h.stats().hedge_suppressed), 1u);
  EXPECT_EQ(h.cluster.pool(1).requests, 0u);
}

}  // namespace
}  // namespace strait::http
