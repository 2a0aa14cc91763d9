#include "proxy/upstream/resource_manager.h"

#include <algorithm>
#include <cmath>

namespace strait::upstream {
namespace {

uint64_t toMillionths(double percent) {
  return static_cast<uint64_t>(std::llround(std::clamp(percent, 0.0, 100.0) * 10000.0));
}

}  // namespace

// ---- ResourceLimit ----------------------------------------------------------------------------

bool ResourceLimit::tryAcquire() { return tryAcquireWithLimit(limit()); }

bool ResourceLimit::tryAcquireWithLimit(uint64_t limit) {
  uint64_t current = count_.load(std::memory_order_relaxed);
  while (true) {
    if (current >= limit) {
      overflow();
      return false;
    }
    if (count_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed)) {
      return true;
    }
  }
}

void ResourceLimit::overflow() {
  overflows_.fetch_add(1, std::memory_order_relaxed);
  sticky_open_.store(true, std::memory_order_relaxed);
}

void ResourceLimit::release() {
  uint64_t current = count_.load(std::memory_order_relaxed);
  // Never below zero, even if a caller releases twice: a wrapped counter would close the breaker
  // for good.
  while (current > 0 &&
         !count_.compare_exchange_weak(current, current - 1, std::memory_order_relaxed)) {
  }
  if (current > 0 && current - 1 < limit()) {
    sticky_open_.store(false, std::memory_order_relaxed);
  }
}

bool ResourceLimit::open() const {
  return active() >= limit() || sticky_open_.load(std::memory_order_relaxed);
}

bool ResourceLimit::openSinceLastScrape() {
  uint64_t overflows_now = overflows();
  bool overflowed = overflows_now != overflows_at_last_scrape_;
  overflows_at_last_scrape_ = overflows_now;
  return overflowed || open();
}

// ---- ResourceManager --------------------------------------------------------------------------

ResourceManager::ResourceManager(const config::CircuitBreakers& config)
    : connections_(config.max_connections),
      pending_(config.max_pending_requests),
      requests_(config.max_requests),
      retries_(UINT64_MAX),
      retry_percent_millionths_(toMillionths(config.retry_budget.percent)),
      retry_min_concurrency_(config.retry_budget.min_concurrency) {}

uint64_t ResourceManager::retryLimit() const {
  uint64_t base = requests_.active() + pending_.active();
  // percent is stored in millionths of one: 20% is 200000 (of 1e6).
  uint64_t share = base * retry_percent_millionths_.load(std::memory_order_relaxed) / 1000000;
  return std::max(share, retry_min_concurrency_.load(std::memory_order_relaxed));
}

bool ResourceManager::retryBudgetOpen() const {
  return retries_.active() >= retryLimit() || retries_.sticky_open_.load(std::memory_order_relaxed);
}

bool ResourceManager::tryAcquireRetry() { return retries_.tryAcquireWithLimit(retryLimit()); }

void ResourceManager::updateLimits(const config::CircuitBreakers& config) {
  connections_.setLimit(config.max_connections);
  pending_.setLimit(config.max_pending_requests);
  requests_.setLimit(config.max_requests);
  retry_percent_millionths_.store(toMillionths(config.retry_budget.percent),
                                  std::memory_order_relaxed);
  retry_min_concurrency_.store(config.retry_budget.min_concurrency, std::memory_order_relaxed);
}

}  // namespace strait::upstream
