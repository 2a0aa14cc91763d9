#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "filters/bulkhead/bulkhead_controller.h"
#include "tests/mocks/simulated_time.h"
#include "tests/unit/filters/fake_request.h"

namespace strait::filters::bulkhead {
namespace {

using std::chrono::milliseconds;

// Records the callbacks into a shared log, in the order they came.
class RecordingWaiter : public Waiter {
 public:
  RecordingWaiter(std::string name, std::vector<std::string>& log)
      : name_(std::move(name)), log_(log) {}
  void onAdmitted() override { log_.push_back(name_ + ":admitted"); }
  void onQueueTimeout() override { log_.push_back(name_ + ":timeout"); }

 private:
  std::string name_;
  std::vector<std::string>& log_;
};

Compartment compartment(std::string name, uint32_t max_concurrent, uint32_t max_queue,
                        bool borrow = false, milliseconds timeout = milliseconds(500)) {
  Compartment c;
  c.name = std::move(name);
  c.max_concurrent = max_concurrent;
  c.max_queue = max_queue;
  c.queue_timeout = timeout;
  c.borrow = borrow;
  return c;
}

class BulkheadControllerTest : public ::testing::Test {
 protected:
  std::shared_ptr<Waiter> waiter(const std::string& name) {
    return std::make_shared<RecordingWaiter>(name, log_);
  }
  MonotonicTime now() const { return time_.monotonicTime(); }

  std::vector<std::string> log_;
  strait::testing::SimulatedTimeSource time_;
};

TEST_F(BulkheadControllerTest, LimitThenFifoQueueThenReject) {
  BulkheadConfig config;
  config.compartments = {compartment("checkout", 2, 2)};
  BulkheadController controller(config);
  Ticket a = controller.acquire(0, waiter("a"), now());
  Ticket b = controller.acquire(0, waiter("b"), now());
  Ticket c = controller.acquire(0, waiter("c"), now());
  Ticket d = controller.acquire(0, waiter("d"), now());
  Ticket e = controller.acquire(0, waiter("e"), now());
  EXPECT_EQ(a.admission, Admission::Admitted);
  EXPECT_EQ(b.admission, Admission::Admitted);
  EXPECT_EQ(c.admission, Admission::Queued);
  EXPECT_EQ(d.admission, Admission::Queued);
  EXPECT_EQ(e.admission, Admission::Rejected);
  CompartmentStats s = controller.stats(0);
  EXPECT_EQ(s.active, 2u);
  EXPECT_EQ(s.queued, 2u);
  EXPECT_EQ(s.rejected, 1u);

  controller.release(b);
  EXPECT_EQ(log_, std::vector<std::string>{"c:admitted"});
  controller.release(a);
  EXPECT_EQ(log_, (std::vector<std::string>{"c:admitted", "d:admitted"}));
  controller.release(c);  // a ticket admitted from the queue releases like any other
  controller.release(d);
  s = controller.stats(0);
  EXPECT_EQ(s.active, 0u);
  EXPECT_EQ(s.queued, 0u);
  EXPECT_EQ(s.admitted, 4u);
  controller.release(d);  // a double release changes nothing
  EXPECT_EQ(controller.stats(0).active, 0u);
}

TEST_F(BulkheadControllerTest, QueueTimeoutOnTheSimulatedClock) {
  BulkheadConfig config;
  config.compartments = {compartment("c", 1, 5, false, milliseconds(500))};
  BulkheadController controller(config);
  Ticket held = controller.acquire(0, waiter("held"), now());
  Ticket first = controller.acquire(0, waiter("first"), now());
  time_.advance(milliseconds(100));
  Ticket second = controller.acquire(0, waiter("second"), now());
  ASSERT_EQ(second.admission, Admission::Queued);
  EXPECT_EQ(controller.nextDeadline(), now() - milliseconds(100) + milliseconds(500));

  time_.advance(milliseconds(399));
  controller.expire(now());
  EXPECT_TRUE(log_.empty());
  time_.advance(milliseconds(1));  // first's deadline exactly
  controller.expire(now());
  EXPECT_EQ(log_, std::vector<std::string>{"first:timeout"});
  EXPECT_EQ(controller.nextDeadline(), now() + milliseconds(100));
  controller.release(held);  // second gets the slot
  EXPECT_EQ(log_, (std::vector<std::string>{"first:timeout", "second:admitted"}));
  controller.release(first);  // timed out: holds nothing
  EXPECT_EQ(controller.stats(0).active, 1u);
  EXPECT_EQ(controller.stats(0).timed_out, 1u);
  EXPECT_FALSE(controller.nextDeadline().has_value());
}

TEST_F(BulkheadControllerTest, CancelWhileQueuedAndAfterAdmission) {
  BulkheadConfig config;
  config.compartments = {compartment("c", 1, 5)};
  BulkheadController controller(config);
  Ticket held = controller.acquire(0, waiter("held"), now());
  Ticket gone = controller.acquire(0, waiter("gone"), now());
  Ticket next = controller.acquire(0, waiter("next"), now());
  EXPECT_TRUE(controller.cancel(gone));  // still queued: removed, no callback
  controller.release(held);
  EXPECT_EQ(log_, std::vector<std::string>{"next:admitted"});
  // next's stream goes away as its admission is being posted: cancel says it holds a slot.
  EXPECT_FALSE(controller.cancel(next));
  EXPECT_EQ(next.admission, Admission::Admitted);
  EXPECT_EQ(controller.stats(0).active, 1u);
  controller.release(next);
  EXPECT_EQ(controller.stats(0).active, 0u);
}

TEST_F(BulkheadControllerTest, BorrowingUsesIdleCapacityAndLendersComeFirst) {
  BulkheadConfig config;
  config.compartments = {compartment("a", 1, 5, true), compartment("b", 1, 5)};
  BulkheadController controller(config);
  Ticket a1 = controller.acquire(0, waiter("a1"), now());
  Ticket a2 = controller.acquire(0, waiter("a2"), now());  // b's idle slot
  EXPECT_EQ(a1.admission, Admission::Admitted);
  EXPECT_FALSE(a1.borrowed);
  EXPECT_EQ(a2.admission, Admission::Admitted);
  EXPECT_TRUE(a2.borrowed);
  // b, the lender, still gets its own capacity at once.
  Ticket b1 = controller.acquire(1, waiter("b1"), now());
  EXPECT_EQ(b1.admission, Admission::Admitted);
  Ticket b2 = controller.acquire(1, waiter("b2"), now());
  Ticket a3 = controller.acquire(0, waiter("a3"), now());
  EXPECT_EQ(b2.admission, Admission::Queued);
  EXPECT_EQ(a3.admission, Admission::Queued);
  EXPECT_EQ(controller.stats(0).borrowed, 1u);

  controller.release(a2);  // total 2 = sum of limits: nobody borrows, nobody has own room
  EXPECT_TRUE(log_.empty());
  controller.release(b1);  // b's own room: the lender's queue first
  EXPECT_EQ(log_, std::vector<std::string>{"b2:admitted"});
  controller.release(a1);
  EXPECT_EQ(log_, (std::vector<std::string>{"b2:admitted", "a3:admitted"}));
  controller.release(b2);
  controller.release(a3);
  EXPECT_EQ(controller.stats(0).active, 0u);
  EXPECT_EQ(controller.stats(1).active, 0u);
}

TEST_F(BulkheadControllerTest, WithoutBorrowIdleCapacityIsNotUsed) {
  BulkheadConfig config;
  config.compartments = {compartment("a", 1, 0), compartment("b", 10, 0)};
  BulkheadController controller(config);
  EXPECT_EQ(controller.acquire(0, waiter("a1"), now()).admission, Admission::Admitted);
  EXPECT_EQ(controller.acquire(0, waiter("a2"), now()).admission, Admission::Rejected);
}

TEST_F(BulkheadControllerTest, DryRunAdmitsAndCounts) {
  BulkheadConfig config;
  config.mode = FilterMode::DryRun;
  config.compartments = {compartment("c", 1, 1)};
  BulkheadController controller(config);
  EXPECT_EQ(controller.acquire(0, waiter("1"), now()).admission, Admission::Admitted);
  EXPECT_EQ(controller.acquire(0, waiter("2"), now()).admission, Admission::Admitted);
  EXPECT_EQ(controller.acquire(0, waiter("3"), now()).admission, Admission::Admitted);
  CompartmentStats s = controller.stats(0);
  EXPECT_EQ(s.active, 3u);
  EXPECT_EQ(s.dry_run_queued, 2u);
  EXPECT_EQ(s.dry_run_rejected, 0u);  // the queue is never filled in dry run
  EXPECT_EQ(s.rejected, 0u);
}

TEST_F(BulkheadControllerTest, SelectsTheFirstMatchingCompartment) {
  BulkheadConfig config;
  Compartment checkout = compartment("checkout", 1, 0);
  checkout.match = RequestMatchConfig{"/checkout", {}, {}};
  config.compartments = {checkout, compartment("default", 1, 0)};
  BulkheadController controller(config);
  EXPECT_EQ(controller.select(testing::FakeRequest("/checkout/pay")), 0u);
  EXPECT_EQ(controller.select(testing::FakeRequest("/cart")), 1u);

  BulkheadConfig only;
  only.compartments = {checkout};
  BulkheadController partial(only);
  EXPECT_FALSE(partial.select(testing::FakeRequest("/cart")).has_value());
}

// Waiters admitted from the queue release from their own thread, as a posted callback would.
class ThreadWaiter : public Waiter {
 public:
  void onAdmitted() override { admitted.store(true); }
  void onQueueTimeout() override { timed_out.store(true); }
  std::atomic<bool> admitted{false};
  std::atomic<bool> timed_out{false};
};

TEST_F(BulkheadControllerTest, ConcurrentWorkersNeverExceedTheLimit) {
  BulkheadConfig config;
  config.compartments = {compartment("c", 3, 1000, false, milliseconds(60'000))};
  BulkheadController controller(config);
  std::atomic<int> in_use{0};
  std::atomic<int> max_seen{0};
  std::atomic<int> done{0};
  auto enter = [&] {
    int now_in = in_use.fetch_add(1) + 1;
    int seen = max_seen.load();
    while (now_in > seen && !max_seen.compare_exchange_weak(seen, now_in)) {
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        auto w = std::make_shared<ThreadWaiter>();
        Ticket ticket = controller.acquire(0, w, MonotonicTime{});
        if (ticket.admission == Admission::Queued) {
          while (!w->admitted.load()) {
            std::this_thread::yield();
          }
        }
        ASSERT_NE(ticket.admission, Admission::Rejected);
        enter();
        in_use.fetch_sub(1);
        controller.release(ticket);
        done.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(done.load(), 2000);
  EXPECT_LE(max_seen.load(), 3);
  EXPECT_EQ(controller.stats(0).active, 0u);
  EXPECT_EQ(controller.stats(0).admitted, 2000u);
}

}  // namespace
}  // namespace strait::filters::bulkhead
