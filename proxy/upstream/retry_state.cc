#include "proxy/upstream/retry_state.h"

#include <algorithm>

namespace strait::upstream {

using std::chrono::milliseconds;

const char* retryVerdictName(RetryVerdict verdict) {
  switch (verdict) {
    case RetryVerdict::Retry:
      return "retry";
    case RetryVerdict::NotRetriable:
      return "not_retriable";
    case RetryVerdict::AttemptsExhausted:
      return "attempts_exhausted";
    case RetryVerdict::NonIdempotentMethod:
      return "non_idempotent_method";
    case RetryVerdict::BodyTooLarge:
      return "body_too_large";
    case RetryVerdict::NoTimeLeft:
      return "no_time_left";
    case RetryVerdict::BudgetExhausted:
      return "budget_exhausted";
  }
  return "unknown";
}

bool isIdempotentMethod(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" ||
         method == "DELETE" || method == "TRACE";
}

RetryState::RetryState(const config::RetryPolicy* policy, std::string_view method,
                       ResourceManager* resources, RandomGenerator& random, MonotonicTime start,
                       milliseconds route_timeout)
    : policy_(policy),
      resources_(resources),
      random_(random),
      deadline_(start + route_timeout),
      has_deadline_(route_timeout.count() > 0),
      idempotent_(isIdempotentMethod(method)) {}

RetryState::~RetryState() { releaseToken(); }

bool RetryState::enabled() const {
  return policy_ != nullptr && policy_->attempts > 0 && !policy_->on.empty() &&
         (idempotent_ || policy_->non_idempotent) && !body_too_large_;
}

void RetryState::onBodyBuffered(uint64_t total_bytes) {
  if (policy_ != nullptr && total_bytes > policy_->max_body_bytes) {
    body_too_large_ = true;
  }
}

milliseconds RetryState::attemptTimeout(MonotonicTime now) const {
  milliseconds per_try{0};
  if (policy_ != nullptr && policy_->per_try_timeout) {
    per_try = *policy_->per_try_timeout;
  }
  if (!has_deadline_) {
    return per_try;
  }
  // At least 1 ms: a zero would mean "no timeout" to the caller.
  milliseconds left = std::max(
      milliseconds(1), std::chrono::duration_cast<milliseconds>(deadline_ - now));
  return per_try.count() > 0 ? std::min(per_try, left) : left;
}

bool RetryState::has(config::RetryOn on) const {
  return std::find(policy_->on.begin(), policy_->on.end(), on) != policy_->on.end();
}

// `5xx`: any 5xx response, reset, connect failure or per-try timeout (no usable response).
// `gateway-error`: 502, 503, 504 and the same three local failures. `reset` and
// `connect-failure`: only those. `retriable-status-codes`: the listed statuses.
bool RetryState::retriable(const AttemptResult& result) const {
  using config::RetryOn;
  switch (result.kind) {
    case AttemptResult::Kind::Response: {
      uint16_t s = result.status;
      if (has(RetryOn::FiveXx) && s >= 500 && s <= 599) {
        return true;
      }
      if (has(RetryOn::GatewayError) && (s == 502 || s == 503 || s == 504)) {
        return true;
      }
      const auto& codes = policy_->retriable_status_codes;
      return has(RetryOn::RetriableStatusCodes) &&
             std::find(codes.begin(), codes.end(), s) != codes.end();
    }
    case AttemptResult::Kind::Reset:
      return has(RetryOn::Reset) || has(RetryOn::FiveXx) || has(RetryOn::GatewayError);
    case AttemptResult::Kind::ConnectFailure:
      return has(RetryOn::ConnectFailure) || has(RetryOn::FiveXx) ||
             has(RetryOn::GatewayError);
    case AttemptResult::Kind::PerTryTimeout:
      return has(RetryOn::FiveXx) || has(RetryOn::GatewayError);
  }
  return false;
}

milliseconds RetryState::backoffCap(uint32_t retry) const {
  if (policy_ == nullptr) {
    return milliseconds(0);
  }
  const int64_t base = policy_->backoff_base.count();
  const int64_t max = policy_->backoff_max.count();
  int64_t cap = base;
  for (uint32_t i = 0; i < retry && cap < max; ++i) {
    cap *= 2;  // stops doubling at max, so this cannot overflow
  }
  return milliseconds(std::min(cap, max));
}

void RetryState::releaseToken() {
  if (holds_token_ && resources_ != nullptr) {
    resources_->releaseRetry();
  }
  holds_token_ = false;
}

void RetryState::onRequestDone() { releaseToken(); }

RetryDecision RetryState::onAttemptFailed(const AttemptResult& result, MonotonicTime now) {
  // The attempt that just ended was the retry holding the token (if any).
  releaseToken();
  if (policy_ == nullptr || !retriable(result)) {
    return {RetryVerdict::NotRetriable, milliseconds(0)};
  }
  if (retries_ >= policy_->attempts) {
    return {RetryVerdict::AttemptsExhausted, milliseconds(0)};
  }
  if (!idempotent_ && !policy_->non_idempotent) {
    return {RetryVerdict::NonIdempotentMethod, milliseconds(0)};
  }
  if (body_too_large_) {
    return {RetryVerdict::BodyTooLarge, milliseconds(0)};
  }
  // Full jitter: uniform in [0, cap], so that clients failing together do not retry together.
  const milliseconds cap = backoffCap(retries_);
  const milliseconds backoff(static_cast<int64_t>(
      random_.bounded(static_cast<uint64_t>(cap.count()) + 1)));
  // The route timeout covers every attempt: a retry that could only start at or after the
  // deadline would be cut off before it began.
  if (has_deadline_ && deadline_ - now <= backoff) {
    return {RetryVerdict::NoTimeLeft, backoff};
  }
  // Taken last, so a retry refused for another reason does not use up the shared budget.
  if (resources_ != nullptr) {
    if (!resources_->tryAcquireRetry()) {
      return {RetryVerdict::BudgetExhausted, backoff};
    }
    holds_token_ = true;
  }
  ++retries_;
  return {RetryVerdict::Retry, backoff};
}

}  // namespace strait::upstream
