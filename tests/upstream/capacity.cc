#include "tests/upstream/capacity.h"

#include <algorithm>

#include "tests/upstream/connection.h"

namespace strait::testupstream {

bool CapacityQueue::admit(Connection* connection, Ticket* ticket) {
  // FIFO: a newcomer never overtakes a waiting request, even if a slot is free right now.
  if (waiting_.empty() && hasRoom()) {
    take();
    return true;
  }
  *ticket = waiting_.insert(waiting_.end(), connection);
  max_queued_ = std::max<uint64_t>(max_queued_, waiting_.size());
  return false;
}

void CapacityQueue::take() {
  ++in_service_;
  max_in_service_ = std::max(max_in_service_, in_service_);
}

void CapacityQueue::release() {
  if (in_service_ > 0) {
    --in_service_;
  }
  startWaiting();
}

void CapacityQueue::leave(Ticket ticket) {
  waiting_.erase(ticket);
}

void CapacityQueue::setCapacity(uint64_t capacity) {
  capacity_ = capacity;
  startWaiting();
}

void CapacityQueue::startWaiting() {
  while (!waiting_.empty() && hasRoom()) {
    Connection* next = waiting_.front();
    waiting_.pop_front();
    take();
    // startService only arms a timer, so this loop never re-enters the queue.
    next->startService();
  }
}

}  // namespace strait::testupstream
