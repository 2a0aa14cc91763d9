#pragma once

// Many one-shot timers on one dispatcher timer, for objects that come and go by the thousand and
// each want a timer armed for seconds (an HTTP/2 connection's streams and their route and
// per-try timeouts). A timer of the set costs one small allocation and no libuv handle: arming,
// disarming and destroying it touch no timer heap. The set keeps one libuv timer armed for the
// earliest deadline it knows of (lazily: a deadline moved later is found when the timer fires);
// when it fires, every due timer of the set runs and the set re-arms for the earliest left,
// which costs one pass over the set's timers, once per firing.
//
// Single-threaded (the dispatcher's thread). The set must outlive its timers.

#include <cstdint>
#include <list>
#include <vector>

#include "strait/event/dispatcher.h"

namespace strait::event {

class TimerSet : public TimerFactory {
 public:
  explicit TimerSet(Dispatcher& dispatcher);
  ~TimerSet();

  TimerPtr createTimer(TimerCb cb) override;
  size_t size() const { return members_.size(); }

 private:
  class Member;
  void schedule(uint64_t due);
  void onFire();
  // The dispatcher's monotonic time in milliseconds: what deadlines are kept in.
  uint64_t nowMs() const;

  Dispatcher& dispatcher_;
  TimerPtr shared_;
  std::list<Member*> members_;
  uint64_t next_due_ = 0;  // what shared_ is armed for, while it is enabled
  std::vector<Member*> firing_;  // due members being run by onFire(); a destroyed one is nulled
};

}  // namespace strait::event
