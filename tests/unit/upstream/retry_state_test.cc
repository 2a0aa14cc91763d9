#include <chrono>

#include <gtest/gtest.h>

#include "proxy/upstream/retry_state.h"
#include "tests/mocks/scripted_random.h"
#include "tests/mocks/simulated_time.h"

namespace strait::upstream {
namespace {

using std::chrono::milliseconds;
using config::RetryOn;

using strait::testing::ScriptedRandom;

config::RetryPolicy policy(std::initializer_list<RetryOn> on, uint32_t attempts = 3) {
  config::RetryPolicy p;
  p.on = on;
  p.attempts = attempts;
  p.backoff_base = milliseconds(25);
  p.backoff_max = milliseconds(250);
  return p;
}

config::CircuitBreakers budget(double percent, uint32_t min_concurrency) {
  config::CircuitBreakers c;
  c.retry_budget.percent = percent;
  c.retry_budget.min_concurrency = min_concurrency;
  return c;
}

class RetryStateTest : public ::testing::Test {
 protected:
  RetryState make(const config::RetryPolicy* p, std::string_view method = "GET",
                  ResourceManager* rm = nullptr, milliseconds timeout = milliseconds(15000)) {
    return RetryState(p, method, rm, random_, time_.monotonicTime(), timeout);
  }
  MonotonicTime now() const { return time_.monotonicTime(); }

  ScriptedRandom random_;
  testing::SimulatedTimeSource time_;
};

TEST_F(RetryStateTest, ConditionsMatchTheirResults) {
  config::RetryPolicy five = policy({RetryOn::FiveXx});
  config::RetryPolicy gateway = policy({RetryOn::GatewayError});
  config::RetryPolicy reset = policy({RetryOn::Reset});
  config::RetryPolicy connect = policy({RetryOn::ConnectFailure});
  config::RetryPolicy codes = policy({RetryOn::RetriableStatusCodes});
  codes.retriable_status_codes = {409, 429};
  struct Case {
    const config::RetryPolicy* p;
    AttemptResult result;
    bool retried;
  };
  const Case cases[] = {
      {&five, AttemptResult::response(500), true},
      {&five, AttemptResult::response(503), true},
      {&five, AttemptResult::response(404), false},
      {&five, AttemptResult::reset(), true},
      {&five, AttemptResult::connectFailure(), true},
      {&five, AttemptResult::perTryTimeout(), true},
      {&gateway, AttemptResult::response(502), true},
      {&gateway, AttemptResult::response(500), false},
      {&gateway, AttemptResult::reset(), true},
      {&reset, AttemptResult::reset(), true},
      {&reset, AttemptResult::response(503), false},
      {&reset, AttemptResult::connectFailure(), false},
      {&reset, AttemptResult::perTryTimeout(), false},
      {&connect, AttemptResult::connectFailure(), true},
      {&connect, AttemptResult::reset(), false},
      {&codes, AttemptResult::response(429), true},
      {&codes, AttemptResult::response(503), false},
  };
  int i = 0;
  for (const Case& c : cases) {
    RetryState state = make(c.p);
    RetryDecision d = state.onAttemptFailed(c.result, now());
    EXPECT_EQ(d.verdict == RetryVerdict::Retry, c.retried) << "case " << i;
    if (!c.retried) {
      EXPECT_EQ(d.verdict, RetryVerdict::NotRetriable) << "case " << i;
    }
    ++i;
  }
}

TEST_F(RetryStateTest, AttemptsAreCounted) {
  config::RetryPolicy p = policy({RetryOn::FiveXx}, 2);
  RetryState state = make(&p);
  EXPECT_EQ(state.onAttemptFailed(AttemptResult::response(503), now()).verdict,
            RetryVerdict::Retry);
  EXPECT_EQ(state.onAttemptFailed(AttemptResult::response(503), now()).verdict,
            RetryVerdict::Retry);
  EXPECT_EQ(state.onAttemptFailed(AttemptResult::response(503), now()).verdict,
            RetryVerdict::AttemptsExhausted);
  EXPECT_EQ(state.retriesDone(), 2u);
}

// Backoff of retry n is uniform in [0, min(max, base * 2^n)]: scripted draws modulo cap + 1.
TEST_F(RetryStateTest, FullJitterExponentialBackoff) {
  config::RetryPolicy p = policy({RetryOn::FiveXx}, 6);
  RetryState state = make(&p);
  EXPECT_EQ(state.backoffCap(0), milliseconds(25));
  EXPECT_EQ(state.backoffCap(1), milliseconds(50));
  EXPECT_EQ(state.backoffCap(2), milliseconds(100));
  EXPECT_EQ(state.backoffCap(3), milliseconds(200));
  EXPECT_EQ(state.backoffCap(4), milliseconds(250));
  EXPECT_EQ(state.backoffCap(60), milliseconds(250));
  // Draws: 25 -> 25 of [0,25]; 51 -> 0 of [0,50]; 150 -> 49 of [0,100]; 200 -> 200;
  // 1000 -> 1000 % 251 = 247.
  random_.push({25, 51, 150, 200, 1000});
  const int64_t expected[] = {25, 0, 49, 200, 247};
  for (int64_t want : expected) {
    RetryDecision d = state.onAttemptFailed(AttemptResult::reset(), now());
    ASSERT_EQ(d.verdict, RetryVerdict::Retry);
    EXPECT_EQ(d.backoff, milliseconds(want));
  }
}

TEST_F(RetryStateTest, OnlyIdempotentMethodsUnlessAllowed) {
  EXPECT_TRUE(isIdempotentMethod("GET"));
  EXPECT_TRUE(isIdempotentMethod("PUT"));
  EXPECT_TRUE(isIdempotentMethod("TRACE"));
  EXPECT_FALSE(isIdempotentMethod("POST"));
  EXPECT_FALSE(isIdempotentMethod("PATCH"));
  EXPECT_FALSE(isIdempotentMethod("get"));

  config::RetryPolicy p = policy({RetryOn::FiveXx});
  RetryState post = make(&p, "POST");
  EXPECT_FALSE(post.enabled());
  EXPECT_EQ(post.onAttemptFailed(AttemptResult::response(503), now()).verdict,
            RetryVerdict::NonIdempotentMethod);

  p.non_idempotent = true;
  RetryState allowed = make(&p, "POST");
  EXPECT_TRUE(allowed.enabled());
  EXPECT_EQ(allowed.onAttemptFailed(AttemptResult::response(503), now()).verdict,
            RetryVerdict::Retry);
}

TEST_F(RetryStateTest, BodyLargerThanMaxBodyBytesIsNotReplayed) {
  config::RetryPolicy p = policy({RetryOn::FiveXx});
  p.max_body_bytes = 1000;
  RetryState state = make(&p, "PUT");
  state.onBodyBuffered(1000);
  EXPECT_TRUE(state.enabled());
  state.onBodyBuffered(1001);
  EXPECT_FALSE(state.enabled());
  EXPECT_EQ(state.onAttemptFailed(AttemptResult::response(503), now()).verdict,
            RetryVerdict::BodyTooLarge);
}

TEST_F(RetryStateTest, NoRetryWhenTheRouteTimeoutEndsWithinTheBackoff) {
  config::RetryPolicy p = policy({RetryOn::FiveXx});
  p.per_try_timeout = milliseconds(400);
  RetryState state = make(&p, "GET", nullptr, milliseconds(1000));
  EXPECT_EQ(state.attemptTimeout(now()), milliseconds(400));
  time_.advance(milliseconds(700));
  EXPECT_EQ(state.attemptTimeout(now()), milliseconds(300));  // the route's time left
  random_.push({20});  // backoff 20 ms < 300 ms left: retry
  EXPECT_EQ(state.onAttemptFailed(AttemptResult::response(503), now()).verdict,
            RetryVerdict::Retry);
  time_.advance(milliseconds(290));  // 10 ms left
  random_.push({10});                // backoff 10 ms: would start at the deadline
  RetryDecision d = state.onAttemptFailed(AttemptResult::response(503), now());
  EXPECT_EQ(d.verdict, RetryVerdict::NoTimeLeft);
  EXPECT_EQ(d.backoff, milliseconds(10));
}

TEST_F(RetryStateTest, NoRouteTimeoutMeansNoDeadline) {
  config::RetryPolicy p = policy({RetryOn::FiveXx});
  RetryState state = make(&p, "GET", nullptr, milliseconds(0));
  EXPECT_EQ(state.attemptTimeout(now()), milliseconds(0));
  time_.advance(milliseconds(10'000'000));
  EXPECT_EQ(state.onAttemptFailed(AttemptResult::response(503), now()).verdict,
            RetryVerdict::Retry);
}

TEST_F(RetryStateTest, EveryRetryTakesABudgetTokenAndGivesItBack) {
  // Budget: max(1, 0% of active) = 1 retry in flight across the cluster.
  ResourceManager rm(budget(0, 1));
  config::RetryPolicy p = policy({RetryOn::FiveXx}, 3);
  RetryState a = make(&p, "GET", &rm);
  RetryState b = make(&p, "GET", &rm);
  EXPECT_EQ(a.onAttemptFailed(AttemptResult::response(503), now()).verdict,
            RetryVerdict::Retry);
  EXPECT_EQ(rm.retries().active(), 1u);
  EXPECT_EQ(b.onAttemptFailed(AttemptResult::response(503), now()).verdict,
            RetryVerdict::BudgetExhausted);
  EXPECT_EQ(rm.retries().overflows(), 1u);
  // a's retry fails too: its token comes back before the next one is taken.
  EXPECT_EQ(a.onAttemptFailed(AttemptResult::response(503), now()).verdict,
            RetryVerdict::Retry);
  EXPECT_EQ(rm.retries().active(), 1u);
  a.onRequestDone();
  EXPECT_EQ(rm.retries().active(), 0u);
  {
    RetryState c = make(&p, "GET", &rm);
    EXPECT_EQ(c.onAttemptFailed(AttemptResult::reset(), now()).verdict, RetryVerdict::Retry);
    EXPECT_EQ(rm.retries().active(), 1u);
  }  // destroyed mid-retry (downstream went away)
  EXPECT_EQ(rm.retries().active(), 0u);
}

TEST_F(RetryStateTest, RefusedRetriesDoNotSpendBudget) {
  ResourceManager rm(budget(0, 1));
  config::RetryPolicy p = policy({RetryOn::FiveXx}, 3);
  RetryState post = make(&p, "POST", &rm);
  EXPECT_EQ(post.onAttemptFailed(AttemptResult::response(503), now()).verdict,
            RetryVerdict::NonIdempotentMethod);
  EXPECT_EQ(rm.retries().active(), 0u);
  EXPECT_EQ(rm.retries().overflows(), 0u);
}

TEST_F(RetryStateTest, NoPolicyNeverRetries) {
  RetryState state = make(nullptr);
  EXPECT_FALSE(state.enabled());
  EXPECT_EQ(state.onAttemptFailed(AttemptResult::response(503), now()).verdict,
            RetryVerdict::NotRetriable);
  EXPECT_EQ(state.attemptTimeout(now()), milliseconds(15000));
}

}  // namespace
}  // namespace strait::upstream
