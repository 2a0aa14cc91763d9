#pragma once

// An event::Dispatcher whose timers fire only when the test advances its simulated clock, and
// whose posted callbacks run only when the test says so.

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include "strait/event/dispatcher.h"
#include "tests/mocks/simulated_time.h"

namespace strait::testing {

class FakeDispatcher : public event::Dispatcher {
 public:
  explicit FakeDispatcher(SimulatedTimeSource& time) : time_(time) {}

  class FakeTimer : public event::Timer {
   public:
    FakeTimer(FakeDispatcher& d, event::TimerCb cb) : d_(d), cb_(std::move(cb)) {
      d_.timers_.push_back(this);
    }
    ~FakeTimer() override { d_.timers_.erase(std::find(d_.timers_.begin(), d_.timers_.end(), this)); }
    void enableTimer(std::chrono::milliseconds delay) override {
      enabled_ = true;
      due_ = d_.time_.monotonicTime() + delay;
    }
    void disableTimer() override { enabled_ = false; }
    bool enabled() const override { return enabled_; }

    FakeDispatcher& d_;
    event::TimerCb cb_;
    bool enabled_ = false;
    MonotonicTime due_{};
  };

  void deferredDelete(event::DeferredDeletablePtr) override {}
  event::TimerPtr createTimer(event::TimerCb cb) override {
    return std::make_unique<FakeTimer>(*this, std::move(cb));
  }
  // End-of-iteration targets wait until the test calls endIteration().
  void flushAtEndOfIteration(event::EndOfIterationTarget* target) override {
    if (std::find(to_flush_.begin(), to_flush_.end(), target) == to_flush_.end()) {
      to_flush_.push_back(target);
    }
  }
  void cancelFlush(event::EndOfIterationTarget* target) override { std::erase(to_flush_, target); }
  void endIteration() {
    std::vector<event::EndOfIterationTarget*> flushing;
    flushing.swap(to_flush_);
    for (event::EndOfIterationTarget* target : flushing) {
      target->onEndOfIteration();
    }
  }
  void post(event::PostCb cb) override { posted_.push_back(std::move(cb)); }
  MonotonicTime approximateMonotonicTime() const override { return time_.monotonicTime(); }
  TimeSource& timeSource() override { return time_; }
  void run() override {}
  void exit() override {}
  bool isThreadSafe() const override { return true; }

  // Advances the clock 1 ms at a time, firing due timers.
  void advance(std::chrono::milliseconds by) {
    for (int64_t i = 0; i < by.count(); ++i) {
      time_.advance(std::chrono::milliseconds(1));
      fireDue();
    }
  }
  void fireDue() {
    bool fired = true;
    while (fired) {
      fired = false;
      for (FakeTimer* t : timers_) {
        if (t->enabled_ && t->due_ <= time_.monotonicTime()) {
          t->enabled_ = false;
          t->cb_();  // may destroy timers: restart the scan
          fired = true;
          break;
        }
      }
    }
  }
  size_t runPosted() {
    std::vector<event::PostCb> run;
    run.swap(posted_);
    for (auto& cb : run) {
      cb();
    }
    return run.size();
  }
  size_t enabledTimers() const {
    return std::count_if(timers_.begin(), timers_.end(), [](FakeTimer* t) { return t->enabled_; });
  }

 private:
  SimulatedTimeSource& time_;
  std::vector<FakeTimer*> timers_;
  std::vector<event::PostCb> posted_;
  std::vector<event::EndOfIterationTarget*> to_flush_;
};

}  // namespace strait::testing
