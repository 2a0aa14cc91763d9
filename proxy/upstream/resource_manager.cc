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

// The count is changed with sequentially consistent operations (on x86 the same instructions as
// relaxed ones): the pending queue's hand-over relies on their order (ResourceManager below).

bool ResourceLimit::tryAcquire() { return tryAcquireWithLimit(limit()); }

bool ResourceLimit::tryAcquireWithLimit(uint64_t limit, bool count_overflow) {
  uint64_t current = count_.load();
  while (true) {
    if (current >= limit) {
      if (count_overflow) {
        overflow();
      }
      return false;
    }
    if (count_.compare_exchange_weak(current, current + 1)) {
      return true;
    }
  }
}

void ResourceLimit::forceAcquire() {
  if (count_.fetch_add(1) >= limit()) {
    overflow();
  }
}

void ResourceLimit::overflow() {
  overflows_.fetch_add(1, std::memory_order_relaxed);
  sticky_open_.store(true, std::memory_order_relaxed);
}

void ResourceLimit::release() {
  uint64_t current = count_.load();
  // Never below zero, even if a caller releases twice: a wrapped counter would close the breaker
  // for good.
  while (current > 0 && !count_.compare_exchange_weak(current, current - 1)) {
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
      retry_min_concurrency_(config.retry_budget.min_concurrency),
      queue_timeout_ms_(config.queue_timeout.count()) {}

// Why no waiter is stranded without a lock on the release path: a request that queues first
// increments waiting_, then tries the count once more; a release first decrements the count,
// then reads waiting_. Both are sequentially consistent, so at least one of them sees the other:
// either the queuing request gets the freed slot itself, or the release sees a waiter and hands
// a slot over under the lock (where the queuing request's ticket is either in the queue or
// already taken back).
ResourceManager::Admission ResourceManager::admitRequest(event::Dispatcher& dispatcher,
                                                         RequestSlotWaiter& waiter,
                                                         SlotTicketPtr& ticket) {
  if (waiting_.load() == 0 && requests_.tryAcquireWithLimit(requests_.limit(), false)) {
    return Admission::Admitted;
  }
  if (queue_timeout_ms_.load(std::memory_order_relaxed) <= 0) {
    requests_.overflow();
    return Admission::Overflow;
  }
  if (!pending_.tryAcquire()) {
    requests_.overflow();
    return Admission::QueueFull;
  }
  std::lock_guard<std::mutex> lock(queue_lock_);
  waiting_.fetch_add(1);
  if (queue_.empty() && requests_.tryAcquireWithLimit(requests_.limit(), false)) {
    waiting_.fetch_sub(1);
    pending_.release();
    return Admission::Admitted;
  }
  ticket = std::make_shared<SlotTicket>();
  ticket->dispatcher = &dispatcher;
  ticket->waiter = &waiter;
  ticket->queued = true;
  queue_.push_back(ticket);
  ticket->self = std::prev(queue_.end());
  return Admission::Queued;
}

void ResourceManager::releaseRequest() {
  requests_.release();
  if (waiting_.load() == 0) {
    return;
  }
  std::lock_guard<std::mutex> lock(queue_lock_);
  // Hand slots to the oldest waiters while the count has room (usually the one just released;
  // a newcomer that took it first will release it later and come here again).
  while (!queue_.empty() && requests_.tryAcquireWithLimit(requests_.limit(), false)) {
    SlotTicketPtr next = std::move(queue_.front());
    queue_.pop_front();
    next->queued = false;
    waiting_.fetch_sub(1);
    pending_.release();
    next->dispatcher->post([self = shared_from_this(), next]() {
      if (next->waiter != nullptr) {
        RequestSlotWaiter* waiter = next->waiter;
        next->waiter = nullptr;
        waiter->onRequestSlotGranted();
      } else {
        self->releaseRequest();  // it gave up while the slot was on its way: pass it on
      }
    });
  }
}

void ResourceManager::cancelWait(const SlotTicketPtr& ticket) {
  if (ticket == nullptr) {
    return;
  }
  ticket->waiter = nullptr;
  std::lock_guard<std::mutex> lock(queue_lock_);
  if (ticket->queued) {
    queue_.erase(ticket->self);
    ticket->queued = false;
    waiting_.fetch_sub(1);
    pending_.release();
  }
}

uint64_t ResourceManager::retryLimit() const {
  uint64_t base = requests_.active() + pending_.active();
  // percent is stored in millionths of one: 20% is 200000 (of 1e6).
  uint64_t share = base * retry_percent_millionths_.load(std::memory_order_relaxed) / 1000000;
  return std::max(share, retry_min_concurrency_.load(std::memory_order_relaxed));
}

bool ResourceManager::retryBudgetOpen() const {
  return retries_.active() >= retryLimit() || retries_.sticky_open_.load(std::memory_order_relaxed);
}

bool ResourceManager::retryBudgetOpenSinceLastScrape() {
  bool overflowed = retries_.openSinceLastScrape();  // (its own limit is never reached)
  return overflowed || retryBudgetOpen();
}

bool ResourceManager::tryAcquireRetry() { return retries_.tryAcquireWithLimit(retryLimit()); }

void ResourceManager::updateLimits(const config::CircuitBreakers& config) {
  connections_.setLimit(config.max_connections);
  pending_.setLimit(config.max_pending_requests);
  requests_.setLimit(config.max_requests);
  queue_timeout_ms_.store(config.queue_timeout.count(), std::memory_order_relaxed);
  retry_percent_millionths_.store(toMillionths(config.retry_budget.percent),
                                  std::memory_order_relaxed);
  retry_min_concurrency_.store(config.retry_budget.min_concurrency, std::memory_order_relaxed);
}

}  // namespace strait::upstream
