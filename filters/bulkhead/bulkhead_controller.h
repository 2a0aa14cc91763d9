#pragma once

// The bulkhead filter's controller: compartments of requests, each with a concurrency limit and a
// bounded FIFO queue with a timeout, so that one kind of traffic cannot take every slot.
//
// Scope: one BulkheadController per bulkhead filter config PER PROCESS, shared by every worker
// (per-worker compartments would allow workers x max_concurrent and would queue on one worker
// while another has room).
//
// Thread-safety: every method may be called from any thread. A single mutex guards the
// compartments and queues; it is taken only at admission (acquire), release, cancel and the
// expiry sweep, never while the request streams, and it is never held while a Waiter callback
// runs. Waiter callbacks run on the thread that made room (release, expire): a Waiter must not
// touch its stream there; it posts to its own worker's dispatcher (the controller keeps the
// Waiter alive through its shared_ptr until the callback returns).
//
// Admission of a request to compartment C (the first whose match holds; none: not limited):
//  1. own capacity: C.active_own < C.max_concurrent -> admitted. A lender always gets its own
//     capacity, even while others borrow it.
//  2. borrowing (C.borrow true and its queue empty): total active (every compartment, own and
//     borrowed) < sum of every max_concurrent -> admitted as borrowed. The total can only exceed
//     the sum while lenders reclaim capacity that is lent out, and then nobody borrows.
//  3. C.queued < C.max_queue -> queued (FIFO) until a slot frees or queue_timeout passes.
//  4. otherwise rejected.
// When a slot frees, queues are served lenders-first: every compartment's queue is admitted on
// its own capacity first, then borrowing compartments' queues on idle capacity, each in FIFO order.
//
// Dry run: acquire() always admits, and counts what it would have queued or rejected.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "filters/bulkhead/config.h"
#include "filters/common/request_match.h"
#include "strait/common/time.h"

namespace strait::filters::bulkhead {

// Implemented by the per-stream filter. Called at most once, without the controller's lock.
class Waiter {
 public:
  virtual ~Waiter() = default;
  // A queued request got a slot: it now holds it and must release() its ticket when done.
  virtual void onAdmitted() = 0;
  // A queued request waited queue_timeout: it holds nothing (answer 503).
  virtual void onQueueTimeout() = 0;
};

enum class Admission { Admitted, Queued, Rejected, NotLimited };

struct Ticket {
  Admission admission = Admission::NotLimited;
  size_t compartment = 0;
  uint64_t id = 0;        // identifies a queued request for cancel()
  bool borrowed = false;  // set when admitted (immediately or from the queue) on borrowed capacity
  // Dry run: admitted, but enforcing would have queued (Queued) or rejected (Rejected) it.
  Admission dry_run_would = Admission::Admitted;
};

struct CompartmentStats {
  uint64_t active = 0;  // own + borrowed
  uint64_t queued = 0;
  uint64_t admitted = 0;  // total, immediately or from the queue
  uint64_t rejected = 0;
  uint64_t timed_out = 0;
  uint64_t borrowed = 0;  // total admissions on borrowed capacity
  uint64_t dry_run_queued = 0;
  uint64_t dry_run_rejected = 0;
};

class BulkheadController {
 public:
  explicit BulkheadController(BulkheadConfig config);

  // The compartment of a request, or nullopt when none matches (not limited).
  std::optional<size_t> select(const RequestAttributes& request) const;
  // Admits, queues or rejects a request of `compartment`. `waiter` is kept only when queued.
  // Only a queued request copies `waiter` (one reference count), so an admitted request costs
  // no allocation here; the per-stream filter can itself be the Waiter.
  Ticket acquire(size_t compartment, const std::shared_ptr<Waiter>& waiter, MonotonicTime now);

  // What acquire() needs only when the request must queue (its waiter, and the time for its
  // deadline): asked for then, under the lock, so an admitted request allocates nothing.
  class QueueEntrySource {
   public:
    virtual std::shared_ptr<Waiter> makeWaiter() = 0;
    virtual MonotonicTime now() = 0;

   protected:
    ~QueueEntrySource() = default;
  };
  Ticket acquire(size_t compartment, QueueEntrySource& source);
  // The request holding an admitted ticket ended. Admits queued requests into the freed room.
  void release(const Ticket& ticket);
  // The queued request went away. True: it was still queued and is gone (no callback will come).
  // False: it was admitted or timed out meanwhile; if admitted (onAdmitted is on its way) the
  // caller now holds the slot and must release() it, with `ticket` updated for that.
  bool cancel(Ticket& ticket);
  // Times out queued requests whose queue_timeout has passed (main thread or a worker timer).
  void expire(MonotonicTime now);
  // The earliest queue deadline, for the caller's timer.
  std::optional<MonotonicTime> nextDeadline() const;

  CompartmentStats stats(size_t compartment) const;
  size_t compartments() const { return slots_.size(); }
  const std::string& name(size_t compartment) const { return config_.compartments[compartment].name; }
  FilterMode mode() const { return config_.mode; }

 private:
  struct Queued {
    uint64_t id;
    std::shared_ptr<Waiter> waiter;
    MonotonicTime deadline;
  };
  struct Slot {
    uint64_t active_own = 0;
    uint64_t active_borrowed = 0;
    std::deque<Queued> queue;
    CompartmentStats stats;
  };
  struct Outcome {  // a callback to run once the lock is released
    std::shared_ptr<Waiter> waiter;
    bool admitted;
  };

  bool hasOwnRoom(size_t i) const;
  bool canBorrow(size_t i) const;
  // Under lock_: admits queued requests while there is room; collects their callbacks.
  void drainQueues(std::vector<Outcome>& out);
  static void run(std::vector<Outcome>& outcomes);

  const BulkheadConfig config_;
  std::vector<RequestMatcher> matchers_;  // by compartment; unused when it has no match
  uint64_t sum_limits_ = 0;

  mutable std::mutex lock_;
  std::vector<Slot> slots_;
  uint64_t total_active_ = 0;
  uint64_t next_id_ = 1;
  // Ids of queued requests admitted from the queue (for cancel() to tell the caller): a ticket
  // moved here by drainQueues, removed by cancel or release.
  std::vector<std::pair<uint64_t, bool>> admitted_from_queue_;  // {id, borrowed}
};

using BulkheadControllerSharedPtr = std::shared_ptr<BulkheadController>;

}  // namespace strait::filters::bulkhead
