// The load_shed filter through the real FilterChain, its factory built by the registered
// builder on a simulated main dispatcher: the sampling timer feeding the controller from the
// listener's ConcurrencySignal and the process signals, the 503 with its headers and flag, the
// counters per class and cause, the classes from route, trusted header and principal, the
// untrusted header, the lagging worker, dry run, the reload carry-over and the timer's teardown.

#include "filters/load_shed/load_shed_filter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/types.h"
#include "tests/unit/filters/chain_harness.h"
#include "tests/unit/filters/load_filter.h"

namespace strait::filters::load_shed {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using ::testing::ElementsAre;
using testing::Stream;

constexpr const char* kNiceShed =
    "reply 503 load_shed nice_to_have cpu LS retry-after=1 x-strait-overloaded=true";

class LoadShedFilterTest : public ::testing::Test {
 protected:
  void build(const std::string& block, const std::string& mode = "enforce") {
    bootstrap_ = testing::loadFilter("load_shed", "            mode: " + mode + "\n" + block);
    ASSERT_NE(bootstrap_, nullptr);
    factory_ = buildWith(nullptr);
    factories_ = {factory_};
  }
  http::FilterFactoryPtr buildWith(const http::FilterFactory* previous) {
    const config::FilterConfig& entry = bootstrap_->listeners[0].http.filters[0];
    http::FilterFactoryContext context{store_, "l", entry.name, previous, process_.context};
    return (*http::findFilterFactory(entry.name))(*entry.settings, context);
  }
  // cpu is the only signal the test moves: threshold 1.0, so the overload is the utilisation.
  void buildCpu(const std::string& mode = "enforce", const std::string& extra = "") {
    build("            signals: {cpu: {threshold: 1.0}}\n" + extra, mode);
  }
  void overload(double cpu) {
    process_.signals.cpu = cpu;
    process_.dispatcher.advance(milliseconds(100));  // one sampling interval
  }
  std::unique_ptr<Stream> stream(const std::string& priority = "",
                                 const std::string& principal = "", uint32_t worker = 0) {
    auto s = std::make_unique<Stream>(dispatcher_, time_, random_, store_, factories_);
    if (!priority.empty()) {
      s->owner.request.headers.add("x-strait-priority", priority);
    }
    s->owner.principal = principal;
    s->owner.route = route_;
    s->owner.worker_index = worker;
    s->start();
    return s;
  }
  const LoadShedFactory& shed() const { return static_cast<const LoadShedFactory&>(*factory_); }
  uint64_t count(stats::Counter c) const { return store_.counterValue(c); }
  uint64_t shedCount(Priority p, Signal cause) const {
    return count(shed().counters(p).shed[static_cast<size_t>(cause)]);
  }

  strait::testing::TestProcess process_;       // the main thread
  strait::testing::SimulatedTimeSource time_;  // a worker
  testing::FakeDispatcher dispatcher_{time_};
  strait::testing::ScriptedRandom random_;
  stats::Store store_{1};
  config::BootstrapSharedPtr bootstrap_;
  http::FilterFactoryPtr factory_;
  std::vector<http::FilterFactoryPtr> factories_;
  const config::Route* route_ = nullptr;
};

TEST_F(LoadShedFilterTest, NotOverloadedEverythingGoesOn) {
  buildCpu();
  overload(0.5);
  auto a = stream("nice_to_have");
  EXPECT_THAT(a->owner.log, ElementsAre("router"));
  EXPECT_FALSE(a->owner.overloaded);  // nothing is shed: hedges may go
  EXPECT_EQ(count(shed().counters(Priority::Important).admitted), 1u);  // untrusted header
  EXPECT_EQ(count(shed().untrustedPriority()), 1u);
  EXPECT_EQ(random_.calls(), 0u);  // probability 0: no draw
}

TEST_F(LoadShedFilterTest, ShedsTheLowestClassFirstWith503) {
  build(
      "            signals: {cpu: {threshold: 1.0}}\n"
      "            priority: {default: nice_to_have, principals: {spiffe://m/ns/pay/*: critical,"
      " spiffe://m/ns/web/*: important}}\n");
  overload(1.6);            // nice_to_have 1, important 0.47, critical 0
  random_.push({999'999});  // important's draw: above 0.47 -> admitted
  auto nice = stream();
  auto important = stream("", "spiffe://m/ns/web/sa/a");
  auto critical = stream("", "spiffe://m/ns/pay/sa/a");
  EXPECT_THAT(nice->owner.log, ElementsAre(kNiceShed));
  EXPECT_THAT(important->owner.log, ElementsAre("router"));
  EXPECT_THAT(critical->owner.log, ElementsAre("router"));
  // Shedding is active: what goes on is marked, so the router sends it no hedge.
  EXPECT_TRUE(important->owner.overloaded);
  EXPECT_TRUE(critical->owner.overloaded);
  EXPECT_EQ(shedCount(Priority::NiceToHave, Signal::Cpu), 1u);
  EXPECT_EQ(count(shed().counters(Priority::Important).admitted), 1u);
  EXPECT_EQ(count(shed().counters(Priority::Critical).admitted), 1u);
  EXPECT_EQ(random_.calls(), 1u);
  // The next important request draws low: shed, progressively.
  random_.push({0});
  auto important2 = stream("", "spiffe://m/ns/web/sa/a");
  EXPECT_THAT(important2->owner.log,
              ElementsAre("reply 503 load_shed important cpu LS retry-after=1 "
                          "x-strait-overloaded=true"));
}

TEST_F(LoadShedFilterTest, GaugesFollowTheTimer) {
  buildCpu();
  overload(1.25);
  const std::string text = store_.renderPrometheus();
  EXPECT_THAT(text, ::testing::HasSubstr("strait_dp_load_shed_overload{listener=\"l\"} 1250"));
  EXPECT_THAT(text,
              ::testing::HasSubstr(
                  "strait_dp_load_shed_probability{listener=\"l\",class=\"nice_to_have\"} 500"));
  EXPECT_THAT(text, ::testing::HasSubstr(
                        "strait_dp_load_shed_pressure{listener=\"l\",signal=\"cpu\"} 1250"));
}

TEST_F(LoadShedFilterTest, TrustedHeaderRouteAndPrecedence) {
  build(
      "            signals: {cpu: {threshold: 1.0}}\n"
      "            priority:\n"
      "              trusted_principals: [spiffe://m/ns/edge/*]\n"
      "              routes: {checkout: critical}\n"
      "              default: nice_to_have\n");
  overload(2.5);  // nice_to_have and important shed, critical not
  auto trusted = stream("critical", "spiffe://m/ns/edge/sa/gw");
  EXPECT_THAT(trusted->owner.log, ElementsAre("router"));
  auto untrusted = stream("critical", "spiffe://m/ns/other/sa/x");
  EXPECT_TRUE(untrusted->owner.has("reply 503 load_shed nice_to_have cpu"));
  EXPECT_EQ(count(shed().untrustedPriority()), 1u);
  config::Route checkout;
  checkout.name = "checkout";
  route_ = &checkout;
  auto by_route = stream("nice_to_have", "spiffe://m/ns/edge/sa/gw");  // the route wins
  EXPECT_THAT(by_route->owner.log, ElementsAre("router"));
  EXPECT_EQ(count(shed().counters(Priority::Critical).admitted), 2u);
  auto invalid = stream("urgent", "spiffe://m/ns/edge/sa/gw");
  EXPECT_EQ(count(shed().invalidPriority()), 1u);
}

TEST_F(LoadShedFilterTest, CriticalShedOnlyPastTheHardLimit) {
  buildCpu("enforce", "            priority: {default: critical}\n");
  overload(2.99);
  EXPECT_THAT(stream()->owner.log, ElementsAre("router"));
  overload(4.0);
  EXPECT_TRUE(stream()->owner.has("reply 503 load_shed critical cpu"));
}

TEST_F(LoadShedFilterTest, QueueDelayFromAdaptiveConcurrencyOfTheSameListener) {
  build("            priority: {default: nice_to_have}\n");
  std::shared_ptr<ConcurrencySignal> signal = concurrencySignalFor("l");
  // Every request of the window waited 8ms (target 5ms): a standing queue.
  signal->recordQueueDelay(milliseconds(9));
  signal->recordQueueDelay(milliseconds(8));
  process_.dispatcher.advance(milliseconds(100));
  EXPECT_DOUBLE_EQ(shed().runtime()->controller().pressure(Signal::QueueDelay), 1.6);
  EXPECT_THAT(stream()->owner.log,
              ElementsAre("reply 503 load_shed nice_to_have queue_delay LS retry-after=1 "
                          "x-strait-overloaded=true"));
  // One request served at once in the next window: no standing queue.
  signal->recordQueueDelay(milliseconds(8));
  signal->recordQueueDelay(microseconds(0));
  process_.dispatcher.advance(milliseconds(100));
  EXPECT_THAT(stream()->owner.log, ElementsAre("router"));
  // The adaptive limit: in flight over the limit.
  signal->publishLimit(10, 1);
  signal->setInFlight(16);
  process_.dispatcher.advance(milliseconds(100));
  EXPECT_TRUE(stream()->owner.has("reply 503 load_shed nice_to_have concurrency"));
  EXPECT_EQ(shedCount(Priority::NiceToHave, Signal::Concurrency), 1u);
  // Read per request, without waiting for the timer: the limit's queue filling sheds at once.
  signal->setInFlight(10);
  process_.dispatcher.advance(milliseconds(100));
  EXPECT_THAT(stream()->owner.log, ElementsAre("router"));
  signal->setQueued(6);  // (10 + 6) / 10 = 1.6: past nice_to_have's full 1.5
  EXPECT_TRUE(stream()->owner.has("reply 503 load_shed nice_to_have concurrency"));
  EXPECT_EQ(shedCount(Priority::NiceToHave, Signal::Concurrency), 2u);
  signal->setQueued(0);
  signal->setInFlight(0);
  signal->publishLimit(0, 0);
}

TEST_F(LoadShedFilterTest, ALaggingWorkerShedsItsOwnRequests) {
  build("            priority: {default: nice_to_have}\n");
  process_.signals.workers = 2;
  process_.signals.lag = {microseconds(0), milliseconds(100)};
  process_.dispatcher.advance(milliseconds(100));
  EXPECT_THAT(stream("", "", 0)->owner.log, ElementsAre("router"));
  EXPECT_TRUE(stream("", "", 1)->owner.has("reply 503 load_shed nice_to_have event_loop_lag"));
  EXPECT_EQ(shedCount(Priority::NiceToHave, Signal::EventLoopLag), 1u);
}

TEST_F(LoadShedFilterTest, DryRunCountsAndLetsThrough) {
  buildCpu("dry_run");
  overload(3.0);
  auto a = stream();  // important: probability 1
  EXPECT_THAT(a->owner.log, ElementsAre("router"));
  EXPECT_EQ(
      count(shed().counters(Priority::Important).dry_run_shed[static_cast<size_t>(Signal::Cpu)]),
      1u);
  EXPECT_EQ(shedCount(Priority::Important, Signal::Cpu), 0u);
}

TEST_F(LoadShedFilterTest, RetryAfterInWholeSeconds) {
  build("            retry_after: 2500ms\n            signals: {cpu: {threshold: 1.0}}\n");
  overload(3.0);
  EXPECT_TRUE(stream()->owner.has("reply 503 load_shed important cpu LS retry-after=3 "));
}

TEST_F(LoadShedFilterTest, ReloadKeepsTheRuntimeAndOneTimer) {
  buildCpu();
  http::FilterFactoryPtr next = buildWith(factory_.get());
  EXPECT_EQ(static_cast<const LoadShedFactory&>(*next).runtime(), shed().runtime());
  EXPECT_EQ(process_.dispatcher.enabledTimers(), 1u);
  factories_.clear();
  factory_.reset();
  EXPECT_EQ(process_.dispatcher.enabledTimers(), 1u);  // the new factory's
  next.reset();
  EXPECT_EQ(process_.dispatcher.enabledTimers(), 0u);  // gone with the last factory
  process_.dispatcher.advance(milliseconds(500));      // nothing fires
}

}  // namespace
}  // namespace strait::filters::load_shed
