#pragma once

#include <cstdint>
#include <list>

namespace strait::testupstream {

class Connection;

// The capacity model: at most `capacity` requests are in service at once (0 = no limit); the
// rest wait in FIFO order. A request holds its slot for its service time only, so the server is
// an M/G/N queue: under overload the queue, and with it the latency, grows without bound, as a
// real saturated backend's would. A connection that closes leaves the queue or frees its slot.
class CapacityQueue {
 public:
  // Where a waiting connection sits, so it can leave in O(1).
  using Ticket = std::list<Connection*>::iterator;

  explicit CapacityQueue(uint64_t capacity) : capacity_(capacity) {}

  // True when the request may start its service now (the slot is taken); false when it was
  // queued, in which case *ticket is set and Connection::startService() is called later.
  bool admit(Connection* connection, Ticket* ticket);
  // The service time of one admitted request is over (or its connection closed): frees the
  // slot and starts the next waiting request, if any.
  void release();
  // A queued connection closed before its turn.
  void leave(Ticket ticket);
  // Changes the limit at run time; a raised (or removed) limit starts waiting requests at once.
  void setCapacity(uint64_t capacity);

  uint64_t capacity() const { return capacity_; }
  uint64_t inService() const { return in_service_; }
  uint64_t maxInService() const { return max_in_service_; }
  uint64_t queued() const { return waiting_.size(); }
  uint64_t maxQueued() const { return max_queued_; }

 private:
  bool hasRoom() const { return capacity_ == 0 || in_service_ < capacity_; }
  void take();
  void startWaiting();

  uint64_t capacity_;
  uint64_t in_service_{0};
  uint64_t max_in_service_{0};
  uint64_t max_queued_{0};
  std::list<Connection*> waiting_;
};

}  // namespace strait::testupstream
