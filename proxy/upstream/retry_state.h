#pragma once

// The retry decisions of one downstream request (route `retry`): which failures are retried,
// how many times, after what backoff, and what stops a retry (method, body size, the route
// timeout left, the cluster's retry budget).
//
// Scope: one RetryState PER REQUEST, created by the router when it picks a route with a retry
// policy. Thread-safety: none needed; it lives on the request's worker. It holds a pointer to the
// cluster's process-wide ResourceManager (lock-free) for the retry budget. No allocation.
//
// Use by the router:
//   RetryState retry(policy, method, &cluster_resources, worker_random, now, route_timeout);
//   if (!retry.enabled()) -> do not buffer the body;
//   onBodyBuffered(total) as the request body is buffered (past max_body_bytes: stop buffering,
//     retries are off);
//   attemptTimeout(now) for each attempt's timer;
//   after a failed attempt: d = retry.onAttemptFailed(result, now);
//     d.verdict == Retry -> start a timer of d.backoff, then the next attempt (one retry-budget
//     token is held; the RetryState gives it back when the next attempt fails, or at destruction);
//     anything else -> forward the failure (verdict says why, for stats and access log).
//   Once a response has been forwarded downstream, nothing may be retried: do not ask.

#include <chrono>
#include <cstdint>
#include <string_view>

#include "config/types.h"
#include "proxy/upstream/resource_manager.h"
#include "strait/common/random.h"
#include "strait/common/time.h"

namespace strait::upstream {

// How one upstream attempt ended.
struct AttemptResult {
  enum class Kind : uint8_t { Response, Reset, ConnectFailure, PerTryTimeout };
  Kind kind = Kind::Response;
  uint16_t status = 0;  // Kind::Response only

  static AttemptResult response(uint16_t status) { return {Kind::Response, status}; }
  static AttemptResult reset() { return {Kind::Reset, 0}; }
  static AttemptResult connectFailure() { return {Kind::ConnectFailure, 0}; }
  static AttemptResult perTryTimeout() { return {Kind::PerTryTimeout, 0}; }
};

enum class RetryVerdict : uint8_t {
  Retry,                // retry after `backoff`
  NotRetriable,         // the result is not one of `retry.on` (or no retry policy)
  AttemptsExhausted,    // `attempts` retries already done
  NonIdempotentMethod,  // the method may not be replayed (retry.non_idempotent is false)
  BodyTooLarge,         // the request body outgrew retry.max_body_bytes
  NoTimeLeft,           // the route timeout ends before the backoff would
  BudgetExhausted,      // the cluster's retry budget (circuit breaker) said no
};
const char* retryVerdictName(RetryVerdict verdict);

struct RetryDecision {
  RetryVerdict verdict = RetryVerdict::NotRetriable;
  std::chrono::milliseconds backoff{0};
};

// GET, HEAD, OPTIONS, PUT, DELETE and TRACE (RFC 9110 section 9.2.2), exact upper case.
bool isIdempotentMethod(std::string_view method);

class RetryState {
 public:
  // `policy` null: no retries. `resources` null: no retry budget (tests, clusters without one).
  // `route_timeout` 0: no overall deadline. `policy`, `resources` and `random` must outlive it.
  RetryState(const config::RetryPolicy* policy, std::string_view method,
             ResourceManager* resources, RandomGenerator& random, MonotonicTime start,
             std::chrono::milliseconds route_timeout);
  ~RetryState();
  RetryState(const RetryState&) = delete;
  RetryState& operator=(const RetryState&) = delete;

  // Whether any retry can happen (a policy with attempts > 0, an allowed method, the body still
  // fits): the router buffers the request body only while this is true.
  bool enabled() const;
  // The request body buffered so far has `total_bytes`.
  void onBodyBuffered(uint64_t total_bytes);
  // The timeout of the next attempt: per_try_timeout, shortened to the route time left. 0 means
  // none (no per-try timeout and no route timeout).
  std::chrono::milliseconds attemptTimeout(MonotonicTime now) const;
  // An attempt failed (or gave a response that may be retriable). Returns Retry with the backoff
  // when the next attempt should start after it, or why not.
  RetryDecision onAttemptFailed(const AttemptResult& result, MonotonicTime now);
  // The request ended (response forwarded or given up): gives back a held budget token.
  void onRequestDone();

  uint32_t retriesDone() const { return retries_; }
  // The backoff cap of retry number `retry` (0-based): min(max, base * 2^retry).
  std::chrono::milliseconds backoffCap(uint32_t retry) const;

 private:
  bool retriable(const AttemptResult& result) const;
  bool has(config::RetryOn on) const;
  void releaseToken();

  const config::RetryPolicy* policy_;
  ResourceManager* resources_;
  RandomGenerator& random_;
  const MonotonicTime deadline_;
  const bool has_deadline_;
  const bool idempotent_;
  bool body_too_large_ = false;
  bool holds_token_ = false;
  uint32_t retries_ = 0;
};

}  // namespace strait::upstream
