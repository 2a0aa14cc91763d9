#pragma once

// The event loop of one thread (ARCHITECTURE.md): every worker and the main thread own one
// Dispatcher. Everything but post() must be called on the dispatcher's own thread.

#include <chrono>
#include <functional>
#include <memory>

#include "strait/common/time.h"

namespace strait::event {

// A one-shot timer. Destroying it cancels it; the callback never runs after that.
class Timer {
 public:
  virtual ~Timer() = default;
  virtual void enableTimer(std::chrono::milliseconds delay) = 0;
  virtual void disableTimer() = 0;
  virtual bool enabled() const = 0;
};

using TimerPtr = std::unique_ptr<Timer>;
using TimerCb = std::function<void()>;

// What makes timers: a Dispatcher, or a TimerSet (proxy/event/timer_set.h) that multiplexes many
// on one of the dispatcher's.
class TimerFactory {
 public:
  virtual TimerPtr createTimer(TimerCb cb) = 0;

 protected:
  ~TimerFactory() = default;
};
using PostCb = std::function<void()>;

class DeferredDeletable;
using DeferredDeletablePtr = std::unique_ptr<DeferredDeletable>;

// Something to be told once at the end of this loop iteration, after every I/O callback of the
// iteration ran (see Dispatcher::flushAtEndOfIteration()).
class EndOfIterationTarget {
 public:
  virtual void onEndOfIteration() = 0;

 protected:
  ~EndOfIterationTarget() = default;
};

class Dispatcher : public TimerFactory {
 public:
  virtual ~Dispatcher() = default;
  // Destroys `object` later in this loop iteration, after the running callback returns.
  virtual void deferredDelete(DeferredDeletablePtr object) = 0;
  TimerPtr createTimer(TimerCb cb) override = 0;
  // Calls target->onEndOfIteration() once at the end of this iteration, before deferred
  // deletions (several calls in one iteration: once). Lets a connection gather what many
  // callbacks of one iteration produce into one write. A target that goes away first must
  // cancel.
  virtual void flushAtEndOfIteration(EndOfIterationTarget* target) = 0;
  virtual void cancelFlush(EndOfIterationTarget* target) = 0;
  // Thread-safe: runs `cb` on this dispatcher's thread. Posts coalesce into one wakeup and the
  // queue is drained whole on each wakeup.
  virtual void post(PostCb cb) = 0;
  // Loop time, cached once per loop iteration (cheap; what the data path should use).
  virtual MonotonicTime approximateMonotonicTime() const = 0;
  virtual TimeSource& timeSource() = 0;
  // Runs until exit() is called.
  virtual void run() = 0;
  // Thread-safe.
  virtual void exit() = 0;
  virtual bool isThreadSafe() const = 0;  // true when called on the dispatcher's thread
};

using DispatcherPtr = std::unique_ptr<Dispatcher>;

// Objects that may be destroyed from inside their own callbacks are handed to
// Dispatcher::deferredDelete() instead, and destroyed after the current callback stack unwinds.
class DeferredDeletable {
 public:
  virtual ~DeferredDeletable() = default;
};

using DeferredDeletablePtr = std::unique_ptr<DeferredDeletable>;

}  // namespace strait::event
