#pragma once

// Circuit breakers of one cluster (config `circuit_breakers`): limits on upstream connections,
// requests waiting for a connection (pending), requests in flight, and a retry budget.
//
// Scope: one ResourceManager per cluster PER PROCESS, shared by every worker. Per-worker limits
// would let N workers together exceed the configured limit N-fold and would trip at 1/N of it
// at low traffic; the configured numbers are meant for the whole proxy, as in Envoy.
//
// Thread-safety: every method may be called from any thread without a lock. Each limit is one
// atomic counter advanced with a compare-and-swap loop, so concurrent acquires never take the
// count past the limit (a plain fetch_add then undo would let other threads see an over-limit
// count and overflow spuriously). Relaxed ordering: the counters steer admission, they do not
// guard memory.
//
// The "open" gauge (lesson from Envoy's users, who saw 503 overflows while every circuit-breaker
// gauge said closed because the gauge flipped back before any scrape saw it): a limit reads open
// whenever it is at its limit, and stays open after an overflow until a release brings the count
// below the limit; and openSinceLastScrape() (for the scrape, main thread) also reports open when
// any overflow happened since the previous scrape. Every rejected acquire counts one overflow.
//
// The pending queue: a request over max_requests does not fail at once; admitRequest() queues it
// (within max_pending_requests, which it shares with requests waiting for a pool connection) and
// a slot given back by releaseRequest() passes straight to the oldest waiter, on any worker,
// without going back to the count (so a newcomer cannot take it first). The hand-over is posted
// to the waiter's dispatcher; a waiter that gave up meanwhile (queue timeout, client gone) passes
// the slot on. The queue is the only part with a lock, and only requests that find max_requests
// full (or a release that finds waiters) take it.

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>

#include "config/types.h"
#include "strait/event/dispatcher.h"

namespace strait::upstream {

// One counted resource with a limit. Thread-safe, lock-free.
class ResourceLimit {
 public:
  explicit ResourceLimit(uint64_t limit) : limit_(limit) {}

  // Takes one unit if the count is below the limit; otherwise counts an overflow and fails.
  bool tryAcquire();
  // Takes one unit even at the limit, counting an overflow if it goes over (a pool with no
  // connection at all opens one even when other workers hold every connection, so its waiting
  // requests are never stranded).
  void forceAcquire();
  // Gives back one unit taken by tryAcquire() (never more than were taken).
  void release();
  // Changes the limit (config reload); units already held stay held.
  void setLimit(uint64_t limit) { limit_.store(limit, std::memory_order_relaxed); }

  uint64_t active() const { return count_.load(std::memory_order_relaxed); }
  uint64_t limit() const { return limit_.load(std::memory_order_relaxed); }
  uint64_t overflows() const { return overflows_.load(std::memory_order_relaxed); }
  // At the limit now, or overflowed since the count was last below the limit.
  bool open() const;
  // open(), or an overflow happened since the previous call. For the stats scrape: call it from
  // one thread only (the main thread), once per scrape, so a short burst of overflows between two
  // scrapes is never shown as closed.
  bool openSinceLastScrape();

 private:
  friend class ResourceManager;
  // Like tryAcquire() with a limit computed by the caller (the retry budget); counts an overflow
  // on failure only when `count_overflow`.
  bool tryAcquireWithLimit(uint64_t limit, bool count_overflow = true);
  void overflow();

  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> limit_;
  std::atomic<uint64_t> overflows_{0};
  std::atomic<bool> sticky_open_{false};
  uint64_t overflows_at_last_scrape_ = 0;  // main thread only
};

// A request waiting in the pending queue for a max_requests slot.
class RequestSlotWaiter {
 public:
  // On the waiter's own dispatcher thread: the slot is the waiter's now (release it with
  // releaseRequest() like one from an immediate admission).
  virtual void onRequestSlotGranted() = 0;

 protected:
  ~RequestSlotWaiter() = default;
};

// A place in the pending queue (see admitRequest()). Opaque to the waiter.
class SlotTicket {
 private:
  friend class ResourceManager;
  event::Dispatcher* dispatcher = nullptr;  // the waiter's
  RequestSlotWaiter* waiter = nullptr;      // touched on the waiter's thread only; null: gave up
  bool queued = false;                      // guarded by the manager's queue lock
  std::list<std::shared_ptr<SlotTicket>>::iterator self;
};
using SlotTicketPtr = std::shared_ptr<SlotTicket>;

// The circuit breakers of one cluster. See the comment at the top of the file. Always owned by a
// shared_ptr (a slot hand-over posted to a worker keeps the manager alive).
class ResourceManager : public std::enable_shared_from_this<ResourceManager> {
 public:
  explicit ResourceManager(const config::CircuitBreakers& config);

  enum class Admission {
    Admitted,     // the request holds a slot now
    Queued,       // `ticket` waits; onRequestSlotGranted() comes later on `dispatcher`
    Overflow,     // max_requests full and queueing is off (queue_timeout 0)
    QueueFull,    // max_requests full and max_pending_requests full too
  };
  // A new request (its first attempt): takes a max_requests slot, or queues `waiter`. Call on
  // the waiter's dispatcher thread. A Queued waiter must call cancelWait() when it gives up.
  Admission admitRequest(event::Dispatcher& dispatcher, RequestSlotWaiter& waiter,
                         SlotTicketPtr& ticket);
  // The waiter gives up (queue timeout, request gone). On the waiter's thread. If the slot was
  // already on its way to it, it is passed on when it arrives.
  void cancelWait(const SlotTicketPtr& ticket);
  uint64_t queued() const { return waiting_.load(); }

  // An upstream connection about to be opened; release when it closes.
  bool tryAcquireConnection() { return connections_.tryAcquire(); }
  void releaseConnection() { connections_.release(); }
  // A request about to wait for a pool connection; release when it gets one or gives up.
  bool tryAcquirePending() { return pending_.tryAcquire(); }
  void releasePending() { pending_.release(); }
  // A request about to be sent upstream (one per downstream request, not per attempt); release
  // when its last attempt ends.
  // (admitRequest() is the way in for a request that may wait.)
  bool tryAcquireRequest() { return requests_.tryAcquire(); }
  // Passes the slot to the oldest queued waiter, if any, else gives it back.
  void releaseRequest();
  // One retry attempt (not the first try): allowed while the active retries stay below
  // retryLimit(). Release when that attempt ends.
  bool tryAcquireRetry();
  void releaseRetry() { retries_.release(); }

  // max(min_concurrency, floor(percent / 100 * (active requests + pending requests))).
  uint64_t retryLimit() const;
  // The retry budget is exhausted now, or a retry overflowed since the last release of a retry.
  bool retryBudgetOpen() const;
  // retryBudgetOpen(), or a retry was refused since the previous call (the scrape; main thread).
  bool retryBudgetOpenSinceLastScrape();

  // New limits from a reloaded config; counts in flight are kept.
  void updateLimits(const config::CircuitBreakers& config);

  // For stats and tests.
  ResourceLimit& connections() { return connections_; }
  ResourceLimit& pending() { return pending_; }
  ResourceLimit& requests() { return requests_; }
  const ResourceLimit& requests() const { return requests_; }
  // Its limit() is not used: the budget is retryLimit().
  ResourceLimit& retries() { return retries_; }

 private:
  ResourceLimit connections_;
  ResourceLimit pending_;
  ResourceLimit requests_;
  ResourceLimit retries_;
  // Percent in millionths, so the budget is integer arithmetic on the hot path.
  std::atomic<uint64_t> retry_percent_millionths_;
  std::atomic<uint64_t> retry_min_concurrency_;
  std::atomic<int64_t> queue_timeout_ms_;

  // The pending queue, oldest first. waiting_ is its length, readable without the lock so that a
  // release with nobody waiting stays lock-free (see releaseRequest() for the ordering argument).
  std::mutex queue_lock_;
  std::list<SlotTicketPtr> queue_;
  std::atomic<uint64_t> waiting_{0};
};

}  // namespace strait::upstream
