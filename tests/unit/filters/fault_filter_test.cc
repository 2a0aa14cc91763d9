// The fault filter through the real FilterChain: abort, reset, delay and response delay on a
// simulated clock, response pacing with upstream backpressure, dry run, header control, the
// active-fault cap, the decider carried over a reload, the accept hook's connection faults, and
// config errors with positions through the loader.

#include "filters/fault/fault_filter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/filters/chain_harness.h"
#include "tests/unit/filters/load_filter.h"

namespace strait::filters::fault {
namespace {

using ::testing::ElementsAre;
using std::chrono::milliseconds;
using testing::Stream;

class FaultFilterTest : public ::testing::Test {
 protected:
  void build(const std::string& block) {
    bootstrap_ = testing::loadFilter("fault", block);
    ASSERT_NE(bootstrap_, nullptr);
    factory_ = testing::buildFactory(*bootstrap_, store_);
    factories_ = {factory_};
  }
  std::unique_ptr<Stream> stream(const std::string& path = "/") {
    return std::make_unique<Stream>(dispatcher_, time_, random_, store_, factories_, path);
  }
  const FaultFactory& fault() const { return static_cast<const FaultFactory&>(*factory_); }
  uint64_t count(stats::Counter c) const { return store_.counterValue(c); }

  strait::testing::SimulatedTimeSource time_;
  testing::FakeDispatcher dispatcher_{time_};
  strait::testing::ScriptedRandom random_;
  stats::Store store_{1};
  config::BootstrapSharedPtr bootstrap_;
  http::FilterFactoryPtr factory_;
  std::vector<http::FilterFactoryPtr> factories_;
};

TEST_F(FaultFilterTest, AbortAnswersWithTheStatusAndNeverRoutes) {
  build("            abort: {status: 503}\n");
  auto s = stream();
  s->start();
  EXPECT_THAT(s->owner.log, ElementsAre("reply 503 fault filter abort FI"));
  EXPECT_EQ(count(fault().stats().aborts), 1u);
  EXPECT_EQ(fault().decider().activeFaults(), 1u);
  s.reset();  // onDestroy gives the active-fault slot back
  EXPECT_EQ(fault().decider().activeFaults(), 0u);
}

TEST_F(FaultFilterTest, AbortByResetResetsTheStream) {
  build("            abort: {reset: true}\n");
  auto s = stream();
  s->start();
  EXPECT_THAT(s->owner.log, ElementsAre("reset FI"));
  EXPECT_EQ(count(fault().stats().resets), 1u);
  EXPECT_EQ(count(fault().stats().aborts), 0u);
}

TEST_F(FaultFilterTest, AbortPercentDrawsOncePerRequest) {
  build("            abort: {status: 500, percent: 50}\n");
  random_.push({kPercentScale / 2 - 1, kPercentScale / 2});
  auto a = stream();
  a->start();
  auto b = stream();
  b->start();
  EXPECT_THAT(a->owner.log, ElementsAre("reply 500 fault filter abort FI"));
  EXPECT_THAT(b->owner.log, ElementsAre("router"));
  EXPECT_EQ(random_.calls(), 2u);
}

TEST_F(FaultFilterTest, DelayHoldsTheRequestExactlyThatLong) {
  build("            delay: {fixed: 300ms}\n");
  auto s = stream();
  s->start();
  EXPECT_THAT(s->owner.log, ElementsAre("flag FI"));
  dispatcher_.advance(milliseconds(299));
  EXPECT_FALSE(s->owner.has("router"));
  dispatcher_.advance(milliseconds(1));
  EXPECT_THAT(s->owner.log, ElementsAre("flag FI", "router"));
  EXPECT_EQ(count(fault().stats().delays), 1u);
}

TEST_F(FaultFilterTest, DelayThenAbort) {
  build("            delay: {fixed: 100ms}\n            abort: {status: 429}\n");
  auto s = stream();
  s->start();
  dispatcher_.advance(milliseconds(100));
  EXPECT_THAT(s->owner.log, ElementsAre("flag FI", "reply 429 fault filter abort FI"));
}

TEST_F(FaultFilterTest, StreamGoneDuringDelayCancelsTheTimer) {
  build("            delay: {fixed: 100ms}\n");
  auto s = stream();
  s->start();
  EXPECT_EQ(dispatcher_.enabledTimers(), 1u);
  s.reset();
  EXPECT_EQ(dispatcher_.enabledTimers(), 0u);
  EXPECT_EQ(fault().decider().activeFaults(), 0u);
}

TEST_F(FaultFilterTest, DryRunCountsAndInjectsNothing) {
  build("            mode: dry_run\n            abort: {status: 503}\n            delay: {fixed: 1s}\n");
  auto s = stream();
  s->start();
  EXPECT_THAT(s->owner.log, ElementsAre("router"));
  EXPECT_EQ(count(fault().stats().dry_run), 1u);
  EXPECT_EQ(count(fault().stats().aborts), 0u);
  EXPECT_EQ(count(fault().stats().delays), 0u);
}

TEST_F(FaultFilterTest, HeaderControlOnlyWhenEnabled) {
  build("            header_control: true\n");
  auto s = stream();
  s->owner.request.headers.add("x-strait-fault-abort", "418");
  s->start();
  EXPECT_THAT(s->owner.log, ElementsAre("reply 418 fault filter abort FI"));
  s.reset();

  build("            delay: {fixed: 1ms, percent: 0}\n");
  auto t = stream();
  t->owner.request.headers.add("x-strait-fault-abort", "418");
  t->start();
  EXPECT_THAT(t->owner.log, ElementsAre("router"));
}

TEST_F(FaultFilterTest, ActiveFaultCapOverflowRunsClean) {
  build("            delay: {fixed: 100ms}\n            max_active_faults: 1\n");
  auto a = stream();
  a->start();
  auto b = stream();
  b->start();
  EXPECT_THAT(b->owner.log, ElementsAre("router"));
  EXPECT_EQ(count(fault().stats().overflow), 1u);
  a.reset();
  auto c = stream();
  c->start();
  EXPECT_THAT(c->owner.log, ElementsAre("flag FI"));
}

TEST_F(FaultFilterTest, ReloadKeepsTheDecider) {
  build("            delay: {fixed: 100ms}\n            max_active_faults: 1\n");
  auto a = stream();
  a->start();
  http::FilterFactoryPtr next = testing::buildFactory(*bootstrap_, store_, factory_.get());
  EXPECT_EQ(&static_cast<const FaultFactory&>(*next).decider(), &fault().decider());
  EXPECT_EQ(static_cast<const FaultFactory&>(*next).decider().activeFaults(), 1u);
}

TEST_F(FaultFilterTest, RateLimitPacesTheBodyAndEndsWithTheLastBytes) {
  build("            response_rate_limit: {kbps: 1}\n");  // 1024 B/s, bucket 51 B
  auto s = stream();
  s->start();
  ASSERT_THAT(s->owner.log, ElementsAre("flag FI", "router"));
  buffer::Buffer body;
  body.add(std::string(1024, 'x'));
  s->chain.encodeData(body, true);
  EXPECT_EQ(s->owner.out_bytes, 51u);  // the full bucket at once
  dispatcher_.advance(milliseconds(900));
  EXPECT_FALSE(s->owner.ended);
  dispatcher_.advance(milliseconds(200));
  EXPECT_TRUE(s->owner.ended);
  EXPECT_EQ(s->owner.out_bytes, 1024u);
  // (1024 - 51) bytes at 1024 B/s: ~950 ms; exactly one end_stream, with the last bytes.
  EXPECT_EQ(std::count_if(s->owner.log.begin(), s->owner.log.end(),
                          [](const std::string& l) { return l.find(" end ") != std::string::npos; }),
            1);
  EXPECT_EQ(count(fault().stats().rate_limits), 1u);
}

TEST_F(FaultFilterTest, RateLimitStopsTheUpstreamWhileHoldingMuch) {
  build("            response_rate_limit: {kbps: 64}\n");
  auto s = stream();
  s->start();
  buffer::Buffer body;
  body.add(std::string(100 * 1024, 'x'));
  s->chain.encodeData(body, false);
  EXPECT_TRUE(s->owner.has("upstream off"));
  EXPECT_FALSE(s->owner.has("upstream on"));
  dispatcher_.advance(milliseconds(1000));
  EXPECT_TRUE(s->owner.has("upstream on"));
  EXPECT_FALSE(s->owner.ended);
  buffer::Buffer end;
  s->chain.encodeData(end, true);
  dispatcher_.advance(milliseconds(1000));
  EXPECT_TRUE(s->owner.ended);
  EXPECT_EQ(s->owner.out_bytes, 100u * 1024);
}

TEST_F(FaultFilterTest, ResponseDelayHoldsTheHeadAndTheBodyExactlyThatLong) {
  build("            response_delay: {fixed: 300ms}\n");
  auto s = stream();
  s->start();
  EXPECT_THAT(s->owner.log, ElementsAre("router"));  // the request goes upstream at once
  http::ResponseHeaders head;
  head.status = 201;
  int64_t at = time_.nowMs();
  EXPECT_FALSE(s->chain.encodeHeaders(head, false, /*holdable=*/true));
  buffer::Buffer body;
  body.add("abc");
  s->chain.encodeData(body, true);
  EXPECT_THAT(s->owner.log, ElementsAre("router", "flag FI"));
  dispatcher_.advance(milliseconds(299));
  EXPECT_FALSE(s->owner.has("head"));
  dispatcher_.advance(milliseconds(1));
  std::string when = " @" + std::to_string(at + 300);
  EXPECT_THAT(s->owner.log,
              ElementsAre("router", "flag FI", "head 201" + when, "out 3 end" + when));
  EXPECT_EQ(count(fault().stats().response_delays), 1u);
  EXPECT_EQ(fault().decider().responseDelaysInjected(), 1u);
  EXPECT_EQ(count(fault().stats().delays), 0u);
}

TEST_F(FaultFilterTest, RequestDelayAndResponseDelayBothApply) {
  build("            delay: {fixed: 100ms}\n            response_delay: {fixed: 200ms}\n");
  auto s = stream();
  s->start();
  dispatcher_.advance(milliseconds(100));
  EXPECT_THAT(s->owner.log, ElementsAre("flag FI", "router"));
  http::ResponseHeaders head;
  EXPECT_FALSE(s->chain.encodeHeaders(head, true, true));
  dispatcher_.advance(milliseconds(200));
  EXPECT_TRUE(s->owner.has("head 200 end"));
  EXPECT_EQ(count(fault().stats().delays), 1u);
  EXPECT_EQ(count(fault().stats().response_delays), 1u);
}

TEST_F(FaultFilterTest, StreamGoneDuringResponseDelayCancelsTheTimer) {
  build("            response_delay: {fixed: 100ms}\n");
  auto s = stream();
  s->start();
  http::ResponseHeaders head;
  s->chain.encodeHeaders(head, false, true);
  EXPECT_EQ(dispatcher_.enabledTimers(), 1u);
  EXPECT_EQ(fault().decider().activeFaults(), 1u);
  s.reset();  // onDestroy
  EXPECT_EQ(dispatcher_.enabledTimers(), 0u);
  EXPECT_EQ(fault().decider().activeFaults(), 0u);
  dispatcher_.advance(milliseconds(200));  // nothing left to fire
}

TEST_F(FaultFilterTest, ResponseDelayDryRunCountsAndHoldsNothing) {
  build("            mode: dry_run\n            response_delay: {fixed: 1s}\n");
  auto s = stream();
  s->start();
  http::ResponseHeaders head;
  EXPECT_TRUE(s->chain.encodeHeaders(head, false, true));
  EXPECT_THAT(s->owner.log, ElementsAre("router"));
  EXPECT_EQ(dispatcher_.enabledTimers(), 0u);
  EXPECT_EQ(count(fault().stats().dry_run), 1u);
  EXPECT_EQ(count(fault().stats().response_delays), 0u);
}

TEST_F(FaultFilterTest, ResponseDelayNeverHoldsALocalReply) {
  build("            abort: {status: 503}\n            response_delay: {fixed: 1s}\n");
  auto s = stream();
  s->start();
  http::ResponseHeaders reply;  // the owner writes the abort's reply: not holdable
  reply.status = 503;
  EXPECT_TRUE(s->chain.encodeHeaders(reply, false));
  EXPECT_THAT(s->owner.log, ElementsAre("reply 503 fault filter abort FI"));
  EXPECT_EQ(count(fault().stats().response_delays), 0u);
}

TEST_F(FaultFilterTest, ResponseDelayFromTheRequestHeader) {
  build("            header_control: true\n");
  auto s = stream();
  s->owner.request.headers.add("x-strait-fault-response-delay-ms", "50");
  s->start();
  http::ResponseHeaders head;
  EXPECT_FALSE(s->chain.encodeHeaders(head, false, true));
  dispatcher_.advance(milliseconds(49));
  EXPECT_FALSE(s->owner.has("head"));
  dispatcher_.advance(milliseconds(1));
  EXPECT_TRUE(s->owner.has("head 200"));
}

TEST_F(FaultFilterTest, NoAcceptHookWithoutConnectionFaults) {
  build("            abort: {status: 503}\n            connection: {reset: 0}\n");
  EXPECT_EQ(factory_->acceptHook(), nullptr);
}

TEST_F(FaultFilterTest, AcceptHookResetsAndBlackHolesByPercent) {
  build("            connection: {reset: 10, black_hole: 20}\n");
  const http::AcceptHook* hook = factory_->acceptHook();
  ASSERT_NE(hook, nullptr);
  random_.push({5'000'000,                 // reset
                50'000'000, 15'000'000,    // no reset, black hole
                50'000'000, 50'000'000});  // neither
  stats::Shard& shard = store_.shard(0);
  EXPECT_EQ(hook->onAccept(random_, shard).action, http::AcceptAction::Reset);
  http::AcceptDecision hole = hook->onAccept(random_, shard);
  EXPECT_EQ(hole.action, http::AcceptAction::BlackHole);
  ASSERT_TRUE(hole.held_gauge.has_value());
  EXPECT_EQ(hole.held_gauge->slot, fault().stats().black_holes_active.slot);
  http::AcceptDecision none = hook->onAccept(random_, shard);
  EXPECT_EQ(none.action, http::AcceptAction::Accept);
  EXPECT_FALSE(none.held_gauge.has_value());
  EXPECT_EQ(count(fault().stats().connection_resets), 1u);
  EXPECT_EQ(count(fault().stats().connection_black_holes), 1u);
  EXPECT_EQ(store_.gaugeValue(fault().stats().black_holes_active), 0);  // the worker holds it
}

TEST_F(FaultFilterTest, AcceptHookInDryRunCountsAndAccepts) {
  build("            mode: dry_run\n            connection: {reset: 100}\n");
  http::AcceptDecision decision = factory_->acceptHook()->onAccept(random_, store_.shard(0));
  EXPECT_EQ(decision.action, http::AcceptAction::Accept);
  EXPECT_EQ(count(fault().stats().dry_run), 1u);
  EXPECT_EQ(count(fault().stats().connection_resets), 0u);
}

TEST(FaultConfigLoaderTest, ErrorsHavePositions) {
  std::vector<std::string> errors;
  EXPECT_EQ(testing::loadFilter("fault",
                                "            abort: {status: 700, percent: 101}\n"
                                "            connection: {black_hole: {percent: 1}}\n"
                                "            response_delay: {fixed: soon}\n",
                                &errors),
            nullptr);
  EXPECT_THAT(
      errors,
      ElementsAre(
          R"(t.yaml:7:29: listeners[0].http.filters[0].config.abort.status: expected an integer from 200 to 599, got "700")",
          R"(t.yaml:7:43: listeners[0].http.filters[0].config.abort.percent: expected a number from 0 to 100, got "101")",
          R"(t.yaml:9:37: listeners[0].http.filters[0].config.response_delay.fixed: expected a duration, got "soon" (a number with a unit: ms, s, m or h, e.g. 250ms or 5s))"));
}

}  // namespace
}  // namespace strait::filters::fault
