// The adaptive_concurrency filter through the real FilterChain: refusals (503, LS,
// x-strait-overloaded) counted by cause, a queued request admitted when a slot frees and one
// timed out by its own timer, samples only from complete upstream responses (a stream that ends
// without one gives its slot back and is counted as dropped), excluded requests, dry run, and
// the gauges the controller publishes.

#include "filters/adaptive_concurrency/adaptive_concurrency_filter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/filters/chain_harness.h"
#include "tests/unit/filters/load_filter.h"

namespace strait::filters::adaptive_concurrency {
namespace {

using ::testing::ElementsAre;
using std::chrono::milliseconds;
using testing::Stream;

class AdaptiveConcurrencyFilterTest : public ::testing::Test {
 protected:
  void build(const std::string& extra = "") {
    bootstrap_ = testing::loadFilter("adaptive_concurrency",
                                     "            initial_limit: 2\n"
                                     "            min_limit: 1\n"
                                     "            min_rtt: {requests: 2}\n" + extra);
    ASSERT_NE(bootstrap_, nullptr);
    factory_ = testing::buildFactory(*bootstrap_, store_);
    factories_ = {factory_};
  }
  std::unique_ptr<Stream> stream(const std::string& path = "/") {
    auto s = std::make_unique<Stream>(dispatcher_, time_, random_, store_, factories_, path);
    s->start();
    return s;
  }
  void respond(Stream& s) {
    http::ResponseHeaders head;
    s.chain.encodeHeaders(head, true);
  }
  const AdaptiveConcurrencyFactory& filter() const {
    return static_cast<const AdaptiveConcurrencyFactory&>(*factory_);
  }
  const Counters& counters() const { return filter().counters(); }
  uint64_t count(stats::Counter c) const { return store_.counterValue(c); }
  int64_t gauge(stats::Gauge g) const { return store_.gaugeValue(g); }

  strait::testing::SimulatedTimeSource time_;
  testing::FakeDispatcher dispatcher_{time_};
  strait::testing::ScriptedRandom random_;
  stats::Store store_{1};
  config::BootstrapSharedPtr bootstrap_;
  http::FilterFactoryPtr factory_;
  std::vector<http::FilterFactoryPtr> factories_;
};

TEST_F(AdaptiveConcurrencyFilterTest, OverTheLimitIsRefusedWithACause) {
  build();
  auto a = stream();
  auto b = stream();
  auto c = stream();
  EXPECT_THAT(a->owner.log, ElementsAre("router"));
  EXPECT_THAT(b->owner.log, ElementsAre("router"));
  EXPECT_THAT(c->owner.log,
              ElementsAre("reply 503 adaptive_concurrency over limit (limit 2, in flight 2) LS "
                          "x-strait-overloaded=true"));
  EXPECT_EQ(count(counters().admitted), 2u);
  EXPECT_EQ(count(counters().refused_over_limit), 1u);
  EXPECT_EQ(gauge(counters().in_flight), 2);
  EXPECT_EQ(gauge(counters().limit), 2);
  respond(*a);
  respond(*b);
  EXPECT_EQ(count(counters().samples), 2u);
  EXPECT_EQ(gauge(counters().in_flight), 0);
  // Two samples end the first probe: the controller published what it measured.
  EXPECT_EQ(gauge(counters().probing), 0);
  EXPECT_EQ(gauge(counters().recalculations), 1);
}

TEST_F(AdaptiveConcurrencyFilterTest, StreamWithoutAnUpstreamResponseGivesNoSample) {
  build();
  auto a = stream();
  auto b = stream();
  http::ResponseHeaders head;
  b->chain.encodeHeaders(head, false);  // the response started, then the client went away
  a.reset();
  b.reset();
  EXPECT_EQ(count(counters().samples), 0u);
  EXPECT_EQ(count(counters().dropped_no_response), 1u);
  EXPECT_EQ(count(counters().dropped_incomplete), 1u);
  EXPECT_EQ(filter().controller()->state().in_flight, 0u);
  EXPECT_EQ(gauge(counters().in_flight), 0);
}

TEST_F(AdaptiveConcurrencyFilterTest, QueuedRequestGoesOnWhenASlotFrees) {
  build("            queue: {max: 1, timeout: 50ms}\n");
  auto a = stream();
  auto b = stream();
  auto c = stream();
  EXPECT_TRUE(c->owner.log.empty());
  EXPECT_EQ(gauge(counters().waiting), 1);
  EXPECT_EQ(count(counters().queued_probe), 1u);  // the first probe is running
  auto d = stream();
  EXPECT_THAT(d->owner.log,
              ElementsAre(::testing::StartsWith("reply 503 adaptive_concurrency queue full")));
  EXPECT_EQ(count(counters().refused_queue_full), 1u);
  time_.advance(milliseconds(5));
  respond(*a);
  EXPECT_EQ(dispatcher_.runPosted(), 1u);
  EXPECT_THAT(c->owner.log, ElementsAre("router"));
  EXPECT_EQ(gauge(counters().waiting), 0);
  EXPECT_EQ(dispatcher_.enabledTimers(), 0u);
  EXPECT_EQ(count(counters().admitted), 3u);
  // The request that queued met an overloaded upstream: no hedge for it. The others did not.
  EXPECT_TRUE(c->owner.overloaded);
  EXPECT_FALSE(a->owner.overloaded);
  EXPECT_FALSE(b->owner.overloaded);
}

TEST_F(AdaptiveConcurrencyFilterTest, QueuedRequestTimesOutOnItsOwnTimer) {
  build("            queue: {max: 1, timeout: 50ms}\n");
  auto a = stream();
  auto b = stream();
  auto c = stream();
  // Queued during the first probe: it may wait min_rtt.queue_timeout (250ms), not 50ms.
  dispatcher_.advance(milliseconds(249));
  EXPECT_TRUE(c->owner.log.empty());
  dispatcher_.advance(milliseconds(1));
  EXPECT_THAT(c->owner.log,
              ElementsAre("reply 503 adaptive_concurrency queue timeout (minRTT probe) (limit 2, "
                          "in flight 2) LS x-strait-overloaded=true"));
  EXPECT_EQ(count(counters().refused_queue_timeout), 1u);
  EXPECT_EQ(gauge(counters().waiting), 0);
  c.reset();
  a.reset();
  EXPECT_EQ(dispatcher_.runPosted(), 0u);  // nobody left queued
  EXPECT_EQ(filter().controller()->state().in_flight, 1u);
}

TEST_F(AdaptiveConcurrencyFilterTest, StreamGoneWhileItsAdmissionIsPostedGivesTheSlotBack) {
  build("            queue: {max: 1, timeout: 50ms}\n");
  auto a = stream();
  auto b = stream();
  auto c = stream();
  respond(*a);  // c admitted; the callback is posted, not yet run
  c.reset();    // cancel() says admitted: c releases the slot itself
  EXPECT_EQ(dispatcher_.runPosted(), 1u);  // finds c gone: does nothing
  EXPECT_EQ(filter().controller()->state().in_flight, 1u);
  b.reset();
  EXPECT_EQ(filter().controller()->state().in_flight, 0u);
}

TEST_F(AdaptiveConcurrencyFilterTest, ExcludedRequestsAreNeitherLimitedNorSampled) {
  build("            exclude: {prefix: /healthz}\n");
  auto a = stream();
  auto b = stream();
  auto probe = stream("/healthz");
  EXPECT_THAT(probe->owner.log, ElementsAre("router"));
  respond(*probe);
  EXPECT_EQ(count(counters().excluded), 1u);
  EXPECT_EQ(count(counters().samples), 0u);
  EXPECT_EQ(filter().controller()->state().in_flight, 2u);
}

TEST_F(AdaptiveConcurrencyFilterTest, DryRunLetsEverythingThroughAndCounts) {
  build("            mode: dry_run\n");
  auto a = stream();
  auto b = stream();
  auto c = stream();
  EXPECT_THAT(c->owner.log, ElementsAre("router"));
  EXPECT_EQ(count(counters().dry_run_refused), 1u);
  EXPECT_EQ(count(counters().refused_over_limit), 0u);
  EXPECT_EQ(count(counters().admitted), 3u);
}

}  // namespace
}  // namespace strait::filters::adaptive_concurrency
