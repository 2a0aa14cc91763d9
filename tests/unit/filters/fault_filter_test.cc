// The fault filter through the real FilterChain: abort, reset, delay on a simulated clock,
// response pacing with upstream backpressure, dry run, header control, the active-fault cap, the
// decider carried over a reload, and config errors with positions through the loader.

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
  testing::ScriptedRandom random_;
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

TEST(FaultConfigLoaderTest, ErrorsHavePositions) {
  std::vector<std::string> errors;
  EXPECT_EQ(testing::loadFilter("fault",
                                "            abort: {status: 700, percent: 101}\n"
                                "            connection: {black_hole: {percent: 1}}\n",
                                &errors),
            nullptr);
  EXPECT_THAT(
      errors,
      ElementsAre(
          R"(t.yaml:7:29: listeners[0].http.filters[0].config.abort.status: expected an integer from 200 to 599, got "700")",
          R"(t.yaml:7:43: listeners[0].http.filters[0].config.abort.percent: expected a number from 0 to 100, got "101")",
          R"(t.yaml:8:25: listeners[0].http.filters[0].config.connection: connection-level faults (reset, black_hole) are not built yet; use abort: {reset: true} for a per-request reset)"));
}

}  // namespace
}  // namespace strait::filters::fault
