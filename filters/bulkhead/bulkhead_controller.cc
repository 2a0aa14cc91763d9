#include "filters/bulkhead/bulkhead_controller.h"

#include <algorithm>

namespace strait::filters::bulkhead {

BulkheadController::BulkheadController(BulkheadConfig config)
    : config_(std::move(config)), slots_(config_.compartments.size()) {
  for (const Compartment& c : config_.compartments) {
    matchers_.emplace_back(c.match.value_or(RequestMatchConfig{}));
    sum_limits_ += c.max_concurrent;
  }
}

std::optional<size_t> BulkheadController::select(const RequestAttributes& request) const {
  for (size_t i = 0; i < config_.compartments.size(); ++i) {
    if (!config_.compartments[i].match.has_value() || matchers_[i].matches(request)) {
      return i;
    }
  }
  return std::nullopt;
}

bool BulkheadController::hasOwnRoom(size_t i) const {
  return slots_[i].active_own < config_.compartments[i].max_concurrent;
}

bool BulkheadController::canBorrow(size_t i) const {
  return config_.compartments[i].borrow && total_active_ < sum_limits_;
}

Ticket BulkheadController::acquire(size_t compartment, const std::shared_ptr<Waiter>& waiter,
                                   MonotonicTime now) {
  struct Given : QueueEntrySource {
    Given(const std::shared_ptr<Waiter>& waiter, MonotonicTime now) : waiter(waiter), at(now) {}
    std::shared_ptr<Waiter> makeWaiter() override { return waiter; }
    MonotonicTime now() override { return at; }
    const std::shared_ptr<Waiter>& waiter;
    MonotonicTime at;
  } given(waiter, now);
  return acquire(compartment, given);
}

Ticket BulkheadController::acquire(size_t compartment, QueueEntrySource& source) {
  Ticket ticket;
  if (compartment >= slots_.size()) {
    return ticket;  // NotLimited
  }
  ticket.compartment = compartment;
  const Compartment& config = config_.compartments[compartment];
  std::lock_guard<std::mutex> guard(lock_);
  Slot& slot = slots_[compartment];
  // A request never overtakes the queue of its own compartment.
  const bool queue_empty = slot.queue.empty();
  if (queue_empty && hasOwnRoom(compartment)) {
    slot.active_own++;
  } else if (queue_empty && canBorrow(compartment)) {
    slot.active_borrowed++;
    slot.stats.borrowed++;
    ticket.borrowed = true;
  } else if (config_.mode == FilterMode::DryRun) {
    // Would queue or reject: count it, admit it anyway (on "own" capacity, over the limit).
    if (slot.queue.size() < config.max_queue) {
      slot.stats.dry_run_queued++;
      ticket.dry_run_would = Admission::Queued;
    } else {
      slot.stats.dry_run_rejected++;
      ticket.dry_run_would = Admission::Rejected;
    }
    slot.active_own++;
  } else if (slot.queue.size() < config.max_queue) {
    ticket.admission = Admission::Queued;
    ticket.id = next_id_++;
    slot.queue.push_back({ticket.id, source.makeWaiter(), source.now() + config.queue_timeout});
    return ticket;
  } else {
    ticket.admission = Admission::Rejected;
    slot.stats.rejected++;
    return ticket;
  }
  ticket.admission = Admission::Admitted;
  total_active_++;
  slot.stats.admitted++;
  return ticket;
}

void BulkheadController::drainQueues(std::vector<Outcome>& out) {
  // Lenders first: every queue on its own compartment's capacity ...
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    while (!slot.queue.empty() && hasOwnRoom(i)) {
      slot.active_own++;
      total_active_++;
      slot.stats.admitted++;
      admitted_from_queue_.push_back({slot.queue.front().id, false});
      out.push_back({std::move(slot.queue.front().waiter), true});
      slot.queue.pop_front();
    }
  }
  // ... then borrowers on idle capacity.
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    while (!slot.queue.empty() && canBorrow(i)) {
      slot.active_borrowed++;
      total_active_++;
      slot.stats.admitted++;
      slot.stats.borrowed++;
      admitted_from_queue_.push_back({slot.queue.front().id, true});
      out.push_back({std::move(slot.queue.front().waiter), true});
      slot.queue.pop_front();
    }
  }
}

void BulkheadController::run(std::vector<Outcome>& outcomes) {
  for (Outcome& outcome : outcomes) {
    if (outcome.admitted) {
      outcome.waiter->onAdmitted();
    } else {
      outcome.waiter->onQueueTimeout();
    }
  }
}

void BulkheadController::release(const Ticket& ticket) {
  if (ticket.admission != Admission::Admitted && ticket.admission != Admission::Queued) {
    return;
  }
  std::vector<Outcome> outcomes;
  {
    std::lock_guard<std::mutex> guard(lock_);
    bool borrowed = ticket.borrowed;
    if (ticket.admission == Admission::Queued) {
      // Admitted from the queue: find how.
      auto it = std::find_if(admitted_from_queue_.begin(), admitted_from_queue_.end(),
                             [&](const auto& entry) { return entry.first == ticket.id; });
      if (it == admitted_from_queue_.end()) {
        return;  // never admitted (still queued, timed out or cancelled): nothing held
      }
      borrowed = it->second;
      admitted_from_queue_.erase(it);
    }
    Slot& slot = slots_[ticket.compartment];
    uint64_t& count = borrowed ? slot.active_borrowed : slot.active_own;
    if (count == 0) {
      return;  // a double release; never wrap
    }
    count--;
    total_active_--;
    drainQueues(outcomes);
  }
  run(outcomes);
}

bool BulkheadController::cancel(Ticket& ticket) {
  if (ticket.admission != Admission::Queued) {
    return false;
  }
  std::lock_guard<std::mutex> guard(lock_);
  std::deque<Queued>& queue = slots_[ticket.compartment].queue;
  auto it = std::find_if(queue.begin(), queue.end(),
                         [&](const Queued& q) { return q.id == ticket.id; });
  if (it != queue.end()) {
    queue.erase(it);
    ticket.admission = Admission::NotLimited;
    return true;
  }
  auto admitted = std::find_if(admitted_from_queue_.begin(), admitted_from_queue_.end(),
                               [&](const auto& entry) { return entry.first == ticket.id; });
  if (admitted != admitted_from_queue_.end()) {
    ticket.admission = Admission::Admitted;
    ticket.borrowed = admitted->second;
    admitted_from_queue_.erase(admitted);
  } else {
    ticket.admission = Admission::NotLimited;  // timed out: nothing held
  }
  return false;
}

void BulkheadController::expire(MonotonicTime now) {
  std::vector<Outcome> outcomes;
  {
    std::lock_guard<std::mutex> guard(lock_);
    for (Slot& slot : slots_) {
      // One timeout per compartment, so deadlines are in FIFO order: only the front can expire.
      while (!slot.queue.empty() && slot.queue.front().deadline <= now) {
        slot.stats.timed_out++;
        outcomes.push_back({std::move(slot.queue.front().waiter), false});
        slot.queue.pop_front();
      }
    }
  }
  run(outcomes);
}

std::optional<MonotonicTime> BulkheadController::nextDeadline() const {
  std::lock_guard<std::mutex> guard(lock_);
  std::optional<MonotonicTime> earliest;
  for (const Slot& slot : slots_) {
    if (!slot.queue.empty() && (!earliest || slot.queue.front().deadline < *earliest)) {
      earliest = slot.queue.front().deadline;
    }
  }
  return earliest;
}

CompartmentStats BulkheadController::stats(size_t compartment) const {
  std::lock_guard<std::mutex> guard(lock_);
  CompartmentStats stats = slots_[compartment].stats;
  stats.active = slots_[compartment].active_own + slots_[compartment].active_borrowed;
  stats.queued = slots_[compartment].queue.size();
  return stats;
}

}  // namespace strait::filters::bulkhead
