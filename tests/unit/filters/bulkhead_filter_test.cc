// The bulkhead filter through the real FilterChain: admitted, rejected (503 full), queued then
// admitted when a slot frees (posted to the stream's dispatcher), queued then timed out by its own
// timer, a stream gone while queued (cancel) or while its admission is in flight (the slot is
// given back), dry run, compartments isolated from each other, and config errors through the
// loader.

#include "filters/bulkhead/bulkhead_filter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/filters/chain_harness.h"
#include "tests/unit/filters/load_filter.h"

namespace strait::filters::bulkhead {
namespace {

using ::testing::ElementsAre;
using std::chrono::milliseconds;
using testing::Stream;

constexpr const char* kFull =
    "reply 503 bulkhead default full UO x-strait-overloaded=true";
constexpr const char* kTimeout =
    "reply 503 bulkhead default queue timeout UO x-strait-overloaded=true";

class BulkheadFilterTest : public ::testing::Test {
 protected:
  void build(const std::string& block) {
    bootstrap_ = testing::loadFilter("bulkhead", block);
    ASSERT_NE(bootstrap_, nullptr);
    factory_ = testing::buildFactory(*bootstrap_, store_);
    factories_ = {factory_};
  }
  void buildOne(int max_concurrent, int max_queue, const std::string& timeout = "100ms",
                const std::string& mode = "enforce") {
    build("            mode: " + mode + "\n            compartments:\n"
          "              - {name: default, max_concurrent: " + std::to_string(max_concurrent) +
          ", max_queue: " + std::to_string(max_queue) + ", queue_timeout: " + timeout + "}\n");
  }
  std::unique_ptr<Stream> stream(const std::string& path = "/") {
    auto s = std::make_unique<Stream>(dispatcher_, time_, random_, store_, factories_, path);
    s->start();
    return s;
  }
  const BulkheadFactory& bulkhead() const { return static_cast<const BulkheadFactory&>(*factory_); }
  const CompartmentCounters& counters(size_t i = 0) const { return bulkhead().counters(i); }
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

TEST_F(BulkheadFilterTest, FullCompartmentWithoutQueueRejects) {
  buildOne(2, 0);
  auto a = stream();
  auto b = stream();
  auto c = stream();
  EXPECT_THAT(a->owner.log, ElementsAre("router"));
  EXPECT_THAT(b->owner.log, ElementsAre("router"));
  EXPECT_THAT(c->owner.log, ElementsAre(kFull));
  EXPECT_EQ(count(counters().admitted), 2u);
  EXPECT_EQ(count(counters().rejected), 1u);
  EXPECT_EQ(gauge(counters().active), 2);
  a.reset();
  b.reset();
  c.reset();
  EXPECT_EQ(gauge(counters().active), 0);
  EXPECT_EQ(bulkhead().controller()->stats(0).active, 0u);
}

TEST_F(BulkheadFilterTest, QueuedRequestGoesOnWhenASlotFrees) {
  buildOne(1, 1, "2s");
  auto a = stream();
  auto b = stream();
  EXPECT_THAT(b->owner.log, ElementsAre());
  EXPECT_EQ(gauge(counters().waiting), 1);
  a.reset();  // release: the admission is posted to b's dispatcher
  EXPECT_THAT(b->owner.log, ElementsAre());
  EXPECT_EQ(dispatcher_.runPosted(), 1u);
  EXPECT_THAT(b->owner.log, ElementsAre("router"));
  EXPECT_EQ(gauge(counters().waiting), 0);
  EXPECT_EQ(gauge(counters().active), 1);
  EXPECT_EQ(dispatcher_.enabledTimers(), 0u);  // its deadline timer is gone
  b.reset();
  EXPECT_EQ(bulkhead().controller()->stats(0).active, 0u);
  EXPECT_EQ(count(counters().admitted), 2u);
  EXPECT_EQ(count(counters().queued), 1u);
}

TEST_F(BulkheadFilterTest, QueuedRequestTimesOutOnItsOwnTimer) {
  buildOne(1, 1, "100ms");
  auto a = stream();
  auto b = stream();
  dispatcher_.advance(milliseconds(99));
  EXPECT_THAT(b->owner.log, ElementsAre());
  dispatcher_.advance(milliseconds(1));
  EXPECT_THAT(b->owner.log, ElementsAre(kTimeout));
  EXPECT_EQ(count(counters().timed_out), 1u);
  EXPECT_EQ(bulkhead().controller()->stats(0).queued, 0u);
  b.reset();
  a.reset();
  EXPECT_EQ(dispatcher_.runPosted(), 0u);  // nobody left queued
  EXPECT_EQ(bulkhead().controller()->stats(0).active, 0u);
}

TEST_F(BulkheadFilterTest, StreamGoneWhileQueuedLeavesTheQueue) {
  buildOne(1, 1, "2s");
  auto a = stream();
  auto b = stream();
  b.reset();
  EXPECT_EQ(bulkhead().controller()->stats(0).queued, 0u);
  a.reset();
  EXPECT_EQ(dispatcher_.runPosted(), 0u);
  EXPECT_EQ(bulkhead().controller()->stats(0).active, 0u);
}

TEST_F(BulkheadFilterTest, StreamGoneWhileItsAdmissionIsInFlightGivesTheSlotBack) {
  buildOne(1, 1, "2s");
  auto a = stream();
  auto b = stream();
  a.reset();  // b admitted; the callback is posted, not yet run
  b.reset();  // cancel() says admitted: b releases the slot itself
  EXPECT_EQ(bulkhead().controller()->stats(0).active, 0u);
  EXPECT_EQ(dispatcher_.runPosted(), 1u);  // finds b gone: does nothing
  auto c = stream();
  EXPECT_THAT(c->owner.log, ElementsAre("router"));
  c.reset();
  EXPECT_EQ(bulkhead().controller()->stats(0).active, 0u);
  EXPECT_EQ(gauge(counters().active), 0);
  EXPECT_EQ(gauge(counters().waiting), 0);
}

TEST_F(BulkheadFilterTest, DeadlineAfterAdmissionInFlightGoesOn) {
  buildOne(1, 1, "100ms");
  auto a = stream();
  auto b = stream();
  a.reset();                                // admission posted
  dispatcher_.advance(milliseconds(100));   // b's own deadline fires first: cancel() says admitted
  EXPECT_THAT(b->owner.log, ElementsAre("router"));
  EXPECT_EQ(dispatcher_.runPosted(), 1u);   // the late admission is ignored
  EXPECT_THAT(b->owner.log, ElementsAre("router"));
  b.reset();
  EXPECT_EQ(bulkhead().controller()->stats(0).active, 0u);
}

TEST_F(BulkheadFilterTest, DryRunCountsAndLetsThrough) {
  buildOne(1, 0, "100ms", "dry_run");
  auto a = stream();
  auto b = stream();
  EXPECT_THAT(b->owner.log, ElementsAre("router"));
  EXPECT_EQ(count(counters().dry_run_rejected), 1u);
  EXPECT_EQ(count(counters().rejected), 0u);
}

TEST_F(BulkheadFilterTest, NoisyCompartmentDoesNotBlockAnother) {
  build("            compartments:\n"
        "              - {name: noisy, match: {prefix: /noisy}, max_concurrent: 1, max_queue: 0}\n"
        "              - {name: default, max_concurrent: 1, max_queue: 0}\n");
  auto a = stream("/noisy/a");
  auto b = stream("/noisy/b");
  auto c = stream("/other");
  EXPECT_THAT(b->owner.log,
              ElementsAre("reply 503 bulkhead noisy full UO x-strait-overloaded=true"));
  EXPECT_THAT(c->owner.log, ElementsAre("router"));
  EXPECT_EQ(count(counters(0).rejected), 1u);
  EXPECT_EQ(count(counters(1).admitted), 1u);
}

TEST_F(BulkheadFilterTest, ReloadKeepsTheController) {
  buildOne(1, 0);
  http::FilterFactoryPtr next = testing::buildFactory(*bootstrap_, store_, factory_.get());
  EXPECT_EQ(static_cast<const BulkheadFactory&>(*next).controller(), bulkhead().controller());
}

TEST(BulkheadConfigLoaderTest, ErrorsHavePositions) {
  std::vector<std::string> errors;
  EXPECT_EQ(testing::loadFilter("bulkhead",
                                "            compartments:\n"
                                "              - {name: a, max_concurrent: 0, queue_timeout: x}\n",
                                &errors),
            nullptr);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_THAT(errors[0], ::testing::StartsWith(
                             "t.yaml:8:43: listeners[0].http.filters[0].config.compartments[0]."
                             "max_concurrent: "));
  EXPECT_THAT(errors[1], ::testing::StartsWith(
                             "t.yaml:8:61: listeners[0].http.filters[0].config.compartments[0]."
                             "queue_timeout: "));
}

}  // namespace
}  // namespace strait::filters::bulkhead
