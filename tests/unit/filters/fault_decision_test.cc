#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "filters/fault/fault_decision.h"
#include "tests/mocks/scripted_random.h"
#include "tests/unit/filters/fake_request.h"

namespace strait::filters::fault {
namespace {

using std::chrono::milliseconds;
using testing::FakeRequest;
using strait::testing::ScriptedRandom;

FaultConfig delayAndAbort(double delay_percent, double abort_percent) {
  FaultConfig c;
  c.delay = DelayFault{milliseconds(100), percentFromDouble(delay_percent)};
  c.abort = AbortFault{503, false, percentFromDouble(abort_percent)};
  return c;
}

TEST(FaultDecisionTest, PercentDrawsWithMillionthPrecision) {
  // 10.000001%: the draw must be below 10'000'001 of 100'000'000.
  FaultDecider decider(delayAndAbort(10.000001, 0));
  ScriptedRandom random;
  random.push({10'000'000, 10'000'001, 100'000'000 + 5});
  EXPECT_TRUE(decider.decide(FakeRequest(), random).delay);
  EXPECT_FALSE(decider.decide(FakeRequest(), random).delay);
  EXPECT_TRUE(decider.decide(FakeRequest(), random).delay);  // 5 after modulo
  EXPECT_EQ(random.calls(), 3u);  // abort at 0% draws nothing
  EXPECT_EQ(decider.delaysInjected(), 2u);
}

TEST(FaultDecisionTest, DelayThenAbortDrawInOrder) {
  FaultDecider decider(delayAndAbort(50, 50));
  ScriptedRandom random;
  random.push({60'000'000, 10'000'000});  // delay: no; abort: yes
  FaultDecision d = decider.decide(FakeRequest(), random);
  EXPECT_FALSE(d.delay);
  EXPECT_TRUE(d.abort);
  EXPECT_EQ(d.abort_status, 503);
  EXPECT_FALSE(d.abort_reset);
  EXPECT_TRUE(d.holds_slot);
  decider.finish(d);
  EXPECT_EQ(decider.activeFaults(), 0u);
}

TEST(FaultDecisionTest, HundredPercentDrawsNothing) {
  FaultConfig c;
  c.response_rate_limit = RateLimitFault{64, kPercentScale};
  FaultDecider decider(c);
  ScriptedRandom random;
  FaultDecision d = decider.decide(FakeRequest(), random);
  EXPECT_TRUE(d.rate_limit);
  EXPECT_EQ(d.rate_limit_kbps, 64u);
  EXPECT_EQ(random.calls(), 0u);
}

TEST(FaultDecisionTest, MatchLimitsWhichRequestsAreFaulted) {
  FaultConfig c = delayAndAbort(100, 0);
  c.match.prefix = "/checkout";
  c.match.headers.push_back({"x-chaos", config::StringMatchKind::Exact, "1", false});
  c.match.principals = {"spiffe://example.org/ns/*/sa/web"};
  FaultDecider decider(c);
  ScriptedRandom random;
  const std::string web = "spiffe://example.org/ns/shop/sa/web";
  EXPECT_TRUE(decider.decide(FakeRequest("/checkout/pay", web).with("x-chaos", "1"), random).delay);
  EXPECT_FALSE(decider.decide(FakeRequest("/cart", web).with("x-chaos", "1"), random).delay);
  EXPECT_FALSE(decider.decide(FakeRequest("/checkout", web), random).delay);
  EXPECT_FALSE(decider.decide(FakeRequest("/checkout", "spiffe://example.org/ns/shop/sa/api")
                                  .with("x-chaos", "1"),
                              random)
                   .delay);
  EXPECT_FALSE(decider.decide(FakeRequest("/checkout").with("x-chaos", "1"), random).delay);
}

TEST(FaultDecisionTest, PrincipalPatterns) {
  EXPECT_TRUE(principalMatches("*", "spiffe://a/b"));
  EXPECT_FALSE(principalMatches("*", ""));
  EXPECT_TRUE(principalMatches("spiffe://example.org/*", "spiffe://example.org/ns/x"));
  EXPECT_FALSE(principalMatches("spiffe://example.org/*", "spiffe://example.com/ns/x"));
  EXPECT_TRUE(principalMatches("spiffe://td/ns/*/sa/web", "spiffe://td/ns/a/sa/web"));
  EXPECT_FALSE(principalMatches("spiffe://td/ns/*/sa/web", "spiffe://td/ns/a/b/sa/web"));
  EXPECT_TRUE(principalMatches("spiffe://td/ns/web", "spiffe://td/ns/web"));
  EXPECT_FALSE(principalMatches("spiffe://td/ns/web", "spiffe://td/ns/web2"));
}

TEST(FaultDecisionTest, HeadersOnlyWithHeaderControl) {
  FaultConfig c;
  FaultDecider off(c);
  ScriptedRandom random;
  FakeRequest request = FakeRequest().with("x-strait-fault-delay-ms", "250")
                            .with("x-strait-fault-abort", "418");
  EXPECT_FALSE(off.decide(request, random).any());

  c.header_control = true;
  FaultDecider on(c);
  FaultDecision d = on.decide(request, random);
  EXPECT_TRUE(d.delay);
  EXPECT_EQ(d.delay_time, milliseconds(250));
  EXPECT_TRUE(d.abort);
  EXPECT_EQ(d.abort_status, 418);

  // Abort percent from the header: 25% -> draw below 25'000'000.
  random.push({30'000'000, 20'000'000});
  FakeRequest quarter =
      FakeRequest().with("x-strait-fault-abort", "reset").with("x-strait-fault-abort-percent", "25");
  EXPECT_FALSE(on.decide(quarter, random).abort);
  FaultDecision reset = on.decide(quarter, random);
  EXPECT_TRUE(reset.abort);
  EXPECT_TRUE(reset.abort_reset);

  // Malformed values are ignored and counted.
  EXPECT_FALSE(on.decide(FakeRequest().with("x-strait-fault-delay-ms", "-5"), random).any());
  EXPECT_FALSE(on.decide(FakeRequest().with("x-strait-fault-abort", "700"), random).any());
  EXPECT_FALSE(on.decide(FakeRequest().with("x-strait-fault-delay-ms", "600001"), random).any());
  EXPECT_EQ(on.headerErrors(), 3u);
}

TEST(FaultDecisionTest, ActiveFaultCapIsProcessWide) {
  FaultConfig c = delayAndAbort(100, 0);
  c.max_active_faults = 2;
  FaultDecider decider(c);
  ScriptedRandom random;
  FaultDecision a = decider.decide(FakeRequest(), random);
  FaultDecision b = decider.decide(FakeRequest(), random);
  FaultDecision over = decider.decide(FakeRequest(), random);
  EXPECT_TRUE(a.delay);
  EXPECT_TRUE(b.delay);
  EXPECT_FALSE(over.any());
  EXPECT_EQ(decider.overflows(), 1u);
  decider.finish(a);
  decider.finish(a);  // idempotent
  EXPECT_EQ(decider.activeFaults(), 1u);
  EXPECT_TRUE(decider.decide(FakeRequest(), random).delay);

  // From several threads, each with its own generator: never above the cap.
  FaultConfig many = delayAndAbort(100, 0);
  many.max_active_faults = 5;
  FaultDecider shared(many);
  std::atomic<uint64_t> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      ScriptedRandom own;
      for (int i = 0; i < 1000; ++i) {
        if (shared.decide(FakeRequest(), own).holds_slot) {
          granted.fetch_add(1);
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(granted.load(), 5u);
  EXPECT_EQ(shared.overflows(), 3995u);
}

TEST(FaultDecisionTest, DryRunDecidesButHoldsNothing) {
  FaultConfig c = delayAndAbort(100, 100);
  c.mode = FilterMode::DryRun;
  c.max_active_faults = 1;
  FaultDecider decider(c);
  ScriptedRandom random;
  for (int i = 0; i < 3; ++i) {
    FaultDecision d = decider.decide(FakeRequest(), random);
    EXPECT_TRUE(d.delay);
    EXPECT_TRUE(d.dry_run);
    EXPECT_FALSE(d.holds_slot);
  }
  EXPECT_EQ(decider.dryRunFaults(), 3u);
  EXPECT_EQ(decider.delaysInjected(), 0u);
  EXPECT_EQ(decider.overflows(), 0u);
}

TEST(FaultDecisionTest, ConnectionFaults) {
  FaultConfig c;
  c.connection.reset_percent = percentFromDouble(10);
  c.connection.black_hole_percent = percentFromDouble(20);
  FaultDecider decider(c);
  ScriptedRandom random;
  random.push({5'000'000,                // reset
               50'000'000, 15'000'000,   // no reset, black hole
               50'000'000, 50'000'000});  // neither
  EXPECT_TRUE(decider.decideConnection(random).reset);
  ConnectionFaultDecision hole = decider.decideConnection(random);
  EXPECT_FALSE(hole.reset);
  EXPECT_TRUE(hole.black_hole);
  ConnectionFaultDecision none = decider.decideConnection(random);
  EXPECT_FALSE(none.reset || none.black_hole);
  EXPECT_EQ(decider.connectionResets(), 1u);
  EXPECT_EQ(decider.blackHoles(), 1u);
}

TEST(FaultDecisionTest, ResponseDelayDrawsLastWithTheSameRules) {
  FaultConfig c = delayAndAbort(50, 50);
  c.response_delay = DelayFault{milliseconds(300), percentFromDouble(25)};
  c.match.prefix = "/slow";
  c.max_active_faults = 1;
  FaultDecider decider(c);
  ScriptedRandom random;
  // delay: no, abort: no, response delay: 24.999999% < 25%: yes.
  random.push({60'000'000, 60'000'000, 24'999'999});
  FaultDecision d = decider.decide(FakeRequest("/slow"), random);
  EXPECT_FALSE(d.delay);
  EXPECT_FALSE(d.abort);
  EXPECT_TRUE(d.response_delay);
  EXPECT_EQ(d.response_delay_time, milliseconds(300));
  EXPECT_TRUE(d.holds_slot);
  EXPECT_EQ(decider.responseDelaysInjected(), 1u);
  // The cap is taken: the next drawn response delay runs clean.
  random.push({60'000'000, 60'000'000, 0});
  FaultDecision over = decider.decide(FakeRequest("/slow"), random);
  EXPECT_FALSE(over.any());
  EXPECT_TRUE(over.overflowed);
  decider.finish(d);
  // 25% exactly is not below 25%: no response delay. Outside the match: nothing is drawn.
  random.push({60'000'000, 60'000'000, 25'000'000});
  EXPECT_FALSE(decider.decide(FakeRequest("/slow"), random).any());
  size_t calls = random.calls();
  EXPECT_FALSE(decider.decide(FakeRequest("/fast"), random).any());
  EXPECT_EQ(random.calls(), calls);
  EXPECT_EQ(decider.responseDelaysInjected(), 1u);
}

TEST(FaultDecisionTest, ResponseDelayHeaderOnlyWithHeaderControl) {
  FaultConfig c;
  FakeRequest request = FakeRequest().with("x-strait-fault-response-delay-ms", "1500");
  ScriptedRandom random;
  EXPECT_FALSE(FaultDecider(c).decide(request, random).any());
  c.header_control = true;
  FaultDecider on(c);
  FaultDecision d = on.decide(request, random);
  EXPECT_TRUE(d.response_delay);
  EXPECT_FALSE(d.delay);
  EXPECT_EQ(d.response_delay_time, milliseconds(1500));
  EXPECT_FALSE(
      on.decide(FakeRequest().with("x-strait-fault-response-delay-ms", "0"), random).any());
  EXPECT_FALSE(
      on.decide(FakeRequest().with("x-strait-fault-response-delay-ms", "1.5"), random).any());
  EXPECT_FALSE(
      on.decide(FakeRequest().with("x-strait-fault-response-delay-ms", "60001"), random).any());
  EXPECT_EQ(on.headerErrors(), 2u);
}

TEST(FaultDecisionTest, ConnectionFaultsInDryRunAreCountedApart) {
  FaultConfig c;
  c.mode = FilterMode::DryRun;
  c.connection.reset_percent = kPercentScale;
  FaultDecider decider(c);
  ScriptedRandom random;
  ConnectionFaultDecision d = decider.decideConnection(random);
  EXPECT_TRUE(d.reset);
  EXPECT_TRUE(d.dry_run);
  EXPECT_EQ(decider.dryRunFaults(), 1u);
  EXPECT_EQ(decider.connectionResets(), 0u);
  EXPECT_EQ(random.calls(), 0u);  // 100%: no draw; black hole at 0%: no draw
}

}  // namespace
}  // namespace strait::filters::fault
